//! m4 — tokens and n-gram baselines.
//!
//! * `m4_tokenizers`: byte-level BPE trained on the training split at several vocabulary sizes, with
//!   and without GPT-2's regex pre-split; how many bytes one token carries on the validation split.
//! * `m4_ngrams`: character n-gram models (interpolated Kneser–Ney, the orders of the config) and a neural bigram
//!   trained by gradient descent; validation perplexity per character, and the bigram the network
//!   learned.
//!
//! Each `run_*` writes one record; `figures` and `log_entries` read only those records.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use candle_core::{DType, Device};
use phase1_mlp::schedule::LrSchedule;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::entity::Entity;
use viz::plot::{FigureSpec, Heatmap, LineChart, Marker, Series};
use viz::record::{Record, RunWriter};
use viz::table::Table;
use viz::Context;

use super::PHASE;
use crate::records::{
    bytes_per_token_key, kn_key, metric, BigramSummary, NgramSizes, NgramsSummary, SplitBytes,
};
use phase2_lm::bigram::{self, FitConfig, NeuralBigram};
use phase2_lm::data::{tiny_shakespeare, train_val_split};
use phase2_lm::ngram::NgramModel;
use phase2_lm::tokenizer::{BpeTokenizer, CharTokenizer, Tokenizer};
use std::collections::BTreeMap;

pub const TOKENIZERS: &str = "m4_tokenizers";
pub const NGRAMS: &str = "m4_ngrams";

