//! The training loop around a [`Trainer`]: steps with a progress bar, the training loss averaged over
//! each logging interval, evaluation on the fixed validation batches with a checkpoint each time,
//! samples at chosen steps, and at the end the loss over the whole validation split.
//!
//! It decides nothing about where results go: every logged value is handed to the caller's `log`
//! callback (`cargo xtask phase2` writes it into a run record), and the final numbers come back in a
//! [`FitOutcome`].

/// The keys the loop hands to `log`, named once for the callers that read them back.
pub mod metric {
    /// Mean training loss over the last logging interval.
    pub const TRAIN_LOSS: &str = "train_loss";
    pub const LR: &str = "lr";
    pub const GRAD_NORM: &str = "grad_norm";
    pub const TOKENS_PER_S: &str = "tokens_per_s";
    /// Loss on the fixed validation batches (or, in a timed run, on the evaluation subset).
    pub const VAL_LOSS: &str = "val_loss";
    pub const VAL_BPC: &str = "val_bpc";
    pub const VAL_PERPLEXITY: &str = "val_perplexity";
    /// A timed run's wall-clock training seconds and tokens seen at each evaluation.
    pub const TRAIN_SECONDS: &str = "train_seconds";
    pub const TOKENS_SEEN: &str = "tokens_seen";
}

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::corpus::Corpus;
use crate::generate::Sampling;
use crate::generator::Generator;
use crate::tokenizer::{AnyTokenizer, Tokenizer};
use crate::train::{all_windows_predictions, RunConfig, StepStats, Trainer};

/// How samples are drawn during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSpec {
    pub prompt: String,
    /// Characters of text for the char model; BPE models get as many tokens divided by their
    /// measured characters per token, so samples are about the same length.
    pub chars: usize,
    pub temperature: f64,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub top_p: Option<f64>,
    pub seed: u64,
}

impl SampleSpec {
    pub fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
        }
    }
}

/// What [`fit`] needs besides the model config and the data.
#[derive(Debug, Clone, Copy, Default)]
pub struct FitOptions<'a> {
    /// Where to checkpoint at every evaluation (none: no checkpoints).
    pub checkpoint: Option<&'a Path>,
    /// Steps before which a sample is drawn; with `samples` set the final model is always sampled.
    pub sample_at: &'a [usize],
    pub samples: Option<&'a SampleSpec>,
    /// The progress bar's label.
    pub label: &'a str,
}

/// What a finished run reports.
pub struct FitOutcome {
    pub trainer: Trainer,
    pub tokenizer: AnyTokenizer,
    /// Final model, on the fixed validation batches.
    pub val_loss: f64,
    /// Final model, every window of the validation split ([`crate::train::all_windows`]).
    pub val_loss_full: f64,
    /// How many predictions `val_loss_full` averages.
    pub val_predictions_full: usize,
    /// Validation characters per token: converts nats/token into bits/character.
    pub chars_per_token: f64,
    pub tokens_per_s: f64,
    /// Time spent in training steps (evaluation, checkpoints and samples excluded).
    pub train_seconds: f64,
    /// Markdown: one fenced sample per sampling step (empty without `samples`).
    pub samples: String,
}

impl FitOutcome {
    /// Nats per token → bits per character.
    pub fn bpc(&self, nats_per_token: f64) -> f64 {
        nats_per_token / self.chars_per_token / std::f64::consts::LN_2
    }
}

/// Where [`fit`] sends what it logs: `(step, [(key, value), …])`.
pub type LogFn<'a> = dyn FnMut(u64, &[(&str, f64)]) -> Result<()> + 'a;

/// The values logged every `log_interval` steps, by both training loops.
fn log_train(
    log: &mut LogFn<'_>,
    step: usize,
    loss: f64,
    stats: &StepStats,
    tps: f64,
) -> Result<()> {
    log(
        step as u64,
        &[
            (metric::TRAIN_LOSS, loss),
            (metric::LR, stats.lr),
            (metric::GRAD_NORM, stats.grad_norm),
            (metric::TOKENS_PER_S, tps),
        ],
    )
}

