//! Bigram models two ways: by counting, and as the smallest neural language model.
//!
//! The count bigram estimates `p(next | prev)` as the normalised row of a `V × V` count table,
//! add-`k` smoothed so no bigram has probability zero. The neural bigram is a `V × V` table of
//! *logits* `W` trained by gradient descent on the cross-entropy: `p(next | prev) = softmax(W[prev])`.
//! With enough data and steps it must arrive where counting does — softmax of a free row can express
//! any distribution, and the cross-entropy minimiser is the row's empirical frequencies — which
//! makes it the first end-to-end check of the training machinery the GPT reuses: batching, a
//! log-softmax built from candle primitives, autograd and the phase-1 optimizer.

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use phase1_mlp::optim::{Adam, Optimizer};
use phase1_mlp::schedule::LrSchedule;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bigram counts `C[prev * V + next]` of a token sequence.
pub fn bigram_counts(tokens: &[u32], vocab: usize) -> Result<Vec<f64>> {
    let mut counts = vec![0.0; vocab * vocab];
    for w in tokens.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if a >= vocab || b >= vocab {
            bail!("token id {} is outside the vocabulary of {vocab}", a.max(b));
        }
        counts[a * vocab + b] += 1.0;
    }
    Ok(counts)
}

/// Add-`k` smoothed conditional probabilities `(C[a,b] + k) / (Σ_b C[a,b] + k V)`, row-major.
/// A row never seen (and `k = 0`) becomes uniform rather than 0/0.
pub fn add_k_probs(counts: &[f64], vocab: usize, k: f64) -> Vec<f64> {
    let mut probs = vec![0.0; vocab * vocab];
    for a in 0..vocab {
        let row = &counts[a * vocab..(a + 1) * vocab];
        let total: f64 = row.iter().sum::<f64>() + k * vocab as f64;
        for b in 0..vocab {
            probs[a * vocab + b] = if total > 0.0 {
                (row[b] + k) / total
            } else {
                1.0 / vocab as f64
            };
        }
    }
    probs
}

/// Mean negative log-likelihood (nats per token) of the bigrams counted in `counts` under `probs`:
/// `-Σ C[a,b] ln p[a,b] / Σ C[a,b]`, exactly the average over every position of the text.
pub fn cross_entropy(probs: &[f64], counts: &[f64]) -> f64 {
    let (nll, n) = probs
        .iter()
        .zip(counts)
        .filter(|(_, &c)| c > 0.0)
        .fold((0.0, 0.0), |(nll, n), (&p, &c)| (nll - c * p.ln(), n + c));
    nll / n
}

/// `log(softmax(x))` along the last dimension, from candle primitives (no fused kernel, so autograd
/// sees every step). Subtracting the row maximum (treated as a constant: the result does not depend
/// on it) keeps `exp` from overflowing.
pub fn log_softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let log_sum_exp = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&log_sum_exp)
}

/// The neural bigram: one trainable row of logits per previous token.
pub struct NeuralBigram {
    /// `W[prev, next]`, shape `(V, V)`.
    pub logits: Var,
    vocab: usize,
}

impl NeuralBigram {
    /// All-zero logits: every row starts as the uniform distribution (no randomness needed).
    pub fn zeros(vocab: usize, dtype: DType, device: &Device) -> Result<Self> {
        Ok(NeuralBigram {
            logits: Var::zeros((vocab, vocab), dtype, device)?,
            vocab,
        })
    }

    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Mean cross-entropy of predicting `next[i]` from `prev[i]` (both `u32` of shape `(B,)`).
    pub fn loss(&self, prev: &Tensor, next: &Tensor) -> candle_core::Result<Tensor> {
        let rows = self.logits.as_tensor().index_select(prev, 0)?; // (B, V)
        let log_probs = log_softmax(&rows)?;
        let picked = log_probs.gather(&next.unsqueeze(1)?, 1)?; // (B, 1): log p(next | prev)
        picked.mean_all()?.neg()
    }

    /// `softmax(W)` row by row, as `f64`, row-major `[prev * V + next]`.
    pub fn probs(&self) -> Result<Vec<f64>> {
        let log_probs = log_softmax(&self.logits.as_tensor().to_dtype(DType::F64)?)?;
        Ok(log_probs.exp()?.flatten_all()?.to_vec1::<f64>()?)
    }
}

/// How to train the neural bigram.
#[derive(Debug, Clone)]
pub struct FitConfig {
    pub steps: usize,
    pub batch_size: usize,
    pub schedule: LrSchedule,
    pub seed: u64,
    /// Call the evaluation callback every this many steps (and after the last step).
    pub eval_every: usize,
}

/// Trains `model` on random bigrams of `tokens` with Adam (`phase1_mlp::optim`).
///
/// Every `eval_every` steps `on_eval(step, train_loss, model)` is called (e.g. to compute the
/// validation perplexity and record it); `train_loss` is the mean minibatch loss since the last call.
pub fn fit(
    model: &NeuralBigram,
    tokens: &[u32],
    cfg: &FitConfig,
    mut on_eval: impl FnMut(usize, f64, &NeuralBigram) -> Result<()>,
) -> Result<()> {
    if tokens.len() < 2 {
        bail!(
            "need at least two tokens to train a bigram, got {}",
            tokens.len()
        );
    }
    if cfg.batch_size == 0 || cfg.eval_every == 0 {
        bail!("batch_size and eval_every must be positive");
    }
    let device = model.logits.device().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut optimizer = Adam::new(0.9, 0.999, 1e-8);
    let (mut loss_sum, mut loss_n) = (0.0, 0);
    for step in 1..=cfg.steps {
        let mut prev = Vec::with_capacity(cfg.batch_size);
        let mut next = Vec::with_capacity(cfg.batch_size);
        for _ in 0..cfg.batch_size {
            let i = rng.gen_range(0..tokens.len() - 1);
            prev.push(tokens[i]);
            next.push(tokens[i + 1]);
        }
        let prev = Tensor::from_vec(prev, cfg.batch_size, &device)?;
        let next = Tensor::from_vec(next, cfg.batch_size, &device)?;
        let loss = model.loss(&prev, &next)?;
        let grads = loss.backward()?;
        let Some(grad) = grads.get(&model.logits) else {
            bail!("no gradient reached the bigram logits");
        };
        let lr = cfg.schedule.lr_at(step - 1);
        optimizer.step(
            std::slice::from_ref(&model.logits),
            std::slice::from_ref(grad),
            lr,
        )?;
        loss_sum += loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        loss_n += 1;
        if step % cfg.eval_every == 0 || step == cfg.steps {
            on_eval(step, loss_sum / loss_n as f64, model)?;
            (loss_sum, loss_n) = (0.0, 0);
        }
    }
    Ok(())
}