const MILESTONE: &str = "m4";
const TOKENIZERS_RUN: &str = "tokenizers";
const NGRAMS_RUN: &str = "ngrams";
/// The neural bigram "comes within" the count bigram when its validation perplexity is at most
/// this fraction above it (the record's `neural_bigram_within_1pct_step`).
const WITHIN: f64 = 0.01;
/// The best Kneser–Ney model of the recorded n-gram run: `(n, validation perplexity per character)`.
/// Later milestones compare against it (same split, same characters).
pub fn best_ngram(ctx: &viz::Context) -> Option<(usize, f64)> {
    let r = viz::record::Record::load(ctx, MILESTONE, NGRAMS_RUN).ok()?;
    let s: NgramsSummary = r.summary_as().ok()?;
    (1..=12)
        .filter_map(|n| s.kn(n).map(|p| (n, p)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// How many distinct characters the recorded n-gram run saw in tiny-shakespeare: the vocabulary of
/// the character models, whose uniform guess costs ln V nats per character.
pub fn char_vocab(ctx: &viz::Context) -> Option<usize> {
    let r = viz::record::Record::load(ctx, MILESTONE, NGRAMS_RUN).ok()?;
    let table: BigramTable = r.artifact("neural_bigram").ok()?;
    Some(table.chars.chars().count())
}

pub const FIG_BPE: &str = "m4_bpe_compression.png";
pub const FIG_NGRAM: &str = "m4_ngram_perplexity.png";
pub const FIG_HEATMAP: &str = "m4_bigram_heatmap.png";

/// `configs/phase2/m4_tokenizers.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizersConfig {
    /// BPE vocabulary sizes to train (each >= 256).
    pub vocab_sizes: Vec<usize>,
    /// Train each size with these pre-split settings (`false`: raw bytes, `true`: GPT-2 regex).
    pub regex_split: Vec<bool>,
    /// How many characters of the validation split to show tokenized in the log.
    pub example_chars: usize,
}

/// `configs/phase2/m4_ngrams.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NgramsConfig {
    /// Orders of the Kneser–Ney models.
    pub orders: Vec<usize>,
    /// Add-k smoothing of the count bigram the neural bigram is compared with.
    pub add_k: f64,
    /// Characters sampled from the highest-order model for the log.
    pub sample_chars: usize,
    pub seed: u64,
    pub neural_bigram: NeuralBigramConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuralBigramConfig {
    pub steps: usize,
    pub batch_size: usize,
    pub schedule: LrSchedule,
    pub eval_every: usize,
}

/// `m4_tokenizers` from its config, on tiny-shakespeare.
pub fn tokenizers(ctx: &Context) -> Result<String> {
    let (cfg, _) = ctx.load_config::<TokenizersConfig>(PHASE, TOKENIZERS)?;
    run_tokenizers(ctx, &cfg, &tiny_shakespeare(ctx)?)
}

/// `m4_ngrams` from its config, on tiny-shakespeare.
pub fn ngrams(ctx: &Context) -> Result<String> {
    let (cfg, _) = ctx.load_config::<NgramsConfig>(PHASE, NGRAMS)?;
    run_ngrams(ctx, &cfg, &tiny_shakespeare(ctx)?)
}

// ------------------------------------------------------------------------------------------------
// m4_tokenizers

/// One trained tokenizer, as stored in the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenizerRow {
    /// "char" or "bpe".
    pub kind: String,
    pub vocab_size: usize,
    pub regex_split: bool,
    pub train_bytes_per_token: f64,
    pub val_bytes_per_token: f64,
    pub train_seconds: f64,
}

/// Trains every configured BPE on the training split of `text` and measures bytes per token.
pub fn run_tokenizers(ctx: &Context, cfg: &TokenizersConfig, text: &str) -> Result<String> {
    if let Some(&v) = cfg.vocab_sizes.iter().find(|&&v| v < 256) {
        bail!("m4_tokenizers: vocab_sizes contains {v}, but byte-level BPE needs at least 256");
    }
    let mut rec = RunWriter::create(ctx, MILESTONE, TOKENIZERS_RUN, cfg, 0)?;
    // Split by characters (as the char-level models do) so both tokenizers see the same text.
    let chars: Vec<char> = text.chars().collect();
    let (train, val) = train_val_split(&chars);
    let (train, val): (String, String) = (train.into_iter().collect(), val.into_iter().collect());
    rec.summaries(&SplitBytes {
        train_bytes: train.len() as u64,
        val_bytes: val.len() as u64,
    })?;

    let ratio = |bytes: &str, ids: usize| bytes.len() as f64 / ids.max(1) as f64;
    let char_tok = CharTokenizer::from_text(text);
    let mut rows = vec![TokenizerRow {
        kind: "char".into(),
        vocab_size: char_tok.vocab_size(),
        regex_split: false,
        train_bytes_per_token: ratio(&train, char_tok.encode(&train).len()),
        val_bytes_per_token: ratio(&val, char_tok.encode(&val).len()),
        train_seconds: 0.0,
    }];
    let mut examples = String::new();
    let example: String = val.chars().take(cfg.example_chars).collect();

    let bar = ctx.progress(
        (cfg.vocab_sizes.len() * cfg.regex_split.len()) as u64,
        "m4 bpe",
    );
    for &regex_split in &cfg.regex_split {
        for &vocab_size in &cfg.vocab_sizes {
            bar.set_message(format!("vocab {vocab_size} regex {regex_split}"));
            let t0 = Instant::now();
            let bpe = BpeTokenizer::train(&train, vocab_size, regex_split)?;
            let train_seconds = t0.elapsed().as_secs_f64();
            let val_ids = bpe.encode(&val);
            if bpe.decode(&val_ids) != val {
                bail!("BPE (vocab {vocab_size}, regex {regex_split}) does not decode the validation text back");
            }
            let row = TokenizerRow {
                kind: "bpe".into(),
                vocab_size: bpe.vocab_size(),
                regex_split,
                train_bytes_per_token: ratio(&train, bpe.encode(&train).len()),
                val_bytes_per_token: ratio(&val, val_ids.len()),
                train_seconds,
            };
            let key = bytes_per_token_key(vocab_size, split_name(regex_split));
            rec.summaries(&BTreeMap::from([(key, row.val_bytes_per_token)]))?;
            if vocab_size == *cfg.vocab_sizes.iter().max().unwrap_or(&vocab_size) {
                examples.push_str(&format!(
                    "vocab {} ({}): {}\n",
                    bpe.vocab_size(),
                    split_name(regex_split),
                    show_tokens(&bpe, &example)
                ));
            }
            rows.push(row);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    rec.artifact("tokenizers", &rows)?;
    rec.text("examples", &examples)?;
    rec.finish()?;

    let best = rows
        .iter()
        .max_by(|a, b| a.val_bytes_per_token.total_cmp(&b.val_bytes_per_token))
        .expect("the char row is always there");
    Ok(format!(
        "{} BPE tokenizers; best {:.2} bytes/token on val (vocab {}, {})",
        rows.len() - 1,
        best.val_bytes_per_token,
        best.vocab_size,
        if best.kind == "char" {
            "char"
        } else {
            split_name(best.regex_split)
        }
    ))
}

fn split_name(regex_split: bool) -> &'static str {
    if regex_split {
        "regex"
    } else {
        "bytes"
    }
}

/// `text` with token boundaries marked by `|`, whitespace made visible.
fn show_tokens(bpe: &BpeTokenizer, text: &str) -> String {
    bpe.encode(text)
        .iter()
        .map(|&id| visible(&bpe.decode(&[id])))
        .collect::<Vec<_>>()
        .join("|")
}

/// Whitespace as visible symbols (for figure ticks and token listings).
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' => '␣',
            '\n' => '⏎',
            c => c,
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// m4_ngrams

/// One Kneser–Ney model, as stored in the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NgramRow {
    pub n: usize,
    pub train_ppl: f64,
    pub val_ppl: f64,
    pub distinct_ngrams: usize,
    pub discounts: Vec<f64>,
}

/// The learned bigram for the heatmap: `probs[prev][next]` over `chars`, and how often each char
/// occurs in the training split (to order the axes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BigramTable {
    pub chars: String,
    pub char_counts: Vec<u64>,
    pub probs: Vec<Vec<f64>>,
}

