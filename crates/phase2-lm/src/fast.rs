//! The GPT of [`crate::model`] once more, forward *and backward* written out by hand over flat `f32`
//! buffers, in the manner of Karpathy's llm.c: the trainer `cargo xtask phase2` uses by default.
//!
//! Why a second implementation? On this model (d_model 128, 64-token windows) every candle op costs
//! an allocation, a zero-fill of its gradient and a trip through the autograd graph, and those fixed
//! costs are as large as the arithmetic. Here every activation has a buffer that is allocated once
//! and reused every step, every matrix product is one call into the `gemm` crate (the kernels candle
//! itself uses) reading its operands in place through strides (no transposes, no copies of heads),
//! and each backward formula is the derivative of the forward line it mirrors.
//!
//! Correctness is not taken on trust: tests compare the loss and every parameter's gradient with
//! candle's autograd through [`crate::model`] / [`crate::ops`] (within 1e-4), and the trainer built on it with
//! the plain trainer step by step.
//!
//! A training step may drop activations: each worker draws its rows' masks with [`crate::dropout`]
//! (the reference model can be given the very same masks), multiplies them in where nanoGPT drops
//! and into the gradients on the way back. A pass without dropout draws and reads no mask and runs
//! exactly the arithmetic it ran before dropout existed.
//!
//! Parameters and gradients are single flat vectors laid out in [`crate::model::Gpt::vars`] order
//! ([`Offsets`]), so clipping and AdamW are one pass over memory.
//!
//! Notation as in llm.c: `B` windows of `T` tokens, `C = d_model` channels, `NH` heads of
//! `HS = C / NH`, vocabulary `V`; activations are row-major `[B·T, …]`.
//!
//! This file holds the parameter layout, the buffers, the threaded entry points and incremental
//! decoding; the passes themselves, layer by layer and each layer's forward beside its backward,
//! are in `fast/layers.rs`.

use anyhow::{bail, ensure, Result};
use candle_core::{Device, Tensor};

use crate::dropout::{Dropout, Masks};
use crate::kernels::{
    add_assign, axpy, dot8, exp_f32, gelu_fwd, layer_norm_fwd, linear_fwd, log_softmax, max8, sum8,
};
use crate::model::{Gpt, GptConfig};
use crate::ops::IGNORE;

mod layers;
use layers::{backward, forward};

// ---- where each parameter lives in the flat vector ------------------------------------------------

/// Offsets of one block's parameters.
#[derive(Debug, Clone, Copy)]
struct BlockOffsets {
    ln1_w: usize,
    ln1_b: usize,
    qkv_w: usize,
    qkv_b: usize,
    attn_proj_w: usize,
    attn_proj_b: usize,
    ln2_w: usize,
    ln2_b: usize,
    fc_w: usize,
    fc_b: usize,
    proj_w: usize,
    proj_b: usize,
}

/// Start of every parameter in the flat vector, in [`Gpt::vars`] order.
#[derive(Debug, Clone)]
pub struct Offsets {
    wte: usize,
    wpe: Option<usize>,
    blocks: Vec<BlockOffsets>,
    lnf_w: usize,
    lnf_b: usize,
    /// `(offset, element count)` of each parameter, in order.
    spans: Vec<(usize, usize)>,
    total: usize,
}

impl Offsets {
    pub fn new(cfg: &GptConfig) -> Offsets {
        let (c, v) = (cfg.d_model, cfg.vocab_size);
        let mut spans = Vec::new();
        let mut next = 0;
        let mut take = |n: usize| {
            spans.push((next, n));
            next += n;
            next - n
        };
        let wte = take(v * c);
        let wpe = cfg.pos_emb.then(|| take(cfg.block_size * c));
        let blocks = (0..cfg.n_layer)
            .map(|_| BlockOffsets {
                ln1_w: take(c),
                ln1_b: take(c),
                qkv_w: take(3 * c * c),
                qkv_b: take(3 * c),
                attn_proj_w: take(c * c),
                attn_proj_b: take(c),
                ln2_w: take(c),
                ln2_b: take(c),
                fc_w: take(4 * c * c),
                fc_b: take(4 * c),
                proj_w: take(4 * c * c),
                proj_b: take(c),
            })
            .collect();
        let lnf_w = take(c);
        let lnf_b = take(c);
        Offsets {
            wte,
            wpe,
            blocks,
            lnf_w,
            lnf_b,
            spans,
            total: next,
        }
    }

