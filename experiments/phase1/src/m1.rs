//! m1 — is the hand-written backward pass right? Every parameter of a small f64 MLP is checked
//! against central finite differences and candle's autograd, for each activation and both
//! losses, and then again with deliberately broken backward passes.

use super::{mean_std, PHASE};
use crate::records::GradCheckSummary;
use anyhow::{Context as _, Result};
use candle_core::{DType, Device, Tensor};
use phase1_mlp::gradcheck::{check_mlp, ParamCheck, Target, AGREEMENT_TOL, BUG_TOL};
use phase1_mlp::layers::{Activation, Bug, Init};
use phase1_mlp::mlp::Mlp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::entity::Entity;
use viz::plot::{Dot, DotPlot, FigureSpec, Marker, PointGroup, ScatterGrid, ScatterPanel};
use viz::record::{Record, RunWriter};
use viz::table::Table;
use viz::template::render_block;
use viz::Context;

const MILESTONE: &str = "m1";
const RECORD: &str = "gradient_check";

/// `configs/phase1/m1_gradient_check.toml`
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct GradCheckConfig {
    pub seed: u64,
    /// `[d_in, hidden..., d_out]` of the checked network.
    pub sizes: Vec<usize>,
    /// Number of random examples in the checked batch.
    pub batch: usize,
    /// Finite-difference step.
    pub eps: f64,
    pub init: Init,
    /// Each is checked with softmax cross-entropy.
    pub activations: Vec<Activation>,
    /// Each is checked with mean squared error against random real targets.
    pub mse_activations: Vec<Activation>,
    /// Deliberately wrong backward passes, each checked on a `bug_activation` network.
    pub bugs: Vec<Bug>,
    pub bug_activation: Activation,
}

/// One checked configuration: which network, which loss, which (if any) bug, and the result.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Case {
    pub label: String,
    pub activation: Activation,
    pub loss: String,
    pub bug: Bug,
    pub params: Vec<ParamCheck>,
}

impl Case {
    fn worst(&self) -> f64 {
        self.params
            .iter()
            .map(|p| p.max_rel_error())
            .fold(0.0, f64::max)
    }
    fn worst_autograd(&self) -> f64 {
        self.params
            .iter()
            .map(|p| p.max_rel_error_autograd())
            .fold(0.0, f64::max)
    }
    /// The case's name in the record's summary keys.
    fn key(&self) -> String {
        self.label.replace([' ', '(', ')', ':', '+'], "_")
    }
}

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize)) -> Result<Tensor> {
    let v: Vec<f64> = (0..shape.0 * shape.1)
        .map(|_| rng.sample(StandardNormal))
        .collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// Checks one network. Every case gets its own generator seeded from the config seed, so the
/// bug cases check exactly the network and batch the correct `bug_activation` case checked.
fn check_case(cfg: &GradCheckConfig, activation: Activation, mse: bool, bug: Bug) -> Result<Case> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mlp = Mlp::new(&cfg.sizes, activation, cfg.init, DType::F64, &mut rng)?;
    let d_in = cfg.sizes[0];
    let d_out = *cfg.sizes.last().expect("sizes has at least two entries");
    let x = randn(&mut rng, (cfg.batch, d_in))?;
    let target = if mse {
        Target::Values(randn(&mut rng, (cfg.batch, d_out))?)
    } else {
        let y: Vec<u32> = (0..cfg.batch)
            .map(|_| rng.gen_range(0..d_out as u32))
            .collect();
        Target::Classes(Tensor::from_vec(y, cfg.batch, &Device::Cpu)?)
    };
    let params = check_mlp(&mlp, &x, &target, bug, cfg.eps)?;
    let label = match (bug, mse) {
        (Bug::None, false) => activation.name().to_string(),
        (Bug::None, true) => format!("{} + mse", activation.name()),
        (bug, _) => format!("{} (bug: {})", activation.name(), bug_name(bug)),
    };
    Ok(Case {
        label,
        activation,
        loss: target.loss_name().to_string(),
        bug,
        params,
    })
}

