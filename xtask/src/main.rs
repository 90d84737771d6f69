//! `cargo xtask …`: the project's build tasks, in Rust (after rust-analyzer's xtask).
//!
//! ```text
//! cargo xtask phase1 [--quick] [--quiet] [--only NAME]   run a phase's experiments, redraw, update docs
//! cargo xtask all [--quick] [--quiet]                    every phase
//! cargo xtask figures                                    redraw every figure from committed records
//! cargo xtask log                                        regenerate the log and crate README sections
//! cargo xtask quick-reference [--write]                 the smoke run's numbers against the committed ones
//! cargo xtask check                                      dangling links, orphan figures, broken or half-written records
//! cargo xtask <phase subcommand> …                       each phase's own (listed by `cargo xtask --help`)
//! ```
//!
//! xtask holds no ML and no phase's names: every phase crate describes itself
//! ([`viz::phase::Phase`]: experiments, milestones, subcommands) and [`phases::built`] lists them.

mod check;
mod milestones;
mod phases;
mod reference;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::{ArgMatches, Args, Command, FromArgMatches};

// glibc hands buffers over 128 KiB back to the OS, so every tensor op would page-fault; mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Args, Clone)]
struct RunOpts {
    /// Smoke run: the configs in configs/<phase>/quick/, every output under scratch/quick/.
    #[arg(long)]
    quick: bool,
    /// No progress bars (CI).
    #[arg(long)]
    quiet: bool,
    /// Run only this experiment of the phase.
    #[arg(long)]
    only: Option<String>,
}

/// The command line: the fixed commands, one per phase (built or planned), and the phases' own.
fn cli(root: &Path) -> Result<Command> {
    let mut cmd = Command::new("cargo xtask")
        .about("Run experiments, redraw figures, regenerate the log, check the portfolio.")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(RunOpts::augment_args(
            Command::new("all").about("Every phase that exists, in order"),
        ))
        .subcommand(Command::new("figures").about("Redraw every figure from the committed records"))
        .subcommand(Command::new("log").about(
            "Regenerate the generated sections of experiments_log.md, README.md and the crate READMEs",
        ))
        .subcommand(
            Command::new("quick-reference")
                .about("Compare what `cargo xtask all --quick` computed (timings left out) with records/quick_reference.json")
                .arg(
                    clap::Arg::new("write")
                        .long("write")
                        .action(clap::ArgAction::SetTrue)
                        .help("Make the smoke run's values the reference (say why in the commit)"),
                ),
        )
        .subcommand(Command::new("check").about(
            "Fail if a link points nowhere, a figure is referenced nowhere or cannot be drawn, a record does not parse or is unfinished, or a killed or failed run left something beside a record",
        ));
    for p in phases::built() {
        cmd = cmd.subcommand(RunOpts::augment_args(Command::new(p.name).about(p.about)));
        for c in (p.commands)() {
            cmd = cmd.subcommand(c);
        }
    }
    // Planned phases without a crate get a command that says so (a phase built milestone by
    // milestone already has its command above).
    let built = phases::built();
    let roadmap = milestones::Roadmap::load(root, &built)?;
    for p in roadmap
        .phase
        .iter()
        .filter(|p| roadmap.is_unbuilt(&p.name, &built))
    {
        cmd = cmd.subcommand(RunOpts::augment_args(
            Command::new(p.name.clone()).about(p.about.clone()),
        ));
    }
    Ok(cmd)
}

/// The workspace `cargo xtask` was run in — not the one this binary was compiled in: two clones may
/// share one `CARGO_TARGET_DIR`, and so one xtask binary. `cargo run` sets `CARGO_MANIFEST_DIR` to the
/// invoking workspace's `xtask/`; run directly, the binary looks up from the current directory.
fn root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let dir = PathBuf::from(dir);
        if dir.file_name().is_some_and(|n| n == "xtask") {
            if let Some(root) = dir.parent().filter(|r| is_root(r)) {
                return Ok(root.to_path_buf());
            }
        }
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    match cwd.ancestors().find(|d| is_root(d)) {
        Some(root) => Ok(root.to_path_buf()),
        None => bail!(
            "{} is not inside an ml-from-scratch-rs checkout (no Cargo.toml with xtask/ beside it above it)",
            cwd.display()
        ),
    }
}

fn is_root(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("xtask").join("Cargo.toml").is_file()
}

fn context(root: &Path, opts: &RunOpts) -> Result<viz::Context> {
    if opts.quick {
        let scratch = root.join("scratch").join("quick");
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .with_context(|| format!("clearing {}", scratch.display()))?;
        }
        std::fs::create_dir_all(&scratch)?;
        Ok(viz::Context::quick(root, &scratch, opts.quiet))
    } else {
        Ok(viz::Context::full(root, opts.quiet))
    }
}

fn main() -> Result<()> {
    // Tensors here are small: candle's per-op threading costs more than it gains, so one thread per graph.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let root = root()?;
    let matches = cli(&root)?.get_matches();
    run(&root, &matches)
}

fn run(root: &Path, matches: &ArgMatches) -> Result<()> {
    let t0 = Instant::now();
    let (name, sub) = matches.subcommand().expect("a subcommand is required");
    match name {
        "all" => {
            let opts = RunOpts::from_arg_matches(sub)?;
            if opts.only.is_some() {
                bail!("--only names one experiment; use it with a phase (`cargo xtask <phase> --only <experiment>`)");
            }
            phases::run_phases(&context(root, &opts)?, &phases::select(root, None)?, None)
        }
        "figures" => {
            let ctx = viz::Context::full(root, true);
            let n = phases::figures(&ctx, &phases::select(root, None)?)?;
            println!(
                "figures: redrew {n} figures from records ({:.1} s)",
                t0.elapsed().as_secs_f64()
            );
            Ok(())
        }
        "log" => {
            let ctx = viz::Context::full(root, true);
            let n = phases::update_docs(&ctx, &phases::select(root, None)?)?;
            println!("log: regenerated {n} entries in experiments_log.md and the crate READMEs");
            Ok(())
        }
        "check" => check::run(root),
        "quick-reference" => reference::run(root, sub.get_flag("write")),
        other => {
            let built = phases::built();
            if let Some(p) = built
                .iter()
                .find(|p| (p.commands)().iter().any(|c| c.get_name() == other))
            {
                return (p.run_command)(root, matches);
            }
            // A phase's run command (built, or planned: then `select` says it is not built yet).
            let opts = RunOpts::from_arg_matches(sub)?;
            let selected = phases::select(root, Some(&[other]))?;
            phases::run_phases(&context(root, &opts)?, &selected, opts.only.as_deref())
        }
    }
}