/// Train `cfg` on `corpus` through `tokenizer`. Every `log_interval` steps `log(step, …)` receives
/// `train_loss` (mean over the interval), `lr`, `grad_norm` and `tokens_per_s`; every
/// `eval_interval` steps `val_loss`, `val_bpc` and `val_perplexity` on the fixed validation batches.
pub fn fit(
    ctx: &run_context::Context,
    cfg: RunConfig,
    tokenizer: AnyTokenizer,
    corpus: &Corpus,
    opts: FitOptions<'_>,
    log: &mut LogFn<'_>,
) -> Result<FitOutcome> {
    let train_ids = tokenizer.encode(&corpus.train_text);
    let val_ids = tokenizer.encode(&corpus.val_text);
    let chars_per_token = corpus.val_text.chars().count() as f64 / val_ids.len() as f64;
    let to_bpc = |nats: f64| nats / chars_per_token / std::f64::consts::LN_2;
    let mut trainer = Trainer::new(cfg)?;
    let val_batches = trainer.val_batches(&val_ids)?;
    let t = trainer.cfg.train.clone();
    let bar = ctx.progress(t.steps as u64, opts.label);
    let mut samples = String::new();
    let mut sample_now = |trainer: &Trainer| -> Result<()> {
        let Some(s) = opts.samples else {
            return Ok(());
        };
        let n_tokens = ((s.chars as f64) / chars_per_token).ceil() as usize;
        let mut generator = Generator::from_trainer(trainer, tokenizer.clone(), s.sampling())?;
        let text = generator.complete(&s.prompt, n_tokens, &[], s.seed)?.text;
        let text = format!("{}{text}", s.prompt);
        samples.push_str(&format!(
            "### step {}\n\n```text\n{}\n```\n\n",
            trainer.step,
            text.trim_end()
        ));
        Ok(())
    };
    let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
    let mut train_seconds = 0.0f64;
    let mut val_loss = f64::NAN;
    for step in 0..t.steps {
        if opts.sample_at.contains(&step) {
            sample_now(&trainer)?;
        }
        let start = Instant::now();
        let stats = trainer.step(&train_ids)?;
        train_seconds += start.elapsed().as_secs_f64();
        loss_sum += stats.loss as f64;
        loss_n += 1;
        let done = step + 1;
        let tps = (done * trainer.tokens_per_step()) as f64 / train_seconds;
        if done % t.log_interval == 0 || done == t.steps {
            log_train(log, done, loss_sum / loss_n as f64, &stats, tps)?;
            (loss_sum, loss_n) = (0.0, 0);
        }
        if done % t.eval_interval == 0 || done == t.steps {
            val_loss = trainer.evaluate(&val_batches)?;
            log(
                done as u64,
                &[
                    (metric::VAL_LOSS, val_loss),
                    (metric::VAL_BPC, to_bpc(val_loss)),
                    (metric::VAL_PERPLEXITY, val_loss.exp()),
                ],
            )?;
            if let Some(dir) = opts.checkpoint {
                crate::checkpoint::save(dir, &trainer, &tokenizer)?;
            }
        }
        bar.inc(1);
        bar.set_message(format!(
            "loss {:.3} val {:.3} {:.0} tok/s",
            stats.loss, val_loss, tps
        ));
    }
    bar.finish_and_clear();
    sample_now(&trainer)?;
    let tokens_per_s = (t.steps * trainer.tokens_per_step()) as f64 / train_seconds;
    // The final model on every window of the validation split: no sampling noise.
    let val_loss_full = trainer.evaluate_full(&val_ids)?;
    let val_predictions_full = all_windows_predictions(val_ids.len(), trainer.cfg.model.block_size);
    Ok(FitOutcome {
        trainer,
        tokenizer,
        val_loss,
        val_loss_full,
        val_predictions_full,
        chars_per_token,
        tokens_per_s,
        train_seconds,
        samples,
    })
}

/// Why [`fit_timed`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The schedule's last step (`train.steps`) is done.
    Steps,
    /// The run's training seconds, over all sessions, reached the budget.
    Budget,
    /// This session's own limit ([`TimedOptions::session_s`] or [`TimedOptions::until_step`]): the
    /// run continues from its checkpoint.
    Session,
}

/// What [`fit_timed`] needs besides the trainer and the data.
#[derive(Debug, Clone, Copy)]
pub struct TimedOptions<'a> {
    /// Training seconds the whole run may spend, over every session. Only the steps count (time
    /// spent evaluating and checkpointing does not), so the budget buys the same training whatever
    /// the evaluation cadence.
    pub budget_s: f64,
    /// Stop this session after this many of its own training seconds (a run split over sessions).
    pub session_s: Option<f64>,
    /// Stop this session once the trainer has done this many steps (deterministic: tests).
    pub until_step: Option<usize>,
    /// Where to checkpoint (none: never): at the first evaluation after every
    /// `checkpoint_every_s` training seconds, and whenever the loop stops, with the clock
    /// ([`crate::checkpoint::Progress`]) beside the weights.
    pub checkpoint: Option<&'a Path>,
    pub checkpoint_every_s: f64,
    /// The progress bar's label.
    pub label: &'a str,
}

/// What a [`fit_timed`] session reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedOutcome {
    pub stop: Stop,
    /// The run's clock at the end of this session (all sessions).
    pub train_seconds: f64,
    /// Steps done in this session.
    pub steps: usize,
    /// The last evaluation's value.
    pub val_loss: f64,
}