fn bug_name(bug: Bug) -> &'static str {
    match bug {
        Bug::None => "none",
        Bug::ReluMaskDropped => "relu_mask_dropped",
        Bug::WeightGradTransposed => "weight_grad_transposed",
    }
}

pub fn run_gradient_check(ctx: &Context) -> Result<String> {
    let (cfg, raw): (GradCheckConfig, _) = ctx.load_config(PHASE, "m1_gradient_check")?;
    if cfg.sizes.len() < 2 {
        anyhow::bail!("m1_gradient_check: `sizes` needs at least [d_in, d_out]");
    }
    let mut run = RunWriter::create(ctx, MILESTONE, RECORD, &raw, cfg.seed)?;
    let mut plan: Vec<(Activation, bool, Bug)> = Vec::new();
    plan.extend(cfg.activations.iter().map(|&a| (a, false, Bug::None)));
    plan.extend(cfg.mse_activations.iter().map(|&a| (a, true, Bug::None)));
    plan.extend(cfg.bugs.iter().map(|&b| (cfg.bug_activation, false, b)));

    let bar = ctx.progress(plan.len() as u64, "m1 gradient check");
    let mut cases = Vec::new();
    let mut summary = GradCheckSummary::default();
    for (activation, mse, bug) in plan {
        let case = check_case(&cfg, activation, mse, bug)
            .with_context(|| format!("checking {activation:?} (mse {mse}, bug {bug:?})"))?;
        let key = case.key();
        summary.max_rel_error.insert(key.clone(), case.worst());
        summary
            .max_rel_error_autograd
            .insert(key, case.worst_autograd());
        run.summaries(&summary)?;
        bar.set_message(format!("{} {:.1e}", case.label, case.worst()));
        bar.inc(1);
        cases.push(case);
    }
    bar.finish_and_clear();
    run.artifact("cases", &cases)?;
    run.finish()?;

    let correct: Vec<&Case> = cases.iter().filter(|c| c.bug == Bug::None).collect();
    let worst_ok = correct.iter().map(|c| c.worst()).fold(0.0, f64::max);
    let worst_ag = correct
        .iter()
        .map(|c| c.worst_autograd())
        .fold(0.0, f64::max);
    let bugs: Vec<String> = cases
        .iter()
        .filter(|c| c.bug != Bug::None)
        .map(|c| format!("{} {:.1e}", bug_name(c.bug), c.worst()))
        .collect();
    Ok(format!(
        "correct backward max rel error {worst_ok:.1e} (autograd {worst_ag:.1e}); buggy: {}",
        bugs.join(", ")
    ))
}

fn load_cases(ctx: &Context) -> Result<(Record, Vec<Case>)> {
    let rec = Record::load(ctx, MILESTONE, RECORD)?;
    let cases: Vec<Case> = rec.artifact("cases")?;
    Ok((rec, cases))
}

/// How a parameter tensor is drawn in both m1 figures: its layer's entity (its colour), weights as
/// circles and biases as triangles ("W2" → layer 2, circle).
fn tensor_style(param: &str) -> (Entity, Marker) {
    let layer: u8 = param[1..].parse().unwrap_or(1);
    let m = if param.starts_with('b') {
        Marker::Triangle
    } else {
        Marker::Circle
    };
    (Entity::Layer(layer), m)
}

fn tensor_groups(cases: &[&Case]) -> Vec<PointGroup> {
    let Some(first) = cases.first() else {
        return Vec::new();
    };
    (0..first.params.len())
        .map(|i| {
            let name = &first.params[i].param;
            let (e, m) = tensor_style(name);
            PointGroup {
                label: name.clone(),
                points: cases
                    .iter()
                    .flat_map(|k| {
                        let p = &k.params[i];
                        p.numerical
                            .iter()
                            .copied()
                            .zip(p.analytical.iter().copied())
                    })
                    .collect(),
                entity: e,
                marker: m,
            }
        })
        .collect()
}

