//! [`Fused`]: the same five operations as [`super::Plain`], each one candle `CustomOp` with a
//! hand-derived backward.
//!
//! Why: written from candle primitives, GELU is ~8 elementwise ops (each a fresh buffer) around a scalar
//! `erf`, layer norm and softmax are ~6 reductions and broadcasts each, a linear layer's weight gradient
//! comes back as a transposed view that has to be copied, and its bias gradient is a strided reduction.
//! Here each forward is one pass over its input and each backward one pass over its output gradient
//! (linear: two GEMM calls and a column sum), on contiguous row-major data.
//!
//! Every kernel is generic over `f32` (training) and `f64` (finite-difference tests). The `f32` `exp`
//! and `erf` are short polynomials ([`exp_f32`], [`erf_f32`]) that the compiler vectorises; the hot
//! elementwise loops are compiled a second time with AVX2+FMA enabled and picked at run time.
//!
//! The derivations, written once here so the kernels can stay short:
//! * layer norm, `x̂ = (x - μ)·r` with `r = 1/√(σ² + ε)`, `y = x̂·w + b`:
//!   `dx = r·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))` with `ĝ = g·w`; `dw = Σ_rows g·x̂`; `db = Σ_rows g`.
//! * GELU, `y = x·Φ(x)`: `dy/dx = Φ(x) + x·φ(x)`, `φ(x) = e^{-x²/2}/√(2π)`.
//! * softmax, `p = softmax(s)`: `ds = p·(g - Σ_j p_j g_j)` (masked entries have `p = 0`, so `ds = 0`).
//! * linear, `y = x·Wᵀ + b`: `dx = g·W`, `dW = gᵀ·x`, `db = Σ_rows g`.
//! * cross-entropy, `L = mean_n(logsumexp(z_n) - z_n[t_n])`: `dz_n = (softmax(z_n) - onehot(t_n))/N`.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
    WithDType,
};

use candle_core::backend::BackendStorage;

use super::{Ops, LN_EPS};

/// The fused implementation of [`Ops`]: one custom op per call, forward and backward hand-written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fused;

impl Ops for Fused {
    fn layer_norm(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        let d = x.dim(candle_core::D::Minus1)?;
        if w.dims() != [d] || b.dims() != [d] {
            bail!(
                "layer_norm: x {:?} needs w and b of shape [{d}], got {:?} and {:?}",
                x.dims(),
                w.dims(),
                b.dims()
            );
        }
        x.contiguous()?
            .apply_op3(&w.contiguous()?, &b.contiguous()?, LayerNorm)
    }

    fn gelu(&self, x: &Tensor) -> Result<Tensor> {
        x.contiguous()?.apply_op1(Gelu)
    }

    fn causal_softmax(&self, scores: &Tensor) -> Result<Tensor> {
        let d = scores.dims();
        if d.len() < 2 || d[d.len() - 1] < d[d.len() - 2] {
            bail!("causal_softmax: scores must be [.., t_q, t_k] with t_k >= t_q, got {d:?}");
        }
        scores.contiguous()?.apply_op1(CausalSoftmax)
    }

    fn linear(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (out, inner) = w.dims2()?;
        if dims.last() != Some(&inner) {
            bail!(
                "linear: x {dims:?} does not end in w's input size {inner} (w is [{out}, {inner}])"
            );
        }
        let rows = x.elem_count() / inner.max(1);
        let x2 = x.contiguous()?.reshape((rows, inner))?;
        let w = w.contiguous()?;
        let y = match b {
            Some(b) => {
                if b.dims() != [out] {
                    bail!("linear: bias must be [{out}], got {:?}", b.dims());
                }
                x2.apply_op3(&w, &b.contiguous()?, Linear)?
            }
            None => x2.apply_op2(&w, Linear)?,
        };
        let mut out_dims = dims;
        *out_dims.last_mut().expect("rank >= 1") = out;
        y.reshape(out_dims)
    }

