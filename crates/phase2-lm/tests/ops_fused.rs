//! The fused kernels against the reference: forward equal to [`Plain`] within 1e-5 relative,
//! backward equal to candle's autograd of [`Plain`] within 1e-4 relative and to central finite
//! differences in f64. "Relative" is `max |a - b| / max |b|` over the tensor, so an element that is
//! nearly zero cannot pass or fail on its own.

use candle_core::{DType, Device, Result, Tensor, Var, D};
use phase2_lm::model::{Gpt, GptConfig};
use phase2_lm::ops::{erf_f32, exp_f32, Fused, Ops, Plain};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_tensor(rng: &mut ChaCha8Rng, shape: &[usize], scale: f64, dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| scale * rng.gen_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (to_vec(a), to_vec(b));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    diff / scale.max(1e-30)
}

/// One op applied to its inputs (the inputs that take a gradient are all of `xs`).
type OpFn = dyn Fn(&dyn Ops, &[Tensor]) -> Result<Tensor>;
/// Shapes and value scales of an op's inputs.
type Spec = Vec<(Vec<usize>, f64)>;

/// The op cases checked everywhere: (name, inputs' shapes and scales, the op).
fn cases() -> Vec<(&'static str, Spec, Box<OpFn>)> {
    vec![
        (
            "layer_norm",
            vec![(vec![3, 4, 24], 2.0), (vec![24], 1.0), (vec![24], 1.0)],
            Box::new(|o: &dyn Ops, t: &[Tensor]| o.layer_norm(&t[0], &t[1], &t[2])),
        ),
        (
            "gelu",
            vec![(vec![4, 5, 19], 4.0)],
            Box::new(|o: &dyn Ops, t: &[Tensor]| o.gelu(&t[0])),
        ),
        (
            "causal_softmax",
            vec![(vec![2, 3, 9, 9], 3.0)],
            Box::new(|o: &dyn Ops, t: &[Tensor]| o.causal_softmax(&t[0])),
        ),
        (
            "causal_softmax_offset",
            vec![(vec![2, 2, 3, 7], 3.0)],
            Box::new(|o: &dyn Ops, t: &[Tensor]| o.causal_softmax(&t[0])),
        ),
        (
            "linear_bias",
            vec![(vec![2, 5, 12], 1.0), (vec![7, 12], 0.5), (vec![7], 0.5)],
            Box::new(|o: &dyn Ops, t: &[Tensor]| o.linear(&t[0], &t[1], Some(&t[2]))),
        ),
        (
            "linear_no_bias",
            vec![(vec![13, 12], 1.0), (vec![9, 12], 0.5)],
            Box::new(|o: &dyn Ops, t: &[Tensor]| o.linear(&t[0], &t[1], None)),
        ),
        (
            "cross_entropy",
            vec![(vec![10, 13], 3.0)],
            Box::new(|o: &dyn Ops, t: &[Tensor]| {
                let targets = Tensor::new(&[0u32, 12, 3, 3, 7, 1, 11, 5, 0, 9], &Device::Cpu)?;
                o.cross_entropy(&t[0], &targets)
            }),
        ),
    ]
}

fn inputs(rng: &mut ChaCha8Rng, spec: &[(Vec<usize>, f64)], dtype: DType) -> Vec<Tensor> {
    spec.iter()
        .map(|(s, sc)| rand_tensor(rng, s, *sc, dtype))
        .collect()
}

/// `sum(op(xs) * r)` for a fixed random `r`, so every output element reaches the gradient.
fn probe(ops: &dyn Ops, f: &OpFn, xs: &[Tensor], r: &Tensor) -> Result<Tensor> {
    (f(ops, xs)? * r)?.sum_all()
}

#[test]
fn m6_fused_forward_matches_plain() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for (name, spec, f) in cases() {
        for dtype in [DType::F32, DType::F64] {
            let xs = inputs(&mut rng, &spec, dtype);
            let (a, b) = (f(&Fused, &xs).unwrap(), f(&Plain, &xs).unwrap());
            let err = rel_err(&a, &b);
            assert!(
                err < 1e-5,
                "{name} {dtype:?}: forward differs from Plain by {err:e}"
            );
        }
    }
}

