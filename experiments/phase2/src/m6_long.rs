//! m6, continued — a GPT that beats the n-gram (`cargo xtask gpt-long`).
//!
//! The bench-config GPT of [`super::m6`] (0.8 M parameters, 2000 steps, about a minute) loses to m4's
//! Kneser–Ney 6-gram on the same validation characters. This experiment trains a larger GPT for
//! longer on the same two cores, in three parts:
//!
//! 1. **Selection by measurement** (`records/m6/long_select`): every `[[candidate]]` of
//!    `configs/phase2/m6_long.toml` trains for `select.minutes` of wall clock, its loss on a fixed
//!    validation subset recorded against training seconds and characters seen; each curve is fitted
//!    with `L(t) = a + b·t^(−c)` ([`phase2_lm::extrapolate`]) and extrapolated to the long run's budget,
//!    and the best extrapolation is chosen.
//! 2. **The long run** (`records/m6/long`): the chosen candidate for at most `long.budget_minutes`
//!    of training wall clock, checkpointed every few minutes (`checkpoints/m6_long`), resumable
//!    (`--resume`) into the same record with one continuous curve.
//! 3. **The comparison**: the fair sliding-window score on the whole validation split and the
//!    n-gram on exactly the same characters ([`super::m6::FairScores`], shared with m6), when the
//!    curve first went below the n-gram, samples of the three models at the same temperature and
//!    seed, and where the GPT wins and loses: loss by distance into the window, and on speaker names
//!    against running text.
//!
//! Opt-in, like `bench --full`: `cargo xtask phase2` does not run it. Figures and the log entry
//! appear once its records exist.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context as _, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind};
use viz::plot::{LineChart, Marker, Series};
use viz::record::{Record, RunWriter, Status};

use super::bench::{BenchConfig, BenchRow, BenchVariant};
use super::m6::{FairScores, CHAR_RUN, MILESTONE};
use phase2_lm::checkpoint::{self, Progress};
use phase2_lm::corpus::{build_tokenizer, Corpus, TokenizerSpec};
use phase2_lm::extrapolate::PowerLaw;
use phase2_lm::fit::{fit_timed, SampleSpec, Stop, TimedOptions};
use phase2_lm::generator::Generator;
use phase2_lm::model::GptConfig;
use phase2_lm::ngram::NgramModel;
use phase2_lm::tokenizer::{AnyTokenizer, Tokenizer};
use phase2_lm::train::{all_windows, sliding_windows, Engine, RunConfig, TrainConfig, Trainer};

/// Config name (`configs/phase2/m6_long.toml`).
pub const CONFIG: &str = "m6_long";
/// Record names (milestone m6).
pub const SELECT_RUN: &str = "long_select";
pub const LONG_RUN: &str = "long";
pub const BENCH_LONG_RUN: &str = "bench_long";
/// `checkpoints/m6_long`.
pub const CHECKPOINT: &str = "m6_long";
/// The longest training budget the experiment accepts, in minutes: one run on the 2-core machine.
pub const MAX_BUDGET_MINUTES: f64 = 90.0;
/// Figures.
pub const FIG_VS_NGRAM: &str = "m6_long_vs_ngram.png";
pub const FIG_SELECTION: &str = "m6_long_selection.png";

// ---- config ---------------------------------------------------------------------------------------

/// `configs/phase2/m6_long.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongExperiment {
    pub train: SharedTrain,
    pub eval: EvalSpec,
    pub select: SelectSpec,
    pub long: LongSpec,
    pub samples: SampleSpec,
    pub bench: LongBench,
    /// `[[candidate]]` tables, in config order.
    #[serde(rename = "candidate")]
    pub candidates: Vec<Candidate>,
}

/// `[train]`: what every candidate shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedTrain {
    pub seed: u64,
    pub ops: Engine,
    pub workers: usize,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub log_interval: usize,
}

/// `[eval]`: the fixed validation subset of the periodic evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// The first this many characters of the validation split.
    pub chars: usize,
}

/// `[select]`: the short runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectSpec {
    /// Training wall clock per candidate.
    pub minutes: f64,
    /// About how often to evaluate (turned into steps from the probe's speed).
    pub eval_seconds: f64,
    /// Steps timed on a throwaway copy of each candidate to turn seconds into steps.
    pub probe_steps: usize,
    /// Fit only the evaluations after this fraction of the window.
    pub fit_from: f64,
}

/// `[long]`: the long run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongSpec {
    pub budget_minutes: f64,
    pub eval_minutes: f64,
    pub checkpoint_minutes: f64,
    /// The schedule's length as a fraction of the steps the budget buys at the measured speed.
    pub schedule_fraction: f64,
    /// Train this candidate instead of the selection's choice.
    #[serde(default)]
    pub candidate: Option<String>,
}

/// `[bench]`: `cargo xtask bench --size long`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongBench {
    pub steps: usize,
    pub rounds: usize,
    pub variants: Vec<BenchVariant>,
}

/// One `[[candidate]]`: a model and its optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub name: String,
    pub n_layer: usize,
    pub n_head: usize,
    pub d_model: usize,
    pub block_size: usize,
    pub batch_size: usize,
    pub max_lr: f64,
    pub min_lr: f64,
    pub warmup: usize,
    #[serde(default)]
    pub dropout: f64,
}

impl Candidate {
    pub fn model(&self, vocab_size: usize) -> GptConfig {
        GptConfig {
            vocab_size,
            block_size: self.block_size,
            n_layer: self.n_layer,
            n_head: self.n_head,
            d_model: self.d_model,
            pos_emb: true,
        }
    }

    /// The run config of this candidate with a schedule of `steps` and evaluations every
    /// `eval_interval` steps.
    pub fn run_config(
        &self,
        shared: &SharedTrain,
        vocab_size: usize,
        steps: usize,
        eval_interval: usize,
    ) -> RunConfig {
        RunConfig {
            model: self.model(vocab_size),
            train: TrainConfig {
                steps,
                batch_size: self.batch_size,
                max_lr: self.max_lr,
                min_lr: self.min_lr,
                warmup: self.warmup,
                beta1: shared.beta1,
                beta2: shared.beta2,
                eps: 1e-8,
                weight_decay: shared.weight_decay,
                grad_clip: shared.grad_clip,
                eval_interval,
                // The periodic evaluation is the validation subset, not random batches.
                eval_iters: 1,
                log_interval: shared.log_interval,
                seed: shared.seed,
                ops: shared.ops,
                workers: shared.workers,
                dropout: self.dropout,
            },
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} layers, {} heads, d_model {}, block {}, batch {}, lr {} → {}, warm-up {}, dropout {}",
            self.n_layer,
            self.n_head,
            self.d_model,
            self.block_size,
            self.batch_size,
            self.max_lr,
            self.min_lr,
            self.warmup,
            self.dropout
        )
    }
}

impl LongExperiment {
    /// Every value in range; errors name the key (`candidate[1].n_head`, `long.budget_minutes`, …).
    pub fn validate(&self) -> Result<()> {
        let positive = |key: &str, v: f64| -> Result<()> {
            ensure!(v.is_finite() && v > 0.0, "{key} must be > 0, not {v}");
            Ok(())
        };
        positive("select.minutes", self.select.minutes)?;
        positive("select.eval_seconds", self.select.eval_seconds)?;
        positive("long.eval_minutes", self.long.eval_minutes)?;
        positive("long.checkpoint_minutes", self.long.checkpoint_minutes)?;
        ensure!(
            self.long.budget_minutes > 0.0 && self.long.budget_minutes <= MAX_BUDGET_MINUTES,
            "long.budget_minutes must be in (0, {MAX_BUDGET_MINUTES}], not {}",
            self.long.budget_minutes
        );
        ensure!(
            self.select.minutes < self.long.budget_minutes,
            "select.minutes ({}) must be shorter than long.budget_minutes ({}): the selection extrapolates",
            self.select.minutes,
            self.long.budget_minutes
        );
        ensure!(
            self.long.schedule_fraction > 0.0 && self.long.schedule_fraction <= 1.0,
            "long.schedule_fraction must be in (0, 1], not {}",
            self.long.schedule_fraction
        );
        ensure!(
            (0.0..1.0).contains(&self.select.fit_from),
            "select.fit_from must be in [0, 1), not {}",
            self.select.fit_from
        );
        ensure!(
            self.select.probe_steps > 0,
            "select.probe_steps must be > 0"
        );
        ensure!(self.eval.chars > 0, "eval.chars must be > 0");
        ensure!(self.train.workers > 0, "train.workers must be > 0");
        ensure!(
            self.train.log_interval > 0,
            "train.log_interval must be > 0"
        );
        ensure!(
            self.bench.steps > 0 && self.bench.rounds > 0 && !self.bench.variants.is_empty(),
            "bench.steps and bench.rounds must be > 0 and bench.variants non-empty"
        );
        self.samples.sampling().validate().context("samples")?;
        ensure!(
            !self.candidates.is_empty(),
            "at least one [[candidate]] is needed"
        );
        for (i, c) in self.candidates.iter().enumerate() {
            let key = |field: &str| format!("candidate[{i}].{field} (`{}`)", c.name);
            ensure!(
                !c.name.is_empty()
                    && c.name
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'),
                "candidate[{i}].name `{}` must be non-empty letters, digits, '_' or '-'",
                c.name
            );
            if let Some(j) = self.candidates[..i].iter().position(|o| o.name == c.name) {
                bail!(
                    "candidate[{i}].name `{}` is also candidate[{j}]'s: names must be unique",
                    c.name
                );
            }
            for (field, v) in [
                ("n_layer", c.n_layer),
                ("n_head", c.n_head),
                ("d_model", c.d_model),
                ("batch_size", c.batch_size),
            ] {
                ensure!(v > 0, "{} must be > 0", key(field));
            }
            ensure!(
                c.d_model.is_multiple_of(c.n_head),
                "{}: d_model = {} is not a multiple of n_head = {}",
                key("n_head"),
                c.d_model,
                c.n_head
            );
            ensure!(
                c.block_size >= 2,
                "{} must be >= 2 (windows of half a block are scored)",
                key("block_size")
            );
            ensure!(
                c.max_lr > 0.0 && c.min_lr >= 0.0 && c.min_lr <= c.max_lr,
                "{}: need 0 <= min_lr <= max_lr and max_lr > 0 (max_lr {}, min_lr {})",
                key("max_lr"),
                c.max_lr,
                c.min_lr
            );
            ensure!(
                (0.0..1.0).contains(&c.dropout),
                "{} must be in [0, 1), not {}",
                key("dropout"),
                c.dropout
            );
        }
        if let Some(name) = &self.long.candidate {
            self.candidate(name).context("long.candidate")?;
        }
        Ok(())
    }

