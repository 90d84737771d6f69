//! Training the GPT: random windows of the corpus, AdamW with decay on matrices only, warm-up +
//! cosine learning rate, global-norm gradient clipping, and evaluation on fixed validation batches.
//!
//! Everything that decides the next step — parameters, AdamW moments, step count and the batch
//! sampler's position in its random stream — lives in [`Trainer`], and [`crate::checkpoint`] saves
//! and restores all of it, so a resumed run continues exactly as an uninterrupted one.

use anyhow::{bail, Context as _};
use candle_core::{Device, Result, Tensor, Var};
use phase1_mlp::optim::Optimizer;
use phase1_mlp::schedule::LrSchedule;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dropout::Dropout;
use crate::fast::{self, FastGpt, Offsets};
use crate::model::{Gpt, GptConfig};

/// The optimisation half of a config (`[train]`). Defaults are `torch_gpt.py`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub steps: usize,
    pub batch_size: usize,
    pub max_lr: f64,
    pub min_lr: f64,
    /// Linear warm-up steps (0 = the "no warm-up" ablation).
    pub warmup: usize,
    #[serde(default = "d_beta1")]
    pub beta1: f64,
    #[serde(default = "d_beta2")]
    pub beta2: f64,
    #[serde(default = "d_eps")]
    pub eps: f64,
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    /// Global gradient-norm clip (`clip_grad_norm_`).
    #[serde(default = "d_clip")]
    pub grad_clip: f64,
    /// Evaluate every this many steps (and at the last step).
    pub eval_interval: usize,
    /// Number of fixed validation batches averaged per evaluation.
    pub eval_iters: usize,
    /// Record the training loss every this many steps (mean over the interval).
    #[serde(default = "d_log")]
    pub log_interval: usize,
    /// Seeds the initialisation, the batch sampler and the validation batches.
    pub seed: u64,
    /// How loss and gradients are computed: `"fast"` (default) or `"plain"` ([`Engine`]).
    #[serde(default)]
    pub ops: Engine,
    /// Threads the batch is split over for the loss + gradient (1 = this thread only).
    #[serde(default = "d_workers")]
    pub workers: usize,
    /// Dropout probability in nanoGPT's places ([`crate::dropout`]); 0 (the default, and what every
    /// config without the key means) is the engine without dropout, bit for bit.
    ///
    /// A training setting, not part of [`GptConfig`]: it changes how a step computes its gradient,
    /// not the function the weights compute. The model config is all that evaluation, generation
    /// ([`crate::generator::Generator`]) and scoring read, so none of them can run with dropout, and a
    /// checkpoint's weights mean the same whatever dropout trained them. Not written out when 0, so
    /// the saved config of a run without dropout is unchanged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn d_beta1() -> f64 {
    0.9
}
fn d_beta2() -> f64 {
    0.99
}
fn d_eps() -> f64 {
    1e-8
}
fn d_wd() -> f64 {
    0.1
}
fn d_clip() -> f64 {
    1.0
}
fn d_log() -> usize {
    10
}
fn d_workers() -> usize {
    2
}

impl TrainConfig {
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule::WarmupCosine {
            max_lr: self.max_lr,
            min_lr: self.min_lr,
            warmup: self.warmup,
            total: self.steps,
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.steps == 0 || self.batch_size == 0 || self.eval_iters == 0 {
            bail!("train.steps, train.batch_size and train.eval_iters must be > 0");
        }
        if self.eval_interval == 0 || self.log_interval == 0 || self.workers == 0 {
            bail!("train.eval_interval, train.log_interval and train.workers must be > 0");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("train.dropout must be in [0, 1), not {}", self.dropout);
        }
        Ok(())
    }

    /// The dropout of the training step that follows `step` completed steps: `None` without dropout.
    /// Its masks are keyed by the seed, the step and the row alone ([`crate::dropout`]).
    pub fn dropout_at(&self, step: usize) -> Option<Dropout> {
        (self.dropout > 0.0).then_some(Dropout {
            p: self.dropout,
            seed: self.seed,
            step: step as u64,
        })
    }
}