    fn cross_entropy(&self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let (n, _) = logits.dims2()?;
        if targets.dims() != [n] {
            bail!(
                "cross_entropy: targets must be [{n}], got {:?}",
                targets.dims()
            );
        }
        let targets = targets.to_dtype(DType::U32)?.contiguous()?;
        logits.contiguous()?.apply_op2(&targets, CrossEntropy)
    }
}

// ---- element type -------------------------------------------------------------------------------

/// What the kernels need of a float: arithmetic, `exp`/`ln`/`sqrt`/`erf`. `f32` uses the fast
/// polynomials, `f64` the accurate library functions (it exists for finite-difference tests).
pub(crate) trait Real:
    WithDType
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + PartialOrd
{
    const ZERO: Self;
    const ONE: Self;
    fn lit(v: f64) -> Self;
    fn exp_(self) -> Self;
    fn ln_(self) -> Self;
    fn sqrt_(self) -> Self;
    fn erf_(self) -> Self;
    fn max_(self, other: Self) -> Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn lit(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn exp_(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn ln_(self) -> Self {
        self.ln()
    }
    #[inline(always)]
    fn sqrt_(self) -> Self {
        self.sqrt()
    }
    #[inline(always)]
    fn erf_(self) -> Self {
        erf_f32(self)
    }
    #[inline(always)]
    fn max_(self, other: Self) -> Self {
        if self > other {
            self
        } else {
            other
        }
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn lit(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn exp_(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn ln_(self) -> Self {
        self.ln()
    }
    #[inline(always)]
    fn sqrt_(self) -> Self {
        self.sqrt()
    }
    #[inline(always)]
    fn erf_(self) -> Self {
        candle_core::cpu::erf::erf_f64(self)
    }
    #[inline(always)]
    fn max_(self, other: Self) -> Self {
        if self > other {
            self
        } else {
            other
        }
    }
}

/// `e^x` for `f32` in a form the compiler can vectorise (no libm call): Cephes' `expf`, i.e.
/// `x = n·ln2 + r` with `|r| ≤ ln2/2`, a degree-6 polynomial for `e^r`, and `2^n` built from exponent
/// bits. Relative error ≈ 1e-7 on the clamped range; inputs below -87.3 give ~1e-38, not 0.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n from exponent bits. Not `n as i32`: Rust's saturating float-to-int cast is one scalar
    // instruction and two compares per lane and stops the loop from vectorising. Adding 1.5·2^23
    // puts the integer n in the low mantissa bits instead (exact: |n| ≤ 128).
    let bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    y * f32::from_bits(bits.wrapping_add(127) << 23)
}

/// `erf(x)` for `f32` without a libm call: the rational approximation `x·P(x²)/Q(x²)` on `[-4, 4]`
/// that Eigen and XLA use (|error| < 2e-7 against libm's `erff`, checked in a test).
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = -2.726_142_3e-10_f32;
    let p = p * x2 + 2.770_681_4e-8;
    let p = p * x2 + -2.101_024e-6;
    let p = p * x2 + -5.692_506_4e-5;
    let p = p * x2 + -7.349_906_3e-4;
    let p = p * x2 + -2.954_600_1e-3;
    let p = p * x2 + -1.609_603_3e-2;
    let q = -1.456_607_2e-5_f32;
    let q = q * x2 + -2.133_740_6e-4;
    let q = q * x2 + -1.682_827e-3;
    let q = q * x2 + -7.373_329e-3;
    let q = q * x2 + -1.426_473_9e-2;
    x * p / q
}

// ---- storage helpers ----------------------------------------------------------------------------

/// The contiguous slice a layout covers, or an error naming the op.
fn slice<'a, T: WithDType>(op: &str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => bail!(
            "{op}: expects a contiguous input, got strides {:?}",
            l.stride()
        ),
    }
}

