//! m3: one or two steps of every optimizer against values computed by hand, and the schedules.
//!
//! Shared set-up: parameters p0 = [1, -2, 0.5], first gradient g1 = [0.5, -1, 2], second
//! gradient g2 = [1, 1, -1], learning rate 0.1, all in f64.

use candle_core::{DType, Device, Tensor, Var};
use phase1_mlp::optim::{
    Adam, AdamW, Momentum, Nesterov, Optimizer, OptimizerConfig, RmsProp, Sgd,
};
use phase1_mlp::schedule::LrSchedule;

const P0: [f64; 3] = [1.0, -2.0, 0.5];
const G1: [f64; 3] = [0.5, -1.0, 2.0];
const G2: [f64; 3] = [1.0, 1.0, -1.0];
const LR: f64 = 0.1;

fn var(values: &[f64]) -> Var {
    Var::from_vec(values.to_vec(), values.len(), &Device::Cpu).unwrap()
}

fn tensor(values: &[f64]) -> Tensor {
    Tensor::from_vec(values.to_vec(), values.len(), &Device::Cpu).unwrap()
}

/// Runs `opt` over the given gradients and returns the parameter after each step.
fn run(opt: &mut dyn Optimizer, grads: &[[f64; 3]]) -> Vec<Vec<f64>> {
    let p = var(&P0);
    grads
        .iter()
        .map(|g| {
            opt.step(std::slice::from_ref(&p), &[tensor(g)], LR)
                .unwrap();
            p.to_vec1::<f64>().unwrap()
        })
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol,
            "entry {i}: got {a}, want {b} (all: {got:?} vs {want:?})"
        );
    }
}

#[test]
fn m3_sgd_one_step() {
    // p1 = p0 - 0.1 * g1 = [1 - 0.05, -2 + 0.1, 0.5 - 0.2]
    let steps = run(&mut Sgd::new(), &[G1]);
    assert_close(&steps[0], &[0.95, -1.9, 0.3], 1e-15);
}

#[test]
fn m3_momentum_two_steps() {
    // step 1: v = g1, so p1 = SGD's p1.
    // step 2: v = 0.9 * g1 + g2 = [1.45, 0.1, 0.8]; p2 = p1 - 0.1 v = [0.805, -1.91, 0.22]
    let steps = run(&mut Momentum::new(0.9), &[G1, G2]);
    assert_close(&steps[0], &[0.95, -1.9, 0.3], 1e-15);
    assert_close(&steps[1], &[0.805, -1.91, 0.22], 1e-15);
}

#[test]
fn m3_nesterov_two_steps() {
    // step 1: v = g1; p1 = p0 - 0.1 (g1 + 0.9 g1) = p0 - 0.19 g1 = [0.905, -1.81, 0.12]
    // step 2: v = 0.9 g1 + g2 = [1.45, 0.1, 0.8]; g2 + 0.9 v = [2.305, 1.09, -0.28]
    //         p2 = p1 - 0.1 * that = [0.6745, -1.919, 0.148]
    let steps = run(&mut Nesterov::new(0.9), &[G1, G2]);
    assert_close(&steps[0], &[0.905, -1.81, 0.12], 1e-15);
    assert_close(&steps[1], &[0.6745, -1.919, 0.148], 1e-14);
}

#[test]
fn m3_rmsprop_one_step() {
    // s = 0.01 g1^2, sqrt(s) = 0.1 |g1|, so the step is lr * g / (0.1 |g| + eps) ~= sign(g):
    // p1 = p0 - 0.1 * g1 / (0.1 |g1| + 1e-8)
    let steps = run(&mut RmsProp::new(0.99, 1e-8), &[G1, G2]);
    let want: Vec<f64> = (0..3)
        .map(|i| P0[i] - 0.1 * G1[i] / (0.1 * G1[i].abs() + 1e-8))
        .collect();
    assert_close(&steps[0], &want, 1e-15);
    assert_close(&steps[0], &[2.0e-7, -1.0000001, -0.49999995], 1e-12);
    // step 2 by the same rule (numbers from a hand calculation of s = 0.99 s + 0.01 g2^2)
    assert_close(
        &steps[1],
        &[
            -0.8953226819114171,
            -1.7088812547570733,
            -0.050986715094354707,
        ],
        1e-12,
    );
}

#[test]
fn m3_adam_bias_correction() {
    // step 1: m = 0.1 g1, v = 0.001 g1^2. Bias correction divides by (1 - 0.9) and (1 - 0.999),
    // so mhat = g1, vhat = g1^2 and the step is lr * g1 / (|g1| + eps): exactly lr per
    // coordinate (minus ~1e-8 relative). Without the correction it would be sqrt(10) times larger.
    let steps = run(&mut Adam::new(0.9, 0.999, 1e-8), &[G1, G2]);
    assert_close(&steps[0], &[0.900000002, -1.900000001, 0.4000000005], 1e-12);
    // step 2, coordinate 0: m = 0.09*0.5 + 0.1*1 = 0.145, mhat = 0.145 / 0.19 = 0.76315789..;
    // v = 0.999*0.00025 + 0.001 = 0.00124975, vhat = v / 0.001999 = 0.62518759..;
    // p2 = 0.900000002 - 0.1 * 0.76315789 / (0.79068805 + 1e-8) = 0.80348180..
    assert_close(
        &steps[1],
        &[0.8034818006385094, -1.9052631588421052, 0.37336629670243154],
        1e-12,
    );
}

