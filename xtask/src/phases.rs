//! The phases xtask knows, and the run → figures → docs pipeline they share.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use viz::log::LogEntry;

/// What xtask needs from a phase crate (each exports these from its `experiments` module).
pub struct Phase {
    pub name: &'static str,
    /// Crate folder, for its milestone README.
    pub crate_dir: &'static str,
    pub experiments: &'static [&'static str],
    pub run: fn(&viz::Context, &str) -> Result<()>,
    pub figures: fn(&viz::Context) -> Result<Vec<PathBuf>>,
    pub log_entries: fn(&viz::Context) -> Result<Vec<LogEntry>>,
}

pub const PHASES: &[Phase] = &[
    Phase {
        name: phase1_mlp::experiments::PHASE,
        crate_dir: "crates/phase1-mlp",
        experiments: phase1_mlp::experiments::EXPERIMENTS,
        run: phase1_mlp::experiments::run,
        figures: phase1_mlp::experiments::figures,
        log_entries: phase1_mlp::experiments::log_entries,
    },
    Phase {
        name: phase2_lm::experiments::PHASE,
        crate_dir: "crates/phase2-lm",
        experiments: phase2_lm::experiments::EXPERIMENTS,
        run: phase2_lm::experiments::run,
        figures: phase2_lm::experiments::figures,
        log_entries: phase2_lm::experiments::log_entries,
    },
];

/// Phases planned in the portfolio but without a crate yet.
const PLANNED: &[(&str, &str)] = &[
    ("phase3", "m7–m9, retrieval-augmented generation"),
    ("phase4", "m10–m12, tool-using agents"),
];

pub fn not_built(name: &str) -> String {
    let what = PLANNED.iter().find(|p| p.0 == name).map_or("", |p| p.1);
    format!(
        "{name} ({what}) has no crate yet; phases that run: {}",
        all_names().join(", ")
    )
}

pub fn all_names() -> Vec<&'static str> {
    PHASES.iter().map(|p| p.name).collect()
}

fn phase(name: &str) -> Result<&'static Phase> {
    match PHASES.iter().find(|p| p.name == name) {
        Some(p) => Ok(p),
        None if PLANNED.iter().any(|p| p.0 == name) => bail!("{}", not_built(name)),
        None => bail!(
            "unknown phase `{name}`; valid phases: {}",
            all_names().join(", ")
        ),
    }
}

