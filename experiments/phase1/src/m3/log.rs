//! m3's log entries: their words are in `templates/m3_*.md`; this module reads the records,
//! computes the statistics and fills the templates.

use super::*;

const COMPARISON_TEMPLATE: &str = include_str!("../../templates/m3_optimizer_comparison.md");
const SENSITIVITY_TEMPLATE: &str = include_str!("../../templates/m3_lr_sensitivity.md");
const PATHS_TEMPLATE: &str = include_str!("../../templates/m3_optimizer_paths.md");

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
pub(super) struct SensitivityStats {
    pub(super) rows: Vec<String>,
    pub(super) best_lr: Vec<f64>,
    pub(super) best_loss: Vec<f64>,
    pub(super) good_range: Vec<f64>,
    pub(super) diverged: Vec<f64>,
}

pub(super) fn sensitivity_stats(
    scfg: &SensitivityConfig,
    groups: &Groups,
) -> Result<SensitivityStats> {
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
                .series(metric::FINAL_TRAIN_LOSS)?
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
