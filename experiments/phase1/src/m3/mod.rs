//! m3 — optimizers compared on the same task from the same initialisations, their sensitivity
//! to the learning rate, and their paths on the Rosenbrock function.

use super::{m2::make_data, mean_std, thin, PHASE};
use crate::records::{metric, LrSummary, PathSummary, SeedSummary};
use anyhow::{bail, Result};
use candle_core::DType;
use phase1_mlp::data::DatasetSpec;
use phase1_mlp::mlp::{Mlp, MlpConfig};
use phase1_mlp::optim::OptimizerConfig;
use phase1_mlp::rosenbrock::{optimize, rosenbrock};
use phase1_mlp::schedule::LrSchedule;
use phase1_mlp::train::{train, TrainConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::entity::Entity;
use viz::plot::{ContourPaths, FigureSpec, LineChart, Series};
use viz::record::{Record, RunWriter};
use viz::table::{metric_table, MetricCol};
use viz::template::render_block;
use viz::Context;

mod log;
pub use log::log_entries;

const MILESTONE: &str = "m3";
const DTYPE: DType = DType::F32;

/// One optimizer with its learning-rate schedule.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct OptimizerEntry {
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
}

/// `configs/phase1/m3_optimizer_comparison.toml`
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ComparisonConfig {
    pub seeds: Vec<u64>,
    pub val_fraction: f64,
    pub data: DatasetSpec,
    pub model: MlpConfig,
    pub steps: usize,
    pub batch: usize,
    pub eval_every: usize,
    pub optimizers: Vec<OptimizerEntry>,
}

/// The stored config of one comparison run.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ComparisonRun {
    pub seed: u64,
    pub val_fraction: f64,
    pub data: DatasetSpec,
    pub model: MlpConfig,
    pub train: TrainConfig,
}

/// `configs/phase1/m3_lr_sensitivity.toml`
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SensitivityConfig {
    pub seeds: Vec<u64>,
    pub val_fraction: f64,
    pub data: DatasetSpec,
    pub model: MlpConfig,
    pub steps: usize,
    pub batch: usize,
    pub lrs: Vec<f64>,
    pub optimizers: Vec<OptimizerConfig>,
    /// Final losses above this (or NaN, a diverged run) are drawn at this value.
    pub loss_cap: f64,
}

/// The stored config of one (optimizer, learning rate) cell of the sweep.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SensitivityRun {
    pub seeds: Vec<u64>,
    pub val_fraction: f64,
    pub data: DatasetSpec,
    pub model: MlpConfig,
    pub train: TrainConfig,
    pub loss_cap: f64,
}

/// `configs/phase1/m3_optimizer_paths.toml`
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PathsConfig {
    pub start: (f64, f64),
    pub steps: usize,
    /// At most this many points of each trajectory are stored (evenly strided, end kept).
    pub max_points: usize,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub optimizers: Vec<OptimizerEntry>,
}

/// The stored config of one Rosenbrock run.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PathRun {
    pub start: (f64, f64),
    pub steps: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
}

fn comparison_record(opt: &str, seed: u64) -> String {
    format!("optimizer_comparison_{opt}_seed{seed}")
}

fn sensitivity_record(opt: &str, lr: f64) -> String {
    format!("lr_sensitivity_{opt}_lr{lr:e}")
}

fn path_record(opt: &str) -> String {
    format!("rosenbrock_{opt}")
}

/// Checks that no two entries share an optimizer name (records are named after it).
fn unique_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            bail!("optimizer `{n}` is listed twice; each optimizer may appear once");
        }
    }
    Ok(())
}

