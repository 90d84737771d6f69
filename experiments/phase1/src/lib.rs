//! The phase-1 experiments, run end to end by `cargo xtask phase1`.
//!
//! Each experiment reads `configs/phase1/<name>.toml`, trains or checks, and writes one
//! [`viz::record::RunWriter`] per run. Figures and log entries are then rebuilt from those
//! records alone ([`figures`], [`log_entries`]), so they can be redrawn without rerunning.
//!
//! * [`m1`] — gradient check of the hand-written backward pass.
//! * [`m2`] — classifiers on 2-D datasets; gradient norms and dead ReLUs.
//! * [`m3`] — optimizer comparison, learning-rate sensitivity, Rosenbrock paths.

pub mod m1;
pub mod m2;
pub mod m3;
pub mod records;
mod words;

use anyhow::Result;
use records::{ClassifierSummary, GradCheckSummary, SeedSummary};
use std::path::PathBuf;
use viz::log::LogEntry;
use viz::phase::{Experiment, Milestone, Outputs};
use viz::record::Record;
use viz::Context;

/// Config folder name: `configs/phase1/`.
pub const PHASE: &str = "phase1";

/// Every experiment, in run order.
pub const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "m1_gradient_check",
        run: m1::run_gradient_check,
    },
    Experiment {
        name: "m2_classifiers",
        run: m2::run_classifiers,
    },
    Experiment {
        name: "m2_gradient_norms",
        run: m2::run_gradient_norms,
    },
    Experiment {
        name: "m2_dead_relu",
        run: m2::run_dead_relu,
    },
    Experiment {
        name: "m3_optimizer_comparison",
        run: m3::run_comparison,
    },
    Experiment {
        name: "m3_lr_sensitivity",
        run: m3::run_lr_sensitivity,
    },
    Experiment {
        name: "m3_optimizer_paths",
        run: m3::run_paths,
    },
];

/// What each milestone draws and writes, in log order.
const OUTPUTS: &[Outputs] = &[
    Outputs {
        figures: m1::figures,
        log_entries: m1::log_entries,
    },
    Outputs {
        figures: m2::figures,
        log_entries: m2::log_entries,
    },
    Outputs {
        figures: m3::figures,
        log_entries: m3::log_entries,
    },
];

/// Phase 1 as `cargo xtask` sees it.
pub fn phase() -> viz::phase::Phase {
    viz::phase::Phase {
        name: PHASE,
        about: "Phase 1 (m1–m3): backprop by hand, MLP classifiers, optimizers",
        crate_dir: "crates/phase1-mlp",
        experiments: EXPERIMENTS,
        milestones: &[
            Milestone {
                number: 1,
                title: "Backprop by hand, gradient-checked",
                headline: m1_headline,
            },
            Milestone {
                number: 2,
                title: "MLP classifiers on 2-D data",
                headline: m2_headline,
            },
            Milestone {
                number: 3,
                title: "Optimizers from SGD to AdamW",
                headline: m3_headline,
            },
        ],
        outputs: OUTPUTS,
        commands: viz::phase::no_commands,
        run_command: viz::phase::no_command_runner,
    }
}

fn load(ctx: &Context, milestone: &str, name: &str) -> Option<Record> {
    Record::load(ctx, milestone, name).ok()
}

/// The worst relative error of the correct layers (the planted bugs excluded).
fn m1_headline(ctx: &Context) -> Option<String> {
    let r = load(ctx, "m1", "gradient_check")?;
    let summary: GradCheckSummary = r.summary_as().ok()?;
    let worst = summary
        .max_rel_error
        .iter()
        .filter(|(case, _)| !case.contains("bug"))
        .map(|(_, v)| *v)
        .fold(0.0, f64::max);
    Some(headline_text(
        "m1",
        &serde_json::json!({ "worst": format!("{worst:.1e}") }),
    ))
}

fn m2_headline(ctx: &Context) -> Option<String> {
    let mut parts = Vec::new();
    for d in ["moons", "circles", "spirals", "xor"] {
        let r = load(ctx, "m2", &format!("classifier_{d}"))?;
        let s: ClassifierSummary = r.summary_as().ok()?;
        parts.push(serde_json::json!({
            "dataset": d,
            "acc": format!("{:.1} %", 100.0 * s.train.val_acc),
        }));
    }
    Some(headline_text("m2", &serde_json::json!({ "parts": parts })))
}

fn m3_headline(ctx: &Context) -> Option<String> {
    Some(headline_text(
        "m3",
        &serde_json::json!({ "lowest": m3_lowest_vs_next(ctx)? }),
    ))
}

