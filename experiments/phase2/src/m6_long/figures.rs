//! The figures, built from the records alone (the phase draws them).

use super::*;
use viz::plot::entity::Entity;
use viz::plot::{FigureSpec, LineGrid};

/// The line the curves must beat, and the bench GPT's, in the long run's figure.
pub(super) fn reference_lines(ctx: &viz::Context, long: &Record) -> Vec<(String, f64, Entity)> {
    let mut out = Vec::new();
    let summary = LongSummary::read(long).ok();
    if let Some(plan) = summary.as_ref().map(|s| &s.plan) {
        let (ng, n) = (plan.ngram_subset_loss, plan.ngram_n);
        out.push((
            format!("Kneser–Ney {n:.0}-gram, same characters: {ng:.3}"),
            ng,
            Entity::NGram,
        ));
    }
    match (
        summary
            .and_then(|s| s.result)
            .and_then(|r| r.bench_subset_loss),
        load(ctx, CHAR_RUN)
            .and_then(|r| r.summary_as::<SlidingSummary>().ok())
            .map(|s| s.val_loss_sliding),
    ) {
        (Some(b), _) => out.push((
            format!("bench-config GPT (m6), same subset: {b:.3}"),
            b,
            Entity::BenchGpt,
        )),
        (None, Some(b)) => out.push((
            format!("bench-config GPT (m6), whole split: {b:.3}"),
            b,
            Entity::BenchGpt,
        )),
        _ => {}
    }
    out
}

/// Evaluations above this are left out of the curves, so the part where the lines meet is
/// readable (the first minutes fall from ln 65 ≈ 4.2).
/// Half a nat above the highest reference line, and never so low that the curve's own lowest
/// half nat is cut.
pub(super) fn curve_cap(refs: &[(String, f64, Entity)], curve: &[CurvePoint]) -> f64 {
    let top = refs.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    let low = curve
        .iter()
        .map(|p| p.val_loss)
        .fold(f64::INFINITY, f64::min);
    (top + 0.5).max(low + 0.5)
}

