//! m7's nDCG@10 by question kind on a collection whose questions have kinds (a generated world):
//! the figure and the finding its title and caption state, both from the record's summary.

use anyhow::Result;
use serde::Serialize;
use viz::plot::entity::Entity;
use viz::plot::{Dot, DotPlot, FigureSpec, Marker};
use viz::Context;

use super::{records, retriever_names, RetrievalConfig};
use crate::records::RetrievalSummary;

pub(super) const FIG_KINDS: &str = "m7_ndcg_by_kind.png";

/// Markers by the retriever's place in the config, so two blues (bm25, bm25_stemmed) differ in
/// shape too.
const MARKERS: [Marker; 6] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Diamond,
    Marker::Cross,
    Marker::Ring,
];

/// One collection's nDCG@10 per question kind and retriever.
pub(super) struct ByKind {
    pub collection: String,
    /// Kinds, highest mean over the retrievers first.
    pub kinds: Vec<String>,
    /// Per retriever (config order): its place in the config and its score on each kind.
    pub scores: Vec<(String, usize, Vec<f64>)>,
}

/// What the figure's title and caption state.
#[derive(Serialize)]
pub(super) struct KindFinding {
    pub collection: String,
    pub kinds: String,
    /// The retriever best on the most kinds, and on how many.
    pub leader: String,
    pub leader_wins: String,
    pub kind_count: String,
    /// The kind whose best and worst retrievers lie furthest apart.
    pub widest: String,
    pub worst: String,
    pub worst_score: String,
    pub best: String,
    pub best_score: String,
    /// The two scores unrounded (the title rounds them to two places).
    #[serde(skip)]
    pub range: (f64, f64),
    /// Every kind's winner, in the figure's order.
    pub winners: Vec<(String, String)>,
}

impl ByKind {
    /// `None` for a collection without question kinds.
    pub fn of(
        collection: &str,
        cfg: &RetrievalConfig,
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
        let scores = names
            .iter()
            .map(|n| {
                let place = cfg
                    .retriever
                    .iter()
                    .position(|r| r.name() == n)
                    .unwrap_or(0);
                let r = summary.retriever(n)?;
                let v = kinds.iter().map(|k| r.ndcg_of(k)).collect::<Result<_>>()?;
                Ok((n.clone(), place, v))
            })
            .collect::<Result<_>>()?;
        Ok(Some(ByKind {
            collection: collection.to_string(),
            kinds,
            scores,
        }))
    }

    /// (best, worst) retriever on kind `i`: name and score.
    fn extremes(&self, i: usize) -> ((&str, f64), (&str, f64)) {
        let mut by: Vec<(&str, f64)> = self.scores.iter().map(|s| (s.0.as_str(), s.2[i])).collect();
        by.sort_by(|a, b| b.1.total_cmp(&a.1));
        (by[0], by[by.len() - 1])
    }

    pub fn finding(&self) -> KindFinding {
        let winners: Vec<(String, String)> = (0..self.kinds.len())
            .map(|i| {
                let kind = self.kinds[i].replace('_', "-");
                (kind, self.extremes(i).0 .0.to_string())
            })
            .collect();
        // The retriever best on the most kinds (the first in config order on a tie).
        let (leader, leader_wins) = self
            .scores
            .iter()
            .map(|s| (&s.0, winners.iter().filter(|w| w.1 == s.0).count()))
            .fold((&self.scores[0].0, 0), |m, x| if x.1 > m.1 { x } else { m });
        let widest = (0..self.kinds.len())
            .max_by(|&a, &b| {
                let gap = |i| {
                    let (hi, lo) = self.extremes(i);
                    hi.1 - lo.1
                };
                gap(a).total_cmp(&gap(b))
            })
            .unwrap_or(0);
        let (best, worst) = self.extremes(widest);
        KindFinding {
            collection: self.collection.clone(),
            kinds: self.kinds.join(", "),
            leader: leader.clone(),
            leader_wins: leader_wins.to_string(),
            kind_count: self.kinds.len().to_string(),
            widest: self.kinds[widest].replace('_', "-"),
            worst: worst.0.to_string(),
            worst_score: format!("{:.3}", worst.1),
            best: best.0.to_string(),
            best_score: format!("{:.3}", best.1),
            range: (worst.1, best.1),
            winners,
        }
    }

    fn plot(&self) -> DotPlot {
        let f = self.finding();
        let title = format!(
            "{} tops {} of {} kinds; {}: {} {:.2}, {} {:.2}",
            f.leader, f.leader_wins, f.kind_count, f.widest, f.worst, f.range.0, f.best, f.range.1,
        );
        let rows = self.kinds.iter().map(|k| k.replace('_', "-")).collect();
        let mut plot = DotPlot::new(
            title,
            format!(
                "nDCG@10, mean over the kind's test questions on {}",
                self.collection
            ),
            rows,
        )
        .linear(0.0, 1.03)
        .lanes(self.scores.len());
        for (lane, (name, place, vals)) in self.scores.iter().enumerate() {
            // The house palette: a retriever has its colour of the recall figure (grey when it
            // has none).
            let e = Entity::of_name(name).unwrap_or(Entity::Plain);
            for (row, &v) in vals.iter().enumerate() {
                plot = plot.dot(Dot {
                    row,
                    lane,
                    value: v,
                    entity: e,
                    marker: MARKERS[*place % MARKERS.len()],
                    label: name.clone(),
                });
            }
        }
        plot
    }
}

/// The first collection of the config's records that has question kinds.
pub(super) fn by_kind(ctx: &Context) -> Result<Option<ByKind>> {
    for (spec, rec) in records(ctx)? {
        let cfg: RetrievalConfig = rec.config_as()?;
        let summary: RetrievalSummary = rec.summary_as()?;
        if let Some(b) = ByKind::of(&spec.name, &cfg, &summary, &retriever_names(&rec)?)? {
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
    Ok(Some(FigureSpec::new(FIG_KINDS, b.plot())))
}
