//! Causal multi-head self-attention, written out step by step (Vaswani et al. 2017, §3.2).
//!
//! Every position emits a query, a key and a value (one fused `qkv` projection, as nanoGPT and
//! `torch_gpt.py` do). Query `i` scores every key `j` by `q_i · k_j / √d_head`; keys after `i` are
//! masked out so the model cannot read the future; a softmax turns scores into weights, and the
//! output is the weighted sum of values, projected back to `d_model`. The weights are returned on
//! request so they can be looked at (m5).

use candle_core::{Result, Tensor, Var};

use crate::ops;

/// Keys and values already computed for earlier positions (one per layer during generation), so a
/// new token costs one row of attention instead of recomputing the whole context.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    /// `[B, H, T_past, d_head]` each, or `None` before the first token.
    pub kv: Option<(Tensor, Tensor)>,
}

impl KvCache {
    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The attention sub-layer of one block. Weights in torch's `nn.Linear` layout `[out, in]`.
#[derive(Debug, Clone)]
pub struct CausalSelfAttention {
    /// `[3d, d]`: queries, keys and values of all heads in one matrix.
    pub qkv_w: Var,
    pub qkv_b: Var,
    /// `[d, d]`: mixes the heads' outputs back into the residual stream.
    pub proj_w: Var,
    pub proj_b: Var,
    pub n_head: usize,
}

impl CausalSelfAttention {
    /// `x: [B, T, d]` -> `[B, T, d]`. With `want_weights`, also the attention weights `[B, H, T, T]`.
    ///
    /// With a `cache`, `x` holds only the new positions: their keys and values are appended to the
    /// cache and the queries attend over everything cached (the mask is offset accordingly).
    pub fn forward(
        &self,
        x: &Tensor,
        cache: Option<&mut KvCache>,
        want_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        self.forward_dropout(x, cache, want_weights, None)
    }

    /// [`CausalSelfAttention::forward`] with the attention weights multiplied by `mask: [B, H, T, T]`
    /// (dropout, [`crate::dropout`]) before they weigh the values. The returned weights are the
    /// undropped ones.
    pub fn forward_dropout(
        &self,
        x: &Tensor,
        cache: Option<&mut KvCache>,
        want_weights: bool,
        mask: Option<&Tensor>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (b, t, d) = x.dims3()?;
        let h = self.n_head;
        let hd = d / h;

        // 1. Project to queries, keys, values and split the channels into heads: [B, H, T, d_head].
        let qkv = ops::linear(x, self.qkv_w.as_tensor(), Some(self.qkv_b.as_tensor()))?;
        let heads = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i * d, d)?
                .reshape((b, t, h, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, mut k, mut v) = (heads(0)?, heads(1)?, heads(2)?);

        // 2. With a cache, the new keys/values join those of earlier positions.
        if let Some(cache) = cache {
            if let Some((k_past, v_past)) = &cache.kv {
                k = Tensor::cat(&[k_past, &k], 2)?;
                v = Tensor::cat(&[v_past, &v], 2)?;
            }
            cache.kv = Some((k.clone(), v.clone()));
        }

        // 3. Scaled dot-product scores [B, H, T_q, T_k]; causal mask + softmax -> weights.
        let scores = (q.matmul(&k.t()?.contiguous()?)? * (1.0 / (hd as f64).sqrt()))?;
        let weights = if scores.dim(2)? == 1 {
            // One new query at the end of the sequence sees every key: a plain softmax.
            let max = scores.max_keepdim(candle_core::D::Minus1)?;
            let e = scores.broadcast_sub(&max)?.exp()?;
            e.broadcast_div(&e.sum_keepdim(candle_core::D::Minus1)?)?
        } else {
            // The mask is offset when the queries sit at the end of a longer (cached) key sequence.
            ops::causal_softmax(&scores)?
        };

        // 4. Weighted sum of values, heads concatenated back to [B, T, d], output projection.
        let dropped = match mask {
            Some(m) => Some((&weights * m)?),
            None => None,
        };
        let y = dropped
            .as_ref()
            .unwrap_or(&weights)
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, d))?;
        let out = ops::linear(&y, self.proj_w.as_tensor(), Some(self.proj_b.as_tensor()))?;
        Ok((out, want_weights.then_some(weights)))
    }
}
