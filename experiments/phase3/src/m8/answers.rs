//! How the reader's answers split as k grows, per retriever: right, a wrong answer that repeats
//! another passage of the prompt (a distractor read), a wrong answer in the gold passage's other
//! words, and wrong answers no passage states, with and without the gold passage in the prompt.

use std::collections::BTreeMap;

use anyhow::Result;
use phase3_rag::asker::{Found, Outcome};
use serde::Serialize;
use viz::claims::{p_value, pct};
use viz::plot::entity::Entity;
use viz::plot::{FigureSpec, LineChart, LineGrid, Series};

use super::{label, ReaderConfig};

pub(super) const FIG_PASSAGES: &str = "m8_passages_vs_k.png";

/// Where an answer falls, decided from its outcome alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    Correct,
    /// Wrong, and its words are in another (non-gold) passage of the prompt and in no gold one.
    Distractor,
    /// Wrong, and its words are in the gold passage (the right entity, another of its facts).
    GoldOther,
    /// Wrong, in no passage's words, with the gold passage in the prompt.
    NowhereWithGold,
    /// Wrong, in no passage's words, without the gold passage.
    NowhereWithoutGold,
}

impl Split {
    const ALL: [Split; 5] = [
        Split::Correct,
        Split::Distractor,
        Split::GoldOther,
        Split::NowhereWithGold,
        Split::NowhereWithoutGold,
    ];

    fn of(o: &Outcome) -> Split {
        match (o.correct, o.found_in, o.gold_in_context) {
            (true, _, _) => Split::Correct,
            (false, Found::OtherPassage, _) => Split::Distractor,
            (false, Found::GoldPassage, _) => Split::GoldOther,
            (false, Found::Nowhere, true) => Split::NowhereWithGold,
            (false, Found::Nowhere, false) => Split::NowhereWithoutGold,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Split::Correct => "right (exact match)",
            Split::Distractor => "wrong: another passage's words",
            Split::GoldOther => "wrong: the gold passage's other words",
            Split::NowhereWithGold => "wrong: no passage's words, gold in the prompt",
            Split::NowhereWithoutGold => "wrong: no passage's words, gold not in the prompt",
        }
    }
}

/// The share of `os` that falls in `s`.
fn share(os: &[&Outcome], s: Split) -> f64 {
    os.iter().filter(|o| Split::of(o) == s).count() as f64 / os.len().max(1) as f64
}

/// The share of `os` with the gold passage in the prompt.
fn recall(os: &[&Outcome]) -> f64 {
    os.iter().filter(|o| o.gold_in_context).count() as f64 / os.len().max(1) as f64
}

/// Every retriever's answers at `k`, pooled.
fn pooled<'a>(
    cfg: &ReaderConfig,
    outcomes: &'a BTreeMap<String, Vec<Outcome>>,
    k: usize,
) -> Vec<&'a Outcome> {
    cfg.retriever
        .iter()
        .filter_map(|r| outcomes.get(&format!("{}@{k}", r.name())))
        .flatten()
        .collect()
}

/// The caption's numbers: pooled over retrievers, at the smallest and the largest k.
#[derive(Serialize)]
pub(super) struct PassagesValues {
    k_one: String,
    k_most: String,
    answers: String,
    right_one: String,
    right_most: String,
    distractor_one: String,
    distractor_most: String,
    recall_one: String,
    recall_most: String,
    /// Of the wrong answers at the largest k that repeat another passage, the share whose prompt
    /// held the gold passage.
    distractor_with_gold: String,
    /// The figure title's test of the distractor share, largest k against smallest.
    distractor_test: Option<String>,
}

/// The caption's numbers, when the record holds both ends of the k sweep.
pub(super) fn passages_values(
    cfg: &ReaderConfig,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
) -> Option<PassagesValues> {
    let (lo, hi) = (*cfg.ks.iter().min()?, *cfg.ks.iter().max()?);
    let (one, most) = (pooled(cfg, outcomes, lo), pooled(cfg, outcomes, hi));
    if one.is_empty() || most.is_empty() {
        return None;
    }
    let copied: Vec<&&Outcome> = most
        .iter()
        .filter(|o| Split::of(o) == Split::Distractor)
        .collect();
    let with_gold = copied.iter().filter(|o| o.gold_in_context).count();
    Some(PassagesValues {
        k_one: lo.to_string(),
        k_most: hi.to_string(),
        answers: most.len().to_string(),
        right_one: pct(share(&one, Split::Correct)),
        right_most: pct(share(&most, Split::Correct)),
        distractor_one: pct(share(&one, Split::Distractor)),
        distractor_most: pct(share(&most, Split::Distractor)),
        recall_one: pct(recall(&one)),
        recall_most: pct(recall(&most)),
        distractor_with_gold: format!("{with_gold} of {}", copied.len()),
        distractor_test: k_test(cfg, outcomes, Split::Distractor)
            .ok()
            .flatten()
            .map(|(c, j)| {
                // "Better" would misread a rise in wrong answers: the verdict says only whether
                // the change is beyond the noise.
                format!(
                    "of {} pairs, {} repeat another passage at k = {hi} only and {} at k = {lo} only; \
                     exact McNemar p {} ({}): {}",
                    c.n,
                    c.test.wins,
                    c.test.losses,
                    p_value(c.test.p),
                    viz::claims::reading(&j),
                    if j.verdict == stats::Verdict::Tied {
                        "tied"
                    } else {
                        "beyond the noise"
                    }
                )
            }),
    })
}

