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
//!
//! Here: the config, the selection's results and the record readers every part shares; `select`
//! runs the short runs, `run` the long run and the commands, `figures` draws from the records, and
//! `log` fills the entry's template (`experiments/phase2/templates/m6_long.md`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
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
use crate::records::SlidingSummary;
use crate::records::{
    metric, LongPlanSummary, LongProgressSummary, LongResultSummary, LongSummary, SelectSummary,
};
use phase2_lm::checkpoint::{self, Progress};
use phase2_lm::corpus::{build_tokenizer, Corpus, TokenizerSpec};
use phase2_lm::extrapolate::PowerLaw;
use phase2_lm::fit::{fit_timed, SampleSpec, Stop, TimedOptions};
use phase2_lm::generator::Generator;
use phase2_lm::model::GptConfig;
use phase2_lm::ngram::NgramModel;
use phase2_lm::tokenizer::{AnyTokenizer, Tokenizer};
use phase2_lm::train::{all_windows, sliding_windows, Engine, RunConfig, TrainConfig, Trainer};

mod figures;
mod log;
mod run;
mod select;

pub use figures::figures;
pub use log::{headline, log_entries};
pub use run::{
    bench_long, gpt_long, gpt_long_with, long_session, speaker_mask, CategoryRow, LongOptions,
    LongPlan, PositionCurve, SessionLimits, SessionRow,
};
use select::*;

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
pub const FIG_BY_POSITION: &str = "m6_long_by_position.png";

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

// ---- reading the records -------------------------------------------------------------------------

/// The evaluation subset's length the long run recorded.
fn trainer_eval_chars(rec: &Record) -> usize {
    rec.summary_as::<LongPlanSummary>()
        .map_or(0, |p| p.eval_chars as usize)
}

/// The long run's evaluations, in step order (none yet for a run that has just started: the
/// series are read as logged so far).
fn long_curve(rec: &Record) -> Vec<CurvePoint> {
    let by_step = |key: &str| -> BTreeMap<u64, f64> {
        rec.series_if_logged(key)
            .into_iter()
            .map(|(s, v)| (s as u64, v))
            .collect()
    };
    let (secs, chars) = (by_step(metric::TRAIN_SECONDS), by_step(metric::TOKENS_SEEN));
    rec.series_if_logged(metric::VAL_LOSS)
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
    let train = rec.series_if_logged(metric::TRAIN_LOSS);
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
