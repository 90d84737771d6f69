//! Optimizers written by hand: SGD, momentum, Nesterov, RMSProp, Adam and AdamW.
//!
//! Every optimizer is one small struct holding its own state (velocity, moment estimates, step
//! count) and implements [`Optimizer::step`], which reads one gradient per parameter and writes
//! the updated value back into the parameter's [`Var`] with `Var::set`. The learning rate is an
//! argument of `step` rather than a field so that a [`crate::schedule::LrSchedule`] drives it.
//!
//! The update rules follow the conventions of `torch.optim` (so numbers can be compared with
//! PyTorch): momentum accumulates the raw gradient (`v = mu v + g`, no dampening), Nesterov uses
//! the look-ahead form `p -= lr (g + mu v)`, RMSProp adds `eps` outside the square root, and
//! AdamW decays the weights before the Adam update, decoupled from the gradient.
//!
//! State tensors are created lazily on the first step with the shape and dtype of each gradient,
//! so one optimizer works for f32 training and f64 checks alike.

use candle_core::{Result, Tensor, Var};
use serde::{Deserialize, Serialize};

/// A first-order optimizer: updates parameters in place from their gradients.
pub trait Optimizer {
    /// Update every parameter in place (`Var::set`) from its gradient. `lr` comes from a schedule.
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()>;
    /// Short lower-case name used in records and figure legends ("sgd", "adam", ...).
    fn name(&self) -> &str;
}

/// Checks that there is exactly one gradient per parameter with a matching shape.
fn check_shapes(name: &str, params: &[Var], grads: &[Tensor]) -> Result<()> {
    if params.len() != grads.len() {
        candle_core::bail!(
            "{name}: {} parameters but {} gradients",
            params.len(),
            grads.len()
        );
    }
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        if p.dims() != g.dims() {
            candle_core::bail!(
                "{name}: parameter {i} has shape {:?} but its gradient has shape {:?}",
                p.dims(),
                g.dims()
            );
        }
    }
    Ok(())
}

/// Zero tensors shaped like each gradient: the initial state of every stateful optimizer.
fn zeros_like_all(grads: &[Tensor]) -> Result<Vec<Tensor>> {
    grads.iter().map(|g| g.zeros_like()).collect()
}

/// Plain stochastic gradient descent: `p -= lr * g`.
#[derive(Debug, Clone, Default)]
pub struct Sgd;

impl Sgd {
    pub fn new() -> Self {
        Sgd
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        check_shapes("sgd", params, grads)?;
        for (p, g) in params.iter().zip(grads) {
            let p_new = (p.as_detached_tensor() - g.affine(lr, 0.0)?)?;
            p.set(&p_new)?;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "sgd"
    }
}

/// SGD with (heavy-ball) momentum, as `torch.optim.SGD(momentum=mu)`:
/// `v = mu * v + g ; p -= lr * v`.
#[derive(Debug, Clone)]
pub struct Momentum {
    pub momentum: f64,
    velocity: Option<Vec<Tensor>>,
}

impl Momentum {
    pub fn new(momentum: f64) -> Self {
        Self {
            momentum,
            velocity: None,
        }
    }
}

impl Optimizer for Momentum {
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        check_shapes("momentum", params, grads)?;
        if self.velocity.is_none() {
            self.velocity = Some(zeros_like_all(grads)?);
        }
        let velocity = self.velocity.as_mut().expect("initialised above");
        for ((p, g), v) in params.iter().zip(grads).zip(velocity.iter_mut()) {
            *v = (v.affine(self.momentum, 0.0)? + g)?;
            p.set(&(p.as_detached_tensor() - v.affine(lr, 0.0)?)?)?;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "momentum"
    }
}

/// Nesterov momentum in the form used by `torch.optim.SGD(nesterov=True)`:
/// `v = mu * v + g ; p -= lr * (g + mu * v)` — the step looks ahead along the new velocity.
#[derive(Debug, Clone)]
pub struct Nesterov {
    pub momentum: f64,
    velocity: Option<Vec<Tensor>>,
}

impl Nesterov {
    pub fn new(momentum: f64) -> Self {
        Self {
            momentum,
            velocity: None,
        }
    }
}

impl Optimizer for Nesterov {
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        check_shapes("nesterov", params, grads)?;
        if self.velocity.is_none() {
            self.velocity = Some(zeros_like_all(grads)?);
        }
        let velocity = self.velocity.as_mut().expect("initialised above");
        for ((p, g), v) in params.iter().zip(grads).zip(velocity.iter_mut()) {
            *v = (v.affine(self.momentum, 0.0)? + g)?;
            let direction = (g + v.affine(self.momentum, 0.0)?)?;
            p.set(&(p.as_detached_tensor() - direction.affine(lr, 0.0)?)?)?;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "nesterov"
    }
}

/// RMSProp as `torch.optim.RMSprop`: a running mean of squared gradients scales each
/// coordinate's step, `s = alpha * s + (1 - alpha) * g^2 ; p -= lr * g / (sqrt(s) + eps)`.
#[derive(Debug, Clone)]
pub struct RmsProp {
    pub alpha: f64,
    pub eps: f64,
    square_avg: Option<Vec<Tensor>>,
}

impl RmsProp {
    pub fn new(alpha: f64, eps: f64) -> Self {
        Self {
            alpha,
            eps,
            square_avg: None,
        }
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        check_shapes("rmsprop", params, grads)?;
        if self.square_avg.is_none() {
            self.square_avg = Some(zeros_like_all(grads)?);
        }
        let square_avg = self.square_avg.as_mut().expect("initialised above");
        for ((p, g), s) in params.iter().zip(grads).zip(square_avg.iter_mut()) {
            *s = (s.affine(self.alpha, 0.0)? + g.sqr()?.affine(1.0 - self.alpha, 0.0)?)?;
            let denom = s.sqrt()?.affine(1.0, self.eps)?;
            let update = (g / denom)?.affine(lr, 0.0)?;
            p.set(&(p.as_detached_tensor() - update)?)?;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "rmsprop"
    }
}

/// The shared moment bookkeeping of Adam and AdamW.
#[derive(Debug, Clone)]
struct Moments {
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Number of steps taken so far (t in the paper, starting at 1 on the first step).
    t: i32,
    m: Option<Vec<Tensor>>,
    v: Option<Vec<Tensor>>,
}

impl Moments {
    fn new(beta1: f64, beta2: f64, eps: f64) -> Self {
        Self {
            beta1,
            beta2,
            eps,
            t: 0,
            m: None,
            v: None,
        }
    }

