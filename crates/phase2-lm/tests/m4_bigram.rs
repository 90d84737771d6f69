//! m4: count bigram and neural bigram.

use candle_core::{DType, Device, Tensor};
use phase1_mlp::schedule::LrSchedule;
use phase2_lm::bigram::{self, log_softmax, FitConfig, NeuralBigram};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn m4_log_softmax_is_stable_and_normalised() {
    let x = Tensor::new(
        &[[1.0f64, 2.0, 3.0], [1000.0, 1000.0, -1000.0]],
        &Device::Cpu,
    )
    .unwrap();
    let y = log_softmax(&x).unwrap().to_vec2::<f64>().unwrap();
    let z = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    for (j, v) in [1.0, 2.0, 3.0].iter().enumerate() {
        assert!((y[0][j] - (v - z)).abs() < 1e-12);
    }
    assert!(
        (y[1][0] - 0.5f64.ln()).abs() < 1e-12,
        "no overflow at 1000: {:?}",
        y[1]
    );
    assert!(y[1][2] < -1999.0 && y[1][2].is_finite());
}

#[test]
fn m4_count_bigram_add_k_and_cross_entropy() {
    let counts = bigram::bigram_counts(&[0, 1, 0, 1, 1], 3).unwrap();
    assert_eq!(counts, vec![0.0, 2.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    let p = bigram::add_k_probs(&counts, 3, 1.0);
    assert_eq!(&p[..3], &[1.0 / 5.0, 3.0 / 5.0, 1.0 / 5.0]);
    assert_eq!(&p[6..], &[1.0 / 3.0; 3], "an unseen row is uniform");
    let ce = bigram::cross_entropy(&p, &counts);
    let expected = -(2.0 * (0.6f64).ln() + (0.4f64).ln() + (0.4f64).ln()) / 4.0;
    assert!((ce - expected).abs() < 1e-12);
    assert!(bigram::bigram_counts(&[0, 4], 3).is_err());
}

/// The autograd gradient of the minibatch loss equals central finite differences (f64).
#[test]
fn m4_neural_bigram_gradient_matches_finite_differences() {
    let v = 5;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let model = NeuralBigram::zeros(v, DType::F64, &Device::Cpu).unwrap();
    let w0: Vec<f64> = (0..v * v).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let set = |w: &[f64]| {
        model
            .logits
            .set(&Tensor::from_vec(w.to_vec(), (v, v), &Device::Cpu).unwrap())
            .unwrap()
    };
    set(&w0);
    let prev = Tensor::new(&[0u32, 3, 3, 1, 4, 0], &Device::Cpu).unwrap();
    let next = Tensor::new(&[1u32, 1, 2, 0, 4, 4], &Device::Cpu).unwrap();
    let loss = |m: &NeuralBigram| m.loss(&prev, &next).unwrap().to_scalar::<f64>().unwrap();
    let grads = model.loss(&prev, &next).unwrap().backward().unwrap();
    let g = grads
        .get(&model.logits)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let h = 1e-6;
    for i in 0..v * v {
        let mut w = w0.clone();
        w[i] += h;
        set(&w);
        let up = loss(&model);
        w[i] -= 2.0 * h;
        set(&w);
        let down = loss(&model);
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - g[i]).abs() < 1e-8,
            "entry {i}: autograd {} vs finite differences {fd}",
            g[i]
        );
    }
    // Row 2 never appears as `prev`: no gradient there.
    assert!(g[2 * v..3 * v].iter().all(|&x| x == 0.0));
}

/// Gradient descent recovers the count bigram on a random Markov chain.
#[test]
fn m4_neural_bigram_reaches_the_count_bigram() {
    let vocab = 8;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let transition: Vec<Vec<f64>> = (0..vocab)
        .map(|_| {
            let w: Vec<f64> = (0..vocab).map(|_| rng.gen::<f64>().powi(3)).collect();
            let s: f64 = w.iter().sum();
            w.iter().map(|x| x / s).collect()
        })
        .collect();
    let mut tokens = vec![0u32];
    for _ in 0..40_000 {
        let row = &transition[*tokens.last().unwrap() as usize];
        let mut u: f64 = rng.gen();
        let mut next = vocab - 1;
        for (j, p) in row.iter().enumerate() {
            if u < *p {
                next = j;
                break;
            }
            u -= p;
        }
        tokens.push(next as u32);
    }
    let (train, val) = phase2_lm::data::train_val_split(&tokens);
    let val_counts = bigram::bigram_counts(&val, vocab).unwrap();
    let train_counts = bigram::bigram_counts(&train, vocab).unwrap();
    let count_ppl =
        bigram::cross_entropy(&bigram::add_k_probs(&train_counts, vocab, 1.0), &val_counts).exp();

    let model = NeuralBigram::zeros(vocab, DType::F32, &Device::Cpu).unwrap();
    let cfg = FitConfig {
        steps: 400,
        batch_size: 512,
        schedule: LrSchedule::WarmupCosine {
            max_lr: 0.1,
            min_lr: 0.001,
            warmup: 0,
            total: 400,
        },
        seed: 0,
        eval_every: 100,
    };
    let mut history = Vec::new();
    bigram::fit(&model, &train, &cfg, |step, loss, m| {
        history.push((
            step,
            loss,
            bigram::cross_entropy(&m.probs()?, &val_counts).exp(),
        ));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        history.iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![100, 200, 300, 400]
    );
    let final_ppl = history.last().unwrap().2;
    assert!(
        final_ppl < 1.01 * count_ppl,
        "neural {final_ppl} vs count {count_ppl}"
    );
    assert!(
        history[0].1 > history[3].1,
        "training loss decreases: {history:?}"
    );
    let probs = model.probs().unwrap();
    for row in probs.chunks(vocab) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    }
}
