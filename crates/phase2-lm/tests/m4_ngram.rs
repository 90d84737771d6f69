//! m4: interpolated Kneser–Ney n-gram models.

use phase2_lm::ngram::NgramModel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Worked by hand: tokens 0 1 0 1 0 2 (V = 3), bigram model.
/// Bigram counts (0,1):2 (1,0):2 (0,2):1 -> n1 = 1, n2 = 2, D2 = 1/5.
/// Unigram continuation counts are all 1 (no n2) -> D1 = 0.5 (the fallback), p1 = 1/3 each.
/// p(1|0) = (2 - 0.2)/3 + 0.2 * 2/3 * 1/3 = 0.6 + 2/45.
#[test]
fn m4_kneser_ney_matches_a_hand_computed_example() {
    let m = NgramModel::train(&[0, 1, 0, 1, 0, 2], 2, 3).unwrap();
    assert!((m.discounts()[1] - 0.2).abs() < 1e-12);
    let redistributed = 0.2 * 2.0 / 3.0 / 3.0;
    assert!((m.prob(&[0], 1) - (0.6 + redistributed)).abs() < 1e-12);
    assert!((m.prob(&[0], 2) - (0.8 / 3.0 + redistributed)).abs() < 1e-12);
    assert!((m.prob(&[0], 0) - redistributed).abs() < 1e-12);
    // Context 2 was never followed by anything: back off to the unigram.
    assert!((m.prob(&[2], 1) - 1.0 / 3.0).abs() < 1e-12);
}

fn random_text(len: usize, vocab: u32, seed: u64) -> Vec<u32> {
    // A sticky Markov chain so that higher orders have something to learn.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![0u32];
    for _ in 1..len {
        let prev = *out.last().unwrap();
        let next = if rng.gen_bool(0.7) {
            (prev * 3 + 1) % vocab
        } else {
            rng.gen_range(0..vocab)
        };
        out.push(next);
    }
    out
}

#[test]
fn m4_ngram_distributions_sum_to_one_even_for_unseen_contexts() {
    let vocab = 12;
    // Token 11 never occurs in training, so contexts with it are unseen.
    let text: Vec<u32> = random_text(3000, 11, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for n in 1..=5 {
        let m = NgramModel::train(&text, n, vocab).unwrap();
        for _ in 0..50 {
            let ctx: Vec<u32> = (0..rng.gen_range(0..6))
                .map(|_| rng.gen_range(0..vocab as u32))
                .collect();
            let d = m.distribution(&ctx);
            let total: f64 = d.iter().sum();
            assert!(
                (total - 1.0).abs() < 1e-9,
                "n = {n}, context {ctx:?}: sums to {total}"
            );
            assert!(
                d.iter().all(|&p| p > 0.0),
                "n = {n}: a zero probability after {ctx:?}"
            );
        }
    }
}

#[test]
fn m4_higher_orders_predict_structured_text_better_and_never_infinitely_badly() {
    let text = random_text(20_000, 10, 3);
    let (train, val) = phase2_lm::data::train_val_split(&text);
    let mut val_with_unseen = val.clone();
    val_with_unseen.extend([10, 10, 10]); // a token absent from training
    let ppl: Vec<f64> = (1..=3)
        .map(|n| {
            NgramModel::train(&train, n, 11)
                .unwrap()
                .cross_entropy(&val, 2)
                .exp()
        })
        .collect();
    // Unigram ~ 10 equally-likely-ish tokens; the chain makes the next token 70 % predictable.
    assert!(ppl[0] > 8.0 && ppl[1] < 0.6 * ppl[0], "{ppl:?}");
    assert!(ppl[2] < ppl[1] * 1.05, "{ppl:?}");
    for n in 1..=3 {
        let m = NgramModel::train(&train, n, 11).unwrap();
        assert!(m.cross_entropy(&val_with_unseen, 2).is_finite());
    }
}

#[test]
fn m4_ngram_rejects_bad_input() {
    assert!(NgramModel::train(&[0, 1], 0, 2).is_err());
    let err = NgramModel::train(&[0, 5], 2, 3).unwrap_err().to_string();
    assert!(err.contains('5'), "{err}");
    let m = NgramModel::train(&[0, 1, 2], 2, 3).unwrap();
    assert_eq!(
        m.prob(&[0], 7),
        0.0,
        "ids outside the vocabulary have probability 0, no panic"
    );
}

#[test]
fn m4_ngram_sampling_is_deterministic_and_follows_the_chain() {
    let text = random_text(5000, 10, 4);
    let m = NgramModel::train(&text, 2, 10).unwrap();
    let a = m.sample(&[0], 200, &mut ChaCha8Rng::seed_from_u64(7));
    let b = m.sample(&[0], 200, &mut ChaCha8Rng::seed_from_u64(7));
    assert_eq!(a, b);
    let follows = a.windows(2).filter(|w| w[1] == (w[0] * 3 + 1) % 10).count();
    assert!(follows > 100, "only {follows}/199 steps follow the chain");
}