/// Kneser–Ney n-grams and the neural bigram on the character tokens of `text`.
pub fn run_ngrams(ctx: &Context, cfg: &NgramsConfig, text: &str) -> Result<String> {
    if cfg.orders.is_empty() || cfg.orders.contains(&0) {
        bail!(
            "m4_ngrams: orders must be a non-empty list of n >= 1, got {:?}",
            cfg.orders
        );
    }
    if cfg.add_k.is_nan() || cfg.add_k <= 0.0 {
        bail!(
            "m4_ngrams: add_k must be positive (got {}) so that no bigram gets probability 0",
            cfg.add_k
        );
    }
    let mut rec = RunWriter::create(ctx, MILESTONE, NGRAMS_RUN, cfg, cfg.seed)?;
    let tok = CharTokenizer::from_text(text);
    let vocab = tok.vocab_size();
    let (train, val) = train_val_split(&tok.encode(text));
    let max_n = *cfg.orders.iter().max().expect("non-empty");
    rec.summaries(&NgramSizes {
        vocab_size: vocab as u64,
        train_tokens: train.len() as u64,
        val_tokens: val.len() as u64,
    })?;

    // Kneser–Ney models: every order scores the same positions (from max_n - 1 on).
    let mut rows = Vec::new();
    let mut highest = None;
    let bar = ctx.progress(cfg.orders.len() as u64, "m4 n-grams");
    for &n in &cfg.orders {
        bar.set_message(format!("n = {n}"));
        let model = NgramModel::train(&train, n, vocab)?;
        let row = NgramRow {
            n,
            train_ppl: model.cross_entropy(&train, max_n - 1).exp(),
            val_ppl: model.cross_entropy(&val, max_n - 1).exp(),
            distinct_ngrams: model.num_ngrams(),
            discounts: model.discounts(),
        };
        rec.summaries(&BTreeMap::from([(kn_key(n), row.val_ppl)]))?;
        rows.push(row);
        if n == max_n {
            highest = Some(model);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    rec.artifact("ngrams", &rows)?;
    if let Some(model) = highest {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let prompt = &val[..(max_n - 1).min(val.len())];
        let sample = model.sample(prompt, cfg.sample_chars, &mut rng);
        rec.text(
            "sample",
            &format!("{}{}", tok.decode(prompt), tok.decode(&sample)),
        )?;
    }

    // Count bigram with add-k smoothing: the target of the neural bigram.
    let train_counts = bigram::bigram_counts(&train, vocab)?;
    let val_counts = bigram::bigram_counts(&val, vocab)?;
    let count_probs = bigram::add_k_probs(&train_counts, vocab, cfg.add_k);
    let count_val_ppl = bigram::cross_entropy(&count_probs, &val_counts).exp();
    let count_train_ppl = bigram::cross_entropy(&count_probs, &train_counts).exp();

    // Neural bigram: f32 logits, Adam, minibatches of random (prev, next) pairs.
    let nb = &cfg.neural_bigram;
    let model = NeuralBigram::zeros(vocab, DType::F32, &Device::Cpu)?;
    let fit = FitConfig {
        steps: nb.steps,
        batch_size: nb.batch_size,
        schedule: nb.schedule.clone(),
        seed: cfg.seed,
        eval_every: nb.eval_every,
    };
    let bar = ctx.progress(nb.steps as u64, "m4 neural bigram");
    let mut reached_at = None;
    let mut last_val_ppl = f64::NAN;
    bigram::fit(&model, &train, &fit, |step, train_loss, m| {
        let val_ppl = bigram::cross_entropy(&m.probs()?, &val_counts).exp();
        rec.scalars(
            step as u64,
            &[(metric::TRAIN_LOSS, train_loss), (metric::VAL_PPL, val_ppl)],
        )?;
        if reached_at.is_none() && val_ppl <= (1.0 + WITHIN) * count_val_ppl {
            reached_at = Some(step);
        }
        last_val_ppl = val_ppl;
        bar.set_position(step as u64);
        bar.set_message(format!("loss {train_loss:.4} val ppl {val_ppl:.3}"));
        Ok(())
    })?;
    bar.finish_and_clear();
    let probs = model.probs()?;
    let neural_train_ppl = bigram::cross_entropy(&probs, &train_counts).exp();
    rec.summaries(&BigramSummary {
        count_bigram_val_ppl: count_val_ppl,
        count_bigram_train_ppl: count_train_ppl,
        neural_bigram_val_ppl: last_val_ppl,
        neural_bigram_train_ppl: neural_train_ppl,
        neural_bigram_within_1pct_step: reached_at.map(|step| step as u64),
    })?;

    let mut char_counts = vec![0u64; vocab];
    for &t in &train {
        char_counts[t as usize] += 1;
    }
    let table = BigramTable {
        chars: tok.chars().iter().collect(),
        char_counts,
        probs: probs
            .chunks(vocab)
            .map(|row| row.iter().map(|p| (p * 1e6).round() / 1e6).collect())
            .collect(),
    };
    rec.artifact("neural_bigram", &table)?;
    rec.finish()?;

    let ppl = |n: usize| {
        rows.iter()
            .find(|r| r.n == n)
            .map_or(f64::NAN, |r| r.val_ppl)
    };
    Ok(format!(
        "val ppl KN n=1 {:.2}, n={max_n} {:.2}; bigram count {:.3} vs neural {:.3}",
        ppl(1),
        ppl(max_n),
        count_val_ppl,
        last_val_ppl
    ))
}

// ------------------------------------------------------------------------------------------------
// figures and log, from records only

fn load(ctx: &Context, run: &str) -> Result<Record> {
    Record::load(ctx, MILESTONE, run)
        .with_context(|| format!("m4 record `{run}` (run `cargo xtask phase2` first)"))
}

/// The m4 figures, built from the records (the phase draws them).
pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let tok = load(ctx, TOKENIZERS_RUN)?;
    let ng = load(ctx, NGRAMS_RUN)?;
    Ok(vec![
        bpe_figure(&tok)?,
        ngram_figure(&ng)?,
        bigram_figure(&ng)?,
    ])
}

/// `m4_bpe_compression.png`: bytes per token against vocabulary size, raw bytes and GPT-2's
/// pre-split; the title is the log's comparison at the largest vocabulary.
fn bpe_figure(tok: &Record) -> Result<FigureSpec> {
    let rows: Vec<TokenizerRow> = tok.artifact("tokenizers")?;
    let title = match split_comparison(&rows) {
        Some(c) => format!(
            "At {} tokens, GPT-2's pre-split: {} % fewer bytes per token ({} vs raw {})",
            c.largest, c.cost, c.re_val, c.raw_val
        ),
        None => "Byte-level BPE on tiny-shakespeare: bytes per token (validation split)".into(),
    };
    let mut chart = LineChart::new(
        title,
        "vocabulary size (tokens, log scale)",
        "bytes per token (validation split)",
    )
    .log_x()
    // Labelled at the vocabulary sizes the sweep trained.
    .x_ticks(
        rows.iter()
            .filter(|r| r.kind == "bpe")
            .map(|r| r.vocab_size as f64)
            .collect(),
    );
    for regex_split in [false, true] {
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.kind == "bpe" && r.regex_split == regex_split)
            .map(|r| (r.vocab_size as f64, r.val_bytes_per_token))
            .collect();
        if !points.is_empty() {
            let label = if regex_split {
                "BPE, GPT-2 regex pre-split"
            } else {
                "BPE on raw bytes"
            };
            chart = chart.series(Series::new(label, points));
        }
    }
    if let Some(c) = rows.iter().find(|r| r.kind == "char") {
        chart = chart.hline(
            format!("characters (vocab {})", c.vocab_size),
            c.val_bytes_per_token,
        );
    }
    Ok(FigureSpec::new(FIG_BPE, chart))
}