    /// The candidate called `name`.
    pub fn candidate(&self, name: &str) -> Result<&Candidate> {
        self.candidates
            .iter()
            .find(|c| c.name == name)
            .with_context(|| {
                format!(
                    "no [[candidate]] is called `{name}`; the candidates: {}",
                    self.candidates
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }

    /// What a selection's results depend on: two configs with the same inputs select alike.
    fn selection_inputs(&self) -> serde_json::Value {
        serde_json::json!({
            "train": self.train,
            "eval": self.eval,
            "select": self.select,
            "budget_minutes": self.long.budget_minutes,
            "schedule_fraction": self.long.schedule_fraction,
            "candidates": self.candidates,
        })
    }
}

/// Parse and check a config's text (errors name the key).
pub fn parse_config(text: &str) -> Result<LongExperiment> {
    let cfg: LongExperiment = toml::from_str(text)?;
    cfg.validate()?;
    Ok(cfg)
}

/// `configs/phase2/m6_long.toml` (or the quick one), checked.
pub fn load_config(ctx: &viz::Context) -> Result<(LongExperiment, toml::Value)> {
    let (cfg, raw): (LongExperiment, toml::Value) = ctx.load_config(super::PHASE, CONFIG)?;
    cfg.validate().with_context(|| {
        format!(
            "invalid config {}",
            ctx.config_path(super::PHASE, CONFIG).display()
        )
    })?;
    Ok((cfg, raw))
}

// ---- selection ------------------------------------------------------------------------------------

/// One evaluation on the validation subset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub step: usize,
    /// The run's training seconds at this step.
    pub seconds: f64,
    /// Characters seen (step × batch × block; one character per token).
    pub chars: f64,
    pub val_loss: f64,
}

/// One candidate's short run, as recorded in `long_select`'s `candidates` artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectResult {
    pub name: String,
    pub params: usize,
    /// Seconds per step of the probe (before the run; sets the run's schedule and evaluations).
    pub probe_seconds_per_step: f64,
    /// Seconds per step over the whole window (what the long run plans with).
    pub seconds_per_step: f64,
    pub tokens_per_s: f64,
    /// The schedule's length the short run trained with (its first minutes are the long run's).
    pub schedule_steps: usize,
    pub eval_interval: usize,
    pub curve: Vec<CurvePoint>,
    /// Evaluations at or after this many training seconds were fitted.
    pub fit_from_s: f64,
    pub fit: Option<PowerLaw>,
    pub fit_rmse: Option<f64>,
    /// The fit at the long run's budget; the last evaluation where there is no fit (no further
    /// improvement assumed).
    pub extrapolated: f64,
    /// The n-gram on the same validation characters as this candidate's evaluations.
    pub ngram_subset: f64,
    /// Training minutes the fit says this candidate needs to reach `ngram_subset` (none: never, or
    /// no fit).
    pub minutes_to_ngram: Option<f64>,
}

/// Fit `L(t) = a + b·t^(−c)` to the evaluations at or after `from_s` training seconds and past
/// step `after_step` (the warm-up is a transient, not the power law), and the curve at `horizon_s`:
/// the fit's value, or the last evaluation's where the points do not define a falling power law.
pub fn extrapolate_curve(
    curve: &[CurvePoint],
    from_s: f64,
    after_step: usize,
    horizon_s: f64,
) -> (Option<PowerLaw>, f64) {
    let points: Vec<(f64, f64)> = curve
        .iter()
        .filter(|p| p.seconds >= from_s && p.step > after_step && p.seconds > 0.0)
        .map(|p| (p.seconds, p.val_loss))
        .collect();
    let last = curve.last().map_or(f64::INFINITY, |p| p.val_loss);
    match PowerLaw::fit(&points) {
        Some(law) if law.at(horizon_s).is_finite() => (Some(law), law.at(horizon_s)),
        _ => (None, last),
    }
}

/// The candidate with the lowest extrapolated loss (the first of equals); `None` when no
/// extrapolation is finite.
pub fn choose(results: &[SelectResult]) -> Option<usize> {
    results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.extrapolated.is_finite())
        .min_by(|a, b| a.1.extrapolated.total_cmp(&b.1.extrapolated))
        .map(|(i, _)| i)
}

/// Steps of a schedule that takes `fraction` of `budget_s` at `seconds_per_step` (at least 1).
fn schedule_steps(budget_s: f64, seconds_per_step: f64, fraction: f64) -> usize {
    ((budget_s / seconds_per_step * fraction).floor() as usize).max(1)
}

/// The multiple of `log_interval` nearest to `seconds` of steps (at least one interval), so every
/// evaluation also closes a training-loss interval.
fn interval_steps(seconds: f64, seconds_per_step: f64, log_interval: usize) -> usize {
    let k = (seconds / seconds_per_step / log_interval as f64).round() as usize;
    k.max(1) * log_interval
}

/// Seconds per training step of `run` on this machine: `steps` timed steps of a throwaway trainer
/// after two untimed ones (buffers allocated on first touch).
fn probe(run: &RunConfig, train_ids: &[u32], steps: usize) -> Result<f64> {
    let mut cfg = run.clone();
    cfg.train.steps = steps + 2;
    let mut trainer = Trainer::new(cfg)?;
    trainer.step(train_ids)?;
    trainer.step(train_ids)?;
    let start = Instant::now();
    for _ in 0..steps {
        trainer.step(train_ids)?;
    }
    Ok(start.elapsed().as_secs_f64() / steps as f64)
}

/// The validation subset of the periodic evaluations.
fn eval_subset(val_ids: &[u32], chars: usize) -> &[u32] {
    &val_ids[..chars.min(val_ids.len())]
}

/// The n-gram's loss on exactly the targets a model of `block` scores on `subset` with sliding
/// windows of `stride`.
fn ngram_on_subset(ngram: &NgramModel, subset: &[u32], block: usize, stride: usize) -> Result<f64> {
    let (_, scored) = sliding_windows(subset, block, stride, 1)?;
    ensure!(
        ngram.n() - 1 <= scored.start,
        "a block of {block} scores from character {}; the {}-gram needs {} of history",
        scored.start,
        ngram.n(),
        ngram.n() - 1
    );
    Ok(ngram.cross_entropy(&subset[..scored.end], scored.start))
}

/// The value of `key` among a log call's values.
fn value_of(values: &[(&str, f64)], key: &str) -> Option<f64> {
    values.iter().find(|(k, _)| *k == key).map(|p| p.1)
}

/// What the command needs besides the config: the text, its tokenizer and the n-gram.
struct Data<'a> {
    corpus: &'a Corpus,
    tokenizer: AnyTokenizer,
    train_ids: Vec<u32>,
    val_ids: Vec<u32>,
    ngram: NgramModel,
}

fn run_selection(
    ctx: &viz::Context,
    cfg: &LongExperiment,
    raw: &toml::Value,
    data: &Data<'_>,
) -> Result<Vec<SelectResult>> {
    let clock = Instant::now();
    let vocab = data.tokenizer.vocab_size();
    let subset = eval_subset(&data.val_ids, cfg.eval.chars);
    let budget_s = cfg.long.budget_minutes * 60.0;
    let select_s = cfg.select.minutes * 60.0;
    let mut writer = RunWriter::create(ctx, MILESTONE, SELECT_RUN, raw, cfg.train.seed)?;
    let mut results = Vec::new();
    for cand in &cfg.candidates {
        let probe_run = cand.run_config(&cfg.train, vocab, 1, 1);
        let probe_sps = probe(&probe_run, &data.train_ids, cfg.select.probe_steps)
            .with_context(|| format!("probing candidate `{}`", cand.name))?;
        let steps = schedule_steps(budget_s, probe_sps, cfg.long.schedule_fraction);
        let eval_interval =
            interval_steps(cfg.select.eval_seconds, probe_sps, cfg.train.log_interval);
        let run = cand.run_config(&cfg.train, vocab, steps, eval_interval);
        let params = run.model.n_params();
        let tokens_per_step = cand.batch_size * cand.block_size;
        let stride = cand.block_size / 2;
        let ngram_subset = ngram_on_subset(&data.ngram, subset, cand.block_size, stride)?;
        let mut trainer = Trainer::new(run)?;
        let mut curve = Vec::new();
        let name = cand.name.clone();
        let label = format!("select {name}");
        let batch = cand.batch_size;
        let mut eval = |t: &mut Trainer| -> Result<f64> {
            Ok(t.evaluate_sliding_batched(subset, stride, batch)?.0)
        };
        let mut log = |step: u64, values: &[(&str, f64)]| -> Result<()> {
            let keyed: Vec<(String, f64)> = values
                .iter()
                .map(|(k, v)| (format!("{name}/{k}"), *v))
                .collect();
            let refs: Vec<(&str, f64)> = keyed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            writer.scalars(step, &refs)?;
            if let Some(v) = value_of(values, "val_loss") {
                curve.push(CurvePoint {
                    step: step as usize,
                    seconds: value_of(values, "train_seconds").unwrap_or(f64::NAN),
                    chars: value_of(values, "tokens_seen").unwrap_or(f64::NAN),
                    val_loss: v,
                });
            }
            Ok(())
        };
        let out = fit_timed(
            ctx,
            &mut trainer,
            &data.tokenizer,
            &data.train_ids,
            Progress::default(),
            TimedOptions {
                budget_s: select_s,
                session_s: None,
                until_step: None,
                checkpoint: None,
                checkpoint_every_s: f64::INFINITY,
                label: &label,
            },
            &mut eval,
            &mut log,
        )?;
        let seconds_per_step = out.train_seconds / out.steps.max(1) as f64;
        let fit_from_s = cfg.select.fit_from * select_s;
        let (fit, extrapolated) = extrapolate_curve(&curve, fit_from_s, cand.warmup, budget_s);
        let fit_rmse = fit.map(|law| {
            let pts: Vec<(f64, f64)> = curve
                .iter()
                .filter(|p| p.seconds >= fit_from_s && p.step > cand.warmup)
                .map(|p| (p.seconds, p.val_loss))
                .collect();
            law.rmse(&pts)
        });
        let minutes_to_ngram = fit.and_then(|l| l.time_to(ngram_subset)).map(|s| s / 60.0);
        println!(
            "{SELECT_RUN}: {name:<12} {:>5.2} M params {:>6.0} tok/s, after {:.2} min {:.3} ({}-gram {:.3}), extrapolated to {} min: {:.3}{}",
            params as f64 / 1e6,
            tokens_per_step as f64 / seconds_per_step,
            out.train_seconds / 60.0,
            out.val_loss,
            data.ngram.n(),
            ngram_subset,
            cfg.long.budget_minutes,
            extrapolated,
            match fit {
                Some(l) => format!(" (a {:.3}, b {:.3}, c {:.3})", l.a, l.b, l.c),
                None => " (no falling power law: the last value)".into(),
            }
        );
        results.push(SelectResult {
            name: name.clone(),
            params,
            probe_seconds_per_step: probe_sps,
            seconds_per_step,
            tokens_per_s: tokens_per_step as f64 / seconds_per_step,
            schedule_steps: steps,
            eval_interval,
            curve,
            fit_from_s,
            fit,
            fit_rmse,
            extrapolated,
            ngram_subset,
            minutes_to_ngram,
        });
    }
    let chosen = choose(&results).context("no candidate has a finite extrapolation")?;
    writer.artifact("candidates", &results)?;
    writer.text("chosen", &results[chosen].name)?;
    for (key, value) in [
        ("chosen_index", chosen as f64),
        ("chosen_extrapolated", results[chosen].extrapolated),
        ("select_minutes", cfg.select.minutes),
        ("budget_minutes", cfg.long.budget_minutes),
        ("ngram_n", data.ngram.n() as f64),
    ] {
        writer.summary(key, value);
    }
    writer.finish()?;
    println!(
        "{SELECT_RUN}: chose `{}` ({:.0} s)",
        results[chosen].name,
        clock.elapsed().as_secs_f64()
    );
    Ok(results)
}