pub fn run_comparison(ctx: &Context) -> Result<String> {
    let (cfg, _): (ComparisonConfig, _) = ctx.load_config(PHASE, "m3_optimizer_comparison")?;
    unique_names(cfg.optimizers.iter().map(|o| o.optimizer.name()))?;
    let total = (cfg.optimizers.len() * cfg.seeds.len() * cfg.steps) as u64;
    let bar = ctx.progress(total, "m3 optimizers");
    let mut done = 0u64;
    let mut parts = Vec::new();
    for entry in &cfg.optimizers {
        let name = entry.optimizer.name();
        let mut finals = Vec::new();
        for &seed in &cfg.seeds {
            let train_cfg = TrainConfig {
                steps: cfg.steps,
                batch: cfg.batch,
                optimizer: entry.optimizer.clone(),
                schedule: entry.schedule.clone(),
                eval_every: cfg.eval_every,
            };
            let run_cfg = ComparisonRun {
                seed,
                val_fraction: cfg.val_fraction,
                data: cfg.data.clone(),
                model: cfg.model.clone(),
                train: train_cfg.clone(),
            };
            let mut run = RunWriter::create(
                ctx,
                MILESTONE,
                &comparison_record(name, seed),
                &run_cfg,
                seed,
            )?;
            // Same seed => same data, same initial weights and same batch order for every
            // optimizer: only the update rule differs.
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (train_set, val_set) = make_data(ctx, &cfg.data, cfg.val_fraction, &mut rng)?;
            let mlp = Mlp::from_config(&cfg.model, 2, train_set.classes, DTYPE, &mut rng)?;
            let result = train(
                &mlp,
                &train_set,
                &val_set,
                &train_cfg,
                DTYPE,
                &mut rng,
                |e| {
                    run.scalars(
                        e.step as u64,
                        &[
                            (metric::TRAIN_LOSS, e.train_loss),
                            (metric::VAL_ACC, e.val_acc),
                        ],
                    )?;
                    bar.set_position(done + e.step as u64);
                    bar.set_message(format!("{name} seed {seed} loss {:.3}", e.train_loss));
                    Ok(())
                },
            )?;
            done += cfg.steps as u64;
            run.summaries(&SeedSummary {
                train_loss: result.last.train_loss,
                val_acc: result.last.val_acc,
                diverged_at: result.diverged_at.map(|s| s as u64),
            })?;
            run.finish()?;
            finals.push(result.last.train_loss);
        }
        let (m, _) = mean_std(&finals);
        parts.push(format!("{name} {m:.3}"));
    }
    bar.finish_and_clear();
    Ok(format!("mean final train loss {}", parts.join(", ")))
}

pub fn run_lr_sensitivity(ctx: &Context) -> Result<String> {
    let (cfg, _): (SensitivityConfig, _) = ctx.load_config(PHASE, "m3_lr_sensitivity")?;
    unique_names(cfg.optimizers.iter().map(|o| o.name()))?;
    let total = (cfg.optimizers.len() * cfg.lrs.len() * cfg.seeds.len() * cfg.steps) as u64;
    let bar = ctx.progress(total, "m3 lr sweep");
    let mut done = 0u64;
    let mut best = Vec::new();
    for opt in &cfg.optimizers {
        let name = opt.name();
        let mut best_lr = (f64::INFINITY, f64::NAN);
        for &lr in &cfg.lrs {
            let train_cfg = TrainConfig {
                steps: cfg.steps,
                batch: cfg.batch,
                optimizer: opt.clone(),
                schedule: LrSchedule::Constant { lr },
                // Only the final loss matters here: evaluate at the start and the end.
                eval_every: cfg.steps.max(1),
            };
            let run_cfg = SensitivityRun {
                seeds: cfg.seeds.clone(),
                val_fraction: cfg.val_fraction,
                data: cfg.data.clone(),
                model: cfg.model.clone(),
                train: train_cfg.clone(),
                loss_cap: cfg.loss_cap,
            };
            let first_seed = cfg.seeds.first().copied().unwrap_or(0);
            let mut run = RunWriter::create(
                ctx,
                MILESTONE,
                &sensitivity_record(name, lr),
                &run_cfg,
                first_seed,
            )?;
            let mut finals = Vec::new();
            let mut diverged = 0;
            for &seed in &cfg.seeds {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let (train_set, val_set) = make_data(ctx, &cfg.data, cfg.val_fraction, &mut rng)?;
                let mlp = Mlp::from_config(&cfg.model, 2, train_set.classes, DTYPE, &mut rng)?;
                let result = train(
                    &mlp,
                    &train_set,
                    &val_set,
                    &train_cfg,
                    DTYPE,
                    &mut rng,
                    |_| Ok(()),
                )?;
                done += cfg.steps as u64;
                bar.set_position(done);
                bar.set_message(format!("{name} lr {lr:e}"));
                let loss = result.last.train_loss;
                // Diverged: stopped early, NaN, or a final loss at or above the cap (the setup's rule).
                let capped =
                    if result.diverged_at.is_some() || !loss.is_finite() || loss >= cfg.loss_cap {
                        diverged += 1;
                        cfg.loss_cap
                    } else {
                        loss.min(cfg.loss_cap)
                    };
                run.scalar(seed, metric::FINAL_TRAIN_LOSS, capped)?;
                finals.push(capped);
            }
            let (mean, std) = mean_std(&finals);
            run.summaries(&LrSummary {
                lr,
                final_train_loss_mean: mean,
                final_train_loss_std: std,
                diverged_runs: diverged,
            })?;
            run.finish()?;
            if mean < best_lr.0 {
                best_lr = (mean, lr);
            }
        }
        best.push(format!("{name} best lr {:e} ({:.3})", best_lr.1, best_lr.0));
    }
    bar.finish_and_clear();
    Ok(best.join(", "))
}

