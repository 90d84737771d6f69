//! The phase-4 experiments, run end to end by `cargo xtask phase4`.
//!
//! * [`m10`] — the agent loop with a policy of our own, imitation-trained (for every role of the
//!   phase), run on held-out tasks; `cargo xtask agent "question"` runs one question.
//! * [`m11`] — a team of agents (planner, solvers, verifier) on a message bus.
//! * [`m12`] — eight systems on one held-out suite: closed book, three RAGs (single-shot, k tuned
//!   on a dev suite, two-step), ReAct with search (free or constrained decoding) or lookup, the
//!   team; `cargo xtask policy-seeds` repeats its main comparison over policy training seeds.

pub mod m10;
pub mod m11;
pub mod m12;
pub mod records;

use std::path::Path;

use anyhow::Result;
use clap::{FromArgMatches, Subcommand};
use viz::phase::{Experiment, Milestone, Outputs};
use viz::Context;

use phase4_agents::tools::Toolset;

/// Config folder name (`configs/phase4/`).
pub const PHASE: &str = "phase4";

/// Every experiment of the phase, in run order.
pub const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: m10::AGENT,
        run: m10::run_agent,
    },
    Experiment {
        name: m11::TEAM,
        run: m11::run_experiment,
    },
    Experiment {
        name: m12::EVAL,
        run: m12::run_eval,
    },
];

/// What each milestone draws and writes, in log order.
const OUTPUTS: &[Outputs] = &[
    Outputs {
        figures: m10::figures,
        log_entries: m10::log_entries,
    },
    Outputs {
        figures: m11::figures,
        log_entries: m11::log_entries,
    },
    Outputs {
        figures: m12::figures,
        log_entries: m12::log_entries,
    },
];

/// Phase 4 as `cargo xtask` sees it.
pub fn phase() -> viz::phase::Phase {
    viz::phase::Phase {
        name: PHASE,
        about: "Phase 4 (m10–m12): tool-using agents, a team of agents, and their evaluation",
        crate_dir: "crates/phase4-agents",
        experiments: EXPERIMENTS,
        milestones: &[
            Milestone {
                number: 10,
                title: "The agent loop",
                headline: m10::headline,
            },
            Milestone {
                number: 11,
                title: "A multi-agent team",
                headline: m11::headline,
            },
            Milestone {
                number: 12,
                title: "Agent evaluation",
                headline: m12::headline,
            },
        ],
        outputs: OUTPUTS,
        commands,
        run_command,
    }
}

/// Runs one experiment end to end from its config, writing its records.
pub fn run(ctx: &Context, name: &str) -> Result<()> {
    phase().run(ctx, name)
}

/// Phase 4's own subcommands.
#[derive(Subcommand)]
enum Command {
    /// Repeat m12's main comparison (its agent against its baseline) with m10's policy trained
    /// again under the seeds of configs/phase4/m12_seeds.toml (opt-in: ~7 minutes per seed on 2
    /// cores; a seed whose policy is saved is not retrained). Records m12/seeds.
    PolicySeeds {
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
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
        Command::PolicySeeds { quiet } => {
            let ctx = Context::for_command(root, false, quiet);
            let started = std::time::Instant::now();
            let line = m12::seeds::run_seeds(&ctx)?;
            println!(
                "policy-seeds: {line} ({:.0} s); `cargo xtask figures` and `cargo xtask log` \
                 bring the figures and the log up to date",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
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
                let mut c = openai_client::ClientConfig::new(url, model.unwrap_or_default());
                if std::env::var_os("OPENAI_API_KEY").is_some() {
                    c.api_key_env = Some("OPENAI_API_KEY".into());
                }
                c
            });
            m10::ask(&ctx, &question, toolset, remote, describe_tools)
        }
    }
}

const HEADLINES: &str = include_str!("../templates/headlines.md");

/// A milestone's line in the README's milestone table ([`viz::template::headline`]).
pub(crate) fn headline_text(block: &str, values: &impl serde::Serialize) -> String {
    viz::template::headline(HEADLINES, block, values)
}
