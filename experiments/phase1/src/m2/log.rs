//! m2's log entries: their words are in `templates/m2_*.md`; this module reads the records,
//! computes the numbers and fills the templates.

use super::*;

const CLASSIFIERS_TEMPLATE: &str = include_str!("../../templates/m2_classifiers.md");
const GRADIENT_NORMS_TEMPLATE: &str = include_str!("../../templates/m2_gradient_norms.md");
const DEAD_RELU_TEMPLATE: &str = include_str!("../../templates/m2_dead_relu.md");

/// A run's model and training settings as the setup paragraphs state them.
#[derive(Serialize)]
struct RunText {
    label: String,
    hidden: String,
    activation: String,
    init: String,
    steps: String,
    batch: String,
    optimizer: String,
    schedule: String,
}

impl RunText {
    fn new(label: &str, m: &MlpConfig, t: &TrainConfig) -> RunText {
        RunText {
            label: label.to_string(),
            hidden: m
                .hidden
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(" → "),
            activation: m.activation.name().to_string(),
            init: crate::words::init(&m.init),
            steps: t.steps.to_string(),
            batch: t.batch.to_string(),
            optimizer: crate::words::optimizer(&t.optimizer),
            schedule: crate::words::schedule(&t.schedule),
        }
    }
}

/// What `templates/m2_classifiers.md` needs.
#[derive(Serialize)]
struct ClassifiersText {
    model: RunText,
    val_percent: String,
    bayes_samples: String,
    provenance: String,
    table: String,
    missed: Vec<MissedText>,
    accuracies: Vec<AccuracyText>,
    gap: Option<String>,
    wrong: Vec<WrongText>,
    /// Where the accuracy panels' axis starts.
    accuracy_axis_from: String,
}

/// A dataset whose accuracy target was missed; `bayes_below` when even the Bayes rule misses it.
#[derive(Serialize)]
struct MissedText {
    name: String,
    val: String,
    bayes_below: Option<String>,
    target: String,
}

#[derive(Serialize)]
struct AccuracyText {
    name: String,
    acc: String,
}

/// Misclassified validation points of one dataset.
#[derive(Serialize)]
struct WrongText {
    name: String,
    n: String,
    total: String,
}

/// Misclassified validation points, from the stored predictions (older records lack them).
fn wrong_texts(classifiers: &[(String, Record, ClassifierRun)]) -> Result<Vec<WrongText>> {
    let mut wrong = Vec::new();
    for (name, rec, _) in classifiers {
        let g: DecisionGrid = rec.artifact("decision_grid")?;
        if g.val_pred.len() == g.val_points.len() && !g.val_pred.is_empty() {
            let n = g
                .val_points
                .iter()
                .zip(&g.val_pred)
                .filter(|(p, &k)| p.2 != k)
                .count();
            wrong.push(WrongText {
                name: name.clone(),
                n: n.to_string(),
                total: g.val_points.len().to_string(),
            });
        }
    }
    Ok(wrong)
}

/// `200000` → `200,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The classifiers' table, and the datasets that miss their target.
fn classifier_table(
    classifiers: &[(String, Record, ClassifierRun)],
    val_acc: &[f64],
) -> Result<(Table, Vec<MissedText>)> {
    let mut table = Table::new(&[
        "dataset",
        "data",
        "val accuracy",
        "Bayes-optimal",
        "Bayes expected",
        "target",
        "met",
        "train accuracy",
        "val loss",
    ]);
    let mut missed = Vec::new();
    for (i, (name, rec, run)) in classifiers.iter().enumerate() {
        let summary: ClassifierSummary = rec.summary_as()?;
        let refs = &summary.references;
        let target = run.target_val_acc;
        let met = target.map(|t| val_acc[i] >= t);
        if met == Some(false) {
            let t = target.unwrap_or(f64::NAN);
            missed.push(MissedText {
                name: name.clone(),
                val: pct(val_acc[i]),
                bayes_below: refs.bayes_val_acc.filter(|b| *b < t).map(pct),
                target: pct(t),
            });
        }
        table = table.row(vec![
            name.clone(),
            crate::words::data(&run.data),
            pct(val_acc[i]),
            refs.bayes_val_acc.map_or("—".into(), pct),
            refs.bayes_expected_acc.map_or("—".into(), pct),
            target.map_or("—".into(), pct),
            met.map_or(
                "—".into(),
                |m| if m { "yes".into() } else { "**no**".into() },
            ),
            pct(summary.train.train_acc),
            format!("{:.3}", summary.train.val_loss),
        ]);
    }
    Ok((table, missed))
}