    /// Number of parameters (the tied head counted once).
    pub fn total(&self) -> usize {
        self.total
    }

    /// `(offset, len)` of each parameter in [`Gpt::vars`] order.
    pub fn spans(&self) -> &[(usize, usize)] {
        &self.spans
    }
}

/// Copies the model's parameters into one flat vector (in [`Gpt::vars`] order).
pub fn gather(model: &Gpt, off: &Offsets, flat: &mut Vec<f32>) -> Result<()> {
    let vars = model.vars();
    ensure!(
        vars.len() == off.spans.len(),
        "model has {} parameters, layout {}",
        vars.len(),
        off.spans.len()
    );
    flat.clear();
    flat.reserve(off.total);
    for ((name, var), &(start, len)) in vars.iter().zip(&off.spans) {
        let t = var.as_tensor().flatten_all()?;
        ensure!(
            t.elem_count() == len && flat.len() == start,
            "parameter `{name}` does not fit the layout"
        );
        flat.extend_from_slice(&t.to_vec1::<f32>()?);
    }
    Ok(())
}

/// Writes a flat vector back into the model's parameters.
pub fn scatter(flat: &[f32], off: &Offsets, model: &Gpt) -> Result<()> {
    ensure!(
        flat.len() == off.total,
        "flat parameters have the wrong length"
    );
    for ((_, var), &(start, len)) in model.vars().iter().zip(&off.spans) {
        let t = Tensor::from_slice(&flat[start..start + len], var.shape(), &Device::Cpu)?;
        var.set(&t)?;
    }
    Ok(())
}

// ---- activations ---------------------------------------------------------------------------------

/// What the backward pass needs from one block's forward pass.
struct LayerActs {
    ln1: Vec<f32>,      // [BT, C]
    ln1_mean: Vec<f32>, // [BT]
    ln1_rstd: Vec<f32>, // [BT]
    qkv: Vec<f32>,      // [BT, 3C]
    att: Vec<f32>,      // [B, NH, T, T] attention weights
    atty: Vec<f32>,     // [BT, C] heads' outputs, concatenated
    res2: Vec<f32>,     // [BT, C] residual after attention
    ln2: Vec<f32>,      // [BT, C]
    ln2_mean: Vec<f32>,
    ln2_rstd: Vec<f32>,
    fch: Vec<f32>,      // [BT, 4C] before GELU
    fch_cdf: Vec<f32>,  // [BT, 4C] Φ(fch), kept for the backward pass
    fch_gelu: Vec<f32>, // [BT, 4C] fch · Φ(fch)
    res3: Vec<f32>,     // [BT, C] block output
}

/// Gradients of the activations on the way back: scratch that every layer's backward reuses.
struct ActGrads {
    dres: Vec<f32>,   // [BT, C] gradient of the residual stream
    dln: Vec<f32>,    // [BT, C] gradient of a layer norm's output
    datty: Vec<f32>,  // [BT, C]
    dqkv: Vec<f32>,   // [BT, 3C]
    dfch: Vec<f32>,   // [BT, 4C]
    dscore: Vec<f32>, // [T, T] one head's attention scores
}

/// All buffers one worker needs for windows of shape `[b, t]`, allocated once.
pub struct Workspace {
    b: usize,
    /// Window length of the current pass; buffers hold `t_cap`.
    t: usize,
    t_cap: usize,
    x0: Vec<f32>, // [BT, C] token + position embeddings
    layers: Vec<LayerActs>,
    lnf: Vec<f32>,
    lnf_mean: Vec<f32>,
    lnf_rstd: Vec<f32>,
    /// `[BT, V]`: logits, then probabilities, then (backward) their gradient.
    logits: Vec<f32>,
    /// Backward scratch, reused by every layer.
    back: ActGrads,
    /// This worker's parameter gradients (flat, [`Offsets`] layout; allocated by the first backward).
    grads: Vec<f32>,
    // Dropout, all empty until the first pass that drops (a run without dropout never allocates
    // them): this pass's masks, and two scratch buffers.
    masks: Masks,
    /// `[BT, C]`: a residual branch before its mask (forward), its masked gradient (backward).
    branch: Vec<f32>,
    /// `[T, T]`: one head's attention weights after dropout.
    att_drop: Vec<f32>,
}