#[test]
fn m6_fused_backward_matches_plain_autograd() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for (name, spec, f) in cases() {
        for dtype in [DType::F32, DType::F64] {
            let xs = inputs(&mut rng, &spec, dtype);
            let vars: Vec<Var> = xs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let out_shape = f(&Plain, &ts).unwrap().dims().to_vec();
            let r = rand_tensor(&mut rng, &out_shape, 1.0, dtype);
            let gf = probe(&Fused, f.as_ref(), &ts, &r)
                .unwrap()
                .backward()
                .unwrap();
            let gp = probe(&Plain, f.as_ref(), &ts, &r)
                .unwrap()
                .backward()
                .unwrap();
            for (i, v) in vars.iter().enumerate() {
                let a = gf
                    .get(v)
                    .unwrap_or_else(|| panic!("{name}: Fused gave input {i} no gradient"));
                let b = gp.get(v).expect("Plain gradient");
                let err = rel_err(a, b);
                assert!(
                    err < 1e-4,
                    "{name} {dtype:?} input {i}: gradient differs from Plain by {err:e}"
                );
            }
        }
    }
}

#[test]
fn m6_fused_backward_matches_finite_differences_f64() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for (name, spec, f) in cases() {
        let xs = inputs(&mut rng, &spec, DType::F64);
        let vars: Vec<Var> = xs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let out_shape = f(&Fused, &ts).unwrap().dims().to_vec();
        let r = rand_tensor(&mut rng, &out_shape, 1.0, DType::F64);
        let grads = probe(&Fused, f.as_ref(), &ts, &r)
            .unwrap()
            .backward()
            .unwrap();
        let h = 1e-6;
        for (k, v) in vars.iter().enumerate() {
            let g = to_vec(
                grads
                    .get(v)
                    .unwrap_or_else(|| panic!("{name}: no gradient for input {k}")),
            );
            let base = to_vec(v.as_tensor());
            for i in 0..base.len() {
                let eval = |delta: f64| {
                    let mut p = base.clone();
                    p[i] += delta;
                    let mut ts2 = ts.clone();
                    ts2[k] = Tensor::from_vec(p, v.dims(), &Device::Cpu).unwrap();
                    probe(&Fused, f.as_ref(), &ts2, &r)
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap()
                };
                let numeric = (eval(h) - eval(-h)) / (2.0 * h);
                let err = (numeric - g[i]).abs() / (1.0 + numeric.abs());
                assert!(
                    err < 1e-6,
                    "{name} input {k} elem {i}: finite difference {numeric} vs fused {}",
                    g[i]
                );
            }
        }
    }
}

#[test]
fn m6_fused_exp_and_erf_polynomials_are_accurate() {
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
fn m6_fused_causal_softmax_mask_is_exact_and_rows_sum_to_one() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let s = rand_tensor(&mut rng, &[2, 3, 6, 6], 5.0, DType::F32);
    let p = Fused.causal_softmax(&s).unwrap();
    let rows = to_vec(&p.sum(D::Minus1).unwrap());
    assert!(rows.iter().all(|r| (r - 1.0).abs() < 1e-6), "{rows:?}");
    for (idx, val) in to_vec(&p).iter().enumerate() {
        let (i, j) = ((idx / 6) % 6, idx % 6);
        if j > i {
            assert_eq!(
                *val, 0.0,
                "position ({i}, {j}) is in the future but has weight {val}"
            );
        }
    }
}

#[test]
fn m6_fused_cross_entropy_rejects_out_of_range_targets() {
    let logits = Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap();
    let targets = Tensor::new(&[1u32, 4], &Device::Cpu).unwrap();
    let err = Fused
        .cross_entropy(&logits, &targets)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("target 4 at row 1") && err.contains("4 classes"),
        "{err}"
    );
}

/// The whole model: loss and all parameters' gradients through Fused equal those through Plain.
#[test]
fn m6_fused_gpt_loss_and_gradients_match_plain() {
    let cfg = GptConfig {
        vocab_size: 11,
        block_size: 8,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        pos_emb: true,
    };
    let model = Gpt::new(&cfg, 3).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let ids = |rng: &mut ChaCha8Rng| -> Tensor {
        let v: Vec<u32> = (0..4 * 8).map(|_| rng.gen_range(0..11)).collect();
        Tensor::from_vec(v, (4, 8), &Device::Cpu).unwrap()
    };
    let (x, y) = (ids(&mut rng), ids(&mut rng));
    let lf = model.loss(&x, &y, &Fused).unwrap();
    let lp = model.loss(&x, &y, &Plain).unwrap();
    let (a, b) = (
        lf.to_scalar::<f32>().unwrap(),
        lp.to_scalar::<f32>().unwrap(),
    );
    assert!(((a - b) / b).abs() < 1e-5, "loss: fused {a} vs plain {b}");
    let (gf, gp) = (lf.backward().unwrap(), lp.backward().unwrap());
    for (name, var) in model.vars() {
        let f = gf
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("Fused: `{name}` got no gradient"));
        let p = gp.get(var.as_tensor()).expect("Plain gradient");
        let err = rel_err(f, p);
        assert!(
            err < 1e-4,
            "`{name}`: fused gradient differs from plain by {err:e}"
        );
    }
}