/// Dispatches a generic kernel on the storage's float dtype.
macro_rules! by_dtype {
    ($op:expr, $dtype:expr, $f:ident ( $($arg:expr),* )) => {
        match $dtype {
            DType::F32 => $f::<f32>($($arg),*),
            DType::F64 => $f::<f64>($($arg),*),
            dt => bail!("{}: unsupported dtype {dt:?} (f32 or f64)", $op),
        }
    };
}

fn last_two(l: &Layout) -> (usize, usize) {
    let d = l.dims();
    let last = *d.last().unwrap_or(&1);
    (l.shape().elem_count() / last.max(1), last)
}

// ---- layer norm ---------------------------------------------------------------------------------

struct LayerNorm;

/// Row statistics `(mean, 1/√(var + ε))`, two-pass for accuracy (rows are short).
#[inline(always)]
fn row_stats<T: Real>(row: &[T]) -> (T, T) {
    let n = T::lit(row.len() as f64);
    let mean = sum(row) / n;
    let mut var = T::ZERO;
    for &v in row {
        let c = v - mean;
        var += c * c;
    }
    (mean, T::ONE / (var / n + T::lit(LN_EPS)).sqrt_())
}

/// Sum with 8 independent accumulators, so the compiler can keep them in one vector register.
#[inline(always)]
fn sum<T: Real>(v: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let mut s = T::ZERO;
    for a in acc {
        s += a;
    }
    for &r in rest {
        s += r;
    }
    s
}

fn layer_norm_fwd<T: Real>(x: &[T], w: &[T], b: &[T], d: usize) -> Vec<T> {
    let mut y = vec![T::ZERO; x.len()];
    for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
        let (mean, rstd) = row_stats(xr);
        for k in 0..d {
            yr[k] = (xr[k] - mean) * rstd * w[k] + b[k];
        }
    }
    y
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<CpuStorage> {
            let (_, d) = last_two(l1);
            let x = slice::<T>("layer_norm", s1, l1)?;
            let (w, b) = (
                slice::<T>("layer_norm", s2, l2)?,
                slice::<T>("layer_norm", s3, l3)?,
            );
            Ok(T::to_cpu_storage_owned(layer_norm_fwd(x, w, b, d)))
        }
        let out = by_dtype!("layer_norm", s1.dtype(), run(s1, l1, s2, l2, s3, l3))?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let packed = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LayerNormBwd)?;
        let (n, d) = (x.elem_count(), w.elem_count());
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = packed.narrow(0, n, d)?;
        let db = packed.narrow(0, n + d, d)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// Layer-norm backward: one pass per row gives `dx`; `dw`, `db` accumulate across rows. Output is
/// packed `[dx (N·D) | dw (D) | db (D)]` so one op returns all three.
struct LayerNormBwd;

fn layer_norm_bwd<T: Real>(x: &[T], w: &[T], g: &[T], d: usize) -> Vec<T> {
    let n = x.len();
    let mut out = vec![T::ZERO; n + 2 * d];
    let (dx, dwb) = out.split_at_mut(n);
    let (dw, db) = dwb.split_at_mut(d);
    let mut xhat = vec![T::ZERO; d];
    let mut gw = vec![T::ZERO; d];
    let inv_d = T::ONE / T::lit(d as f64);
    for ((xr, gr), dxr) in x
        .chunks_exact(d)
        .zip(g.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d))
    {
        let (mean, rstd) = row_stats(xr);
        for k in 0..d {
            xhat[k] = (xr[k] - mean) * rstd;
            gw[k] = gr[k] * w[k];
            dw[k] += gr[k] * xhat[k];
            db[k] += gr[k];
        }
        let mean_gw = sum(&gw) * inv_d;
        let mut dot = [T::ZERO; 8];
        for (xh, gg) in xhat.chunks_exact(8).zip(gw.chunks_exact(8)) {
            for k in 0..8 {
                dot[k] += xh[k] * gg[k];
            }
        }
        let mut mean_gx = T::ZERO;
        for v in dot {
            mean_gx += v;
        }
        for k in (d - d % 8)..d {
            mean_gx += xhat[k] * gw[k];
        }
        let mean_gx = mean_gx * inv_d;
        for k in 0..d {
            dxr[k] = rstd * (gw[k] - mean_gw - xhat[k] * mean_gx);
        }
    }
    out
}

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "fused-layer-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<CpuStorage> {
            let (_, d) = last_two(l1);
            let x = slice::<T>("layer_norm_bwd", s1, l1)?;
            let w = slice::<T>("layer_norm_bwd", s2, l2)?;
            let g = slice::<T>("layer_norm_bwd", s3, l3)?;
            Ok(T::to_cpu_storage_owned(layer_norm_bwd(x, w, g, d)))
        }
        let (n, d) = (l1.shape().elem_count(), l2.shape().elem_count());
        let out = by_dtype!("layer_norm_bwd", s1.dtype(), run(s1, l1, s2, l2, s3, l3))?;
        Ok((out, Shape::from(n + 2 * d)))
    }
}

