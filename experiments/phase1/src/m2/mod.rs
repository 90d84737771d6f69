//! m2 — an MLP classifier on 2-D datasets, and what its gradients say about its health.
//!
//! * `m2_classifiers`: one network per dataset; decision boundaries and learning curves.
//! * `m2_gradient_norms`: per-layer gradient norms of a healthy deep ReLU net vs a deep
//!   sigmoid net whose gradients vanish towards the input.
//! * `m2_dead_relu`: the fraction of ReLU units that never fire, healthy vs a too-large
//!   learning rate vs a bad initialisation.

use super::{pct, round, PHASE};
use crate::records::{metric, ClassifierSummary, References, TrainSummary};
use anyhow::{bail, Result};
use candle_core::DType;
use indicatif::ProgressBar;
use phase1_mlp::data::{Dataset, DatasetSpec};
use phase1_mlp::mlp::{Mlp, MlpConfig};
use phase1_mlp::train::{predict, predict_proba, train, Eval, TrainConfig, TrainResult};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::entity::Entity;
use viz::plot::{DecisionPanel, FigureSpec, LineChart, LineGrid, Series};
use viz::record::{Record, RunWriter};
use viz::table::Table;
use viz::template::render_block;
use viz::Context;

/// Fresh points on which the Bayes rule's expected accuracy is estimated (standard error at most
/// 0.11 percentage points), and the stream they come from.
const BAYES_SAMPLES: usize = 200_000;
const BAYES_STREAM: u64 = 0xBA7E5;

/// Where the accuracy panels' axis starts: the top of the scale, where the targets are.
const ACCURACY_AXIS_FROM: f64 = 0.85;

mod log;
pub use log::log_entries;

const MILESTONE: &str = "m2";
/// Training runs in f32, like any real network; only the m1 check needs f64.
const DTYPE: DType = DType::F32;

/// One dataset of `m2_classifiers`, with the validation accuracy it should reach.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    pub data: DatasetSpec,
    pub target_val_acc: Option<f64>,
}

/// `configs/phase1/m2_classifiers.toml`
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    pub seed: u64,
    pub val_fraction: f64,
    /// Resolution of the decision-boundary grid (cells per side).
    pub grid: usize,
    pub model: MlpConfig,
    pub train: TrainConfig,
    pub datasets: Vec<DatasetEntry>,
}

/// What one classifier record stores as its config: everything needed to rerun it alone.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClassifierRun {
    pub seed: u64,
    pub val_fraction: f64,
    pub grid: usize,
    pub data: DatasetSpec,
    pub target_val_acc: Option<f64>,
    pub model: MlpConfig,
    pub train: TrainConfig,
}

/// The decision-boundary artifact: predicted class and class probabilities on a grid, and the
/// validation points with the network's prediction for each.
#[derive(Deserialize, Serialize, Clone, Debug)]
pub struct DecisionGrid {
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// `grid[row][col]`, row 0 at `y_range.0`.
    pub grid: Vec<Vec<usize>>,
    /// `probs[row][col][class]`: the softmax probability of each class at the cell centre
    /// (2 decimals; empty in records written before it was stored).
    #[serde(default)]
    pub probs: Vec<Vec<Vec<f64>>>,
    pub val_points: Vec<(f64, f64, usize)>,
    /// The predicted class of each validation point (empty in older records).
    #[serde(default)]
    pub val_pred: Vec<usize>,
}

/// One run of `m2_gradient_norms` / `m2_dead_relu`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticRun {
    /// Record-name suffix, e.g. `relu_he`.
    pub name: String,
    /// Legend / panel title, e.g. "ReLU, He init, 6 hidden layers".
    pub label: String,
    pub model: MlpConfig,
    pub train: TrainConfig,
}

/// `configs/phase1/m2_gradient_norms.toml` and `m2_dead_relu.toml`
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsConfig {
    pub seed: u64,
    pub val_fraction: f64,
    pub data: DatasetSpec,
    pub runs: Vec<DiagnosticRun>,
}

/// A single diagnostic run's stored config.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticRecord {
    pub seed: u64,
    pub val_fraction: f64,
    pub data: DatasetSpec,
    pub run: DiagnosticRun,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Diagnostic {
    GradientNorms,
    DeadRelu,
}