/// The selection a long run may use: the record's results and choice, when it was made with the
/// inputs of this config.
enum Selection {
    Usable(Vec<SelectResult>, usize),
    /// A record made with other candidates, budget or settings.
    Stale,
    Missing,
}

fn load_selection(ctx: &viz::Context, cfg: &LongExperiment) -> Result<Selection> {
    let Ok(rec) = Record::load(ctx, MILESTONE, SELECT_RUN) else {
        return Ok(Selection::Missing);
    };
    if rec.meta.status != Status::Finished {
        return Ok(Selection::Missing);
    }
    let same = rec
        .config_as::<LongExperiment>()
        .is_ok_and(|old| old.selection_inputs() == cfg.selection_inputs());
    if !same {
        return Ok(Selection::Stale);
    }
    let results: Vec<SelectResult> = rec.artifact("candidates")?;
    let chosen = rec.require("chosen_index")? as usize;
    ensure!(
        chosen < results.len(),
        "{SELECT_RUN}: chosen_index out of range"
    );
    Ok(Selection::Usable(results, chosen))
}

// ---- the long run ---------------------------------------------------------------------------------

/// What the long run trains, fixed when it starts and stored in its record (`plan` artifact): a
/// resumed session reads it from there, whatever the config says by then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongPlan {
    pub candidate: Candidate,
    /// `train.steps` is the schedule's length, `train.eval_interval` the evaluation cadence.
    pub run: RunConfig,
    /// The speed the schedule was planned with.
    pub seconds_per_step: f64,
    pub budget_s: f64,
    pub checkpoint_every_s: f64,
    pub eval_chars: usize,
    /// `"selection"` (the short runs chose it) or `"config"` (`[long] candidate`).
    pub chosen_by: String,
}

fn plan_long(
    cfg: &LongExperiment,
    data: &Data<'_>,
    selection: Option<(&[SelectResult], usize)>,
) -> Result<LongPlan> {
    let (cand, measured, chosen_by) = match (&cfg.long.candidate, selection) {
        (Some(name), sel) => {
            let measured = sel
                .and_then(|(r, _)| r.iter().find(|r| &r.name == name))
                .map(|r| r.seconds_per_step);
            (cfg.candidate(name)?, measured, "config")
        }
        (None, Some((results, chosen))) => (
            cfg.candidate(&results[chosen].name)?,
            Some(results[chosen].seconds_per_step),
            "selection",
        ),
        (None, None) => bail!("no candidate: run the selection or set [long] candidate"),
    };
    let vocab = data.tokenizer.vocab_size();
    let sps = match measured {
        Some(s) => s,
        None => probe(
            &cand.run_config(&cfg.train, vocab, 1, 1),
            &data.train_ids,
            cfg.select.probe_steps,
        )?,
    };
    let budget_s = cfg.long.budget_minutes * 60.0;
    let steps = schedule_steps(budget_s, sps, cfg.long.schedule_fraction);
    let eval_interval = interval_steps(cfg.long.eval_minutes * 60.0, sps, cfg.train.log_interval);
    Ok(LongPlan {
        candidate: cand.clone(),
        run: cand.run_config(&cfg.train, vocab, steps, eval_interval),
        seconds_per_step: sps,
        budget_s,
        checkpoint_every_s: cfg.long.checkpoint_minutes * 60.0,
        eval_chars: cfg.eval.chars,
        chosen_by: chosen_by.into(),
    })
}

/// One session of the long run, as recorded in its `sessions` artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub git_commit: String,
    pub from_step: usize,
    pub to_step: usize,
    pub from_minutes: f64,
    pub to_minutes: f64,
    pub stop: Stop,
}

/// How this session may end early (besides the budget and the schedule).
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionLimits {
    /// Stop after this many training seconds of this session.
    pub session_s: Option<f64>,
    /// Stop when the trainer reaches this step (tests).
    pub until_step: Option<usize>,
}

/// Train the long run: from scratch (`resume = false`: a new record `m6/long` and checkpoint
/// `checkpoints/m6_long`) or from its last checkpoint into the same record. Returns why the session
/// stopped and the trainer; the record is left `paused` when the session stopped early and open
/// for [`finish_long`] otherwise.
#[allow(clippy::too_many_arguments)]
pub fn long_session(
    ctx: &viz::Context,
    raw: &toml::Value,
    plan: &LongPlan,
    tokenizer: &AnyTokenizer,
    train_ids: &[u32],
    val_ids: &[u32],
    ngram: &NgramModel,
    limits: SessionLimits,
    resume: bool,
) -> Result<(Stop, Trainer, Option<RunWriter>)> {
    let ckpt = checkpoint::dir_for(ctx, CHECKPOINT);
    let block = plan.run.model.block_size;
    let stride = block / 2;
    let subset = eval_subset(val_ids, plan.eval_chars);
    let (mut trainer, start, mut writer, mut sessions) = if resume {
        let old = Record::load(ctx, MILESTONE, LONG_RUN)
            .context("--resume: the long run has no record to continue")?;
        ensure!(
            old.meta.status != Status::Finished,
            "records/{MILESTONE}/{LONG_RUN} is finished: nothing to resume (`--fresh` starts a new run)"
        );
        let (trainer, tok) = checkpoint::load(&ckpt)
            .with_context(|| format!("--resume: reading the checkpoint {}", ckpt.display()))?;
        ensure!(
            &tok == tokenizer && trainer.cfg == plan.run,
            "{} is not the checkpoint of this record's plan",
            ckpt.display()
        );
        let start = checkpoint::load_progress(&ckpt)?;
        let step = trainer.step as u64;
        // The reopened run: the record, or what a killed session staged after it (newer).
        let writer = RunWriter::reopen(ctx, MILESTONE, LONG_RUN, |s| s.step <= step)?;
        let sessions: Vec<SessionRow> = writer.snapshot()?.artifact("sessions").unwrap_or_default();
        (trainer, start, writer, sessions)
    } else {
        if ckpt.exists() {
            std::fs::remove_dir_all(&ckpt)
                .with_context(|| format!("removing the old {}", ckpt.display()))?;
        }
        let trainer = Trainer::new(plan.run.clone())?;
        let mut writer = RunWriter::create(ctx, MILESTONE, LONG_RUN, raw, plan.run.train.seed)?;
        writer.artifact("plan", plan)?;
        let ngram_subset = ngram_on_subset(ngram, subset, block, stride)?;
        for (key, value) in [
            ("params", plan.run.model.n_params() as f64),
            ("schedule_steps", plan.run.train.steps as f64),
            ("budget_minutes", plan.budget_s / 60.0),
            ("eval_chars", subset.len() as f64),
            ("ngram_subset_loss", ngram_subset),
            ("ngram_n", ngram.n() as f64),
        ] {
            writer.summary(key, value);
        }
        (trainer, Progress::default(), writer, Vec::new())
    };
    let from_step = trainer.step;
    let batch = plan.run.train.batch_size;
    let mut eval = |t: &mut Trainer| -> Result<f64> {
        Ok(t.evaluate_sliding_batched(subset, stride, batch)?.0)
    };
    let mut log = |step: u64, values: &[(&str, f64)]| writer.scalars(step, values);
    let out = fit_timed(
        ctx,
        &mut trainer,
        tokenizer,
        train_ids,
        start,
        TimedOptions {
            budget_s: plan.budget_s,
            session_s: limits.session_s,
            until_step: limits.until_step,
            checkpoint: Some(&ckpt),
            checkpoint_every_s: plan.checkpoint_every_s,
            label: "gpt-long",
        },
        &mut eval,
        &mut log,
    )?;
    sessions.push(SessionRow {
        git_commit: viz::record::git_state(&ctx.root).0,
        from_step,
        to_step: trainer.step,
        from_minutes: start.train_seconds / 60.0,
        to_minutes: out.train_seconds / 60.0,
        stop: out.stop,
    });
    writer.artifact("sessions", &sessions)?;
    writer.summary("sessions", sessions.len() as f64);
    writer.summary("steps_done", trainer.step as f64);
    writer.summary("train_minutes", out.train_seconds / 60.0);
    writer.summary(
        "tokens_per_s",
        (trainer.step * trainer.tokens_per_step()) as f64 / out.train_seconds.max(1e-9),
    );
    if out.stop == Stop::Session {
        writer.pause()?;
        return Ok((out.stop, trainer, None));
    }
    Ok((out.stop, trainer, Some(writer)))
}

/// Loss by position in the window, the GPT against the n-gram on the same targets: every window of
/// the split back to back ([`all_windows`]), so position `p` predicts with `p + 1` characters of
/// context while the n-gram always has its `n − 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionCurve {
    pub block: usize,
    pub windows: usize,
    /// Mean loss at each position (`block` values).
    pub gpt: Vec<f64>,
    pub ngram: Vec<f64>,
}

fn position_curve(
    trainer: &mut Trainer,
    val_ids: &[u32],
    ngram: &NgramModel,
) -> Result<PositionCurve> {
    let block = trainer.cfg.model.block_size;
    let batches = all_windows(val_ids, block, trainer.cfg.train.batch_size);
    let losses = trainer.token_losses(&batches)?;
    let windows = losses.len() / block;
    ensure!(
        windows > 0,
        "the validation split holds no window of {block}"
    );
    let (mut gpt, mut ng) = (vec![0.0; block], vec![0.0; block]);
    for w in 0..windows {
        for p in 0..block {
            gpt[p] += losses[w * block + p] as f64;
            // Window w starts at w·block; its position p predicts the character after w·block + p.
            ng[p] += ngram.token_loss(val_ids, w * block + p + 1);
        }
    }
    let n = windows as f64;
    Ok(PositionCurve {
        block,
        windows,
        gpt: gpt.iter().map(|x| x / n).collect(),
        ngram: ng.iter().map(|x| x / n).collect(),
    })
}