// ---- GELU ---------------------------------------------------------------------------------------

struct Gelu;
struct GeluBwd;

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// 1/√(2π)
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

#[inline(always)]
fn gelu_fwd<T: Real>(x: &[T], y: &mut [T]) {
    let (h, r) = (T::lit(0.5), T::lit(FRAC_1_SQRT_2));
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = h * xv * (T::ONE + (xv * r).erf_());
    }
}

#[inline(always)]
fn gelu_bwd<T: Real>(x: &[T], g: &[T], dx: &mut [T]) {
    let (h, r, c) = (T::lit(0.5), T::lit(FRAC_1_SQRT_2), T::lit(INV_SQRT_2PI));
    for ((d, &xv), &gv) in dx.iter_mut().zip(x).zip(g) {
        let cdf = h * (T::ONE + (xv * r).erf_());
        let pdf = c * (-h * xv * xv).exp_();
        *d = gv * (cdf + xv * pdf);
    }
}

simd_f32!(
    fn gelu_fwd_f32(x: &[f32], y: &mut [f32]) {
        gelu_fwd(x, y)
    }
);
simd_f32!(
    fn gelu_bwd_f32(x: &[f32], g: &[f32], dx: &mut [f32]) {
        gelu_bwd(x, g, dx)
    }
);

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "fused-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match s.dtype() {
            DType::F32 => {
                let x = slice::<f32>("gelu", s, l)?;
                let mut y = vec![0f32; x.len()];
                gelu_fwd_f32(x, &mut y);
                CpuStorage::F32(y)
            }
            DType::F64 => {
                let x = slice::<f64>("gelu", s, l)?;
                let mut y = vec![0f64; x.len()];
                gelu_fwd(x, &mut y);
                CpuStorage::F64(y)
            }
            dt => bail!("gelu: unsupported dtype {dt:?}"),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &GeluBwd)?))
    }
}

impl CustomOp2 for GeluBwd {
    fn name(&self) -> &'static str {
        "fused-gelu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match s1.dtype() {
            DType::F32 => {
                let (x, g) = (
                    slice::<f32>("gelu_bwd", s1, l1)?,
                    slice::<f32>("gelu_bwd", s2, l2)?,
                );
                let mut dx = vec![0f32; x.len()];
                gelu_bwd_f32(x, g, &mut dx);
                CpuStorage::F32(dx)
            }
            DType::F64 => {
                let (x, g) = (
                    slice::<f64>("gelu_bwd", s1, l1)?,
                    slice::<f64>("gelu_bwd", s2, l2)?,
                );
                let mut dx = vec![0f64; x.len()];
                gelu_bwd(x, g, &mut dx);
                CpuStorage::F64(dx)
            }
            dt => bail!("gelu_bwd: unsupported dtype {dt:?}"),
        };
        Ok((out, l1.shape().clone()))
    }
}

// ---- causal softmax -----------------------------------------------------------------------------

struct CausalSoftmax;
struct CausalSoftmaxBwd;

