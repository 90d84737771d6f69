//! m8 — the reader: phase 2's GPT trained on the world's seen documents and reading examples, then
//! asked held-out questions with no context, random context, retrieved context (each retriever,
//! k = 1…5) and the gold passage.
//!
//! One record, `records/m8/reader/`: the training curve (loss, and held-out exact match and answer
//! perplexity per context condition during training) as metrics; per condition the mean exact match
//! and answer perplexity in the summary; every question's outcome per condition as an artifact (the
//! paired tests, the traces and the figures are computed from it); timings in an artifact of
//! their own. The trained model is saved to `checkpoints/m8_reader/` (not committed).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use phase2_lm::generator::Generator;
use phase2_lm::lm::{GptLm, LanguageModel, Request};
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, BpeTokenizer, Tokenizer};
use phase2_lm::train::TrainConfig;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::plot::entity::Entity;
use viz::record::Record;
use viz::Context;

use phase3_rag::asker::{held_out_docs, Condition, Job, Outcome};
use phase3_rag::beir::Collection;
use phase3_rag::chunk::ChunkConfig;
use phase3_rag::rc::{self, Example};
use phase3_rag::reader::{continuation, fit_prompt, Passages, STOP};
use phase3_rag::retrieve::{Memo, Retriever};
use phase3_rag::retrievers::RetrieverSpec;
use phase3_rag::saved::{reader_dir, SavedReader};
pub use phase3_rag::saved::{MILESTONE, READER};
use phase3_rag::world::{Question, Split, World, WorldConfig};

mod answers;
mod figures;
mod log;
mod run;

use crate::records::ReaderSummary;

pub use figures::figures;
pub use log::log_entries;
pub use run::run_reader;

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
    /// Retrievers (names from `retriever`) whose best passages are a training example's
    /// distractors, one drawn per example, each built over the seen passages of every chunking.
    pub distractors: Vec<String>,
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

/// Everything the reader trains on, from seen entities only.
struct TrainingData {
    tokenizer: AnyTokenizer,
    pool: Vec<Example>,
    /// Seen documents as passage lines, tokenized.
    docs: Vec<Vec<u32>>,
}