/// How a [`Trainer`] computes the loss and its gradients. Both give the same numbers (within float
/// rounding, tested); they differ in speed. A config names one as `ops = "fast"` or `ops = "plain"`;
/// any other word is a config error listing these two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The hand-written forward and backward of [`crate::fast`], the batch split over `workers`
    /// threads.
    #[default]
    Fast,
    /// candle's autograd over the readable model ([`crate::model`], [`crate::ops`]), the batch split
    /// over `workers` single-threaded graphs ([`crate::parallel`]): the reference.
    Plain,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Fast => "fast",
            Engine::Plain => "plain",
        })
    }
}

/// Model + training config, as stored in a checkpoint's `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub model: GptConfig,
    pub train: TrainConfig,
}

/// AdamW exactly as `phase1_mlp::optim::AdamW` (and `torch.optim.AdamW`), over one flat `f32`
/// parameter vector in one pass, with its state public so a checkpoint can store and restore it.
///
/// Each line does the same `f32` arithmetic, in the same order, as phase 1's tensor version (candle's
/// `affine(mul, add)` is `x * mul + add` in `f32`), so the two agree bit for bit (tested).
#[derive(Debug, Clone)]
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// One entry per parameter: decay it (matrices) or not (biases, LayerNorm gains).
    pub decay: Vec<bool>,
    /// Steps taken.
    pub t: i32,
    /// First and second moments, flat like the parameters (empty before the first step).
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

/// The per-step constants of one AdamW update, in `f32`.
struct AdamStep {
    b1: f32,
    b2: f32,
    c1: f32,
    c2: f32,
    inv_bias1: f32,
    inv_bias2: f32,
    eps: f32,
    lr: f32,
    shrink: f32,
}

simd_f32!(
    fn adamw_kernel(
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        k: &AdamStep,
        decay: bool,
    ) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = *m * k.b1 + g * k.c1;
            *v = *v * k.b2 + (g * g) * k.c2;
            let direction = (*m * k.inv_bias1) / ((*v * k.inv_bias2).sqrt() + k.eps);
            let p_k = if decay { *p * k.shrink } else { *p };
            *p = p_k - direction * k.lr;
        }
    }
);

