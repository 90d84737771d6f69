//! The five operations the readable GPT ([`crate::model`]) is built from, written out of candle-core
//! primitives (`mean_keepdim`, `exp`, `matmul`, ...) so candle's autograd differentiates them and a
//! finite-difference test checks them.
//!
//! They are the reference: the hand-written engine ([`crate::fast`], over [`crate::kernels`]) is
//! tested against candle's gradients through these functions. Not candle-nn's fused `softmax_last_dim`
//! / `layer_norm`: those return no gradient, and training through them silently learns nothing.

use candle_core::{DType, Result, Tensor, D};

/// Layer-norm epsilon, as `torch.nn.LayerNorm`'s default.
pub const LN_EPS: f64 = 1e-5;

/// Layer normalisation over the last dimension (eps [`LN_EPS`]), then `* w + b`.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + LN_EPS)?.sqrt()?)?;
    normed.broadcast_mul(w)?.broadcast_add(b)
}

/// GELU in its exact (erf) form: `x/2 * (1 + erf(x/√2))`.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.gelu_erf()
}

/// Softmax over the last dimension of already-scaled scores `[.., T_q, T_k]`, with every key position
/// after the query position masked out (its weight is exactly 0). When `T_k > T_q` the queries are the
/// last `T_q` positions of the key sequence (cached generation).
pub fn causal_softmax(scores: &Tensor) -> Result<Tensor> {
    let d = scores.dims();
    if d.len() < 2 {
        candle_core::bail!("causal_softmax: scores must have rank >= 2, got {d:?}");
    }
    let (t_q, t_k) = (d[d.len() - 2], d[d.len() - 1]);
    let mask = causal_mask(t_q, t_k, scores.dtype(), scores.device())?;
    let masked = scores.broadcast_add(&mask)?;
    // Subtracting the row max keeps exp() finite; the max is a constant for the gradient
    // (softmax is shift-invariant), so it is detached.
    let max = masked.max_keepdim(D::Minus1)?.detach();
    let e = masked.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// `x @ w^T + b` with `x: [.., in]` and `w: [out, in]` (torch's `nn.Linear` layout).
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let inner = *dims.last().expect("linear: x has rank >= 1");
    let rows = x.elem_count() / inner.max(1);
    let y = x.reshape((rows, inner))?.matmul(&w.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut out_dims = dims;
    *out_dims.last_mut().expect("rank >= 1") = w.dim(0)?;
    y.reshape(out_dims)
}

/// A target id that is not scored (PyTorch's `ignore_index`): a position whose target is `IGNORE`
/// adds nothing to the loss and receives no gradient, and the mean is over the other positions.
/// How a reader is trained on the answer only, with its prompt in the context but not in the loss.
pub const IGNORE: u32 = u32::MAX;

/// Mean cross-entropy of `logits: [N, V]` against `targets: [N]` (u32), in nats, over the targets
/// that are not [`IGNORE`].
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let log_z = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let ids = targets.to_vec1::<u32>()?;
    let counted = ids.iter().filter(|&&t| t != IGNORE).count();
    if counted == ids.len() {
        let picked = shifted.gather(&targets.unsqueeze(1)?, 1)?;
        return (log_z - picked)?.mean_all();
    }
    if counted == 0 {
        candle_core::bail!("cross_entropy: every target is IGNORE, nothing to score");
    }
    // Ignored rows gather a valid id (0) and are then multiplied by 0.
    let keep: Vec<f32> = ids
        .iter()
        .map(|&t| f32::from(u8::from(t != IGNORE)))
        .collect();
    let safe: Vec<u32> = ids
        .iter()
        .map(|&t| if t == IGNORE { 0 } else { t })
        .collect();
    let device = logits.device();
    let picked = shifted.gather(&Tensor::new(safe, device)?.unsqueeze(1)?, 1)?;
    let keep = Tensor::new(keep, device)?.unsqueeze(1)?;
    ((log_z - picked)? * keep)?.sum_all()? / counted as f64
}

/// `[t_q, t_k]` additive mask: 0 where key `j <= i + (t_k - t_q)` (the query may see it), `-inf`
/// after. The offset lets a query block sit at the end of a longer key sequence (KV cache).
pub fn causal_mask(
    t_q: usize,
    t_k: usize,
    dtype: DType,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let offset = t_k.saturating_sub(t_q);
    let data: Vec<f32> = (0..t_q)
        .flat_map(|i| {
            (0..t_k).map(move |j| {
                if j <= i + offset {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(data, (t_q, t_k), device)?.to_dtype(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_var(rng: &mut ChaCha8Rng, shape: &[usize]) -> Var {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    /// Compares candle's gradient of `f` (summed against fixed random weights, so every output
    /// element matters) with central differences in f64.
    fn check(vars: &[Var], f: &dyn Fn(&[Tensor]) -> Result<Tensor>) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let out_shape = f(&ts).unwrap().dims().to_vec();
        let w = rand_var(&mut rng, &out_shape).as_detached_tensor();
        let scalar = |ts: &[Tensor]| -> f64 {
            (f(ts).unwrap() * &w)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let loss = (f(&ts).unwrap() * &w).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let h = 1e-6;
        for (k, v) in vars.iter().enumerate() {
            let g = grads
                .get(v)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let base = v.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            for i in 0..base.len() {
                let eval = |delta: f64| {
                    let mut p = base.clone();
                    p[i] += delta;
                    let mut ts2 = ts.clone();
                    ts2[k] = Tensor::from_vec(p, v.dims(), &Device::Cpu).unwrap();
                    scalar(&ts2)
                };
                let numeric = (eval(h) - eval(-h)) / (2.0 * h);
                let err = (numeric - g[i]).abs() / (1.0 + numeric.abs());
                assert!(
                    err < 1e-6,
                    "input {k} elem {i}: fd {numeric} vs autograd {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn m6_plain_layer_norm_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let vars = [
            rand_var(&mut rng, &[2, 3, 5]),
            rand_var(&mut rng, &[5]),
            rand_var(&mut rng, &[5]),
        ];
        check(&vars, &|t| layer_norm(&t[0], &t[1], &t[2]));
    }

    #[test]
    fn m6_plain_gelu_linear_softmax_ce_match_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let x = rand_var(&mut rng, &[2, 3, 4]);
        check(std::slice::from_ref(&x), &|t| gelu(&t[0]));
        let w = rand_var(&mut rng, &[5, 4]);
        let b = rand_var(&mut rng, &[5]);
        check(&[x, w, b], &|t| linear(&t[0], &t[1], Some(&t[2])));
        let s = rand_var(&mut rng, &[1, 2, 4, 4]);
        check(&[s], &|t| causal_softmax(&t[0]));
        let logits = rand_var(&mut rng, &[6, 7]);
        let targets = Tensor::new(&[0u32, 3, 6, 1, 1, 5], &Device::Cpu).unwrap();
        check(&[logits], &|t| cross_entropy(&t[0], &targets));
    }

    #[test]
    fn m6_plain_causal_softmax_rows_sum_to_one_and_mask_is_exact() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let s = rand_var(&mut rng, &[2, 3, 5, 5]).as_detached_tensor();
        let p = causal_softmax(&s).unwrap();
        let rows = p
            .sum(D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        assert!(rows.iter().all(|r| (r - 1.0).abs() < 1e-12));
        let flat = p.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for (idx, val) in flat.iter().enumerate() {
            let (i, j) = ((idx / 5) % 5, idx % 5);
            if j > i {
                assert_eq!(*val, 0.0);
            }
        }
    }
}
