//! The numeric kernels of the hand-written GPT engine ([`crate::fast`]), each written once: matrix
//! products through one `gemm` wrapper (the crate's only raw-pointer code), layer norm, GELU, the
//! causal softmax, cross-entropy, their backward passes, and the `f32` `exp` / `erf` they are built on.
//!
//! Every kernel works on flat row-major `f32` slices. The elementwise loops are compiled three times
//! (plain, AVX2+FMA, AVX-512) by `simd_f32!` and picked at run time; the reductions use eight
//! independent accumulators ([`dot8`], [`sum8`], [`max8`]) so the compiler can vectorise them.
//!
//! The derivations, written once here so the kernels can stay short:
//! * layer norm, `x̂ = (x - μ)·r` with `r = 1/√(σ² + ε)`, `y = x̂·w + b`:
//!   `dx = r·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))` with `ĝ = g·w`; `dw = Σ_rows g·x̂`; `db = Σ_rows g`.
//! * GELU, `y = x·Φ(x)`: `dy/dx = Φ(x) + x·φ(x)`, `φ(x) = e^{-x²/2}/√(2π)`.
//! * softmax, `p = softmax(s)`: `ds = p·(g - Σ_j p_j g_j)` (masked entries have `p = 0`, so `ds = 0`).
//! * linear, `y = x·Wᵀ + b`: `dx = g·W`, `dW = gᵀ·x`, `db = Σ_rows g`.
//! * cross-entropy, `L = mean_n(logsumexp(z_n) - z_n[t_n])`: `dz_n = (softmax(z_n) - onehot(t_n))/N`.
//!
//! Tested through the engine (loss and every gradient against candle's autograd over
//! [`crate::ops`]) and one by one in this module's tests.

use crate::ops::LN_EPS;

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

/// `l ← l − log Σ e^l`, stably.
pub(crate) fn log_softmax(l: &mut [f32]) {
    let max = max8(l);
    let z: f32 = l.iter().map(|&x| (x - max).exp()).sum();
    let shift = max + z.ln();
    for x in l.iter_mut() {
        *x -= shift;
    }
}

simd_f32!(
    pub(crate) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
        for (yv, &xv) in y.iter_mut().zip(x) {
            *yv += a * xv;
        }
    }
);

/// `C[m×n] = (acc ? C : 0) + scale · A[m×k] · B[k×n]`, every matrix given by a slice that starts at
/// its first element and its (row, column) strides, so heads and transposes are read in place.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    (m, n, k): (usize, usize, usize),
    c: &mut [f32],
    c_rs: usize,
    acc: bool,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    scale: f32,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The last element each operand's strides reach, computed without overflow.
    let reach = |rows: usize, rs: usize, cols: usize, cs: usize| -> Option<usize> {
        (rows - 1)
            .checked_mul(rs)?
            .checked_add((cols - 1).checked_mul(cs)?)
    };
    assert!(
        m == 1 || c_rs >= n,
        "gemm: rows of C overlap (row stride {c_rs} < {n} columns)"
    );
    assert!(
        reach(m, c_rs, n, 1).is_some_and(|last| last < c.len()),
        "gemm: C too short"
    );
    assert!(
        k == 0 || reach(m, a_rs, k, a_cs).is_some_and(|last| last < a.len()),
        "gemm: A too short"
    );
    assert!(
        k == 0 || reach(k, b_rs, n, b_cs).is_some_and(|last| last < b.len()),
        "gemm: B too short"
    );
    // SAFETY: the asserts keep every element the strides reach inside its slice, and the rows of C
    // apart; `c` is borrowed mutably, so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs as isize,
            acc,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `out[N×O] (+)= inp[N×I] · Wᵀ + bias`, `W: [O×I]` (torch's `nn.Linear` layout). With `acc`, adds
/// to what `out` holds (the residual connection, for free).
#[allow(clippy::too_many_arguments)]
pub fn linear_fwd(
    out: &mut [f32],
    inp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    n: usize,
    i: usize,
    o: usize,
    acc: bool,
) {
    if let Some(bias) = bias {
        for row in out.chunks_exact_mut(o) {
            if acc {
                add_assign(row, bias);
            } else {
                row.copy_from_slice(bias);
            }
        }
    }
    // B(k, j) = W[j, k]: row stride 1, column stride I.
    gemm(
        (n, o, i),
        out,
        o,
        acc || bias.is_some(),
        inp,
        (i, 1),
        w,
        (1, i),
        1.0,
    );
}

/// Backward of [`linear_fwd`]: `dinp = dout · W` (overwritten), `dW += doutᵀ · inp`,
/// `dbias += Σ_rows dout`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn linear_bwd(
    dinp: Option<&mut [f32]>,
    dw: &mut [f32],
    dbias: Option<&mut [f32]>,
    dout: &[f32],
    inp: &[f32],
    w: &[f32],
    n: usize,
    i: usize,
    o: usize,
) {
    if let Some(dinp) = dinp {
        gemm((n, i, o), dinp, i, false, dout, (o, 1), w, (i, 1), 1.0);
    }
    // A(r, k) = dout[k, r]: row stride 1, column stride O.
    gemm((o, i, n), dw, i, true, dout, (1, o), inp, (i, 1), 1.0);
    if let Some(db) = dbias {
        for row in dout.chunks_exact(o) {
            add_assign(db, row);
        }
    }
}

