//! The data-parallel step: splitting the batch over workers changes nothing but the speed.

use candle_core::{DType, Device, Tensor, Var};
use phase2_lm::model::{Gpt, GptConfig};
use phase2_lm::parallel::{loss_and_grads, split_loss_and_grads};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn tiny() -> (Gpt, Tensor, Tensor) {
    let cfg = GptConfig {
        vocab_size: 13,
        block_size: 8,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        pos_emb: true,
    };
    let model = Gpt::new(&cfg, 5).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut ids = || -> Tensor {
        let v: Vec<u32> = (0..5 * 8).map(|_| rng.gen_range(0..13)).collect();
        Tensor::from_vec(v, (5, 8), &Device::Cpu).unwrap()
    };
    let (x, y) = (ids(), ids());
    (model, x, y)
}

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a = a
        .flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let b = b
        .flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    diff / b.iter().map(|y| y.abs()).fold(0.0, f64::max).max(1e-30)
}

/// 2 and 3 workers (an odd batch of 5 splits 3+2 and 2+2+1) equal 1 worker.
#[test]
fn m6_parallel_workers_match_single_worker() {
    let (model, x, y) = tiny();
    let names: Vec<String> = model.vars().into_iter().map(|(n, _)| n).collect();
    {
        let (l1, g1) = loss_and_grads(&model, &x, &y, 1).unwrap();
        assert_eq!(g1.len(), names.len());
        for workers in [2, 3] {
            let (l, g) = loss_and_grads(&model, &x, &y, workers).unwrap();
            assert!(
                ((l - l1) / l1).abs() < 1e-4,
                "{workers} workers: loss {l} vs {l1}"
            );
            for ((a, b), name) in g.iter().zip(&g1).zip(&names) {
                assert_eq!(a.dims(), b.dims(), "`{name}`");
                let err = rel_err(a, b);
                assert!(
                    err < 1e-4,
                    "{workers} workers: `{name}` gradient differs by {err:e}"
                );
            }
        }
    }
}

/// The single-worker result is exactly `loss.backward()` of the whole batch, in `vars()` order.
#[test]
fn m6_parallel_single_worker_is_plain_backward() {
    let (model, x, y) = tiny();
    let (l, g) = loss_and_grads(&model, &x, &y, 1).unwrap();
    let loss = model.loss(&x, &y).unwrap();
    assert_eq!(l, loss.to_scalar::<f32>().unwrap());
    let store = loss.backward().unwrap();
    for ((name, var), got) in model.vars().iter().zip(&g) {
        let want = store.get(var.as_tensor()).unwrap();
        assert_eq!(rel_err(got, want), 0.0, "`{name}`");
    }
}

/// A parameter the loss never touches is reported by name instead of silently getting zeros (the
/// candle-nn trap: fused ops with no backward looked fast and trained nothing).
#[test]
fn m6_parallel_reports_a_parameter_without_gradient() {
    let used = Var::from_tensor(&Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap()).unwrap();
    let unused = Var::from_tensor(&Tensor::new(&[3f32], &Device::Cpu).unwrap()).unwrap();
    let vars = vec![
        ("used".to_string(), used.clone()),
        ("forgotten".to_string(), unused),
    ];
    let x = Tensor::zeros((4, 2), DType::F32, &Device::Cpu).unwrap();
    let err = split_loss_and_grads(&vars, &x, &x, 2, |x, _| {
        x.broadcast_add(used.as_tensor())?.sum_all()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("`forgotten` received no gradient"), "{err}");
}
