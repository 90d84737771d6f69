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

use crate::model::{Gpt, GptConfig};
use crate::ops::{Fused, Ops, Plain};

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
    /// "plain" (candle primitives) or "fused" (the fused kernels).
    #[serde(default = "d_ops")]
    pub ops: String,
    /// Threads the batch is split over for the loss + gradient (1 = this thread only).
    #[serde(default = "d_workers")]
    pub workers: usize,
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
fn d_ops() -> String {
    "fused".into()
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
        ops_by_name(&self.ops)?;
        Ok(())
    }
}

/// The [`Ops`] named in a config.
pub fn ops_by_name(name: &str) -> anyhow::Result<Box<dyn Ops>> {
    match name {
        "plain" => Ok(Box::new(Plain)),
        "fused" => Ok(Box::new(Fused)),
        other => bail!("train.ops = {other:?}: expected \"plain\" or \"fused\""),
    }
}

/// Model + training config, as stored in a checkpoint's `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub model: GptConfig,
    pub train: TrainConfig,
}

/// AdamW exactly as `phase1_mlp::optim::AdamW` (and `torch.optim.AdamW`), with its state public so a
/// checkpoint can store and restore it. A test checks it against phase 1's bit for bit.
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
    /// First and second moments, one per parameter (empty before the first step).
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
}

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
}

impl Optimizer for AdamW {
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        if params.len() != grads.len() || params.len() != self.decay.len() {
            candle_core::bail!(
                "adamw: {} params, {} grads, {} decay flags",
                params.len(),
                grads.len(),
                self.decay.len()
            );
        }
        if self.m.is_empty() {
            self.m = grads
                .iter()
                .map(|g| g.zeros_like())
                .collect::<Result<_>>()?;
            self.v = grads
                .iter()
                .map(|g| g.zeros_like())
                .collect::<Result<_>>()?;
        }
        self.t += 1;
        let bias1 = 1.0 - self.beta1.powi(self.t);
        let bias2 = 1.0 - self.beta2.powi(self.t);
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let m = (self.m[i].affine(self.beta1, 0.0)? + g.affine(1.0 - self.beta1, 0.0)?)?;
            let v =
                (self.v[i].affine(self.beta2, 0.0)? + g.sqr()?.affine(1.0 - self.beta2, 0.0)?)?;
            let m_hat = m.affine(1.0 / bias1, 0.0)?;
            let v_hat = v.affine(1.0 / bias2, 0.0)?;
            let direction = (m_hat / v_hat.sqrt()?.affine(1.0, self.eps)?)?;
            let mut p_new = p.as_detached_tensor();
            if self.decay[i] && self.weight_decay != 0.0 {
                p_new = p_new.affine(1.0 - lr * self.weight_decay, 0.0)?;
            }
            p.set(&(p_new - direction.affine(lr, 0.0)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "adamw"
    }
}

/// Scale all gradients together so their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_`. Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let mut sq = 0f64;
    for g in grads.iter() {
        sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    }
    let norm = sq.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for g in grads.iter_mut() {
            *g = g.affine(coef, 0.0)?;
        }
    }
    Ok(norm)
}

/// A batch of `batch` random windows: inputs `[B, T]` and the same windows shifted by one.
pub fn sample_batch(
    data: &[u32],
    batch: usize,
    block: usize,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<(Tensor, Tensor)> {
    if data.len() <= block + 1 {
        bail!(
            "{} tokens are too few for windows of {} + 1",
            data.len(),
            block
        );
    }
    let mut x = Vec::with_capacity(batch * block);
    let mut y = Vec::with_capacity(batch * block);
    for _ in 0..batch {
        let i = rng.gen_range(0..data.len() - block);
        x.extend_from_slice(&data[i..i + block]);
        y.extend_from_slice(&data[i + 1..i + 1 + block]);
    }
    Ok((
        Tensor::from_vec(x, (batch, block), &Device::Cpu)?,
        Tensor::from_vec(y, (batch, block), &Device::Cpu)?,
    ))
}

/// Mean loss and the gradient of every parameter (in [`Gpt::vars`] order) on one batch: on this
/// thread with one worker, else split over `workers` threads ([`crate::parallel::loss_and_grads`]).
pub fn loss_and_grads(
    model: &Gpt,
    x: &Tensor,
    y: &Tensor,
    ops: &dyn Ops,
    workers: usize,
) -> Result<(f32, Vec<Tensor>)> {
    if workers > 1 {
        return crate::parallel::loss_and_grads(model, x, y, ops, workers);
    }
    let loss = model.loss(x, y, ops)?;
    let grads = loss.backward()?;
    let mut out = Vec::new();
    for (name, var) in model.vars() {
        match grads.get(&var) {
            Some(g) => out.push(g.clone()),
            None => candle_core::bail!("no gradient for `{name}`"),
        }
    }
    Ok((loss.to_scalar::<f32>()?, out))
}

/// The whole state of a training run.
pub struct Trainer {
    pub cfg: RunConfig,
    pub model: Gpt,
    pub opt: AdamW,
    /// Steps completed.
    pub step: usize,
    /// The batch sampler's random stream (saved in checkpoints by seed + word position).
    pub rng: ChaCha8Rng,
    ops: Box<dyn Ops>,
}

/// What one training step reports.
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    pub loss: f32,
    pub lr: f64,
    pub grad_norm: f64,
}

