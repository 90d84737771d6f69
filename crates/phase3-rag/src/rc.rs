//! Reading-comprehension training data for the reader (m8), from the world's *seen* entities only.
//!
//! An example is a prompt of `k` passages — the gold passage (the one stating the fact) among
//! `k − 1` distractors — a question, and the answer; the loss is on the answer tokens alone
//! (everything before them is context, its targets [`IGNORE`]). The distractors are what a retriever
//! would put there: a retriever's best passages for the question, minus the gold one (the caller
//! varies the retriever: BM25's lexical neighbours and a dense encoder's look-alike facts differ),
//! so the reader learns to pick the right entity's fact out of near-duplicate names, same-entity
//! sentences and same-relation sentences, not out of random noise. `k` and the chunk size vary from example to example over the values the
//! ablation (m9) evaluates, and the gold passage's position is uniform, so no slot is a shortcut.
//!
//! Documents of seen entities are trained on too, as plain language modelling (every token
//! scored): the reader has read the world's prose before it reads prompts built from it.

use std::collections::HashMap;
use std::ops::Range;

use anyhow::{ensure, Result};
use phase2_lm::ops::IGNORE;
use phase2_lm::tokenizer::{AnyTokenizer, Tokenizer};
use phase2_lm::train::Batch;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::reader::{continuation, fit_prompt, Passage, Passages};
use crate::retrieve::Retriever;
use crate::world::Question;

/// One training sequence: `tokens`, and the ranges of positions whose token is a target of the
/// loss (the answers; everything for a document). Every other position is context only.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub tokens: Vec<u32>,
    pub scored: Vec<Range<usize>>,
}

/// A reading example for `question` over `passages`: the gold passage at a uniform position among
/// the best `k − 1` other passages `retriever` (built over `passages`, ids = passage ids) ranks for
/// the question, the question, and its answer. Then, while the `budget` allows and up to `extra` of
/// them, one more question about another passage of the prompt (drawn from `asks`, passage id →
/// questions it answers) and its answer: more answers to learn from per token of context, and the
/// reader must find each question's own passage. At evaluation a prompt has one question, which is
/// exactly the start of such an example.
#[allow(clippy::too_many_arguments)]
pub fn reading_example(
    question: &Question,
    passages: &Passages,
    retriever: &dyn Retriever,
    k: usize,
    asks: &HashMap<String, Vec<Question>>,
    extra: usize,
    tokenizer: &AnyTokenizer,
    budget: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Example>> {
    ensure!(k >= 1, "k must be at least 1");
    let gold = passages.gold(question)?;
    ensure!(
        gold.len() == 1,
        "question {} needs {} passages; reading examples are single-fact",
        question.id,
        gold.len()
    );
    let gold = gold[0];
    let mut chosen: Vec<&Passage> = retriever
        .search(&question.text, k + 1)?
        .into_iter()
        .filter_map(|h| passages.get(&h.doc_id))
        .filter(|p| p.id != gold.id)
        .take(k - 1)
        .collect();
    let at = rng.gen_range(0..=chosen.len());
    chosen.insert(at, gold);
    let answer = tokenizer.encode(&continuation(&question.answer));
    let count = |s: &str| tokenizer.encode(s).len();
    let (prompt, used) = fit_prompt(
        &chosen,
        &question.text,
        budget.saturating_sub(answer.len()),
        count,
    )?;
    if !used.iter().any(|p| p.id == gold.id) {
        // The gold passage did not fit: not a reading example.
        return Ok(None);
    }
    let mut tokens = tokenizer.encode(&prompt);
    let mut scored = Vec::with_capacity(extra + 1);
    scored.push(tokens.len()..tokens.len() + answer.len());
    tokens.extend(answer);
    let mut others: Vec<&Passage> = used.into_iter().filter(|p| p.id != gold.id).collect();
    others.shuffle(rng);
    for p in others.into_iter().take(extra) {
        let Some(q) = asks.get(&p.id).and_then(|qs| qs.choose(rng)) else {
            continue;
        };
        let ask = tokenizer.encode(&format!("Q: {}\nA:", q.text.trim()));
        let answer = tokenizer.encode(&continuation(&q.answer));
        if tokens.len() + ask.len() + answer.len() > budget {
            break;
        }
        tokens.extend(ask);
        scored.push(tokens.len()..tokens.len() + answer.len());
        tokens.extend(answer);
    }
    Ok(Some(Example { tokens, scored }))
}

/// A language-modelling example: random documents' tokens until `budget` tokens, every token
/// after the first scored.
pub fn document_example(docs: &[Vec<u32>], budget: usize, rng: &mut ChaCha8Rng) -> Result<Example> {
    ensure!(!docs.is_empty(), "no documents to train on");
    ensure!(budget >= 2, "a document example needs at least 2 tokens");
    let mut tokens = Vec::new();
    while tokens.len() < budget {
        tokens.extend_from_slice(docs.choose(rng).expect("non-empty"));
    }
    tokens.truncate(budget);
    Ok(Example {
        scored: std::iter::once(1..tokens.len()).collect(),
        tokens,
    })
}

/// A batch of examples, each row as long as the longest (at most `block`): `x` the tokens, `y` the
/// next tokens, [`IGNORE`] where the target is context or padding.
pub fn batch(examples: &[&Example], block: usize) -> Result<Batch> {
    ensure!(!examples.is_empty(), "an empty batch");
    let t = examples
        .iter()
        .map(|e| e.tokens.len().saturating_sub(1))
        .max()
        .unwrap_or(0);
    ensure!(
        t >= 1 && t <= block,
        "examples of {} tokens do not fit windows of 1..={block}",
        t + 1
    );
    let mut x = vec![0u32; examples.len() * t];
    let mut y = vec![IGNORE; examples.len() * t];
    for (r, e) in examples.iter().enumerate() {
        let n = e.tokens.len() - 1;
        x[r * t..r * t + n].copy_from_slice(&e.tokens[..n]);
        for range in &e.scored {
            // Position i predicts token i + 1.
            for target in range.clone().filter(|&j| j >= 1 && j <= n) {
                y[r * t + target - 1] = e.tokens[target];
            }
        }
    }
    Ok(Batch {
        x,
        y,
        b: examples.len(),
        t,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // One scored span per example: a Vec holding one range is what is meant.
    #[allow(clippy::single_range_in_vec_init)]
    fn m8_batches_score_only_the_answer_and_pad_with_ignore() {
        let a = Example {
            tokens: vec![1, 2, 3, 4, 5],
            scored: vec![3..5],
        };
        let b = Example {
            tokens: vec![6, 7, 8],
            scored: vec![1..3],
        };
        let batch = batch(&[&a, &b], 8).unwrap();
        assert_eq!(batch.t, 4);
        assert_eq!(batch.x, vec![1, 2, 3, 4, 6, 7, 0, 0]);
        // Row a: targets 2 and 3 are prompt, 4 and 5 the answer.
        assert_eq!(&batch.y[..4], &[IGNORE, IGNORE, 4, 5]);
        // Row b: a document, every target scored, then padding.
        assert_eq!(&batch.y[4..], &[7, 8, IGNORE, IGNORE]);
        assert_eq!(batch.scored(), 4);
        assert!(super::batch(&[&a], 3).is_err(), "longer than the block");
    }
}
