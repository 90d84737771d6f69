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
use std::path::PathBuf;
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::{ContourPaths, LineChart, Series};
use viz::record::{Record, RunWriter};
use viz::table::{metric_table, MetricCol};
use viz::template::render_block;
use viz::Context;

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

/// Nesterov's curves lie on momentum's, and AdamW's on Adam's: the second of each pair is dashed
/// (and drawn after the first), so the solid line shows through its gaps and both stay visible.
fn overlap_style(optimizer: &str, s: Series) -> Series {
    if matches!(optimizer, "nesterov" | "adamw") {
        s.dashed()
    } else {
        s
    }
}

pub fn figures(ctx: &Context) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();

    let (cfg, groups) = load_comparison(ctx)?;
    let mut chart = LineChart::new(
        format!(
            "Training loss, mean ± sample SD over {} seeds (same data, init and batches per seed)",
            cfg.seeds.len()
        ),
        "step",
        "train cross-entropy (nats, log)",
    )
    .log_y();
    for (entry, (_, recs)) in cfg.optimizers.iter().zip(&groups) {
        let (mean, band) = mean_band(recs, metric::TRAIN_LOSS)?;
        chart = chart.series(overlap_style(
            entry.optimizer.name(),
            Series::new(label(entry), mean).band(band),
        ));
    }
    let f = ctx.figure("m3_optimizer_comparison.png");
    chart.render(&f)?;
    out.push(f);

    let (scfg, groups) = load_sensitivity(ctx)?;
    let mut chart = LineChart::new(
        format!(
            "Loss after {} steps vs learning rate (mean; band: range of {} seeds)",
            scfg.steps,
            scfg.seeds.len()
        ),
        "learning rate (log)",
        format!(
            "final train cross-entropy (nats, log; capped at {})",
            scfg.loss_cap
        ),
    )
    .log_x()
    .log_y();
    for (name, recs) in &groups {
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
        chart = chart.series(overlap_style(
            name,
            Series::new(name.clone(), pts).band(band),
        ));
    }
    let f = ctx.figure("m3_lr_sensitivity.png");
    chart.render(&f)?;
    out.push(f);

    let (pcfg, runs) = load_paths(ctx)?;
    let mut contour = ContourPaths::new(
        format!(
            "{} steps on Rosenbrock from ({}, {}); minimum at (1, 1)",
            pcfg.steps, pcfg.start.0, pcfg.start.1
        ),
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
        contour = contour.path_with_values(label(entry), path, rec.series(metric::ROSENBROCK)?);
    }
    let f = ctx.figure("m3_optimizer_paths.png");
    contour.render(&f)?;
    out.push(f);
    Ok(out)
}

const COMPARISON_TEMPLATE: &str = include_str!("../templates/m3_optimizer_comparison.md");
const SENSITIVITY_TEMPLATE: &str = include_str!("../templates/m3_lr_sensitivity.md");
const PATHS_TEMPLATE: &str = include_str!("../templates/m3_optimizer_paths.md");

/// What `templates/m3_optimizer_comparison.md` needs.
#[derive(Serialize)]
struct ComparisonText {
    data: String,
    hidden: String,
    activation: String,
    init: String,
    steps: String,
    batch: String,
    seeds: String,
    table: String,
    order: Vec<RankText>,
    threshold: String,
    fastest: Option<FastestText>,
    spread: String,
    n_seeds: String,
    tuned: Option<TunedText>,
    /// The lowest mean final loss against the runner-up, by paired t-test (the README's words).
    lowest: Option<String>,
}

/// An optimizer and its mean final training loss, in ranking order.
#[derive(Serialize)]
struct RankText {
    name: String,
    loss: String,
}

/// The first optimizer whose mean loss drops below the threshold, and when.
#[derive(Serialize)]
struct FastestText {
    name: String,
    step: String,
}

/// The comparison's rates against the sweep's best (see [`tuned_text`]).
#[derive(Serialize)]
struct TunedText {
    rates: Vec<RateText>,
    steps: String,
    n_seeds: String,
    ranking: Vec<TunedRankText>,
    coincide: Option<CoincideText>,
}

#[derive(Serialize)]
struct RateText {
    name: String,
    rate: String,
    tuned: String,
}

#[derive(Serialize)]
struct TunedRankText {
    name: String,
    loss: String,
    lr: String,
}

/// SGD and momentum whose effective steps match.
#[derive(Serialize)]
struct CoincideText {
    sgd: String,
    lr: String,
    beta: String,
    effective: String,
}