impl Trainer {
    /// A fresh run: model initialised from `train.seed`, sampler seeded from it too.
    pub fn new(cfg: RunConfig) -> anyhow::Result<Trainer> {
        cfg.train.validate()?;
        let model = Gpt::new(&cfg.model, cfg.train.seed)?;
        Self::with_model(cfg, model)
    }

    /// A fresh optimizer and sampler around an existing model.
    pub fn with_model(cfg: RunConfig, model: Gpt) -> anyhow::Result<Trainer> {
        // Weight decay on matrices only (embeddings and Linear weights), never on biases or gains.
        let decay = model.vars().iter().map(|(_, v)| v.rank() >= 2).collect();
        let opt = AdamW::new(&cfg.train, decay);
        let rng = ChaCha8Rng::seed_from_u64(cfg.train.seed.wrapping_add(1));
        let ops = ops_by_name(&cfg.train.ops)?;
        Ok(Trainer {
            cfg,
            model,
            opt,
            step: 0,
            rng,
            ops,
        })
    }

    pub fn ops(&self) -> &dyn Ops {
        self.ops.as_ref()
    }

    /// Tokens consumed per step.
    pub fn tokens_per_step(&self) -> usize {
        self.cfg.train.batch_size * self.cfg.model.block_size
    }

    /// One optimisation step on a fresh random batch of `train`.
    pub fn step(&mut self, train: &[u32]) -> anyhow::Result<StepStats> {
        let t = &self.cfg.train;
        let (x, y) = sample_batch(
            train,
            t.batch_size,
            self.cfg.model.block_size,
            &mut self.rng,
        )?;
        let (loss, mut grads) = loss_and_grads(&self.model, &x, &y, self.ops.as_ref(), t.workers)?;
        if !loss.is_finite() {
            bail!("loss became {loss} at step {}", self.step);
        }
        let grad_norm = clip_grad_norm(&mut grads, t.grad_clip)?;
        let lr = t.schedule().lr_at(self.step);
        let params: Vec<Var> = self.model.vars().into_iter().map(|(_, v)| v).collect();
        self.opt.step(&params, &grads, lr)?;
        self.step += 1;
        Ok(StepStats {
            loss,
            lr,
            grad_norm,
        })
    }

    /// Mean loss over fixed validation batches (no gradient).
    pub fn evaluate(&self, batches: &[(Tensor, Tensor)]) -> anyhow::Result<f64> {
        let mut sum = 0.0;
        for (x, y) in batches {
            sum += self
                .model
                .loss(x, y, self.ops.as_ref())?
                .to_scalar::<f32>()? as f64;
        }
        Ok(sum / batches.len() as f64)
    }

    /// The validation batches of this config: drawn once from their own seed, so every evaluation
    /// (and every resumed run) scores the same windows.
    pub fn val_batches(&self, val: &[u32]) -> anyhow::Result<Vec<(Tensor, Tensor)>> {
        let t = &self.cfg.train;
        let mut rng = ChaCha8Rng::seed_from_u64(t.seed.wrapping_add(2));
        (0..t.eval_iters)
            .map(|_| sample_batch(val, t.batch_size, self.cfg.model.block_size, &mut rng))
            .collect::<anyhow::Result<_>>()
            .context("drawing the validation batches")
    }
}
