//! The hand-written forward/backward of `phase2_lm::fast` against candle's autograd through the
//! reference ops: same loss and the same gradient for every parameter, within 1e-4.

use candle_core::{DType, Device, Tensor};
use phase2_lm::fast::{gather, FastGpt};
use phase2_lm::model::{Gpt, GptConfig};
use phase2_lm::ops::IGNORE;
use phase2_lm::parallel::loss_and_grads;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cfg(pos_emb: bool) -> GptConfig {
    GptConfig {
        vocab_size: 13,
        block_size: 8,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        pos_emb,
    }
}

fn ids(rng: &mut ChaCha8Rng, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.gen_range(0..13)).collect()
}

/// Largest absolute difference relative to the largest reference magnitude.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max);
    diff / b
        .iter()
        .map(|y| y.abs() as f64)
        .fold(0.0, f64::max)
        .max(1e-30)
}

fn check(pos_emb: bool, b: usize, t: usize, workers: usize, seed: u64) {
    check_masked(pos_emb, b, t, workers, seed, false);
}

/// With `masked`, about half the targets (and the whole first row) are `IGNORE`.
fn check_masked(pos_emb: bool, b: usize, t: usize, workers: usize, seed: u64, masked: bool) {
    let cfg = cfg(pos_emb);
    // A perturbed model, so LayerNorm gains and biases are not at their 1/0 starting values.
    let model = Gpt::new(&cfg, seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    for (_, v) in model.vars() {
        let n = v.elem_count();
        let noise: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.3..0.3)).collect();
        let noise = Tensor::from_vec(noise, v.shape(), &Device::Cpu).unwrap();
        v.set(&(v.as_tensor() + noise).unwrap()).unwrap();
    }
    let (x, mut y) = (ids(&mut rng, b * t), ids(&mut rng, b * t));
    if masked {
        for (i, v) in y.iter_mut().enumerate() {
            if i < t || rng.gen_bool(0.5) {
                *v = IGNORE;
            }
        }
    }
    let xt = Tensor::from_vec(x.clone(), (b, t), &Device::Cpu).unwrap();
    let yt = Tensor::from_vec(y.clone(), (b, t), &Device::Cpu).unwrap();
    let (want_loss, want) = loss_and_grads(&model, &xt, &yt, 1).unwrap();

    let mut fast = FastGpt::new(&cfg, workers).unwrap();
    let mut params = Vec::new();
    gather(&model, &fast.off, &mut params).unwrap();
    let mut grads = vec![0f32; params.len()];
    let loss = fast
        .loss_and_grads(&params, &x, &y, b, t, Some(&mut grads))
        .unwrap();
    assert!(
        ((loss - want_loss) / want_loss).abs() < 1e-5,
        "loss {loss} vs autograd {want_loss}"
    );
    let spans = fast.off.spans().to_vec();
    for (((name, _), g), (start, len)) in model.vars().iter().zip(&want).zip(spans) {
        let g: Vec<f32> = g
            .flatten_all()
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap();
        let err = rel_err(&grads[start..start + len], &g);
        assert!(
            err < 1e-4,
            "`{name}` (pos_emb {pos_emb}, b {b}, t {t}, workers {workers}): gradient differs by {err:e}"
        );
    }
    // Loss alone (no gradient) is the same number.
    let only = fast.loss_and_grads(&params, &x, &y, b, t, None).unwrap();
    assert_eq!(only, loss);
}

#[test]
fn m6_fast_loss_and_gradients_match_autograd() {
    check(true, 3, 8, 1, 1);
}

#[test]
fn m6_fast_matches_autograd_with_workers_short_windows_and_no_positions() {
    // 5 rows over 2 and 3 workers (uneven parts), windows shorter than block_size, no position table.
    check(true, 5, 8, 2, 2);
    check(true, 5, 5, 3, 3);
    check(false, 4, 8, 2, 4);
}

#[test]
fn m6_ignored_targets_leave_the_loss_and_the_gradient_in_fast_and_autograd() {
    // A whole row ignored gives one worker nothing to score: it must add zero, not NaN.
    check_masked(true, 3, 8, 1, 5, true);
    check_masked(true, 5, 8, 2, 6, true);
    check_masked(false, 4, 6, 3, 7, true);
    // The masked autograd reference split over workers equals the unsplit one.
    let cfg = cfg(true);
    let model = Gpt::new(&cfg, 8).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let (b, t) = (4, 8);
    let x = ids(&mut rng, b * t);
    let y: Vec<u32> = ids(&mut rng, b * t)
        .into_iter()
        .enumerate()
        .map(|(i, v)| if i < 2 * t || i % 3 == 0 { IGNORE } else { v })
        .collect();
    let xt = Tensor::from_vec(x.clone(), (b, t), &Device::Cpu).unwrap();
    let yt = Tensor::from_vec(y.clone(), (b, t), &Device::Cpu).unwrap();
    let (one, _) = loss_and_grads(&model, &xt, &yt, 1).unwrap();
    let (two, _) = loss_and_grads(&model, &xt, &yt, 2).unwrap();
    assert!((one - two).abs() < 1e-5, "{one} vs {two}");
    // The mean over scored targets is the mean of each scored target's own loss.
    let mut fast = FastGpt::new(&cfg, 1).unwrap();
    let mut params = Vec::new();
    gather(&model, &fast.off, &mut params).unwrap();
    let scored: Vec<usize> = (0..b * t).filter(|&i| y[i] != IGNORE).collect();
    let each: f64 = scored
        .iter()
        .map(|&i| {
            let mut only = vec![IGNORE; b * t];
            only[i] = y[i];
            fast.loss_and_grads(&params, &x, &only, b, t, None).unwrap() as f64
        })
        .sum::<f64>()
        / scored.len() as f64;
    let all = fast.loss_and_grads(&params, &x, &y, b, t, None).unwrap() as f64;
    assert!((all - each).abs() < 1e-5, "{all} vs {each}");
    assert!((all - one as f64).abs() < 1e-5, "{all} vs autograd {one}");
    // Nothing to score is an error, not a NaN.
    let err = fast
        .loss_and_grads(&params, &x, &vec![IGNORE; b * t], b, t, None)
        .unwrap_err();
    assert!(err.to_string().contains("IGNORE"), "{err}");
}

#[test]
fn m6_fast_rejects_bad_input_with_a_message() {
    let cfg = cfg(true);
    let mut fast = FastGpt::new(&cfg, 1).unwrap();
    let params = vec![0f32; fast.off.total()];
    let err = fast
        .loss_and_grads(&params, &[1, 2, 99], &[1, 2, 3], 1, 3, None)
        .unwrap_err();
    assert!(err.to_string().contains("99"), "{err}");
    let err = fast
        .loss_and_grads(&params, &[0; 9], &[0; 9], 1, 9, None)
        .unwrap_err();
    assert!(err.to_string().contains("1..=8"), "{err}");
    assert!(fast
        .loss_and_grads(&params[1..], &[0; 3], &[0; 3], 1, 3, None)
        .is_err());
}
