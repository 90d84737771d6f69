//! Gradient checking: numerical gradients by central finite differences, the relative error
//! used to compare them with analytical ones, and [`check_mlp`], which puts the hand-written
//! backward pass, finite differences and candle's autograd side by side for every parameter.
//!
//! Central differences have truncation error O(eps^2) and rounding error about
//! 1e-16 |f| / eps, so in f64 with eps around 1e-5 a correct gradient agrees to roughly
//! 1e-7..1e-10 relative error, while a wrong one is off by O(1). [`finite_difference`] and
//! [`rel_error`] are deliberately independent of tensors so phase 2 can reuse them on any
//! function it can evaluate.

use crate::layers::{mse, softmax_cross_entropy, softmax_cross_entropy_loss, Bug};
use crate::mlp::Mlp;
use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// The gradient of `f` at `x` by central differences: `(f(x + eps e_i) - f(x - eps e_i)) / 2 eps`.
pub fn finite_difference(f: impl Fn(&[f64]) -> f64, x: &[f64], eps: f64) -> Vec<f64> {
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            let original = probe[i];
            probe[i] = original + eps;
            let plus = f(&probe);
            probe[i] = original - eps;
            let minus = f(&probe);
            probe[i] = original;
            (plus - minus) / (2.0 * eps)
        })
        .collect()
}

/// The largest [`rel_error`] a correct backward pass may show against central differences in f64:
/// the criterion of the m1 tests, and the threshold line of the m1 figure.
pub const AGREEMENT_TOL: f64 = 1e-6;

/// The smallest [`rel_error`] at which a parameter tensor's gradient counts as broken: the m1 tests
/// require every planted bug to exceed it on the tensors it breaks.
pub const BUG_TOL: f64 = 1e-2;

/// Relative error `|a - b| / max(|a|, |b|)`, defined as 0 when both are exactly 0.
///
/// Dividing by the larger magnitude makes the measure symmetric and scale free: 1e-7 or less is
/// agreement to rounding error, above 1e-4 usually means a bug (CS231n's rule of thumb).
pub fn rel_error(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

/// Largest [`rel_error`] over paired entries of two equally long slices.
pub fn max_rel_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "max_rel_error: slices differ in length");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| rel_error(x, y))
        .fold(0.0, f64::max)
}

/// What the network is trained to predict in a gradient check.
#[derive(Debug, Clone)]
pub enum Target {
    /// Class indices `[n]` (u32) for softmax cross-entropy.
    Classes(Tensor),
    /// Real targets `[n, d_out]` for mean squared error.
    Values(Tensor),
}

impl Target {
    /// Loss and `dL/dlogits` from the hand-written fused losses.
    pub fn loss_and_grad(&self, logits: &Tensor) -> Result<(Tensor, Tensor)> {
        match self {
            Target::Classes(t) => softmax_cross_entropy(logits, t),
            Target::Values(t) => mse(logits, t),
        }
    }

    /// The loss alone, built from differentiable candle ops (for autograd).
    pub fn loss(&self, logits: &Tensor) -> Result<Tensor> {
        match self {
            Target::Classes(t) => softmax_cross_entropy_loss(logits, t),
            Target::Values(t) => (logits - t)?.sqr()?.mean_all(),
        }
    }

    pub fn loss_name(&self) -> &'static str {
        match self {
            Target::Classes(_) => "softmax_cross_entropy",
            Target::Values(_) => "mse",
        }
    }
}

/// The three opinions about one parameter tensor's gradient, entry by entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParamCheck {
    /// "W1", "b1", ...
    pub param: String,
    /// Hand-derived backward (possibly with a deliberate [`Bug`]).
    pub analytical: Vec<f64>,
    /// Central finite differences of the loss.
    pub numerical: Vec<f64>,
    /// candle's autograd of the same forward pass.
    pub autograd: Vec<f64>,
    /// Entries whose ±eps perturbation flipped some ReLU on or off: the loss is not
    /// differentiable in between, so the finite difference there measures a mix of two slopes
    /// and says nothing about the backward pass. They are excluded from the error.
    #[serde(default)]
    pub kinks: Vec<usize>,
}

impl ParamCheck {
    /// Worst entry of hand-derived vs finite differences, kink crossings excluded.
    pub fn max_rel_error(&self) -> f64 {
        (0..self.analytical.len())
            .filter(|i| !self.kinks.contains(i))
            .map(|i| rel_error(self.analytical[i], self.numerical[i]))
            .fold(0.0, f64::max)
    }
    /// Worst entry of hand-derived vs candle autograd.
    pub fn max_rel_error_autograd(&self) -> f64 {
        max_rel_error(&self.analytical, &self.autograd)
    }
}