pub fn run_paths(ctx: &Context) -> Result<String> {
    let (cfg, _): (PathsConfig, _) = ctx.load_config(PHASE, "m3_optimizer_paths")?;
    unique_names(cfg.optimizers.iter().map(|o| o.optimizer.name()))?;
    let mut parts = Vec::new();
    for entry in &cfg.optimizers {
        let name = entry.optimizer.name();
        let run_cfg = PathRun {
            start: cfg.start,
            steps: cfg.steps,
            optimizer: entry.optimizer.clone(),
            schedule: entry.schedule.clone(),
        };
        let mut run = RunWriter::create(ctx, MILESTONE, &path_record(name), &run_cfg, 0)?;
        let mut opt = entry.optimizer.build();
        let path = optimize(opt.as_mut(), &entry.schedule, cfg.start, cfg.steps)?;
        let every = (cfg.steps / 200).max(1);
        for (i, &(x, y)) in path.iter().enumerate() {
            if i % every == 0 || i + 1 == path.len() {
                run.scalar(i as u64, metric::ROSENBROCK, rosenbrock(x, y))?;
            }
        }
        let &(x, y) = path.last().expect("path holds the start point");
        let dist = ((x - 1.0).powi(2) + (y - 1.0).powi(2)).sqrt();
        run.summaries(&PathSummary {
            final_f: rosenbrock(x, y),
            final_distance_to_minimum: dist,
            steps_taken: (path.len() - 1) as u64,
        })?;
        run.artifact("path", &thin(&path, cfg.max_points))?;
        run.finish()?;
        parts.push(format!("{name} f={:.1e}", rosenbrock(x, y)));
    }
    Ok(format!("final Rosenbrock value {}", parts.join(", ")))
}

/// `(x, y)` points of one curve.
type Curve = Vec<(f64, f64)>;
/// Records grouped by optimizer name.
type Groups = Vec<(String, Vec<Record>)>;

/// Mean and standard deviation across seeds of one key, at the steps every seed logged.
fn mean_band(records: &[Record], key: &str) -> Result<(Curve, Curve)> {
    let series: Vec<Vec<(f64, f64)>> = records
        .iter()
        .map(|r| r.series(key))
        .collect::<Result<_>>()?;
    let n = series.iter().map(Vec::len).min().unwrap_or(0);
    let mut mean = Vec::with_capacity(n);
    let mut band = Vec::with_capacity(n);
    for i in 0..n {
        let vals: Vec<f64> = series.iter().map(|s| s[i].1).collect();
        let (m, s) = mean_std(&vals);
        mean.push((series[0][i].0, m));
        // The band is drawn on a log axis: keep its lower edge positive.
        band.push(((m - s).max(m * 1e-3), m + s));
    }
    Ok((mean, band))
}