/// The two m1 titles, from the record: the correct cases' worst relative error against the
/// smallest worst error of a planted bug (how far apart the check puts them).
fn finding_titles(cases: &[Case]) -> (String, String) {
    let worst_ok = cases
        .iter()
        .filter(|c| c.bug == Bug::None)
        .map(Case::worst)
        .fold(0.0, f64::max);
    let bugs: Vec<f64> = cases
        .iter()
        .filter(|c| c.bug != Bug::None)
        .map(Case::worst)
        .collect();
    let least_bug = bugs.iter().copied().fold(f64::INFINITY, f64::min);
    if bugs.is_empty() || least_bug <= worst_ok {
        return (
            format!(
                "Hand-derived vs finite-difference gradient: worst relative error {worst_ok:.1e}"
            ),
            format!(
                "Worst relative error per parameter tensor: correct cases at most {worst_ok:.1e}"
            ),
        );
    }
    // Two significant digits, so "at most" and "at least" stay true of the rounded numbers.
    let decades = (least_bug / worst_ok).log10().floor();
    (
        format!(
            "Correct passes on y = x (worst relative error {worst_ok:.2e}); the {} planted bugs leave it",
            bugs.len()
        ),
        format!(
            "Worst relative error: correct ≤ {worst_ok:.2e}, planted bugs ≥ {least_bug:.2e} ({decades:.0} decades apart)"
        ),
    )
}

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let (_, cases) = load_cases(ctx)?;
    let (scatter_title, dots_title) = finding_titles(&cases);

    // Figure 1: signed hand-derived against signed numerical gradient, every entry, on linear axes;
    // one panel for the correct cases and one per planted bug, tensors told apart by colour/marker.
    let correct: Vec<&Case> = cases.iter().filter(|c| c.bug == Bug::None).collect();
    let mut grid = ScatterGrid::new(
        scatter_title,
        "numerical ∂L/∂θ (loss / unit θ)",
        "hand-derived ∂L/∂θ (loss / unit θ)",
        3,
    )
    .panel(ScatterPanel {
        title: format!("correct ({} cases)", correct.len()),
        groups: tensor_groups(&correct),
    });
    for c in cases.iter().filter(|c| c.bug != Bug::None) {
        grid = grid.panel(ScatterPanel {
            title: format!("bug: {}", bug_name(c.bug)),
            groups: tensor_groups(&[c]),
        });
    }
    let f1 = FigureSpec::new("m1_gradient_check.png", grid);

    // Figure 2: worst relative error per parameter tensor, one row per case, against the tests'
    // thresholds (the same constants the tests use). The bug threshold is grey (`Entity::Plain`,
    // a line that stands for no entity): vermilion would read as the n-gram's or gold's line, and
    // sits next to W2's orange.
    let mut dots = DotPlot::new(
        dots_title,
        "max relative error |a − n| / max(|a|, |n|) (log scale)",
        cases.iter().map(|c| c.label.clone()).collect(),
    )
    .lanes(cases[0].params.len())
    .vline(format!("pass below {AGREEMENT_TOL:e}"), AGREEMENT_TOL)
    .vline_entity(format!("bug above {BUG_TOL:e}"), BUG_TOL, Entity::Plain);
    for (row, c) in cases.iter().enumerate() {
        for (lane, p) in c.params.iter().enumerate() {
            let (entity, marker) = tensor_style(&p.param);
            dots = dots.dot(Dot {
                row,
                lane,
                value: p.max_rel_error(),
                entity,
                marker,
                label: p.param.clone(),
            });
        }
    }
    let f2 = FigureSpec::new("m1_gradient_check_errors.png", dots);
    Ok(vec![f1, f2])
}

const TEMPLATE: &str = include_str!("../templates/m1_gradient_check.md");

/// What `templates/m1_gradient_check.md` needs, numbers already formatted.
#[derive(Serialize)]
struct GradCheckText {
    sizes: String,
    n_entries: String,
    init: String,
    batch: String,
    eps: String,
    bug_activation: String,
    provenance: String,
    table: String,
    agreement_tol: String,
    bug_tol: String,
    n_correct: String,
    worst_ok: String,
    mean_ok: String,
    worst_ag: String,
    below_threshold: bool,
    rounding: String,
    bugs: Vec<BugText>,
}

/// One planted bug in the discussion: its worst error and the tensors it breaks.
#[derive(Serialize)]
struct BugText {
    name: String,
    worst: String,
    broken: Vec<String>,
}

