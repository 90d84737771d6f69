//! The inference handle: a continuation's log-probability is the sum of the per-token
//! log-probabilities of one full forward pass of the readable model, stop sequences stop, and the same
//! seed gives the same text.

use candle_core::{Device, Tensor};
use phase2_lm::generate::Sampling;
use phase2_lm::generator::{Finish, Generator};
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, CharTokenizer, Tokenizer};
use phase2_lm::train::{RunConfig, TrainConfig, Trainer};

const TEXT: &str = "the cat sat on the mat. the dog sat on the log.\n";

fn sampling() -> Sampling {
    Sampling {
        temperature: 1.0,
        top_k: None,
        top_p: Some(0.95),
    }
}

/// A tiny model trained for a few steps (so its distribution is far from uniform), and its trainer.
fn trained() -> (Trainer, AnyTokenizer) {
    let tok: AnyTokenizer = CharTokenizer::from_text(TEXT).into();
    let ids = tok.encode(&TEXT.repeat(30));
    let train: TrainConfig = toml::from_str(
        "steps = 30\nbatch_size = 4\nmax_lr = 1e-2\nmin_lr = 1e-3\nwarmup = 3\neval_interval = 10\neval_iters = 1\nseed = 5",
    )
    .unwrap();
    let model = GptConfig {
        vocab_size: tok.vocab_size(),
        block_size: 16,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        pos_emb: true,
    };
    let mut trainer = Trainer::new(RunConfig { model, train }).unwrap();
    for _ in 0..30 {
        trainer.step(&ids).unwrap();
    }
    (trainer, tok)
}

/// `log softmax(logits)[target]` at every position of one forward pass of the candle model.
fn reference_logprobs(trainer: &Trainer, ids: &[u32]) -> Vec<f64> {
    let model = trainer.to_gpt().unwrap();
    let idx = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu).unwrap();
    let logits: Vec<Vec<f32>> = model
        .forward(&idx)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec2()
        .unwrap();
    (0..ids.len() - 1)
        .map(|i| {
            let l = &logits[i];
            let max = l.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            let z = l.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
            l[ids[i + 1] as usize] as f64 - max - z
        })
        .collect()
}

#[test]
fn m6_generator_score_is_the_sum_of_full_forward_logprobs() {
    let (trainer, tok) = trained();
    let mut g = Generator::from_trainer(&trainer, tok.clone(), sampling()).unwrap();
    let (prompt, cont) = ("the cat ", "sat on");
    let ids: Vec<u32> = tok.encode(&format!("{prompt}{cont}"));
    assert!(ids.len() <= 16, "fits one window");
    let reference = reference_logprobs(&trainer, &ids);
    let p = tok.encode(prompt).len();
    let expected: Vec<f64> = reference[p - 1..].to_vec();
    for use_cache in [true, false] {
        g.use_cache = use_cache;
        let score = g.score(prompt, cont).unwrap();
        assert_eq!(score.tokens, tok.encode(cont));
        assert_eq!(score.token_logprobs.len(), expected.len());
        for (a, b) in score.token_logprobs.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-4, "cache {use_cache}: {a} vs {b}");
        }
        let sum: f64 = expected.iter().sum();
        assert!(
            (score.logprob() - sum).abs() < 1e-3,
            "{} vs {sum}",
            score.logprob()
        );
        let ppl = (-sum / expected.len() as f64).exp();
        assert!((score.perplexity() - ppl).abs() < 1e-3 * ppl);
    }
    // Trained text is likelier than scrambled text after the same prompt.
    let likely = g.score(prompt, "sat on").unwrap().logprob();
    let unlikely = g.score(prompt, "tno as").unwrap().logprob();
    assert!(likely > unlikely, "{likely} vs {unlikely}");
    // The next-token distribution is the first scored position's.
    let next = g.next_token_logprobs("the cat ").unwrap();
    assert_eq!(next.len(), tok.vocab_size());
    let s = tok.encode("s")[0] as usize;
    assert!((next[s] as f64 - expected[0]).abs() < 1e-4);
    let total: f64 = next.iter().map(|&l| (l as f64).exp()).sum();
    assert!((total - 1.0).abs() < 1e-4, "probabilities sum to {total}");
}

