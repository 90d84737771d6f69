//! m8 — the reader: phase 2's GPT trained on the world's seen documents and reading examples, then
//! asked held-out questions with no context, random context, retrieved context (each retriever,
//! k = 1…5) and the gold passage.
//!
//! One record, `records/m8/reader/`: the training curve (loss, and held-out exact match and answer
//! perplexity per context condition during training) as metrics; per condition the mean exact match
//! and answer perplexity in the summary; every question's outcome per condition as an artifact (the
//! paired bootstrap, the traces and the figures are computed from it); timings in an artifact of
//! their own. The trained model is saved to `checkpoints/m8_reader/` (not committed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use phase2_lm::generator::Generator;
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, BpeTokenizer, Tokenizer};
use phase2_lm::train::{RunConfig, TrainConfig, Trainer};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::record::RunWriter;
use viz::Context;

use super::m7::RetrieverSpec;
use super::PHASE;
use crate::beir::Collection;
use crate::bm25::{Bm25Config, Bm25Index};
use crate::chunk::ChunkConfig;
use crate::lm::{GptLm, LanguageModel, Request};
use crate::rc::{self, Example};
use crate::reader::{continuation, exact_match, fit_prompt, Passage, Passages, STOP};
use crate::retrieve::Retriever;
use crate::world::{Question, QuestionKind, Split, World, WorldConfig};

pub const MILESTONE: &str = "m8";
/// The experiment (config `configs/phase3/m8_reader.toml`).
pub const READER: &str = "m8_reader";

/// `configs/phase3/m8_reader.toml`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderConfig {
    pub world: WorldConfig,
    /// Chunkings the reader is trained on (and m9 evaluates), by name.
    pub chunking: Vec<Chunking>,
    /// The chunking of m8's conditions.
    pub chunks: String,
    /// Passages per prompt, trained on and evaluated.
    pub ks: Vec<usize>,
    /// Held-out single-hop questions asked per condition.
    pub eval_questions: usize,
    /// Held-out questions asked (gold and closed-book) at each evaluation during training.
    pub curve_questions: usize,
    /// Longest answer generated, in tokens.
    pub answer_tokens: usize,
    /// Reading examples drawn before training (rows are sampled from this pool).
    pub pool: usize,
    /// Questions about other passages of the prompt added after the first, at most.
    pub extra_questions: usize,
    /// Fraction of rows that are seen documents (language modelling) rather than reading examples.
    pub document_fraction: f64,
    /// Seeds the pool, the batches and the evaluation's question sample.
    pub seed: u64,
    /// The GPT; `vocab_size` is the BPE vocabulary learned from the seen documents.
    pub model: GptConfig,
    pub train: TrainConfig,
    pub retriever: Vec<RetrieverSpec>,
}

/// A named way to cut documents into passages.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Chunking {
    pub name: String,
    pub chunk: ChunkConfig,
}

/// What one question gave under one condition.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub question: String,
    pub answer: String,
    pub prediction: String,
    pub correct: bool,
    /// Per-token perplexity of the gold answer (with its stop) given the prompt.
    pub answer_perplexity: f64,
    /// Whether a gold passage was in the prompt.
    pub gold_in_context: bool,
    /// Passage ids in the prompt, in order.
    pub passages: Vec<String>,
}

/// A context condition: a name and the passages it puts before a question.
struct Condition {
    name: String,
    /// For retrieved conditions: the retriever and k.
    retrieved: Option<(String, usize)>,
}

fn held_out_docs(world: &World) -> HashSet<String> {
    world
        .entities()
        .filter(|&e| world.is_held_out(e))
        .map(|e| e.doc_id())
        .collect()
}

/// The held-out single-hop questions asked: lookups whose gold documents all belong to held-out
/// entities (documents the reader never trained on), a seeded sample of `n`.
pub fn eval_questions(world: &World, n: usize, seed: u64) -> Vec<Question> {
    let held = held_out_docs(world);
    let mut qs: Vec<Question> = world
        .questions()
        .iter()
        .filter(|q| {
            q.kind == QuestionKind::Lookup
                && q.split == Split::HeldOut
                && q.gold_doc_ids.iter().all(|d| held.contains(d))
        })
        .cloned()
        .collect();
    qs.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    qs.truncate(n);
    qs
}

/// Everything the reader trains on, from seen entities only.
struct TrainingData {
    tokenizer: AnyTokenizer,
    pool: Vec<Example>,
    /// Seen documents as passage lines, tokenized.
    docs: Vec<Vec<u32>>,
}

