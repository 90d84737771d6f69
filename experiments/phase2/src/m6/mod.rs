//! m6 — training a GPT on tiny-shakespeare: a character model (the bench config of
//! `crates/phase2-lm/scripts/torch_gpt.py`, so its validation loss is comparable with nanoGPT's 1.88), a BPE
//! model compared with it in bits per character, a KV-cache speed check, and four ablations.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::record::{Record, RunWriter};

use super::bench::{BENCH_FULL_RUN, BENCH_RUN, PARITY_RUN};
use crate::records::{FitSummary, KvCacheSummary, SlidingSummary, VariantIndex};
use phase2_lm::checkpoint;
use phase2_lm::corpus::{build_tokenizer, Corpus, TokenizerSpec};
use phase2_lm::fast::FastGpt;
use phase2_lm::fit::{fit, FitOptions, FitOutcome, SampleSpec};
use phase2_lm::generate::{self, Sampling};
use phase2_lm::model::GptConfig;
use phase2_lm::ngram::NgramModel;
use phase2_lm::tokenizer::{AnyTokenizer, Tokenizer};
use phase2_lm::train::{RunConfig, TrainConfig};

mod figures;
mod log;

pub use figures::figures;
pub use log::log_entries;

pub const GPT: &str = "m6_gpt";
pub const ABLATIONS: &str = "m6_ablations";

/// Milestone folder of the records.
pub const MILESTONE: &str = "m6";
/// Record names.
pub const CHAR_RUN: &str = "gpt_char";
pub const BPE_RUN: &str = "gpt_bpe";
/// nanoGPT's published CPU validation loss for the bench config (nats per character), from
/// `configs/references.toml`.
pub fn nanogpt_val_loss(ctx: &viz::Context) -> Result<f64> {
    Ok(viz::references::References::load(&ctx.root)?
        .nanogpt
        .char_val_loss)
}

/// One trained model: tokenizer, model, optimisation, and when to print samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRun {
    pub tokenizer: TokenizerSpec,
    pub model: GptConfig,
    pub train: TrainConfig,
    /// Steps (before which) a sample is generated; the final model is always sampled.
    #[serde(default)]
    pub sample_at: Vec<usize>,
}

/// The KV-cache speed check: generate `new_tokens` with and without the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvBenchSpec {
    pub new_tokens: usize,
    /// A model with this context length is used (the trained char model when equal to its
    /// block size; otherwise a fresh model of the same shape — speed does not depend on weights).
    pub block_size: usize,
}

/// `configs/phase2/m6_gpt.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptExperiment {
    pub char: ModelRun,
    pub bpe: ModelRun,
    pub samples: SampleSpec,
    pub kv_cache: KvBenchSpec,
}

/// One ablation: the base config with some fields overridden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub n_layer: Option<usize>,
    #[serde(default)]
    pub n_head: Option<usize>,
    #[serde(default)]
    pub pos_emb: Option<bool>,
    #[serde(default)]
    pub warmup: Option<usize>,
}

/// `configs/phase2/m6_ablations.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AblationExperiment {
    pub model: GptConfig,
    pub train: TrainConfig,
    /// Every variant trains once per seed (the seed replaces `train.seed`): the spread between seeds
    /// is the noise a difference between variants must beat.
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
}

/// The record of one variant trained with one seed.
fn ablation_run(variant: &str, seed: u64) -> String {
    format!("ablation_{variant}_seed{seed}")
}

impl Variant {
    fn apply(&self, model: &GptConfig, train: &TrainConfig) -> RunConfig {
        let mut cfg = RunConfig {
            model: model.clone(),
            train: train.clone(),
        };
        if let Some(n) = self.n_layer {
            cfg.model.n_layer = n;
        }
        if let Some(h) = self.n_head {
            cfg.model.n_head = h;
        }
        if let Some(p) = self.pos_emb {
            cfg.model.pos_emb = p;
        }
        if let Some(w) = self.warmup {
            cfg.train.warmup = w;
        }
        cfg
    }
}