impl Diagnostic {
    fn experiment(self) -> &'static str {
        match self {
            Diagnostic::GradientNorms => "m2_gradient_norms",
            Diagnostic::DeadRelu => "m2_dead_relu",
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            Diagnostic::GradientNorms => "gradient_norms",
            Diagnostic::DeadRelu => "dead_relu",
        }
    }
}

fn classifier_record(name: &str) -> String {
    format!("classifier_{name}")
}

/// Builds the dataset and splits it, all from one generator seeded with `seed` (which then
/// goes on to initialise the network and order the batches, so one seed fixes the whole run).
pub fn make_data(
    ctx: &Context,
    spec: &DatasetSpec,
    val_fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Result<(Dataset, Dataset)> {
    let data = spec.build(&ctx.root, rng)?;
    data.split(val_fraction, rng)
}

/// Trains with the records' standard scalars logged at every evaluation.
pub fn train_logged(
    run: &mut RunWriter,
    mlp: &Mlp,
    train_set: &Dataset,
    val_set: &Dataset,
    cfg: &TrainConfig,
    rng: &mut ChaCha8Rng,
    bar: &ProgressBar,
) -> Result<TrainResult> {
    let result = train(mlp, train_set, val_set, cfg, DTYPE, rng, |e: &Eval| {
        let mut kv: Vec<(String, f64)> = vec![
            (metric::TRAIN_LOSS.into(), e.train_loss),
            (metric::VAL_LOSS.into(), e.val_loss),
            (metric::TRAIN_ACC.into(), e.train_acc),
            (metric::VAL_ACC.into(), e.val_acc),
            (metric::LR.into(), e.lr),
        ];
        for (l, g) in e.grad_norms.iter().enumerate() {
            kv.push((format!("{}{}", metric::GRAD_NORM, l + 1), *g));
        }
        for (l, d) in e.dead_fraction.iter().enumerate() {
            kv.push((format!("{}{}", metric::DEAD_FRACTION, l + 1), *d));
        }
        let kv: Vec<(&str, f64)> = kv.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        run.scalars(e.step as u64, &kv)?;
        bar.set_position(e.step as u64);
        bar.set_message(format!("loss {:.3} val {}", e.train_loss, pct(e.val_acc)));
        Ok(())
    })?;
    let last = &result.last;
    run.summaries(&TrainSummary {
        train_loss: last.train_loss,
        val_loss: last.val_loss,
        train_acc: last.train_acc,
        val_acc: last.val_acc,
        diverged_at: result.diverged_at.map(|step| step as u64),
    })?;
    Ok(result)
}

pub fn run_classifiers(ctx: &Context) -> Result<String> {
    let (cfg, _): (ClassifierConfig, _) = ctx.load_config(PHASE, "m2_classifiers")?;
    let mut parts = Vec::new();
    for entry in &cfg.datasets {
        let name = entry.data.name();
        let run_cfg = ClassifierRun {
            seed: cfg.seed,
            val_fraction: cfg.val_fraction,
            grid: cfg.grid,
            data: entry.data.clone(),
            target_val_acc: entry.target_val_acc,
            model: cfg.model.clone(),
            train: cfg.train.clone(),
        };
        let mut run = RunWriter::create(
            ctx,
            MILESTONE,
            &classifier_record(&name),
            &run_cfg,
            cfg.seed,
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let (train_set, val_set) = make_data(ctx, &entry.data, cfg.val_fraction, &mut rng)?;
        let mlp = Mlp::from_config(&cfg.model, 2, train_set.classes, DTYPE, &mut rng)?;
        let bar = ctx.progress(cfg.train.steps as u64, &format!("m2 {name}"));
        let result = train_logged(
            &mut run, &mlp, &train_set, &val_set, &cfg.train, &mut rng, &bar,
        )?;
        bar.finish_and_clear();

        // Decision regions on a grid over all the data, plus the validation points.
        let all = Dataset {
            points: train_set
                .points
                .iter()
                .chain(&val_set.points)
                .copied()
                .collect(),
            labels: train_set
                .labels
                .iter()
                .chain(&val_set.labels)
                .copied()
                .collect(),
            classes: train_set.classes,
        };
        let ((x0, x1), (y0, y1)) = all.bounds(0.25);
        let n = cfg.grid;
        let cell = |i: usize, lo: f64, hi: f64| lo + (i as f64 + 0.5) / n as f64 * (hi - lo);
        let points: Vec<[f64; 2]> = (0..n)
            .flat_map(|r| (0..n).map(move |c| [cell(c, x0, x1), cell(r, y0, y1)]))
            .collect();
        let pred = predict(&mlp, &points, DTYPE)?;
        let grid = pred.chunks(n).map(|row| row.to_vec()).collect();
        let probs = predict_proba(&mlp, &points, DTYPE)?
            .into_iter()
            .map(|p| p.into_iter().map(|v| round(v, 2)).collect::<Vec<f64>>())
            .collect::<Vec<_>>()
            .chunks(n)
            .map(|row| row.to_vec())
            .collect();
        let val_pred = predict(&mlp, &val_set.points, DTYPE)?;
        let val_points = val_set
            .points
            .iter()
            .zip(&val_set.labels)
            .map(|(p, &l)| (round(p[0], 4), round(p[1], 4), l))
            .collect();
        run.artifact(
            "decision_grid",
            &DecisionGrid {
                x_range: (round(x0, 4), round(x1, 4)),
                y_range: (round(y0, 4), round(y1, 4)),
                grid,
                probs,
                val_points,
                val_pred,
            },
        )?;
        // The reference no classifier beats: the Bayes-optimal rule on the same points, and its
        // expected accuracy on the distribution (fresh points from a stream of their own).
        let mut fresh = ChaCha8Rng::seed_from_u64(cfg.seed ^ BAYES_STREAM);
        run.summaries(&References {
            target_val_acc: entry.target_val_acc,
            bayes_val_acc: entry.data.bayes_accuracy(&val_set),
            bayes_expected_acc: entry
                .data
                .expected_bayes_accuracy(BAYES_SAMPLES, &mut fresh),
        })?;
        run.finish()?;
        parts.push(format!("{name} {}", pct(result.last.val_acc)));
    }
    Ok(format!("validation accuracy {}", parts.join(", ")))
}

/// `m2_gradient_norms`.
pub fn run_gradient_norms(ctx: &Context) -> Result<String> {
    run_diagnostics(ctx, Diagnostic::GradientNorms)
}

/// `m2_dead_relu`.
pub fn run_dead_relu(ctx: &Context) -> Result<String> {
    run_diagnostics(ctx, Diagnostic::DeadRelu)
}

pub fn run_diagnostics(ctx: &Context, kind: Diagnostic) -> Result<String> {
    let (cfg, _): (DiagnosticsConfig, _) = ctx.load_config(PHASE, kind.experiment())?;
    let mut parts = Vec::new();
    for r in &cfg.runs {
        let record = DiagnosticRecord {
            seed: cfg.seed,
            val_fraction: cfg.val_fraction,
            data: cfg.data.clone(),
            run: r.clone(),
        };
        let name = format!("{}_{}", kind.prefix(), r.name);
        let mut run = RunWriter::create(ctx, MILESTONE, &name, &record, cfg.seed)?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let (train_set, val_set) = make_data(ctx, &cfg.data, cfg.val_fraction, &mut rng)?;
        let mlp = Mlp::from_config(&r.model, 2, train_set.classes, DTYPE, &mut rng)?;
        let bar = ctx.progress(r.train.steps as u64, &format!("m2 {}", r.name));
        let result = train_logged(
            &mut run, &mlp, &train_set, &val_set, &r.train, &mut rng, &bar,
        )?;
        bar.finish_and_clear();
        run.finish()?;
        let extra = match kind {
            Diagnostic::GradientNorms => {
                let g = &result.last.grad_norms;
                match (g.first(), g.last()) {
                    (Some(first), Some(last)) => {
                        format!("|dW1|/|dW{}| {:.1e}", g.len(), first / last)
                    }
                    _ => String::new(),
                }
            }
            Diagnostic::DeadRelu => {
                let d = &result.last.dead_fraction;
                let worst = d.iter().copied().fold(0.0, f64::max);
                format!("worst layer {} dead", pct(worst))
            }
        };
        parts.push(format!(
            "{} val {} {extra}",
            r.name,
            pct(result.last.val_acc)
        ));
    }
    Ok(parts.join("; "))
}

fn load_classifiers(ctx: &Context) -> Result<Vec<(String, Record, ClassifierRun)>> {
    let (cfg, _): (ClassifierConfig, _) = ctx.load_config(PHASE, "m2_classifiers")?;
    cfg.datasets
        .iter()
        .map(|d| {
            let name = d.data.name();
            let rec = Record::load(ctx, MILESTONE, &classifier_record(&name))?;
            let run: ClassifierRun = rec.config_as()?;
            Ok((name, rec, run))
        })
        .collect()
}

fn load_diagnostics(
    ctx: &Context,
    kind: Diagnostic,
) -> Result<(DiagnosticsConfig, Vec<(DiagnosticRun, Record)>)> {
    let (cfg, _): (DiagnosticsConfig, _) = ctx.load_config(PHASE, kind.experiment())?;
    let runs = cfg
        .runs
        .iter()
        .map(|r| {
            let rec = Record::load(ctx, MILESTONE, &format!("{}_{}", kind.prefix(), r.name))?;
            Ok((r.clone(), rec))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((cfg, runs))
}

/// Keys `<prefix>1`, `<prefix>2`, ... present in a record, in order.
fn numbered_keys(rec: &Record, prefix: &str) -> Vec<String> {
    (1..)
        .map(|i| format!("{prefix}{i}"))
        .take_while(|k| rec.scalars.iter().any(|s| &s.key == k))
        .collect()
}

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let mut out = Vec::new();
    let classifiers = load_classifiers(ctx)?;

    let panels = classifiers
        .iter()
        .map(|(name, rec, _)| {
            let g: DecisionGrid = rec.artifact("decision_grid")?;
            let s: ClassifierSummary = rec.summary_as()?;
            let bayes = s
                .references
                .bayes_val_acc
                .map_or(String::new(), |b| format!(" (Bayes {})", pct(b)));
            Ok(DecisionPanel {
                title: name.clone(),
                subtitle: format!("val acc {}{bayes}", pct(s.train.val_acc)),
                x_range: g.x_range,
                y_range: g.y_range,
                grid: g.grid,
                probs: g.probs,
                points: g.val_points,
                predicted: g.val_pred,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let cols = panels.len().min(3);
    // The finding, as the log states it: the largest shortfall against the Bayes-optimal rule on
    // the same validation points.
    let title = match worst_bayes_gap(&classifiers)? {
        Some(gap) => format!(
            "Every MLP within {:.1} pt of the Bayes-optimal rule's validation accuracy",
            100.0 * gap.max(0.0)
        ),
        None => "One MLP per dataset: predicted class, shaded by its probability".to_string(),
    };
    out.push(FigureSpec::new(
        "m2_decision_boundaries.png",
        viz::plot::DecisionGrid {
            title,
            panels,
            cols,
        },
    ));

    // One row a dataset: its loss (log) beside its accuracy, zoomed on the top of the scale where the
    // runs meet (or miss) their targets (the first steps' climb from chance enters from below).
    let mut charts = Vec::new();
    let (mut met, mut with_target) = (0, 0);
    // Missed targets, and the Bayes-optimal rule's accuracy on the same validation points where it
    // falls short of the target too (the log's reading: the target's fault, not the MLP's).
    let mut missed: Vec<(String, f64, Option<f64>)> = Vec::new();
    for (name, rec, run) in &classifiers {
        charts.push(
            LineChart::new(format!("{name}: loss"), "step", "cross-entropy (nats, log)")
                .series(Series::new("train", rec.series(metric::TRAIN_LOSS)?).entity(Entity::Train))
                .series(
                    Series::new("validation", rec.series(metric::VAL_LOSS)?)
                        .entity(Entity::Validation),
                )
                .log_y(),
        );
        let title = match run.target_val_acc {
            Some(t) => format!("{name}: accuracy (target {})", pct(t)),
            None => format!("{name}: accuracy"),
        };
        let axis = format!("accuracy (axis from {ACCURACY_AXIS_FROM})");
        let mut c = LineChart::new(title, "step", axis)
            .series(Series::new("train", rec.series(metric::TRAIN_ACC)?).entity(Entity::Train))
            .series(
                Series::new("validation", rec.series(metric::VAL_ACC)?).entity(Entity::Validation),
            )
            .y_range(ACCURACY_AXIS_FROM, 1.005);
        if let Some(t) = run.target_val_acc {
            c = c.hline("validation target (in the panel title)", t);
            with_target += 1;
            let summary: ClassifierSummary = rec.summary_as()?;
            if summary.train.val_acc >= t {
                met += 1;
            } else {
                let bayes = summary.references.bayes_val_acc.filter(|b| *b < t);
                missed.push((name.clone(), t, bayes));
            }
        }
        charts.push(c);
    }
    out.push(FigureSpec::new(
        "m2_loss_curves.png",
        LineGrid::new(loss_curves_title(met, with_target, &missed), charts, 2).panel_height(300),
    ));

    let (_, runs) = load_diagnostics(ctx, Diagnostic::GradientNorms)?;
    let charts: Vec<LineChart> = runs
        .iter()
        .map(|(r, rec)| {
            let mut c = LineChart::new(
                format!(
                    "{}: val {}",
                    r.label,
                    pct(rec.summary_as::<TrainSummary>()?.val_acc)
                ),
                "step",
                "gradient L2 norm (log)",
            )
            .log_y();
            for key in numbered_keys(rec, metric::GRAD_NORM) {
                let n = key.trim_start_matches(metric::GRAD_NORM);
                // Each layer in its colour of every figure (m1's tensors too); listed by the record.
                let layer = n.parse().ok().map(Entity::Layer);
                c = c.series(
                    Series::new(format!("W{n}"), rec.series_if_logged(&key)).entity_if(layer),
                );
            }
            Ok(c)
        })
        .collect::<Result<_>>()?;
    let cols = charts.len().min(2);
    out.push(FigureSpec::new(
        "m2_gradient_norms.png",
        LineGrid::new(gradient_norms_title(&runs), charts, cols),
    ));

    out.push(dead_relu_figure(ctx)?);
    Ok(out)
}

/// The largest gap, over the datasets with a Bayes reference, between the Bayes-optimal rule's
/// validation accuracy and the MLP's (the number the m2 log states); `None` without a reference.
fn worst_bayes_gap(classifiers: &[(String, Record, ClassifierRun)]) -> Result<Option<f64>> {
    let mut gaps = Vec::new();
    for (_, r, _) in classifiers {
        let s: ClassifierSummary = r.summary_as()?;
        gaps.extend(s.references.bayes_val_acc.map(|b| b - s.train.val_acc));
    }
    Ok(gaps.into_iter().reduce(f64::max))
}

/// Per evaluation of a gradient-norm run, `log10` of the last layer's norm over the first's and of
/// the largest layer's over the smallest's (how many decades the layers' gradients span).
fn gradient_decades(rec: &Record) -> Vec<(f64, f64)> {
    let series: Vec<Vec<(f64, f64)>> = numbered_keys(rec, metric::GRAD_NORM)
        .iter()
        .map(|k| rec.series_if_logged(k))
        .collect();
    let n = series.iter().map(Vec::len).min().unwrap_or(0);
    if series.len() < 2 {
        return Vec::new();
    }
    (0..n)
        .map(|i| {
            let at: Vec<f64> = series.iter().map(|s| s[i].1).collect();
            let hi = at.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lo = at.iter().copied().fold(f64::INFINITY, f64::min);
            ((at[at.len() - 1] / at[0]).log10(), (hi / lo).log10())
        })
        .collect()
}

/// `m2_gradient_norms.png`'s finding over the whole run: the run whose first layer stays furthest
/// below its last (the least gap over every evaluation), against how far apart the other runs'
/// layers ever get.
fn gradient_norms_title(runs: &[(DiagnosticRun, Record)]) -> String {
    let short = |r: &DiagnosticRun| r.label.split(" + ").next().unwrap_or(&r.label).to_string();
    let per_run: Vec<(String, f64, f64, usize)> = runs
        .iter()
        .filter_map(|(r, rec)| {
            let d = gradient_decades(rec);
            let least_gap = d.iter().map(|p| p.0).reduce(f64::min)?;
            let widest = d.iter().map(|p| p.1).reduce(f64::max)?;
            let layers = numbered_keys(rec, metric::GRAD_NORM).len();
            Some((short(r), least_gap, widest, layers))
        })
        .collect();
    let Some(vanishing) = per_run.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return "Per-layer weight-gradient norm during training (W1 = next to the input)".into();
    };
    let others: Vec<String> = per_run
        .iter()
        .filter(|p| p.0 != vanishing.0)
        .map(|p| format!("{} layers within {:.1} decades", p.0, p.2))
        .collect();
    let mut head = format!(
        "{} W1 gradient stays ≥ {:.1} decades under W{}",
        vanishing.0, vanishing.1, vanishing.3
    );
    if let Some(first) = head.get(..1) {
        head = first.to_uppercase() + &head[1..];
    }
    if others.is_empty() {
        head
    } else {
        format!("{head}; {}", others.join("; "))
    }
}

/// The training curves' finding: how many classifiers reach their validation target and, for a
/// single miss whose target lies above the Bayes-optimal rule's own accuracy on the same validation
/// points, that Bayes rate (the log says the same).
fn loss_curves_title(
    met: usize,
    with_target: usize,
    missed: &[(String, f64, Option<f64>)],
) -> String {
    match missed {
        [(name, target, Some(bayes))] => format!(
            "{met} of {with_target} reach their target; {} {} lies above its own Bayes rate, {}",
            possessive(name),
            pct(*target),
            pct(*bayes)
        ),
        _ => format!(
            "Training curves: {met} of {with_target} classifiers reach their validation target"
        ),
    }
}

/// "moons'", "xor's".
fn possessive(name: &str) -> String {
    if name.ends_with('s') {
        format!("{name}'")
    } else {
        format!("{name}'s")
    }
}

/// `m2_dead_relu.png`: the dead fraction of each hidden layer over training, one panel a run, each
/// run's validation accuracy in its panel title.
fn dead_relu_figure(ctx: &Context) -> Result<FigureSpec> {
    let (_, runs) = load_diagnostics(ctx, Diagnostic::DeadRelu)?;
    let charts: Vec<LineChart> = runs
        .iter()
        .map(|(r, rec)| {
            // A no-break space keeps "val 99.8%" on one line when the panel title wraps.
            let mut c = LineChart::new(
                format!(
                    "{}: val\u{a0}{}",
                    r.label,
                    pct(rec.summary_as::<TrainSummary>()?.val_acc)
                ),
                "step",
                "fraction of dead units",
            )
            .x_ticks(step_ticks(r.train.steps));
            for key in numbered_keys(rec, metric::DEAD_FRACTION) {
                let layer = format!("hidden {}", key.trim_start_matches(metric::DEAD_FRACTION));
                c = c.series(Series::new(layer, rec.series_if_logged(&key))); // listed by the record
            }
            Ok(c)
        })
        .collect::<Result<_>>()?;
    // The finding: the most of a layer each run leaves dead at the end, every run named, worst first.
    let worst_layer = |rec: &Record| {
        numbered_keys(rec, metric::DEAD_FRACTION)
            .iter()
            .filter_map(|k| rec.last(k))
            .fold(0.0, f64::max)
    };
    let mut ends: Vec<(String, f64)> = runs
        .iter()
        .map(|(r, rec)| (r.name.replace('_', " "), worst_layer(rec)))
        .collect();
    ends.sort_by(|a, b| b.1.total_cmp(&a.1));
    let title = if ends.len() > 1 {
        format!(
            "Most-dead layer at the end: {}",
            ends.iter()
                .map(|(name, f)| format!("{name} {:.0} %", 100.0 * f))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        "Fraction of ReLU units that output 0 for every training point".to_string()
    };
    let cols = charts.len();
    Ok(FigureSpec::new(
        "m2_dead_relu.png",
        LineGrid::new(title, charts, cols),
    ))
}

/// Round ticks about a third of the run apart, from 0 (`1500` → 0, 500, 1000, 1500).
fn step_ticks(steps: usize) -> Vec<f64> {
    let steps = steps.max(1) as f64;
    let raw = steps / 3.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let mut ticks: Vec<f64> = (0..)
        .map(|i| i as f64 * step)
        .take_while(|t| *t <= steps)
        .collect();
    if ticks.last() != Some(&steps) && steps - ticks.last().copied().unwrap_or(0.0) > step / 2.0 {
        ticks.push(steps);
    }
    ticks
}