impl AdamW {
    pub fn new(cfg: &TrainConfig, decay: Vec<bool>) -> Self {
        AdamW {
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
            decay,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// One update of every parameter: parameter `i` is `params[spans[i].0 ..][.. spans[i].1]` (the
    /// spans tile the vector in order), its gradient the same range of `grads`. The parameters are
    /// shared out over `threads` threads in contiguous groups.
    pub fn step_flat(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        spans: &[(usize, usize)],
        lr: f64,
        threads: usize,
    ) -> anyhow::Result<()> {
        let tiled = spans
            .iter()
            .try_fold(0, |next, &(start, n)| (start == next).then_some(start + n));
        if spans.len() != self.decay.len()
            || tiled != Some(params.len())
            || grads.len() != params.len()
        {
            bail!(
                "adamw: {} parameters, {} decay flags, {} values, {} gradients (spans must tile them)",
                spans.len(),
                self.decay.len(),
                params.len(),
                grads.len()
            );
        }
        if self.m.is_empty() {
            self.m = vec![0.0; params.len()];
            self.v = vec![0.0; params.len()];
        }
        if self.m.len() != params.len() || self.v.len() != params.len() {
            bail!(
                "adamw: moments hold {} values, parameters {}",
                self.m.len(),
                params.len()
            );
        }
        self.t += 1;
        let k = AdamStep {
            b1: self.beta1 as f32,
            b2: self.beta2 as f32,
            c1: (1.0 - self.beta1) as f32,
            c2: (1.0 - self.beta2) as f32,
            inv_bias1: (1.0 / (1.0 - self.beta1.powi(self.t))) as f32,
            inv_bias2: (1.0 / (1.0 - self.beta2.powi(self.t))) as f32,
            eps: self.eps as f32,
            lr: lr as f32,
            shrink: (1.0 - lr * self.weight_decay) as f32,
        };
        let decay: Vec<bool> = self
            .decay
            .iter()
            .map(|&d| d && self.weight_decay != 0.0)
            .collect();
        // Contiguous groups of whole parameters, about `total / threads` values each.
        let target = params.len().div_ceil(threads.max(1)).max(1);
        let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
        for i in 0..spans.len() {
            match groups.last_mut() {
                Some(r) if spans[r.start].0 + target > spans[i].0 => r.end = i + 1,
                _ => groups.push(i..i + 1),
            }
        }
        let (mut p, mut g, mut m, mut v) =
            (params, grads, self.m.as_mut_slice(), self.v.as_mut_slice());
        let (k, decay) = (&k, &decay);
        std::thread::scope(|s| {
            for (gi, group) in groups.iter().enumerate() {
                let len: usize = spans[group.clone()].iter().map(|&(_, n)| n).sum();
                let (p_now, p_rest) = std::mem::take(&mut p).split_at_mut(len);
                let (g_now, g_rest) = g.split_at(len);
                let (m_now, m_rest) = std::mem::take(&mut m).split_at_mut(len);
                let (v_now, v_rest) = std::mem::take(&mut v).split_at_mut(len);
                (p, g, m, v) = (p_rest, g_rest, m_rest, v_rest);
                let base = spans[group.start].0;
                let group = group.clone();
                let work = move || {
                    for i in group {
                        let (start, n) = spans[i];
                        let r = start - base..start - base + n;
                        adamw_kernel(
                            &mut p_now[r.clone()],
                            &g_now[r.clone()],
                            &mut m_now[r.clone()],
                            &mut v_now[r],
                            k,
                            decay[i],
                        );
                    }
                };
                if gi + 1 == groups.len() {
                    work();
                } else {
                    s.spawn(work);
                }
            }
        });
        Ok(())
    }
}

/// The same update on candle `Var`s (what phase 1's optimizers implement).
impl Optimizer for AdamW {
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        if params.len() != grads.len() {
            candle_core::bail!("adamw: {} params, {} grads", params.len(), grads.len());
        }
        let (mut flat_p, mut flat_g, mut spans) = (Vec::new(), Vec::new(), Vec::new());
        for (p, g) in params.iter().zip(grads) {
            spans.push((flat_p.len(), p.elem_count()));
            flat_p.extend(p.flatten_all()?.to_vec1::<f32>()?);
            flat_g.extend(g.flatten_all()?.to_vec1::<f32>()?);
        }
        self.step_flat(&mut flat_p, &flat_g, &spans, lr, 1)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        for (p, &(start, n)) in params.iter().zip(&spans) {
            p.set(&Tensor::from_slice(
                &flat_p[start..start + n],
                p.shape(),
                p.device(),
            )?)?;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "adamw"
    }
}

/// Scales the gradient (one flat vector) so its global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_`. Returns the norm before clipping.
pub fn clip_grad_norm_flat(grads: &mut [f32], max_norm: f64) -> f64 {
    // f32 partial sums over short chunks (vectorised), accumulated in f64.
    let norm = grads
        .chunks(1024)
        .map(|c| sum_sq(c) as f64)
        .sum::<f64>()
        .sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        scale_in_place(grads, coef as f32);
    }
    norm
}

simd_f32!(
    fn sum_sq(v: &[f32]) -> f32 {
        let mut acc = [0f32; 16];
        let chunks = v.chunks_exact(16);
        let rest: f32 = chunks.remainder().iter().map(|x| x * x).sum();
        for c in chunks {
            for k in 0..16 {
                acc[k] += c[k] * c[k];
            }
        }
        acc.iter().sum::<f32>() + rest
    }
);

simd_f32!(
    fn scale_in_place(v: &mut [f32], a: f32) {
        for x in v.iter_mut() {
            *x *= a;
        }
    }
);

/// `b` windows of `t` tokens (`x`) and the same windows shifted by one (`y`), row-major. A target
/// may be [`crate::ops::IGNORE`]: that position is in the context but not in the loss (a prompt, or
/// padding after a short example).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub x: Vec<u32>,
    pub y: Vec<u32>,
    pub b: usize,
    pub t: usize,
}