#[test]
fn m6_generator_same_seed_same_text_and_stop_sequences_stop() {
    let (trainer, tok) = trained();
    let mut g = Generator::from_trainer(&trainer, tok, sampling()).unwrap();
    let a = g.complete("the ", 60, &[], 11).unwrap();
    let b = g.complete("the ", 60, &[], 11).unwrap();
    assert_eq!(a, b, "same seed, same completion");
    assert_eq!(
        (a.tokens.len(), a.finish, a.prompt_tokens),
        (60, Finish::Length, 4)
    );
    let others: Vec<String> = (12..16)
        .map(|seed| g.complete("the ", 60, &[], seed).unwrap().text)
        .collect();
    assert!(
        others.iter().any(|t| *t != a.text),
        "the seed changes the text"
    );

    // Stop at a piece of text the unstopped completion contains: the stopped one is the unstopped
    // text cut just before the piece's first occurrence.
    let chars: Vec<char> = a.text.chars().collect();
    let stop: String = chars[10..12].iter().collect();
    let cut = a.text.find(&stop).unwrap();
    let c = g
        .complete("the ", 60, &[&stop, "never appears §"], 11)
        .unwrap();
    assert_eq!(c.finish, Finish::Stop);
    assert_eq!(c.text, a.text[..cut]);
    assert!(c.tokens.len() < a.tokens.len());
    assert!(
        g.complete("the ", 5, &[""], 11).is_err(),
        "empty stop sequence"
    );
    // A budget of zero tokens is an empty completion.
    let z = g.complete("the ", 0, &[], 1).unwrap();
    assert_eq!((z.text.as_str(), z.finish), ("", Finish::Length));
}

#[test]
fn m6_generator_from_checkpoint_is_the_trainers_model() {
    let (trainer, tok) = trained();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    phase2_lm::checkpoint::save(&ckpt, &trainer, &tok).unwrap();
    let mut loaded = Generator::from_checkpoint(&ckpt, sampling()).unwrap();
    let mut live = Generator::from_trainer(&trainer, tok, sampling()).unwrap();
    assert_eq!(loaded.params(), live.params());
    assert_eq!(
        loaded.complete("the ", 40, &[], 3).unwrap(),
        live.complete("the ", 40, &[], 3).unwrap()
    );
    let err = Generator::from_checkpoint(&dir.path().join("nope"), sampling())
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("nope"));
}

#[test]
fn m6_streamed_pieces_concatenate_to_the_completion_and_can_be_cancelled() {
    let (trainer, tok) = trained();
    for stop in [vec![], vec!["."], vec!["t ", "og"]] {
        let mut g = Generator::from_trainer(&trainer, tok.clone(), sampling()).unwrap();
        let whole = g.complete("the ", 40, &stop, 11).unwrap();
        let mut pieces = Vec::new();
        let streamed = g
            .complete_with("the ", 40, &stop, 11, |p| {
                pieces.push(p.to_string());
                true
            })
            .unwrap();
        assert_eq!(streamed, whole, "stop {stop:?}");
        assert_eq!(pieces.concat(), whole.text, "stop {stop:?}");
        assert!(pieces.iter().all(|p| !p.is_empty()));
    }
    let mut g = Generator::from_trainer(&trainer, tok.clone(), sampling()).unwrap();
    let mut calls = 0;
    let cancelled = g
        .complete_with("the ", 40, &[], 11, |_| {
            calls += 1;
            calls < 3
        })
        .unwrap();
    assert_eq!(cancelled.finish, Finish::Cancelled);
    assert_eq!(
        (calls, cancelled.tokens.len()),
        (3, 3),
        "stops at the third piece"
    );
}

#[test]
fn m6_prompt_logprobs_are_the_full_forward_logprobs_after_the_first_token() {
    let (trainer, tok) = trained();
    let prompt = "the dog sat on";
    let ids = tok.encode(prompt);
    let reference = reference_logprobs(&trainer, &ids);
    let mut g = Generator::from_trainer(&trainer, tok.clone(), sampling()).unwrap();
    let s = g.prompt_logprobs(prompt).unwrap();
    assert_eq!(s.tokens, ids);
    assert_eq!(s.token_logprobs.len(), ids.len() - 1);
    for (a, b) in s.token_logprobs.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    assert!(g.prompt_logprobs("").is_err(), "nothing to score");
}

#[test]
fn m10_constrained_completion_spells_one_allowed_string_then_stops_at_the_end() {
    let (trainer, tok) = trained();
    let mut g = Generator::from_trainer(&trainer, tok.clone(), sampling()).unwrap();
    let allowed: Vec<String> = ["cat sat", "dog", "mat"].map(String::from).to_vec();
    let c = g.complete_within("the ", &allowed, ".", 12).unwrap();
    assert!(allowed.contains(&c.text), "{:?}", c.text);
    assert_eq!(c.finish, Finish::Stop);
    // One allowed string: exactly it, whatever the model prefers.
    let only = vec!["log".to_string()];
    let c = g.complete_within("the cat ", &only, ".", 12).unwrap();
    assert_eq!(c.text, "log");
    // Too few tokens to finish: the prefix reached, not a finished string.
    let c = g.complete_within("the cat ", &only, ".", 2).unwrap();
    assert_eq!((c.text.as_str(), c.finish), ("lo", Finish::Length));
    // The greedy choice among the allowed strings is the one free greedy decoding would write
    // when that one is allowed.
    let mut greedy = Generator::from_trainer(
        &trainer,
        tok,
        Sampling {
            temperature: 0.0,
            top_k: None,
            top_p: None,
        },
    )
    .unwrap();
    let free = greedy.complete("the ", 3, &[], 0).unwrap().text;
    let c = g
        .complete_within("the ", &[free.clone(), "zzz".into()], ".", 3)
        .unwrap();
    assert_eq!(c.text, free);
}