/// Train one model through [`fit`], its logged values into `writer`'s metrics and its final numbers
/// into the record's summary (`val_loss`, `val_loss_full`, `val_bpc`, `tokens_per_s`, …), checkpointing
/// next to the records (whatever `opts.checkpoint` says).
fn train_recorded(
    ctx: &viz::Context,
    writer: &mut RunWriter,
    cfg: RunConfig,
    tokenizer: AnyTokenizer,
    corpus: &Corpus,
    opts: FitOptions<'_>,
) -> Result<FitOutcome> {
    let ckpt = checkpoint::dir_for(ctx, writer.name());
    let params = cfg.model.n_params();
    let opts = FitOptions {
        checkpoint: Some(&ckpt),
        ..opts
    };
    let out = fit(ctx, cfg, tokenizer, corpus, opts, &mut |step, values| {
        writer.scalars(step, values)
    })?;
    if opts.samples.is_some() {
        writer.text("samples", &out.samples)?;
    }
    writer.summaries(&FitSummary {
        params: params as u64,
        chars_per_token: out.chars_per_token,
        val_loss_full: out.val_loss_full,
        val_predictions_full: out.val_predictions_full as u64,
        val_bpc_full: out.bpc(out.val_loss_full),
        val_loss: out.val_loss,
        val_bpc: out.bpc(out.val_loss),
        tokens_per_s: out.tokens_per_s,
        train_seconds: out.train_seconds,
        steps: out.trainer.cfg.train.steps as u64,
    })?;
    Ok(out)
}

/// The order of the n-gram every GPT is compared with: m4's best (by validation perplexity), or 6
/// where m4 has no record.
pub(crate) fn ngram_order(ctx: &viz::Context) -> usize {
    super::m4::best_ngram(ctx).map_or(6, |(n, _)| n)
}

/// The Kneser–Ney n-gram of order [`ngram_order`], trained here on the training characters as
/// `tokenizer` encodes them: the baseline of every fair comparison.
pub(crate) fn train_ngram(
    ctx: &viz::Context,
    tokenizer: &AnyTokenizer,
    corpus: &Corpus,
) -> Result<NgramModel> {
    let train_ids = tokenizer.encode(&corpus.train_text);
    NgramModel::train(&train_ids, ngram_order(ctx), tokenizer.vocab_size())
}

/// The fair comparison with the best n-gram of m4: the GPT scored by sliding windows of half its
/// block (every character predicted with at least half a block of context) and the Kneser–Ney
/// n-gram ([`train_ngram`]) scored on exactly the same validation characters. m6's character model
/// and the long run of `m6_long` both report it, through [`FairScores::write`].
pub(crate) struct FairScores {
    /// The GPT, nats per character.
    pub gpt: f64,
    /// The n-gram on the same characters, nats per character.
    pub ngram: f64,
    pub n: usize,
    pub stride: usize,
    /// The indices of the validation ids both models score.
    pub scored: std::ops::Range<usize>,
}

impl FairScores {
    pub(crate) fn compute(
        trainer: &mut phase2_lm::train::Trainer,
        val_ids: &[u32],
        ngram: &NgramModel,
    ) -> Result<FairScores> {
        let block = trainer.cfg.model.block_size;
        let stride = (block / 2).max(1);
        let (gpt, scored) = trainer.evaluate_sliding(val_ids, stride)?;
        let n = ngram.n();
        anyhow::ensure!(
            n - 1 <= scored.start,
            "the {n}-gram needs {} characters of history; the first scored has {}",
            n - 1,
            scored.start
        );
        let ngram_loss = ngram.cross_entropy(&val_ids[..scored.end], scored.start);
        Ok(FairScores {
            gpt,
            ngram: ngram_loss,
            n,
            stride,
            scored,
        })
    }

