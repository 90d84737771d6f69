//! Ranking metrics computed exactly as trec_eval computes them, so that a number printed here can
//! be compared with a number in a paper, a BEIR leaderboard or `pytrec_eval` without a footnote.
//!
//! Every measure here follows trec_eval 9.0.x (`usnistgov/trec_eval`, the code `pytrec_eval`
//! wraps) and is tested per query against `pytrec_eval` (`tests/m7_metrics.rs`, reference values
//! from `scripts/pytrec_reference.py`). The details that change numbers:
//!
//! * **Order.** A run is re-sorted before scoring: score descending, ties broken by document id in
//!   *descending* byte order (`comp_sim_docno` in `form_res_rels.c`). The order a retriever
//!   returned tied hits in is ignored, so an evaluation never depends on a hash map's iteration.
//! * **Relevance.** A judgement ≥ 1 is relevant (trec_eval's default `-l 1`); 0 and negative
//!   values are non-relevant, exactly like documents without a judgement.
//! * **Denominators.** The number of relevant documents of a query comes from the judgements, not
//!   from the run or the corpus: a relevant document the retriever never returned — or one the
//!   corpus doesn't even contain — still counts in recall's and MAP's denominators.
//! * **nDCG** (`ndcg_cut`): gain = the judgement value (not `2^rel − 1`), discount `log2(rank + 1)`
//!   for every rank (so rank 1 is undiscounted and rank 2 is divided by log2 3 — older trec_eval
//!   releases divided rank 2 by log2 2 = 1, which `pytrec_eval` no longer does), and the ideal
//!   ranking is all of the query's positive judgements sorted by value, cut at the same depth.
//! * **Reciprocal rank** (`recip_rank`) looks at the whole run. **MRR@10** is the same measure on
//!   the first 10 hits only — `trec_eval -M 10 -m recip_rank` — i.e. 0 when the first relevant
//!   hit is below rank 10; trec_eval has no measure of that name.
//! * **Which queries count.** A run query without judgements is skipped (trec_eval: "queries with
//!   no relevance information are ignored"). A judged query the run doesn't contain is not scored
//!   either: `pytrec_eval` returns no entry for it and trec_eval without `-c` leaves it out of the
//!   means (`trec_eval.h`: `-c` averages "over the complete set of relevance judgements instead of
//!   the number of queries in the intersection of qrels and result"). Means here are over the
//!   queries scored — judged *and* in the run — and the queries left out are listed in
//!   [`Evaluation::judged_not_in_run`] so the choice is visible. A judged query whose judgements
//!   are all ≤ 0 *is* scored (0 on every measure), as in trec_eval.

use std::collections::{BTreeMap, HashSet};

use anyhow::{bail, ensure, Result};

use crate::beir::{Collection, Qrels};
use crate::retrieve::Hit;

/// A run: each query id with its hits (in any order — they are re-sorted trec_eval's way).
pub type Run = BTreeMap<String, Vec<Hit>>;

/// The lowest judgement that counts as relevant (trec_eval's default `-l 1`).
pub const RELEVANCE_LEVEL: i32 = 1;

/// The depth of the nDCG reported in [`QueryScores::ndcg_cut_10`] (`ndcg_cut_10`, BEIR's headline).
pub const NDCG_DEPTH: usize = 10;

/// The depth of [`QueryScores::recip_rank_cut_10`] (MRR@10, MS MARCO's headline).
pub const MRR_DEPTH: usize = 10;

/// The scores of one query (or their means over the queries of an [`Evaluation`]).
#[derive(Clone, Debug, PartialEq)]
pub struct QueryScores {
    /// Recall at each requested depth: relevant documents in the first `k` / relevant documents
    /// judged for the query (trec_eval `recall_k`).
    pub recall: BTreeMap<usize, f64>,
    /// nDCG of the first 10 hits (trec_eval `ndcg_cut_10`).
    pub ndcg_cut_10: f64,
    /// Average precision over the whole run; its mean is MAP (trec_eval `map`).
    pub ap: f64,
    /// 1 / rank of the first relevant hit anywhere in the run, 0 if none (trec_eval `recip_rank`).
    pub recip_rank: f64,
    /// `recip_rank` with the run cut at 10 hits; its mean is MRR@10 (`trec_eval -M 10`).
    pub recip_rank_cut_10: f64,
}

/// A run scored against judgements.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Scores of every query that is both judged and in the run.
    pub per_query: BTreeMap<String, QueryScores>,
    /// Arithmetic means of [`Evaluation::per_query`] (each query weighs the same, as in trec_eval).
    pub mean: QueryScores,
    /// Run queries with no judgements at all: skipped, as trec_eval skips them.
    pub unjudged_in_run: Vec<String>,
    /// Judged queries the run doesn't contain: not scored and not in the means (see module docs).
    pub judged_not_in_run: Vec<String>,
    /// Relevant judgements of the scored queries naming a document the corpus lacks (only known
    /// when evaluating against a [`Collection`]). They stay in the denominators, capping recall.
    pub relevant_outside_corpus: Option<usize>,
}