/// `m4_ngram_perplexity.png`: training and validation perplexity against n, and the neural bigram.
fn ngram_figure(ng: &Record) -> Result<FigureSpec> {
    let rows: Vec<NgramRow> = ng.artifact("ngrams")?;
    let val: Vec<(f64, f64)> = rows.iter().map(|r| (r.n as f64, r.val_ppl)).collect();
    let train: Vec<(f64, f64)> = rows.iter().map(|r| (r.n as f64, r.train_ppl)).collect();
    // The finding: the order with the lowest validation perplexity, past which longer contexts
    // stop helping on unseen text.
    let title = match rows.iter().min_by(|a, b| a.val_ppl.total_cmp(&b.val_ppl)) {
        Some(best) => format!(
            "Kneser–Ney n-grams: validation perplexity bottoms out at n = {} ({:.2})",
            best.n, best.val_ppl
        ),
        None => "Character n-grams (interpolated Kneser–Ney): perplexity vs n".to_string(),
    };
    let mut chart = LineChart::new(
        title,
        "n (context = n − 1 characters)",
        "perplexity per character (log scale)",
    )
    .log_y()
    .series(Series::new("training", train).entity(Entity::Train))
    .series(Series::new("validation", val).entity(Entity::Validation));
    // The neural bigram is one model with a one-character context: a point at n = 2, not a line.
    if let Ok(s) = ng.summary_as::<BigramSummary>() {
        let p = s.neural_bigram_val_ppl;
        chart = chart.series(
            Series::new(
                format!("neural bigram, validation ({p:.2})"),
                vec![(2.0, p)],
            )
            .points(Marker::Diamond),
        );
    }
    Ok(FigureSpec::new(FIG_NGRAM, chart))
}

