//! The training loop around a [`Trainer`]: steps with a progress bar, the training loss averaged over
//! each logging interval, evaluation on the fixed validation batches with a checkpoint each time,
//! samples at chosen steps, and at the end the loss over the whole validation split.
//!
//! It decides nothing about where results go: every logged value is handed to the caller's `log`
//! callback (`cargo xtask phase2` writes it into a run record), and the final numbers come back in a
//! [`FitOutcome`].

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::corpus::Corpus;
use crate::generate::Sampling;
use crate::generator::Generator;
use crate::tokenizer::{AnyTokenizer, Tokenizer};
use crate::train::{all_windows_predictions, RunConfig, Trainer};

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

/// Train `cfg` on `corpus` through `tokenizer`. Every `log_interval` steps `log(step, …)` receives
/// `train_loss` (mean over the interval), `lr`, `grad_norm` and `tokens_per_s`; every
/// `eval_interval` steps `val_loss`, `val_bpc` and `val_perplexity` on the fixed validation batches.
pub fn fit(
    ctx: &viz::Context,
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
            log(
                done as u64,
                &[
                    ("train_loss", loss_sum / loss_n as f64),
                    ("lr", stats.lr),
                    ("grad_norm", stats.grad_norm),
                    ("tokens_per_s", tps),
                ],
            )?;
            (loss_sum, loss_n) = (0.0, 0);
        }
        if done % t.eval_interval == 0 || done == t.steps {
            val_loss = trainer.evaluate(&val_batches)?;
            log(
                done as u64,
                &[
                    ("val_loss", val_loss),
                    ("val_bpc", to_bpc(val_loss)),
                    ("val_perplexity", val_loss.exp()),
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