#[test]
fn m3_adamw_decoupled_decay() {
    // step 1: p <- p0 (1 - 0.1 * 0.1) = 0.99 p0 = [0.99, -1.98, 0.495], then Adam's step of
    // exactly lr * sign(g1): [0.890000002, -1.880000001, 0.3950000005]
    let mut opt = AdamW::new(0.9, 0.999, 1e-8, 0.1);
    let steps = run(&mut opt, &[G1, G2]);
    assert_close(&steps[0], &[0.890000002, -1.880000001, 0.3950000005], 1e-12);
    assert_close(
        &steps[1],
        &[0.7845818006185094, -1.8664631588321052, 0.36441629669743153],
        1e-12,
    );
}

#[test]
fn m3_adamw_decay_mask_skips_masked_params() {
    // A masked-out parameter must move exactly like plain Adam; a decayed one must not.
    let w = var(&P0);
    let b = var(&P0);
    let mut opt = AdamW::new(0.9, 0.999, 1e-8, 0.1).with_decay_mask(vec![true, false]);
    opt.step(&[w.clone(), b.clone()], &[tensor(&G1), tensor(&G1)], LR)
        .unwrap();
    assert_close(
        &w.to_vec1::<f64>().unwrap(),
        &[0.890000002, -1.880000001, 0.3950000005],
        1e-12,
    );
    assert_close(
        &b.to_vec1::<f64>().unwrap(),
        &[0.900000002, -1.900000001, 0.4000000005],
        1e-12,
    );
    // A mask of the wrong length is an error, not a silent misalignment.
    let mut bad = AdamW::new(0.9, 0.999, 1e-8, 0.1).with_decay_mask(vec![true]);
    assert!(bad
        .step(&[w.clone(), b.clone()], &[tensor(&G1), tensor(&G1)], LR)
        .is_err());
}

#[test]
fn m3_optimizers_work_in_f32() {
    let p = Var::from_vec(vec![1f32, -2.0], 2, &Device::Cpu).unwrap();
    let g = Tensor::from_vec(vec![0.5f32, -1.0], 2, &Device::Cpu).unwrap();
    let mut opt = Adam::new(0.9, 0.999, 1e-8);
    opt.step(std::slice::from_ref(&p), &[g], 0.1).unwrap();
    assert_eq!(p.dtype(), DType::F32);
    let got = p.to_vec1::<f32>().unwrap();
    assert!(
        (got[0] - 0.9).abs() < 1e-6 && (got[1] + 1.9).abs() < 1e-6,
        "{got:?}"
    );
}

#[test]
fn m3_shape_mismatch_is_an_error() {
    let p = var(&P0);
    let g = tensor(&[1.0, 2.0]);
    assert!(Sgd::new().step(&[p], &[g], 0.1).is_err());
}

#[test]
fn m3_optimizer_config_from_toml() {
    #[derive(serde::Deserialize)]
    struct Wrap {
        opt: OptimizerConfig,
    }
    let w: Wrap = toml::from_str("opt = { kind = \"adamw\", weight_decay = 0.1 }").unwrap();
    assert_eq!(
        w.opt,
        OptimizerConfig::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1
        }
    );
    assert_eq!(w.opt.build().name(), "adamw");
    for (text, name) in [
        ("opt = { kind = \"sgd\" }", "sgd"),
        ("opt = { kind = \"momentum\", momentum = 0.5 }", "momentum"),
        ("opt = { kind = \"nesterov\" }", "nesterov"),
        ("opt = { kind = \"rmsprop\" }", "rmsprop"),
        ("opt = { kind = \"adam\", beta2 = 0.95 }", "adam"),
    ] {
        let w: Wrap = toml::from_str(text).unwrap();
        assert_eq!(w.opt.build().name(), name);
        assert_eq!(w.opt.name(), name);
    }
    // A typo'd key or an unknown kind is an error.
    assert!(toml::from_str::<Wrap>("opt = { kind = \"adam\", beta_1 = 0.9 }").is_err());
    assert!(toml::from_str::<Wrap>("opt = { kind = \"adagrad\" }").is_err());
}

#[test]
fn m3_schedules() {
    let c = LrSchedule::Constant { lr: 0.3 };
    assert_eq!(c.lr_at(0), 0.3);
    assert_eq!(c.lr_at(1000), 0.3);

    let s = LrSchedule::Step {
        lr: 1.0,
        step_size: 10,
        gamma: 0.5,
    };
    assert_eq!(s.lr_at(9), 1.0);
    assert_eq!(s.lr_at(10), 0.5);
    assert_eq!(s.lr_at(25), 0.25);

    // warmup = 4, total = 14: steps 0..3 rise as max_lr * (it + 1) / 5, step 4 is the peak,
    // step 9 is half-way down the cosine, step 14 and later sit at min_lr.
    let w = LrSchedule::WarmupCosine {
        max_lr: 1.0,
        min_lr: 0.1,
        warmup: 4,
        total: 14,
    };
    assert_eq!(w.lr_at(0), 0.2);
    assert_eq!(w.lr_at(3), 0.8);
    assert_eq!(w.lr_at(4), 1.0);
    assert!((w.lr_at(9) - 0.55).abs() < 1e-15);
    assert!((w.lr_at(14) - 0.1).abs() < 1e-15);
    assert!((w.lr_at(100) - 0.1).abs() < 1e-15);

    #[derive(serde::Deserialize)]
    struct Wrap {
        lr: LrSchedule,
    }
    let t: Wrap = toml::from_str(
        "lr = { kind = \"warmup_cosine\", max_lr = 1.0, min_lr = 0.1, warmup = 4, total = 14 }",
    )
    .unwrap();
    assert_eq!(t.lr, w);
    assert!(toml::from_str::<Wrap>("lr = { kind = \"constant\", lr = 1.0, gamma = 2 }").is_err());
}