impl Workspace {
    pub fn new(cfg: &GptConfig, b: usize, t: usize) -> Workspace {
        let (c, nh, v) = (cfg.d_model, cfg.n_head, cfg.vocab_size);
        let bt = b * t;
        let z = |n: usize| vec![0f32; n];
        let layers = (0..cfg.n_layer)
            .map(|_| LayerActs {
                ln1: z(bt * c),
                ln1_mean: z(bt),
                ln1_rstd: z(bt),
                qkv: z(bt * 3 * c),
                att: z(b * nh * t * t),
                atty: z(bt * c),
                res2: z(bt * c),
                ln2: z(bt * c),
                ln2_mean: z(bt),
                ln2_rstd: z(bt),
                fch: z(bt * 4 * c),
                fch_cdf: z(bt * 4 * c),
                fch_gelu: z(bt * 4 * c),
                res3: z(bt * c),
            })
            .collect();
        Workspace {
            b,
            t,
            t_cap: t,
            x0: z(bt * c),
            layers,
            lnf: z(bt * c),
            lnf_mean: z(bt),
            lnf_rstd: z(bt),
            logits: z(bt * v),
            back: ActGrads {
                dres: z(bt * c),
                dln: z(bt * c),
                datty: z(bt * c),
                dqkv: z(bt * 3 * c),
                dfch: z(bt * 4 * c),
                dscore: z(t * t),
            },
            grads: Vec::new(),
            masks: Masks::default(),
            branch: Vec::new(),
            att_drop: Vec::new(),
        }
    }

    /// Draws this pass's dropout masks for the workspace's rows, which are rows `first..` of the
    /// step's batch, and sizes the scratch buffers (allocating only the first time).
    fn draw_masks(&mut self, cfg: &GptConfig, d: &Dropout, first: usize) {
        let (b, t) = (self.b, self.t);
        self.masks.fill(cfg, d, first, b, t);
        self.branch.resize(b * t * cfg.d_model, 0.0);
        self.att_drop.resize(t * t, 0.0);
    }
}

// ---- the model ------------------------------------------------------------------------------------

/// Loss (and, optionally, gradients) of the GPT over flat parameters, split over worker threads.
pub struct FastGpt {
    pub cfg: GptConfig,
    pub off: Offsets,
    workers: usize,
    /// One per worker, kept between calls of the same shape.
    spaces: Vec<Workspace>,
    /// For [`FastGpt::next_logprobs`]: one window of up to `block_size` tokens.
    infer: Option<Workspace>,
}

impl FastGpt {
    pub fn new(cfg: &GptConfig, workers: usize) -> Result<FastGpt> {
        cfg.validate()?;
        ensure!(workers > 0, "workers must be > 0");
        Ok(FastGpt {
            cfg: cfg.clone(),
            off: Offsets::new(cfg),
            workers,
            spaces: Vec::new(),
            infer: None,
        })
    }

    /// Mean next-token cross-entropy of `x: [b, t]` against `y`, and (when `grads` is given) its
    /// gradient with respect to every parameter, written to `grads` (flat layout). Targets equal to
    /// [`IGNORE`] are not scored: the mean is over the others (at least one is required).
    ///
    /// The rows are split into `workers` contiguous parts, each run on its own thread with its own
    /// workspace; every part scales its gradient by `1 / (scored targets of the whole batch)` so the
    /// parts simply add up to the gradient of the whole-batch mean. Summation order is fixed: results
    /// are deterministic.
    pub fn loss_and_grads(
        &mut self,
        params: &[f32],
        x: &[u32],
        y: &[u32],
        b: usize,
        t: usize,
        grads: Option<&mut [f32]>,
    ) -> Result<f32> {
        self.loss_and_grads_dropout(params, x, y, b, t, grads, None)
    }