fn training_data(
    ctx: &Context,
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
    // Distractors come from the configured retrievers over the seen passages of each chunking.
    ensure!(
        !cfg.distractors.is_empty(),
        "m8_reader: `distractors` must name at least one retriever"
    );
    let mut seen: Vec<(Passages, Vec<Rc<dyn Retriever>>)> = Vec::new();
    for p in by_chunking {
        let kept = Passages::from_passages(
            p.config.clone(),
            p.passages
                .iter()
                .filter(|x| !held.contains(&x.doc_id))
                .cloned()
                .collect(),
        );
        let collection = Collection {
            docs: kept
                .passages
                .iter()
                .map(|x| phase3_rag::beir::Doc {
                    id: x.id.clone(),
                    title: x.title.clone(),
                    text: x.text.clone(),
                })
                .collect(),
            queries: Vec::new(),
            qrels: Default::default(),
        };
        let mut built: BTreeMap<String, Rc<dyn Retriever>> = BTreeMap::new();
        for spec in &cfg.retriever {
            let needed = cfg.distractors.iter().any(|d| d == spec.name())
                || cfg.retriever.iter().any(|h| match h {
                    RetrieverSpec::Hybrid { name, of, .. } => {
                        cfg.distractors.contains(name) && of.iter().any(|o| o == spec.name())
                    }
                    _ => false,
                });
            if !needed {
                continue;
            }
            ensure!(
                !matches!(spec, RetrieverSpec::Dual { .. }),
                "m8_reader: `distractors` cannot use the dual encoder `{}` (it trains on questions)",
                spec.name()
            );
            let b = spec.build(ctx, &collection, Path::new("."), &built)?;
            built.insert(spec.name().to_string(), b.retriever);
        }
        // Each question is drawn many times: its ranking is searched once (a batch of all of them),
        // deep enough for the largest k plus the gold passage.
        let depth = cfg.ks.iter().copied().max().unwrap_or(1) + 1;
        let texts: Vec<&str> = questions.iter().map(|q| q.text.as_str()).collect();
        let chosen = cfg
            .distractors
            .iter()
            .map(|d| {
                let inner = built.get(d).cloned().with_context(|| {
                    format!("m8_reader: `distractors` names `{d}`, which is not a retriever of the config")
                })?;
                let memo = Memo::new(inner, depth);
                memo.prefetch(&texts)?;
                Ok(Rc::new(memo) as Rc<dyn Retriever>)
            })
            .collect::<Result<Vec<_>>>()?;
        seen.push((kept, chosen));
    }
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
        let (passages, retrievers) = &seen[c];
        let retriever = retrievers
            .choose(&mut rng)
            .expect("at least one distractor retriever");
        let k = *cfg.ks.choose(&mut rng).expect("non-empty ks");
        if let Some(e) = rc::reading_example(
            q,
            passages,
            retriever.as_ref(),
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

/// The context conditions, in the order of the record: no context, random passages, each
/// retriever at each k, the gold passage.
fn conditions(cfg: &ReaderConfig) -> Vec<Condition> {
    let plain = |name: &str| Condition {
        name: name.into(),
        retrieved: None,
    };
    let mut out = vec![plain("closed_book"), plain("random")];
    for spec in &cfg.retriever {
        for &k in &cfg.ks {
            out.push(Condition {
                name: format!("{}@{k}", spec.name()),
                retrieved: Some((spec.name().to_string(), k)),
            });
        }
    }
    out.push(plain("gold"));
    out
}

/// The conditions drawn over training (a cheaper subset): closed book, random, the first
/// retriever at the largest k, gold.
fn curve_conditions(cfg: &ReaderConfig) -> Vec<String> {
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let mut out = vec!["closed_book".to_string(), "random".to_string()];
    if let Some(r) = cfg.retriever.first() {
        out.push(format!("{}@{max_k}", r.name()));
    }
    out.push("gold".into());
    out
}

/// Attention of one answer over its prompt (mean over heads), for the figure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AnswerAttention {
    pub condition: String,
    pub question: String,
    /// The prompt's tokens, decoded.
    pub prompt_tokens: Vec<String>,
    /// The answer tokens each attending row predicts.
    pub answer_tokens: Vec<String>,
    /// Token range of the answer inside the gold passage of the prompt.
    pub span: (usize, usize),
    /// `[layer][answer position][prompt token]`.
    pub maps: Vec<Vec<Vec<f64>>>,
}

/// Where the answer tokens look: per layer, the mean attention mass (over heads and answer
/// positions) on the tokens of the answer inside the gold passage, the same mass if attention were
/// uniform over the visible tokens, the number of questions, and the example (first correct answer
/// whose gold passage is not the first passage).
pub struct SpanAttention {
    pub per_layer: Vec<f64>,
    pub uniform: f64,
    pub questions: usize,
    pub example: Option<AnswerAttention>,
}

/// Byte offset at which each token of `ids` starts in its decoded text.
fn token_starts(tokenizer: &AnyTokenizer, ids: &[u32]) -> Vec<usize> {
    let mut at = 0;
    ids.iter()
        .map(|&id| {
            let start = at;
            at += match tokenizer {
                AnyTokenizer::Bpe(b) => b.token_bytes(id).map_or(0, <[u8]>::len),
                AnyTokenizer::Char(c) => c.decode(&[id]).len(),
            };
            start
        })
        .collect()
}

/// [`SpanAttention`] of the reader (as the readable candle model `gpt`) on the jobs whose outcome
/// had the gold passage in the prompt.
fn span_attention(
    gpt: &phase2_lm::model::Gpt,
    tokenizer: &AnyTokenizer,
    condition: &str,
    jobs: &[Job],
    outcomes: &[Outcome],
    block: usize,
    answer_tokens: usize,
) -> Result<SpanAttention> {
    use candle_core::{Device, Tensor};
    let n_layer = gpt.cfg.n_layer;
    let mut mass = vec![0.0; n_layer];
    let (mut uniform, mut n) = (0.0, 0usize);
    let mut example = None;
    for (job, outcome) in jobs.iter().zip(outcomes) {
        if !outcome.gold_in_context {
            continue;
        }
        let q = job.question;
        let count = |s: &str| tokenizer.encode(s).len();
        let (prompt, used) = fit_prompt(&job.passages, &q.text, block - answer_tokens, count)?;
        let Some(gold) = used.iter().find(|p| job.gold.contains(&p.id)) else {
            continue;
        };
        let line = gold.line();
        let (Some(line_at), Some(in_line)) = (prompt.find(&line), line.find(&q.answer)) else {
            continue;
        };
        let span_bytes = line_at + in_line..line_at + in_line + q.answer.len();
        let ids = tokenizer.encode(&prompt);
        let cont = tokenizer.encode(&continuation(&q.answer));
        let s = ids.len();
        let starts = token_starts(tokenizer, &ids);
        let span: Vec<usize> = (0..s)
            .filter(|&i| {
                let end = starts.get(i + 1).copied().unwrap_or(prompt.len());
                starts[i] < span_bytes.end && end > span_bytes.start
            })
            .collect();
        let all: Vec<u32> = ids.iter().chain(&cont).copied().collect();
        if span.is_empty() || all.len() > block || cont.len() < 2 {
            continue;
        }
        let idx = Tensor::from_slice(&all, (1, all.len()), &Device::Cpu)?;
        let (_, att) = gpt.forward_with_attention(&idx)?;
        // Rows predicting the answer's tokens (not its closing newline).
        let rows: Vec<usize> = (s - 1..s - 1 + cont.len() - 1).collect();
        let mut maps = Vec::with_capacity(n_layer);
        for (l, a) in att.iter().enumerate() {
            let a: Vec<Vec<Vec<f32>>> = a.squeeze(0)?.to_vec3()?;
            let heads = a.len() as f64;
            let mut layer_map = Vec::with_capacity(rows.len());
            for &r in &rows {
                let mean_row: Vec<f64> = (0..s)
                    .map(|k| a.iter().map(|h| f64::from(h[r][k])).sum::<f64>() / heads)
                    .collect();
                mass[l] += span.iter().map(|&k| mean_row[k]).sum::<f64>() / rows.len() as f64;
                layer_map.push(mean_row);
            }
            maps.push(layer_map);
        }
        uniform += rows
            .iter()
            .map(|&r| span.len() as f64 / (r + 1) as f64)
            .sum::<f64>()
            / rows.len() as f64;
        n += 1;
        let gold_not_first = used.first().is_some_and(|p| p.id != gold.id);
        if example.is_none() && outcome.correct && gold_not_first {
            example = Some(AnswerAttention {
                condition: condition.to_string(),
                question: q.text.clone(),
                prompt_tokens: ids.iter().map(|&t| tokenizer.decode(&[t])).collect(),
                answer_tokens: cont[..cont.len() - 1]
                    .iter()
                    .map(|&t| tokenizer.decode(&[t]))
                    .collect(),
                span: (span[0], span[span.len() - 1] + 1),
                maps,
            });
        }
    }
    ensure!(
        n > 0,
        "no question had its gold passage and answer span in the prompt"
    );
    Ok(SpanAttention {
        per_layer: mass.iter().map(|m| m / n as f64).collect(),
        uniform: uniform / n as f64,
        questions: n,
        example,
    })
}

/// One question → passages → answer, for the log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trace {
    pub condition: String,
    pub question: String,
    pub answer: String,
    pub prediction: String,
    pub correct: bool,
    pub gold_in_context: bool,
    /// The prompt's passage lines, in order.
    pub passages: Vec<String>,
}