/// `Σ a[k]·b[k]` with 8 independent accumulators: a float sum in one running variable cannot be
/// vectorised (its order is fixed), eight lanes can. Inlined into the `simd_f32!` kernels.
#[inline(always)]
pub(crate) fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `Σ a[k]` in 8 lanes (see [`dot8`]).
#[inline(always)]
pub(crate) fn sum8(a: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let c = a.chunks_exact(8);
    let rest: f32 = c.remainder().iter().sum();
    for x in c {
        for k in 0..8 {
            acc[k] += x[k];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `max a[k]` in 8 lanes.
#[inline(always)]
pub(crate) fn max8(a: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let c = a.chunks_exact(8);
    let rest = c
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    for x in c {
        for k in 0..8 {
            acc[k] = if x[k] > acc[k] { x[k] } else { acc[k] };
        }
    }
    acc.iter().fold(rest, |m, &x| if x > m { x } else { m })
}

/// `row ← softmax(row)`, stably (the row's maximum subtracted first). Inlined into the kernels below.
#[inline(always)]
fn softmax_row(row: &mut [f32]) {
    let max = max8(row);
    for e in row.iter_mut() {
        *e = exp_f32(*e - max);
    }
    let inv = 1.0 / sum8(row);
    for e in row.iter_mut() {
        *e *= inv;
    }
}

simd_f32!(
    /// Row `i` of the `[t, t]` block keeps columns `0..=i`, softmaxed in place; the rest become 0.
    pub(crate) fn causal_softmax_in_place(p: &mut [f32], t: usize) {
        for (i, row) in p.chunks_exact_mut(t).enumerate() {
            let (seen, future) = row.split_at_mut(i + 1);
            softmax_row(seen);
            future.fill(0.0);
        }
    }
);

simd_f32!(
    /// Every row of `t` columns softmaxed in place: attention that sees every key (BERT's encoder).
    pub fn softmax_rows_in_place(p: &mut [f32], t: usize) {
        for row in p.chunks_exact_mut(t) {
            softmax_row(row);
        }
    }
);

simd_f32!(
    pub(crate) fn causal_softmax_bwd_in_place(p: &[f32], d: &mut [f32], t: usize) {
        for (i, (pr, dr)) in p.chunks_exact(t).zip(d.chunks_exact_mut(t)).enumerate() {
            let (pv, dv) = (&pr[..=i], &mut dr[..=i]);
            let dot = dot8(pv, dv);
            for (dd, &a) in dv.iter_mut().zip(pv) {
                *dd = a * (*dd - dot);
            }
            dr[i + 1..].fill(0.0);
        }
    }
);

simd_f32!(
    /// GELU, exact form: `y = x · Φ(x)` with `Φ(x) = (1 + erf(x/√2)) / 2`; `Φ` is kept for backward.
    pub fn gelu_fwd(x: &[f32], y: &mut [f32], cdf: &mut [f32]) {
        for ((yv, cv), &xv) in y.iter_mut().zip(cdf.iter_mut()).zip(x) {
            *cv = 0.5 * (1.0 + erf_f32(xv * std::f32::consts::FRAC_1_SQRT_2));
            *yv = xv * *cv;
        }
    }
);

simd_f32!(
    /// `x ← x · Φ(x)` in place, for inference (no `Φ` kept for a backward pass): one pass over the
    /// activations instead of [`gelu_fwd`]'s three streams.
    pub fn gelu_in_place(x: &mut [f32]) {
        for xv in x.iter_mut() {
            *xv *= 0.5 * (1.0 + erf_f32(*xv * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
);

simd_f32!(
    /// `d ← d · (Φ(x) + x·φ(x))`, with φ the standard normal density.
    pub(crate) fn gelu_bwd_in_place(x: &[f32], cdf: &[f32], d: &mut [f32]) {
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        for ((dv, &xv), &cv) in d.iter_mut().zip(x).zip(cdf) {
            let pdf = INV_SQRT_2PI * exp_f32(-0.5 * xv * xv);
            *dv *= cv + xv * pdf;
        }
    }
);

simd_f32!(
    pub fn add_assign(dst: &mut [f32], src: &[f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d += s;
        }
    }
);

simd_f32!(
    /// `x ← x ⊙ m` (a dropout mask applied in place).
    pub(crate) fn mul_assign(x: &mut [f32], m: &[f32]) {
        for (xv, &mv) in x.iter_mut().zip(m) {
            *xv *= mv;
        }
    }
);

simd_f32!(
    /// `out = x ⊙ m`.
    pub(crate) fn mul_into(out: &mut [f32], x: &[f32], m: &[f32]) {
        for ((o, &xv), &mv) in out.iter_mut().zip(x).zip(m) {
            *o = xv * mv;
        }
    }
);

simd_f32!(
    /// `out = a + x ⊙ m`: a residual connection whose branch `x` is dropped by the mask `m`.
    pub(crate) fn add_mul_into(out: &mut [f32], a: &[f32], x: &[f32], m: &[f32]) {
        for (((o, &av), &xv), &mv) in out.iter_mut().zip(a).zip(x).zip(m) {
            *o = av + xv * mv;
        }
    }
);

/// Layer norm with GPT-2's eps ([`LN_EPS`]); see [`layer_norm_fwd_eps`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_norm_fwd(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    c: usize,
) {
    layer_norm_fwd_eps(out, mean, rstd, x, w, b, c, LN_EPS as f32);
}

simd_f32!(
    /// `out = (x - μ)/√(σ² + eps) · w + b` over rows of `c`, keeping each row's `μ` and `1/√(σ² + eps)`
    /// for the backward pass. BERT's eps (1e-12) is not GPT-2's (1e-5), hence the parameter.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm_fwd_eps(
        out: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        x: &[f32],
        w: &[f32],
        b: &[f32],
        c: usize,
        eps: f32,
    ) {
        let inv_c = 1.0 / c as f32;
        for (r, (xr, or)) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)).enumerate() {
            let m = sum8(xr) * inv_c;
            // The centred row goes through `or` first: two-pass variance, as accurate as torch's.
            for k in 0..c {
                or[k] = xr[k] - m;
            }
            let var = dot8(or, or) * inv_c;
            let s = 1.0 / (var + eps).sqrt();
            for k in 0..c {
                or[k] = or[k] * s * w[k] + b[k];
            }
            mean[r] = m;
            rstd[r] = s;
        }
    }
);

simd_f32!(
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn layer_norm_bwd(
        dx: &mut [f32],
        dw: &mut [f32],
        db: &mut [f32],
        dout: &[f32],
        x: &[f32],
        w: &[f32],
        mean: &[f32],
        rstd: &[f32],
        c: usize,
    ) {
        // With n = (x − mean)·rstd and dn = dout ⊙ w:
        // dx += rstd · (dn − mean(dn) − n · mean(dn ⊙ n)); dw += dout ⊙ n; db += dout.
        let inv_c = 1.0 / c as f32;
        for (r, ((dxr, dr), xr)) in dx
            .chunks_exact_mut(c)
            .zip(dout.chunks_exact(c))
            .zip(x.chunks_exact(c))
            .enumerate()
        {
            let (m, s) = (mean[r], rstd[r]);
            // Σ dn = Σ dout·w ; Σ dn·n = Σ dout·w·(x − m)·s
            let dn_mean = dot8(dr, w) * inv_c;
            let mut acc = [0f32; 8];
            let (cd, cw, cx) = (dr.chunks_exact(8), w.chunks_exact(8), xr.chunks_exact(8));
            let mut rest = 0f32;
            for ((d, wv), xv) in cd
                .remainder()
                .iter()
                .zip(cw.remainder())
                .zip(cx.remainder())
            {
                rest += d * wv * (xv - m);
            }
            for ((d, wv), xv) in cd.zip(cw).zip(cx) {
                for k in 0..8 {
                    acc[k] += d[k] * wv[k] * (xv[k] - m);
                }
            }
            let dnn_mean = (acc.iter().sum::<f32>() + rest) * s * inv_c;
            for k in 0..c {
                let n = (xr[k] - m) * s;
                let dn = dr[k] * w[k];
                db[k] += dr[k];
                dw[k] += dr[k] * n;
                dxr[k] += s * (dn - dn_mean - n * dnn_mean);
            }
        }
    }
);

simd_f32!(
    pub(crate) fn softmax_cross_entropy(logits: &mut [f32], targets: &[u32], v: usize) -> f64 {
        // Turns each row of logits into probabilities; returns Σ −log p[target]. A row whose
        // target is `ops::IGNORE` is left as it is and adds nothing (its gradient is zeroed).
        let mut total = 0f64;
        for (row, &tgt) in logits.chunks_exact_mut(v).zip(targets) {
            if tgt == crate::ops::IGNORE {
                continue;
            }
            let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let picked = row[tgt as usize] - max;
            let mut sum = 0f32;
            for e in row.iter_mut() {
                *e = exp_f32(*e - max);
                sum += *e;
            }
            // −log softmax[tgt] = log Σ e^(l − max) − (l_tgt − max)
            total += (sum.ln() - picked) as f64;
            let inv = 1.0 / sum;
            for e in row.iter_mut() {
                *e *= inv;
            }
        }
        total
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    /// The strided GEMM against a triple loop: plain, transposed operands read through strides, a
    /// column block of a wider C, accumulation and scaling.
    #[test]
    fn m6_gemm_matches_a_triple_loop_for_every_stride_pattern() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (m, n, k) = (5, 7, 3);
        let a = rand_vec(&mut rng, m * k); // A[i][p] at i*k + p, or (transposed) at p*m + i
        let b = rand_vec(&mut rng, k * n);
        for (a_t, b_t, acc, c_rs) in [
            (false, false, false, n),
            (true, false, true, n),
            (false, true, false, n + 4),
            (true, true, true, n + 2),
        ] {
            let a_s = if a_t { (1, m) } else { (k, 1) };
            let b_s = if b_t { (1, k) } else { (n, 1) };
            let start = rand_vec(&mut rng, (m - 1) * c_rs + n);
            let mut c = start.clone();
            gemm((m, n, k), &mut c, c_rs, acc, &a, a_s, &b, b_s, 0.5);
            for i in 0..m {
                for j in 0..n {
                    let dot: f32 = (0..k)
                        .map(|p| a[i * a_s.0 + p * a_s.1] * b[p * b_s.0 + j * b_s.1])
                        .sum();
                    let want = if acc { start[i * c_rs + j] } else { 0.0 } + 0.5 * dot;
                    let got = c[i * c_rs + j];
                    assert!((got - want).abs() < 1e-5, "({i},{j}): {got} vs {want}");
                }
                // Columns past n in a wider C are never touched.
                for j in n..c_rs.min(c.len() - i * c_rs) {
                    assert_eq!(c[i * c_rs + j], start[i * c_rs + j]);
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "rows of C overlap")]
    fn m6_gemm_refuses_overlapping_rows_of_c() {
        let mut c = vec![0.0; 8];
        gemm(
            (2, 3, 1),
            &mut c,
            2,
            false,
            &[0.0; 2],
            (1, 1),
            &[0.0; 3],
            (3, 1),
            1.0,
        );
    }

    #[test]
    #[should_panic(expected = "gemm: B too short")]
    fn m6_gemm_refuses_operands_its_strides_overrun() {
        let mut c = vec![0.0; 4];
        gemm(
            (2, 2, 2),
            &mut c,
            2,
            false,
            &[0.0; 4],
            (2, 1),
            &[0.0; 3],
            (2, 1),
            1.0,
        );
    }

    #[test]
    fn m6_exp_and_erf_polynomials_are_accurate() {
        let mut worst_exp: f64 = 0.0;
        let mut worst_erf: f64 = 0.0;
        for i in 0..=200_000 {
            // The reference is taken at the f32 input, so only the polynomial's error is measured.
            let x = (-80.0 + 160.0 * i as f64 / 200_000.0) as f32 as f64;
            let e = exp_f32(x as f32) as f64;
            if x < 80.0 {
                worst_exp = worst_exp.max((e - x.exp()).abs() / x.exp());
            }
            let z = (-6.0 + 12.0 * i as f64 / 200_000.0) as f32 as f64;
            let erf_ref = candle_core::cpu::erf::erf_f64(z);
            worst_erf = worst_erf.max((erf_f32(z as f32) as f64 - erf_ref).abs());
        }
        assert!(worst_exp < 5e-7, "exp_f32 relative error {worst_exp:e}");
        assert!(worst_erf < 1e-6, "erf_f32 absolute error {worst_erf:e}");
        // Masked softmax entries rely on exp of very negative numbers being (nearly) zero, not NaN.
        assert!(exp_f32(f32::NEG_INFINITY) < 1e-37 && exp_f32(-1e30) >= 0.0);
    }

    #[test]
    fn m6_causal_softmax_mask_is_exact_and_rows_sum_to_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        let t = 6;
        let mut p: Vec<f32> = rand_vec(&mut rng, t * t).iter().map(|x| 5.0 * x).collect();
        causal_softmax_in_place(&mut p, t);
        for (i, row) in p.chunks_exact(t).enumerate() {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "row {i} sums to {sum}");
            for (j, &v) in row.iter().enumerate() {
                if j > i {
                    assert_eq!(v, 0.0, "({i}, {j}) is in the future but has weight {v}");
                } else {
                    assert!(v > 0.0);
                }
            }
        }
    }

    #[test]
    fn m6_softmax_cross_entropy_and_log_softmax_agree_with_f64() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let v = 9;
        let logits: Vec<f32> = rand_vec(&mut rng, 2 * v).iter().map(|x| 8.0 * x).collect();
        let targets = [2u32, 7];
        let mut probs = logits.clone();
        let total = softmax_cross_entropy(&mut probs, &targets, v);
        let mut want = 0.0;
        for (r, &tgt) in targets.iter().enumerate() {
            let row: Vec<f64> = logits[r * v..(r + 1) * v]
                .iter()
                .map(|&x| x as f64)
                .collect();
            let lse = row.iter().map(|x| x.exp()).sum::<f64>().ln();
            want += lse - row[tgt as usize];
            let mut ls = logits[r * v..(r + 1) * v].to_vec();
            log_softmax(&mut ls);
            for (k, (&l, &x)) in ls.iter().zip(&row).enumerate() {
                assert!((l as f64 - (x - lse)).abs() < 1e-5);
                assert!((probs[r * v + k] as f64 - (x - lse).exp()).abs() < 1e-6);
            }
        }
        assert!((total - want).abs() < 1e-5, "{total} vs {want}");
    }
}
