//! m7's nDCG@10 by question kind on a collection whose questions have kinds (a generated world):
//! the figure and the finding its title and caption state, from the record — its per-kind means,
//! its per-question nDCG@10, and each question's kind from the world its config generates (checked
//! against the recorded means before it is used).

use std::collections::BTreeMap;

use anyhow::{ensure, Context as _, Result};
use phase3_rag::world::World;
use serde::Serialize;
use viz::plot::entity::Entity;
use viz::plot::{FigureSpec, GroupedBars};
use viz::record::Record;
use viz::Context;

use super::{records, retriever_names, RetrievalConfig};
use crate::intervals::mean_interval;
use crate::records::RetrievalSummary;

pub(super) const FIG_KINDS: &str = "m7_ndcg_by_kind.png";

/// Resamples of each paired test (as the log's head-to-head).
const TEST_RESAMPLES: usize = 10_000;

/// One collection's nDCG@10 per question kind and retriever.
pub(super) struct ByKind {
    pub collection: String,
    /// Kinds, highest mean over the retrievers first.
    pub kinds: Vec<String>,
    /// Per retriever (config order): its name and its score on each kind.
    pub scores: Vec<(String, Vec<f64>)>,
    /// Per retriever (as `scores`) and kind: nDCG@10 of each of the kind's questions, in question
    /// order (the same questions for every retriever).
    pub per_question: Vec<Vec<Vec<f64>>>,
}

/// A kind's winner against its runner-up, question by question.
#[derive(Serialize)]
pub(super) struct KindTest {
    pub kind: String,
    pub first: String,
    pub second: String,
    /// The difference in words: its interval, the test and the verdict.
    pub change: String,
    pub tied: bool,
}

/// What the figure's title and caption state.
#[derive(Serialize)]
pub(super) struct KindFinding {
    pub collection: String,
    pub kind_count: String,
    /// Kinds whose winner beats its runner-up beyond the noise, and how many.
    pub separable: Vec<(String, String)>,
    pub separable_count: String,
    /// Every kind's winner against its runner-up, in the figure's order.
    pub tests: Vec<KindTest>,
    /// The kind whose best and worst retrievers lie furthest apart.
    pub widest: String,
    pub worst: String,
    pub worst_score: String,
    pub best: String,
    pub best_score: String,
    /// Questions per kind, fewest and most.
    pub fewest: String,
    pub most: String,
}

/// Each judged question's kind, from the world the record's config generates for `collection`
/// (`None` for a collection that is not a generated world).
fn question_kinds(rec: &Record, collection: &str) -> Result<Option<BTreeMap<String, String>>> {
    let cfg: RetrievalConfig = rec.config_as()?;
    let Some(w) = cfg
        .collection
        .iter()
        .find(|c| c.name == collection)
        .and_then(|c| c.world.as_ref())
    else {
        return Ok(None);
    };
    let world = World::generate(w)?;
    world
        .questions()
        .iter()
        .map(|q| {
            let kind = serde_json::to_value(q.kind)?;
            let kind = kind.as_str().context("a question kind is not a name")?;
            Ok((q.id.clone(), kind.to_string()))
        })
        .collect::<Result<_>>()
        .map(Some)
}

impl ByKind {
    /// `None` for a collection without question kinds.
    fn of(
        collection: &str,
        rec: &Record,
        summary: &RetrievalSummary,
        names: &[String],
    ) -> Result<Option<ByKind>> {
        let Some(first) = names.first() else {
            return Ok(None);
        };
        let mut kinds: Vec<String> = summary
            .retriever(first)?
            .kinds()
            .map(String::from)
            .collect();
        if kinds.is_empty() {
            return Ok(None);
        }
        let Some(kind_of) = question_kinds(rec, collection)? else {
            return Ok(None);
        };
        let mean = |k: &str| -> Result<f64> {
            let mut sum = 0.0;
            for n in names {
                sum += summary.retriever(n)?.ndcg_of(k)?;
            }
            Ok(sum / names.len() as f64)
        };
        let mut keyed: Vec<(f64, String)> = kinds
            .drain(..)
            .map(|k| Ok((mean(&k)?, k)))
            .collect::<Result<_>>()?;
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
        let kinds: Vec<String> = keyed.into_iter().map(|(_, k)| k).collect();
        let per_query: BTreeMap<String, BTreeMap<String, f64>> = rec.artifact("ndcg_per_query")?;
        let mut scores = Vec::new();
        let mut per_question = Vec::new();
        for n in names {
            let r = summary.retriever(n)?;
            let mine = per_query
                .get(n)
                .with_context(|| format!("m7 record: no per-query nDCG@10 for `{n}`"))?;
            let mut by_kind = Vec::new();
            for k in &kinds {
                let xs: Vec<f64> = mine
                    .iter()
                    .filter(|(q, _)| kind_of.get(*q) == Some(k))
                    .map(|(_, &v)| v)
                    .collect();
                // The regenerated kinds must give back the recorded means, or they are not the
                // record's questions.
                let m = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
                ensure!(
                    (m - r.ndcg_of(k)?).abs() < 1e-9,
                    "m7 record: `{n}` on {k} questions averages {m}, but the record says {}: \
                     the world its config generates is not the one it was scored on",
                    r.ndcg_of(k)?
                );
                by_kind.push(xs);
            }
            let v = kinds.iter().map(|k| r.ndcg_of(k)).collect::<Result<_>>()?;
            scores.push((n.clone(), v));
            per_question.push(by_kind);
        }
        Ok(Some(ByKind {
            collection: collection.to_string(),
            kinds,
            scores,
            per_question,
        }))
    }

