//! What a phase's experiment crate tells `cargo xtask` about itself, so xtask can run any phase
//! without knowing its experiments, record names or milestones: each experiment crate
//! (`experiments/phaseN`) exports one [`Phase`] from `phase()`, and adding a phase to xtask is adding
//! that function to its list.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::log::LogEntry;
use crate::Context;

/// One phase of the portfolio, as xtask sees it.
pub struct Phase {
    /// Command and config-folder name: `cargo xtask phase2`, `configs/phase2/`.
    pub name: &'static str,
    /// One line for `cargo xtask --help`.
    pub about: &'static str,
    /// The crate folder (its README.md is the phase's milestone README).
    pub crate_dir: &'static str,
    /// Every experiment, in run order.
    pub experiments: &'static [&'static str],
    /// The phase's milestones, for the README's milestone table.
    pub milestones: &'static [Milestone],
    /// Run one experiment end to end from its config (writes its records).
    pub run: fn(&Context, &str) -> Result<()>,
    /// Redraw every figure of the phase from its records.
    pub figures: fn(&Context) -> Result<Vec<PathBuf>>,
    /// The phase's log entries, built from its records.
    pub log_entries: fn(&Context) -> Result<Vec<LogEntry>>,
    /// The phase's own subcommands (`cargo xtask bench`, `cargo xtask sample`, …).
    pub commands: fn() -> Vec<clap::Command>,
    /// Runs one of [`Phase::commands`]: given the workspace root and the matches of the whole command
    /// line (whose subcommand is one of the phase's).
    pub run_command: fn(&Path, &clap::ArgMatches) -> Result<()>,
}

/// One milestone: its number, title, and how to read its one headline number from the records.
pub struct Milestone {
    pub number: u32,
    pub title: &'static str,
    /// The number that says whether it worked (None when its records are missing).
    pub headline: fn(&Context) -> Option<String>,
}

/// [`Phase::commands`] of a phase whose subcommands are the clap `Subcommand` enum `S`.
pub fn subcommands<S: clap::Subcommand>(phase: &'static str) -> Vec<clap::Command> {
    S::augment_subcommands(clap::Command::new(phase))
        .get_subcommands()
        .cloned()
        .collect()
}

/// [`Phase::commands`] of a phase without subcommands.
pub fn no_commands() -> Vec<clap::Command> {
    Vec::new()
}

/// [`Phase::run_command`] of a phase without subcommands.
pub fn no_command_runner(_: &Path, m: &clap::ArgMatches) -> Result<()> {
    bail!("this phase has no subcommand {:?}", m.subcommand_name())
}