    /// [`FastGpt::loss_and_grads`] of a training step with dropout: every worker draws the masks of
    /// its own rows ([`Masks::fill`], keyed by the row's index in the whole batch, so the masks do
    /// not depend on `workers`) and the gradient is that of the dropped network. `None`, or a
    /// probability of 0, is exactly [`FastGpt::loss_and_grads`]: no random number is drawn and the
    /// arithmetic is today's, bit for bit.
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grads_dropout(
        &mut self,
        params: &[f32],
        x: &[u32],
        y: &[u32],
        b: usize,
        t: usize,
        grads: Option<&mut [f32]>,
        dropout: Option<&Dropout>,
    ) -> Result<f32> {
        let dropout = dropout.filter(|d| d.p > 0.0);
        if let Some(d) = dropout {
            ensure!(d.p < 1.0, "dropout probability {} must be in [0, 1)", d.p);
        }
        self.check_batch(params, x, y, b, t)?;
        if let Some(g) = grads.as_deref() {
            ensure!(g.len() == self.off.total, "grads has the wrong length");
        }
        let parts = self.fit_spaces(b, t);
        let scored = y.iter().filter(|&&v| v != IGNORE).count();
        ensure!(scored > 0, "every target is IGNORE: nothing to score");
        let want_grads = grads.is_some();
        let scale = 1.0 / scored as f32;
        let (cfg, off) = (&self.cfg, &self.off);
        let run = |ws: &mut Workspace, (start, n): (usize, usize)| -> f64 {
            let (xs, ys) = (
                &x[start * t..(start + n) * t],
                &y[start * t..(start + n) * t],
            );
            let drop = dropout.is_some();
            if let Some(d) = dropout {
                ws.draw_masks(cfg, d, start);
            }
            let loss = forward(cfg, off, params, ws, xs, ys, drop);
            if want_grads {
                backward(cfg, off, params, ws, xs, ys, scale, drop);
            }
            loss
        };
        let run = &run;
        let mut losses = vec![0f64; parts.len()];
        std::thread::scope(|s| {
            let mut spaces = self.spaces.iter_mut();
            let first = spaces.next().expect("at least one part");
            let handles: Vec<_> = spaces
                .zip(&parts[1..])
                .map(|(ws, &p)| s.spawn(move || run(ws, p)))
                .collect();
            losses[0] = run(first, parts[0]);
            for (l, h) in losses[1..].iter_mut().zip(handles) {
                *l = h.join().expect("a training worker panicked");
            }
        });
        if let Some(g) = grads {
            // Sum the workers' gradients, each thread taking one contiguous piece of the vector.
            let spaces = &self.spaces;
            let piece = g.len().div_ceil(spaces.len());
            std::thread::scope(|s| {
                for (k, out) in g.chunks_mut(piece).enumerate() {
                    let range = k * piece..k * piece + out.len();
                    let mut sum = move || {
                        out.copy_from_slice(&spaces[0].grads[range.clone()]);
                        for ws in &spaces[1..] {
                            add_assign(out, &ws.grads[range.clone()]);
                        }
                    };
                    if k + 1 == spaces.len() {
                        sum();
                    } else {
                        s.spawn(sum);
                    }
                }
            });
        }
        Ok((losses.iter().sum::<f64>() / scored as f64) as f32)
    }
}

impl FastGpt {
    /// The rows of a `[b, t]` batch each worker takes (`(first row, rows)`), with one workspace of
    /// that shape per worker: kept from the previous call when the shapes agree, so alternating
    /// training steps and evaluations of the same shape allocate nothing.
    fn fit_spaces(&mut self, b: usize, t: usize) -> Vec<(usize, usize)> {
        let parts = crate::parallel::split_rows(b, self.workers);
        let fits = self.spaces.len() == parts.len()
            && self
                .spaces
                .iter()
                .zip(&parts)
                .all(|(s, &(_, n))| s.b == n && s.t == t);
        if !fits {
            self.spaces = parts
                .iter()
                .map(|&(_, n)| Workspace::new(&self.cfg, n, t))
                .collect();
        }
        parts
    }

    /// The checks every pass over a batch makes first: the weights' length, `b·t` inputs and
    /// targets, a window the model can read, every id inside the vocabulary.
    fn check_batch(&self, params: &[f32], x: &[u32], y: &[u32], b: usize, t: usize) -> Result<()> {
        ensure!(
            params.len() == self.off.total,
            "params: {} values, model has {}",
            params.len(),
            self.off.total
        );
        ensure!(
            x.len() == b * t && y.len() == b * t,
            "x and y must hold b·t = {} tokens",
            b * t
        );
        ensure!(
            t > 0 && t <= self.cfg.block_size,
            "windows of {t} tokens: must be 1..={}",
            self.cfg.block_size
        );
        let v = self.cfg.vocab_size;
        if let Some(bad) = x
            .iter()
            .chain(y.iter().filter(|&&id| id != IGNORE))
            .find(|&&id| id as usize >= v)
        {
            bail!("token id {bad} is outside the vocabulary ({v})");
        }
        Ok(())
    }

