//! Phase 3 on one screen: retrieve, then read. BM25 finds the passage that states a fact; a small
//! GPT trained here reads the passage and the question and writes the answer.
//!
//! ```sh
//! cargo run --release -p phase3-rag --example retrieve_then_read
//! ```
//!
//! The world is generated (`phase3_rag::world`): invented people, companies, cities and
//! universities, one document each, and questions whose answers and gold passages are known.
//! Questions paraphrase the documents, so only the entity's name can match lexically.
//!
//! 1. Retrieve: cut documents into sentence passages, index them with BM25, and measure recall@k
//!    (is the gold passage among the top k?) on questions about held-out entities.
//! 2. Read: train a character-level GPT (phase 2's hand-written trainer) on reading examples
//!    (`phase3_rag::rc`: passage + question → answer, loss on the answer only) about *seen*
//!    entities, then ask it held-out questions with BM25's top passage in the prompt (open book)
//!    and with no passage (closed book). A held-out fact is in no training example, so closed
//!    book can only guess; whatever open book gains comes from reading the retrieved passage.
//!
//! Honest limits: m8's reader trains ~25 minutes (4 layers, BPE, 2,500 steps) to reach ~90 % exact
//! match with the gold passage. This one gets 300 steps (about 25 seconds) and does not read yet:
//! exact match is 0 with and without the passage, and the passage does not make the right answer
//! more likely (the two log-probabilities printed are equal to 0.1 nats). So the number asserted
//! is retrieval's: the program exits non-zero unless recall@3 ≥ 0.7 (chance is 3 in the number of
//! passages, under 0.5 %). The reader's numbers are printed beside it, not asserted: the example
//! shows the pipeline (prompt format, answer-only loss, greedy answers, exact match), and m8
//! (`cargo xtask phase3`) is where reading works.

use anyhow::{bail, Result};
use phase2_lm::generator::Generator;
use phase2_lm::lm::GptLm;
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, CharTokenizer, Tokenizer};
use phase2_lm::train::{Engine, RunConfig, TrainConfig, Trainer};
use phase3_rag::bm25::{Bm25Config, Bm25Index};
use phase3_rag::chunk::ChunkConfig;
use phase3_rag::rc;
use phase3_rag::reader::{self, continuation, exact_match, Passage, Passages};
use phase3_rag::world::{Question, QuestionKind, Split, World, WorldConfig};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEED: u64 = 7;
const BLOCK: usize = 256; // characters: one passage line, the question and the answer
const STEPS: usize = 300;
const BATCH: usize = 16;
const TEST_QUESTIONS: usize = 100;

fn main() -> Result<()> {
    // -- the world and its passages ---------------------------------------------------------
    let world = World::generate(&WorldConfig {
        lookup_questions: 1000,
        ..WorldConfig::with_documents(SEED, 400)
    })?;
    let passages = Passages::new(ChunkConfig::Sentences { max_chars: 120 }, world.documents())?;
    println!(
        "world: {} documents, {} sentence passages",
        world.num_documents(),
        passages.passages.len()
    );

    // -- 1. retrieve: BM25 over "title text" of every passage ---------------------------------
    let index = Bm25Index::build(
        Bm25Config::default(),
        passages
            .passages
            .iter()
            .map(|p| (p.id.clone(), format!("{} {}", p.title, p.text))),
    )?;
    let test = held_out_lookups(&world);
    let hits_at = recall_at_1_to_3(&index, &passages, &test)?;
    let recall = |k: usize| hits_at[k - 1];
    println!(
        "retrieval on {} held-out questions: recall@1 {:.3}  recall@3 {:.3}",
        test.len(),
        recall(1),
        recall(3)
    );
    let q = test[0];
    let top = &index.top_k(&q.text, 1)[0];
    println!(
        "  e.g. Q: {}\n       top passage: {}",
        q.text,
        passages.get(index.doc_id(top.0)).unwrap().line().trim()
    );

    // -- 2. read: a reader trained on seen entities, asked about held-out ones -----------------
    let (trainer, tokenizer) = train_reader(&world, &passages, &index)?;
    // -- ask: open book (BM25's top passage) against closed book (no passage) ------------------
    let [em_open, em_closed, lp_open, lp_closed] =
        open_and_closed_book(&trainer, tokenizer, &index, &passages, &test)?;
    println!("reader exact match: open book {em_open:.3}, closed book {em_closed:.3}");
    println!(
        "answer log-probability (nats, mean): open book {lp_open:.2}, closed book {lp_closed:.2}"
    );

    println!(
        "RESULT recall_at_1={:.3} recall_at_3={:.3} em_open={em_open:.3} em_closed={em_closed:.3} answer_logprob_open={lp_open:.2} answer_logprob_closed={lp_closed:.2}",
        recall(1),
        recall(3)
    );
    if recall(3) < 0.7 {
        bail!("BM25 recall@3 {:.3} is below 0.7", recall(3));
    }
    Ok(())
}

/// Single-fact lookups about held-out entities (never trained on below), shuffled, the first 100.
fn held_out_lookups(world: &World) -> Vec<&Question> {
    let mut test: Vec<&Question> = world
        .questions()
        .iter()
        .filter(|q| q.kind == QuestionKind::Lookup && q.split == Split::HeldOut)
        .collect();
    test.shuffle(&mut ChaCha8Rng::seed_from_u64(SEED));
    test.truncate(TEST_QUESTIONS);
    test
}