/// Whether each of `os` falls in `s`, keyed by its question.
fn falls_in(os: &[&Outcome], s: Split) -> BTreeMap<String, bool> {
    os.iter()
        .map(|o| (o.question.clone(), Split::of(o) == s))
        .collect()
}

/// The pooled share of answers in `s` at the largest k against the smallest, on the same
/// (retriever, question) pairs: McNemar's exact test, read alone (a family of one). `None` when
/// no pair is in both.
fn k_test(
    cfg: &ReaderConfig,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
    s: Split,
) -> Result<Option<(stats::PairedBinary, stats::Judged)>> {
    let (Some(&lo), Some(&hi)) = (cfg.ks.iter().min(), cfg.ks.iter().max()) else {
        return Ok(None);
    };
    let (mut most, mut one) = (Vec::new(), Vec::new());
    for r in &cfg.retriever {
        let at = |k: usize| -> Vec<&Outcome> {
            outcomes
                .get(&format!("{}@{k}", r.name()))
                .map(|v| v.iter().collect())
                .unwrap_or_default()
        };
        let (a, b) = (falls_in(&at(hi), s), falls_in(&at(lo), s));
        for (q, &x) in &a {
            if let Some(&y) = b.get(q) {
                most.push(x);
                one.push(y);
            }
        }
    }
    if most.is_empty() {
        return Ok(None);
    }
    let c = stats::paired_binary(&most, &one)?;
    let j = stats::judge_family(&[(c.difference, c.test.p)])[0];
    Ok(Some((c, j)))
}

/// A point of a line, or an interval's two ends.
type Point = (f64, f64);

/// The share of `os` that `is` holds for, and its Wilson interval (at the house confidence; one
/// trained reader: the sampling of the questions only).
fn share_with_interval(os: &[&Outcome], is: &dyn Fn(&Outcome) -> bool) -> (f64, (f64, f64)) {
    let hits = os.iter().filter(|o| is(o)).count();
    let i = stats::wilson(hits, os.len(), 1.0 - stats::ALPHA);
    (hits as f64 / os.len().max(1) as f64, (i.low, i.high))
}

/// One panel per kind of answer (and one for the prompts that held the gold passage): its share
/// against k, one line per retriever in its colour of every figure, with Wilson bands. Kinds of
/// answer no condition produced are left out.
pub(super) fn passages_figure(
    cfg: &ReaderConfig,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
) -> Result<Option<FigureSpec>> {
    let at = |r: &str, k: usize| -> Vec<&Outcome> {
        outcomes
            .get(&format!("{r}@{k}"))
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    };
    let names: Vec<&str> = cfg
        .retriever
        .iter()
        .map(|r| r.name())
        .filter(|r| cfg.ks.iter().all(|&k| !at(r, k).is_empty()))
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let seen: Vec<Split> = Split::ALL
        .into_iter()
        .filter(|&s| {
            names
                .iter()
                .any(|r| cfg.ks.iter().any(|&k| share(&at(r, k), s) > 0.0))
        })
        .collect();
    let ks: Vec<f64> = cfg.ks.iter().map(|&k| k as f64).collect();
    let panel = |title: &str, is: &dyn Fn(&Outcome) -> bool| {
        let mut chart = LineChart::new(title, "k (passages retrieved)", "share of the questions")
            .y_range(0.0, 1.0)
            .x_ticks(ks.clone());
        for r in &names {
            let (points, band): (Vec<Point>, Vec<Point>) = cfg
                .ks
                .iter()
                .map(|&k| {
                    let (v, i) = share_with_interval(&at(r, k), is);
                    ((k as f64, v), i)
                })
                .unzip();
            chart = chart.series(
                Series::new(label(r), points)
                    .entity_if(Entity::of_name(r))
                    .band(band),
            );
        }
        chart
    };
    let mut panels: Vec<LineChart> = seen
        .iter()
        .map(|&s| {
            let chart = panel(s.label(), &|o| Split::of(o) == s);
            if s != Split::Distractor {
                return chart;
            }
            // The title's numbers, drawn: the share pooled over every retriever, in the neutral
            // grey of what stands for no single retriever.
            let pooled_share: Vec<Point> = cfg
                .ks
                .iter()
                .map(|&k| (k as f64, share(&pooled(cfg, outcomes, k), s)))
                .collect();
            chart.series(Series::new("all retrievers pooled", pooled_share).entity(Entity::Plain))
        })
        .collect();
    panels.push(panel("gold passage in the prompt", &|o| o.gold_in_context));
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let min_k = cfg.ks.iter().copied().min().unwrap_or(1);
    let (one, most) = (pooled(cfg, outcomes, min_k), pooled(cfg, outcomes, max_k));
    let test = match k_test(cfg, outcomes, Split::Distractor)? {
        Some((c, j)) => format!(
            " ({}McNemar p {})",
            if j.verdict == stats::Verdict::Tied {
                "tied, "
            } else {
                ""
            },
            p_value(c.test.p)
        ),
        None => String::new(),
    };
    let title = format!(
        "k = {min_k} → {max_k}: answers from another passage {} → {}{test}",
        pct(share(&one, Split::Distractor)),
        pct(share(&most, Split::Distractor))
    );
    let cols = panels.len().min(3);
    Ok(Some(FigureSpec::new(
        FIG_PASSAGES,
        LineGrid::new(title, panels, cols),
    )))
}