    /// Every target's own loss, `−ln p(y | the window up to it)` in nats, for `x: [b, t]` against
    /// `y` (row-major like them; NaN where the target is [`IGNORE`]): what a per-position or
    /// per-character analysis needs, where [`FastGpt::loss_and_grads`] gives only the mean. The same
    /// forward pass, no dropout, no gradient; the mean of the values is that loss up to float
    /// summation. A probability below `f32::MIN_POSITIVE` counts as that (at most 87.3 nats).
    pub fn token_losses(
        &mut self,
        params: &[f32],
        x: &[u32],
        y: &[u32],
        b: usize,
        t: usize,
    ) -> Result<Vec<f32>> {
        self.check_batch(params, x, y, b, t)?;
        let v = self.cfg.vocab_size;
        let parts = self.fit_spaces(b, t);
        let (cfg, off) = (&self.cfg, &self.off);
        let mut out = vec![f32::NAN; b * t];
        std::thread::scope(|s| {
            let mut pieces = Vec::new();
            let mut rest = out.as_mut_slice();
            for &(_, n) in &parts {
                let (now, later) = std::mem::take(&mut rest).split_at_mut(n * t);
                pieces.push(now);
                rest = later;
            }
            for ((ws, &(start, n)), piece) in self.spaces.iter_mut().zip(&parts).zip(pieces) {
                let run = move || {
                    let rows = start * t..(start + n) * t;
                    let ys = &y[rows.clone()];
                    forward(cfg, off, params, ws, &x[rows], ys, false);
                    // The forward pass leaves each scored row's probabilities in `ws.logits`.
                    for (i, (&target, loss)) in ys.iter().zip(piece.iter_mut()).enumerate() {
                        if target != IGNORE {
                            let p = ws.logits[i * v + target as usize];
                            *loss = -p.max(f32::MIN_POSITIVE).ln();
                        }
                    }
                };
                s.spawn(run);
            }
        });
        Ok(out)
    }
}

// ---- generation ------------------------------------------------------------------------------------

/// Keys and values of every layer for the positions of one sequence seen so far, plus the scratch
/// vectors one decoding step needs (allocated once).
pub struct FastKvCache {
    /// Per layer `[block_size, C]`: row `j` holds position `j`'s keys (values) of all heads.
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    x: Vec<f32>,
    h: Vec<f32>,
    qkv: Vec<f32>,
    y: Vec<f32>,
    fc: Vec<f32>,
    cdf: Vec<f32>,
    act: Vec<f32>,
    scores: Vec<f32>,
    logits: Vec<f32>,
    stats: [Vec<f32>; 2],
}

