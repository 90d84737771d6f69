//! A multi-layer perceptron read top to bottom: `forward` keeps what `backward` needs,
//! `backward` walks the layers in reverse applying each layer's chain rule.
//!
//! ```text
//! h_0 = x
//! z_l = h_{l-1} W_l + b_l            for l = 1..L
//! h_l = act(z_l)                     for hidden layers l < L
//! logits = z_L                       (no activation on the output)
//! ```

use crate::layers::{Activation, Bug, Init, Linear};
use candle_core::{DType, Result, Tensor, Var};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The shape and non-linearity of an MLP, as written in a config.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Widths of the hidden layers, e.g. `[64, 64]`.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub init: Init,
}

#[derive(Debug, Clone)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    pub activation: Activation,
}

/// Everything `forward` computed that `backward` needs: the input of every linear layer and
/// the pre- and post-activation of every hidden layer.
#[derive(Debug, Clone)]
pub struct Trace {
    /// `inputs[l]` is the input of layer l (`h_{l}` in 0-based terms; `inputs[0] = x`).
    pub inputs: Vec<Tensor>,
    /// Pre-activations `z` of the hidden layers.
    pub pre: Vec<Tensor>,
    pub logits: Tensor,
}

impl Mlp {
    /// `sizes = [d_in, hidden..., d_out]`.
    pub fn new(
        sizes: &[usize],
        activation: Activation,
        init: Init,
        dtype: DType,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if sizes.len() < 2 {
            candle_core::bail!("an MLP needs at least an input and an output size, got {sizes:?}");
        }
        let layers = sizes
            .windows(2)
            .map(|w| Linear::new(w[0], w[1], init, dtype, rng))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers, activation })
    }

    /// An MLP from a config for `d_in` inputs and `d_out` outputs.
    pub fn from_config(
        cfg: &MlpConfig,
        d_in: usize,
        d_out: usize,
        dtype: DType,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let mut sizes = vec![d_in];
        sizes.extend(&cfg.hidden);
        sizes.push(d_out);
        Self::new(&sizes, cfg.activation, cfg.init, dtype, rng)
    }

    /// All parameters in a fixed order: `[W1, b1, W2, b2, ...]`; gradients use the same order.
    pub fn params(&self) -> Vec<Var> {
        self.layers
            .iter()
            .flat_map(|l| [l.weight.clone(), l.bias.clone()])
            .collect()
    }

    /// Names matching [`params`](Self::params): `["W1", "b1", "W2", ...]`.
    pub fn param_names(&self) -> Vec<String> {
        (1..=self.layers.len())
            .flat_map(|l| [format!("W{l}"), format!("b{l}")])
            .collect()
    }

    /// Logits only (for evaluation). Written with differentiable candle ops, so the same code
    /// also serves candle's autograd as the independent check of the hand-written gradients.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (l, layer) in self.layers.iter().enumerate() {
            let z = layer.forward(&h)?;
            h = if l < last {
                self.activation.forward(&z)?
            } else {
                z
            };
        }
        Ok(h)
    }

    /// Forward pass that keeps every intermediate result for [`backward`](Self::backward).
    pub fn forward_trace(&self, x: &Tensor) -> Result<Trace> {
        let last = self.layers.len() - 1;
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut pre = Vec::with_capacity(last);
        let mut h = x.clone();
        for (l, layer) in self.layers.iter().enumerate() {
            let z = layer.forward(&h)?;
            inputs.push(h);
            if l < last {
                h = self.activation.forward(&z)?;
                pre.push(z);
            } else {
                h = z;
            }
        }
        Ok(Trace {
            inputs,
            pre,
            logits: h,
        })
    }

    /// Backpropagation: from `dlogits = dL/dlogits` to the gradient of every parameter, in
    /// [`params`](Self::params) order. Layer l's output gradient is turned into its input
    /// gradient, which (through the activation's derivative) is the output gradient of l - 1.
    pub fn backward(&self, trace: &Trace, dlogits: &Tensor, bug: Bug) -> Result<Vec<Tensor>> {
        let mut grads = vec![None; 2 * self.layers.len()];
        let mut dz = dlogits.clone();
        for l in (0..self.layers.len()).rev() {
            let g = self.layers[l].backward(&trace.inputs[l], &dz, bug)?;
            grads[2 * l] = Some(g.dweight);
            grads[2 * l + 1] = Some(g.dbias);
            if l > 0 {
                // inputs[l] = act(pre[l - 1]) is the post-activation of hidden layer l - 1.
                dz = self
                    .activation
                    .backward(&trace.pre[l - 1], &trace.inputs[l], &g.dx, bug)?;
            }
        }
        Ok(grads
            .into_iter()
            .map(|g| g.expect("every layer visited"))
            .collect())
    }

    /// Current parameter values flattened into one f64 vector (for finite differences).
    pub fn flat_params(&self) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        for p in self.params() {
            out.extend(p.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?);
        }
        Ok(out)
    }

    /// Overwrite every parameter from a flat vector laid out as [`flat_params`](Self::flat_params).
    pub fn set_flat_params(&self, values: &[f64]) -> Result<()> {
        let mut offset = 0;
        for p in self.params() {
            let n = p.elem_count();
            if offset + n > values.len() {
                candle_core::bail!("set_flat_params: {} values are too few", values.len());
            }
            let t = Tensor::from_slice(&values[offset..offset + n], p.shape(), p.device())?
                .to_dtype(p.dtype())?;
            p.set(&t)?;
            offset += n;
        }
        if offset != values.len() {
            candle_core::bail!(
                "set_flat_params: expected {offset} values, got {}",
                values.len()
            );
        }
        Ok(())
    }
}