impl Batch {
    /// Targets that count in the loss (not [`crate::ops::IGNORE`]).
    pub fn scored(&self) -> usize {
        self.y.iter().filter(|&&t| t != crate::ops::IGNORE).count()
    }

    /// `[b, t]` u32 tensors for the candle model.
    pub fn tensors(&self) -> Result<(Tensor, Tensor)> {
        Ok((
            Tensor::from_slice(&self.x, (self.b, self.t), &Device::Cpu)?,
            Tensor::from_slice(&self.y, (self.b, self.t), &Device::Cpu)?,
        ))
    }
}

/// Where [`sample_batch`] cuts its `batch` windows of `block` tokens from `data_len` tokens: uniform
/// starts in `0..data_len - block`. Its own function so that a replay of a run (`bench --parity`)
/// draws exactly the trainer's windows from a clone of its stream.
pub fn window_starts(
    data_len: usize,
    batch: usize,
    block: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    (0..batch)
        .map(|_| rng.gen_range(0..data_len - block))
        .collect()
}

/// A batch of `batch` random windows of `block` tokens.
pub fn sample_batch(
    data: &[u32],
    batch: usize,
    block: usize,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<Batch> {
    if data.len() <= block + 1 {
        bail!(
            "{} tokens are too few for windows of {} + 1",
            data.len(),
            block
        );
    }
    let mut x = Vec::with_capacity(batch * block);
    let mut y = Vec::with_capacity(batch * block);
    for i in window_starts(data.len(), batch, block, rng) {
        x.extend_from_slice(&data[i..i + block]);
        y.extend_from_slice(&data[i + 1..i + 1 + block]);
    }
    Ok(Batch {
        x,
        y,
        b: batch,
        t: block,
    })
}

/// How many predictions [`all_windows`] scores for `len` tokens and windows of `block`: whole
/// windows whose shifted target still fits, `block` predictions each.
pub fn all_windows_predictions(len: usize, block: usize) -> usize {
    len.saturating_sub(1) / block * block
}

/// Every window of the whole split, back to back: starts `0, block, 2·block, …` while a window
/// and its shifted target fit, in batches of at most `batch` windows. Scoring all of them is the
/// split's loss with no sampling noise.
pub fn all_windows(data: &[u32], block: usize, batch: usize) -> Vec<Batch> {
    // Sliding windows whose stride is the block: every target scored, none twice. A split too
    // short for one window has none.
    sliding_windows(data, block, block, batch).map_or_else(|_| Vec::new(), |(b, _)| b)
}

/// Windows every `stride` tokens, each scoring only its last `stride` targets: every target of the
/// returned range of `data` indices is scored exactly once, with at least `block − stride` tokens
/// of its own window before it. Non-overlapping windows ([`all_windows`], `stride = block`) score
/// a window's first targets with almost no context, while an n-gram always has its full history;
/// this is the fair comparison (score the n-gram on the same range). Windows start at
/// `0, stride, 2·stride, …` while a window and its shifted target fit; unscored targets are
/// [`crate::ops::IGNORE`]. With `stride = block` every target is scored: [`all_windows`].
pub fn sliding_windows(
    data: &[u32],
    block: usize,
    stride: usize,
    batch: usize,
) -> anyhow::Result<(Vec<Batch>, std::ops::Range<usize>)> {
    anyhow::ensure!(
        stride >= 1 && stride <= block,
        "the stride must be within 1..={block}, not {stride}"
    );
    let starts: Vec<usize> = (0..)
        .map(|k| k * stride)
        .take_while(|&i| i + block < data.len())
        .collect();
    anyhow::ensure!(
        !starts.is_empty(),
        "{} tokens hold no window of {block} and its target",
        data.len()
    );
    let first = block - stride + 1;
    let end = starts.last().expect("non-empty") + block + 1;
    let batches = starts
        .chunks(batch.max(1))
        .map(|chunk| {
            let mut x = Vec::with_capacity(chunk.len() * block);
            let mut y = Vec::with_capacity(chunk.len() * block);
            for &i in chunk {
                x.extend_from_slice(&data[i..i + block]);
                // Position p of this window predicts data[i + p + 1]; only the last `stride` count.
                y.extend((0..block).map(|p| {
                    if p + stride >= block {
                        data[i + p + 1]
                    } else {
                        crate::ops::IGNORE
                    }
                }));
            }
            Batch {
                x,
                y,
                b: chunk.len(),
                t: block,
            }
        })
        .collect();
    Ok((batches, first..end))
}

/// An engine's working state. The weights are not here: they are [`Trainer`]'s flat vector.
enum Compute {
    /// The hand-written engine's per-worker workspaces.
    Fast(Box<FastGpt>),
    /// The candle model the autograd engine differentiates. Its `Var`s are overwritten from the flat
    /// parameters before every use: scratch space for the graph, never read back as the weights.
    Plain(Box<Gpt>),
}

/// The whole state of a training run.
pub struct Trainer {
    pub cfg: RunConfig,
    /// The weights, one flat vector in [`Offsets`] layout ([`Gpt::vars`] order): the only copy.
    params: Vec<f32>,
    /// Their gradient, same layout, reused every step.
    grads: Vec<f32>,
    off: Offsets,
    pub opt: AdamW,
    /// Steps completed.
    pub step: usize,
    /// The batch sampler's random stream (saved in checkpoints by seed + word position).
    pub rng: ChaCha8Rng,
    compute: Compute,
}

/// What one training step reports.
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    pub loss: f32,
    pub lr: f64,
    pub grad_norm: f64,
}

