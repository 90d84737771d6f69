//! What a phase's experiment crate tells `cargo xtask` about itself, so xtask can run any phase
//! without knowing its experiments, record names or milestones: each experiment crate
//! (`experiments/phaseN`) exports one [`Phase`] from `phase()`, and adding a phase to xtask is adding
//! that function to its list.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::log::LogEntry;
use crate::plot::FigureSpec;
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
    pub experiments: &'static [Experiment],
    /// The phase's milestones, for the README's milestone table.
    pub milestones: &'static [Milestone],
    /// What each part of the phase draws and writes from its records, in log order.
    pub outputs: &'static [Outputs],
    /// The phase's own subcommands (`cargo xtask bench`, `cargo xtask sample`, …).
    pub commands: fn() -> Vec<clap::Command>,
    /// Runs one of [`Phase::commands`]: given the workspace root and the matches of the whole command
    /// line (whose subcommand is one of the phase's).
    pub run_command: fn(&Path, &clap::ArgMatches) -> Result<()>,
}

/// One experiment: the config it reads (`configs/<phase>/<name>.toml`, also the `--only` name) and
/// the function that runs it end to end, writing its records and returning a one-line summary.
pub struct Experiment {
    pub name: &'static str,
    pub run: fn(&Context) -> Result<String>,
}

/// The figures and log entries one part of a phase (a milestone, or an opt-in run) builds from its
/// records. Figures come back as data ([`FigureSpec`]); the phase draws them.
pub struct Outputs {
    pub figures: fn(&Context) -> Result<Vec<FigureSpec>>,
    pub log_entries: fn(&Context) -> Result<Vec<LogEntry>>,
}

impl Phase {
    /// The experiments' names, in run order.
    pub fn experiment_names(&self) -> Vec<&'static str> {
        self.experiments.iter().map(|e| e.name).collect()
    }

    /// Run the experiment called `name` (an error listing the valid names when there is none).
    pub fn run(&self, ctx: &Context, name: &str) -> Result<()> {
        run_named(self.name, self.experiments, ctx, name)
    }

    /// Every figure of the phase, built from its records but not drawn.
    pub fn figure_specs(&self, ctx: &Context) -> Result<Vec<FigureSpec>> {
        let mut out = Vec::new();
        for o in self.outputs {
            out.extend((o.figures)(ctx)?);
        }
        Ok(out)
    }

    /// Redraw every figure of the phase from its records; returns the files written.
    pub fn figures(&self, ctx: &Context) -> Result<Vec<PathBuf>> {
        render(ctx, &self.figure_specs(ctx)?)
    }

    /// The phase's log entries, built from its records, in log order.
    pub fn log_entries(&self, ctx: &Context) -> Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        for o in self.outputs {
            out.extend((o.log_entries)(ctx)?);
        }
        Ok(out)
    }
}

/// Run the experiment of `experiments` called `name` and print its summary line with its time;
/// `owner` (a phase or milestone) names the list in the error when there is no such experiment.
pub fn run_named(owner: &str, experiments: &[Experiment], ctx: &Context, name: &str) -> Result<()> {
    match experiments.iter().find(|e| e.name == name) {
        Some(e) => {
            let started = std::time::Instant::now();
            let summary = (e.run)(ctx)?;
            println!(
                "{name}: {summary} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        None => {
            let valid: Vec<&str> = experiments.iter().map(|e| e.name).collect();
            bail!(
                "unknown {owner} experiment `{name}`; valid names: {}",
                valid.join(", ")
            )
        }
    }
}

/// Draw `specs` into the context's figure folder; returns the files written.
pub fn render(ctx: &Context, specs: &[FigureSpec]) -> Result<Vec<PathBuf>> {
    specs
        .iter()
        .map(|s| {
            let path = ctx.figure(&s.file);
            s.render(&path)
                .with_context(|| format!("drawing {}", s.file))?;
            Ok(path)
        })
        .collect()
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
