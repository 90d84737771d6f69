//! m7's figures, from its records alone: recall@k per collection, the dual encoder's training,
//! nDCG@10 by question kind ([`super::kinds`]), and the speed benchmark against the Python
//! libraries.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use phase3_rag::retrievers::{CollectionSpec, RetrieverSpec};
use viz::plot::entity::Entity;
use viz::plot::{FigureSpec, GroupedBars, LineChart, LineGrid, Series};
use viz::record::Record;
use viz::Context;

use super::{
    kinds, records, retriever_names, skipped, training_logs, RetrievalConfig, FIG_RECALL,
    FIG_TRAINING,
};
use crate::bench::{self, median, BenchResult, Side};
use crate::records::RetrievalSummary;

pub(super) const FIG_BENCH: &str = "m7_bench_rag.png";

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let recs = records(ctx)?;
    if recs.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = vec![recall_figure(&recs)?];
    out.extend(training_figure(&recs)?);
    out.extend(kinds::figure(ctx)?);
    out.extend(bench_figure(ctx));
    Ok(out)
}

/// A y range for recall curves between `lo` and `hi`: tenths, a little room above and below,
/// within 0–1 (each panel its own, so a collection whose curves all lie high is not squeezed).
fn recall_range(lo: f64, hi: f64) -> (f64, f64) {
    let bottom = (((lo - 0.03) * 10.0).floor() / 10.0).max(0.0);
    let top = (((hi + 0.03) * 10.0).ceil() / 10.0).min(1.0);
    (bottom, top.max(bottom + 0.1))
}

/// `m7_recall_at_k.png`: mean recall@k of every retriever, one panel per collection, titled with
/// recall at the run depth on each.
fn recall_figure(recs: &[(CollectionSpec, Record)]) -> Result<FigureSpec> {
    // Every retriever that ran anywhere, in config order: a panel draws the ones its collection
    // skipped as empty lines, so every panel has the same key and the figure shows it once.
    let cfg: RetrievalConfig = recs[0].1.config_as()?;
    let mut ran: Vec<String> = Vec::new();
    for (_, rec) in recs {
        ran.extend(retriever_names(rec)?);
    }
    let all: Vec<String> = cfg
        .retriever
        .iter()
        .map(|r| r.name().to_string())
        .filter(|n| ran.contains(n))
        .collect();
    let mut charts = Vec::new();
    let mut at_depth = Vec::new();
    for (spec, rec) in recs {
        let curves: BTreeMap<String, Vec<f64>> = rec.artifact("recall_curves")?;
        let summary: RetrievalSummary = rec.summary_as()?;
        let names = retriever_names(rec)?;
        let not_run: Vec<String> = skipped(rec)?
            .into_iter()
            .map(|(n, why)| {
                // "no training questions (qrels/train.tsv) to train it on" → its first words.
                let short = why.split(" (").next().unwrap_or(&why).to_string();
                format!("{n} not run: {short}")
            })
            .collect();
        let mut title = format!(
            "{}: {} documents, {} judged queries",
            spec.name, summary.docs, summary.judged_queries
        );
        if !not_run.is_empty() {
            title = format!("{title} ({})", not_run.join("; "));
        }
        // Early in the ranking, the leader and the one after it, as means (no test compares
        // recall curves).
        if let Some((lead, next)) = leaders(&curves, &names, EARLY_K, 3) {
            title = format!("{title}; highest mean recall@{EARLY_K}: {lead}{next}");
        }
        if let Some((lead, _)) = leaders(&curves, &names, cfg.depth, 2) {
            at_depth.push(format!("{lead} on {}", spec.name));
        }
        let mut chart =
            LineChart::new(title, "k (documents retrieved, log scale)", "mean recall@k").log_x();
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for name in &all {
            let pts: Vec<(f64, f64)> = if names.contains(name) {
                let curve = curves.get(name).ok_or_else(|| {
                    anyhow!(
                        "record {} has no recall curve for `{name}`",
                        rec.dir.display()
                    )
                })?;
                curve
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| ((i + 1) as f64, r))
                    .collect()
            } else {
                Vec::new()
            };
            for p in &pts {
                lo = lo.min(p.1);
                hi = hi.max(p.1);
            }
            // One style per retriever in every figure (the house palette), else its place here.
            chart = chart.series(Series::new(name.clone(), pts).entity_if(Entity::of_name(name)));
        }
        if lo.is_finite() {
            let (a, b) = recall_range(lo, hi);
            chart = chart.y_range(a, b);
        }
        charts.push(chart);
    }
    // The finding, as means: which retriever recalls most at the run depth, per collection.
    let title = format!("Highest mean recall@{}: {}", cfg.depth, at_depth.join(", "));
    Ok(if charts.len() == 1 {
        let mut c = charts.remove(0);
        c.title = title;
        FigureSpec::new(FIG_RECALL, c)
    } else {
        // Wide, short panels: the curves rise slowly, and the figure stays under a page.
        FigureSpec::new(
            FIG_RECALL,
            LineGrid::new(title, charts, 1).panel_height(RECALL_PANEL_PX),
        )
    })
}

