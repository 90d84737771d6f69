//! The phase-4 experiments, run end to end by `cargo xtask phase4`.
//!
//! * [`m10`] — the agent loop with a policy of our own, imitation-trained, run on held-out tasks;
//!   `cargo xtask agent "question"` runs one question.

pub mod m10;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{FromArgMatches, Subcommand};
use viz::log::LogEntry;
use viz::phase::Milestone;
use viz::Context;

use crate::tools::Toolset;

/// Config folder name (`configs/phase4/`).
pub const PHASE: &str = "phase4";

/// Every experiment of the phase, in run order.
pub const EXPERIMENTS: &[&str] = &[m10::AGENT];

/// Phase 4 as `cargo xtask` sees it; m11 and m12 stay in `configs/roadmap.toml` until built.
pub fn phase() -> viz::phase::Phase {
    viz::phase::Phase {
        name: PHASE,
        about: "Phase 4 (m10–m12): tool-using agents (m10 built)",
        crate_dir: "crates/phase4-agents",
        experiments: EXPERIMENTS,
        milestones: &[Milestone {
            number: 10,
            title: "The agent loop",
            headline: m10::headline,
        }],
        run,
        figures,
        log_entries,
        commands,
        run_command,
    }
}

pub fn run(ctx: &Context, name: &str) -> Result<()> {
    let start = std::time::Instant::now();
    let summary = match name {
        m10::AGENT => m10::run_agent(ctx)?,
        _ => bail!(
            "unknown phase4 experiment `{name}`; valid names: {}",
            EXPERIMENTS.join(", ")
        ),
    };
    println!("{name}: {summary} ({:.0} s)", start.elapsed().as_secs_f64());
    Ok(())
}

pub fn figures(ctx: &Context) -> Result<Vec<PathBuf>> {
    m10::figures(ctx)
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    m10::log_entries(ctx)
}

/// Phase 4's own subcommands.
#[derive(Subcommand)]
enum Command {
    /// Answer a question with the agent m10 trained (checkpoints/m10_agent/) and print the
    /// transcript: thoughts, actions, observations.
    Agent {
        /// The question.
        question: String,
        /// Give the agent `lookup` (exact attributes) instead of `search`.
        #[arg(long)]
        lookup: bool,
        /// Use the agent of the smoke run (scratch/quick).
        #[arg(long)]
        quick: bool,
        /// Run any OpenAI-compatible server's model instead, e.g. `http://127.0.0.1:8080/v1`
        /// (key from OPENAI_API_KEY when set).
        #[arg(long, requires = "model")]
        openai: Option<String>,
        /// The model to ask at --openai.
        #[arg(long)]
        model: Option<String>,
        /// Describe each tool in a line of its own (for a larger model than ours).
        #[arg(long)]
        describe_tools: bool,
    },
}

fn commands() -> Vec<clap::Command> {
    viz::phase::subcommands::<Command>(PHASE)
}

fn run_command(root: &Path, m: &clap::ArgMatches) -> Result<()> {
    match Command::from_arg_matches(m)? {
        Command::Agent {
            question,
            lookup,
            quick,
            openai,
            model,
            describe_tools,
        } => {
            let ctx = Context::for_command(root, quick, false);
            let toolset = if lookup {
                Toolset::Lookup
            } else {
                Toolset::Search
            };
            let remote = openai.map(|url| {
                let mut c = serve::client::ClientConfig::new(url, model.unwrap_or_default());
                if std::env::var_os("OPENAI_API_KEY").is_some() {
                    c.api_key_env = Some("OPENAI_API_KEY".into());
                }
                c
            });
            m10::ask(&ctx, &question, toolset, remote, describe_tools)
        }
    }
}