/// The condition traced in the log: the first retriever at the middle k.
fn traced_condition(cfg: &ReaderConfig) -> Option<String> {
    let k = cfg.ks[cfg.ks.len() / 2];
    cfg.retriever.first().map(|r| format!("{}@{k}", r.name()))
}

/// By rule, not by hand: the first three right and the first three wrong answers, in question
/// order, of the traced condition.
fn traces(
    cfg: &ReaderConfig,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
    questions: &[Question],
    passages: &Passages,
) -> Vec<Trace> {
    let Some(cond) = traced_condition(cfg) else {
        return Vec::new();
    };
    let Some(out) = outcomes.get(&cond) else {
        return Vec::new();
    };
    let mut picked = Vec::new();
    for correct in [true, false] {
        for (o, q) in out
            .iter()
            .zip(questions)
            .filter(|(o, _)| o.correct == correct)
            .take(3)
        {
            picked.push(Trace {
                condition: cond.clone(),
                question: q.text.clone(),
                answer: o.answer.clone(),
                prediction: o.prediction.clone(),
                correct: o.correct,
                gold_in_context: o.gold_in_context,
                passages: o
                    .passages
                    .iter()
                    .filter_map(|id| passages.get(id))
                    .map(|p| p.line().trim_end().to_string())
                    .collect(),
            });
        }
    }
    picked
}

const FIG_LOSS: &str = "m8_loss_curves.png";
const FIG_PIPELINE: &str = "m8_rag_pipeline.png";
const FIG_ATTENTION: &str = "m8_context_attention.png";