impl Evaluation {
    /// Human-readable warnings about everything that makes these numbers differ from "every
    /// judged query, every relevant document findable" — for a log, next to the numbers.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.judged_not_in_run.is_empty() {
            warnings.push(format!(
                "{} judged queries are absent from the run and left out of the means: {}",
                self.judged_not_in_run.len(),
                preview(&self.judged_not_in_run)
            ));
        }
        if !self.unjudged_in_run.is_empty() {
            warnings.push(format!(
                "{} run queries have no judgements and were skipped: {}",
                self.unjudged_in_run.len(),
                preview(&self.unjudged_in_run)
            ));
        }
        if let Some(n) = self.relevant_outside_corpus.filter(|&n| n > 0) {
            warnings.push(format!(
                "{n} relevant judgements name documents missing from the corpus; they still count \
                 in recall and MAP denominators (as in trec_eval), so recall 1 is unreachable"
            ));
        }
        warnings
    }
}

fn preview(ids: &[String]) -> String {
    const SHOWN: usize = 10;
    let head = ids[..ids.len().min(SHOWN)].join(", ");
    if ids.len() > SHOWN {
        format!("{head}, …")
    } else {
        head
    }
}

/// Scores `run` against `qrels`, with recall at each depth of `recall_depths`.
pub fn evaluate(run: &Run, qrels: &Qrels, recall_depths: &[usize]) -> Result<Evaluation> {
    ensure!(
        recall_depths.iter().all(|&k| k >= 1),
        "recall depths must be ≥ 1, got {recall_depths:?}"
    );
    let mut per_query = BTreeMap::new();
    let mut unjudged_in_run = Vec::new();
    for (query, hits) in run {
        let Some(judged) = qrels.get(query) else {
            unjudged_in_run.push(query.clone());
            continue;
        };
        let ranked = judged_ranking(&trec_order(hits, query)?, judged);
        per_query.insert(query.clone(), score_query(&ranked, judged, recall_depths));
    }
    ensure!(
        !per_query.is_empty(),
        "none of the run's {} queries has judgements: nothing to evaluate",
        run.len()
    );
    let judged_not_in_run = qrels
        .keys()
        .filter(|q| !run.contains_key(*q))
        .cloned()
        .collect();
    Ok(Evaluation {
        mean: mean(per_query.values(), recall_depths),
        per_query,
        unjudged_in_run,
        judged_not_in_run,
        relevant_outside_corpus: None,
    })
}

/// [`evaluate`] against a collection's judgements, also counting the relevant judgements of the
/// scored queries that name documents the corpus doesn't have.
pub fn evaluate_collection(
    run: &Run,
    collection: &Collection,
    recall_depths: &[usize],
) -> Result<Evaluation> {
    let mut evaluation = evaluate(run, &collection.qrels, recall_depths)?;
    let corpus: HashSet<&str> = collection.docs.iter().map(|d| d.id.as_str()).collect();
    let outside = evaluation
        .per_query
        .keys()
        .flat_map(|q| collection.qrels[q].iter())
        .filter(|(doc, &rel)| rel >= RELEVANCE_LEVEL && !corpus.contains(doc.as_str()))
        .count();
    evaluation.relevant_outside_corpus = Some(outside);
    Ok(evaluation)
}

/// All measures of one query from its ranked judgements (see [`judged_ranking`]).
pub fn score_query(
    ranked: &[Option<i32>],
    judged: &BTreeMap<String, i32>,
    recall_depths: &[usize],
) -> QueryScores {
    let relevant = num_relevant(judged);
    QueryScores {
        recall: recall_depths
            .iter()
            .map(|&k| (k, recall_at(ranked, relevant, k)))
            .collect(),
        ndcg_cut_10: ndcg_cut(ranked, judged, NDCG_DEPTH),
        ap: average_precision(ranked, relevant),
        recip_rank: reciprocal_rank(ranked, None),
        recip_rank_cut_10: reciprocal_rank(ranked, Some(MRR_DEPTH)),
    }
}

fn mean<'a>(
    scores: impl ExactSizeIterator<Item = &'a QueryScores>,
    depths: &[usize],
) -> QueryScores {
    let n = scores.len() as f64;
    let mut sum = QueryScores {
        recall: depths.iter().map(|&k| (k, 0.0)).collect(),
        ndcg_cut_10: 0.0,
        ap: 0.0,
        recip_rank: 0.0,
        recip_rank_cut_10: 0.0,
    };
    for s in scores {
        for (k, r) in &s.recall {
            *sum.recall.get_mut(k).expect("same depths for every query") += r;
        }
        sum.ndcg_cut_10 += s.ndcg_cut_10;
        sum.ap += s.ap;
        sum.recip_rank += s.recip_rank;
        sum.recip_rank_cut_10 += s.recip_rank_cut_10;
    }
    sum.recall.values_mut().for_each(|r| *r /= n);
    sum.ndcg_cut_10 /= n;
    sum.ap /= n;
    sum.recip_rank /= n;
    sum.recip_rank_cut_10 /= n;
    sum
}