impl Trainer {
    /// A fresh run: model initialised from `train.seed` ([`Gpt::new`]), sampler seeded from it too.
    pub fn new(cfg: RunConfig) -> anyhow::Result<Trainer> {
        cfg.train.validate()?;
        let model = Gpt::new(&cfg.model, cfg.train.seed)?;
        let mut params = Vec::new();
        fast::gather(&model, &Offsets::new(&cfg.model), &mut params)?;
        Self::from_params(cfg, params)
    }

    /// A fresh optimizer and sampler around given weights (flat, [`Offsets`] layout).
    pub fn from_params(cfg: RunConfig, params: Vec<f32>) -> anyhow::Result<Trainer> {
        cfg.train.validate()?;
        cfg.model.validate()?;
        let off = Offsets::new(&cfg.model);
        if params.len() != off.total() {
            bail!(
                "{} weights given, the model has {}",
                params.len(),
                off.total()
            );
        }
        // Weight decay on matrices only (embeddings and Linear weights), never on biases or gains.
        let decay = crate::model::param_specs(&cfg.model)
            .iter()
            .map(|(_, shape)| shape.len() >= 2)
            .collect();
        let opt = AdamW::new(&cfg.train, decay);
        let rng = ChaCha8Rng::seed_from_u64(cfg.train.seed.wrapping_add(1));
        let compute = match cfg.train.ops {
            Engine::Fast => Compute::Fast(Box::new(FastGpt::new(&cfg.model, cfg.train.workers)?)),
            Engine::Plain => Compute::Plain(Box::new(Gpt::new(&cfg.model, cfg.train.seed)?)),
        };
        Ok(Trainer {
            grads: vec![0.0; off.total()],
            cfg,
            params,
            off,
            opt,
            step: 0,
            rng,
            compute,
        })
    }

    /// The current weights (flat, [`Offsets`] layout: [`Trainer::layout`]).
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Where each parameter sits in [`Trainer::params`].
    pub fn layout(&self) -> &Offsets {
        &self.off
    }