/// The early depth the recall panels are read at, where nDCG@10 ranks the retrievers.
const EARLY_K: usize = 10;
/// Height of one recall panel.
const RECALL_PANEL_PX: u32 = 520;

/// The retriever(s) with the highest mean recall@`k` among `names` on one collection, with their
/// value (`decimals` places) — "hybrid 0.133" — and the next below them with its own — ", next
/// bm25_stemmed 0.132" (empty when there is none); `None` when no curve reaches `k`.
fn leaders(
    curves: &BTreeMap<String, Vec<f64>>,
    names: &[String],
    k: usize,
    decimals: usize,
) -> Option<(String, String)> {
    let mut at: Vec<(&str, f64)> = names
        .iter()
        .filter_map(|n| Some((n.as_str(), *curves.get(n)?.get(k.checked_sub(1)?)?)))
        .collect();
    at.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top = at.first()?.1;
    let first: Vec<&str> = at.iter().filter(|a| a.1 == top).map(|a| a.0).collect();
    let next = at
        .iter()
        .find(|a| a.1 < top)
        .map_or(String::new(), |(n, v)| format!(", next {n} {v:.decimals$}"));
    Some((format!("{} {top:.decimals$}", first.join(" = ")), next))
}

/// `m7_dual_training.png`: the trained retrievers' loss curves, one line per (collection,
/// retriever), against a uniform guess over the batch; `None` when nothing was trained.
fn training_figure(recs: &[(CollectionSpec, Record)]) -> Result<Option<FigureSpec>> {
    let mut lines = Vec::new();
    for (spec, rec) in recs {
        let cfg: RetrievalConfig = rec.config_as()?;
        for (name, log) in training_logs(rec)? {
            let batch = cfg.retriever.iter().find_map(|r| match r {
                RetrieverSpec::Dual { name: n, dual, .. } if *n == name => Some(dual.batch_size),
                _ => None,
            });
            lines.push((spec.name.clone(), name, log, batch));
        }
    }
    let Some((collection, name, log, batch)) = lines.first() else {
        return Ok(None);
    };
    let (Some(first), Some(last)) = (log.loss.first(), log.loss.last()) else {
        return Ok(None);
    };
    // Each point is the mean over the interval ending at it: the first ends one interval in.
    let interval = first.0;
    let mut chart = LineChart::new(
        format!(
            "{name} on {collection}: loss {:.2} → {:.3} in {} steps, {:.1} % in-batch accuracy",
            first.1,
            last.1,
            last.0,
            100.0 * log.final_in_batch_accuracy
        ),
        format!("training step (each point: the mean loss of the {interval} steps up to it)"),
        "in-batch contrastive loss (nats, log scale)",
    )
    .log_y()
    .x_range(0.0, last.0 as f64);
    for (c, n, l, _) in &lines {
        let pts = l.loss.iter().map(|&(s, v)| (s as f64, v)).collect();
        // A training loss, in the training curves' style of every figure.
        chart = chart.series(Series::new(format!("{n} on {c}"), pts).entity(Entity::Train));
    }
    if let Some(b) = batch {
        // Scores all alike: each question's own document is one of the batch's, at odds 1 in b.
        let chance = (*b as f64).ln();
        chart = chart.hline_entity(
            format!("chance, a uniform guess over the batch: ln {b} = {chance:.2}"),
            chance,
            Entity::Chance,
        );
    }
    Ok(Some(FigureSpec::new(FIG_TRAINING, chart)))
}

/// One bar of the speed figure: what is measured, the reference's side, and whether it is a time
/// (smaller is faster) or a rate.
struct Measurement {
    label: &'static str,
    unit: &'static str,
    pick: fn(&Side) -> &Vec<f64>,
    time: bool,
    theirs: Option<Side>,
}

/// Ours ÷ theirs as a speed (theirs ÷ ours for a time), at the medians, and over every pair of
/// rounds (the smallest and the largest).
pub(super) fn speed_ratio(ours: &[f64], theirs: &[f64], time: bool) -> (f64, (f64, f64)) {
    let r = |o: f64, t: f64| if time { t / o } else { o / t };
    let all: Vec<f64> = ours
        .iter()
        .flat_map(|&o| theirs.iter().map(move |&t| r(o, t)))
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (r(median(ours), median(theirs)), (lo, hi))
}