/// Row `i` of each `[t_q, t_k]` block sees keys `0..=i + (t_k - t_q)`; the rest get exactly 0.
#[inline(always)]
fn causal_softmax_fwd<T: Real>(s: &[T], p: &mut [T], t_q: usize, t_k: usize) {
    let offset = t_k - t_q;
    for (row, (sr, pr)) in s.chunks_exact(t_k).zip(p.chunks_exact_mut(t_k)).enumerate() {
        let seen = (row % t_q) + offset + 1;
        let (sv, pv) = (&sr[..seen], &mut pr[..seen]);
        let mut max = sv[0];
        for &v in &sv[1..] {
            max = max.max_(v);
        }
        for (pe, &se) in pv.iter_mut().zip(sv) {
            *pe = (se - max).exp_();
        }
        let inv = T::ONE / sum(pv);
        for pe in pv.iter_mut() {
            *pe *= inv;
        }
        for pe in &mut pr[seen..] {
            *pe = T::ZERO;
        }
    }
}

#[inline(always)]
fn causal_softmax_bwd<T: Real>(p: &[T], g: &[T], ds: &mut [T], t_q: usize, t_k: usize) {
    let offset = t_k - t_q;
    for (row, ((pr, gr), dr)) in p
        .chunks_exact(t_k)
        .zip(g.chunks_exact(t_k))
        .zip(ds.chunks_exact_mut(t_k))
        .enumerate()
    {
        let seen = (row % t_q) + offset + 1;
        let mut dot = T::ZERO;
        for k in 0..seen {
            dot += pr[k] * gr[k];
        }
        for k in 0..seen {
            dr[k] = pr[k] * (gr[k] - dot);
        }
        for d in &mut dr[seen..] {
            *d = T::ZERO;
        }
    }
}

simd_f32!(
    fn causal_softmax_fwd_f32(s: &[f32], p: &mut [f32], t_q: usize, t_k: usize) {
        causal_softmax_fwd(s, p, t_q, t_k)
    }
);

fn qk_dims(l: &Layout) -> (usize, usize) {
    let d = l.dims();
    (d[d.len() - 2], d[d.len() - 1])
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "fused-causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (t_q, t_k) = qk_dims(l);
        let out = match s.dtype() {
            DType::F32 => {
                let x = slice::<f32>("causal_softmax", s, l)?;
                let mut p = vec![0f32; x.len()];
                causal_softmax_fwd_f32(x, &mut p, t_q, t_k);
                CpuStorage::F32(p)
            }
            DType::F64 => {
                let x = slice::<f64>("causal_softmax", s, l)?;
                let mut p = vec![0f64; x.len()];
                causal_softmax_fwd(x, &mut p, t_q, t_k);
                CpuStorage::F64(p)
            }
            dt => bail!("causal_softmax: unsupported dtype {dt:?}"),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, _scores: &Tensor, p: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(p.apply_op2_no_bwd(
            &grad.contiguous()?,
            &CausalSoftmaxBwd,
        )?))
    }
}

impl CustomOp2 for CausalSoftmaxBwd {
    fn name(&self) -> &'static str {
        "fused-causal-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
        ) -> Result<CpuStorage> {
            let (t_q, t_k) = qk_dims(l1);
            let p = slice::<T>("causal_softmax_bwd", s1, l1)?;
            let g = slice::<T>("causal_softmax_bwd", s2, l2)?;
            let mut ds = vec![T::ZERO; p.len()];
            causal_softmax_bwd(p, g, &mut ds, t_q, t_k);
            Ok(T::to_cpu_storage_owned(ds))
        }
        let out = by_dtype!("causal_softmax_bwd", s1.dtype(), run(s1, l1, s2, l2))?;
        Ok((out, l1.shape().clone()))
    }
}

// ---- linear -------------------------------------------------------------------------------------