fn load_comparison(ctx: &Context) -> Result<(ComparisonConfig, Groups)> {
    let (cfg, _): (ComparisonConfig, _) = ctx.load_config(PHASE, "m3_optimizer_comparison")?;
    let groups = cfg
        .optimizers
        .iter()
        .map(|o| {
            let name = o.optimizer.name().to_string();
            let recs = cfg
                .seeds
                .iter()
                .map(|&s| Record::load(ctx, MILESTONE, &comparison_record(&name, s)))
                .collect::<Result<Vec<_>>>()?;
            Ok((name, recs))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((cfg, groups))
}

fn load_sensitivity(ctx: &Context) -> Result<(SensitivityConfig, Groups)> {
    let (cfg, _): (SensitivityConfig, _) = ctx.load_config(PHASE, "m3_lr_sensitivity")?;
    let groups = cfg
        .optimizers
        .iter()
        .map(|o| {
            let name = o.name().to_string();
            let recs = cfg
                .lrs
                .iter()
                .map(|&lr| Record::load(ctx, MILESTONE, &sensitivity_record(&name, lr)))
                .collect::<Result<Vec<_>>>()?;
            Ok((name, recs))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((cfg, groups))
}

fn load_paths(ctx: &Context) -> Result<(PathsConfig, Vec<(String, Record)>)> {
    let (cfg, _): (PathsConfig, _) = ctx.load_config(PHASE, "m3_optimizer_paths")?;
    let runs = cfg
        .optimizers
        .iter()
        .map(|o| {
            let name = o.optimizer.name().to_string();
            let rec = Record::load(ctx, MILESTONE, &path_record(&name))?;
            Ok((name, rec))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((cfg, runs))
}

/// "adam (lr 3e-3)" — legends say which learning rate each optimizer used.
fn label(o: &OptimizerEntry) -> String {
    format!("{} (lr {:e})", o.optimizer.name(), o.schedule.peak_lr())
}

/// An optimizer's entity in the house palette: its colour in every figure, and dashed for
/// Nesterov and AdamW, whose curves lie on momentum's and Adam's (drawn after them, so the solid
/// line shows through the gaps and both stay visible).
fn entity(o: &OptimizerConfig) -> Entity {
    match o {
        OptimizerConfig::Sgd => Entity::Sgd,
        OptimizerConfig::Momentum { .. } => Entity::Momentum,
        OptimizerConfig::Nesterov { .. } => Entity::Nesterov,
        OptimizerConfig::RmsProp { .. } => Entity::RmsProp,
        OptimizerConfig::Adam { .. } => Entity::Adam,
        OptimizerConfig::AdamW { .. } => Entity::AdamW,
    }
}

/// The comparison figure's finding, the log's own: at the config's rates, the lowest mean final
/// training loss against the runner-up by the paired t-test of [`crate::m3_lowest_vs_next`] (no
/// other pair is tested, so no other is compared).
fn comparison_title(ctx: &Context, seeds: usize) -> String {
    let Some(c) = crate::m3_lowest_vs_next_values(ctx) else {
        return format!("Training loss at the config's rates, mean ± SD over {seeds} seeds");
    };
    match c.next {
        Some((second, _, stats::Verdict::Better, p)) => format!(
            "At the config's rates {} ends lowest, below {second} (paired t, {} seeds, p = {})",
            c.best,
            c.n,
            crate::m3_p(stats::Verdict::Better, p)
        ),
        Some((second, _, verdict, p)) => format!(
            "At the config's rates {} and {second} end lowest, {} (paired t, {} seeds, p = {})",
            c.best,
            verdict.word(),
            c.n,
            crate::m3_p(verdict, p)
        ),
        None => format!(
            "At the config's rates {} ends lowest ({seeds} seeds)",
            c.best
        ),
    }
}

/// The sweep's finding, from the log's own statistics: each optimizer's rate with the lowest mean
/// final loss over the seeds (an argmin, untested: neighbouring rates may tie), optimizers that
/// share one named together.
fn sensitivity_title(scfg: &SensitivityConfig, groups: &Groups) -> Result<String> {
    let st = log::sensitivity_stats(scfg, groups)?;
    let mut by_lr: Vec<(f64, Vec<&str>)> = Vec::new();
    for (name, lr) in st.rows.iter().zip(&st.best_lr) {
        match by_lr.iter_mut().find(|g| g.0 == *lr) {
            Some(g) => g.1.push(name),
            None => by_lr.push((*lr, vec![name])),
        }
    }
    if by_lr.is_empty() {
        return Ok(format!("Loss after {} steps vs learning rate", scfg.steps));
    }
    by_lr.sort_by(|a, b| b.0.total_cmp(&a.0));
    let parts: Vec<String> = by_lr
        .iter()
        .map(|(lr, names)| format!("{} {lr:e}", names.join(", ")))
        .collect();
    Ok(format!("Lowest-mean lr: {}", parts.join("; ")))
}

/// The Rosenbrock figure's finding: the lowest and the highest f any optimizer ends at (one
/// deterministic run each, so no interval).
fn paths_title(pcfg: &PathsConfig, runs: &[(String, Record)]) -> Result<String> {
    let mut finals = runs
        .iter()
        .map(|(name, r)| Ok((name.as_str(), r.summary_as::<PathSummary>()?.final_f)))
        .collect::<Result<Vec<_>>>()?;
    finals.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(match (finals.first(), finals.last()) {
        (Some(lo), Some(hi)) if lo.0 != hi.0 => format!(
            "{} Rosenbrock steps: {} ends at f = {:.1e}, {} at {:.1e} (minimum 0)",
            pcfg.steps, lo.0, lo.1, hi.0, hi.1
        ),
        _ => format!(
            "{} steps on Rosenbrock from ({}, {}); minimum at (1, 1)",
            pcfg.steps, pcfg.start.0, pcfg.start.1
        ),
    })
}

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let mut out = Vec::new();

    let (cfg, groups) = load_comparison(ctx)?;
    let mut chart = LineChart::new(
        comparison_title(ctx, cfg.seeds.len()),
        "step",
        "train cross-entropy (nats, log)",
    )
    .log_y();
    for (entry, (_, recs)) in cfg.optimizers.iter().zip(&groups) {
        let (mean, band) = mean_band(recs, metric::TRAIN_LOSS)?;
        chart = chart.series(
            Series::new(label(entry), mean)
                .band(band)
                .entity(entity(&entry.optimizer)),
        );
    }
    out.push(FigureSpec::new("m3_optimizer_comparison.png", chart));

    let (scfg, groups) = load_sensitivity(ctx)?;
    let mut chart = LineChart::new(
        sensitivity_title(&scfg, &groups)?,
        "learning rate (log)",
        format!(
            "final train cross-entropy (nats, log; capped at {})",
            scfg.loss_cap
        ),
    )
    .log_x()
    .log_y();
    for (optimizer, (name, recs)) in scfg.optimizers.iter().zip(&groups) {
        let mut pts = Vec::new();
        let mut band = Vec::new();
        for r in recs {
            let LrSummary {
                lr,
                final_train_loss_mean: m,
                ..
            } = r.summary_as()?;
            // The band spans the seeds' own losses: a mean ± SD band on a log axis would dip
            // towards zero where no seed went.
            let seeds: Vec<f64> = r
                .series(metric::FINAL_TRAIN_LOSS)?
                .iter()
                .map(|p| p.1)
                .collect();
            let lo = seeds.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = seeds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            pts.push((lr, m));
            band.push((lo, hi));
        }
        chart = chart.series(
            Series::new(name.clone(), pts)
                .band(band)
                .entity(entity(optimizer)),
        );
    }
    out.push(FigureSpec::new("m3_lr_sensitivity.png", chart));

    let (pcfg, runs) = load_paths(ctx)?;
    let mut contour = ContourPaths::new(
        paths_title(&pcfg, &runs)?,
        pcfg.x_range,
        pcfg.y_range,
        rosenbrock,
    )
    .log_levels()
    .labels("x", "y")
    .minimum((1.0, 1.0));
    for (entry, (_, rec)) in pcfg.optimizers.iter().zip(&runs) {
        let path: Vec<(f64, f64)> = rec.artifact("path")?;
        // f along the path from the run's own scalars (exact; the stored path is thinned and
        // rounded, which would show rounding noise near the minimum).
        contour = contour
            .path_with_values(label(entry), path, rec.series(metric::ROSENBROCK)?)
            .entity(entity(&entry.optimizer));
    }
    out.push(FigureSpec::new("m3_optimizer_paths.png", contour));
    Ok(out)
}