    /// Into the summary: `val_loss_sliding`, `sliding_stride`, `sliding_scored`, `ngram_n`,
    /// `ngram_val_loss_sliding`.
    pub(crate) fn write(&self, writer: &mut RunWriter) -> Result<()> {
        writer.summaries(&SlidingSummary {
            val_loss_sliding: self.gpt,
            sliding_stride: self.stride as u64,
            sliding_scored: self.scored.len() as u64,
            ngram_n: self.n as u64,
            ngram_val_loss_sliding: self.ngram,
        })
    }
}

/// `m6_gpt`: the character and BPE GPTs of the bench config, the fair n-gram comparison and the
/// KV-cache speeds.
pub fn run_gpt(ctx: &viz::Context) -> Result<String> {
    let (cfg, raw): (GptExperiment, toml::Value) = ctx.load_config(crate::PHASE, GPT)?;
    let corpus = Corpus::tiny_shakespeare(ctx)?;
    let mut summary = Vec::new();
    for (run, spec) in [(CHAR_RUN, &cfg.char), (BPE_RUN, &cfg.bpe)] {
        let tokenizer = build_tokenizer(&spec.tokenizer, &corpus).with_context(|| {
            format!(
                "{}: building the {run} tokenizer",
                ctx.config_path(crate::PHASE, GPT).display()
            )
        })?;
        let mut model = spec.model.clone();
        model.vocab_size = tokenizer.vocab_size();
        let run_cfg = RunConfig {
            model,
            train: spec.train.clone(),
        };
        let mut writer = RunWriter::create(ctx, MILESTONE, run, &raw, spec.train.seed)?;
        let mut out = train_recorded(
            ctx,
            &mut writer,
            run_cfg,
            tokenizer,
            &corpus,
            FitOptions {
                sample_at: &spec.sample_at,
                samples: Some(&cfg.samples),
                label: run,
                ..FitOptions::default()
            },
        )?;
        if run == CHAR_RUN {
            let ngram = train_ngram(ctx, &out.tokenizer, &corpus)?;
            let val_ids = out.tokenizer.encode(&corpus.val_text);
            let fair = FairScores::compute(&mut out.trainer, &val_ids, &ngram)?;
            fair.write(&mut writer)?;
            let (gpt, ngram) = (fair.gpt, fair.ngram);
            summary.push(format!(
                "sliding windows: GPT {gpt:.3} vs n-gram {ngram:.3} on the same characters"
            ));
            let [cached, full, candle_cached, candle_full] =
                kv_cache_speed(&out, &cfg.kv_cache, &cfg.samples)?;
            writer.summaries(&KvCacheSummary {
                kv_tokens_per_s: cached,
                recompute_tokens_per_s: full,
                candle_kv_tokens_per_s: candle_cached,
                candle_recompute_tokens_per_s: candle_full,
            })?;
            summary.push(format!(
                "kv-cache {:.0} vs recompute {:.0} tok/s ({:.1}x)",
                cached,
                full,
                cached / full
            ));
        }
        summary.push(format!(
            "{run} val {:.3} (whole split {:.3}, {:.0} tok/s)",
            out.val_loss, out.val_loss_full, out.tokens_per_s
        ));
        writer.finish()?;
    }
    Ok(summary.join(", "))
}