    /// A candle model holding a *copy* of the current weights, for the readable reference path
    /// (attention maps, the KV-cache equivalence test). Each call makes a new copy; it does not follow
    /// later training steps.
    pub fn to_gpt(&self) -> anyhow::Result<Gpt> {
        let gpt = Gpt::new(&self.cfg.model, self.cfg.train.seed)?;
        fast::scatter(&self.params, &self.off, &gpt)?;
        Ok(gpt)
    }

    /// Tokens consumed per step.
    pub fn tokens_per_step(&self) -> usize {
        self.cfg.train.batch_size * self.cfg.model.block_size
    }

    /// The autograd engine reads the weights through its candle model: write them there (once per
    /// step or evaluation; a no-op for the hand-written engine).
    fn load_plain(&mut self) -> anyhow::Result<()> {
        if let Compute::Plain(gpt) = &self.compute {
            fast::scatter(&self.params, &self.off, gpt)?;
        }
        Ok(())
    }

    /// Mean loss of one batch, and with `grads` its gradient (flat layout), on the configured engine
    /// (after [`Trainer::load_plain`]), with `dropout`'s masks when given (training steps only).
    fn loss_of(
        &mut self,
        batch: &Batch,
        want_grads: bool,
        dropout: Option<&Dropout>,
    ) -> anyhow::Result<f32> {
        let workers = self.cfg.train.workers;
        match &mut self.compute {
            Compute::Fast(f) => f.loss_and_grads_dropout(
                &self.params,
                &batch.x,
                &batch.y,
                batch.b,
                batch.t,
                want_grads.then_some(&mut self.grads[..]),
                dropout,
            ),
            Compute::Plain(gpt) => {
                let (x, y) = batch.tensors()?;
                if !want_grads && dropout.is_none() {
                    return Ok(gpt.loss(&x, &y)?.to_scalar::<f32>()?);
                }
                let (loss, grads) = match dropout {
                    Some(d) => crate::parallel::loss_and_grads_dropout(gpt, &x, &y, workers, d)?,
                    None => crate::parallel::loss_and_grads(gpt, &x, &y, workers)?,
                };
                for (g, &(start, n)) in grads.iter().zip(self.off.spans()) {
                    self.grads[start..start + n].copy_from_slice(&g.flatten_all()?.to_vec1()?);
                }
                Ok(loss)
            }
        }
    }

    /// One optimisation step on a fresh random batch of `train`.
    pub fn step(&mut self, train: &[u32]) -> anyhow::Result<StepStats> {
        let batch = sample_batch(
            train,
            self.cfg.train.batch_size,
            self.cfg.model.block_size,
            &mut self.rng,
        )?;
        self.step_on(&batch)
    }

    /// One optimisation step on a batch the caller built (e.g. prompts whose targets are
    /// [`crate::ops::IGNORE`] except the answer's), with this run's schedule, clipping and AdamW.
    /// Windows may be shorter than the model's block.
    pub fn step_on(&mut self, batch: &Batch) -> anyhow::Result<StepStats> {
        self.load_plain()?;
        let dropout = self.cfg.train.dropout_at(self.step);
        let loss = self.loss_of(batch, true, dropout.as_ref())?;
        if !loss.is_finite() {
            bail!("loss became {loss} at step {}", self.step);
        }
        let t = &self.cfg.train;
        let grad_norm = clip_grad_norm_flat(&mut self.grads, t.grad_clip);
        let lr = t.schedule().lr_at(self.step);
        self.opt.step_flat(
            &mut self.params,
            &self.grads,
            self.off.spans(),
            lr,
            t.workers,
        )?;
        self.step += 1;
        Ok(StepStats {
            loss,
            lr,
            grad_norm,
        })
    }

    /// Mean loss per scored token over `batches` (no gradient).
    pub fn evaluate(&mut self, batches: &[Batch]) -> anyhow::Result<f64> {
        self.load_plain()?;
        let (mut sum, mut tokens) = (0.0, 0usize);
        for batch in batches {
            let n = batch.scored();
            // Never with dropout: evaluation measures the model itself.
            sum += self.loss_of(batch, false, None)? as f64 * n as f64;
            tokens += n;
        }
        if tokens == 0 {
            bail!("evaluate: no batches");
        }
        Ok(sum / tokens as f64)
    }

