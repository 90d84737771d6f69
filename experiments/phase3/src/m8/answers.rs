//! How the reader's answers split as k grows, per retriever: right, a wrong answer that repeats
//! another passage of the prompt (a distractor read), a wrong answer in the gold passage's other
//! words, and wrong answers no passage states, with and without the gold passage in the prompt.

use std::collections::BTreeMap;

use anyhow::Result;
use phase3_rag::asker::{Found, Outcome};
use serde::Serialize;
use viz::claims::pct;
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
            Split::NowhereWithoutGold => "wrong: no passage's words, gold not in it",
        }
    }

    /// What it is in the house palette.
    fn entity(self) -> Entity {
        match self {
            Split::Correct => Entity::AnswerRight,
            Split::Distractor => Entity::AnswerDistractor,
            Split::GoldOther => Entity::AnswerGoldOther,
            Split::NowhereWithGold => Entity::AnswerNowhereWithGold,
            Split::NowhereWithoutGold => Entity::AnswerNowhereWithoutGold,
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
    })
}

/// One panel per retriever: the answers' split against k, and the share of prompts that held the
/// gold passage. Kinds of answer no condition produced are left out.
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
    let mut panels = Vec::new();
    for r in &names {
        let curve = |f: &dyn Fn(&[&Outcome]) -> f64| -> Vec<(f64, f64)> {
            cfg.ks.iter().map(|&k| (k as f64, f(&at(r, k)))).collect()
        };
        let mut chart = LineChart::new(
            label(r),
            "k (passages retrieved)",
            "share of the held-out questions",
        )
        .y_range(0.0, 1.0)
        .x_ticks(ks.clone());
        for &s in &seen {
            chart =
                chart.series(Series::new(s.label(), curve(&|os| share(os, s))).entity(s.entity()));
        }
        chart = chart
            .series(Series::new("gold passage in the prompt", curve(&recall)).entity(Entity::Gold));
        panels.push(chart);
    }
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let min_k = cfg.ks.iter().copied().min().unwrap_or(1);
    let (one, most) = (pooled(cfg, outcomes, min_k), pooled(cfg, outcomes, max_k));
    let title = format!(
        "From k = {min_k} to {max_k}, answers repeating another passage: {} → {}",
        pct(share(&one, Split::Distractor)),
        pct(share(&most, Split::Distractor))
    );
    let cols = panels.len().min(3);
    Ok(Some(FigureSpec::new(
        FIG_PASSAGES,
        LineGrid::new(title, panels, cols),
    )))
}