    /// Updates the moment estimates of every parameter and returns, for each, the Adam step
    /// direction `mhat / (sqrt(vhat) + eps)` (to be multiplied by the learning rate).
    fn directions(&mut self, grads: &[Tensor]) -> Result<Vec<Tensor>> {
        if self.m.is_none() {
            self.m = Some(zeros_like_all(grads)?);
            self.v = Some(zeros_like_all(grads)?);
        }
        self.t += 1;
        // The moments start at zero, so early on they are biased towards zero by exactly
        // (1 - beta^t); dividing by it undoes the bias (Kingma & Ba 2015, section 3).
        let bias1 = 1.0 - self.beta1.powi(self.t);
        let bias2 = 1.0 - self.beta2.powi(self.t);
        let ms = self.m.as_mut().expect("initialised above");
        let vs = self.v.as_mut().expect("initialised above");
        let mut out = Vec::with_capacity(grads.len());
        for ((g, m), v) in grads.iter().zip(ms.iter_mut()).zip(vs.iter_mut()) {
            *m = (m.affine(self.beta1, 0.0)? + g.affine(1.0 - self.beta1, 0.0)?)?;
            *v = (v.affine(self.beta2, 0.0)? + g.sqr()?.affine(1.0 - self.beta2, 0.0)?)?;
            let m_hat = m.affine(1.0 / bias1, 0.0)?;
            let v_hat = v.affine(1.0 / bias2, 0.0)?;
            out.push((m_hat / v_hat.sqrt()?.affine(1.0, self.eps)?)?);
        }
        Ok(out)
    }
}

/// Adam (Kingma & Ba 2015) with bias correction, as `torch.optim.Adam` without weight decay:
/// `m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2 ; p -= lr * mhat / (sqrt(vhat) + eps)`.
#[derive(Debug, Clone)]
pub struct Adam {
    moments: Moments,
}

impl Adam {
    pub fn new(beta1: f64, beta2: f64, eps: f64) -> Self {
        Self {
            moments: Moments::new(beta1, beta2, eps),
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        check_shapes("adam", params, grads)?;
        let directions = self.moments.directions(grads)?;
        for (p, d) in params.iter().zip(directions) {
            p.set(&(p.as_detached_tensor() - d.affine(lr, 0.0)?)?)?;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "adam"
    }
}

/// AdamW (Loshchilov & Hutter 2019), exactly as `torch.optim.AdamW`: the weights are first
/// shrunk by `lr * weight_decay` (decoupled from the gradient, so the decay is not rescaled by
/// Adam's per-coordinate step size), then the Adam update is applied.
#[derive(Debug, Clone)]
pub struct AdamW {
    moments: Moments,
    pub weight_decay: f64,
    decay_mask: Option<Vec<bool>>,
}

impl AdamW {
    pub fn new(beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Self {
        Self {
            moments: Moments::new(beta1, beta2, eps),
            weight_decay,
            decay_mask: None,
        }
    }

    /// Decay only the parameters whose entry is `true` (one entry per parameter, in the order
    /// passed to `step`). Without a mask every parameter is decayed.
    pub fn with_decay_mask(mut self, mask: Vec<bool>) -> Self {
        self.decay_mask = Some(mask);
        self
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, params: &[Var], grads: &[Tensor], lr: f64) -> Result<()> {
        check_shapes("adamw", params, grads)?;
        if let Some(mask) = &self.decay_mask {
            if mask.len() != params.len() {
                candle_core::bail!(
                    "adamw: decay mask has {} entries but there are {} parameters",
                    mask.len(),
                    params.len()
                );
            }
        }
        let directions = self.moments.directions(grads)?;
        for (i, (p, d)) in params.iter().zip(directions).enumerate() {
            let decay = self.decay_mask.as_ref().is_none_or(|mask| mask[i]);
            let mut p_new = p.as_detached_tensor();
            if decay && self.weight_decay != 0.0 {
                p_new = p_new.affine(1.0 - lr * self.weight_decay, 0.0)?;
            }
            p_new = (p_new - d.affine(lr, 0.0)?)?;
            p.set(&p_new)?;
        }
        Ok(())
    }
    fn name(&self) -> &str {
        "adamw"
    }
}

fn default_momentum() -> f64 {
    0.9
}
fn default_alpha() -> f64 {
    0.99
}
fn default_eps() -> f64 {
    1e-8
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_weight_decay() -> f64 {
    0.01
}

/// An optimizer as written in a TOML config, e.g. `{ kind = "adamw", weight_decay = 0.1 }`.
/// Omitted hyper-parameters take PyTorch's defaults.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    Sgd,
    Momentum {
        #[serde(default = "default_momentum")]
        momentum: f64,
    },
    Nesterov {
        #[serde(default = "default_momentum")]
        momentum: f64,
    },
    #[serde(rename = "rmsprop")]
    RmsProp {
        #[serde(default = "default_alpha")]
        alpha: f64,
        #[serde(default = "default_eps")]
        eps: f64,
    },
    Adam {
        #[serde(default = "default_beta1")]
        beta1: f64,
        #[serde(default = "default_beta2")]
        beta2: f64,
        #[serde(default = "default_eps")]
        eps: f64,
    },
    #[serde(rename = "adamw")]
    AdamW {
        #[serde(default = "default_beta1")]
        beta1: f64,
        #[serde(default = "default_beta2")]
        beta2: f64,
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default = "default_weight_decay")]
        weight_decay: f64,
    },
}

impl OptimizerConfig {
    /// A fresh optimizer (empty state) with these hyper-parameters.
    pub fn build(&self) -> Box<dyn Optimizer> {
        self.build_with_decay_mask(None)
    }