    /// Retrievers on kind `i`, best first: (index, score).
    fn ranked(&self, i: usize) -> Vec<(usize, f64)> {
        let mut by: Vec<(usize, f64)> = self
            .scores
            .iter()
            .enumerate()
            .map(|(r, s)| (r, s.1[i]))
            .collect();
        by.sort_by(|a, b| b.1.total_cmp(&a.1));
        by
    }

    /// Kind `i` as the figure and the text name it.
    fn kind(&self, i: usize) -> String {
        self.kinds[i].replace('_', "-")
    }

    /// Each kind's winner against its runner-up: a paired bootstrap over the kind's questions
    /// (nDCG is a number per question), one family over the kinds, read after Holm's correction.
    fn tests(&self) -> Result<Vec<(usize, usize, stats::Paired, stats::Judged)>> {
        let mut pairs = Vec::new();
        for i in 0..self.kinds.len() {
            let by = self.ranked(i);
            let (a, b) = (by[0].0, by[1.min(by.len() - 1)].0);
            let (xa, xb) = (&self.per_question[a][i], &self.per_question[b][i]);
            pairs.push((
                a,
                b,
                stats::paired_bootstrap(xa, xb, TEST_RESAMPLES, i as u64)?,
            ));
        }
        let judged = stats::judge_family(
            &pairs
                .iter()
                .map(|p| (p.2.difference, p.2.p_value))
                .collect::<Vec<_>>(),
        );
        Ok(pairs
            .into_iter()
            .zip(judged)
            .map(|((a, b, t), j)| (a, b, t, j))
            .collect())
    }

    pub fn finding(&self) -> Result<KindFinding> {
        let name = |r: usize| self.scores[r].0.clone();
        let tests: Vec<KindTest> = self
            .tests()?
            .into_iter()
            .enumerate()
            .map(|(i, (a, b, t, j))| KindTest {
                kind: self.kind(i),
                first: name(a),
                second: name(b),
                change: viz::claims::paired_numbers(&t, &j, "questions", 3),
                tied: j.verdict == stats::Verdict::Tied,
            })
            .collect();
        let separable: Vec<(String, String)> = tests
            .iter()
            .filter(|t| !t.tied)
            .map(|t| (t.kind.clone(), t.first.clone()))
            .collect();
        let gap = |i: usize| {
            let by = self.ranked(i);
            by[0].1 - by[by.len() - 1].1
        };
        let widest = (0..self.kinds.len())
            .max_by(|&a, &b| gap(a).total_cmp(&gap(b)))
            .unwrap_or(0);
        let by = self.ranked(widest);
        let (best, worst) = (by[0], by[by.len() - 1]);
        let sizes = self.per_question[0].iter().map(Vec::len);
        Ok(KindFinding {
            collection: self.collection.clone(),
            kind_count: self.kinds.len().to_string(),
            separable_count: separable.len().to_string(),
            separable,
            tests,
            widest: self.kind(widest),
            worst: name(worst.0),
            worst_score: format!("{:.3}", worst.1),
            best: name(best.0),
            best_score: format!("{:.3}", best.1),
            fewest: sizes.clone().min().unwrap_or(0).to_string(),
            most: sizes.max().unwrap_or(0).to_string(),
        })
    }

    fn plot(&self) -> Result<GroupedBars> {
        let f = self.finding()?;
        // Only the wins the test separates from the runner-up count; the rest are ties at the top.
        let rest = self.kinds.len() - f.separable.len();
        let title = match f.separable.as_slice() {
            [] => format!(
                "On all {} kinds the top two retrievers are tied (paired bootstrap, Holm)",
                f.kind_count
            ),
            [(k, w)] => format!(
                "Only {k} has a clear winner ({w}); the top two tie on the other {rest} kinds"
            ),
            s => {
                let listed: Vec<String> = s.iter().map(|(k, w)| format!("{k}: {w}")).collect();
                format!(
                    "{} of {} kinds have a clear winner ({}); the top two tie on {rest}",
                    s.len(),
                    f.kind_count,
                    listed.join(", ")
                )
            }
        };
        let rows = (0..self.kinds.len()).map(|i| self.kind(i)).collect();
        let mut bars = GroupedBars::new(
            title,
            format!(
                "nDCG@10, mean over the kind's questions ({})",
                self.collection
            ),
            rows,
        );
        for (r, (name, vals)) in self.scores.iter().enumerate() {
            // The house palette: a retriever has its colour of the recall figure.
            let intervals = self.per_question[r]
                .iter()
                .enumerate()
                .map(|(i, xs)| mean_interval(xs, (r * self.kinds.len() + i) as u64))
                .collect::<Result<Vec<_>>>()?;
            // The interval's key entry after every retriever's, not between them.
            let legend = if r + 1 == self.scores.len() {
                "95 % bootstrap interval over the kind's questions"
            } else {
                ""
            };
            bars = bars
                .group(name.clone(), vals.clone())
                .entity_if(Entity::of_name(name))
                .whiskers(legend, intervals);
        }
        Ok(bars)
    }
}

/// The first collection of the config's records that has question kinds.
pub(super) fn by_kind(ctx: &Context) -> Result<Option<ByKind>> {
    for (spec, rec) in records(ctx)? {
        let summary: RetrievalSummary = rec.summary_as()?;
        if let Some(b) = ByKind::of(&spec.name, &rec, &summary, &retriever_names(&rec)?)? {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// Draws the figure when a collection has question kinds.
pub(super) fn figure(ctx: &Context) -> Result<Option<FigureSpec>> {
    let Some(b) = by_kind(ctx)? else {
        return Ok(None);
    };
    Ok(Some(FigureSpec::new(FIG_KINDS, b.plot()?)))
}
