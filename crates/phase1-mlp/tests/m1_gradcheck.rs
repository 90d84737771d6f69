//! m1: the hand-written backward pass agrees with finite differences (f64) and with candle's
//! autograd for every layer type, and the check catches deliberately wrong backward passes.

use candle_core::{DType, Device, Tensor};
use phase1_mlp::gradcheck::{
    check_mlp, finite_difference, randomize_biases, rel_error, ParamCheck, Target, AGREEMENT_TOL,
    BUG_TOL,
};
use phase1_mlp::layers::{softmax_cross_entropy, Activation, Bug, Init, Linear};
use phase1_mlp::mlp::Mlp;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Finite-difference step: small enough that the O(eps^2) truncation error is negligible, large
/// enough that rounding (about 1e-16 / eps) does not swamp small gradient entries.
const EPS: f64 = 3e-5;

fn randn(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> Tensor {
    let v: Vec<f64> = (0..rows * cols)
        .map(|_| StandardNormal.sample(rng))
        .collect();
    Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
}

/// A 4-5-5-3 f64 network (biases off zero, see `randomize_biases`), a batch of 8 random
/// inputs and class targets.
fn setup(activation: Activation, seed: u64) -> (Mlp, Tensor, Tensor) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mlp = Mlp::new(
        &[4, 5, 5, 3],
        activation,
        Init::Xavier,
        DType::F64,
        &mut rng,
    )
    .unwrap();
    randomize_biases(&mlp, 0.1, &mut rng).unwrap();
    let x = randn(&mut rng, 8, 4);
    let y: Vec<u32> = (0..8).map(|i| (i % 3) as u32).collect();
    (mlp, x, Tensor::from_vec(y, 8, &Device::Cpu).unwrap())
}

fn worst(checks: &[ParamCheck]) -> (f64, f64) {
    let fd = checks.iter().map(|c| c.max_rel_error()).fold(0.0, f64::max);
    let ag = checks
        .iter()
        .map(|c| c.max_rel_error_autograd())
        .fold(0.0, f64::max);
    (fd, ag)
}

#[test]
fn m1_gradients_match_for_every_activation() {
    for activation in [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
    ] {
        let (mlp, x, y) = setup(activation, 1);
        let checks = check_mlp(&mlp, &x, &Target::Classes(y), Bug::None, EPS).unwrap();
        assert_eq!(checks.len(), 6, "W1 b1 W2 b2 W3 b3");
        for c in &checks {
            let fd = c.max_rel_error();
            let ag = c.max_rel_error_autograd();
            assert!(
                fd < AGREEMENT_TOL,
                "{activation:?} {}: finite-difference rel error {fd:e}",
                c.param
            );
            assert!(
                ag < 1e-9,
                "{activation:?} {}: autograd rel error {ag:e}",
                c.param
            );
            // The check must be about something: not every entry may be zero.
            assert!(c.analytical.iter().any(|&g| g.abs() > 1e-6), "{}", c.param);
        }
    }
}