/// Recall@1, @2, @3: the share of questions whose gold passage BM25 ranks that high.
fn recall_at_1_to_3(
    index: &Bm25Index,
    passages: &Passages,
    test: &[&Question],
) -> Result<[f64; 3]> {
    let mut hits_at = [0usize; 3]; // gold passage at rank <= 1, 2, 3
    for q in test {
        let gold = &passages.gold(q)?[0].id;
        if let Some(rank) = index
            .top_k(&q.text, 3)
            .iter()
            .position(|&(i, _)| index.doc_id(i) == gold)
        {
            hits_at[rank..].iter_mut().for_each(|h| *h += 1);
        }
    }
    Ok(hits_at.map(|h| h as f64 / test.len() as f64))
}

/// A character GPT trained on reading examples (passage + question → answer, loss on the answer
/// only) about seen entities.
fn train_reader(
    world: &World,
    passages: &Passages,
    index: &Bm25Index,
) -> Result<(Trainer, AnyTokenizer)> {
    let seen: Vec<Question> = world
        .entities()
        .filter(|&e| !world.is_held_out(e))
        .flat_map(|e| world.lookups_of(e))
        .filter(|q| q.split == Split::Seen)
        .collect();
    // Characters of everything the reader will read or write (passages, questions, answers).
    let mut all_text: String = passages.passages.iter().map(Passage::line).collect();
    for q in world.questions().iter().chain(&seen) {
        all_text.push_str(&format!("Q: {}\nA:{}", q.text, continuation(&q.answer)));
    }
    let tokenizer: AnyTokenizer = CharTokenizer::from_text(&all_text).into();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let no_extra = HashMap::new(); // one question per prompt
    let mut pool = Vec::new();
    for q in seen.iter().cycle().take(4 * seen.len()) {
        let k = 1; // the gold passage alone (m8 also mixes in BM25's other passages, k = 1..5)
        if let Some(e) = rc::reading_example(
            q,
            passages,
            index,
            k,
            &no_extra,
            0,
            &tokenizer,
            BLOCK + 1,
            &mut rng,
        )? {
            pool.push(e);
        }
    }
    println!(
        "reader: {} reading examples from {} seen questions",
        pool.len(),
        seen.len()
    );

    let model = GptConfig {
        vocab_size: tokenizer.vocab_size(),
        block_size: BLOCK,
        n_layer: 2,
        n_head: 4,
        d_model: 64,
        pos_emb: true,
    };
    let train = TrainConfig {
        steps: STEPS,
        batch_size: BATCH,
        max_lr: 3e-3,
        min_lr: 3e-4,
        warmup: 50,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weight_decay: 0.1,
        grad_clip: 1.0,
        eval_interval: 100,
        eval_iters: 1,
        log_interval: 100,
        seed: SEED,
        ops: Engine::Fast,
        workers: 2,
        dropout: 0.0,
    };
    let mut trainer = Trainer::new(RunConfig { model, train })?;
    let start = Instant::now();
    for step in 1..=STEPS {
        let rows: Vec<&rc::Example> = pool.choose_multiple(&mut rng, BATCH).collect();
        let stats = trainer.step_on(&rc::batch(&rows, BLOCK)?)?; // loss on the answers only
        if step % 100 == 0 {
            println!(
                "step {step:>4}  answer loss {:.3}  ({:.0} s)",
                stats.loss,
                start.elapsed().as_secs_f64()
            );
        }
    }

    Ok((trainer, tokenizer))
}

/// Greedy answers with BM25's top passage (open book) and with none (closed book): exact match and
/// the mean log-probability of the right answer, `[em_open, em_closed, lp_open, lp_closed]`.
fn open_and_closed_book(
    trainer: &Trainer,
    tokenizer: AnyTokenizer,
    index: &Bm25Index,
    passages: &Passages,
    test: &[&Question],
) -> Result<[f64; 4]> {
    let mut lm = Generator::from_trainer(trainer, tokenizer, GptLm::greedy())?;
    let (mut em_open, mut em_closed, mut lp_open, mut lp_closed) = (0usize, 0usize, 0.0, 0.0);
    for q in test {
        let top: Vec<&Passage> = index
            .top_k(&q.text, 1)
            .iter()
            .filter_map(|&(i, _)| passages.get(index.doc_id(i)))
            .collect();
        for (context, em, lp) in [
            (top, &mut em_open, &mut lp_open),
            (vec![], &mut em_closed, &mut lp_closed),
        ] {
            let prompt = reader::prompt(&context, &q.text);
            let answer = lm.complete(&prompt, 24, &[reader::STOP], 0)?.text;
            *em += usize::from(exact_match(&answer, &q.answer));
            *lp += lm.score(&prompt, &continuation(&q.answer))?.logprob() / test.len() as f64;
        }
    }
    let n = test.len() as f64;
    let (em_open, em_closed) = (em_open as f64 / n, em_closed as f64 / n);
    Ok([em_open, em_closed, lp_open, lp_closed])
}