/// A name as a diagram node id (letters, digits, `_`).
fn node_id(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("r_{id}")
}

/// The RAG pipeline the m8 config runs, stage by stage: chunker, each configured retriever (a hybrid
/// drawn from the retrievers it fuses), top-k, prompt, reader, answer. Built from the config, not
/// drawn by hand, so a changed config draws a changed diagram.
pub fn pipeline(cfg: &ReaderConfig) -> viz::diagram::Diagram {
    use viz::diagram::Diagram;
    let chunk = cfg
        .chunking
        .iter()
        .find(|c| c.name == cfg.chunks)
        .map(|c| match &c.chunk {
            ChunkConfig::Sentences { max_chars } => {
                format!("the world's documents, cut into {} passages: whole sentences, at most {max_chars} characters each, titled", label(&c.name))
            }
            ChunkConfig::Characters { size, overlap } => {
                format!("the world's documents, cut into {} passages: {size} characters, {overlap} overlapping, titled", label(&c.name))
            }
            ChunkConfig::Tokens { size, overlap, .. } => {
                format!("the world's documents, cut into {} passages: {size} tokens, {overlap} overlapping, titled", label(&c.name))
            }
        })
        .unwrap_or_else(|| format!("the world's documents, cut into {} passages (not configured)", label(&cfg.chunks)));
    // Only the retrievers carry colour (theirs in every plot); every other stage is neutral grey.
    const STAGE: Entity = Entity::Plain;
    // The documents and their chunker are one box, beside the question on the top row: every
    // retriever then sits one row below both of its inputs, and no edge has to skirt a box.
    let mut d = Diagram::new()
        .node_in("chunker", &chunk, STAGE)
        .node_in("question", "question", STAGE);
    for r in &cfg.retriever {
        let label = match r {
            RetrieverSpec::Bm25 { name, bm25 } => {
                format!("{name}: BM25 (k1 {}, b {})", bm25.k1, bm25.b)
            }
            RetrieverSpec::Minilm { name, .. } => {
                format!("{name}: all-MiniLM-L6-v2, exact cosine")
            }
            RetrieverSpec::Dual { name, .. } => {
                format!("{name}: dual encoder trained here, exact cosine")
            }
            RetrieverSpec::Hybrid { name, of, k, depth } => {
                format!(
                    "{name}: rank fusion of {}\n(reciprocal ranks, k = {k}, top {depth})",
                    of.join(" + ")
                )
            }
        };
        let id = node_id(r.name());
        // A retriever's box in its colour of every plot (house palette).
        d = match Entity::of_name(r.name()) {
            Some(e) => d.node_in(&id, &label, e),
            None => d.node(&id, &label),
        };
        match r {
            RetrieverSpec::Hybrid { of, .. } => {
                for o in of {
                    d = d.edge(&node_id(o), &id, None);
                }
            }
            _ => {
                d = d.edge("chunker", &id, None).edge("question", &id, None);
            }
        }
    }
    let ks: Vec<String> = cfg.ks.iter().map(|k| k.to_string()).collect();
    d = d.node_in(
        "topk",
        &format!("top-k passages, k ∈ {{{}}}", ks.join(", ")),
        STAGE,
    );
    for r in &cfg.retriever {
        d = d.edge(&node_id(r.name()), "topk", None);
    }
    d.node_in(
        "prompt",
        &format!(
            "prompt: passages best first, then the question; worst-ranked dropped to fit {} tokens",
            cfg.model.block_size - cfg.answer_tokens
        ),
        STAGE,
    )
    .node_in(
        "reader",
        &format!(
            "reader: GPT, {} layers × {} heads, d_model {}, BPE of {} tokens",
            cfg.model.n_layer, cfg.model.n_head, cfg.model.d_model, cfg.model.vocab_size
        ),
        STAGE,
    )
    .node_in(
        "answer",
        &format!(
            "answer: greedy, at most {} tokens, up to the first newline",
            cfg.answer_tokens
        ),
        STAGE,
    )
    .edge("topk", "prompt", None)
    .edge("question", "prompt", None)
    .edge("prompt", "reader", None)
    .edge("reader", "answer", None)
}
const FIG_K: &str = "m8_perplexity_vs_k.png";

fn record(ctx: &Context) -> Option<Record> {
    Record::load(ctx, MILESTONE, "reader").ok()
}