/// How many of the most frequent characters the bigram heat map shows: all 65 make cells too small
/// to read at the README's width.
pub const HEATMAP_CHARS: usize = 30;

/// How many of a row's likeliest next characters the bigram title sums.
const TOP_NEXT: usize = 5;

/// `m4_bigram_heatmap.png`: the learned p(next | previous) among the most frequent characters, both
/// axes in order of frequency; the title says how concentrated the predictions are: the probability
/// the [`TOP_NEXT`] likeliest next characters hold, averaged over the text (each previous
/// character weighted by its count), out of the whole vocabulary.
fn bigram_figure(ng: &Record) -> Result<FigureSpec> {
    let table: BigramTable = ng.artifact("neural_bigram")?;
    let chars: Vec<char> = table.chars.chars().collect();
    let mut order: Vec<usize> = (0..chars.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(table.char_counts[i]), i));
    order.truncate(HEATMAP_CHARS);
    let matrix: Vec<Vec<f64>> = order
        .iter()
        .map(|&a| order.iter().map(|&b| table.probs[a][b]).collect())
        .collect();
    let show = |i: usize| visible(&chars[i].to_string());
    let ticks: Vec<String> = order.iter().map(|&i| show(i)).collect();
    let total: u64 = table.char_counts.iter().sum();
    let top_mass = table
        .probs
        .iter()
        .zip(&table.char_counts)
        .map(|(row, &count)| {
            let mut sorted = row.clone();
            sorted.sort_by(|x, y| y.total_cmp(x));
            count as f64 * sorted.iter().take(TOP_NEXT).sum::<f64>()
        })
        .sum::<f64>()
        / total.max(1) as f64;
    let title = if total > 0 && chars.len() > TOP_NEXT {
        format!(
            "Neural bigram: the {TOP_NEXT} likeliest of {} next characters get {:.0} % of p (text mean)",
            chars.len(),
            100.0 * top_mass
        )
    } else {
        "Neural bigram: learned p(next character | previous character)".to_string()
    };
    // Log colour scale from the decade of the smallest probability to 1: the rare transitions (the
    // bulk of the table) differ by orders of magnitude, which a linear scale paints one colour.
    let smallest = matrix
        .iter()
        .flatten()
        .copied()
        .filter(|p| *p > 0.0)
        .fold(1.0, f64::min);
    // Values at or below the floor (a stored 0 among them: the record keeps 6 decimals) take its
    // colour, and the colour bar says so.
    let floor = 10f64.powf(smallest.log10().floor());
    let heatmap = Heatmap::new(title, matrix)
        .x_ticks(ticks.clone())
        .y_ticks(ticks)
        .labels(
            "next character (most frequent first; ␣ space, ⏎ newline)",
            "previous character",
        )
        .colorbar(format!(
            "p(next | previous), log scale; ≤ {floor:e} drawn at {floor:e}"
        ))
        .range(floor, 1.0)
        .log_scale();
    Ok(FigureSpec::new(FIG_HEATMAP, heatmap))
}