/// Train `trainer` against the clock: steps until the schedule ends (`train.steps`), the run's
/// training seconds reach `opts.budget_s`, or this session's own limit — whichever comes first — from
/// the clock `start` (0 for a new run; a checkpoint's [`crate::checkpoint::Progress`] on resume).
///
/// Every `log_interval` steps `log(step, …)` receives `train_loss` (mean over the interval), `lr`,
/// `grad_norm` and `tokens_per_s` (this session's steps over their seconds); at step 0 of a fresh
/// run, every `eval_interval` steps and where the loop stops, `val_loss` (whatever `eval` returns),
/// `train_seconds` (the run's clock) and `tokens_seen` (step × batch × block). The trajectory
/// depends on the config alone, never on timing: the clock decides only where the run stops. A
/// session that continues a checkpoint therefore logs the same values at the same steps as one
/// that never stopped, and its clock goes on from the checkpoint's.
#[allow(clippy::too_many_arguments)]
pub fn fit_timed(
    ctx: &run_context::Context,
    trainer: &mut Trainer,
    tokenizer: &AnyTokenizer,
    train_ids: &[u32],
    start: crate::checkpoint::Progress,
    opts: TimedOptions<'_>,
    eval: &mut dyn FnMut(&mut Trainer) -> Result<f64>,
    log: &mut LogFn<'_>,
) -> Result<TimedOutcome> {
    let t = trainer.cfg.train.clone();
    let tokens_per_step = trainer.tokens_per_step();
    let mut clock = start.train_seconds;
    let mut session_seconds = 0.0f64;
    let first_step = trainer.step;
    let mut last_checkpoint = clock;
    let mut val_loss = f64::NAN;
    let evaluate = |trainer: &mut Trainer,
                    clock: f64,
                    eval: &mut dyn FnMut(&mut Trainer) -> Result<f64>,
                    log: &mut LogFn<'_>|
     -> Result<f64> {
        let v = eval(trainer)?;
        log(
            trainer.step as u64,
            &[
                (metric::VAL_LOSS, v),
                (metric::TRAIN_SECONDS, clock),
                (metric::TOKENS_SEEN, (trainer.step * tokens_per_step) as f64),
            ],
        )?;
        Ok(v)
    };
    let save = |trainer: &Trainer, clock: f64| -> Result<()> {
        match opts.checkpoint {
            Some(dir) => crate::checkpoint::save_with_progress(
                dir,
                trainer,
                tokenizer,
                Some(&crate::checkpoint::Progress {
                    train_seconds: clock,
                }),
            ),
            None => Ok(()),
        }
    };
    if trainer.step == 0 {
        val_loss = evaluate(trainer, clock, eval, log)?;
    }
    let bar = ctx.progress(t.steps as u64, opts.label);
    bar.set_position(trainer.step as u64);
    let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
    let stop = loop {
        let stop = if trainer.step >= t.steps {
            Some(Stop::Steps)
        } else if clock >= opts.budget_s {
            Some(Stop::Budget)
        } else if opts.session_s.is_some_and(|s| session_seconds >= s)
            || opts.until_step.is_some_and(|s| trainer.step >= s)
        {
            Some(Stop::Session)
        } else {
            None
        };
        if let Some(stop) = stop {
            break stop;
        }
        let started = Instant::now();
        let stats = trainer.step(train_ids)?;
        let took = started.elapsed().as_secs_f64();
        clock += took;
        session_seconds += took;
        loss_sum += stats.loss as f64;
        loss_n += 1;
        let done = trainer.step;
        let tps = ((done - first_step) * tokens_per_step) as f64 / session_seconds;
        if done.is_multiple_of(t.log_interval) {
            log_train(log, done, loss_sum / loss_n as f64, &stats, tps)?;
            (loss_sum, loss_n) = (0.0, 0);
        }
        if done.is_multiple_of(t.eval_interval) {
            val_loss = evaluate(trainer, clock, eval, log)?;
            if clock - last_checkpoint >= opts.checkpoint_every_s {
                save(trainer, clock)?;
                last_checkpoint = clock;
            }
        }
        bar.inc(1);
        bar.set_message(format!(
            "loss {:.3} val {val_loss:.3} {:.1}/{:.1} min {tps:.0} tok/s",
            stats.loss,
            clock / 60.0,
            opts.budget_s / 60.0
        ));
    };
    bar.finish_and_clear();
    // Where the loop stopped (if this session trained at all): the training loss of the unfinished
    // interval, an evaluation unless this step just had one, and a checkpoint — so the curve ends
    // where the run ends and a later session starts from exactly here, with no step logged twice.
    if trainer.step > first_step {
        if loss_n > 0 {
            log(
                trainer.step as u64,
                &[(metric::TRAIN_LOSS, loss_sum / loss_n as f64)],
            )?;
        }
        if !trainer.step.is_multiple_of(t.eval_interval) {
            val_loss = evaluate(trainer, clock, eval, log)?;
        }
        save(trainer, clock)?;
    }
    Ok(TimedOutcome {
        stop,
        train_seconds: clock,
        steps: trainer.step - first_step,
        val_loss,
    })
}