/// Tokens per second generating `new_tokens` greedily, with and without the KV cache, on the
/// hand-written engine and on the candle model: `[fast cached, fast recomputed, candle cached,
/// candle recomputed]`.
fn kv_cache_speed(out: &FitOutcome, spec: &KvBenchSpec, samples: &SampleSpec) -> Result<[f64; 4]> {
    let model = if spec.block_size == out.trainer.cfg.model.block_size {
        out.trainer.to_gpt()?
    } else {
        let cfg = GptConfig {
            block_size: spec.block_size,
            ..out.trainer.cfg.model.clone()
        };
        phase2_lm::model::Gpt::new(&cfg, out.trainer.cfg.train.seed)?
    };
    let mut params = Vec::new();
    let mut engine = FastGpt::new(&model.cfg, 1)?;
    phase2_lm::fast::gather(&model, &engine.off, &mut params)?;
    let prompt = out.tokenizer.try_encode(&samples.prompt)?;
    let greedy = Sampling {
        temperature: 0.0,
        top_k: None,
        top_p: None,
    };
    let mut speed = [0.0; 4];
    for (i, (fast, use_cache)) in [(true, true), (true, false), (false, true), (false, false)]
        .into_iter()
        .enumerate()
    {
        let mut rng = ChaCha8Rng::seed_from_u64(samples.seed);
        let start = Instant::now();
        if fast {
            generate::generate_fast(
                &mut engine,
                &params,
                &prompt,
                spec.new_tokens,
                &greedy,
                &mut rng,
                use_cache,
            )?;
        } else {
            generate::generate(
                &model,
                &prompt,
                spec.new_tokens,
                &greedy,
                &mut rng,
                use_cache,
            )?;
        }
        speed[i] = spec.new_tokens as f64 / start.elapsed().as_secs_f64();
    }
    Ok(speed)
}

/// `m6_ablations`: each variant of the config over its seeds.
pub fn run_ablations(ctx: &viz::Context) -> Result<String> {
    let (cfg, raw): (AblationExperiment, toml::Value) = ctx.load_config(crate::PHASE, ABLATIONS)?;
    if cfg.seeds.is_empty() || cfg.variants.is_empty() {
        bail!(
            "{}: seeds and variants must not be empty",
            ctx.config_path(crate::PHASE, ABLATIONS).display()
        );
    }
    let corpus = Corpus::tiny_shakespeare(ctx)?;
    let tokenizer: AnyTokenizer = build_tokenizer(&TokenizerSpec::Char {}, &corpus)?;
    let mut summary = Vec::new();
    for (index, v) in cfg.variants.iter().enumerate() {
        let mut losses = Vec::new();
        for &seed in &cfg.seeds {
            let mut run_cfg = v.apply(&cfg.model, &cfg.train);
            run_cfg.model.vocab_size = tokenizer.vocab_size();
            run_cfg.train.seed = seed;
            let name = ablation_run(&v.name, seed);
            let mut writer = RunWriter::create(ctx, MILESTONE, &name, &raw, seed)?;
            let out = train_recorded(
                ctx,
                &mut writer,
                run_cfg,
                tokenizer.clone(),
                &corpus,
                FitOptions {
                    label: &name,
                    ..FitOptions::default()
                },
            )?;
            writer.summaries(&VariantIndex {
                variant_index: index as u64,
            })?;
            writer.text("label", &v.label)?;
            writer.finish()?;
            losses.push(out.val_loss_full);
        }
        let (mean, _) = mean_sd(&losses);
        summary.push(format!("{} {mean:.3}", v.name));
    }
    Ok(format!(
        "whole-split val loss, mean over {} seeds: {}",
        cfg.seeds.len(),
        summary.join(", ")
    ))
}

fn load(ctx: &viz::Context, name: &str) -> Option<Record> {
    Record::load(ctx, MILESTONE, name).ok()
}

/// One variant's runs, one per seed of the config.
struct AblationRuns {
    label: String,
    runs: Vec<Record>,
}

/// The ablation records in config order (variants with no record at all are left out).
fn ablation_records(ctx: &viz::Context) -> Result<Vec<AblationRuns>> {
    let (cfg, _): (AblationExperiment, toml::Value) = ctx.load_config(crate::PHASE, ABLATIONS)?;
    Ok(cfg
        .variants
        .iter()
        .map(|v| AblationRuns {
            label: v.label.clone(),
            runs: cfg
                .seeds
                .iter()
                .filter_map(|&s| load(ctx, &ablation_run(&v.name, s)))
                .collect(),
        })
        .filter(|a| !a.runs.is_empty())
        .collect())
}