/// For each character of `text`, whether it is part of a speaker tag: a line after an empty line
/// (or the first line) that ends with `:` and is at most 40 characters long (`ROMEO:`,
/// `KING RICHARD III:`), its newline included. In tiny-shakespeare every empty line is followed by
/// one.
pub fn speaker_mask(text: &[char]) -> Vec<bool> {
    let mut mask = vec![false; text.len()];
    let mut start = 0;
    let mut after_blank = true;
    while start < text.len() {
        let end = text[start..]
            .iter()
            .position(|&c| c == '\n')
            .map_or(text.len(), |i| start + i);
        let line = &text[start..end];
        if after_blank && line.last() == Some(&':') && line.len() <= 40 {
            for m in &mut mask[start..(end + 1).min(text.len())] {
                *m = true;
            }
        }
        after_blank = line.is_empty();
        start = end + 1;
    }
    mask
}

/// Mean losses on speaker names and on running text, each model on the same characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryRow {
    pub name: String,
    pub chars: usize,
    pub long: f64,
    pub bench: Option<f64>,
    pub ngram: f64,
}

/// The models' per-target losses on the validation split (sliding windows), by category, over the
/// targets every model scored.
fn categories(
    long: (&[f32], Range<usize>),
    bench: Option<(&[f32], Range<usize>)>,
    ngram: &NgramModel,
    val_ids: &[u32],
    mask: &[bool],
) -> Vec<CategoryRow> {
    let (mut lo, mut hi) = (long.1.start, long.1.end);
    if let Some((_, r)) = &bench {
        lo = lo.max(r.start);
        hi = hi.min(r.end);
    }
    // Each kind: its name and whether it takes speaker characters and running text.
    let kinds = [
        ("speaker names (lines like `ROMEO:`)", true, false),
        ("running text", false, true),
        ("all", true, true),
    ];
    kinds
        .iter()
        .map(|&(name, names, text)| {
            let idx: Vec<usize> = (lo..hi)
                .filter(|&j| if mask[j] { names } else { text })
                .collect();
            let mean = |f: &dyn Fn(usize) -> f64| {
                idx.iter().map(|&j| f(j)).sum::<f64>() / idx.len().max(1) as f64
            };
            CategoryRow {
                name: name.to_string(),
                chars: idx.len(),
                long: mean(&|j| long.0[j - long.1.start] as f64),
                bench: bench
                    .as_ref()
                    .map(|(l, r)| mean(&|j| l[j - r.start] as f64)),
                ngram: mean(&|j| ngram.token_loss(val_ids, j)),
            }
        })
        .collect()
}

/// The bench-config GPT of m6 (`checkpoints/gpt_char`), when it was trained here with the same
/// tokenizer.
fn bench_model(ctx: &viz::Context, tokenizer: &AnyTokenizer) -> Result<Option<Trainer>> {
    let dir = checkpoint::dir_for(ctx, CHAR_RUN);
    if !dir.is_dir() {
        return Ok(None);
    }
    let (cfg, params, tok) = checkpoint::load_weights(&dir)?;
    if &tok != tokenizer {
        return Ok(None);
    }
    Ok(Some(Trainer::from_params(cfg, params)?))
}

/// The comparison at the end of the long run, into its record: the fair score and the n-gram on
/// the same characters, the old whole-split number, when the curve went below the n-gram, the
/// bench-config GPT beside it, loss by position and by kind of character, and samples.
fn finish_long(
    ctx: &viz::Context,
    writer: &mut RunWriter,
    trainer: &mut Trainer,
    data: &Data<'_>,
    samples: &SampleSpec,
) -> Result<String> {
    let val_ids = &data.val_ids;
    let fair = FairScores::compute(trainer, val_ids, &data.ngram)?;
    fair.write(writer);
    let full = trainer.evaluate_full(val_ids)?;
    writer.summary("val_loss_full", full);

    // When the running validation loss first went below the n-gram's on the same characters.
    let rec = writer.snapshot()?;
    let ngram_subset = rec.require("ngram_subset_loss")?;
    let curve = long_curve(&rec);
    if let Some(p) = curve.iter().find(|p| p.val_loss < ngram_subset) {
        writer.summary("overtook_step", p.step as f64);
        writer.summary("overtook_minutes", p.seconds / 60.0);
        writer.summary("overtook_chars", p.chars);
    }
    if let Some(best) = curve.iter().map(|p| p.val_loss).reduce(f64::min) {
        writer.summary("best_subset_loss", best);
    }
    if let Some(last) = curve.last() {
        writer.summary("final_subset_loss", last.val_loss);
    }

    let block = trainer.cfg.model.block_size;
    let mut bench = bench_model(ctx, &data.tokenizer)?;
    let subset = eval_subset(val_ids, trainer_eval_chars(&rec));
    if let Some(b) = bench.as_mut() {
        let stride = b.cfg.model.block_size / 2;
        let batch = b.cfg.train.batch_size;
        writer.summary(
            "bench_subset_loss",
            b.evaluate_sliding_batched(subset, stride, batch)?.0,
        );
        writer.summary("bench_params", b.cfg.model.n_params() as f64);
    }

    // Where it wins and loses: by position in the window …
    let mut positions = vec![position_curve(trainer, val_ids, &data.ngram)?];
    if let Some(b) = bench.as_mut() {
        positions.push(position_curve(b, val_ids, &data.ngram)?);
    }
    writer.artifact("positions", &positions)?;
    // … and by kind of character, on the fair windows.
    let batch = trainer.cfg.train.batch_size;
    let long_losses = trainer.sliding_token_losses(val_ids, block / 2, batch)?;
    let bench_losses = match bench.as_mut() {
        Some(b) => {
            let (block, batch) = (b.cfg.model.block_size, b.cfg.train.batch_size);
            Some(b.sliding_token_losses(val_ids, block / 2, batch)?)
        }
        None => None,
    };
    let chars: Vec<char> = data.corpus.val_text.chars().collect();
    ensure!(
        chars.len() == val_ids.len(),
        "the analysis by character needs one token per character"
    );
    let mask = speaker_mask(&chars);
    let cats = categories(
        (&long_losses.0, long_losses.1.clone()),
        bench_losses
            .as_ref()
            .map(|(l, r)| (l.as_slice(), r.clone())),
        &data.ngram,
        val_ids,
        &mask,
    );
    writer.artifact("categories", &cats)?;

    // Samples, same prompt, temperature, top-p and seed.
    let sampling = samples.sampling();
    let prompt_ids = data.tokenizer.try_encode(&samples.prompt)?;
    let mut rng = ChaCha8Rng::seed_from_u64(samples.seed);
    let ngram_text = data.tokenizer.decode(&data.ngram.sample_with(
        &prompt_ids,
        samples.chars,
        &sampling,
        &mut rng,
    ));
    let mut text = format!(
        "**Kneser–Ney {}-gram** (counts of the training characters)\n\n```text\n{}{}\n```\n\n",
        data.ngram.n(),
        samples.prompt,
        ngram_text.trim_end()
    );
    if let Some(b) = &bench {
        let mut g = Generator::from_trainer(b, data.tokenizer.clone(), sampling)?;
        let out = g.complete(&samples.prompt, samples.chars, &[], samples.seed)?;
        text.push_str(&format!(
            "**Bench-config GPT** (`checkpoints/{CHAR_RUN}`, {:.2} M parameters)\n\n```text\n{}{}\n```\n\n",
            b.cfg.model.n_params() as f64 / 1e6,
            samples.prompt,
            out.text.trim_end()
        ));
    }
    let mut g = Generator::from_trainer(trainer, data.tokenizer.clone(), sampling)?;
    let out = g.complete(&samples.prompt, samples.chars, &[], samples.seed)?;
    text.push_str(&format!(
        "**Long GPT** (`checkpoints/{CHECKPOINT}`, {:.2} M parameters)\n\n```text\n{}{}\n```\n",
        trainer.cfg.model.n_params() as f64 / 1e6,
        samples.prompt,
        out.text.trim_end()
    ));
    writer.text("samples", &text)?;
    Ok(format!(
        "sliding windows: long GPT {:.3} vs {}-gram {:.3} on the same {} characters (whole split, non-overlapping windows: {full:.3})",
        fair.gpt,
        fair.n,
        fair.ngram,
        fair.scored.len()
    ))
}

/// The evaluation subset's length the long run recorded.
fn trainer_eval_chars(rec: &Record) -> usize {
    rec.summary("eval_chars").unwrap_or(0.0) as usize
}

/// The long run's evaluations, in step order.
fn long_curve(rec: &Record) -> Vec<CurvePoint> {
    let by_step = |key: &str| -> BTreeMap<u64, f64> {
        rec.series(key)
            .into_iter()
            .map(|(s, v)| (s as u64, v))
            .collect()
    };
    let (secs, chars) = (by_step("train_seconds"), by_step("tokens_seen"));
    rec.series("val_loss")
        .into_iter()
        .map(|(s, v)| CurvePoint {
            step: s as usize,
            seconds: secs.get(&(s as u64)).copied().unwrap_or(f64::NAN),
            chars: chars.get(&(s as u64)).copied().unwrap_or(f64::NAN),
            val_loss: v,
        })
        .collect()
}

/// The training loss beside the evaluations: at each evaluation after the first, the mean of the
/// training losses logged since the one before (training batches, dropout on), as
/// `(evaluation, mean)`.
fn train_curve(rec: &Record, curve: &[CurvePoint]) -> Vec<(CurvePoint, f64)> {
    let train = rec.series("train_loss");
    curve
        .windows(2)
        .filter_map(|w| {
            let (lo, hi) = (w[0].step as f64, w[1].step as f64);
            let vals: Vec<f64> = train
                .iter()
                .filter(|(s, _)| *s > lo && *s <= hi)
                .map(|p| p.1)
                .collect();
            (!vals.is_empty()).then(|| (w[1], vals.iter().sum::<f64>() / vals.len() as f64))
        })
        .collect()
}

// ---- the command ----------------------------------------------------------------------------------

/// `cargo xtask gpt-long` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct LongOptions {
    /// Only the selection (`records/m6/long_select`).
    pub select_only: bool,
    /// Continue the long run from its last checkpoint.
    pub resume: bool,
    /// Start the long run over even if an unfinished one could be resumed.
    pub fresh: bool,
    /// Stop this session after this many training minutes (resume later).
    pub session_minutes: Option<f64>,
}

/// `cargo xtask gpt-long`: the selection (unless `[long] candidate` names one or a selection with
/// this config's inputs is recorded), then the long run and the comparison; figures at the end.
pub fn gpt_long(ctx: &viz::Context, opts: LongOptions) -> Result<()> {
    let (cfg, raw) = load_config(ctx)?;
    let corpus = Corpus::tiny_shakespeare(ctx)?;
    gpt_long_with(ctx, &cfg, &raw, &corpus, opts)
}