/// The m4 log entries, built from the records.
pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    Ok(vec![tokenizers_entry(ctx)?, ngrams_entry(ctx)?])
}

const TOKENIZERS_TEMPLATE: &str = include_str!("../templates/m4_tokenizers.md");
const NGRAMS_TEMPLATE: &str = include_str!("../templates/m4_ngrams.md");

/// What the `m4_tokenizers` template needs.
#[derive(Serialize)]
struct TokenizersValues {
    /// The shares of the corpus that train and validate, e.g. `90 %`.
    train_pct: String,
    val_pct: String,
    train_bytes: String,
    val_bytes: String,
    vocab_sizes: String,
    regex_split: String,
    provenance: String,
    table: String,
    example_chars: String,
    examples: String,
    compare: Option<SplitComparison>,
    doubling: Option<Doubling>,
}

/// Raw-byte against regex BPE at the largest vocabulary.
#[derive(Serialize)]
struct SplitComparison {
    largest: String,
    raw_val: String,
    re_val: String,
    cost: String,
    raw_train: String,
    re_train: String,
}

/// What each doubling of the BPE vocabulary buys.
#[derive(Serialize)]
struct Doubling {
    /// `256 → 512: +0.61, …`
    gains: String,
    shrinking: bool,
    first_is_largest: bool,
}

fn tokenizers_table(rows: &[TokenizerRow]) -> String {
    let mut table = Table::new(&[
        "tokenizer",
        "vocab",
        "bytes/token (val)",
        "bytes/token (train)",
        "training time (s)",
    ]);
    for r in rows {
        let name = match (r.kind.as_str(), r.regex_split) {
            ("char", _) => "characters".to_string(),
            (_, false) => "BPE, raw bytes".to_string(),
            (_, true) => "BPE, GPT-2 regex".to_string(),
        };
        table.push(vec![
            name,
            r.vocab_size.to_string(),
            format!("{:.3}", r.val_bytes_per_token),
            format!("{:.3}", r.train_bytes_per_token),
            if r.kind == "char" {
                "–".into()
            } else {
                format!("{:.2}", r.train_seconds)
            },
        ]);
    }
    table.markdown()
}

fn split_comparison(rows: &[TokenizerRow]) -> Option<SplitComparison> {
    let largest = rows
        .iter()
        .filter(|r| r.kind == "bpe")
        .map(|r| r.vocab_size)
        .max()
        .unwrap_or(0);
    let at = |regex: bool| {
        rows.iter()
            .find(|r| r.kind == "bpe" && r.vocab_size == largest && r.regex_split == regex)
            .map(|r| (r.val_bytes_per_token, r.train_bytes_per_token))
    };
    let ((raw_val, raw_train), (re_val, re_train)) = (at(false)?, at(true)?);
    Some(SplitComparison {
        largest: largest.to_string(),
        raw_val: format!("{raw_val:.2}"),
        re_val: format!("{re_val:.2}"),
        cost: format!("{:.0}", 100.0 * (1.0 - re_val / raw_val)),
        raw_train: format!("{raw_train:.2}"),
        re_train: format!("{re_train:.2}"),
    })
}

fn tokenizers_entry(ctx: &Context) -> Result<LogEntry> {
    let rec = load(ctx, TOKENIZERS_RUN)?;
    let cfg: TokenizersConfig = rec.config_as()?;
    let rows: Vec<TokenizerRow> = rec.artifact("tokenizers")?;
    let sizes: SplitBytes = rec.summary_as()?;
    let values = TokenizersValues {
        train_pct: format!("{:.0} %", 100.0 * phase2_lm::data::TRAIN_FRACTION),
        val_pct: format!("{:.0} %", 100.0 * (1.0 - phase2_lm::data::TRAIN_FRACTION)),
        train_bytes: sizes.train_bytes.to_string(),
        val_bytes: sizes.val_bytes.to_string(),
        vocab_sizes: format!("{:?}", cfg.vocab_sizes),
        regex_split: format!("{:?}", cfg.regex_split),
        provenance: rec.provenance(),
        table: tokenizers_table(&rows),
        example_chars: cfg.example_chars.to_string(),
        examples: rec.text("examples")?,
        compare: split_comparison(&rows),
        doubling: doubling(&rows),
    };
    let part = |block: &str| {
        viz::template::render_block("m4_tokenizers.md", TOKENIZERS_TEMPLATE, block, &values)
    };
    Ok(LogEntry {
        id: TOKENIZERS.into(),
        milestone: 4,
        title: part("title")?,
        takeaway: part("takeaway")?,
        question: part("question")?,
        setup: part("setup")?,
        results: part("results")?,
        details: part("details")?,
        figures: vec![Figure::new(
            FIG_BPE,
            FigureKind::EvaluationTables,
            part("caption_m4_bpe_compression")?,
        )],
        discussion: part("discussion")?,
    })
}