fn training_data(
    cfg: &ReaderConfig,
    world: &World,
    by_chunking: &[Passages],
) -> Result<TrainingData> {
    let held = held_out_docs(world);
    let seen_docs: Vec<String> = world
        .documents()
        .filter(|d| !held.contains(&d.id))
        .map(|d| format!("* {}: {}\n", d.title, d.text))
        .collect();
    // Questions about seen entities only (no held-out entity anywhere in them).
    let questions: Vec<Question> = world
        .entities()
        .filter(|&e| !world.is_held_out(e))
        .flat_map(|e| world.lookups_of(e))
        .filter(|q| q.split == Split::Seen)
        .collect();
    ensure!(
        !questions.is_empty(),
        "m8: the world has no seen lookups to train on"
    );
    // The BPE learns from what the reader will read: documents and the prompt scaffolding.
    let mut bpe_text = seen_docs.concat();
    for q in questions.iter().take(2000) {
        bpe_text.push_str(&format!("Q: {}\nA:{}", q.text, continuation(&q.answer)));
    }
    let tokenizer: AnyTokenizer =
        BpeTokenizer::train(&bpe_text, cfg.model.vocab_size, true)?.into();
    // Distractors come from BM25 over the seen passages of each chunking.
    let seen: Vec<(Passages, Bm25Index)> = by_chunking
        .iter()
        .map(|p| {
            let kept = Passages::from_passages(
                p.config.clone(),
                p.passages
                    .iter()
                    .filter(|x| !held.contains(&x.doc_id))
                    .cloned()
                    .collect(),
            );
            let index = Bm25Index::build(
                Bm25Config::default(),
                kept.passages
                    .iter()
                    .map(|x| (x.id.clone(), format!("{} {}", x.title, x.text))),
            )?;
            Ok((kept, index))
        })
        .collect::<Result<_>>()?;
    // Per chunking: passage id → the seen questions it answers (the extra questions of a prompt).
    let asks: Vec<HashMap<String, Vec<Question>>> = seen
        .iter()
        .map(|(passages, _)| {
            let mut map: HashMap<String, Vec<Question>> = HashMap::new();
            for q in &questions {
                let gold = passages.gold(q)?;
                map.entry(gold[0].id.clone()).or_default().push(q.clone());
            }
            Ok(map)
        })
        .collect::<Result<_>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut pool = Vec::with_capacity(cfg.pool);
    let mut tries = 0;
    while pool.len() < cfg.pool {
        tries += 1;
        ensure!(
            tries < cfg.pool * 4 + 100,
            "m8: most reading examples do not fit a block of {} tokens",
            cfg.model.block_size
        );
        let q = questions.choose(&mut rng).expect("non-empty");
        let c = rng.gen_range(0..seen.len());
        let (passages, index) = &seen[c];
        let k = *cfg.ks.choose(&mut rng).expect("non-empty ks");
        if let Some(e) = rc::reading_example(
            q,
            passages,
            index,
            k,
            &asks[c],
            cfg.extra_questions,
            &tokenizer,
            cfg.model.block_size + 1,
            &mut rng,
        )? {
            pool.push(e);
        }
    }
    // Sorted by length: a batch is drawn from neighbours, so its rows need little padding.
    pool.sort_by_key(|e| e.tokens.len());
    let docs = seen_docs.iter().map(|d| tokenizer.encode(d)).collect();
    Ok(TrainingData {
        tokenizer,
        pool,
        docs,
    })
}