/// Per optimizer of the comparison: mean and std of the final loss, mean accuracy, and the first
/// step where the mean loss drops below `threshold`.
struct ComparisonStats {
    loss_mean: Vec<f64>,
    loss_std: Vec<f64>,
    acc_mean: Vec<f64>,
    steps_to: Vec<f64>,
}

fn comparison_stats(groups: &Groups, threshold: f64) -> Result<ComparisonStats> {
    let mut loss_mean = Vec::new();
    let mut loss_std = Vec::new();
    let mut acc_mean = Vec::new();
    let mut steps_to = Vec::new();
    for (_, recs) in groups {
        let losses = recs
            .iter()
            .map(|r| Ok(r.summary_as::<SeedSummary>()?.train_loss))
            .collect::<Result<Vec<_>>>()?;
        let accs = recs
            .iter()
            .map(|r| Ok(r.summary_as::<SeedSummary>()?.val_acc))
            .collect::<Result<Vec<_>>>()?;
        let (m, s) = mean_std(&losses);
        loss_mean.push(m);
        loss_std.push(s);
        acc_mean.push(mean_std(&accs).0);
        let (mean, _) = mean_band(recs, metric::TRAIN_LOSS)?;
        steps_to.push(
            mean.iter()
                .find(|p| p.1 < threshold)
                .map_or(f64::NAN, |p| p.0),
        );
    }
    Ok(ComparisonStats {
        loss_mean,
        loss_std,
        acc_mean,
        steps_to,
    })
}

fn comparison_entry(ctx: &Context) -> Result<LogEntry> {
    let (cfg, groups) = load_comparison(ctx)?;
    let rows: Vec<String> = cfg.optimizers.iter().map(label).collect();
    let threshold = 0.1;
    let ComparisonStats {
        loss_mean,
        loss_std,
        acc_mean,
        steps_to,
    } = comparison_stats(&groups, threshold)?;
    let table = metric_table(
        "optimizer",
        &rows,
        &[
            MetricCol::new("final train loss (mean)", loss_mean.clone(), true, 4),
            MetricCol::new("sample SD over seeds", loss_std.clone(), true, 4),
            MetricCol::new("val accuracy (mean)", acc_mean.clone(), false, 3),
            MetricCol::new(
                format!("first step with mean loss < {threshold}"),
                steps_to.clone(),
                true,
                0,
            ),
        ],
    );
    let order = {
        let mut idx: Vec<usize> = (0..rows.len()).collect();
        idx.sort_by(|&a, &b| loss_mean[a].total_cmp(&loss_mean[b]));
        idx.iter()
            .map(|&i| RankText {
                name: cfg.optimizers[i].optimizer.name().to_string(),
                loss: format!("{:.3}", loss_mean[i]),
            })
            .collect::<Vec<_>>()
    };
    let fastest = steps_to
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_finite())
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, s)| FastestText {
            name: cfg.optimizers[i].optimizer.name().to_string(),
            step: format!("{s:.0}"),
        });
    let spread = loss_std.iter().copied().fold(0.0, f64::max);
    let values = ComparisonText {
        lowest: crate::m3_lowest_vs_next(ctx),
        data: crate::words::data(&cfg.data),
        hidden: format!("{:?}", cfg.model.hidden),
        activation: cfg.model.activation.name().to_string(),
        init: crate::words::init(&cfg.model.init),
        steps: cfg.steps.to_string(),
        batch: cfg.batch.to_string(),
        seeds: format!("{:?}", cfg.seeds),
        table,
        order,
        threshold: format!("{threshold}"),
        fastest,
        spread: format!("{spread:.3}"),
        n_seeds: cfg.seeds.len().to_string(),
        tuned: tuned_text(ctx, &cfg)?,
    };
    let block = |name: &str| {
        render_block(
            "m3_optimizer_comparison.md",
            COMPARISON_TEMPLATE,
            name,
            &values,
        )
    };
    Ok(LogEntry {
        id: "m3_optimizer_comparison".into(),
        milestone: 3,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![Figure::new(
            "m3_optimizer_comparison.png",
            FigureKind::OptimizerComparisons,
            block("caption_m3_optimizer_comparison")?,
        )],
        discussion: block("discussion")?,
    })
}

/// What `templates/m3_lr_sensitivity.md` needs.
#[derive(Serialize)]
struct SensitivityText {
    data: String,
    hidden: String,
    steps: String,
    batch: String,
    lrs: String,
    seeds: String,
    loss_cap: String,
    table: String,
    widths: Vec<WidthText>,
}