    /// Like [`build`](Self::build), but AdamW decays only the parameters where `mask` is true.
    /// The mask is ignored by optimizers without weight decay.
    pub fn build_with_decay_mask(&self, mask: Option<Vec<bool>>) -> Box<dyn Optimizer> {
        match *self {
            OptimizerConfig::Sgd => Box::new(Sgd::new()),
            OptimizerConfig::Momentum { momentum } => Box::new(Momentum::new(momentum)),
            OptimizerConfig::Nesterov { momentum } => Box::new(Nesterov::new(momentum)),
            OptimizerConfig::RmsProp { alpha, eps } => Box::new(RmsProp::new(alpha, eps)),
            OptimizerConfig::Adam { beta1, beta2, eps } => Box::new(Adam::new(beta1, beta2, eps)),
            OptimizerConfig::AdamW {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                let opt = AdamW::new(beta1, beta2, eps, weight_decay);
                match mask {
                    Some(mask) => Box::new(opt.with_decay_mask(mask)),
                    None => Box::new(opt),
                }
            }
        }
    }

    /// The name the built optimizer reports (`"sgd"`, `"adamw"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd => "sgd",
            OptimizerConfig::Momentum { .. } => "momentum",
            OptimizerConfig::Nesterov { .. } => "nesterov",
            OptimizerConfig::RmsProp { .. } => "rmsprop",
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::AdamW { .. } => "adamw",
        }
    }
}