/// Greedy answer, exact match and the gold answer's perplexity for one prompt; `gold` are the ids
/// of the passages that state the answer.
fn ask(
    lm: &mut dyn LanguageModel,
    passages: &[&Passage],
    gold: &[String],
    q: &Question,
    block: usize,
    answer_tokens: usize,
) -> Result<Outcome> {
    let count = |s: &str| lm.count_tokens(s).unwrap_or(s.len());
    let (prompt, used) = fit_prompt(passages, &q.text, block - answer_tokens, count)?;
    let completion = lm.complete(&Request {
        prompt: &prompt,
        max_tokens: answer_tokens,
        stop: &[STOP],
        seed: 0,
    })?;
    let scored = lm
        .score(&prompt, &continuation(&q.answer))?
        .context("the reader must be able to score")?;
    let gold: HashSet<&str> = gold.iter().map(String::as_str).collect();
    Ok(Outcome {
        question: q.id.clone(),
        answer: q.answer.clone(),
        prediction: completion.text.trim().to_string(),
        correct: exact_match(&completion.text, &q.answer),
        answer_perplexity: scored.perplexity(),
        gold_in_context: used.iter().any(|p| gold.contains(p.id.as_str())),
        passages: used.iter().map(|p| p.id.clone()).collect(),
    })
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

pub fn run_reader(ctx: &Context) -> Result<String> {
    let (cfg, raw): (ReaderConfig, toml::Value) = ctx.load_config(PHASE, READER)?;
    ensure!(
        cfg.ks.iter().all(|&k| k >= 1),
        "m8_reader: every `ks` value must be at least 1"
    );
    ensure!(
        cfg.answer_tokens >= 1 && cfg.answer_tokens < cfg.model.block_size,
        "m8_reader: `answer_tokens` must be between 1 and model.block_size − 1"
    );
    ensure!(
        (0.0..1.0).contains(&cfg.document_fraction),
        "m8_reader: `document_fraction` must be in [0, 1)"
    );
    let started = Instant::now();
    let world = World::generate(&cfg.world)?;
    let by_chunking: Vec<Passages> = cfg
        .chunking
        .iter()
        .map(|c| Passages::new(c.chunk.clone(), world.documents()))
        .collect::<Result<_>>()?;
    let main = cfg
        .chunking
        .iter()
        .position(|c| c.name == cfg.chunks)
        .with_context(|| {
            format!(
                "m8_reader: `chunks = \"{}\"` names no chunking (have {})",
                cfg.chunks,
                cfg.chunking
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let data = training_data(&cfg, &world, &by_chunking)?;
    let prep_s = started.elapsed().as_secs_f64();

    let mut rec = RunWriter::create(ctx, MILESTONE, "reader", &raw, cfg.train.seed)?;
    let mut model = cfg.model.clone();
    model.vocab_size = data.tokenizer.vocab_size();
    let mut trainer = Trainer::new(RunConfig {
        model: model.clone(),
        train: cfg.train.clone(),
    })?;
    let questions = eval_questions(&world, cfg.eval_questions, cfg.seed);
    ensure!(!questions.is_empty(), "m8: no held-out lookups to evaluate");
    let curve_qs = &questions[..cfg.curve_questions.min(questions.len())];
    let passages = &by_chunking[main];
    let block = model.block_size;
    let greedy = GptLm::greedy();

    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(1));
    let bar = ctx.progress(cfg.train.steps as u64, "m8 training the reader");
    let train_started = Instant::now();
    let mut window = Vec::new();
    for step in 0..cfg.train.steps {
        // Reading rows from a window of similar lengths; document rows as long as the longest.
        let b = cfg.train.batch_size;
        let centre = rng.gen_range(0..data.pool.len());
        let near = centre.saturating_sub(2 * b)..(centre + 2 * b).min(data.pool.len());
        let mut rows: Vec<Example> = Vec::with_capacity(b);
        let mut documents = 0;
        for _ in 0..b {
            if rng.gen_bool(cfg.document_fraction) {
                documents += 1;
            } else {
                rows.push(data.pool[rng.gen_range(near.clone())].clone());
            }
        }
        let longest = rows
            .iter()
            .map(|e| e.tokens.len())
            .max()
            .unwrap_or(block + 1);
        for _ in 0..documents {
            rows.push(rc::document_example(&data.docs, longest, &mut rng)?);
        }
        let refs: Vec<&Example> = rows.iter().collect();
        let stats = trainer.step_on(&rc::batch(&refs, block)?)?;
        window.push(stats.loss as f64);
        let last = step + 1 == cfg.train.steps;
        if (step + 1) % cfg.train.log_interval == 0 || last {
            rec.scalar(step as u64 + 1, "train_loss", mean(window.drain(..)))?;
        }
        if (step + 1) % cfg.train.eval_interval == 0 || last {
            let mut lm = GptLm::new(
                "reader",
                Generator::from_trainer(&trainer, data.tokenizer.clone(), greedy)?,
            );
            for (name, with_gold) in [("gold", true), ("closed_book", false)] {
                let outcomes = curve_qs
                    .iter()
                    .map(|q| {
                        let gold = passages.gold(q)?;
                        let ids: Vec<String> = gold.iter().map(|p| p.id.clone()).collect();
                        let ctxt = if with_gold { gold } else { vec![] };
                        ask(&mut lm, &ctxt, &ids, q, block, cfg.answer_tokens)
                    })
                    .collect::<Result<Vec<_>>>()?;
                rec.scalar(
                    step as u64 + 1,
                    &format!("curve/{name}/exact_match"),
                    mean(outcomes.iter().map(|o| f64::from(u8::from(o.correct)))),
                )?;
                rec.scalar(
                    step as u64 + 1,
                    &format!("curve/{name}/answer_perplexity"),
                    mean(outcomes.iter().map(|o| o.answer_perplexity)),
                )?;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let train_s = train_started.elapsed().as_secs_f64();
    let ckpt = phase2_lm::checkpoint::dir_for(ctx, READER);
    phase2_lm::checkpoint::save(&ckpt, &trainer, &data.tokenizer)?;

    // Retrievers over the passages of the main chunking.
    let dir = ctx
        .data_cache
        .join("worlds")
        .join(format!("m8_passages_{}", cfg.chunks));
    passages.write_beir(&dir, world.questions())?;
    let collection = Collection::load(&dir)?;
    let mut built: BTreeMap<String, Rc<dyn Retriever>> = BTreeMap::new();
    for spec in &cfg.retriever {
        let b = spec.build(ctx, &collection, &dir, &built)?;
        built.insert(spec.name().to_string(), b.retriever);
    }

    let mut conditions = vec![
        Condition {
            name: "closed_book".into(),
            retrieved: None,
        },
        Condition {
            name: "random".into(),
            retrieved: None,
        },
        Condition {
            name: "gold".into(),
            retrieved: None,
        },
    ];
    for spec in &cfg.retriever {
        for &k in &cfg.ks {
            conditions.push(Condition {
                name: format!("{}@{k}", spec.name()),
                retrieved: Some((spec.name().to_string(), k)),
            });
        }
    }
    let eval_started = Instant::now();
    let mut lm = GptLm::new(
        "reader",
        Generator::from_trainer(&trainer, data.tokenizer.clone(), greedy)?,
    );
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let mut outcomes: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    let bar = ctx.progress(
        (conditions.len() * questions.len()) as u64,
        "m8 asking held-out questions",
    );
    let mut random = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(2));
    for c in &conditions {
        let mut out = Vec::with_capacity(questions.len());
        for q in &questions {
            let ctxt: Vec<&Passage> = match (c.name.as_str(), &c.retrieved) {
                ("closed_book", _) => vec![],
                ("gold", _) => passages.gold(q)?,
                ("random", _) => (0..max_k)
                    .map(|_| &passages.passages[random.gen_range(0..passages.passages.len())])
                    .collect(),
                (_, Some((r, k))) => built[r]
                    .search(&q.text, *k)?
                    .iter()
                    .filter_map(|h| passages.get(&h.doc_id))
                    .collect(),
                _ => unreachable!("every condition is one of the above"),
            };
            let ids: Vec<String> = passages.gold(q)?.iter().map(|p| p.id.clone()).collect();
            out.push(ask(&mut lm, &ctxt, &ids, q, block, cfg.answer_tokens)?);
            bar.inc(1);
        }
        let em = mean(out.iter().map(|o| f64::from(u8::from(o.correct))));
        rec.summary(&format!("{}/exact_match", c.name), em);
        rec.summary(
            &format!("{}/answer_perplexity", c.name),
            mean(out.iter().map(|o| o.answer_perplexity)),
        );
        if let Some((_, _)) = &c.retrieved {
            let with_gold: Vec<&Outcome> = out.iter().filter(|o| o.gold_in_context).collect();
            rec.summary(
                &format!("{}/gold_retrieved", c.name),
                with_gold.len() as f64 / out.len() as f64,
            );
            rec.summary(
                &format!("{}/exact_match_when_gold_retrieved", c.name),
                mean(with_gold.iter().map(|o| f64::from(u8::from(o.correct)))),
            );
        }
        outcomes.insert(c.name.clone(), out);
    }
    bar.finish_and_clear();
    let eval_s = eval_started.elapsed().as_secs_f64();
    rec.summary("questions", questions.len() as f64);
    rec.summary("pool", data.pool.len() as f64);
    rec.summary("parameters", trainer.params().len() as f64);
    rec.artifact("outcomes", &outcomes)?;
    rec.artifact(
        "timings",
        &BTreeMap::from([
            ("prepare_s", prep_s),
            ("train_s", train_s),
            ("evaluate_s", eval_s),
        ]),
    )?;
    rec.finish()?;
    let em = |name: &str| {
        mean(
            outcomes[name]
                .iter()
                .map(|o| f64::from(u8::from(o.correct))),
        )
    };
    Ok(format!(
        "held-out exact match: gold {:.3}, closed book {:.3}, random {:.3} ({} questions; trained {:.0} s)",
        em("gold"),
        em("closed_book"),
        em("random"),
        questions.len(),
        train_s
    ))
}