fn classifiers_entry(ctx: &Context) -> Result<LogEntry> {
    let classifiers = load_classifiers(ctx)?;
    let Some((_, first_rec, first)) = classifiers.first() else {
        bail!("m2_classifiers config lists no datasets");
    };
    let val_acc: Vec<f64> = classifiers
        .iter()
        .map(|(_, r, _)| Ok(r.summary_as::<ClassifierSummary>()?.train.val_acc))
        .collect::<Result<_>>()?;
    let wrong = wrong_texts(&classifiers)?;
    let (table, missed) = classifier_table(&classifiers, &val_acc)?;
    let mut gaps: Vec<f64> = Vec::new();
    for ((_, r, _), a) in classifiers.iter().zip(&val_acc) {
        let s: ClassifierSummary = r.summary_as()?;
        gaps.extend(s.references.bayes_val_acc.map(|b| b - a));
    }
    let worst_gap = gaps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let values = ClassifiersText {
        model: RunText::new("", &first.model, &first.train),
        val_percent: format!("{:.0}", 100.0 * first.val_fraction),
        bayes_samples: thousands(BAYES_SAMPLES),
        provenance: first_rec.provenance(),
        table: table.markdown(),
        missed,
        accuracies: classifiers
            .iter()
            .zip(&val_acc)
            .map(|((n, _, _), a)| AccuracyText {
                name: n.clone(),
                acc: pct(*a),
            })
            .collect(),
        gap: (!gaps.is_empty()).then(|| format!("{:.1}", 100.0 * worst_gap.max(0.0))),
        wrong,
        accuracy_axis_from: ACCURACY_AXIS_FROM.to_string(),
    };
    let block = |name: &str| render_block("m2_classifiers.md", CLASSIFIERS_TEMPLATE, name, &values);
    Ok(LogEntry {
        id: "m2_classifiers".into(),
        milestone: 2,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![
            Figure::new(
                "m2_decision_boundaries.png",
                FigureKind::DecisionBoundaries,
                block("caption_m2_decision_boundaries")?,
            )
            .key(),
            Figure::new(
                "m2_loss_curves.png",
                FigureKind::LossCurves,
                block("caption_m2_loss_curves")?,
            ),
        ],
        discussion: block("discussion")?,
    })
}

/// What `templates/m2_gradient_norms.md` needs.
#[derive(Serialize)]
struct GradientNormsText {
    data: String,
    val_percent: String,
    seed: String,
    runs: Vec<RunText>,
    table: String,
    ratios: Vec<RatioText>,
    later: Vec<LaterText>,
}

/// First-to-last gradient-norm ratio of one run at step 0.
#[derive(Serialize)]
struct RatioText {
    label: String,
    ratio: String,
    acc: String,
}

/// One run after step 0: the ratio at the last evaluation and whether its loss left chance level.
#[derive(Serialize)]
struct LaterText {
    label: String,
    end_ratio: String,
    left_chance: bool,
    min_loss: String,
    classes: String,
    chance: String,
}

/// What happens after step 0, per run, from the records: the same ratio at the last evaluation,
/// and whether the training loss ever left chance level (ln of the number of classes).
fn later_texts(gcfg: &DiagnosticsConfig, runs: &[(DiagnosticRun, Record)]) -> Vec<LaterText> {
    let classes = match &gcfg.data {
        DatasetSpec::Spirals { classes, .. } => *classes as f64,
        DatasetSpec::Blobs { centers, .. } => *centers as f64,
        _ => 2.0,
    };
    let chance = classes.ln();
    runs.iter()
        .map(|(r, rec)| {
            let keys = numbered_keys(rec, metric::GRAD_NORM);
            let at_end = |k: &String| {
                rec.series_if_logged(k)
                    .last()
                    .map(|p| p.1)
                    .unwrap_or(f64::NAN)
            };
            let end_ratio = match (keys.first(), keys.last()) {
                (Some(a), Some(b)) => at_end(a) / at_end(b),
                _ => f64::NAN,
            };
            let losses = rec.series_if_logged(metric::TRAIN_LOSS);
            let min_loss = losses.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            LaterText {
                label: r.label.clone(),
                end_ratio: format!("{end_ratio:.1e}"),
                left_chance: min_loss < 0.9 * chance,
                min_loss: format!("{min_loss:.3}"),
                classes: format!("{classes}"),
                chance: format!("{chance:.3}"),
            }
        })
        .collect()
}