/// [`gpt_long`] on a given config and text (tests use a small one).
pub fn gpt_long_with(
    ctx: &viz::Context,
    cfg: &LongExperiment,
    raw: &toml::Value,
    corpus: &Corpus,
    opts: LongOptions,
) -> Result<()> {
    let clock = Instant::now();
    let tokenizer = build_tokenizer(&TokenizerSpec::Char {}, corpus)?;
    let data = Data {
        corpus,
        train_ids: tokenizer.encode(&corpus.train_text),
        val_ids: tokenizer.encode(&corpus.val_text),
        ngram: super::m6::train_ngram(ctx, &tokenizer, corpus)?,
        tokenizer,
    };
    let limits = SessionLimits {
        session_s: opts.session_minutes.map(|m| m * 60.0),
        until_step: None,
    };
    let (plan, resume) = if opts.resume {
        let rec = Record::load(ctx, MILESTONE, LONG_RUN)
            .context("--resume: there is no long run to continue")?;
        (rec.artifact::<LongPlan>("plan")?, true)
    } else {
        let ckpt = checkpoint::dir_for(ctx, CHECKPOINT);
        if !opts.select_only && !opts.fresh && ckpt.exists() {
            if let Ok(old) = Record::load(ctx, MILESTONE, LONG_RUN) {
                if old.meta.status != Status::Finished {
                    bail!(
                        "records/{MILESTONE}/{LONG_RUN} holds an unfinished run ({} of {} training minutes); \
                         `--resume` continues it, `--fresh` starts over",
                        mins(old.summary("train_minutes").unwrap_or(0.0)),
                        old.summary("budget_minutes").unwrap_or(f64::NAN)
                    );
                }
            }
        }
        let selection = if opts.select_only {
            let r = run_selection(ctx, cfg, raw, &data)?;
            let chosen = choose(&r).context("no candidate has a finite extrapolation")?;
            Some((r, chosen))
        } else {
            match (load_selection(ctx, cfg)?, &cfg.long.candidate) {
                (Selection::Usable(r, c), _) => Some((r, c)),
                (_, Some(_)) => None,
                (Selection::Missing, None) => {
                    let r = run_selection(ctx, cfg, raw, &data)?;
                    let chosen = choose(&r).context("no candidate has a finite extrapolation")?;
                    Some((r, chosen))
                }
                (Selection::Stale, None) => bail!(
                    "records/{MILESTONE}/{SELECT_RUN} was made with other candidates or settings than {}; \
                     `cargo xtask gpt-long --select` redoes it (or set [long] candidate)",
                    ctx.config_path(super::PHASE, CONFIG).display()
                ),
            }
        };
        if opts.select_only {
            figures(ctx)?;
            return write_docs(ctx);
        }
        let plan = plan_long(
            cfg,
            &data,
            selection.as_ref().map(|(r, c)| (r.as_slice(), *c)),
        )?;
        (plan, false)
    };
    println!(
        "{LONG_RUN}: `{}` ({:.2} M params; {}), schedule {} steps, budget {} min{}",
        plan.candidate.name,
        plan.run.model.n_params() as f64 / 1e6,
        plan.candidate.describe(),
        plan.run.train.steps,
        plan.budget_s / 60.0,
        if resume { ", resumed" } else { "" }
    );
    let (stop, mut trainer, writer) = long_session(
        ctx,
        raw,
        &plan,
        &data.tokenizer,
        &data.train_ids,
        &data.val_ids,
        &data.ngram,
        limits,
        resume,
    )?;
    let Some(mut writer) = writer else {
        println!(
            "{LONG_RUN}: session stopped at step {} ({stop:?}); `cargo xtask gpt-long --resume{}` continues it",
            trainer.step,
            if ctx.quick { " --quick" } else { "" }
        );
        figures(ctx)?;
        return write_docs(ctx);
    };
    let line = finish_long(ctx, &mut writer, &mut trainer, &data, &cfg.samples)?;
    writer.finish()?;
    println!(
        "{LONG_RUN}: {} steps, stopped by {stop:?}; {line} ({:.0} s)",
        trainer.step,
        clock.elapsed().as_secs_f64()
    );
    let drawn = figures(ctx)?;
    for f in drawn {
        println!("{LONG_RUN}: drew {}", f.display());
    }
    write_docs(ctx)
}

/// The smoke run's log entry goes into its scratch copy of the log, beside `cargo xtask phase2
/// --quick`'s; a real run's reaches `experiments_log.md` and the README through `cargo xtask log`.
fn write_docs(ctx: &viz::Context) -> Result<()> {
    if ctx.quick {
        let path = ctx.docs.join("experiments_log.md");
        viz::log::update_file(
            &path,
            &log_entries(ctx)?,
            "visualizations/",
            "# Experiments log (smoke run)\n",
        )?;
        println!("{LONG_RUN}: log entry in {}", path.display());
    } else {
        println!(
            "{LONG_RUN}: `cargo xtask log` puts the entry into experiments_log.md and the README"
        );
    }
    Ok(())
}

/// `cargo xtask bench --size long`: the speed runs of `bench` at the long run's model size (the
/// candidate the long run trains, else the selection's choice, else `[long] candidate`), ours
/// against `torch_gpt.py` given the same sizes, recorded as `m6/bench_long`. Without dropout on
/// either side: the PyTorch script has none.
pub fn bench_long(ctx: &viz::Context, torch: Option<&Path>, steps: Option<usize>) -> Result<()> {
    let (cfg, _) = load_config(ctx)?;
    let cand = match Record::load(ctx, MILESTONE, LONG_RUN)
        .ok()
        .and_then(|r| r.artifact::<LongPlan>("plan").ok())
    {
        Some(plan) => plan.candidate,
        None => match (load_selection(ctx, &cfg)?, &cfg.long.candidate) {
            (_, Some(name)) => cfg.candidate(name)?.clone(),
            (Selection::Usable(r, c), None) => cfg.candidate(&r[c].name)?.clone(),
            _ => bail!(
                "bench --size long: no long run, no selection and no [long] candidate in {}: \
                 run `cargo xtask gpt-long --select` first or name one",
                ctx.config_path(super::PHASE, CONFIG).display()
            ),
        },
    };
    let mut run = cand.run_config(&cfg.train, 0, cfg.bench.steps, cfg.bench.steps);
    run.train.dropout = 0.0;
    run.train.eval_iters = 20;
    let bench = BenchConfig {
        model: run.model,
        train: run.train,
        steps: cfg.bench.steps,
        rounds: cfg.bench.rounds,
        variants: cfg.bench.variants.clone(),
    };
    let raw = toml::Value::try_from(&bench).context("serialising the bench config")?;
    println!(
        "{BENCH_LONG_RUN}: candidate `{}` ({}), no dropout",
        cand.name,
        cand.describe()
    );
    super::bench::bench_config(ctx, &bench, &raw, BENCH_LONG_RUN, torch, steps)
}

// ---- figures --------------------------------------------------------------------------------------

fn load(ctx: &viz::Context, name: &str) -> Option<Record> {
    Record::load(ctx, MILESTONE, name).ok()
}

/// The long record, when it is finished (a paused or killed run has no comparison yet).
fn finished_long(ctx: &viz::Context) -> Option<Record> {
    load(ctx, LONG_RUN).filter(|r| r.meta.status == Status::Finished)
}

/// The selection record, when it is finished.
fn finished_select(ctx: &viz::Context) -> Option<Record> {
    load(ctx, SELECT_RUN).filter(|r| r.meta.status == Status::Finished)
}

/// The line the curves must beat, and the bench GPT's, in the long run's figure.
fn reference_lines(ctx: &viz::Context, long: &Record) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    if let (Some(ng), Some(n)) = (long.summary("ngram_subset_loss"), long.summary("ngram_n")) {
        out.push((
            format!("Kneser–Ney {n:.0}-gram, same characters: {ng:.3}"),
            ng,
        ));
    }
    match (
        long.summary("bench_subset_loss"),
        load(ctx, CHAR_RUN).and_then(|r| r.summary("val_loss_sliding")),
    ) {
        (Some(b), _) => out.push((format!("bench-config GPT (m6), same subset: {b:.3}"), b)),
        (None, Some(b)) => out.push((format!("bench-config GPT (m6), whole split: {b:.3}"), b)),
        _ => {}
    }
    out
}

/// Evaluations above this are left out of the curves, so the part where the lines meet is
/// readable (the first minutes fall from ln 65 ≈ 4.2).
/// Half a nat above the highest reference line, and never so low that the curve's own lowest
/// half nat is cut.
fn curve_cap(refs: &[(String, f64)], curve: &[CurvePoint]) -> f64 {
    let top = refs.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    let low = curve
        .iter()
        .map(|p| p.val_loss)
        .fold(f64::INFINITY, f64::min);
    (top + 0.5).max(low + 0.5)
}

