//! What `cargo xtask phase2` runs: each experiment reads its TOML config, writes run records through
//! `viz::record`, and figures / log entries are rebuilt from those records alone. [`phase`] is the
//! phase as xtask sees it, with its own subcommands (`bench`, `sample`, `gpt-long`).
//!
//! This module is the only one of the crate that writes records and figures, and no library module
//! imports it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{FromArgMatches, Subcommand};
use viz::phase::{Experiment, Milestone, Outputs};
use viz::record::Record;

pub mod bench;
pub mod m4;
pub mod m5;
pub mod m6;
pub mod m6_long;
pub mod records;

/// Config folder name (`configs/phase2/`).
pub const PHASE: &str = "phase2";

/// Every experiment of the phase, in run order (m5's figures read the model m6 trains, so m6 runs first).
pub const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: m4::TOKENIZERS,
        run: m4::tokenizers,
    },
    Experiment {
        name: m4::NGRAMS,
        run: m4::ngrams,
    },
    Experiment {
        name: m6::GPT,
        run: m6::run_gpt,
    },
    Experiment {
        name: m6::ABLATIONS,
        run: m6::run_ablations,
    },
    Experiment {
        name: m5::ATTENTION,
        run: m5::run_attention,
    },
];

/// What each milestone (and the opt-in long run) draws and writes, in log order.
const OUTPUTS: &[Outputs] = &[
    Outputs {
        figures: m4::figures,
        log_entries: m4::log_entries,
    },
    Outputs {
        figures: m5::figures,
        log_entries: m5::log_entries,
    },
    Outputs {
        figures: m6::figures,
        log_entries: m6::log_entries,
    },
    Outputs {
        figures: m6_long::figures,
        log_entries: m6_long::log_entries,
    },
];

/// Phase 2 as `cargo xtask` sees it.
pub fn phase() -> viz::phase::Phase {
    viz::phase::Phase {
        name: PHASE,
        about: "Phase 2 (m4–m6): tokenizers, n-grams, attention, a GPT on tiny-shakespeare",
        crate_dir: "crates/phase2-lm",
        experiments: EXPERIMENTS,
        milestones: &[
            Milestone {
                number: 4,
                title: "Tokenizers and n-gram baselines",
                headline: m4_headline,
            },
            Milestone {
                number: 5,
                title: "Attention you can look at",
                headline: m5_headline,
            },
            Milestone {
                number: 6,
                title: "A GPT trained on tiny-shakespeare",
                headline: m6_headline,
            },
        ],
        outputs: OUTPUTS,
        commands,
        run_command,
    }
}

/// Run one experiment end to end from its config.
pub fn run(ctx: &viz::Context, name: &str) -> Result<()> {
    phase().run(ctx, name)
}

fn load(ctx: &viz::Context, milestone: &str, name: &str) -> Option<Record> {
    Record::load(ctx, milestone, name).ok()
}

fn m4_headline(ctx: &viz::Context) -> Option<String> {
    let (n, ppl) = m4::best_ngram(ctx)?;
    Some(headline_text(
        "m4",
        &serde_json::json!({ "n": n, "ppl": format!("{ppl:.2}") }),
    ))
}

fn m5_headline(ctx: &viz::Context) -> Option<String> {
    let r = load(ctx, "m5", "attention")?;
    let s: records::AttentionSummary = r.summary_as().ok()?;
    let cfg: m5::AttentionConfig = r.config_as().ok()?;
    let (_, uniform) = m5::uniform_scores(cfg.repeat_len);
    Some(headline_text(
        "m5",
        &serde_json::json!({
            "found": m5::has_induction(
                s.best_induction,
                uniform,
                s.loss_first_copy,
                s.loss_second_copy
            ),
            "uniform": format!("{uniform:.3}"),
            "score": format!("{:.3}", s.best_induction),
            "layer": s.best_induction_layer,
            "head": s.best_induction_head,
        }),
    ))
}