#[test]
fn m1_gradients_match_for_mse_loss() {
    let (mlp, x, _) = setup(Activation::Tanh, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let target = randn(&mut rng, 8, 3);
    let checks = check_mlp(&mlp, &x, &Target::Values(target), Bug::None, EPS).unwrap();
    let (fd, ag) = worst(&checks);
    assert!(fd < AGREEMENT_TOL, "mse finite-difference rel error {fd:e}");
    assert!(ag < 1e-9, "mse autograd rel error {ag:e}");
}

#[test]
fn m1_check_catches_dropped_relu_mask() {
    let (mlp, x, y) = setup(Activation::Relu, 1);
    let checks = check_mlp(&mlp, &x, &Target::Classes(y), Bug::ReluMaskDropped, EPS).unwrap();
    // The last layer's gradients do not pass through an activation, so they stay right ...
    let last: Vec<_> = checks.iter().filter(|c| c.param.ends_with('3')).collect();
    assert!(last.iter().all(|c| c.max_rel_error() < AGREEMENT_TOL));
    // ... but every earlier layer is visibly wrong.
    for c in checks.iter().filter(|c| !c.param.ends_with('3')) {
        assert!(
            c.max_rel_error() > BUG_TOL,
            "{}: {:e}",
            c.param,
            c.max_rel_error()
        );
    }
}

#[test]
fn m1_check_catches_transposed_weight_gradient() {
    let (mlp, x, y) = setup(Activation::Tanh, 1);
    let checks = check_mlp(
        &mlp,
        &x,
        &Target::Classes(y),
        Bug::WeightGradTransposed,
        EPS,
    )
    .unwrap();
    for c in &checks {
        if c.param.starts_with('W') {
            assert!(
                c.max_rel_error() > BUG_TOL,
                "{}: {:e}",
                c.param,
                c.max_rel_error()
            );
        } else {
            // Biases are untouched by this bug, and so must be their check.
            assert!(
                c.max_rel_error() < AGREEMENT_TOL,
                "{}: {:e}",
                c.param,
                c.max_rel_error()
            );
        }
    }
}

#[test]
fn m1_linear_backward_shapes_and_values() {
    // y = x W + b with x = [[1, 2]], W = [[1, 0, -1], [2, 1, 0]], dy = [[1, 1, 1]]:
    // dx = dy W^T = [[0, 3]], dW = x^T dy = [[1,1,1],[2,2,2]], db = [1, 1, 1].
    let dev = Device::Cpu;
    let layer = Linear {
        weight: candle_core::Var::from_vec(vec![1.0, 0.0, -1.0, 2.0, 1.0, 0.0], (2, 3), &dev)
            .unwrap(),
        bias: candle_core::Var::from_vec(vec![0.0f64; 3], 3, &dev).unwrap(),
    };
    let x = Tensor::from_vec(vec![1.0f64, 2.0], (1, 2), &dev).unwrap();
    let dy = Tensor::from_vec(vec![1.0f64; 3], (1, 3), &dev).unwrap();
    let g = layer.backward(&x, &dy, Bug::None).unwrap();
    assert_eq!(g.dx.to_vec2::<f64>().unwrap(), vec![vec![0.0, 3.0]]);
    assert_eq!(
        g.dweight.to_vec2::<f64>().unwrap(),
        vec![vec![1.0, 1.0, 1.0], vec![2.0, 2.0, 2.0]]
    );
    assert_eq!(g.dbias.to_vec1::<f64>().unwrap(), vec![1.0, 1.0, 1.0]);
}

#[test]
fn m1_softmax_cross_entropy_is_stable() {
    // Logits of 1000 overflow a naive exp() even in f64; the shifted form gives the exact
    // answer: loss = log(1 + e^-10) for the first row and log(2) for the second.
    let dev = Device::Cpu;
    let logits = Tensor::from_vec(vec![1000.0f64, 990.0, 1e4, 1e4], (2, 2), &dev).unwrap();
    let y = Tensor::from_vec(vec![0u32, 1], 2, &dev).unwrap();
    let (loss, dlogits) = softmax_cross_entropy(&logits, &y).unwrap();
    let want = ((1.0 + (-10f64).exp()).ln() + 2f64.ln()) / 2.0;
    let got = loss.to_scalar::<f64>().unwrap();
    assert!(rel_error(got, want) < 1e-12, "{got} vs {want}");
    let d = dlogits.to_vec2::<f64>().unwrap();
    assert!(d.iter().flatten().all(|v| v.is_finite()));
    // Row 2: softmax = [0.5, 0.5], target 1 => (0.5, -0.5) / n
    assert!((d[1][0] - 0.25).abs() < 1e-15 && (d[1][1] + 0.25).abs() < 1e-15);
}

#[test]
fn m1_finite_difference_and_rel_error() {
    // f(x) = x0^3 + 2 x0 x1 has gradient (3 x0^2 + 2 x1, 2 x0).
    let g = finite_difference(|x| x[0].powi(3) + 2.0 * x[0] * x[1], &[1.5, -2.0], 1e-5);
    assert!(rel_error(g[0], 3.0 * 2.25 - 4.0) < 1e-9, "{g:?}");
    assert!(rel_error(g[1], 3.0) < 1e-9, "{g:?}");
    assert_eq!(rel_error(0.0, 0.0), 0.0);
    assert_eq!(rel_error(1.0, -1.0), 2.0);
}

#[test]
fn m1_init_scales() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let std_of = |init: Init, rng: &mut ChaCha8Rng| {
        let l = Linear::new(200, 100, init, DType::F64, rng).unwrap();
        let w = l.weight.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        (w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64).sqrt()
    };
    let he = std_of(Init::He, &mut rng);
    let xavier = std_of(Init::Xavier, &mut rng);
    let normal = std_of(
        Init::Normal {
            std: 1.0,
            bias: 0.0,
        },
        &mut rng,
    );
    assert!(rel_error(he, (2.0f64 / 200.0).sqrt()) < 0.03, "he {he}");
    assert!(
        rel_error(xavier, (2.0f64 / 300.0).sqrt()) < 0.03,
        "xavier {xavier}"
    );
    assert!(rel_error(normal, 1.0) < 0.03, "normal {normal}");
}

#[test]
fn m1_kink_crossings_are_detected_and_excluded() {
    // Seed 7 puts one second-layer pre-activation 4e-7 from ReLU's kink: perturbing the first
    // layer by ±eps switches that unit, and the finite difference there mixes two slopes.
    let (mlp, x, y) = setup(Activation::Relu, 7);
    let checks = check_mlp(&mlp, &x, &Target::Classes(y), Bug::None, EPS).unwrap();
    let kinks: usize = checks.iter().map(|c| c.kinks.len()).sum();
    assert!(kinks > 0, "expected kink crossings for this seed");
    let raw_worst = checks
        .iter()
        .flat_map(|c| c.analytical.iter().zip(&c.numerical))
        .map(|(a, n)| rel_error(*a, *n))
        .fold(0.0, f64::max);
    assert!(
        raw_worst > 1e-2,
        "the kinked entries really disagree: {raw_worst:e}"
    );
    let (fd, ag) = worst(&checks);
    assert!(
        fd < AGREEMENT_TOL && ag < 1e-9,
        "away from kinks all agree: {fd:e} {ag:e}"
    );
}
