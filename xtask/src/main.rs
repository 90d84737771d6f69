//! `cargo xtask …`: the project's build tasks, in Rust (after rust-analyzer's xtask).
//!
//! ```text
//! cargo xtask phase1 [--quick] [--quiet] [--only NAME]   run a phase's experiments, redraw, update docs
//! cargo xtask all [--quick] [--quiet]                    every phase
//! cargo xtask figures                                    redraw every figure from committed records
//! cargo xtask log                                        regenerate the log and crate README sections
//! cargo xtask check                                      dangling links, orphan figures, broken records
//! cargo xtask bench [--torch PYTHON] [--steps N]         GPT training throughput (vs PyTorch)
//! cargo xtask bench --full [--seeds N] [--torch PYTHON] the whole bench config: validation loss vs PyTorch
//! cargo xtask bench --parity --torch PYTHON             PyTorch replays our run: same init, same batches
//! cargo xtask sample --checkpoint DIR --prompt TEXT      generate text from a trained GPT
//! ```

mod check;
mod milestones;
mod phases;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};

// glibc hands buffers over 128 KiB back to the OS, so every tensor op would page-fault; mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Run experiments, redraw figures, regenerate the log, check the portfolio."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

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

#[derive(Subcommand)]
enum Cmd {
    /// Phase 1 (m1–m3): backprop by hand, MLP classifiers, optimizers.
    Phase1(RunOpts),
    /// Phase 2 (m4–m6): tokenizers, n-grams, attention, a GPT on tiny-shakespeare.
    Phase2(RunOpts),
    /// Phase 3 (m7–m9): retrieval-augmented generation (not built yet).
    Phase3(RunOpts),
    /// Phase 4 (m10–m12): tool-using agents (not built yet).
    Phase4(RunOpts),
    /// Every phase that exists, in order.
    All(RunOpts),
    /// Redraw every figure from the committed records.
    Figures,
    /// Regenerate the generated sections of experiments_log.md and the crate READMEs.
    Log,
    /// Fail if a link points nowhere, a figure is referenced nowhere, or a record does not parse.
    Check,
    /// Train the bench config for a fixed number of steps and report tokens/s (and PyTorch's with --torch).
    Bench {
        /// Python interpreter with torch installed, to run ../shared/bench/torch_gpt.py side by side.
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
        #[arg(long)]
        quiet: bool,
    },
    /// Generate text from a GPT checkpoint.
    Sample {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long, default_value = "ROMEO:")]
        prompt: String,
        #[arg(long, default_value_t = 300)]
        tokens: usize,
        #[arg(long, default_value_t = 0.8)]
        temperature: f64,
        #[arg(long)]
        top_k: Option<usize>,
        #[arg(long)]
        top_p: Option<f64>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// The workspace root: the parent of this crate's manifest directory.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn context(opts: &RunOpts) -> Result<viz::Context> {
    let root = root();
    if opts.quick {
        let scratch = root.join("scratch").join("quick");
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .with_context(|| format!("clearing {}", scratch.display()))?;
        }
        std::fs::create_dir_all(&scratch)?;
        Ok(viz::Context::quick(&root, &scratch, opts.quiet))
    } else {
        Ok(viz::Context::full(&root, opts.quiet))
    }
}

fn main() -> Result<()> {
    // Tensors here are small: candle's per-op threading costs more than it gains, so one thread per graph.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let cli = Cli::parse();
    let t0 = Instant::now();
    match cli.cmd {
        Cmd::Phase1(o) => phases::run_phases(&context(&o)?, &["phase1"], o.only.as_deref())?,
        Cmd::Phase2(o) => phases::run_phases(&context(&o)?, &["phase2"], o.only.as_deref())?,
        Cmd::Phase3(_) => bail!("{}", phases::not_built("phase3")),
        Cmd::Phase4(_) => bail!("{}", phases::not_built("phase4")),
        Cmd::All(o) => {
            if o.only.is_some() {
                bail!("--only names one experiment; use it with a phase (e.g. `cargo xtask phase1 --only m1_gradient_check`)");
            }
            let names: Vec<&str> = phases::PHASES.iter().map(|p| p.name).collect();
            phases::run_phases(&context(&o)?, &names, None)?
        }
        Cmd::Figures => {
            let ctx = viz::Context::full(&root(), true);
            let n = phases::figures(&ctx, &phases::all_names())?;
            println!(
                "figures: redrew {n} figures from records ({:.1} s)",
                t0.elapsed().as_secs_f64()
            );
        }
        Cmd::Log => {
            let ctx = viz::Context::full(&root(), true);
            let n = phases::update_docs(&ctx, &phases::all_names())?;
            println!("log: regenerated {n} entries in experiments_log.md and the crate READMEs");
        }
        Cmd::Check => check::run(&root())?,
        Cmd::Bench {
            torch,
            steps,
            full,
            seeds,
            parity,
            quiet,
        } => {
            let ctx = viz::Context::full(&root(), quiet);
            if let (true, Some(python)) = (parity, torch.as_deref()) {
                phase2_lm::bench::bench_parity(&ctx, python)?;
            } else if full {
                phase2_lm::bench::bench_full(&ctx, torch.as_deref(), seeds)?;
            } else {
                phase2_lm::bench::bench(&ctx, torch.as_deref(), steps)?;
            }
        }
        Cmd::Sample {
            checkpoint,
            prompt,
            tokens,
            temperature,
            top_k,
            top_p,
            seed,
        } => {
            let ctx = viz::Context::full(&root(), true);
            let text = phase2_lm::generate::sample(
                &ctx,
                &checkpoint,
                &prompt,
                tokens,
                temperature,
                top_k,
                top_p,
                seed,
            )?;
            println!("{text}");
        }
    }
    Ok(())
}