pub fn figures(ctx: &viz::Context) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let select = finished_select(ctx);
    if let Some(sel) = &select {
        let results: Vec<SelectResult> = sel.artifact("candidates")?;
        let cfg: LongExperiment = sel.config_as()?;
        let budget_s = cfg.long.budget_minutes * 60.0;
        let ngram =
            results.iter().map(|r| r.ngram_subset).sum::<f64>() / results.len().max(1) as f64;
        // Every candidate's last evaluation stays in the picture.
        let last_max = results
            .iter()
            .filter_map(|r| r.curve.last().map(|p| p.val_loss))
            .fold(f64::NEG_INFINITY, f64::max);
        let cap = (ngram + 0.8).max(last_max + 0.3);
        let n = sel.summary("ngram_n").unwrap_or(6.0);
        let chosen = sel.summary("chosen_index").map(|c| c as usize);
        let mut measured = LineChart::new(
            format!("Measured: the first {} minutes", cfg.select.minutes),
            "training wall clock (minutes)",
            "validation loss, fixed subset (nats/char)",
        );
        let mut fitted = LineChart::new(
            format!(
                "Fitted a + b·t^(−c), extrapolated to {} minutes",
                cfg.long.budget_minutes
            ),
            "training wall clock (minutes, log scale)",
            "validation loss, fixed subset (nats/char)",
        )
        .log_x();
        for (i, r) in results.iter().enumerate() {
            let pts: Vec<(f64, f64)> = r
                .curve
                .iter()
                .filter(|p| p.val_loss <= cap && p.seconds > 0.0)
                .map(|p| (p.seconds / 60.0, p.val_loss))
                .collect();
            let mark = if chosen == Some(i) { " — chosen" } else { "" };
            measured = measured.series(
                Series::new(
                    format!("{} ({:.2} M params){mark}", r.name, r.params as f64 / 1e6),
                    pts.clone(),
                )
                .colour_slot(i),
            );
            fitted = fitted.series(
                Series::new(format!("{} measured", r.name), pts)
                    .colour_slot(i)
                    .points(Marker::Circle),
            );
            if let Some(law) = r.fit {
                let (t0, t1) = (r.fit_from_s.max(1.0), budget_s);
                let line: Vec<(f64, f64)> = (0..=60)
                    .map(|k| {
                        let t = t0 * (t1 / t0).powf(k as f64 / 60.0);
                        (t / 60.0, law.at(t))
                    })
                    .filter(|p| p.1 <= cap)
                    .collect();
                fitted = fitted.series(
                    Series::new(
                        format!("{} fit: {:.3} at {} min", r.name, r.extrapolated, t1 / 60.0),
                        line,
                    )
                    .colour_slot(i)
                    .dashed(),
                );
            }
        }
        let label = format!("Kneser–Ney {n:.0}-gram, same characters: {ngram:.3}");
        measured = measured.hline(label.clone(), ngram);
        fitted = fitted.hline(label, ngram);
        let path = ctx.figure(FIG_SELECTION);
        viz::plot::line_grid(
            &format!(
                "Choosing the long run's model: {} candidates, {} minutes each",
                results.len(),
                cfg.select.minutes
            ),
            &[measured, fitted],
            2,
            &path,
        )?;
        out.push(path);
    }
    if let Some(long) = finished_long(ctx) {
        let plan: LongPlan = long.artifact("plan")?;
        let curve = long_curve(&long);
        let refs = reference_lines(ctx, &long);
        let cap = curve_cap(&refs, &curve);
        let kept: Vec<&CurvePoint> = curve.iter().filter(|p| p.val_loss <= cap).collect();
        let label = format!(
            "long GPT ({}, {:.2} M params), validation subset",
            plan.candidate.name,
            plan.run.model.n_params() as f64 / 1e6
        );
        let train: Vec<(CurvePoint, f64)> = train_curve(&long, &curve)
            .into_iter()
            .filter(|(_, l)| *l <= cap)
            .collect();
        let train_label = "its training loss (mean since the last evaluation, dropout on)";
        let over = long.summary("overtook_step").map(|s| s as usize);
        let crossing = curve.iter().find(|p| Some(p.step) == over);
        let mut by_time = LineChart::new(
            "against training wall clock",
            "training wall clock (minutes)",
            "loss (nats/char)",
        )
        .series(
            Series::new(
                label.clone(),
                kept.iter()
                    .map(|p| (p.seconds / 60.0, p.val_loss))
                    .collect(),
            )
            .colour_slot(0),
        )
        .series(
            Series::new(
                train_label,
                train.iter().map(|(p, l)| (p.seconds / 60.0, *l)).collect(),
            )
            .colour_slot(2),
        );
        // What the selection predicted for this candidate, where it has a fit.
        if let Some(sel) = &select {
            let results: Vec<SelectResult> = sel.artifact("candidates")?;
            if let Some(r) = results.iter().find(|r| r.name == plan.candidate.name) {
                if let Some(law) = r.fit {
                    let t1 = curve.last().map_or(plan.budget_s, |p| p.seconds);
                    let t0 = r.fit_from_s.max(1.0);
                    let line: Vec<(f64, f64)> = (0..=60)
                        .map(|k| {
                            let t = t0 * (t1 / t0).powf(k as f64 / 60.0);
                            (t / 60.0, law.at(t))
                        })
                        .filter(|p| p.1 <= cap)
                        .collect();
                    by_time = by_time.series(
                        Series::new(
                            format!(
                                "predicted from its {}-minute selection run",
                                sel.config_as::<LongExperiment>()?.select.minutes
                            ),
                            line,
                        )
                        .colour_slot(0)
                        .dashed(),
                    );
                }
            }
        }
        let mut by_chars = LineChart::new(
            "against characters seen",
            "training characters seen (millions)",
            "loss (nats/char)",
        )
        .series(
            Series::new(
                label,
                kept.iter().map(|p| (p.chars / 1e6, p.val_loss)).collect(),
            )
            .colour_slot(0),
        )
        .series(
            Series::new(
                train_label,
                train.iter().map(|(p, l)| (p.chars / 1e6, *l)).collect(),
            )
            .colour_slot(2),
        );
        if let Some(p) = crossing {
            let text = format!(
                "first below the n-gram: {:.1} min, {:.1} M characters",
                p.seconds / 60.0,
                p.chars / 1e6
            );
            by_time = by_time.series(
                Series::new(text.clone(), vec![(p.seconds / 60.0, p.val_loss)])
                    .colour_slot(1)
                    .points(Marker::Diamond),
            );
            by_chars = by_chars.series(
                Series::new(text, vec![(p.chars / 1e6, p.val_loss)])
                    .colour_slot(1)
                    .points(Marker::Diamond),
            );
        }
        for (l, y) in &refs {
            by_time = by_time.hline(l.clone(), *y);
            by_chars = by_chars.hline(l.clone(), *y);
        }
        let path = ctx.figure(FIG_VS_NGRAM);
        viz::plot::line_grid(
            &format!(
                "A larger GPT trained for {} minutes against the n-gram",
                mins(
                    long.summary("train_minutes")
                        .unwrap_or(plan.budget_s / 60.0)
                )
            ),
            &[by_time, by_chars],
            2,
            &path,
        )?;
        out.push(path);
    }
    Ok(out)
}

// ---- the log --------------------------------------------------------------------------------------

/// The experiment's log entry, once the selection or the long run has a finished record.
pub fn log_entries(ctx: &viz::Context) -> Result<Vec<viz::log::LogEntry>> {
    let (select, long) = (finished_select(ctx), finished_long(ctx));
    if select.is_none() && long.is_none() {
        return Ok(Vec::new());
    }
    Ok(vec![long_entry(ctx, select.as_ref(), long.as_ref())?])
}