/// Run the phases' experiments (or one), then redraw their figures and regenerate their docs.
pub fn run_phases(ctx: &viz::Context, names: &[&str], only: Option<&str>) -> Result<()> {
    let t0 = Instant::now();
    if !ctx.quick {
        // A fresh machine may have the data in ../shared (CI lays it there); the phases look in the cache.
        seed_data_cache(ctx)?;
    } else {
        seed_data_cache(ctx)?;
        copy_readmes_into_scratch(ctx)?;
    }
    let mut ran = 0;
    for &name in names {
        let p = phase(name)?;
        let todo: Vec<&str> = match only {
            Some(o) if p.experiments.contains(&o) => vec![o],
            Some(o) => bail!(
                "unknown {} experiment `{o}`; valid names: {}",
                p.name,
                p.experiments.join(", ")
            ),
            None => p.experiments.to_vec(),
        };
        for exp in todo {
            let t = Instant::now();
            (p.run)(ctx, exp).with_context(|| format!("{} experiment {exp} failed", p.name))?;
            ran += 1;
            if !ctx.quiet {
                eprintln!("  {exp} done in {:.1} s", t.elapsed().as_secs_f64());
            }
        }
    }
    let (figs, entries) = match (figures(ctx, names), only) {
        (Ok(figs), _) => (figs, update_docs(ctx, names)?),
        // One experiment of a phase whose other experiments have never run: its record is written,
        // but the phase's figures and log need every record, so say what is missing instead of failing.
        (Err(e), Some(o)) => {
            eprintln!("{o}: record written; figures and log not redrawn ({e:#}); run the whole phase once to draw them");
            (0, 0)
        }
        (Err(e), None) => return Err(e),
    };
    println!(
        "{}: {ran} experiments, {figs} figures, {entries} log entries in {:.1} s{}",
        names.join("+"),
        t0.elapsed().as_secs_f64(),
        if ctx.quick {
            format!(" (quick, into {})", ctx.docs.display())
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Redraw every figure of the named phases from records; returns how many.
pub fn figures(ctx: &viz::Context, names: &[&str]) -> Result<usize> {
    let mut n = 0;
    for &name in names {
        let p = phase(name)?;
        n += (p.figures)(ctx)
            .with_context(|| format!("drawing {} figures", p.name))?
            .len();
    }
    Ok(n)
}

const LOG_PREAMBLE: &str = "# Experiments log\n\n\
One entry per experiment: the question, the setup, the numbers and the figures. Everything between\n\
`BEGIN GENERATED` / `END GENERATED` markers is rebuilt from the run records in `records/` by\n\
`cargo xtask log` (or any `cargo xtask phaseN`); anything written outside the markers is kept as is.\n";

/// Regenerate the log entries of the named phases in `experiments_log.md` and each crate's README.
pub fn update_docs(ctx: &viz::Context, names: &[&str]) -> Result<usize> {
    let mut n = 0;
    for &name in names {
        let p = phase(name)?;
        let entries =
            (p.log_entries)(ctx).with_context(|| format!("building {} log entries", p.name))?;
        viz::log::update_file(
            &ctx.docs.join("experiments_log.md"),
            &entries,
            "visualizations/",
            LOG_PREAMBLE,
        )?;
        let readme = ctx.docs.join(p.crate_dir).join("README.md");
        viz::log::update_file(
            &readme,
            &entries,
            "../../visualizations/",
            &format!("# {}\n", p.crate_dir),
        )?;
        n += entries.len();
    }
    // The milestone table in the top-level README reads every phase's records.
    let mut all = Vec::new();
    for p in PHASES {
        all.extend((p.log_entries)(ctx).unwrap_or_default());
    }
    let table = crate::milestones::table(ctx, &all)?;
    let readme = ctx.docs.join("README.md");
    let doc = std::fs::read_to_string(&readme)
        .or_else(|_| std::fs::read_to_string(ctx.root.join("README.md")))?;
    let new = viz::log::upsert(&doc, "milestones", 0, &table, "README.md")?;
    if new != doc || !readme.exists() {
        viz::write_atomic(&readme, new.as_bytes())?;
    }
    Ok(n)
}

/// Copy `../shared/data/*` into the data cache when the cache lacks it (CI lays the shared folder beside
/// the checkout; a user's machine downloads instead, see phase2_lm::data).
fn seed_data_cache(ctx: &viz::Context) -> Result<()> {
    let shared = ctx.root.join("..").join("shared").join("data");
    let Ok(dir) = std::fs::read_dir(&shared) else {
        return Ok(());
    };
    std::fs::create_dir_all(&ctx.data_cache)
        .with_context(|| format!("creating {}", ctx.data_cache.display()))?;
    for f in dir.flatten() {
        let dest = ctx.data_cache.join(f.file_name());
        if f.path().is_file() && !dest.exists() {
            std::fs::copy(f.path(), &dest)
                .with_context(|| format!("copying {} into the data cache", f.path().display()))?;
        }
    }
    Ok(())
}

/// In quick mode the READMEs are regenerated in the scratch folder, starting from the committed ones.
fn copy_readmes_into_scratch(ctx: &viz::Context) -> Result<()> {
    for p in PHASES {
        let src = ctx.root.join(p.crate_dir).join("README.md");
        let dst = ctx.docs.join(p.crate_dir).join("README.md");
        if src.exists() {
            std::fs::create_dir_all(dst.parent().expect("has parent"))?;
            std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    let log = ctx.root.join("experiments_log.md");
    if log.exists() {
        std::fs::copy(&log, ctx.docs.join("experiments_log.md"))?;
    }
    Ok(())
}