/// Replaces every bias of `mlp` with draws from `N(0, std^2)`.
///
/// Networks start with zero biases, and then an input whose hidden units are all off produces a
/// pre-activation of exactly 0 in the next layer — ReLU's kink, where the derivative is
/// undefined and finite differences straddle two slopes. Random biases move every
/// pre-activation off the kink so the check compares like with like.
pub fn randomize_biases(mlp: &Mlp, std: f64, rng: &mut impl rand::Rng) -> Result<()> {
    let normal = rand_distr::Normal::new(0.0, std)
        .map_err(|e| candle_core::Error::Msg(format!("bad bias std: {e}")))?;
    for layer in &mlp.layers {
        let b = &layer.bias;
        let v: Vec<f64> = (0..b.elem_count()).map(|_| rng.sample(normal)).collect();
        b.set(&Tensor::from_vec(v, b.shape(), b.device())?.to_dtype(b.dtype())?)?;
    }
    Ok(())
}

/// For each parameter entry, whether moving it by +eps and by -eps leaves some hidden unit on
/// different sides of 0 (a ReLU switching on or off between the two evaluations).
fn kink_crossings(mlp: &Mlp, x: &Tensor, theta: &[f64], eps: f64) -> Result<Vec<bool>> {
    let pattern = |values: &[f64]| -> Result<Vec<u8>> {
        mlp.set_flat_params(values)?;
        let trace = mlp.forward_trace(x)?;
        let mut signs = Vec::new();
        for z in &trace.pre {
            signs.extend(z.gt(0.0)?.flatten_all()?.to_vec1::<u8>()?);
        }
        Ok(signs)
    };
    let mut probe = theta.to_vec();
    let mut out = Vec::with_capacity(theta.len());
    for i in 0..theta.len() {
        probe[i] = theta[i] + eps;
        let plus = pattern(&probe)?;
        probe[i] = theta[i] - eps;
        let minus = pattern(&probe)?;
        probe[i] = theta[i];
        out.push(plus != minus);
    }
    mlp.set_flat_params(theta)?;
    Ok(out)
}

/// Checks every parameter of `mlp` on the batch `(x, target)`: the hand-written backward
/// (with `bug` switched in) against central finite differences with step `eps` and against
/// candle's autograd. Use an f64 network: in f32 the finite differences are dominated by
/// rounding error (about 1e-7 / eps relative) and nothing below 1e-3 could be trusted.
pub fn check_mlp(
    mlp: &Mlp,
    x: &Tensor,
    target: &Target,
    bug: Bug,
    eps: f64,
) -> Result<Vec<ParamCheck>> {
    // 1. Hand-derived gradients.
    let trace = mlp.forward_trace(x)?;
    let (_, dlogits) = target.loss_and_grad(&trace.logits)?;
    let analytical = mlp.backward(&trace, &dlogits, bug)?;

    // 2. candle autograd on the same forward (parameters are Vars, so they are tracked).
    let loss = target.loss(&mlp.forward(x)?)?;
    let store = loss.backward()?;
    let params = mlp.params();
    let autograd = params
        .iter()
        .map(|p| {
            store
                .get(p.as_tensor())
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg("autograd produced no gradient".into()))
        })
        .collect::<Result<Vec<_>>>()?;

    // 3. Finite differences over the flattened parameter vector.
    let theta = mlp.flat_params()?;
    let loss_at = |values: &[f64]| -> f64 {
        mlp.set_flat_params(values)
            .and_then(|_| mlp.forward(x))
            .and_then(|logits| target.loss(&logits))
            .and_then(|l| l.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>())
            .expect("forward pass failed during finite differences")
    };
    let numerical = finite_difference(loss_at, &theta, eps);
    let kinks = if mlp.activation.has_kink() {
        kink_crossings(mlp, x, &theta, eps)?
    } else {
        vec![false; theta.len()]
    };
    mlp.set_flat_params(&theta)?;

    let names = mlp.param_names();
    let mut offset = 0;
    let mut out = Vec::with_capacity(params.len());
    for (i, p) in params.iter().enumerate() {
        let n = p.elem_count();
        let flat = |t: &Tensor| -> Result<Vec<f64>> {
            t.flatten_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_vec1::<f64>()
        };
        out.push(ParamCheck {
            param: names[i].clone(),
            analytical: flat(&analytical[i])?,
            numerical: numerical[offset..offset + n].to_vec(),
            autograd: flat(&autograd[i])?,
            kinks: (0..n).filter(|&j| kinks[offset + j]).collect(),
        });
        offset += n;
    }
    Ok(out)
}
