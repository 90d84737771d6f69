//! The building blocks of an MLP, each with an explicit `forward` and a hand-derived `backward`.
//!
//! No autograd is used here: every `backward` is the chain rule written out for one layer, taking
//! the gradient of the loss with respect to the layer's output (`dy`) and returning the gradient
//! with respect to its input (and, for [`Linear`], its parameters). The derivations are in the
//! doc comments; `tests/m1_gradcheck.rs` checks every one against finite differences.
//!
//! Shapes: a batch is a matrix with one example per row, `x: [n, d_in]`.
//! The code is dtype generic: training runs in f32, gradient checks in f64.

use candle_core::{DType, Device, Result, Tensor, Var, D};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Deliberate mistakes that can be switched on in `backward` to show what a gradient check
/// catches. `None` everywhere except in the m1 experiment and its tests.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Bug {
    /// The correct backward pass.
    #[default]
    None,
    /// ReLU / LeakyReLU pass `dy` straight through, forgetting to multiply by the mask `z > 0`.
    ReluMaskDropped,
    /// The weight gradient is computed as `dy^T x` (the transpose of the right `x^T dy`) and
    /// reshaped to the weight's shape: shape checks would not catch it for a square layer.
    WeightGradTransposed,
}

/// How the weights of a [`Linear`] layer are drawn. Biases always start at zero.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Init {
    /// Glorot & Bengio (2010): `N(0, 2 / (fan_in + fan_out))`, keeps activation and gradient
    /// variance roughly constant through tanh/sigmoid layers.
    Xavier,
    /// He et al. (2015): `N(0, 2 / fan_in)`, compensates for ReLU zeroing half its inputs.
    He,
    /// A plain `N(0, std^2)` ignoring the layer size, and an optional constant bias: the
    /// "broken init" of the m2 experiments (too small => vanishing, too large => exploding,
    /// negative bias => dead ReLUs).
    Normal {
        std: f64,
        #[serde(default)]
        bias: f64,
    },
}

impl Init {
    /// Standard deviation of the weights of a `fan_in -> fan_out` layer.
    pub fn std(&self, fan_in: usize, fan_out: usize) -> f64 {
        match *self {
            Init::Xavier => (2.0 / (fan_in + fan_out) as f64).sqrt(),
            Init::He => (2.0 / fan_in as f64).sqrt(),
            Init::Normal { std, .. } => std,
        }
    }

    fn bias(&self) -> f64 {
        match *self {
            Init::Normal { bias, .. } => bias,
            _ => 0.0,
        }
    }
}

/// A fully connected layer `y = x W + b` with `W: [d_in, d_out]`, `b: [d_out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Var,
    pub bias: Var,
}

/// Gradients of the loss with respect to a [`Linear`] layer's input and parameters.
#[derive(Debug, Clone)]
pub struct LinearGrads {
    pub dx: Tensor,
    pub dweight: Tensor,
    pub dbias: Tensor,
}

impl Linear {
    /// A layer with weights drawn from `init` using `rng` (seeded by the caller: candle's own
    /// random tensors are not seeded, so the numbers are generated here and copied in).
    pub fn new(
        d_in: usize,
        d_out: usize,
        init: Init,
        dtype: DType,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let normal = Normal::new(0.0, init.std(d_in, d_out))
            .map_err(|e| candle_core::Error::Msg(format!("bad init std: {e}")))?;
        let w: Vec<f64> = (0..d_in * d_out).map(|_| normal.sample(rng)).collect();
        let weight = Tensor::from_vec(w, (d_in, d_out), &Device::Cpu)?.to_dtype(dtype)?;
        let bias = Tensor::full(init.bias(), d_out, &Device::Cpu)?.to_dtype(dtype)?;
        Ok(Self {
            weight: Var::from_tensor(&weight)?,
            bias: Var::from_tensor(&bias)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight)?.broadcast_add(&self.bias)
    }

    /// With `y = x W + b` and `dy = dL/dy`:
    /// * `dL/dx = dy W^T` (each input feeds every output through one weight),
    /// * `dL/dW = x^T dy` (summed over the batch by the matrix product),
    /// * `dL/db = sum over the batch of dy` (the bias is broadcast to every row).
    pub fn backward(&self, x: &Tensor, dy: &Tensor, bug: Bug) -> Result<LinearGrads> {
        let dx = dy.matmul(&self.weight.t()?)?;
        let dweight = match bug {
            Bug::WeightGradTransposed => dy.t()?.matmul(x)?.reshape(self.weight.shape())?,
            _ => x.t()?.matmul(dy)?,
        };
        let dbias = dy.sum(0)?;
        Ok(LinearGrads { dx, dweight, dbias })
    }
}

/// Element-wise non-linearities. `backward` gets both the input `z` and the output `y` of
/// `forward` because the cheapest derivative formula uses one or the other.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    /// `max(z, 0.01 z)`: a small slope for negative inputs so a unit can never die completely.
    LeakyRelu,
    Tanh,
    Sigmoid,
}