/// The results table: worst relative error per case and tensor, and against autograd.
fn error_table(summary: &GradCheckSummary, cases: &[Case]) -> Result<Table> {
    let mut headers = vec!["case", "loss"];
    let names: Vec<String> = cases[0].params.iter().map(|p| p.param.clone()).collect();
    headers.extend(names.iter().map(String::as_str));
    headers.push("vs autograd");
    let mut table = Table::new(&headers);
    for c in cases {
        let mut row = vec![c.label.clone(), c.loss.clone()];
        row.extend(
            c.params
                .iter()
                .map(|p| format!("{:.1e}", p.max_rel_error())),
        );
        // One source for the number: the summary the run wrote (the artifact's entries are rounded).
        let worst_ag = autograd_error(summary, c)?;
        row.push(format!("{worst_ag:.1e}"));
        table = table.row(row);
    }
    Ok(table)
}

/// A case's worst error against autograd, as the run recorded it.
fn autograd_error(summary: &GradCheckSummary, case: &Case) -> Result<f64> {
    let key = case.key();
    summary
        .max_rel_error_autograd
        .get(&key)
        .copied()
        .with_context(|| format!("m1 record has no autograd error for case `{key}`"))
}

fn bug_texts(cases: &[Case]) -> Vec<BugText> {
    cases
        .iter()
        .filter(|c| c.bug != Bug::None)
        .map(|c| BugText {
            name: bug_name(c.bug).to_string(),
            worst: format!("{:.1e}", c.worst()),
            broken: c
                .params
                .iter()
                .filter(|p| p.max_rel_error() > BUG_TOL)
                .map(|p| p.param.clone())
                .collect(),
        })
        .collect()
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let (rec, cases) = load_cases(ctx)?;
    let cfg: GradCheckConfig = rec.config_as()?;
    let summary: GradCheckSummary = rec.summary_as()?;
    let table = error_table(&summary, &cases)?;
    let correct: Vec<f64> = cases
        .iter()
        .filter(|c| c.bug == Bug::None)
        .map(|c| c.worst())
        .collect();
    let worst_ok = correct.iter().copied().fold(0.0, f64::max);
    let (mean_ok, _) = mean_std(&correct);
    let worst_ag = cases
        .iter()
        .filter(|c| c.bug == Bug::None)
        .map(|c| autograd_error(&summary, c))
        .collect::<Result<Vec<f64>>>()?
        .into_iter()
        .fold(0.0, f64::max);
    let n_entries: usize = cases[0].params.iter().map(|p| p.analytical.len()).sum();
    let values = GradCheckText {
        sizes: format!("{:?}", cfg.sizes),
        n_entries: n_entries.to_string(),
        init: crate::words::init(&cfg.init),
        batch: cfg.batch.to_string(),
        eps: format!("{:e}", cfg.eps),
        bug_activation: cfg.bug_activation.name().to_string(),
        provenance: rec.provenance(),
        table: table.markdown(),
        agreement_tol: format!("{AGREEMENT_TOL:e}"),
        bug_tol: format!("{BUG_TOL:e}"),
        n_correct: correct.len().to_string(),
        worst_ok: format!("{worst_ok:.1e}"),
        mean_ok: format!("{mean_ok:.1e}"),
        worst_ag: format!("{worst_ag:.1e}"),
        below_threshold: worst_ok < AGREEMENT_TOL,
        rounding: format!("{:.0e}", 1e-16 / cfg.eps),
        bugs: bug_texts(&cases),
    };
    let block = |name: &str| render_block("m1_gradient_check.md", TEMPLATE, name, &values);
    Ok(vec![LogEntry {
        id: "m1_gradient_check".into(),
        milestone: 1,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![
            Figure::new(
                "m1_gradient_check.png",
                FigureKind::GradientChecks,
                block("caption_m1_gradient_check")?,
            )
            .key(),
            Figure::new(
                "m1_gradient_check_errors.png",
                FigureKind::GradientChecks,
                block("caption_m1_gradient_check_errors")?,
            ),
        ],
        discussion: block("discussion")?,
    }])
}