/// What the `m4_ngrams` template needs.
#[derive(Serialize)]
struct NgramsValues {
    vocab: String,
    train_tokens: String,
    val_tokens: String,
    orders: String,
    schedule: ScheduleValues,
    batch_size: String,
    seed: String,
    provenance: String,
    table: String,
    bigram_table: String,
    sample_chars: String,
    sample: String,
    first_val: String,
    first_n: String,
    best_val: String,
    best_n: String,
    last_n: String,
    last_train: String,
    best_is_last: bool,
    reached_step: Option<String>,
    /// How near the count bigram "within" means, e.g. `1 %`.
    within: String,
    neural_val: String,
    count_val: String,
    add_k: String,
    neural_vs_count: String,
    /// How many characters the heat map shows.
    heatmap_chars: String,
}

/// A learning-rate schedule for the log: `kind` is `constant`, `step` or `warmup_cosine`, and the
/// numbers of that kind are set.
#[derive(Serialize, Default)]
struct ScheduleValues {
    kind: &'static str,
    lr: String,
    gamma: String,
    step_size: String,
    max_lr: String,
    min_lr: String,
    warmup: String,
    total: String,
}

fn ngram_table(rows: &[NgramRow], best_n: usize) -> String {
    let mut table = Table::new(&[
        "Kneser–Ney",
        "val perplexity",
        "train perplexity",
        "distinct n-grams",
        "D_n",
    ]);
    for r in rows {
        let val = format!("{:.3}", r.val_ppl);
        table.push(vec![
            format!("n = {}", r.n),
            if r.n == best_n {
                format!("**{val}**")
            } else {
                val
            },
            format!("{:.3}", r.train_ppl),
            r.distinct_ngrams.to_string(),
            format!("{:.3}", r.discounts.last().copied().unwrap_or(f64::NAN)),
        ]);
    }
    table.markdown()
}

fn bigram_table(cfg: &NgramsConfig, s: &BigramSummary) -> String {
    let count_val = s.count_bigram_val_ppl;
    let count_train = s.count_bigram_train_ppl;
    let neural_val = s.neural_bigram_val_ppl;
    let neural_train = s.neural_bigram_train_ppl;
    Table::new(&["bigram", "val perplexity", "train perplexity"])
        .row(vec![
            format!("counts, add-{} smoothing", cfg.add_k),
            format!("{count_val:.3}"),
            format!("{count_train:.3}"),
        ])
        .row(vec![
            format!(
                "neural (V×V logits, Adam, {} steps × {})",
                cfg.neural_bigram.steps, cfg.neural_bigram.batch_size
            ),
            format!("{neural_val:.3}"),
            format!("{neural_train:.3}"),
        ])
        .markdown()
}