/// One query's hits in trec_eval's order: score descending, ties by document id descending
/// (byte-wise, like C's `strcmp`). A NaN score (no place in any order) and a document returned
/// twice (trec_eval: "duplicate docs") are errors naming the query.
pub fn trec_order<'a>(hits: &'a [Hit], query: &str) -> Result<Vec<&'a Hit>> {
    if let Some(h) = hits.iter().find(|h| h.score.is_nan()) {
        bail!("query `{query}`: document `{}` has a NaN score", h.doc_id);
    }
    let mut ranked: Vec<&Hit> = hits.iter().collect();
    ranked.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .expect("NaN scores rejected above")
            .then_with(|| b.doc_id.cmp(&a.doc_id))
    });
    if let Some(pair) = ranked.windows(2).find(|p| p[0].doc_id == p[1].doc_id) {
        bail!(
            "query `{query}`: document `{}` appears twice in the run",
            pair[0].doc_id
        );
    }
    Ok(ranked)
}

/// The judgement of each ranked hit: `Some(value)` if the query judged that document (whatever
/// the value), `None` if it didn't. Every measure here treats `None`, `Some(0)` and negative
/// values alike — non-relevant, no gain — but keeping them apart shows how much of a run was
/// never judged.
pub fn judged_ranking(ranked: &[&Hit], judged: &BTreeMap<String, i32>) -> Vec<Option<i32>> {
    ranked
        .iter()
        .map(|h| judged.get(&h.doc_id).copied())
        .collect()
}

fn is_relevant(judgement: Option<i32>) -> bool {
    judgement.is_some_and(|r| r >= RELEVANCE_LEVEL)
}

/// How many documents the query judged relevant (≥ [`RELEVANCE_LEVEL`]): the denominator of recall
/// and average precision, whether or not those documents were retrieved or are in the corpus.
pub fn num_relevant(judged: &BTreeMap<String, i32>) -> usize {
    judged.values().filter(|&&r| r >= RELEVANCE_LEVEL).count()
}

/// Relevant hits in the first `k` / `relevant`; 0 when the query has no relevant document
/// (trec_eval `recall_k`). A run shorter than `k` is treated as padded with non-relevant hits.
pub fn recall_at(ranked: &[Option<i32>], relevant: usize, k: usize) -> f64 {
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked.iter().take(k).filter(|&&r| is_relevant(r)).count();
    found as f64 / relevant as f64
}

/// Average precision (trec_eval `map` for one query): the precision at the rank of each relevant
/// hit, summed, divided by the number of relevant documents judged — so relevant documents never
/// retrieved contribute 0.
pub fn average_precision(ranked: &[Option<i32>], relevant: usize) -> f64 {
    let mut found = 0usize;
    let mut sum = 0.0;
    for (i, &r) in ranked.iter().enumerate() {
        if is_relevant(r) {
            found += 1;
            sum += found as f64 / (i + 1) as f64;
        }
    }
    if found == 0 {
        0.0
    } else {
        sum / relevant as f64
    }
}

/// 1 / rank of the first relevant hit within the first `depth` hits (the whole run if `None`),
/// 0 if there is none (trec_eval `recip_rank`; with `Some(10)`, MRR@10's per-query value).
pub fn reciprocal_rank(ranked: &[Option<i32>], depth: Option<usize>) -> f64 {
    let depth = depth.unwrap_or(ranked.len());
    ranked
        .iter()
        .take(depth)
        .position(|&r| is_relevant(r))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// nDCG of the first `k` hits (trec_eval `ndcg_cut_k`): DCG = Σ gain / log2(rank + 1) with gain =
/// the judgement value when positive, divided by the DCG of the ideal ranking — the query's
/// positive judgements, largest first, also cut at `k`. 0 when the query has no positive
/// judgement. The sums run in rank order, like trec_eval's, so the values agree to the last bits.
pub fn ndcg_cut(ranked: &[Option<i32>], judged: &BTreeMap<String, i32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter_map(|(i, &r)| r.filter(|&g| g > 0).map(|g| (i, g)))
        .fold(0.0, |sum, (i, g)| sum + g as f64 / ((i + 2) as f64).log2());
    let mut ideal_gains: Vec<i32> = judged.values().copied().filter(|&g| g > 0).collect();
    ideal_gains.sort_unstable_by(|a, b| b.cmp(a));
    let ideal: f64 = ideal_gains
        .iter()
        .take(k)
        .enumerate()
        .fold(0.0, |sum, (i, &g)| sum + g as f64 / ((i + 2) as f64).log2());
    if ideal > 0.0 {
        dcg / ideal
    } else {
        0.0
    }
}