fn m6_headline(ctx: &viz::Context) -> Option<String> {
    let r = load(ctx, m6::MILESTONE, m6::CHAR_RUN)?;
    let fit: Option<records::FitSummary> = r.summary_as().ok();
    let val_loss_full = fit.as_ref().map(|f| f.val_loss_full);
    let beats = |gpt: f64, ngram: f64| gpt < ngram;
    // The fair comparison first: sliding windows, the n-gram on the same characters.
    let comparison = if let Ok(records::SlidingSummary {
        val_loss_sliding: g,
        ngram_val_loss_sliding: ng,
        ngram_n: n,
        ..
    }) = r.summary_as()
    {
        serde_json::json!({
            "sliding": true,
            "gpt": format!("{g:.3}"),
            "beats": beats(g, ng),
            "n": n,
            "ngram": format!("{ng:.3}"),
            "full": val_loss_full.map(|v| format!("{v:.3}")),
        })
    } else {
        let v = val_loss_full?;
        let ngram = m4::best_ngram(ctx).map(|(n, ppl)| (n, ppl.ln()));
        serde_json::json!({
            "sliding": false,
            "gpt": format!("{v:.3}"),
            "beats": ngram.map(|(_, ng)| beats(v, ng)),
            "n": ngram.map(|(n, _)| n),
            "ngram": ngram.map(|(_, ng)| format!("{ng:.3}")),
        })
    };
    let ratio = load(ctx, bench::MILESTONE, bench::BENCH_RUN)
        .and_then(|b| b.summary_as::<records::BenchSummary>().ok())
        .and_then(|b| b.ratio_vs_pytorch);
    Some(headline_text(
        "m6",
        &serde_json::json!({
            "comparison": comparison,
            "ratio": ratio.map(|r| format!("{r:.2}")),
            "long": m6_long::headline(ctx),
        }),
    ))
}

const HEADLINES: &str = include_str!("../templates/headlines.md");

/// A milestone's line in the README's milestone table ([`viz::template::headline`]).
pub(crate) fn headline_text(block: &str, values: &impl serde::Serialize) -> String {
    viz::template::headline(HEADLINES, block, values)
}