/// `y = x·Wᵀ (+ b)` on `x: [N, in]`, `W: [out, in]`: one GEMM straight into the output buffer
/// (pre-filled with the bias), reading `W` transposed through strides instead of copying it.
struct Linear;
/// Packed `[dx (N·in) | dW (out·in) | db (out, when there is a bias)]`.
struct LinearBwd {
    bias: bool,
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, each operand given as (row stride, column stride), on the
/// calling thread unless candle itself is allowed more than one (RAYON_NUM_THREADS).
#[allow(clippy::too_many_arguments)]
fn gemm<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    accumulate: bool,
    lhs: &[T],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[T],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    assert!(dst.len() >= m * n);
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    let threads = candle_core::utils::get_num_threads();
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index the strides reach inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            par,
        )
    }
}

fn linear_fwd<T: Real>(x: &[T], w: &[T], b: Option<&[T]>, inner: usize, out: usize) -> Vec<T> {
    let rows = x.len() / inner.max(1);
    let mut y = vec![T::ZERO; rows * out];
    if let Some(b) = b {
        for yr in y.chunks_exact_mut(out) {
            yr.copy_from_slice(b);
        }
    }
    // rhs(k, j) = W[j, k]: row stride 1, column stride `inner`.
    gemm(
        rows,
        out,
        inner,
        &mut y,
        b.is_some(),
        x,
        (inner, 1),
        w,
        (1, inner),
    );
    y
}

fn linear_bwd<T: Real>(x: &[T], w: &[T], g: &[T], inner: usize, out: usize, bias: bool) -> Vec<T> {
    let rows = x.len() / inner.max(1);
    let mut packed = vec![T::ZERO; rows * inner + out * inner + if bias { out } else { 0 }];
    let (dx, rest) = packed.split_at_mut(rows * inner);
    let (dw, db) = rest.split_at_mut(out * inner);
    // dx[N×in] = g[N×out] · W[out×in]
    gemm(rows, inner, out, dx, false, g, (out, 1), w, (inner, 1));
    // dW[out×in] = gᵀ[out×N] · x[N×in]; gᵀ(o, r) = g[r, o]
    gemm(out, inner, rows, dw, false, g, (1, out), x, (inner, 1));
    if bias {
        for gr in g.chunks_exact(out) {
            for (d, &v) in db.iter_mut().zip(gr) {
                *d += v;
            }
        }
    }
    packed
}

impl Linear {
    fn run(
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            bias: Option<(&CpuStorage, &Layout)>,
        ) -> Result<CpuStorage> {
            let (_, inner) = last_two(l1);
            let out = l2.dims()[0];
            let x = slice::<T>("linear", s1, l1)?;
            let w = slice::<T>("linear", s2, l2)?;
            let b = match bias {
                Some((s, l)) => Some(slice::<T>("linear", s, l)?),
                None => None,
            };
            Ok(T::to_cpu_storage_owned(linear_fwd(x, w, b, inner, out)))
        }
        let (rows, _) = last_two(l1);
        let out = by_dtype!("linear", s1.dtype(), go(s1, l1, s2, l2, bias))?;
        Ok((out, Shape::from((rows, l2.dims()[0]))))
    }

    fn grads(x: &Tensor, w: &Tensor, grad: &Tensor, bias: bool) -> Result<Vec<Tensor>> {
        let packed = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LinearBwd { bias })?;
        let (nx, nw) = (x.elem_count(), w.elem_count());
        let mut out = vec![
            packed.narrow(0, 0, nx)?.reshape(x.shape())?,
            packed.narrow(0, nx, nw)?.reshape(w.shape())?,
        ];
        if bias {
            out.push(packed.narrow(0, nx + nw, w.dim(0)?)?);
        }
        Ok(out)
    }
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Linear::run(s1, l1, s2, l2, None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let mut g = Linear::grads(x, w, grad, false)?.into_iter();
        Ok((g.next(), g.next()))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Linear::run(s1, l1, s2, l2, Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let mut g = Linear::grads(x, w, grad, true)?.into_iter();
        Ok((g.next(), g.next(), g.next()))
    }
}

