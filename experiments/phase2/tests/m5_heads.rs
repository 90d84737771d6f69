//! m5's head scores: which heads attend to the previous token and which copy a repeated sequence.

use phase2_experiments::m5;
use phase2_lm::model::{Gpt, GptConfig};

fn tiny() -> GptConfig {
    GptConfig {
        vocab_size: 11,
        block_size: 8,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        pos_emb: true,
    }
}

#[test]
fn m5_head_scores_are_probabilities_and_repeat_is_detected() {
    let model = Gpt::new(&tiny(), 7).unwrap();
    let (scores, first, second) = m5::head_scores(&model, 4, 3, 1).unwrap();
    assert_eq!(scores.len(), 4);
    for s in &scores {
        assert!((0.0..=1.0).contains(&s.prev_token) && (0.0..=1.0).contains(&s.induction));
    }
    // An untrained model predicts near-uniformly: about ln(11) nats on both copies.
    assert!((first - 11f64.ln()).abs() < 0.5 && (second - 11f64.ln()).abs() < 0.5);
    assert!(
        m5::head_scores(&model, 5, 3, 1).is_err(),
        "2L > block must fail"
    );
}