/// An optimizer's best rate and the width of its usable range.
#[derive(Serialize)]
struct WidthText {
    name: String,
    best: String,
    width: String,
}

/// Per optimizer of the sweep: best rate, loss there, width of the good range, diverged runs.
struct SensitivityStats {
    rows: Vec<String>,
    best_lr: Vec<f64>,
    best_loss: Vec<f64>,
    good_range: Vec<f64>,
    diverged: Vec<f64>,
}

fn sensitivity_stats(scfg: &SensitivityConfig, groups: &Groups) -> Result<SensitivityStats> {
    let mut rows = Vec::new();
    let mut best_lr = Vec::new();
    let mut best_loss = Vec::new();
    let mut good_range = Vec::new();
    let mut diverged = Vec::new();
    for (name, recs) in groups {
        let mut best = (f64::INFINITY, f64::NAN);
        let mut within = Vec::new();
        let mut div = 0.0;
        for r in recs {
            let LrSummary {
                lr,
                final_train_loss_mean: m,
                ..
            } = r.summary_as()?;
            // Counted from the per-seed final losses (capped at `loss_cap` when they diverged), so
            // the count follows the setup's rule whatever the run's own tally said.
            div += r
                .series("final_train_loss")?
                .iter()
                .filter(|(_, l)| *l >= scfg.loss_cap)
                .count() as f64;
            if m < best.0 {
                best = (m, lr);
            }
        }
        for r in recs {
            let s: LrSummary = r.summary_as()?;
            if s.final_train_loss_mean <= 2.0 * best.0 {
                within.push(s.lr);
            }
        }
        rows.push(name.clone());
        best_lr.push(best.1);
        best_loss.push(best.0);
        let lo = within.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = within.iter().copied().fold(0.0, f64::max);
        good_range.push(hi / lo);
        diverged.push(div);
    }
    Ok(SensitivityStats {
        rows,
        best_lr,
        best_loss,
        good_range,
        diverged,
    })
}

fn sensitivity_entry(ctx: &Context) -> Result<LogEntry> {
    let (scfg, groups) = load_sensitivity(ctx)?;
    let SensitivityStats {
        rows,
        best_lr,
        best_loss,
        good_range,
        diverged,
    } = sensitivity_stats(&scfg, &groups)?;
    let table = metric_table(
        "optimizer",
        &rows,
        &[
            MetricCol::new("best lr", best_lr.clone(), false, 4),
            MetricCol::new("loss at best lr", best_loss.clone(), true, 4),
            MetricCol::new(
                "width of lr range within 2× best loss (ratio)",
                good_range.clone(),
                false,
                0,
            ),
            MetricCol::new("diverged runs", diverged.clone(), true, 0),
        ],
    );
    let widths: Vec<WidthText> = rows
        .iter()
        .zip(&good_range)
        .zip(&best_lr)
        .map(|((n, w), b)| WidthText {
            name: n.clone(),
            best: format!("{b:e}"),
            width: format!("{w:.0}"),
        })
        .collect();
    let values = SensitivityText {
        data: crate::words::data(&scfg.data),
        hidden: format!("{:?}", scfg.model.hidden),
        steps: scfg.steps.to_string(),
        batch: scfg.batch.to_string(),
        lrs: format!("{:?}", scfg.lrs),
        seeds: format!("{:?}", scfg.seeds),
        loss_cap: format!("{}", scfg.loss_cap),
        table,
        widths,
    };
    let block =
        |name: &str| render_block("m3_lr_sensitivity.md", SENSITIVITY_TEMPLATE, name, &values);
    Ok(LogEntry {
        id: "m3_lr_sensitivity".into(),
        milestone: 3,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![Figure::new(
            "m3_lr_sensitivity.png",
            FigureKind::OptimizerComparisons,
            block("caption_m3_lr_sensitivity")?,
        )],
        discussion: block("discussion")?,
    })
}

/// What `templates/m3_optimizer_paths.md` needs.
#[derive(Serialize)]
struct PathsText {
    start_x: String,
    start_y: String,
    steps: String,
    table: String,
    finals: Vec<FinalText>,
}

/// Where an optimizer's path ended.
#[derive(Serialize)]
struct FinalText {
    name: String,
    f: String,
    distance: String,
}

