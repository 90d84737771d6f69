//! The decoding loop: temperature, top-k and top-p (nucleus) sampling, with a KV cache, on the
//! hand-written engine ([`generate_fast`]) or on the readable candle model ([`generate`]). Most code
//! wants [`crate::generator::Generator`], which holds a model, its tokenizer and sampling settings.
//!
//! The context window: the model sees at most `block_size` tokens. When the window is full, the
//! oldest half is dropped and generation continues from the newest `block_size / 2` tokens. With
//! the KV cache this costs one re-encoding of half a window every `block_size / 2` tokens (instead of
//! one per token), and the full-recomputation path applies the very same rule, so both produce the
//! same logits at every step (tested).

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::attention::KvCache;
use crate::fast::{FastGpt, FastKvCache};
use crate::model::Gpt;

/// How the next token is drawn from the logits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    /// Logits are divided by this; 0 means greedy (always the most likely token).
    pub temperature: f64,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability sums to at least `p`.
    pub top_p: Option<f64>,
}

impl Sampling {
    pub fn validate(&self) -> Result<()> {
        if self.temperature.is_nan() || self.temperature < 0.0 {
            bail!("temperature must be >= 0, got {}", self.temperature);
        }
        if self.top_k == Some(0) {
            bail!("top_k must be >= 1");
        }
        if let Some(p) = self.top_p {
            if p.is_nan() || p <= 0.0 || p > 1.0 {
                bail!("top_p must be in (0, 1], got {p}");
            }
        }
        Ok(())
    }
}

/// The filtered, renormalised distribution sampling draws from (probabilities indexed by token).
pub fn distribution(logits: &[f32], s: &Sampling) -> Vec<f64> {
    let n = logits.len();
    let argmax = (0..n)
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    if s.temperature == 0.0 {
        let mut p = vec![0.0; n];
        p[argmax] = 1.0;
        return p;
    }
    let max = logits[argmax] as f64;
    let mut p: Vec<f64> = logits
        .iter()
        .map(|&l| ((l as f64 - max) / s.temperature).exp())
        .collect();
    let z: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= z);
    // Tokens by decreasing probability (ties: lower id first, so the order is deterministic).
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    let mut keep = n;
    if let Some(k) = s.top_k {
        keep = keep.min(k);
    }
    if let Some(top_p) = s.top_p {
        let mut cum = 0.0;
        for (rank, &i) in order.iter().enumerate() {
            cum += p[i];
            if cum >= top_p {
                keep = keep.min(rank + 1);
                break;
            }
        }
    }
    for &i in &order[keep..] {
        p[i] = 0.0;
    }
    let z: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= z);
    p
}

/// Draw one token from the logits of one position.
pub fn sample_token(logits: &[f32], s: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    let p = distribution(logits, s);
    let u: f64 = rng.gen();
    let mut cum = 0.0;
    let mut last = 0;
    for (i, &pi) in p.iter().enumerate() {
        if pi > 0.0 {
            last = i;
            cum += pi;
            if u < cum {
                return i as u32;
            }
        }
    }
    last as u32
}

/// The window rule every decoding loop shares (see the module docs): starting from `prompt`, asks
/// `next(window, rebased)` for the scores (logits or log-probabilities) of the token after `window`,
/// and `pick(step, scores)` for that token (sampled, or forced when scoring a given continuation),
/// for at most `steps` tokens or until `pick` returns `None`. `rebased` says the window was just cut,
/// so positions restart at 0 and any cache must be rebuilt.
pub(crate) fn decode_with<F, P>(
    block: usize,
    prompt: &[u32],
    steps: usize,
    mut next: F,
    mut pick: P,
) -> Result<()>
where
    F: FnMut(&[u32], bool) -> Result<Vec<f32>>,
    P: FnMut(usize, Vec<f32>) -> Result<Option<u32>>,
{
    if prompt.is_empty() {
        bail!("the prompt must contain at least one token");
    }
    if block < 2 {
        bail!("generation needs block_size >= 2 (a window that keeps half of itself), got {block}");
    }
    let keep = block / 2;
    // The window starts as the prompt's last `block` tokens (or its last `keep` if it fills it).
    let mut window: Vec<u32> = prompt[prompt.len().saturating_sub(block)..].to_vec();
    if window.len() == block {
        window.drain(..block - keep);
    }
    let mut rebased = true;
    for step in 0..steps {
        let scores = next(&window, rebased)?;
        rebased = false;
        let Some(tok) = pick(step, scores)? else {
            break;
        };
        window.push(tok);
        if window.len() == block {
            // Full: keep the newest half; positions restart at 0.
            window.drain(..block - keep);
            rebased = true;
        }
    }
    Ok(())
}