/// A measured value in a bar's note: three significant figures at most.
fn value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `m7_bench_rag.png`: ours against the Python references, as a speed ratio per measurement, with
/// the range over the rounds; `None` when the bench was not run against Python.
fn bench_figure(ctx: &Context) -> Option<FigureSpec> {
    let (_, r): (Record, BenchResult) = bench::load(ctx)?;
    // A ratio to the Python side, so only where it was timed (as the log's speed sentences).
    r.python.as_ref()?;
    let ms: Vec<Measurement> = [
        ("BM25 build, numpy", "s", r.python.clone(), true),
        ("BM25 build, numba", "s", r.bm25s_numba.clone(), true),
        ("BM25 queries, numpy", "q/s", r.python.clone(), false),
        ("BM25 queries, numba", "q/s", r.bm25s_numba.clone(), false),
        ("MiniLM docs/s", "docs/s", r.python.clone(), false),
    ]
    .into_iter()
    .zip([
        (|s: &Side| &s.bm25_build_s) as fn(&Side) -> &Vec<f64>,
        |s| &s.bm25_build_s,
        |s| &s.bm25_queries_per_s,
        |s| &s.bm25_queries_per_s,
        |s| &s.minilm_docs_per_s,
    ])
    .map(|((label, unit, theirs, time), pick)| Measurement {
        label,
        unit,
        pick,
        time,
        theirs,
    })
    .filter(|m| {
        m.theirs
            .as_ref()
            .is_some_and(|t| !(m.pick)(t).is_empty() && !(m.pick)(&r.ours).is_empty())
    })
    .collect();
    if ms.is_empty() {
        return None;
    }
    let mut ratios = Vec::new();
    let mut ranges = Vec::new();
    let mut notes = Vec::new();
    for m in &ms {
        let (ours, theirs) = ((m.pick)(&r.ours), (m.pick)(m.theirs.as_ref()?));
        let (ratio, range) = speed_ratio(ours, theirs, m.time);
        ratios.push(ratio);
        ranges.push(range);
        notes.push(format!(
            "{ratio:.2}×\nours {} {u}\ntheirs {} {u}",
            value(median(ours)),
            value(median(theirs)),
            u = m.unit
        ));
    }
    let rounds = r.ours.bm25_build_s.len();
    // The finding: the ratios the log states, by name; one whose range over the rounds spans
    // equal speed is a tie, and says so.
    let ratio_of = |label: &str, decimals: usize| {
        ms.iter()
            .zip(ratios.iter().zip(&ranges))
            .find(|(m, _)| m.label == label)
            .map(|(_, (&x, &range))| {
                let tie = if spans_equal_speed(range) {
                    ", tied"
                } else {
                    ""
                };
                format!("{x:.decimals$}×{tie}")
            })
    };
    let mut title = match (
        ratio_of("BM25 build, numpy", 1),
        ratio_of("BM25 queries, numpy", 1),
    ) {
        (Some(b), Some(q)) => format!("BM25 build {b}, queries {q} bm25s's speed"),
        _ => "Ours against the Python references".to_string(),
    };
    if let Some(n) = ratio_of("BM25 queries, numba", 2) {
        title.push_str(&format!(" (numba: {n})"));
    }
    if let Some(m) = ratio_of("MiniLM docs/s", 1) {
        title.push_str(&format!("; MiniLM {m}"));
    }
    // A log axis: a ratio and its inverse lie as far from 1× on either side.
    let bars = GroupedBars::new(
        title,
        "speed, ours ÷ Python's (log scale; > 1: ours faster)",
        ms.iter().map(|m| m.label.to_string()).collect(),
    )
    .group(format!("ours ÷ Python, medians of {rounds} rounds"), ratios)
    .whiskers(
        format!("range over every pair of the {rounds} rounds"),
        ranges,
    )
    .notes(notes)
    .hline("equal speed (1×)", 1.0)
    .log_y_from(1.0);
    Some(FigureSpec::new(FIG_BENCH, bars))
}

/// Whether a speed ratio's range over every pair of rounds reaches both sides of equal speed
/// (1×): the rounds cannot tell the two apart.
pub(super) fn spans_equal_speed((lo, hi): (f64, f64)) -> bool {
    lo <= 1.0 && hi >= 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m7_speed_ratios_read_faster_as_above_one_for_times_and_rates() {
        // Ours builds in 1 s against their 3 s: 3× as fast; ours answers 10/s against their 5/s: 2×.
        let (t, (lo, hi)) = speed_ratio(&[1.0, 2.0, 1.0], &[3.0, 3.0, 4.0], true);
        assert_eq!(t, 3.0);
        assert_eq!((lo, hi), (1.5, 4.0));
        let (q, _) = speed_ratio(&[10.0], &[5.0], false);
        assert_eq!(q, 2.0);
        assert_eq!(recall_range(0.66, 0.95), (0.6, 1.0));
        assert_eq!(recall_range(0.02, 0.49), (0.0, 0.6));
    }
}