fn gradient_norms_entry(ctx: &Context) -> Result<LogEntry> {
    let (gcfg, runs) = load_diagnostics(ctx, Diagnostic::GradientNorms)?;
    let mut rows = Vec::new();
    let mut ratio = Vec::new();
    let mut first_norm = Vec::new();
    let mut last_norm = Vec::new();
    let mut accs = Vec::new();
    for (r, rec) in &runs {
        let keys = numbered_keys(rec, metric::GRAD_NORM);
        // Norms at the first evaluation (step 0), before training changes anything.
        let at0 = |k: &String| {
            rec.series_if_logged(k)
                .first()
                .map(|p| p.1)
                .unwrap_or(f64::NAN)
        };
        let (g1, gl) = match (keys.first(), keys.last()) {
            (Some(a), Some(b)) => (at0(a), at0(b)),
            _ => (f64::NAN, f64::NAN),
        };
        rows.push(r.label.clone());
        first_norm.push(g1);
        last_norm.push(gl);
        ratio.push(g1 / gl);
        accs.push(rec.summary_as::<TrainSummary>()?.val_acc);
    }
    let mut table = Table::new(&[
        "run",
        "‖dW1‖ at step 0",
        "‖dW_last‖ at step 0",
        "ratio first / last",
        "final val accuracy",
    ]);
    for i in 0..rows.len() {
        table = table.row(vec![
            rows[i].clone(),
            format!("{:.2e}", first_norm[i]),
            format!("{:.2e}", last_norm[i]),
            format!("{:.2e}", ratio[i]),
            pct(accs[i]),
        ]);
    }
    let values = GradientNormsText {
        data: crate::words::data(&gcfg.data),
        val_percent: format!("{:.0}", 100.0 * gcfg.val_fraction),
        seed: gcfg.seed.to_string(),
        runs: runs
            .iter()
            .map(|(r, _)| RunText::new(&r.label, &r.model, &r.train))
            .collect(),
        table: table.markdown(),
        ratios: rows
            .iter()
            .zip(&ratio)
            .zip(&accs)
            .map(|((l, q), a)| RatioText {
                label: l.clone(),
                ratio: format!("{q:.1e}"),
                acc: pct(*a),
            })
            .collect(),
        later: later_texts(&gcfg, &runs),
    };
    let block = |name: &str| {
        render_block(
            "m2_gradient_norms.md",
            GRADIENT_NORMS_TEMPLATE,
            name,
            &values,
        )
    };
    Ok(LogEntry {
        id: "m2_gradient_norms".into(),
        milestone: 2,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![Figure::new(
            "m2_gradient_norms.png",
            FigureKind::GradientChecks,
            block("caption_m2_gradient_norms")?,
        )],
        discussion: block("discussion")?,
    })
}

/// What `templates/m2_dead_relu.md` needs.
#[derive(Serialize)]
struct DeadReluText {
    data: String,
    val_percent: String,
    seed: String,
    runs: Vec<RunText>,
    table: String,
    dead: Vec<DeadText>,
    revived: Vec<RevivedText>,
    first_layer_revived: bool,
}

/// Dead units per hidden layer at the end of one run.
#[derive(Serialize)]
struct DeadText {
    label: String,
    dead: String,
    acc: String,
}

/// A layer whose dead fraction ended below its peak.
#[derive(Serialize)]
struct RevivedText {
    label: String,
    layer: String,
    peak: String,
    end: String,
}

/// Revival, from the records: a layer whose dead fraction ends below its peak had units fire again.
/// Also says whether one of them is a first hidden layer.
fn revived_texts(runs: &[(DiagnosticRun, Record)]) -> (Vec<RevivedText>, bool) {
    let mut revived = Vec::new();
    let mut first_layer_revived = false;
    for (r, rec) in runs {
        for k in numbered_keys(rec, metric::DEAD_FRACTION) {
            let series = rec.series_if_logged(&k); // a key the record listed
            let peak = series.iter().map(|p| p.1).fold(0.0, f64::max);
            let end = series.last().map_or(f64::NAN, |p| p.1);
            if end < peak - 1e-9 {
                let layer = k.trim_start_matches(metric::DEAD_FRACTION);
                first_layer_revived |= layer == "1";
                revived.push(RevivedText {
                    label: r.label.clone(),
                    layer: layer.to_string(),
                    peak: pct(peak),
                    end: pct(end),
                });
            }
        }
    }
    (revived, first_layer_revived)
}

fn dead_relu_entry(ctx: &Context) -> Result<LogEntry> {
    let (dcfg, runs) = load_diagnostics(ctx, Diagnostic::DeadRelu)?;
    let mut table = Table::new(&["run", "dead units per hidden layer (end)", "val accuracy"]);
    let mut dead_texts = Vec::new();
    for (r, rec) in &runs {
        let keys = numbered_keys(rec, metric::DEAD_FRACTION);
        let dead: Vec<String> = keys
            .iter()
            .map(|k| pct(rec.last(k).unwrap_or(f64::NAN)))
            .collect();
        let acc = rec.summary_as::<TrainSummary>()?.val_acc;
        table = table.row(vec![r.label.clone(), dead.join(" / "), pct(acc)]);
        dead_texts.push(DeadText {
            label: r.label.clone(),
            dead: dead.join(" / "),
            acc: pct(acc),
        });
    }
    let (revived, first_layer_revived) = revived_texts(&runs);
    let values = DeadReluText {
        data: crate::words::data(&dcfg.data),
        val_percent: format!("{:.0}", 100.0 * dcfg.val_fraction),
        seed: dcfg.seed.to_string(),
        runs: runs
            .iter()
            .map(|(r, _)| RunText::new(&r.label, &r.model, &r.train))
            .collect(),
        table: table.markdown(),
        dead: dead_texts,
        revived,
        first_layer_revived,
    };
    let block = |name: &str| render_block("m2_dead_relu.md", DEAD_RELU_TEMPLATE, name, &values);
    Ok(LogEntry {
        id: "m2_dead_relu".into(),
        milestone: 2,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![Figure::new(
            "m2_dead_relu.png",
            FigureKind::LossCurves,
            block("caption_m2_dead_relu")?,
        )],
        discussion: block("discussion")?,
    })
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    Ok(vec![
        classifiers_entry(ctx)?,
        gradient_norms_entry(ctx)?,
        dead_relu_entry(ctx)?,
    ])
}