fn paths_entry(ctx: &Context) -> Result<LogEntry> {
    let (pcfg, runs) = load_paths(ctx)?;
    let rows: Vec<String> = pcfg.optimizers.iter().map(label).collect();
    let finals = runs
        .iter()
        .map(|(_, r)| Ok(r.summary_as::<PathSummary>()?.final_f))
        .collect::<Result<Vec<_>>>()?;
    let dists = runs
        .iter()
        .map(|(_, r)| Ok(r.summary_as::<PathSummary>()?.final_distance_to_minimum))
        .collect::<Result<Vec<_>>>()?;
    let table = metric_table(
        "optimizer",
        &rows,
        &[
            MetricCol::new("final f(x, y)", finals.clone(), true, 6),
            MetricCol::new("distance to (1, 1)", dists.clone(), true, 4),
        ],
    );
    let values = PathsText {
        start_x: format!("{}", pcfg.start.0),
        start_y: format!("{}", pcfg.start.1),
        steps: pcfg.steps.to_string(),
        table,
        finals: runs
            .iter()
            .zip(&finals)
            .zip(&dists)
            .map(|(((n, _), f), d)| FinalText {
                name: n.clone(),
                f: format!("{f:.1e}"),
                distance: format!("{d:.2}"),
            })
            .collect(),
    };
    let block = |name: &str| render_block("m3_optimizer_paths.md", PATHS_TEMPLATE, name, &values);
    Ok(LogEntry {
        id: "m3_optimizer_paths".into(),
        milestone: 3,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![Figure::new(
            "m3_optimizer_paths.png",
            FigureKind::OptimizerComparisons,
            block("caption_m3_optimizer_paths")?,
        )],
        discussion: block("discussion")?,
    })
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    Ok(vec![
        comparison_entry(ctx)?,
        sensitivity_entry(ctx)?,
        paths_entry(ctx)?,
    ])
}

/// The comparison's rates against the sweep's: each optimizer's rate in the comparison, its best rate
/// in the learning-rate sweep, the ranking at those tuned rates, and why plain SGD and heavy-ball
/// momentum behave alike when their effective step sizes match. `None` without the sweep's records.
fn tuned_text(ctx: &Context, cfg: &ComparisonConfig) -> Result<Option<TunedText>> {
    let Ok((scfg, groups)) = load_sensitivity(ctx) else {
        return Ok(None);
    };
    let mut best: Vec<(String, f64, f64)> = Vec::new();
    for (name, recs) in &groups {
        let mut b = (f64::INFINITY, f64::NAN);
        for r in recs {
            let s: LrSummary = r.summary_as()?;
            if s.final_train_loss_mean < b.0 {
                b = (s.final_train_loss_mean, s.lr);
            }
        }
        best.push((name.clone(), b.1, b.0));
    }
    let rate = |o: &OptimizerEntry| match o.schedule {
        LrSchedule::Constant { lr } => Some(lr),
        _ => None,
    };
    let rates: Vec<RateText> = cfg
        .optimizers
        .iter()
        .filter_map(|o| {
            let name = o.optimizer.name();
            let (_, tuned, _) = best.iter().find(|b| b.0 == name)?;
            Some(RateText {
                name: name.to_string(),
                rate: format!("{}", rate(o)?),
                tuned: format!("{tuned}"),
            })
        })
        .collect();
    best.sort_by(|a, b| a.2.total_cmp(&b.2));
    let ranking: Vec<TunedRankText> = best
        .iter()
        .map(|(n, lr, l)| TunedRankText {
            name: n.clone(),
            loss: format!("{l:.3}"),
            lr: format!("{lr}"),
        })
        .collect();
    // Heavy-ball momentum with coefficient β moves, once its velocity has built up, lr / (1 − β) per
    // unit gradient: the same step as SGD at that rate.
    let sgd = cfg
        .optimizers
        .iter()
        .find(|o| matches!(o.optimizer, OptimizerConfig::Sgd))
        .and_then(rate);
    let momentum = cfg.optimizers.iter().find_map(|o| match o.optimizer {
        OptimizerConfig::Momentum { momentum } => Some((momentum, rate(o)?)),
        _ => None,
    });
    let mut coincide = None;
    if let (Some(sgd), Some((beta, lr))) = (sgd, momentum) {
        let effective = lr / (1.0 - beta);
        if (effective / sgd - 1.0).abs() < 0.05 {
            coincide = Some(CoincideText {
                sgd: format!("{sgd}"),
                lr: format!("{lr}"),
                beta: format!("{beta}"),
                effective: format!("{effective:.3}"),
            });
        }
    }
    Ok(Some(TunedText {
        rates,
        steps: scfg.steps.to_string(),
        n_seeds: scfg.seeds.len().to_string(),
        ranking,
        coincide,
    }))
}