/// Negative-side slope of [`Activation::LeakyRelu`] (the usual default, as in PyTorch).
pub const LEAKY_SLOPE: f64 = 0.01;

impl Activation {
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }

    /// Whether the derivative jumps at 0 (finite differences across 0 are meaningless).
    pub fn has_kink(&self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu)
    }

    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Relu => z.relu(),
            Activation::LeakyRelu => z.maximum(&z.affine(LEAKY_SLOPE, 0.0)?),
            Activation::Tanh => z.tanh(),
            // 1 / (1 + e^-z): for very negative z, e^-z overflows to inf and the result is a
            // correct 0, never NaN.
            Activation::Sigmoid => (z.neg()?.exp()? + 1.0)?.recip(),
        }
    }

    /// `dL/dz = dL/dy * y'(z)` with
    /// * ReLU: `y' = 1 if z > 0 else 0` (the "mask"),
    /// * LeakyReLU: `y' = 1 if z > 0 else 0.01`,
    /// * tanh: `y' = 1 - y^2`,
    /// * sigmoid: `y' = y (1 - y)` (at most 1/4, which is why deep sigmoid nets vanish).
    pub fn backward(&self, z: &Tensor, y: &Tensor, dy: &Tensor, bug: Bug) -> Result<Tensor> {
        match self {
            Activation::Relu | Activation::LeakyRelu if bug == Bug::ReluMaskDropped => {
                Ok(dy.clone())
            }
            Activation::Relu => dy * z.gt(0.0)?.to_dtype(z.dtype())?,
            Activation::LeakyRelu => {
                let mask = z.gt(0.0)?.to_dtype(z.dtype())?;
                dy * mask.affine(1.0 - LEAKY_SLOPE, LEAKY_SLOPE)?
            }
            Activation::Tanh => dy * y.sqr()?.affine(-1.0, 1.0)?,
            Activation::Sigmoid => dy * (y * y.affine(-1.0, 1.0)?)?,
        }
    }
}

/// Mean softmax cross-entropy of `logits: [n, c]` against class indices `targets: [n]` (u32),
/// and its gradient with respect to the logits, computed together ("fused").
///
/// `loss = mean_i( logsumexp(l_i) - l_i[t_i] )`, with the log-sum-exp shifted by the row
/// maximum so that `exp` never overflows. The gradient simplifies to
/// `dL/dl = (softmax(l) - onehot(t)) / n`: the probabilities minus the truth, no division by a
/// probability anywhere, which is why the fused form is numerically stable.
pub fn softmax_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<(Tensor, Tensor)> {
    let (n, c) = logits.dims2()?;
    let shifted = logits.broadcast_sub(&logits.max_keepdim(D::Minus1)?)?;
    let exp = shifted.exp()?;
    let sum_exp = exp.sum_keepdim(D::Minus1)?;
    let log_sum_exp = sum_exp.log()?;
    let target_logit = shifted.gather(&targets.unsqueeze(1)?, 1)?;
    let loss = (log_sum_exp - target_logit)?.mean_all()?;
    let probs = exp.broadcast_div(&sum_exp)?;
    let onehot = one_hot(targets, c, logits.dtype())?;
    let dlogits = ((probs - onehot)? / n as f64)?;
    Ok((loss, dlogits))
}

/// Softmax cross-entropy for the forward pass only, written so candle's autograd can
/// differentiate it (used as the "third opinion" in m1).
pub fn softmax_cross_entropy_loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    // The shift is a constant for the derivative, so it is detached.
    let shifted = logits.broadcast_sub(&logits.max_keepdim(D::Minus1)?.detach())?;
    let log_sum_exp = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let target_logit = shifted.gather(&targets.unsqueeze(1)?, 1)?;
    (log_sum_exp - target_logit)?.mean_all()
}

/// Mean squared error over every element, `mean((y - t)^2)`, and its gradient
/// `2 (y - t) / (number of elements)`.
pub fn mse(y: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor)> {
    let diff = (y - target)?;
    let loss = diff.sqr()?.mean_all()?;
    let dy = (diff * (2.0 / y.elem_count() as f64))?;
    Ok((loss, dy))
}

/// `[n, classes]` matrix with a 1 in each row at the target's column.
pub fn one_hot(targets: &Tensor, classes: usize, dtype: DType) -> Result<Tensor> {
    let t = targets.to_vec1::<u32>()?;
    let mut data = vec![0f64; t.len() * classes];
    for (row, &c) in t.iter().enumerate() {
        if c as usize >= classes {
            candle_core::bail!("target {c} in row {row} is not a class index below {classes}");
        }
        data[row * classes + c as usize] = 1.0;
    }
    Tensor::from_vec(data, (t.len(), classes), targets.device())?.to_dtype(dtype)
}