/// The lowest mean final training loss of the comparison against the runner-up, and the paired
/// t-test between them (see [`m3_lowest_vs_next`]).
pub(crate) struct LowestVsNext {
    pub best: &'static str,
    pub mean: f64,
    /// The runner-up, its mean, and the test's verdict (best against it) with its p-value; `None`
    /// with a single optimizer.
    pub next: Option<(&'static str, f64, stats::Verdict, f64)>,
    /// Seeds of the lowest optimizer.
    pub n: usize,
}

/// Mean final training loss over the comparison's seeds, per optimizer: the lowest, and whether it
/// beats the runner-up by a paired t-test over the seeds (each seed gives both the same initial
/// weights and batches), in the words of [`stats::verdict`].
pub(crate) fn m3_lowest_vs_next_values(ctx: &Context) -> Option<LowestVsNext> {
    let mut means: Vec<(&'static str, Vec<f64>, f64)> = Vec::new();
    for opt in ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"] {
        let losses: Vec<f64> = (0..20)
            .filter_map(|s| load(ctx, "m3", &format!("optimizer_comparison_{opt}_seed{s}")))
            .filter_map(|r| r.summary_as::<SeedSummary>().ok())
            .map(|s| s.train_loss)
            .collect();
        if !losses.is_empty() {
            let mean = stats::mean(&losses);
            means.push((opt, losses, mean));
        }
    }
    means.sort_by(|a, b| a.2.total_cmp(&b.2));
    let (best, losses, mean) = means.first()?;
    let next = match means.get(1) {
        None => None,
        Some((second, other, other_mean)) => {
            let test = stats::paired_t(other, losses, 0.95).ok()?;
            let verdict = stats::verdict(test.mean_difference, test.p);
            Some((*second, *other_mean, verdict, test.p))
        }
    };
    Some(LowestVsNext {
        best,
        mean: *mean,
        next,
        n: losses.len(),
    })
}

/// [`m3_lowest_vs_next_values`] in words: the README's headline and the m3 log entry both say this.
pub(crate) fn m3_lowest_vs_next(ctx: &Context) -> Option<String> {
    let c = m3_lowest_vs_next_values(ctx)?;
    let Some((second, other_mean, verdict, p)) = c.next else {
        return Some(headline_text(
            "m3_lowest",
            &serde_json::json!({ "best": c.best, "mean": format!("{:.3}", c.mean) }),
        ));
    };
    Some(headline_text(
        "m3_lowest",
        &serde_json::json!({
            "best": c.best,
            "mean": format!("{:.4}", c.mean),
            "second": second,
            "other_mean": format!("{other_mean:.4}"),
            "better": verdict == stats::Verdict::Better,
            "verdict": verdict.word(),
            "n": c.n,
            "p": m3_p(verdict, p),
        }),
    ))
}

/// A p-value as the m3 headline prints it: three decimals for a difference, two for a tie.
pub(crate) fn m3_p(verdict: stats::Verdict, p: f64) -> String {
    if verdict == stats::Verdict::Better {
        format!("{p:.3}")
    } else {
        format!("{p:.2}")
    }
}

/// Runs one experiment end to end from its config, writing its records.
pub fn run(ctx: &Context, name: &str) -> Result<()> {
    phase().run(ctx, name)
}

/// Redraws every figure of the phase from records. Returns the files written.
pub fn figures(ctx: &Context) -> Result<Vec<PathBuf>> {
    phase().figures(ctx)
}

/// The phase's entries of `experiments_log.md`, built from records.
pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    phase().log_entries(ctx)
}

/// Rounds to `digits` decimals so committed artifacts stay small (plots need no more).
pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let s = 10f64.powi(digits);
    (v * s).round() / s
}

/// Mean and sample standard deviation (n − 1: the seeds are a sample of the seeds one could have
/// drawn); the SD is 0 for a single value, where there is no spread to estimate.
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let sd = if values.len() < 2 {
        0.0
    } else {
        stats::sample_sd(values)
    };
    (stats::mean(values), sd)
}

/// A percentage with one decimal, e.g. `98.5%`.
pub(crate) fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

/// Every `stride`-th point and the last one, so at most about `max_points` remain.
pub(crate) fn thin(path: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    let stride = path.len().div_ceil(max_points.max(2) - 1).max(1);
    let mut out: Vec<(f64, f64)> = path.iter().step_by(stride).copied().collect();
    if let Some(&last) = path.last() {
        if out.last() != Some(&last) {
            out.push(last);
        }
    }
    out.into_iter()
        .map(|(x, y)| (round(x, 5), round(y, 5)))
        .collect()
}

const HEADLINES: &str = include_str!("../templates/headlines.md");

/// A milestone's line in the README's milestone table ([`viz::template::headline`]).
pub(crate) fn headline_text(block: &str, values: &impl serde::Serialize) -> String {
    viz::template::headline(HEADLINES, block, values)
}