pub(crate) fn label(condition: &str) -> String {
    condition.replace('_', " ")
}

/// The milestone's headline: held-out exact match with gold and with the best retrieved context.
pub fn headline(ctx: &Context) -> Option<String> {
    let rec = record(ctx)?;
    let cfg: ReaderConfig = rec.config_as().ok()?;
    let summary: ReaderSummary = rec.summary_as().ok()?;
    let mut best: Option<(String, f64)> = None;
    for c in conditions(&cfg).iter().filter(|c| c.retrieved.is_some()) {
        let v = summary.conditions.get(&c.name)?.exact_match;
        if best.as_ref().is_none_or(|b| v > b.1) {
            best = Some((c.name.clone(), v));
        }
    }
    let (name, v) = best?;
    Some(crate::headline_text(
        "m8",
        &serde_json::json!({
            "gold": format!("{:.1} %", 100.0 * summary.conditions.get("gold")?.exact_match),
            "retrieved": format!("{:.1} %", 100.0 * v),
            "condition": name,
        }),
    ))
}

/// `cargo xtask ask "question"`: the saved reader answers from its saved passage index.
pub fn ask(ctx: &Context, question: &str, k: Option<usize>) -> Result<()> {
    ensure!(!question.trim().is_empty(), "the question is empty");
    let t0 = Instant::now();
    let reader = SavedReader::load(&reader_dir(ctx)).with_context(|| {
        format!(
            "no reader to ask: {}",
            viz::record::produced_by(
                ctx,
                &format!("cargo xtask phase3 --only {READER}"),
                MILESTONE,
                "reader",
            )
        )
    })?;
    let settings = &reader.settings;
    let k = k.unwrap_or(settings.k);
    ensure!(k >= 1, "--k must be at least 1");
    let mut lm = GptLm::new(
        "reader",
        Generator::from_checkpoint(&reader.dir, GptLm::greedy())?,
    );
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let block = lm.context_tokens().unwrap_or(usize::MAX);
    let count = |s: &str| lm.count_tokens(s).unwrap_or(s.len());
    let (prompt, used, hits) = reader.prompt(
        question,
        k,
        block.saturating_sub(settings.answer_tokens),
        count,
    )?;
    let retrieve_ms = t1.elapsed().as_secs_f64() * 1e3;
    let t2 = Instant::now();
    let answer = lm.complete(&Request {
        prompt: &prompt,
        max_tokens: settings.answer_tokens,
        stop: &[STOP],
        seed: 0,
    })?;
    let read_ms = t2.elapsed().as_secs_f64() * 1e3;
    println!(
        "passages (BM25 over `{}` chunks, best first):",
        settings.chunks
    );
    for (i, p) in used.iter().enumerate() {
        println!("  {}. [{}] {}: {}", i + 1, p.id, p.title, p.text);
    }
    if used.len() < hits.len() {
        println!(
            "  ({} more retrieved, left out to fit the {block}-token context)",
            hits.len() - used.len()
        );
    }
    println!("answer: {}", answer.text.trim());
    println!(
        "load {load_ms:.0} ms, retrieve and build the prompt {retrieve_ms:.1} ms, read {read_ms:.0} ms ({} prompt tokens, {} generated)",
        answer.prompt_tokens, answer.completion_tokens
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> ReaderConfig {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/phase3/quick/m8_reader.toml"
        );
        viz::load_toml(std::path::Path::new(path)).unwrap().0
    }

    #[test]
    fn m8_the_pipeline_diagram_is_built_from_the_configured_stages() {
        let cfg = quick();
        let d = pipeline(&cfg);
        let mermaid = d.to_mermaid().unwrap();
        for r in &cfg.retriever {
            assert!(mermaid.contains(&node_id(r.name())), "{mermaid}");
        }
        assert!(mermaid.contains("at most 120 characters"), "{mermaid}");
        // Another chunking and one retriever fewer: another diagram, and another picture.
        let mut other = cfg.clone();
        other.chunks = "document".into();
        other.retriever.retain(|r| r.name() != "hybrid");
        let changed = pipeline(&other);
        let m2 = changed.to_mermaid().unwrap();
        assert!(
            !m2.contains("r_hybrid") && m2.contains("at most 600 characters"),
            "{m2}"
        );
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        viz::plot::render_diagram(&d, "t", &a).unwrap();
        viz::plot::render_diagram(&changed, "t", &b).unwrap();
        assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }
}