/// Phase 2's own subcommands.
#[derive(Subcommand)]
enum Command {
    /// Train the bench config for a fixed number of steps and report tokens/s (and PyTorch's with
    /// --torch).
    Bench {
        /// Python interpreter with torch installed, to run crates/phase2-lm/scripts/torch_gpt.py side
        /// by side.
        #[arg(long)]
        torch: Option<PathBuf>,
        /// Training steps per measurement (default: the bench config's).
        #[arg(long)]
        steps: Option<usize>,
        /// Instead of the speed runs: the whole bench config (2000 steps) once with our default
        /// trainer and once with PyTorch, for the validation loss (records m6/bench_full).
        #[arg(long, conflicts_with = "steps")]
        full: bool,
        /// With --full: how many seeds (the config's seed, +1, ...).
        #[arg(long, default_value_t = 1, requires = "full")]
        seeds: usize,
        /// Instead of the speed runs: PyTorch replays our bench-config run from the same initial
        /// weights on the same batches (needs --torch; records m6/torch_parity).
        #[arg(long, conflicts_with_all = ["steps", "full"], requires = "torch")]
        parity: bool,
        /// The model the speed runs time: the bench config, or the long run's (`gpt-long`: the
        /// candidate it trains or the selection chose, no dropout; records m6/bench_long).
        #[arg(long, value_enum, default_value_t = BenchSize::Bench, conflicts_with_all = ["full", "parity"])]
        size: BenchSize,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// A GPT that beats the n-gram: candidates of configs/phase2/m6_long.toml trained for a few
    /// minutes each, the best extrapolation trained for up to 90 minutes (records m6/long_select,
    /// m6/long; checkpoints/m6_long), then compared with the n-gram on the same characters.
    GptLong {
        /// Only the selection (records m6/long_select).
        #[arg(long, conflicts_with_all = ["resume", "fresh"])]
        select: bool,
        /// Continue the long run from its last checkpoint, into the same record.
        #[arg(long, conflicts_with = "fresh")]
        resume: bool,
        /// Start the long run over although an unfinished one could be resumed.
        #[arg(long)]
        fresh: bool,
        /// Stop this session after this many minutes of training (checkpointed; --resume goes on).
        #[arg(long)]
        session_minutes: Option<f64>,
        /// The smoke config (configs/phase2/quick/m6_long.toml, seconds), into scratch/quick.
        #[arg(long)]
        quick: bool,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Generate text from a GPT checkpoint (e.g. checkpoints/gpt_char).
    Sample {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long, default_value = "ROMEO:")]
        prompt: String,
        /// Largest number of new tokens.
        #[arg(long, default_value_t = 300)]
        tokens: usize,
        #[arg(long, default_value_t = 0.8)]
        temperature: f64,
        #[arg(long)]
        top_k: Option<usize>,
        #[arg(long)]
        top_p: Option<f64>,
        /// Stop before the first occurrence of this text (repeatable).
        #[arg(long)]
        stop: Vec<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// Which model `bench` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BenchSize {
    /// configs/phase2/bench.toml (records m6/bench).
    Bench,
    /// The long run's model, from configs/phase2/m6_long.toml (records m6/bench_long).
    Long,
}

fn commands() -> Vec<clap::Command> {
    viz::phase::subcommands::<Command>(PHASE)
}

fn run_command(root: &Path, matches: &clap::ArgMatches) -> Result<()> {
    match Command::from_arg_matches(matches)? {
        Command::Bench {
            torch,
            steps,
            full,
            seeds,
            parity,
            size,
            quiet,
        } => {
            let ctx = viz::Context::full(root, quiet);
            match (parity, torch.as_deref()) {
                (true, Some(python)) => bench::bench_parity(&ctx, python),
                _ if full => bench::bench_full(&ctx, torch.as_deref(), seeds),
                _ if size == BenchSize::Long => m6_long::bench_long(&ctx, torch.as_deref(), steps),
                _ => bench::bench(&ctx, torch.as_deref(), steps),
            }
        }
        Command::GptLong {
            select,
            resume,
            fresh,
            session_minutes,
            quick,
            quiet,
        } => {
            if let Some(m) = session_minutes {
                anyhow::ensure!(m > 0.0, "--session-minutes must be > 0, not {m}");
            }
            let ctx = viz::Context::for_command(root, quick, quiet);
            m6_long::gpt_long(
                &ctx,
                m6_long::LongOptions {
                    select_only: select,
                    resume,
                    fresh,
                    session_minutes,
                },
            )
        }
        Command::Sample {
            checkpoint,
            prompt,
            tokens,
            temperature,
            top_k,
            top_p,
            stop,
            seed,
        } => {
            let sampling = phase2_lm::generate::Sampling {
                temperature,
                top_k,
                top_p,
            };
            if !checkpoint.is_dir() {
                let ctx = viz::Context::full(root, true);
                bail!(
                    "no checkpoint {}: {} (checkpoints/gpt_char and gpt_bpe); `cargo xtask gpt-long` writes the long run's",
                    checkpoint.display(),
                    viz::record::produced_by(&ctx, "cargo xtask phase2 --only m6_gpt", "m6", "gpt_char")
                );
            }
            let mut generator =
                phase2_lm::generator::Generator::from_checkpoint(&checkpoint, sampling)?;
            let stop: Vec<&str> = stop.iter().map(String::as_str).collect();
            let out = generator.complete(&prompt, tokens, &stop, seed)?;
            println!("{prompt}{}", out.text);
            Ok(())
        }
    }
}