/// [`decode_with`] sampling every token: the new tokens and, per step, the scores they were drawn from.
fn generate_with<F>(
    block: usize,
    prompt: &[u32],
    max_new: usize,
    s: &Sampling,
    rng: &mut ChaCha8Rng,
    next: F,
) -> Result<(Vec<u32>, Vec<Vec<f32>>)>
where
    F: FnMut(&[u32], bool) -> Result<Vec<f32>>,
{
    s.validate()?;
    let mut out = Vec::with_capacity(max_new);
    let mut all = Vec::with_capacity(max_new);
    decode_with(block, prompt, max_new, next, |_, scores| {
        let tok = sample_token(&scores, s, rng);
        all.push(scores);
        out.push(tok);
        Ok(Some(tok))
    })?;
    Ok((out, all))
}

/// Generate `max_new` tokens after `prompt` with the candle model (the readable reference). Returns
/// the new tokens and, per step, the logits they were drawn from (for the cache-equivalence test).
/// `use_cache` picks the KV-cache path or full recomputation of the window at every step; both
/// follow the same window rule and run on the plain ops.
pub fn generate(
    model: &Gpt,
    prompt: &[u32],
    max_new: usize,
    s: &Sampling,
    rng: &mut ChaCha8Rng,
    use_cache: bool,
) -> Result<(Vec<u32>, Vec<Vec<f32>>)> {
    let mut caches = vec![KvCache::default(); model.cfg.n_layer];
    let mut cached = 0; // tokens of the window already in the caches
    let last_row = |logits: Tensor| -> Result<Vec<f32>> {
        let t = logits.dim(1)?;
        Ok(logits
            .squeeze(0)?
            .narrow(0, t - 1, 1)?
            .squeeze(0)?
            .to_vec1()?)
    };
    generate_with(
        model.cfg.block_size,
        prompt,
        max_new,
        s,
        rng,
        |window, rebased| {
            if !use_cache {
                let idx = Tensor::from_slice(window, (1, window.len()), &Device::Cpu)?;
                return last_row(model.forward(&idx)?);
            }
            if rebased {
                caches.iter_mut().for_each(|c| *c = KvCache::default());
                cached = 0;
            }
            let new = &window[cached..];
            let idx = Tensor::from_slice(new, (1, new.len()), &Device::Cpu)?;
            let logits = model.forward_cached(&idx, cached, &mut caches)?;
            cached = window.len();
            last_row(logits)
        },
    )
}

/// [`generate`] on the hand-written engine ([`crate::fast`]) over flat weights `params`: the scores
/// are log-probabilities (the same distribution as the logits). With `use_cache`, one decoding step
/// per token over a [`FastKvCache`]; without, a full forward pass over the window every token.
pub fn generate_fast(
    engine: &mut FastGpt,
    params: &[f32],
    prompt: &[u32],
    max_new: usize,
    s: &Sampling,
    rng: &mut ChaCha8Rng,
    use_cache: bool,
) -> Result<(Vec<u32>, Vec<Vec<f32>>)> {
    let mut cache = FastKvCache::new(&engine.cfg);
    generate_with(
        engine.cfg.block_size,
        prompt,
        max_new,
        s,
        rng,
        fast_scores(engine, params, &mut cache, use_cache),
    )
}

/// The `next` of [`decode_with`] on the hand-written engine, with or without the cache.
pub(crate) fn fast_scores<'a>(
    engine: &'a mut FastGpt,
    params: &'a [f32],
    cache: &'a mut FastKvCache,
    use_cache: bool,
) -> impl FnMut(&[u32], bool) -> Result<Vec<f32>> + 'a {
    move |window, rebased| {
        if !use_cache {
            return engine.next_logprobs(params, window);
        }
        if rebased {
            cache.clear();
        }
        let new = &window[cache.len()..];
        engine.next_logprobs_cached(params, new, cache)
    }
}