pub fn figures(ctx: &viz::Context) -> Result<Vec<FigureSpec>> {
    let mut out = Vec::new();
    let select = finished_select(ctx);
    if let Some(sel) = &select {
        out.push(selection_figure(ctx, sel)?);
    }
    if let Some(long) = finished_long(ctx) {
        out.push(long_figure(ctx, &long, select.as_ref())?);
        if let Some(p) = position_figure(&long)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// The candidate the long run trained (its index in `results`), its training minutes and its last
/// loss on the evaluation subset, when the long run has finished.
fn long_outcome(ctx: &viz::Context, results: &[SelectResult]) -> Option<(usize, f64, f64)> {
    let long = finished_long(ctx)?;
    let plan: LongPlan = long.artifact("plan").ok()?;
    let i = results.iter().position(|r| r.name == plan.candidate.name)?;
    let summary = LongSummary::read(&long).ok()?;
    let reached = summary.result?.final_subset_loss?;
    Some((i, summary.progress?.train_minutes, reached))
}

/// The candidates' short runs (left) and their fits carried to the budget (right).
fn selection_figure(ctx: &viz::Context, sel: &Record) -> Result<FigureSpec> {
    let results: Vec<SelectResult> = sel.artifact("candidates")?;
    let cfg: LongExperiment = sel.config_as()?;
    let budget_s = cfg.long.budget_minutes * 60.0;
    let ngram = results.iter().map(|r| r.ngram_subset).sum::<f64>() / results.len().max(1) as f64;
    // Every candidate's last evaluation stays in the picture.
    let last_max = results
        .iter()
        .filter_map(|r| r.curve.last().map(|p| p.val_loss))
        .fold(f64::NEG_INFINITY, f64::max);
    let cap = (ngram + 0.8).max(last_max + 0.3);
    let s: SelectSummary = sel.summary_as()?;
    let n = s.ngram_n as f64;
    let chosen = Some(s.chosen_index as usize);
    let clipped = results
        .iter()
        .any(|r| r.curve.iter().any(|p| p.val_loss > cap));
    let not_drawn = if clipped {
        format!(" (losses > {cap:.2} left out)")
    } else {
        String::new()
    };
    let mut measured = LineChart::new(
        format!("Measured, first {} min{not_drawn}", cfg.select.minutes),
        "training wall clock (minutes)",
        "validation loss, fixed subset (nats/char)",
    );
    let mut fitted = LineChart::new(
        format!(
            "Fit a + b·t⁻ᶜ to each, carried to {} min",
            cfg.long.budget_minutes
        ),
        "training wall clock (minutes, log scale)",
        "validation loss, fixed subset (nats/char)",
    )
    .log_x();
    for (i, r) in results.iter().enumerate() {
        let pts: Vec<(f64, f64)> = r
            .curve
            .iter()
            .filter(|p| p.val_loss <= cap && p.seconds > 0.0)
            .map(|p| (p.seconds / 60.0, p.val_loss))
            .collect();
        let mark = if chosen == Some(i) { " — chosen" } else { "" };
        measured = measured.series(
            Series::new(
                format!("{} ({:.2} M params){mark}", r.name, r.params as f64 / 1e6),
                pts.clone(),
            )
            .entity(Entity::Candidate(i as u8)),
        );
        fitted = fitted.series(
            Series::new(format!("{} measured", r.name), pts)
                .entity(Entity::Candidate(i as u8))
                .points(Marker::Circle),
        );
        if let Some(law) = r.fit {
            let (t0, t1) = (r.fit_from_s.max(1.0), budget_s);
            let line: Vec<(f64, f64)> = (0..=60)
                .map(|k| {
                    let t = t0 * (t1 / t0).powf(k as f64 / 60.0);
                    (t / 60.0, law.at(t))
                })
                .filter(|p| p.1 <= cap)
                .collect();
            fitted = fitted.series(
                Series::new(
                    format!("{} fit: {:.3} at {} min", r.name, r.extrapolated, t1 / 60.0),
                    line,
                )
                .entity(Entity::CandidateFit(i as u8)),
            );
        }
    }
    let label = format!("Kneser–Ney {n:.0}-gram, same characters: {ngram:.3}");
    measured = measured.hline_entity(label.clone(), ngram, Entity::NGram);
    fitted = fitted.hline_entity(label, ngram, Entity::NGram);
    let mut title = format!(
        "Choosing the long run's model: {} candidates, {} minutes each",
        results.len(),
        cfg.select.minutes
    );
    // What the chosen model reached when it was trained for the budget, against what its fit said.
    if let Some((i, minutes, reached)) = long_outcome(ctx, &results) {
        let predicted = results[i].extrapolated;
        fitted = fitted.series(
            Series::new(
                format!(
                    "{}, trained {} min: {reached:.3}",
                    results[i].name,
                    mins(minutes)
                ),
                vec![(minutes, reached)],
            )
            .entity(Entity::Candidate(i as u8))
            .points(Marker::Diamond),
        );
        title = format!(
            "The fit chose {} and predicted {predicted:.2}; trained, it reached {reached:.2}",
            results[i].name
        );
    }
    Ok(FigureSpec::new(
        FIG_SELECTION,
        LineGrid::new(title, vec![measured, fitted], 2),
    ))
}

/// The long run's validation and training loss against minutes (left) and characters (right), with
/// the n-gram and the bench GPT as lines.
fn long_figure(ctx: &viz::Context, long: &Record, select: Option<&Record>) -> Result<FigureSpec> {
    let plan: LongPlan = long.artifact("plan")?;
    let curve = long_curve(long);
    let refs = reference_lines(ctx, long);
    let cap = curve_cap(&refs, &curve);
    let kept: Vec<&CurvePoint> = curve.iter().filter(|p| p.val_loss <= cap).collect();
    let label = format!(
        "long GPT ({}, {:.2} M params), validation subset",
        plan.candidate.name,
        plan.run.model.n_params() as f64 / 1e6
    );
    let train: Vec<(CurvePoint, f64)> = train_curve(long, &curve)
        .into_iter()
        .filter(|(_, l)| *l <= cap)
        .collect();
    let train_label = "its training loss (mean since the last evaluation, dropout on)";
    let summary = LongSummary::read(long)?;
    let over = summary
        .result
        .as_ref()
        .and_then(|r| r.overtook_step)
        .map(|s| s as usize);
    let crossing = curve.iter().find(|p| Some(p.step) == over);
    let mut by_time = LineChart::new(
        "against training wall clock",
        "training wall clock (minutes)",
        "loss (nats/char)",
    )
    .series(
        Series::new(
            label.clone(),
            kept.iter()
                .map(|p| (p.seconds / 60.0, p.val_loss))
                .collect(),
        )
        .entity(Entity::Validation),
    )
    .series(
        Series::new(
            train_label,
            train.iter().map(|(p, l)| (p.seconds / 60.0, *l)).collect(),
        )
        .entity(Entity::Train),
    );
    // What the selection predicted for this candidate, where it has a fit.
    if let Some(sel) = select {
        let results: Vec<SelectResult> = sel.artifact("candidates")?;
        if let Some(r) = results.iter().find(|r| r.name == plan.candidate.name) {
            if let Some(law) = r.fit {
                let t1 = curve.last().map_or(plan.budget_s, |p| p.seconds);
                let t0 = r.fit_from_s.max(1.0);
                let line: Vec<(f64, f64)> = (0..=60)
                    .map(|k| {
                        let t = t0 * (t1 / t0).powf(k as f64 / 60.0);
                        (t / 60.0, law.at(t))
                    })
                    .filter(|p| p.1 <= cap)
                    .collect();
                by_time = by_time.series(
                    Series::new(
                        format!(
                            "predicted from its {}-minute selection run",
                            sel.config_as::<LongExperiment>()?.select.minutes
                        ),
                        line,
                    )
                    .entity(Entity::Prediction),
                );
            }
        }
    }
    let mut by_chars = LineChart::new(
        "against characters seen",
        "training characters seen (millions)",
        "loss (nats/char)",
    )
    .series(
        Series::new(
            label,
            kept.iter().map(|p| (p.chars / 1e6, p.val_loss)).collect(),
        )
        .entity(Entity::Validation),
    )
    .series(
        Series::new(
            train_label,
            train.iter().map(|(p, l)| (p.chars / 1e6, *l)).collect(),
        )
        .entity(Entity::Train),
    );
    if let Some(p) = crossing {
        let text = format!(
            "first below the n-gram: {:.1} min, {:.1} M characters",
            p.seconds / 60.0,
            p.chars / 1e6
        );
        by_time = by_time.series(
            Series::new(text.clone(), vec![(p.seconds / 60.0, p.val_loss)])
                .entity(Entity::NGram)
                .points(Marker::Diamond),
        );
        by_chars = by_chars.series(
            Series::new(text, vec![(p.chars / 1e6, p.val_loss)])
                .entity(Entity::NGram)
                .points(Marker::Diamond),
        );
    }
    for (l, y, e) in &refs {
        by_time = by_time.hline_entity(l.clone(), *y, *e);
        by_chars = by_chars.hline_entity(l.clone(), *y, *e);
    }
    let minutes = summary
        .progress
        .as_ref()
        .map_or(plan.budget_s / 60.0, |p| p.train_minutes);
    let (n, ng) = (summary.plan.ngram_n, summary.plan.ngram_subset_loss);
    let result = summary.result.as_ref();
    let title = match (
        result.and_then(|r| r.overtook_minutes),
        result.and_then(|r| r.final_subset_loss),
    ) {
        (Some(at), Some(end)) => format!(
            "Below the {n}-gram after {} min; at {} min, {end:.2} against its {ng:.2}",
            mins(at),
            mins(minutes)
        ),
        (None, Some(end)) => format!(
            "Still above the {n}-gram after {} min: {end:.2} against {ng:.2}",
            mins(minutes)
        ),
        _ => format!(
            "A larger GPT trained for {} minutes against the n-gram",
            mins(minutes)
        ),
    };
    Ok(FigureSpec::new(
        FIG_VS_NGRAM,
        LineGrid::new(title, vec![by_time, by_chars], 2),
    ))
}

/// Positions `ps` (1-based, ascending) as runs: `1–4, 42`.
pub(super) fn runs(ps: &[usize]) -> Vec<String> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &p in ps {
        match out.last_mut() {
            Some(r) if r.1 + 1 == p => r.1 = p,
            _ => out.push((p, p)),
        }
    }
    out.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect()
}

/// Loss by position in the window (the characters of context it had), as each GPT's loss minus the
/// n-gram's on the same characters: the long GPT on its windows, and the bench GPT on its own
/// (shorter) windows' characters. Below zero the GPT is better; one line per model, so the two
/// noisy curves of each pair do not interleave.
fn position_figure(long: &Record) -> Result<Option<FigureSpec>> {
    let curves: Vec<PositionCurve> = long.artifact("positions")?;
    let Some(lp) = curves.first() else {
        return Ok(None);
    };
    let summary = LongSummary::read(long)?;
    let plan: LongPlan = long.artifact("plan")?;
    let n = summary.plan.ngram_n;
    let minus = |c: &PositionCurve| -> Vec<(f64, f64)> {
        c.gpt
            .iter()
            .zip(&c.ngram)
            .enumerate()
            .map(|(p, (g, k))| ((p + 1) as f64, g - k))
            .collect()
    };
    let mut chart = LineChart::new(
        "",
        "characters of context: position in the window (log scale)",
        format!("GPT loss − {n:.0}-gram loss, same characters (nats/char)"),
    )
    .log_x()
    .series(
        Series::new(
            format!(
                "long GPT {} (windows of {}) − {n:.0}-gram",
                plan.candidate.name, lp.block
            ),
            minus(lp),
        )
        .entity(Entity::LongGpt),
    );
    if let Some(bp) = curves.get(1) {
        chart = chart.series(
            Series::new(
                format!(
                    "bench-config GPT (m6, windows of {}) − {n:.0}-gram",
                    bp.block
                ),
                minus(bp),
            )
            .entity(Entity::BenchGpt),
        );
    }
    chart = chart.hline_entity(format!("0: as good as the {n:.0}-gram"), 0.0, Entity::NGram);
    let above: Vec<usize> = (0..lp.block)
        .filter(|&p| lp.gpt[p] >= lp.ngram[p])
        .map(|p| p + 1)
        .collect();
    let below = lp.block - above.len();
    let spans = runs(&above);
    let title = if above.is_empty() {
        format!(
            "The long GPT is below the {n:.0}-gram at every position of {}",
            lp.block
        )
    } else if spans.len() <= 3 {
        format!(
            "Long GPT below the {n:.0}-gram at {below} of {} positions (not at {})",
            lp.block,
            spans.join(", ")
        )
    } else {
        format!(
            "Long GPT below the {n:.0}-gram at {below} of {} positions; above at {}",
            lp.block,
            above.len()
        )
    };
    chart.title = title;
    Ok(Some(FigureSpec::new(FIG_BY_POSITION, chart)))
}