/// A number with 3 decimals, or a dash.
fn f3(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

fn long_entry(
    ctx: &viz::Context,
    select: Option<&Record>,
    long: Option<&Record>,
) -> Result<viz::log::LogEntry> {
    let cfg: LongExperiment = match (long, select) {
        (Some(r), _) | (None, Some(r)) => r.config_as()?,
        (None, None) => bail!("no record"),
    };
    let bench_char = load(ctx, CHAR_RUN);
    let n = long
        .and_then(|r| r.summary("ngram_n"))
        .or(select.and_then(|r| r.summary("ngram_n")))
        .unwrap_or(6.0);
    let bench_line = match bench_char.as_ref().and_then(|r| {
        Some((
            r.summary("val_loss_sliding")?,
            r.summary("ngram_val_loss_sliding")?,
            r.summary("params")?,
            r.summary("steps")?,
        ))
    }) {
        Some((g, ng, p, steps)) => format!(
            "The bench-config character GPT (m6's first entry: {:.2} M parameters, {steps:.0} steps) scores {g:.3} nats \
             per character against the Kneser–Ney {n:.0}-gram's {ng:.3} on the same validation characters. ",
            p / 1e6
        ),
        None => String::new(),
    };
    let question = format!(
        "{bench_line}Trained larger and longer on the same two cores — at most {} minutes of training — does a GPT \
         beat the {n:.0}-gram, when does its validation loss cross the {n:.0}-gram's, and where (which positions in \
         the window, which kinds of character) does it win or lose?",
        cfg.long.budget_minutes
    );

    let mut setup = format!(
        "`cargo xtask gpt-long` (opt-in; not part of `cargo xtask phase2`), config `configs/phase2/{CONFIG}.toml`. \
         Periodic evaluation: the first {} characters of the validation split, scored like the final number — \
         sliding windows of half a block, so every scored character has at least half a block of context — and \
         compared with the {n:.0}-gram on exactly the same characters. ",
        cfg.eval.chars
    );
    let mut results = String::new();
    let mut discussion = String::new();
    let mut figures = Vec::new();

    if let Some(sel) = select {
        let scfg: LongExperiment = sel.config_as()?;
        let rs: Vec<SelectResult> = sel.artifact("candidates")?;
        let chosen = sel.require("chosen_index")? as usize;
        setup.push_str(&format!(
            "**Selection** ({}): each of {} candidates trains for {} minutes of wall clock with the schedule its \
             long run would have (warm-up, then cosine over the steps the {}-minute budget buys at the speed of a \
             {}-step probe × {}), evaluated about every {} s; `L(t) = a + b·t^(−c)` is fitted (least squares, the \
             floor `a` profiled) to the evaluations after {:.0} % of the window and past the warm-up, and read at \
             {} minutes; the lowest prediction is chosen. ",
            sel.provenance(),
            rs.len(),
            scfg.select.minutes,
            scfg.long.budget_minutes,
            scfg.select.probe_steps,
            scfg.long.schedule_fraction,
            scfg.select.eval_seconds,
            scfg.select.fit_from * 100.0,
            scfg.long.budget_minutes
        ));
        let mut t = viz::table::Table::new(&[
            "candidate",
            "model",
            "params",
            "tokens/s",
            &format!("subset loss after {} min", scfg.select.minutes),
            &format!("{n:.0}-gram, same chars"),
            "fit a / b / c",
            &format!("predicted at {} min", scfg.long.budget_minutes),
            &format!("minutes to the {n:.0}-gram (fit)"),
        ]);
        for (i, r) in rs.iter().enumerate() {
            let c = scfg.candidate(&r.name)?;
            t.push(vec![
                if i == chosen {
                    format!("**{}** (chosen)", r.name)
                } else {
                    r.name.clone()
                },
                format!(
                    "{}L {}H d{} block {} batch {}, lr {}, dropout {}",
                    c.n_layer, c.n_head, c.d_model, c.block_size, c.batch_size, c.max_lr, c.dropout
                ),
                format!("{:.2} M", r.params as f64 / 1e6),
                format!("{:.0}", r.tokens_per_s),
                f3(r.curve.last().map(|p| p.val_loss)),
                format!("{:.3}", r.ngram_subset),
                r.fit.map_or("no falling power law".into(), |l| {
                    format!("{:.3} / {:.2} / {:.3}", l.a, l.b, l.c)
                }),
                format!("{:.3}", r.extrapolated),
                match (r.fit, r.minutes_to_ngram) {
                    (Some(_), Some(m)) => format!("{m:.0}"),
                    (Some(_), None) => "never (floor above it)".into(),
                    (None, _) => "–".into(),
                },
            ]);
        }
        results.push_str(&format!(
            "**Selection** — {} minutes per candidate, prediction for {} minutes:\n\n{}\n",
            scfg.select.minutes,
            scfg.long.budget_minutes,
            t.markdown()
        ));
        let best_now = rs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.curve.last().map(|p| (i, p.val_loss)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let ch = &rs[chosen];
        discussion.push_str(&format!(
            "The selection chose `{}`: predicted {:.3} after {} minutes{}. ",
            ch.name,
            ch.extrapolated,
            scfg.long.budget_minutes,
            match best_now {
                Some((i, v)) if i != chosen => format!(
                    ", although `{}` was lower after the short run ({v:.3} against {}) — the fit expects the larger \
                     model to keep falling for longer",
                    rs[i].name,
                    f3(ch.curve.last().map(|p| p.val_loss))
                ),
                _ => ", and it was also the lowest after the short run".into(),
            }
        ));
        figures.push(Figure::new(
            FIG_SELECTION,
            FigureKind::LossCurves,
            format!(
                "the candidates' validation loss over their {}-minute runs (left) and the fitted a + b·t^(−c) \
                 carried to the {}-minute budget on a log time axis (right), against the {n:.0}-gram on the same \
                 characters.",
                scfg.select.minutes, scfg.long.budget_minutes
            ),
        ));
    }

    if let Some(long) = long {
        let plan: LongPlan = long.artifact("plan")?;
        let c = &plan.candidate;
        let sessions: Vec<SessionRow> = long.artifact("sessions").unwrap_or_default();
        setup.push_str(&format!(
            "**Long run** ({}): `{}` — {} ({:.2} M parameters), chosen by {}; schedule {} steps (the budget at \
             {:.1} ms per step × {}), stopped at {} minutes of training wall clock at most (evaluation and \
             checkpoints not counted), evaluated every {} steps, checkpointed about every {} minutes into \
             `checkpoints/{CHECKPOINT}`; {} session(s).",
            long.provenance(),
            c.name,
            c.describe(),
            plan.run.model.n_params() as f64 / 1e6,
            if plan.chosen_by == "config" {
                "`[long] candidate`"
            } else {
                "the selection"
            },
            plan.run.train.steps,
            plan.seconds_per_step * 1e3,
            cfg.long.schedule_fraction,
            plan.budget_s / 60.0,
            plan.run.train.eval_interval,
            plan.checkpoint_every_s / 60.0,
            sessions.len().max(1)
        ));
        let g = long.require("val_loss_sliding")?;
        let ng = long.require("ngram_val_loss_sliding")?;
        let full = long.require("val_loss_full")?;
        let minutes = long.require("train_minutes")?;
        let steps = long.require("steps_done")?;
        let chars = steps * (plan.run.train.batch_size * plan.run.model.block_size) as f64;
        let scored = long.require("sliding_scored")?;
        let mut t = viz::table::Table::new(&[
            "model",
            "params",
            "training",
            "characters seen",
            "val loss, sliding windows (fair)",
            "val loss, non-overlapping windows",
        ]);
        t.push(vec![
            format!("long GPT `{}`", c.name),
            format!("{:.2} M", plan.run.model.n_params() as f64 / 1e6),
            format!("{} min, {steps:.0} steps", mins(minutes)),
            format!("{:.1} M", chars / 1e6),
            format!("**{g:.3}**"),
            format!("{full:.3}"),
        ]);
        if let Some(b) = &bench_char {
            if let (Some(bg), Some(bf), Some(p), Some(s), Some(ts)) = (
                b.summary("val_loss_sliding"),
                b.summary("val_loss_full"),
                b.summary("params"),
                b.summary("steps"),
                b.summary("train_seconds"),
            ) {
                let bcfg: super::m6::GptExperiment = b.config_as()?;
                t.push(vec![
                    "bench-config GPT (m6)".into(),
                    format!("{:.2} M", p / 1e6),
                    format!("{} min, {s:.0} steps", mins(ts / 60.0)),
                    format!(
                        "{:.1} M",
                        s * (bcfg.char.train.batch_size * bcfg.char.model.block_size) as f64 / 1e6
                    ),
                    format!("{bg:.3}"),
                    format!("{bf:.3}"),
                ]);
            }
        }
        t.push(vec![
            format!("Kneser–Ney {n:.0}-gram (same characters)"),
            "–".into(),
            "counts".into(),
            "–".into(),
            format!("{ng:.3}"),
            "–".into(),
        ]);
        results.push_str(&format!(
            "\n**The long run against the {n:.0}-gram** — the whole validation split by sliding windows of half a \
             block: {scored:.0} characters, each with at least {:.0} before it in its window, scored by the long GPT \
             and the {n:.0}-gram alike (the bench-config GPT's row is m6's own fair score, windows of half its \
             shorter block); the last column cuts the split into back-to-back windows:\n\n{}\n",
            plan.run.model.block_size as f64 - long.require("sliding_stride")? + 1.0,
            t.markdown()
        ));
        let over = match (
            long.summary("overtook_minutes"),
            long.summary("overtook_chars"),
            long.summary("overtook_step"),
        ) {
            (Some(m), Some(ch), Some(s)) => Some((m, ch, s)),
            _ => None,
        };
        let ng_subset = long.require("ngram_subset_loss")?;
        results.push_str(&match over {
            Some((m, ch, s)) => format!(
                "\nOn the evaluation subset the GPT first went below the {n:.0}-gram ({ng_subset:.3}) at step {s:.0}: \
                 **{m:.1} minutes** of training, {:.1} M characters seen.\n",
                ch / 1e6
            ),
            None => format!(
                "\nOn the evaluation subset the GPT never went below the {n:.0}-gram ({ng_subset:.3}); its best was \
                 {}.\n",
                f3(long.summary("best_subset_loss"))
            ),
        });

        // By position in the window.
        let positions: Vec<PositionCurve> = long.artifact("positions")?;
        if let Some(lp) = positions.first() {
            let bp = positions.get(1);
            let mut t = viz::table::Table::new(&[
                "context (characters)",
                "long GPT",
                &format!("{n:.0}-gram, same chars"),
                "long − n-gram",
                "bench GPT",
                &format!("{n:.0}-gram, bench's chars"),
            ]);
            for (lo, hi) in context_buckets(lp.block) {
                let mean = |v: &[f64], lo: usize, hi: usize| -> Option<f64> {
                    (hi <= v.len())
                        .then(|| v[lo - 1..hi].iter().sum::<f64>() / (hi - lo + 1) as f64)
                };
                let (lg, ln) = (mean(&lp.gpt, lo, hi), mean(&lp.ngram, lo, hi));
                let (bg, bn) = match bp {
                    Some(b) => (mean(&b.gpt, lo, hi), mean(&b.ngram, lo, hi)),
                    None => (None, None),
                };
                t.push(vec![
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}–{hi}")
                    },
                    f3(lg),
                    f3(ln),
                    match (lg, ln) {
                        (Some(a), Some(b)) => format!("{:+.3}", a - b),
                        _ => "–".into(),
                    },
                    f3(bg),
                    f3(bn),
                ]);
            }
            results.push_str(&format!(
                "\n**By position in the window** — every window of the validation split back to back ({} windows of \
                 {}), the character at position p predicted from the p characters before it in its window; the \
                 {n:.0}-gram always has its {:.0} and is scored on the same characters:\n\n{}\n",
                lp.windows,
                lp.block,
                n - 1.0,
                t.markdown()
            ));
            // Where the GPT is above the n-gram, position by position, and from which row of the table
            // on every row is below it.
            let history = n as usize - 1;
            let above: Vec<usize> = (0..lp.block)
                .filter(|&p| lp.gpt[p] >= lp.ngram[p])
                .map(|p| p + 1)
                .collect();
            let short = above.iter().filter(|&&p| p < history).count();
            let further: Vec<String> = above
                .iter()
                .filter(|&&p| p >= history)
                .map(|p| p.to_string())
                .collect();
            let bucket_below = |&(lo, hi): &(usize, usize)| {
                let m = |v: &[f64]| v[lo - 1..hi].iter().sum::<f64>();
                m(&lp.gpt) < m(&lp.ngram)
            };
            let buckets = context_buckets(lp.block);
            let from = buckets
                .iter()
                .rev()
                .take_while(|b| bucket_below(b))
                .last()
                .map(|b| b.0);
            let last = lp.block - 1;
            discussion.push_str(&format!(
                "By position, the long GPT is above the {n:.0}-gram at {} of the {} positions: {short} where its \
                 window gives it fewer characters of context than the {n:.0}-gram's {history} (with 1: {:.3} against \
                 {:.3}){}. {} ",
                above.len(),
                lp.block,
                lp.gpt[0],
                lp.ngram[0],
                match further.len() {
                    0 => String::new(),
                    k => format!(
                        ", and {k} further in (context {})",
                        further.join(", ")
                    ),
                },
                match from {
                    Some(lo) => format!(
                        "From {lo} characters of context on, every row of the table is below the {n:.0}-gram (with \
                         {}: {:.3} against {:.3}){}.",
                        lp.block,
                        lp.gpt[last],
                        lp.ngram[last],
                        if lo <= history + 1 {
                            format!(
                                ": given at least the {n:.0}-gram's own {history} characters of history, the GPT \
                                 predicts better"
                            )
                        } else {
                            String::new()
                        }
                    ),
                    None => format!(
                        "Even the table's last row is not below the {n:.0}-gram ({} characters of context: {:.3} \
                         against {:.3}).",
                        lp.block, lp.gpt[last], lp.ngram[last]
                    ),
                }
            ));
        }
        // By kind of character.
        let cats: Vec<CategoryRow> = long.artifact("categories")?;
        if !cats.is_empty() {
            let mut t = viz::table::Table::new(&[
                "characters",
                "count",
                "long GPT",
                "bench GPT",
                &format!("{n:.0}-gram"),
                "long − n-gram",
            ]);
            for r in &cats {
                t.push(vec![
                    r.name.clone(),
                    r.chars.to_string(),
                    format!("{:.3}", r.long),
                    f3(r.bench),
                    format!("{:.3}", r.ngram),
                    format!("{:+.3}", r.long - r.ngram),
                ]);
            }
            results.push_str(&format!(
                "\n**Speaker names and running text** — per character on the fair windows, over the characters \
                 every model scored; a speaker name is a line after an empty line that ends in `:` (with its \
                 newline):\n\n{}\n",
                t.markdown()
            ));
            if let (Some(names), Some(text)) = (cats.first(), cats.get(1)) {
                let d_names = names.long - names.ngram;
                let d_text = text.long - text.ngram;
                discussion.push_str(&format!(
                    "On speaker names the GPT is {:.3} nats per character {} the {n:.0}-gram, on running text \
                     {:.3} {}: {}. ",
                    d_names.abs(),
                    if d_names < 0.0 { "below" } else { "above" },
                    d_text.abs(),
                    if d_text < 0.0 { "below" } else { "above" },
                    if d_names < d_text {
                        "relative to the n-gram it does best on the names, which the n-gram must guess from the \
                         last few characters and the GPT can read from the speeches before"
                    } else {
                        "relative to the n-gram it does best in running text"
                    }
                ));
            }
        }
        if let Ok(samples) = long.text("samples") {
            results.push_str(&format!(
                "\n**Samples** — prompt {:?}, {} characters, temperature {}, top-p {}, top-k {}, seed {} (the \
                 {n:.0}-gram draws through the same sampler, its log-probabilities as logits):\n\n{}\n",
                cfg.samples.prompt,
                cfg.samples.chars,
                cfg.samples.temperature,
                cfg.samples
                    .top_p
                    .map_or("off".to_string(), |p| p.to_string()),
                cfg.samples
                    .top_k
                    .map_or("off".to_string(), |k| k.to_string()),
                cfg.samples.seed,
                samples.trim_end()
            ));
        }
        if let Some(b) = load(ctx, BENCH_LONG_RUN) {
            let rows: Vec<BenchRow> = b.artifact("rows")?;
            let mut t = viz::table::Table::new(&[
                "trainer",
                "training tokens/s",
                "GFLOP/s",
                "peak memory (MiB)",
            ]);
            for r in &rows {
                t.push(vec![
                    r.trainer.clone(),
                    format!("{:.0}", r.tokens_per_s),
                    format!("{:.2}", r.gflops),
                    format!("{:.0}", r.peak_mem_mib),
                ]);
            }
            results.push_str(&format!(
                "\n**Speed at this size** (`cargo xtask bench --size long`, {} steps per trainer, alternating, no \
                 dropout on either side; {}):\n\n{}{}\n",
                rows.first().map_or(0, |r| r.steps),
                b.provenance(),
                t.markdown(),
                b.summary("ratio_vs_pytorch")
                    .map_or(String::new(), |r| format!(
                        "\nOur fastest trainer runs at {r:.2}× PyTorch's tokens/s at this size.\n"
                    ))
            ));
        }

        // The verdict, then what the curve says.
        let verdict = if g < ng {
            format!(
                "**The long GPT beats the {n:.0}-gram**: {g:.3} against {ng:.3} nats per character on the same {scored:.0} \
                 validation characters, {:.3} lower ({:.0} % lower perplexity)",
                ng - g,
                100.0 * (1.0 - (g - ng).exp())
            )
        } else {
            format!(
                "**The long GPT still loses to the {n:.0}-gram**: {g:.3} against {ng:.3} nats per character on the same \
                 {scored:.0} validation characters, {:.3} higher",
                g - ng
            )
        };
        let when = match over {
            Some((m, ch, _)) => format!(
                "; on the evaluation subset it crossed after {m:.1} minutes and {:.1} M characters",
                ch / 1e6
            ),
            None => String::new(),
        };
        let prediction = select
            .and_then(|s| s.artifact::<Vec<SelectResult>>("candidates").ok())
            .and_then(|rs| rs.into_iter().find(|r| r.name == c.name))
            .map(|r| {
                let end = long.summary("final_subset_loss").unwrap_or(f64::NAN);
                format!(
                    " The selection had predicted {:.3} on the subset for {} minutes; after {} minutes the run is at \
                     {end:.3}, {:.3} {} (the fit saw only the first minutes of the schedule, at nearly its \
                     full learning rate).",
                    r.extrapolated,
                    plan.budget_s / 60.0,
                    mins(minutes),
                    (end - r.extrapolated).abs(),
                    if end <= r.extrapolated {
                        "better than predicted"
                    } else {
                        "worse than predicted"
                    }
                )
            })
            .unwrap_or_default();
        // Where it lost: what the extrapolations say a win would need.
        let need = if g < ng {
            String::new()
        } else {
            let from_selection = select
                .and_then(|s| s.artifact::<Vec<SelectResult>>("candidates").ok())
                .and_then(|rs| rs.into_iter().find(|r| r.name == c.name))
                .and_then(|r| r.fit.map(|f| (f, r.ngram_subset)))
                .map(|(f, target)| match f.time_to(target) {
                    Some(t) => format!(
                        " The selection's fit (its first minutes) puts the {n:.0}-gram's {target:.3} at about {} \
                         minutes of training.",
                        mins(t / 60.0)
                    ),
                    None => format!(
                        " The selection's fit (its first minutes) levels off at {:.3}, above the {n:.0}-gram's \
                         {target:.3}.",
                        f.a
                    ),
                })
                .unwrap_or_default();
            let curve = long_curve(long);
            let total = curve.last().map_or(0.0, |p| p.seconds);
            let tail: Vec<(f64, f64)> = curve
                .iter()
                .filter(|p| p.seconds >= 0.25 * total && p.seconds > 0.0)
                .map(|p| (p.seconds, p.val_loss))
                .collect();
            match PowerLaw::fit(&tail) {
                Some(law) => match law.time_to(ng_subset) {
                    Some(t) => format!(
                        "{from_selection} Fitted to the long run's own curve (its last three quarters), \
                         a + b·t^(−c) reaches the {n:.0}-gram's {ng_subset:.3} on the subset after about {} minutes \
                         of training ({:.1}× this budget; at {:.0} tokens/s, {:.0} M characters) — an upper \
                         estimate, since part of that curve's flattening is the learning rate decaying to its \
                         minimum.",
                        mins(t / 60.0),
                        t / (minutes * 60.0),
                        long.summary("tokens_per_s").unwrap_or(f64::NAN),
                        t * long.summary("tokens_per_s").unwrap_or(f64::NAN) / 1e6
                    ),
                    None => format!(
                        "{from_selection} Fitted to the long run's own curve (its last three quarters), \
                         a + b·t^(−c) levels off at {:.3}, above the {n:.0}-gram's {ng_subset:.3} — though part of \
                         that curve's flattening is the learning rate decaying to its minimum, so a longer schedule \
                         would end lower than this floor says.",
                        law.a
                    ),
                },
                None => from_selection,
            }
        };
        let wall = long.meta.wall_s.map_or(String::new(), |w| {
            format!(
                " The run took {} minutes of training and {} minutes of wall clock in all (evaluations, \
                 checkpoints and this analysis included).",
                mins(minutes),
                mins(w / 60.0)
            )
        });
        let overfit = overfit_sentence(ctx, long);
        discussion = format!(
            "{verdict}{when}.{wall}{overfit} The non-overlapping whole-split number, which gives the first characters of each window \
             almost no context, is {full:.3}.{prediction}{need} {discussion}"
        );
        figures.insert(
            0,
            Figure::new(
                FIG_VS_NGRAM,
                FigureKind::LossCurves,
                format!(
                    "the long GPT's validation loss on the fixed subset against training minutes (left) and \
                     characters seen (right), with its training loss (dropout on) beside it, and the {n:.0}-gram on \
                     the same characters and the bench-config GPT as horizontal lines{}; evaluations far above the \
                     lines (the first minutes) are left out.",
                    if over.is_some() {
                        ", and the first evaluation below the n-gram marked"
                    } else {
                        ""
                    }
                ),
            )
            .key(),
        );
    } else {
        discussion.push_str(
            "The long run has no finished record yet: `cargo xtask gpt-long` trains the chosen candidate.",
        );
    }

    Ok(viz::log::LogEntry {
        id: "m6_long".into(),
        milestone: 6,
        title: "m6 — A larger GPT, trained longer, against the n-gram".into(),
        question,
        setup,
        results,
        figures,
        discussion: discussion.trim().to_string(),
    })
}

