//! The phases xtask knows — each phase crate's own description ([`viz::phase::Phase`]) plus the planned
//! ones of `configs/roadmap.toml` — and the run → figures → docs pipeline they share.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use viz::phase::Phase;

use crate::milestones::Roadmap;

/// Every phase that has an experiment crate, in order. Adding a phase is adding its `phase()` here.
pub fn built() -> Vec<Phase> {
    vec![
        phase1_experiments::phase(),
        phase2_experiments::phase(),
        phase3_experiments::phase(),
        phase4_experiments::phase(),
        serve_experiments::phase(),
    ]
}

/// The named phases (every built one for `None`), or an error naming the valid ones.
pub fn select(root: &Path, names: Option<&[&str]>) -> Result<Vec<Phase>> {
    let Some(names) = names else {
        return Ok(built());
    };
    let mut all = built();
    let mut out = Vec::new();
    for &name in names {
        match all.iter().position(|p| p.name == name) {
            Some(i) => out.push(all.remove(i)),
            None => {
                let planned = Roadmap::load(root, &built())?;
                let valid: Vec<&str> = built().iter().map(|p| p.name).collect();
                match planned.phase.iter().find(|p| p.name == name) {
                    Some(p) => bail!(
                        "{name} has no crate yet ({}); phases that run: {}",
                        p.about,
                        valid.join(", ")
                    ),
                    None => bail!("unknown phase `{name}`; valid phases: {}", valid.join(", ")),
                }
            }
        }
    }
    Ok(out)
}

/// Run the phases' experiments (or one), then redraw their figures and regenerate their docs.
pub fn run_phases(ctx: &viz::Context, phases: &[Phase], only: Option<&str>) -> Result<()> {
    let t0 = Instant::now();
    // A fresh machine may have the data in ../shared (CI lays it there); the phases look in the cache.
    seed_data_cache(ctx)?;
    if ctx.quick {
        copy_readmes_into_scratch(ctx)?;
    }
    let mut ran = 0;
    for p in phases {
        let names = p.experiment_names();
        let todo: Vec<&str> = match only {
            Some(o) if names.contains(&o) => vec![o],
            Some(o) => bail!(
                "unknown {} experiment `{o}`; valid names: {}",
                p.name,
                names.join(", ")
            ),
            None => names,
        };
        for exp in todo {
            let t = Instant::now();
            p.run(ctx, exp)
                .with_context(|| format!("{} experiment {exp} failed", p.name))?;
            ran += 1;
            if !ctx.quiet {
                eprintln!("  {exp} done in {:.1} s", t.elapsed().as_secs_f64());
            }
        }
    }
    let (figs, entries) = match (figures(ctx, phases), only) {
        (Ok(figs), _) => (figs, update_docs(ctx, phases)?),
        // One experiment of a phase whose other experiments have never run: its record is written,
        // but the phase's figures and log need every record, so say what is missing instead of failing.
        (Err(e), Some(o)) => {
            eprintln!("{o}: record written; figures and log not redrawn ({e:#}); run the whole phase once to draw them");
            (0, 0)
        }
        (Err(e), None) => return Err(e),
    };
    let names: Vec<&str> = phases.iter().map(|p| p.name).collect();
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

/// Redraw every figure of the phases from records; returns how many.
pub fn figures(ctx: &viz::Context, phases: &[Phase]) -> Result<usize> {
    let mut n = 0;
    for p in phases {
        n += p
            .figures(ctx)
            .with_context(|| format!("drawing {} figures", p.name))?
            .len();
    }
    Ok(n)
}

const LOG_PREAMBLE: &str = "# Experiments log\n\n\
One entry per experiment: the question, the setup, the numbers and the figures. Everything between\n\
`BEGIN GENERATED` / `END GENERATED` markers is rebuilt from the run records in `records/` by\n\
`cargo xtask log` (or any `cargo xtask phaseN`); anything written outside the markers is kept as is.\n";

/// Regenerate the log entries of the phases in `experiments_log.md` and each crate's README, and the
/// README's milestone table.
pub fn update_docs(ctx: &viz::Context, phases: &[Phase]) -> Result<usize> {
    let mut n = 0;
    for p in phases {
        let entries = p
            .log_entries(ctx)
            .with_context(|| format!("building {} log entries", p.name))?;
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
    let built_phases = built();
    let roadmap = Roadmap::load(&ctx.root, &built_phases)?;
    let table = crate::milestones::table(ctx, &built_phases, &roadmap)?;
    let readme = ctx.docs.join("README.md");
    let doc = std::fs::read_to_string(&readme)
        .or_else(|_| std::fs::read_to_string(ctx.root.join("README.md")))?;
    let mut new = viz::log::upsert(&doc, "milestones", 0, &table, "README.md")?;
    // The key figures and the figure index span every built phase. A smoke run of some phases
    // (`cargo xtask phase3 --quick`) has no records of the others: there they are left as they are.
    let mut phases_entries = Vec::new();
    for p in built() {
        match p.log_entries(ctx) {
            Ok(entries) => phases_entries.push((p.about.to_string(), entries)),
            Err(e) if ctx.quick => {
                println!(
                    "log: key figures and figure index not rebuilt ({} has no records here: {e:#})",
                    p.name
                );
                if new != doc || !readme.exists() {
                    viz::write_atomic(&readme, new.as_bytes())?;
                }
                return Ok(n);
            }
            Err(e) => return Err(e.context(format!("building {} log entries", p.name))),
        }
    }
    let key = viz::log::key_figures(&phases_entries);
    new = viz::log::upsert(&new, "key_figures", 0, &key, "README.md")?;
    if new != doc || !readme.exists() {
        viz::write_atomic(&readme, new.as_bytes())?;
    }
    update_figure_index(ctx, &phases_entries)?;
    Ok(n)
}

const INDEX_PREAMBLE: &str = "# Figures\n\n\
Every figure of the portfolio, by kind and by phase, each with its caption, its milestone and its entry\n\
in the experiments log. The list between the markers is rebuilt from the log entries by `cargo xtask log`;\n\
a figure cannot join it without a caption.\n";

/// Regenerate `visualizations/README.md`'s figure index from every built phase's log entries (all of
/// them, whichever phases were just run, so the index is always whole).
fn update_figure_index(
    ctx: &viz::Context,
    phases: &[(String, Vec<viz::log::LogEntry>)],
) -> Result<()> {
    let index = viz::log::figure_index(phases)?;
    let path = ctx.docs.join("visualizations").join("README.md");
    let doc = std::fs::read_to_string(&path)
        .or_else(|_| std::fs::read_to_string(ctx.root.join("visualizations").join("README.md")))
        .unwrap_or_else(|_| INDEX_PREAMBLE.to_string());
    let new = viz::log::upsert(&doc, "figure_index", 0, &index, "visualizations/README.md")?;
    if new != doc || !path.exists() {
        std::fs::create_dir_all(path.parent().expect("has parent"))?;
        viz::write_atomic(&path, new.as_bytes())?;
    }
    Ok(())
}

/// Copy `../shared/data/*` into the data cache when the cache lacks it (CI lays the shared folder beside
/// the checkout; a user's machine downloads instead, see the `data-cache` crate).
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
    for p in built() {
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