impl FastKvCache {
    pub fn new(cfg: &GptConfig) -> FastKvCache {
        let (c, t) = (cfg.d_model, cfg.block_size);
        let z = |n: usize| vec![0f32; n];
        FastKvCache {
            k: (0..cfg.n_layer).map(|_| z(t * c)).collect(),
            v: (0..cfg.n_layer).map(|_| z(t * c)).collect(),
            len: 0,
            x: z(c),
            h: z(c),
            qkv: z(3 * c),
            y: z(c),
            fc: z(4 * c),
            cdf: z(4 * c),
            act: z(4 * c),
            scores: z(t),
            logits: z(cfg.vocab_size),
            stats: [z(1), z(1)],
        }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget every position (the window was re-based).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl FastGpt {
    /// Log-probabilities of the next token after `tokens`, which continue the sequence in `cache`
    /// (they take positions `cache.len()..`). Each token costs one row of every matrix product and
    /// one row of attention over the cached keys: incremental decoding.
    pub fn next_logprobs_cached(
        &self,
        p: &[f32],
        tokens: &[u32],
        cache: &mut FastKvCache,
    ) -> Result<Vec<f32>> {
        ensure!(!tokens.is_empty(), "no tokens to decode");
        ensure!(
            cache.len + tokens.len() <= self.cfg.block_size,
            "{} cached + {} new tokens exceed block_size {}",
            cache.len,
            tokens.len(),
            self.cfg.block_size
        );
        for &tok in tokens {
            ensure!(
                (tok as usize) < self.cfg.vocab_size,
                "token id {tok} is outside the vocabulary ({})",
                self.cfg.vocab_size
            );
            decode_one(&self.cfg, &self.off, p, cache, tok);
        }
        let mut out = cache.logits.clone();
        log_softmax(&mut out);
        Ok(out)
    }

    /// The same log-probabilities recomputed from scratch: a full forward pass over `tokens`
    /// (positions `0..`), no cache. The baseline the cache is measured against.
    pub fn next_logprobs(&mut self, p: &[f32], tokens: &[u32]) -> Result<Vec<f32>> {
        let t = tokens.len();
        ensure!(
            t > 0 && t <= self.cfg.block_size,
            "windows of {t} tokens: must be 1..={}",
            self.cfg.block_size
        );
        ensure!(p.len() == self.off.total, "params have the wrong length");
        let (cfg, off) = (&self.cfg, &self.off);
        let ws = self
            .infer
            .get_or_insert_with(|| Workspace::new(cfg, 1, cfg.block_size));
        ws.t = t;
        let targets = vec![0u32; t];
        forward(cfg, off, p, ws, tokens, &targets, false);
        let v = cfg.vocab_size;
        let mut out: Vec<f32> = ws.logits[(t - 1) * v..t * v].to_vec();
        for x in out.iter_mut() {
            *x = x.max(f32::MIN_POSITIVE).ln();
        }
        Ok(out)
    }
}

/// One token through the model at position `cache.len`, its keys and values appended to the cache;
/// leaves the next-token logits in `cache.logits`.
fn decode_one(cfg: &GptConfig, off: &Offsets, p: &[f32], cache: &mut FastKvCache, tok: u32) {
    let (c, nh, v) = (cfg.d_model, cfg.n_head, cfg.vocab_size);
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    let pos = cache.len;
    let w = |start: usize, len: usize| &p[start..start + len];
    let cc = cache;
    cc.x.copy_from_slice(w(off.wte + tok as usize * c, c));
    if let Some(wpe) = off.wpe {
        add_assign(&mut cc.x, w(wpe + pos * c, c));
    }
    let [mean, rstd] = &mut cc.stats;
    for (l, o) in off.blocks.iter().enumerate() {
        layer_norm_fwd(
            &mut cc.h,
            mean,
            rstd,
            &cc.x,
            w(o.ln1_w, c),
            w(o.ln1_b, c),
            c,
        );
        linear_fwd(
            &mut cc.qkv,
            &cc.h,
            w(o.qkv_w, 3 * c * c),
            Some(w(o.qkv_b, 3 * c)),
            1,
            c,
            3 * c,
            false,
        );
        let (kc, vc) = (&mut cc.k[l], &mut cc.v[l]);
        kc[pos * c..(pos + 1) * c].copy_from_slice(&cc.qkv[c..2 * c]);
        vc[pos * c..(pos + 1) * c].copy_from_slice(&cc.qkv[2 * c..3 * c]);
        for h in 0..nh {
            let q = &cc.qkv[h * hs..(h + 1) * hs];
            let scores = &mut cc.scores[..=pos];
            for (j, sc) in scores.iter_mut().enumerate() {
                *sc = dot8(q, &kc[j * c + h * hs..j * c + (h + 1) * hs]) * scale;
            }
            // This query is the newest position: it sees every cached key.
            let max = max8(scores);
            for sc in scores.iter_mut() {
                *sc = exp_f32(*sc - max);
            }
            let inv = 1.0 / sum8(scores);
            let y = &mut cc.y[h * hs..(h + 1) * hs];
            y.fill(0.0);
            for (j, &sc) in scores.iter().enumerate() {
                axpy(y, sc * inv, &vc[j * c + h * hs..j * c + (h + 1) * hs]);
            }
        }
        linear_fwd(
            &mut cc.x,
            &cc.y,
            w(o.attn_proj_w, c * c),
            Some(w(o.attn_proj_b, c)),
            1,
            c,
            c,
            true,
        );
        layer_norm_fwd(
            &mut cc.h,
            mean,
            rstd,
            &cc.x,
            w(o.ln2_w, c),
            w(o.ln2_b, c),
            c,
        );
        linear_fwd(
            &mut cc.fc,
            &cc.h,
            w(o.fc_w, 4 * c * c),
            Some(w(o.fc_b, 4 * c)),
            1,
            c,
            4 * c,
            false,
        );
        gelu_fwd(&cc.fc, &mut cc.act, &mut cc.cdf);
        linear_fwd(
            &mut cc.x,
            &cc.act,
            w(o.proj_w, 4 * c * c),
            Some(w(o.proj_b, c)),
            1,
            4 * c,
            c,
            true,
        );
    }
    layer_norm_fwd(
        &mut cc.h,
        mean,
        rstd,
        &cc.x,
        w(off.lnf_w, c),
        w(off.lnf_b, c),
        c,
    );
    linear_fwd(
        &mut cc.logits,
        &cc.h,
        w(off.wte, v * c),
        None,
        1,
        c,
        v,
        false,
    );
    cc.len += 1;
}