impl CustomOp3 for LinearBwd {
    fn name(&self) -> &'static str {
        "fused-linear-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
            bias: bool,
        ) -> Result<CpuStorage> {
            let (_, inner) = last_two(l1);
            let out = l2.dims()[0];
            let x = slice::<T>("linear_bwd", s1, l1)?;
            let w = slice::<T>("linear_bwd", s2, l2)?;
            let g = slice::<T>("linear_bwd", s3, l3)?;
            Ok(T::to_cpu_storage_owned(linear_bwd(
                x, w, g, inner, out, bias,
            )))
        }
        let n = l1.shape().elem_count()
            + l2.shape().elem_count()
            + if self.bias { l2.dims()[0] } else { 0 };
        let out = by_dtype!(
            "linear_bwd",
            s1.dtype(),
            go(s1, l1, s2, l2, s3, l3, self.bias)
        )?;
        Ok((out, Shape::from(n)))
    }
}

// ---- cross-entropy ------------------------------------------------------------------------------

struct CrossEntropy;
struct CrossEntropyBwd;

fn check_targets(t: &[u32], v: usize) -> Result<()> {
    if let Some((i, &bad)) = t.iter().enumerate().find(|(_, &c)| c as usize >= v) {
        bail!("cross_entropy: target {bad} at row {i} is out of range for {v} classes");
    }
    Ok(())
}

/// `(max, Σ e^{z - max})` of one row.
#[inline(always)]
fn row_lse_parts<T: Real>(z: &[T]) -> (T, T) {
    let mut max = z[0];
    for &v in &z[1..] {
        max = max.max_(v);
    }
    let mut s = T::ZERO;
    for &v in z {
        s += (v - max).exp_();
    }
    (max, s)
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn go<T: Real>(s1: &CpuStorage, l1: &Layout, t: &[u32]) -> Result<CpuStorage> {
            let (n, v) = last_two(l1);
            let z = slice::<T>("cross_entropy", s1, l1)?;
            let mut total = 0f64;
            for (zr, &c) in z.chunks_exact(v).zip(t) {
                let (max, s) = row_lse_parts(zr);
                total += (max + s.ln_() - zr[c as usize]).to_f64();
            }
            Ok(T::to_cpu_storage_owned(vec![T::from_f64(
                total / n.max(1) as f64,
            )]))
        }
        let t = slice::<u32>("cross_entropy", s2, l2)?;
        check_targets(t, last_two(l1).1)?;
        let out = by_dtype!("cross_entropy", s1.dtype(), go(s1, l1, t))?;
        Ok((out, Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.broadcast_as(1)?.contiguous()?;
        Ok((
            Some(logits.apply_op3_no_bwd(targets, &g, &CrossEntropyBwd)?),
            None,
        ))
    }
}

impl CustomOp3 for CrossEntropyBwd {
    fn name(&self) -> &'static str {
        "fused-cross-entropy-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            t: &[u32],
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<CpuStorage> {
            let (n, v) = last_two(l1);
            let z = slice::<T>("cross_entropy_bwd", s1, l1)?;
            let scale = slice::<T>("cross_entropy_bwd", s3, l3)?[0] / T::lit(n.max(1) as f64);
            let mut dz = vec![T::ZERO; z.len()];
            for ((zr, dr), &c) in z.chunks_exact(v).zip(dz.chunks_exact_mut(v)).zip(t) {
                let (max, s) = row_lse_parts(zr);
                let k = scale / s;
                for (d, &zv) in dr.iter_mut().zip(zr) {
                    *d = (zv - max).exp_() * k;
                }
                dr[c as usize] -= scale;
            }
            Ok(T::to_cpu_storage_owned(dz))
        }
        let t = slice::<u32>("cross_entropy_bwd", s2, l2)?;
        let out = by_dtype!("cross_entropy_bwd", s1.dtype(), go(s1, l1, t, s3, l3))?;
        Ok((out, l1.shape().clone()))
    }
}