/// Where the validation curve stopped paying for more training, from the records: its lowest point
/// against its end, and the training loss over the same span (how many passes over the training
/// text that was, from m4's record of the split).
fn overfit_sentence(ctx: &viz::Context, long: &Record) -> String {
    let curve = long_curve(long);
    let train = train_curve(long, &curve);
    let (Some(best), Some(last)) = (
        curve
            .iter()
            .filter(|p| p.step > 0)
            .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss)),
        curve.last(),
    ) else {
        return String::new();
    };
    let train_at = |step: usize| train.iter().find(|(p, _)| p.step == step).map(|t| t.1);
    let (Some(tb), Some(te)) = (train_at(best.step), train_at(last.step)) else {
        return String::new();
    };
    let split = Record::load(ctx, "m4", "tokenizers")
        .ok()
        .and_then(|r| r.summary("train_bytes"));
    let passes = |chars: f64| {
        split.map_or(String::new(), |n| {
            format!(
                ", {:.0} passes over the {:.2} M training characters",
                chars / n,
                n / 1e6
            )
        })
    };
    let (gap_b, gap_e) = (best.val_loss - tb, last.val_loss - te);
    if last.val_loss - best.val_loss < 0.002 {
        return format!(
            " The subset loss was still at its lowest at the end ({:.3} after {} minutes{}); the training loss \
             (dropout on) was {te:.3} there, {gap_e:.3} below it.",
            last.val_loss,
            mins(last.seconds / 60.0),
            passes(last.chars)
        );
    }
    format!(
        " The subset loss was lowest, {:.3}, after {} minutes ({:.1} M characters{}), and ended at {:.3} \
         ({:+.3}); over the same span the training loss (dropout on) went from {tb:.3} to {te:.3}, so the gap \
         between training and validation {} from {gap_b:.3} to {gap_e:.3} nats per character{}.",
        best.val_loss,
        mins(best.seconds / 60.0),
        best.chars / 1e6,
        passes(best.chars),
        last.val_loss,
        last.val_loss - best.val_loss,
        if gap_e > gap_b { "widened" } else { "narrowed" },
        if gap_e > gap_b + 0.01 {
            ": past that point the model fits its training text without carrying it over to the validation \
             text, and more steps of this model on this text stop paying"
        } else {
            ""
        }
    )
}

/// Minutes in a sentence: whole minutes from 10 on, one decimal from 1, else two.
fn mins(m: f64) -> String {
    if m >= 10.0 {
        format!("{m:.0}")
    } else if m >= 1.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.2}")
    }
}

/// Context lengths `1, 2, 3–4, 5–8, …` up to `block`, as inclusive `(lo, hi)`.
fn context_buckets(block: usize) -> Vec<(usize, usize)> {
    let mut out = vec![(1, 1)];
    let mut lo = 2;
    while lo <= block {
        let hi = (2 * lo - 2).clamp(lo, block);
        out.push((lo, hi));
        lo = hi + 1;
    }
    out
}

/// m6's headline adds the long run's fair score, when there is one.
pub fn headline(ctx: &viz::Context) -> Option<String> {
    let r = finished_long(ctx)?;
    let (g, ng) = (
        r.summary("val_loss_sliding")?,
        r.summary("ngram_val_loss_sliding")?,
    );
    Some(format!(
        "the long GPT ({:.1} M params, {} min) {} it: {g:.3} vs {ng:.3}",
        r.summary("params")? / 1e6,
        mins(r.summary("train_minutes")?),
        if g < ng { "beats" } else { "still loses to" }
    ))
}