/// `(x, y)` points of a curve.
type Points = Vec<(f64, f64)>;

/// Pointwise mean (`(step, mean)`) and `(min, max)` over seeds of one logged series.
fn seed_band(runs: &[Record], key: &str) -> Result<(Points, Points)> {
    let all: Vec<Vec<(f64, f64)>> = runs.iter().map(|r| r.series(key)).collect::<Result<_>>()?;
    let n = all.iter().map(Vec::len).min().unwrap_or(0);
    Ok((0..n)
        .map(|i| {
            let ys: Vec<f64> = all.iter().map(|s| s[i].1).collect();
            let mean = ys.iter().sum::<f64>() / ys.len() as f64;
            let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            ((all[0][i].0, mean), (lo, hi))
        })
        .unzip())
}

/// Mean and sample standard deviation (n − 1) over seeds ([`stats::sample_sd`]; 0 for one seed,
/// where there is no spread to estimate).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let sd = if v.len() < 2 {
        0.0
    } else {
        stats::sample_sd(v)
    };
    (stats::mean(v), sd)
}

fn bpe_vocab(b: &ModelRun) -> String {
    match &b.tokenizer {
        TokenizerSpec::Bpe { vocab_size, .. } => vocab_size.to_string(),
        TokenizerSpec::Char {} => "?".into(),
    }
}

/// Whole-split losses of the ablations and their paired differences to the baseline (the first
/// variant): what the log's table, its verdict and the effects figure all read. The four
/// ablations are one family ("m6 ablations"): each paired t-test is read after Holm's correction
/// over the family.
struct AblationStats {
    labels: Vec<String>,
    /// Per variant: mean and sample sd of the whole-split validation loss over seeds.
    stats: Vec<(f64, f64)>,
    /// Per ablation (every variant but the baseline): the paired t-test of variant − baseline
    /// over the seeds, and its verdict within the family (lower loss is better); `None` with
    /// fewer than two seeds.
    diffs: Vec<Option<(stats::PairedT, stats::Judged)>>,
    params: Vec<f64>,
    /// Seeds per variant.
    n: usize,
}

impl AblationStats {
    fn of(abl: &[AblationRuns]) -> Result<AblationStats> {
        let labels: Vec<String> = abl.iter().map(|a| a.label.clone()).collect();
        // Per variant, the whole-split loss of each seed, in the config's seed order (paired across
        // variants: the same seed means the same batches and, where the shapes agree, the same start).
        let losses: Vec<Vec<f64>> = abl
            .iter()
            .map(|a| {
                a.runs
                    .iter()
                    .map(|r| Ok(r.summary_as::<FitSummary>()?.val_loss_full))
                    .collect::<Result<Vec<f64>>>()
            })
            .collect::<Result<_>>()?;
        let stats: Vec<(f64, f64)> = losses.iter().map(|l| mean_sd(l)).collect();
        let params: Vec<f64> = abl
            .iter()
            .map(|a| Ok(a.runs[0].summary_as::<FitSummary>()?.params as f64))
            .collect::<Result<_>>()?;
        let n = losses[0].len();
        let tests: Vec<stats::PairedT> = if n < 2 {
            Vec::new()
        } else {
            losses[1..]
                .iter()
                .map(|l| stats::paired_t(l, &losses[0], 0.95))
                .collect::<Result<_>>()?
        };
        // Lower loss is better: the verdict reads baseline − variant.
        let judged = stats::judge_family(
            &tests
                .iter()
                .map(|t| (-t.mean_difference, t.p))
                .collect::<Vec<_>>(),
        );
        let mut diffs: Vec<Option<(stats::PairedT, stats::Judged)>> =
            tests.into_iter().zip(judged).map(Some).collect();
        diffs.resize(labels.len() - 1, None);
        Ok(AblationStats {
            labels,
            stats,
            diffs,
            params,
            n,
        })
    }
}