    /// The validation batches of this config: drawn once from their own seed, so every evaluation
    /// (and every resumed run) scores the same windows.
    pub fn val_batches(&self, val: &[u32]) -> anyhow::Result<Vec<Batch>> {
        let t = &self.cfg.train;
        let mut rng = ChaCha8Rng::seed_from_u64(t.seed.wrapping_add(2));
        (0..t.eval_iters)
            .map(|_| sample_batch(val, t.batch_size, self.cfg.model.block_size, &mut rng))
            .collect::<anyhow::Result<_>>()
            .context("drawing the validation batches")
    }

    /// Mean loss over *every* window of `val` ([`all_windows`]): the split's loss without the
    /// sampling noise of a few random batches.
    pub fn evaluate_full(&mut self, val: &[u32]) -> anyhow::Result<f64> {
        let windows = all_windows(val, self.cfg.model.block_size, 64);
        self.evaluate(&windows)
    }

    /// Mean loss over `val` by [`sliding_windows`] of `stride`: every target of the returned range
    /// scored once, each with at least `block − stride` tokens of context.
    pub fn evaluate_sliding(
        &mut self,
        val: &[u32],
        stride: usize,
    ) -> anyhow::Result<(f64, std::ops::Range<usize>)> {
        self.evaluate_sliding_batched(val, stride, 64)
    }

    /// [`Trainer::evaluate_sliding`] with `batch` windows per forward pass. An evaluation between
    /// training steps with `batch = train.batch_size` reuses the training step's buffers instead of
    /// allocating a 64-window set (and the step then reallocating its own).
    pub fn evaluate_sliding_batched(
        &mut self,
        val: &[u32],
        stride: usize,
        batch: usize,
    ) -> anyhow::Result<(f64, std::ops::Range<usize>)> {
        let (windows, scored) = sliding_windows(val, self.cfg.model.block_size, stride, batch)?;
        Ok((self.evaluate(&windows)?, scored))
    }

    /// Every scored target's own loss (nats) over `batches`, in order — batch by batch, row-major,
    /// [`crate::ops::IGNORE`] targets left out: the numbers behind a mean, for analyses by position
    /// or by kind of character. Computed by the hand-written engine whatever `ops` trains (the two
    /// engines agree, tested); never with dropout.
    pub fn token_losses(&mut self, batches: &[Batch]) -> anyhow::Result<Vec<f32>> {
        let mut scratch;
        let engine: &mut FastGpt = match &mut self.compute {
            Compute::Fast(f) => f,
            Compute::Plain(_) => {
                scratch = FastGpt::new(&self.cfg.model, self.cfg.train.workers)?;
                &mut scratch
            }
        };
        let mut out = Vec::new();
        for b in batches {
            let losses = engine.token_losses(&self.params, &b.x, &b.y, b.b, b.t)?;
            out.extend(
                losses
                    .into_iter()
                    .zip(&b.y)
                    .filter(|(_, &y)| y != crate::ops::IGNORE)
                    .map(|(l, _)| l),
            );
        }
        Ok(out)
    }

    /// The loss of every target of [`sliding_windows`] over `val` with `stride`, one per target of
    /// the returned range of `val` indices, in order: what [`Trainer::evaluate_sliding`] averages.
    pub fn sliding_token_losses(
        &mut self,
        val: &[u32],
        stride: usize,
        batch: usize,
    ) -> anyhow::Result<(Vec<f32>, std::ops::Range<usize>)> {
        let (windows, scored) = sliding_windows(val, self.cfg.model.block_size, stride, batch)?;
        let losses = self.token_losses(&windows)?;
        anyhow::ensure!(
            losses.len() == scored.len(),
            "{} losses for {} scored targets",
            losses.len(),
            scored.len()
        );
        Ok((losses, scored))
    }
}