fn ngrams_entry(ctx: &Context) -> Result<LogEntry> {
    let rec = load(ctx, NGRAMS_RUN)?;
    let cfg: NgramsConfig = rec.config_as()?;
    let rows: Vec<NgramRow> = rec.artifact("ngrams")?;
    let summary: NgramsSummary = rec.summary_as()?;
    let count_val = summary.bigrams.count_bigram_val_ppl;
    let neural_val = summary.bigrams.neural_bigram_val_ppl;

    let best = rows
        .iter()
        .min_by(|a, b| a.val_ppl.total_cmp(&b.val_ppl))
        .expect("records have rows");
    let last = rows.last().expect("records have rows");
    let first = rows.first().expect("records have rows");
    let values = NgramsValues {
        within: format!("{:.0} %", 100.0 * WITHIN),
        vocab: summary.sizes.vocab_size.to_string(),
        train_tokens: summary.sizes.train_tokens.to_string(),
        val_tokens: summary.sizes.val_tokens.to_string(),
        orders: format!("{:?}", cfg.orders),
        schedule: schedule_values(&cfg.neural_bigram.schedule),
        batch_size: cfg.neural_bigram.batch_size.to_string(),
        seed: cfg.seed.to_string(),
        provenance: rec.provenance(),
        table: ngram_table(&rows, best.n),
        bigram_table: bigram_table(&cfg, &summary.bigrams),
        sample_chars: cfg.sample_chars.to_string(),
        sample: rec.text("sample")?.trim_end().to_string(),
        first_val: format!("{:.2}", first.val_ppl),
        first_n: first.n.to_string(),
        best_val: format!("{:.2}", best.val_ppl),
        best_n: best.n.to_string(),
        last_n: last.n.to_string(),
        last_train: format!("{:.2}", last.train_ppl),
        best_is_last: best.n == last.n,
        reached_step: summary
            .bigrams
            .neural_bigram_within_1pct_step
            .map(|s| s.to_string()),
        neural_val: format!("{neural_val:.3}"),
        count_val: format!("{count_val:.3}"),
        add_k: cfg.add_k.to_string(),
        neural_vs_count: format!("{:+.2}", 100.0 * (neural_val / count_val - 1.0)),
        heatmap_chars: (HEATMAP_CHARS as u64)
            .min(summary.sizes.vocab_size)
            .to_string(),
    };
    let part =
        |block: &str| viz::template::render_block("m4_ngrams.md", NGRAMS_TEMPLATE, block, &values);
    Ok(LogEntry {
        id: NGRAMS.into(),
        milestone: 4,
        title: part("title")?,
        takeaway: part("takeaway")?,
        question: part("question")?,
        setup: part("setup")?,
        results: part("results")?,
        details: part("details")?,
        figures: vec![
            Figure::new(
                FIG_NGRAM,
                FigureKind::PerplexityCurves,
                part("caption_m4_ngram_perplexity")?,
            ),
            Figure::new(
                FIG_HEATMAP,
                FigureKind::LearnedWeights,
                part("caption_m4_bigram_heatmap")?,
            ),
        ],
        discussion: part("discussion")?,
    })
}

/// A learning-rate schedule's numbers, for the template to put in words.
fn schedule_values(s: &LrSchedule) -> ScheduleValues {
    match *s {
        LrSchedule::Constant { lr } => ScheduleValues {
            kind: "constant",
            lr: lr.to_string(),
            ..Default::default()
        },
        LrSchedule::Step {
            lr,
            step_size,
            gamma,
        } => ScheduleValues {
            kind: "step",
            lr: lr.to_string(),
            gamma: gamma.to_string(),
            step_size: step_size.to_string(),
            ..Default::default()
        },
        LrSchedule::WarmupCosine {
            max_lr,
            min_lr,
            warmup,
            total,
        } => ScheduleValues {
            kind: "warmup_cosine",
            max_lr: max_lr.to_string(),
            min_lr: min_lr.to_string(),
            warmup: warmup.to_string(),
            total: total.to_string(),
            ..Default::default()
        },
    }
}

/// What each doubling of the BPE vocabulary buys (raw-byte merges, validation bytes per token), read
/// from the rows: the gains, and whether they shrink at every doubling. `None` with fewer than two
/// doublings.
fn doubling(rows: &[TokenizerRow]) -> Option<Doubling> {
    let at = |v: usize| {
        rows.iter()
            .find(|r| r.kind == "bpe" && !r.regex_split && r.vocab_size == v)
            .map(|r| r.val_bytes_per_token)
    };
    // The chain of doublings from the smallest vocabulary (256, 512, 1024, …).
    let smallest = rows
        .iter()
        .filter(|r| r.kind == "bpe" && !r.regex_split)
        .map(|r| r.vocab_size)
        .min()?;
    let mut gains: Vec<(usize, f64)> = Vec::new();
    let mut v = smallest;
    while let (Some(a), Some(b)) = (at(v), at(2 * v)) {
        gains.push((v, b - a));
        v *= 2;
    }
    if gains.len() < 2 {
        return None;
    }
    let list: Vec<String> = gains
        .iter()
        .map(|(v, g)| format!("{v} → {}: +{g:.2}", 2 * v))
        .collect();
    Some(Doubling {
        gains: list.join(", "),
        shrinking: gains.windows(2).all(|w| w[1].1 < w[0].1),
        first_is_largest: gains.iter().all(|g| g.1 <= gains[0].1),
    })
}
