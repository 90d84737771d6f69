//! m8: the language-model trait on phase 2's GPT (stop sequences, budgets, scores), a backend
//! without scores, passages and their gold passage on a small world, and reading examples.

use anyhow::Result;
use phase2_lm::generator::Generator;
use phase2_lm::lm::{Completion, GptLm, LanguageModel, Request};
use phase2_lm::model::GptConfig;
use phase2_lm::ops::IGNORE;
use phase2_lm::tokenizer::{AnyTokenizer, BpeTokenizer, CharTokenizer, Tokenizer};
use phase2_lm::train::{RunConfig, TrainConfig, Trainer};
use phase3_rag::beir::Collection;
use phase3_rag::bm25::{Bm25Config, Bm25Index};
use phase3_rag::chunk::ChunkConfig;
use phase3_rag::rc;
use phase3_rag::reader::{continuation, Passages, STOP};
use std::collections::HashMap;

use phase3_rag::world::{Question, QuestionKind, World, WorldConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A tiny GPT trained on "ab\n" repeated: greedy from "…a" says "b", then a newline.
fn trained() -> (Trainer, AnyTokenizer) {
    let text = "ab\n".repeat(200);
    let tok: AnyTokenizer = CharTokenizer::from_text(&text).into();
    let ids = tok.encode(&text);
    let train: TrainConfig = toml::from_str(
        "steps = 60\nbatch_size = 4\nmax_lr = 1e-2\nmin_lr = 1e-3\nwarmup = 3\neval_interval = 10\neval_iters = 1\nseed = 5\nworkers = 1",
    )
    .unwrap();
    let model = GptConfig {
        vocab_size: tok.vocab_size(),
        block_size: 12,
        n_layer: 1,
        n_head: 2,
        d_model: 16,
        pos_emb: true,
    };
    let mut trainer = Trainer::new(RunConfig { model, train }).unwrap();
    for _ in 0..60 {
        trainer.step(&ids).unwrap();
    }
    (trainer, tok)
}

#[test]
fn m8_gpt_behind_the_trait_stops_keeps_its_budget_and_scores() {
    let (trainer, tok) = trained();
    let mut lm = GptLm::new(
        "tiny",
        Generator::from_trainer(&trainer, tok.clone(), GptLm::greedy()).unwrap(),
    );
    let stopped = lm
        .complete(&Request {
            prompt: "ab\nab\na",
            max_tokens: 8,
            stop: &[STOP],
            seed: 0,
        })
        .unwrap();
    assert_eq!(
        stopped,
        Completion {
            text: "b".into(),
            prompt_tokens: 7,
            completion_tokens: 2,
            stopped: true
        }
    );
    let budget = lm
        .complete(&Request {
            prompt: "ab\nab\na",
            max_tokens: 4,
            stop: &[],
            seed: 0,
        })
        .unwrap();
    assert_eq!((budget.text.as_str(), budget.stopped), ("b\nab", false));
    assert!(lm
        .complete(&Request {
            prompt: "a",
            max_tokens: 0,
            stop: &[],
            seed: 0
        })
        .is_err());

    // The score is the sum of the next-token log-probabilities along the continuation.
    let s = lm
        .score("ab\na", "b\n")
        .unwrap()
        .expect("the GPT can score");
    assert_eq!(s.token_logprobs.len(), 2);
    let g = lm.generator();
    let first = g.next_token_logprobs("ab\na").unwrap()[tok.encode("b")[0] as usize] as f64;
    let second = g.next_token_logprobs("ab\nab").unwrap()[tok.encode("\n")[0] as usize] as f64;
    assert!((s.token_logprobs[0] - first).abs() < 1e-5);
    assert!((s.token_logprobs[1] - second).abs() < 1e-5);
    assert!((s.perplexity() - (-(first + second) / 2.0).exp()).abs() < 1e-6);
    // Trained: the right continuation is likely, a wrong one is not.
    let wrong = lm.score("ab\na", "a\n").unwrap().unwrap();
    assert!(s.logprob() > wrong.logprob() + 1.0, "{s:?} vs {wrong:?}");
    assert_eq!(lm.count_tokens("ab\n"), Some(3));
    assert_eq!(lm.context_tokens(), Some(12));
}

/// A backend that can complete but not score (like a chat API without log-probabilities).
struct Parrot;

impl LanguageModel for Parrot {
    fn name(&self) -> String {
        "parrot".into()
    }
    fn complete(&mut self, r: &Request) -> Result<Completion> {
        Ok(Completion {
            text: r.prompt.to_string(),
            prompt_tokens: 0,
            completion_tokens: 0,
            stopped: false,
        })
    }
}

#[test]
fn m8_scoring_is_an_optional_capability() {
    let mut p = Parrot;
    assert_eq!(p.score("a", "b").unwrap(), None);
    assert_eq!(p.count_tokens("a"), None);
}

fn small_world() -> World {
    World::generate(&WorldConfig::default()).unwrap()
}

#[test]
fn m8_every_question_has_a_gold_passage_that_states_its_answer() {
    let world = small_world();
    for max_chars in [120, 240, 600] {
        let passages =
            Passages::new(ChunkConfig::Sentences { max_chars }, world.documents()).unwrap();
        for q in world.questions() {
            let gold = passages.gold(q).unwrap();
            assert!(!gold.is_empty());
            if q.kind == QuestionKind::Lookup {
                assert_eq!(gold.len(), 1);
                assert!(gold[0].text.contains(&q.answer), "{q:?} / {gold:?}");
                assert_eq!(gold[0].doc_id, q.gold_doc_ids[0]);
            }
        }
        // Bigger chunks, fewer passages; each document's passages are in order.
        let first = passages
            .of_doc("person-0")
            .map(|p| p.id.clone())
            .collect::<Vec<_>>();
        assert_eq!(first[0], "person-0#0");
    }
    // The passages as a BEIR collection, judged at the passage level.
    let dir = tempfile::tempdir().unwrap();
    let passages =
        Passages::new(ChunkConfig::Sentences { max_chars: 120 }, world.documents()).unwrap();
    passages.write_beir(dir.path(), world.questions()).unwrap();
    let c = Collection::load(dir.path()).unwrap();
    assert_eq!(c.docs.len(), passages.passages.len());
    assert_eq!(c.judged_outside_corpus(), 0);
    let test = world.questions().iter().filter(|q| !q.train).count();
    assert_eq!(c.judged_queries().len(), test);
}

#[test]
fn m8_reading_examples_hold_the_gold_passage_among_k_and_score_only_the_answer() {
    let world = small_world();
    let passages =
        Passages::new(ChunkConfig::Sentences { max_chars: 120 }, world.documents()).unwrap();
    let index = Bm25Index::build(
        Bm25Config::default(),
        passages
            .passages
            .iter()
            .map(|p| (p.id.clone(), format!("{} {}", p.title, p.text))),
    )
    .unwrap();
    let text: String = world
        .documents()
        .map(|d| d.text)
        .collect::<Vec<_>>()
        .join("\n");
    let tok: AnyTokenizer = BpeTokenizer::train(&text, 300, true).unwrap().into();
    let mut asks: HashMap<String, Vec<Question>> = HashMap::new();
    for e in world.entities() {
        for q in world.lookups_of(e) {
            let gold = passages.gold(&q).unwrap()[0].id.clone();
            asks.entry(gold).or_default().push(q);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let q = world
        .questions()
        .iter()
        .find(|q| q.kind == QuestionKind::Lookup)
        .unwrap();
    for k in 1..=5 {
        let e = rc::reading_example(
            q,
            &passages,
            &index as &dyn phase3_rag::retrieve::Retriever,
            k,
            &asks,
            0,
            &tok,
            4096,
            &mut rng,
        )
        .unwrap()
        .expect("fits 4096 tokens");
        assert_eq!(e.scored.len(), 1);
        let prompt = tok.decode(&e.tokens[..e.scored[0].start]);
        let answer = tok.decode(&e.tokens[e.scored[0].clone()]);
        assert_eq!(e.scored[0].end, e.tokens.len());
        assert_eq!(answer, continuation(&q.answer));
        assert_eq!(prompt.matches("\n* ").count() + 1, k, "{prompt}");
        assert!(prompt.contains(&passages.gold(q).unwrap()[0].line()));
        assert!(prompt.ends_with(&format!("Q: {}\nA:", q.text)));
        let b = rc::batch(&[&e], 4096).unwrap();
        let scored: Vec<u32> = b.y.iter().copied().filter(|&t| t != IGNORE).collect();
        assert_eq!(scored, tok.encode(&continuation(&q.answer)));
    }
    // Room for the question but not the gold passage: no example, rather than one without it.
    let bare = tok.encode(&phase3_rag::reader::prompt(&[], &q.text)).len()
        + tok.encode(&continuation(&q.answer)).len();
    let none =
        rc::reading_example(q, &passages, &index, 3, &asks, 0, &tok, bare + 1, &mut rng).unwrap();
    assert!(none.is_none());
    // With extra questions: each about another passage of the prompt, each answer scored.
    let e = rc::reading_example(q, &passages, &index, 5, &asks, 4, &tok, 4096, &mut rng)
        .unwrap()
        .unwrap();
    assert!(
        e.scored.len() > 1,
        "some of BM25's passages answer a question too"
    );
    let text = tok.decode(&e.tokens);
    let lines: Vec<&str> = text.lines().collect();
    for (n, range) in e.scored.iter().enumerate() {
        let answer = tok.decode(&e.tokens[range.clone()]);
        let line = lines
            .iter()
            .filter(|l| l.starts_with("Q: "))
            .nth(n)
            .unwrap();
        assert!(line.len() > 3);
        assert!(
            answer.ends_with('\n') && answer.starts_with(' '),
            "{answer:?}"
        );
        // The answer is stated in one of the prompt's passages.
        let answer = answer.trim();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("* ") && l.contains(answer)),
            "{answer} is in no passage of\n{text}"
        );
    }
}
