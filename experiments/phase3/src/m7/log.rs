//! m7's entry of the experiment log: its words in `templates/m7_retrieval.md`, its numbers from the
//! records.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serde::Serialize;
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::Record;
use viz::references::References;
use viz::Context;

use super::figures::{spans_equal_speed, speed_ratio, FIG_BENCH};
use super::kinds::{by_kind, KindFinding, FIG_KINDS};
use super::{
    records, retriever_names, skipped, training_logs, RetrievalConfig, Timings, FIG_RECALL,
    FIG_TRAINING,
};
use crate::bench;
use crate::records::{BenchSummary, RetrievalSummary};
use phase3_rag::bm25::Bm25Variant;
use phase3_rag::retrievers::{CollectionSpec, RetrieverSpec};
use phase3_rag::tokenize::{Stemmer, StopWords};

const TEMPLATE: &str = include_str!("../../templates/m7_retrieval.md");

/// A retriever as the setup describes it (its kind picks the words in the template).
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum RetrieverText {
    Bm25 {
        name: String,
        /// `lucene` or `robertson`.
        variant: String,
        k1: String,
        b: String,
        /// `none`, `english` or `list`.
        stopwords: String,
        stopword_count: String,
        /// `none` or `english`.
        stemmer: String,
    },
    Minilm {
        name: String,
        batch_size: String,
    },
    Dual {
        name: String,
        buckets: String,
        dim: String,
        batch_size: String,
        temperature: String,
        steps: String,
    },
    Hybrid {
        name: String,
        of: Vec<String>,
        k: String,
        depth: String,
    },
}

/// Which retriever wins a question kind, and the runner-up.
#[derive(Serialize)]
struct KindWinner {
    kind: String,
    first: String,
    first_score: String,
    second: String,
    second_score: String,
}

/// nDCG@10 by question kind, where the collection has kinds (a generated world).
#[derive(Serialize)]
struct Kinds {
    table: String,
    winners: Vec<KindWinner>,
}

#[derive(Serialize)]
struct Skipped {
    retriever: String,
    why: String,
}

/// A retriever trained while it was built: how much it learned from, and whether it converged.
#[derive(Serialize)]
struct Trained {
    retriever: String,
    pairs: String,
    first_loss: String,
    first_step: String,
    last_loss: String,
    last_step: String,
    accuracy: String,
    ndcg: String,
}

/// A published nDCG@10 on the same files, against ours.
#[derive(Serialize)]
struct Reproduction {
    retriever: String,
    ours: String,
    published: String,
    reproduces: bool,
}

/// One query where the best retriever differs most from the runner-up.
#[derive(Serialize)]
struct Example {
    query: String,
    text: String,
    change: String,
}

/// The best two retrievers, query by query.
#[derive(Serialize)]
struct HeadToHead {
    a: String,
    b: String,
    score_a: String,
    score_b: String,
    wins: String,
    losses: String,
    ties: String,
    scored: String,
    largest_win: Option<Example>,
    largest_loss: Option<Example>,
    /// The mean difference with its interval and verdict.
    change: String,
    tied: bool,
}

#[derive(Serialize)]
struct Scored {
    name: String,
    score: String,
}

/// A fused retriever against its inputs.
#[derive(Serialize)]
struct Fusion {
    name: String,
    score: String,
    inputs: Vec<Scored>,
    above_all: bool,
    best_input: String,
    below_by: String,
    worse: String,
    better: String,
    spread: String,
}

/// One collection's part of the entry.
#[derive(Serialize)]
struct CollectionValues {
    name: String,
    provenance: String,
    docs: String,
    queries: String,
    judged: String,
    table: String,
    kinds: Option<Kinds>,
    skipped: Vec<Skipped>,
    trained: Vec<Trained>,
    reproductions: Vec<Reproduction>,
    head_to_head: Option<HeadToHead>,
    fusions: Vec<Fusion>,
}

#[derive(Serialize)]
struct NumbaRatios {
    build: String,
    query: String,
    faster_than_ours: bool,
    /// The queries/s ratio's range over every pair of rounds spans 1× (as the figure reads it).
    query_tied: bool,
}

#[derive(Serialize)]
struct Bm25Speed {
    docs: String,
    build: String,
    query: String,
    numba: Option<NumbaRatios>,
}

#[derive(Serialize)]
struct MinilmSpeed {
    ours: String,
    theirs: String,
    ratio: String,
    meets_target: bool,
    /// The target ratio and the README tolerance in percent, from `configs/references.toml`.
    target: String,
    tolerance: String,
    within_readme: bool,
    readme: String,
    readme_low: String,
    readme_high: String,
}

/// The recorded speed comparison against the Python libraries.
#[derive(Serialize)]
struct BenchValues {
    rounds: String,
    provenance: String,
    table: String,
    bm25: Option<Bm25Speed>,
    minilm: Option<MinilmSpeed>,
}

/// What `templates/m7_retrieval.md` is filled with.
#[derive(Serialize)]
struct RetrievalValues {
    depth: String,
    retrievers: Vec<RetrieverText>,
    collections: Vec<CollectionValues>,
    bench: Option<BenchValues>,
    /// nDCG@10 by question kind, on the first collection with kinds (its figure's caption).
    by_kind: Option<KindFinding>,
}

fn retriever_text(r: &RetrieverSpec) -> RetrieverText {
    match r {
        RetrieverSpec::Bm25 { name, bm25 } => RetrieverText::Bm25 {
            name: name.clone(),
            variant: match bm25.variant {
                Bm25Variant::Lucene => "lucene",
                Bm25Variant::Robertson => "robertson",
            }
            .into(),
            k1: bm25.k1.to_string(),
            b: bm25.b.to_string(),
            stopwords: match &bm25.tokenizer.stopwords {
                StopWords::None => "none",
                StopWords::English => "english",
                StopWords::List(_) => "list",
            }
            .into(),
            stopword_count: match &bm25.tokenizer.stopwords {
                StopWords::List(l) => l.len().to_string(),
                _ => String::new(),
            },
            stemmer: match bm25.tokenizer.stemmer {
                None => "none",
                Some(Stemmer::English) => "english",
            }
            .into(),
        },
        RetrieverSpec::Minilm { name, batch_size } => RetrieverText::Minilm {
            name: name.clone(),
            batch_size: batch_size.to_string(),
        },
        RetrieverSpec::Dual { name, dual, .. } => RetrieverText::Dual {
            name: name.clone(),
            buckets: dual.buckets.to_string(),
            dim: dual.dim.to_string(),
            batch_size: dual.batch_size.to_string(),
            temperature: dual.temperature.to_string(),
            steps: dual.steps.to_string(),
        },
        RetrieverSpec::Hybrid { name, of, k, depth } => RetrieverText::Hybrid {
            name: name.clone(),
            of: of.clone(),
            k: k.to_string(),
            depth: depth.to_string(),
        },
    }
}

/// The scores table of one collection: one row per retriever.
fn scores_table(
    cfg: &RetrievalConfig,
    rec: &Record,
    summary: &RetrievalSummary,
    names: &[String],
) -> Result<viz::table::Table> {
    let timings: BTreeMap<String, Timings> = rec.artifact("timings")?;
    let mut headers: Vec<String> = cfg
        .recall_at
        .iter()
        .map(|k| format!("recall@{k}"))
        .collect();
    headers.insert(0, "retriever".into());
    headers.extend(
        [
            "MRR@10",
            "nDCG@10",
            &format!("MAP@{}", cfg.depth),
            "index build (s)",
            "query p50 / p95 (ms)",
        ]
        .map(String::from),
    );
    let hdr: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut table = viz::table::Table::new(&hdr);
    for n in names {
        let s = summary.retriever(n)?;
        let mut row = vec![n.clone()];
        for &k in &cfg.recall_at {
            row.push(format!("{:.3}", s.recall_at(k)?));
        }
        row.push(format!("{:.3}", s.mrr_10));
        row.push(format!("{:.3}", s.ndcg_cut_10));
        row.push(format!("{:.3}", s.map));
        let t = timings.get(n).cloned().unwrap_or_default();
        let fused = cfg
            .retriever
            .iter()
            .any(|r| r.name() == n && matches!(r, RetrieverSpec::Hybrid { .. }));
        row.push(if fused {
            "– (its inputs')".to_string()
        } else {
            format!("{:.2}", t.index_s)
        });
        row.push(format!("{:.2} / {:.2}", t.query_p50_ms, t.query_p95_ms));
        table.push(row);
    }
    Ok(table)
}

/// nDCG@10 by question kind and the winner of each kind, where the collection has kinds.
fn kinds(summary: &RetrievalSummary, names: &[String]) -> Result<Option<Kinds>> {
    let kinds: Vec<String> = summary
        .retriever(&names[0])?
        .kinds()
        .map(String::from)
        .collect();
    if kinds.is_empty() {
        return Ok(None);
    }
    let mut hdr = vec!["retriever".to_string()];
    hdr.extend(kinds.iter().map(|k| format!("{k} (nDCG@10)")));
    let hdr: Vec<&str> = hdr.iter().map(String::as_str).collect();
    let mut t = viz::table::Table::new(&hdr);
    for n in names {
        let mut row = vec![n.clone()];
        for k in &kinds {
            row.push(format!("{:.3}", summary.retriever(n)?.ndcg_of(k)?));
        }
        t.push(row);
    }
    // Which retriever wins each kind, and by how much over the runner-up.
    let mut winners = Vec::new();
    for k in &kinds {
        let mut scores: Vec<(&String, f64)> = names
            .iter()
            .map(|n| Ok((n, summary.retriever(n)?.ndcg_of(k)?)))
            .collect::<Result<_>>()?;
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        if let [first, second, ..] = scores.as_slice() {
            winners.push(KindWinner {
                kind: k.clone(),
                first: first.0.clone(),
                first_score: format!("{:.3}", first.1),
                second: second.0.clone(),
                second_score: format!("{:.3}", second.1),
            });
        }
    }
    Ok(Some(Kinds {
        table: t.markdown(),
        winners,
    }))
}

/// Trained retrievers: how much they had to learn from, and whether training converged.
fn trained(rec: &Record, summary: &RetrievalSummary) -> Result<Vec<Trained>> {
    let mut out = Vec::new();
    for (n, log) in &training_logs(rec)? {
        let (Some(first), Some(last)) = (log.loss.first(), log.loss.last()) else {
            continue;
        };
        out.push(Trained {
            retriever: n.clone(),
            pairs: log.pairs.to_string(),
            first_loss: format!("{:.3}", first.1),
            first_step: first.0.to_string(),
            last_loss: format!("{:.3}", last.1),
            last_step: last.0.to_string(),
            accuracy: format!("{:.1}", 100.0 * log.final_in_batch_accuracy),
            ndcg: format!("{:.3}", summary.retriever(n)?.ndcg_cut_10),
        });
    }
    Ok(out)
}

/// Reproduction of published numbers on the same files: CISI's, from `configs/references.toml`.
fn reproductions(
    refs: &References,
    spec: &CollectionSpec,
    summary: &RetrievalSummary,
) -> Vec<Reproduction> {
    let mut out = Vec::new();
    if spec.dir.as_deref() != Some("cisi") {
        return out;
    }
    for (who, &published) in &refs.cisi.ndcg_cut_10 {
        if let Some(ours) = summary.retrievers.get(who).map(|r| r.ndcg_cut_10) {
            out.push(Reproduction {
                retriever: who.clone(),
                ours: format!("{ours:.4}"),
                published: format!("{published:.3}"),
                reproduces: (ours - published).abs() <= 0.0005 + 1e-9,
            });
        }
    }
    out
}

/// The two retrievers with the highest mean nDCG@10 on one collection, compared query by query:
/// the milestone's primary comparison (named after the first results were known), a paired
/// bootstrap over the queries (nDCG is a number per query, so no exact test applies). The README's
/// headline and the log both read it.
pub(crate) struct TopTwo {
    pub(crate) a: (String, f64),
    pub(crate) b: (String, f64),
    pub(crate) test: stats::Paired,
    pub(crate) judged: stats::Judged,
    /// Per query both scored: `(query id, a's nDCG@10 − b's)`.
    pub(crate) diffs: Vec<(String, f64)>,
}

pub(crate) fn top_two(rec: &Record, names: &[String]) -> Result<Option<TopTwo>> {
    let per_query: BTreeMap<String, BTreeMap<String, f64>> = rec.artifact("ndcg_per_query")?;
    let summary: RetrievalSummary = rec.summary_as()?;
    let mut by_score: Vec<(String, f64)> = names
        .iter()
        .map(|n| Ok((n.clone(), summary.retriever(n)?.ndcg_cut_10)))
        .collect::<Result<_>>()?;
    by_score.sort_by(|a, b| b.1.total_cmp(&a.1));
    if by_score.len() < 2 {
        return Ok(None);
    }
    let per = |n: &str| {
        per_query
            .get(n)
            .with_context(|| format!("no per-query nDCG for `{n}`"))
    };
    let (pa, pb) = (per(&by_score[0].0)?, per(&by_score[1].0)?);
    let both: Vec<(&String, f64, f64)> = pa
        .iter()
        .filter_map(|(q, &x)| pb.get(q).map(|&y| (q, x, y)))
        .collect();
    let xa: Vec<f64> = both.iter().map(|t| t.1).collect();
    let xb: Vec<f64> = both.iter().map(|t| t.2).collect();
    let test = stats::paired_bootstrap(&xa, &xb, 10_000, 0)?;
    Ok(Some(TopTwo {
        a: by_score[0].clone(),
        b: by_score[1].clone(),
        judged: stats::judge_primary(test.difference, test.p_value),
        test,
        diffs: both.iter().map(|(q, x, y)| ((*q).clone(), x - y)).collect(),
    }))
}

/// Where each retriever wins: per-query nDCG@10 of the best two retrievers, head to head.
fn head_to_head(rec: &Record, names: &[String]) -> Result<Option<HeadToHead>> {
    let queries: BTreeMap<String, String> = rec.artifact("queries")?;
    let Some(top) = top_two(rec, names)? else {
        return Ok(None);
    };
    let (a, b) = (&top.a.0, &top.b.0);
    let diffs: Vec<(&String, f64)> = top.diffs.iter().map(|(q, d)| (q, *d)).collect();
    let wins = diffs.iter().filter(|d| d.1 > 1e-12).count();
    let losses = diffs.iter().filter(|d| d.1 < -1e-12).count();
    let ties = diffs.len() - wins - losses;
    let example = |pick: &dyn Fn(f64, f64) -> bool| {
        diffs
            .iter()
            .copied()
            .reduce(|m, d| if pick(d.1, m.1) { d } else { m })
            .filter(|d| d.1.abs() > 1e-12)
            .map(|(q, d)| {
                let text: String = queries
                    .get(q)
                    .map_or("", |s| s.as_str())
                    .chars()
                    .take(140)
                    .collect();
                Example {
                    query: q.clone(),
                    text: text.trim().to_string(),
                    change: format!("{d:+.2}"),
                }
            })
    };
    Ok(Some(HeadToHead {
        a: a.clone(),
        b: b.clone(),
        score_a: format!("{:.3}", top.a.1),
        score_b: format!("{:.3}", top.b.1),
        wins: wins.to_string(),
        losses: losses.to_string(),
        ties: ties.to_string(),
        scored: diffs.len().to_string(),
        largest_win: example(&|x, y| x > y),
        largest_loss: example(&|x, y| x < y),
        change: viz::claims::paired_numbers(&top.test, &top.judged, "queries", 3),
        tied: top.judged.verdict == stats::Verdict::Tied,
    }))
}

/// Does fusion beat both of its inputs? Measured, not assumed.
fn fusions(cfg: &RetrievalConfig, rec: &Record, summary: &RetrievalSummary) -> Result<Vec<Fusion>> {
    let per_query: BTreeMap<String, BTreeMap<String, f64>> = rec.artifact("ndcg_per_query")?;
    let mut out = Vec::new();
    for r in &cfg.retriever {
        let RetrieverSpec::Hybrid { name, of, .. } = r else {
            continue;
        };
        let ndcg = |n: &String| summary.retrievers.get(n).map(|r| r.ndcg_cut_10);
        let Some(h) = ndcg(name) else {
            continue;
        };
        let inputs: Vec<(String, f64)> = of
            .iter()
            .filter_map(|n| Some((n.clone(), ndcg(n)?)))
            .collect();
        let Some(best) = inputs
            .iter()
            .cloned()
            .reduce(|a, b| if b.1 > a.1 { b } else { a })
        else {
            continue;
        };
        let above = inputs.iter().filter(|i| h > i.1).count();
        let (mut worse, mut better) = (0, 0);
        if above < inputs.len() {
            // Where fusion loses: the queries the best input gets right and the others do not.
            let (ph, pb) = (&per_query[name], &per_query[&best.0]);
            worse = ph
                .iter()
                .filter(|(q, &v)| pb.get(*q).is_some_and(|&b| v < b - 1e-12))
                .count();
            better = ph
                .iter()
                .filter(|(q, &v)| pb.get(*q).is_some_and(|&b| v > b + 1e-12))
                .count();
        }
        out.push(Fusion {
            name: name.clone(),
            score: format!("{h:.3}"),
            inputs: inputs
                .iter()
                .map(|(n, v)| Scored {
                    name: n.clone(),
                    score: format!("{v:.3}"),
                })
                .collect(),
            above_all: above == inputs.len(),
            best_input: best.0.clone(),
            below_by: format!("{:.3}", best.1 - h),
            worse: worse.to_string(),
            better: better.to_string(),
            spread: format!(
                "{:.3}",
                best.1 - inputs.iter().map(|i| i.1).fold(f64::INFINITY, f64::min)
            ),
        });
    }
    Ok(out)
}

/// One collection's tables and findings.
fn collection_values(
    refs: &References,
    cfg: &RetrievalConfig,
    spec: &CollectionSpec,
    rec: &Record,
) -> Result<CollectionValues> {
    let names = retriever_names(rec)?;
    let summary: RetrievalSummary = rec.summary_as()?;
    Ok(CollectionValues {
        name: spec.name.clone(),
        provenance: rec.provenance(),
        docs: summary.docs.to_string(),
        queries: summary.queries.to_string(),
        judged: summary.judged_queries.to_string(),
        table: scores_table(cfg, rec, &summary, &names)?.markdown(),
        kinds: kinds(&summary, &names)?,
        trained: trained(rec, &summary)?,
        skipped: skipped(rec)?
            .into_iter()
            .map(|(retriever, why)| Skipped { retriever, why })
            .collect(),
        reproductions: reproductions(refs, spec, &summary),
        head_to_head: head_to_head(rec, &names)?,
        fusions: fusions(cfg, rec, &summary)?,
    })
}

/// The speed comparison of `cargo xtask bench-rag`, if it was run.
fn bench_values(ctx: &Context, refs: &References) -> Result<Option<BenchValues>> {
    let Some((brec, bench)) = bench::load(ctx) else {
        return Ok(None);
    };
    let s: BenchSummary = brec.summary_as()?;
    let bm25 = match (s.bm25_build_speedup, s.bm25_query_speedup) {
        (Some(b), Some(q)) => Some(Bm25Speed {
            docs: bench.world_docs.to_string(),
            build: format!("{b:.2}"),
            query: format!("{q:.2}"),
            numba: match (s.bm25_build_speedup_numba, s.bm25_query_speedup_numba) {
                (Some(bn), Some(qn)) => {
                    let query_tied = bench.bm25s_numba.as_ref().is_some_and(|n| {
                        let q = |s: &bench::Side| s.bm25_queries_per_s.clone();
                        spans_equal_speed(speed_ratio(&q(&bench.ours), &q(n), false).1)
                    });
                    Some(NumbaRatios {
                        build: format!("{bn:.2}"),
                        query: format!("{qn:.2}"),
                        faster_than_ours: qn < 1.0 && !query_tied,
                        query_tied,
                    })
                }
                _ => None,
            },
        }),
        _ => None,
    };
    let minilm = match (s.minilm_speedup, s.minilm_docs_per_s.python) {
        (Some(ratio), Some(theirs)) => {
            let readme = refs.cisi.minilm_docs_per_s;
            let t = &refs.targets;
            Some(MinilmSpeed {
                ours: format!("{:.1}", s.minilm_docs_per_s.ours),
                theirs: format!("{theirs:.1}"),
                ratio: format!("{ratio:.2}"),
                meets_target: ratio >= t.minilm_speedup,
                target: format!("{}", t.minilm_speedup),
                tolerance: format!("{:.0}", 100.0 * t.readme_speed_tolerance),
                within_readme: (theirs - readme).abs() <= t.readme_speed_tolerance * readme,
                readme: format!("{readme:.0}"),
                readme_low: format!("{:.0}", (1.0 - t.readme_speed_tolerance) * readme),
                readme_high: format!("{:.0}", (1.0 + t.readme_speed_tolerance) * readme),
            })
        }
        _ => None,
    };
    Ok(Some(BenchValues {
        rounds: bench.ours.minilm_docs_per_s.len().to_string(),
        provenance: brec.provenance(),
        table: bench::table(&bench).markdown(),
        bm25,
        minilm,
    }))
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let recs = records(ctx)?;
    if recs.is_empty() {
        return Ok(Vec::new());
    }
    let cfg: RetrievalConfig = recs[0].1.config_as()?;
    let refs = References::load(&ctx.root)?;
    let values = RetrievalValues {
        depth: cfg.depth.to_string(),
        retrievers: cfg.retriever.iter().map(retriever_text).collect(),
        collections: recs
            .iter()
            .map(|(spec, rec)| collection_values(&refs, &cfg, spec, rec))
            .collect::<Result<_>>()?,
        bench: bench_values(ctx, &refs)?,
        by_kind: by_kind(ctx)?.map(|b| b.finding()).transpose()?,
    };
    let part =
        |block: &str| viz::template::render_block("m7_retrieval.md", TEMPLATE, block, &values);
    let mut figures = vec![Figure::new(
        FIG_RECALL,
        FigureKind::EvaluationTables,
        part("caption_m7_recall_at_k")?,
    )];
    if recs
        .iter()
        .any(|(_, r)| training_logs(r).is_ok_and(|t| !t.is_empty()))
    {
        figures.push(Figure::new(
            FIG_TRAINING,
            FigureKind::LossCurves,
            part("caption_m7_dual_training")?,
        ));
    }
    if values.by_kind.is_some() {
        figures.push(Figure::new(
            FIG_KINDS,
            FigureKind::EvaluationTables,
            part("caption_m7_ndcg_by_kind")?,
        ));
    }
    // Drawn only when the bench ran against Python (the figure is a ratio to it).
    if values
        .bench
        .as_ref()
        .is_some_and(|b| b.bm25.is_some() || b.minilm.is_some())
    {
        figures.push(Figure::new(
            FIG_BENCH,
            FigureKind::Benchmarks,
            part("caption_m7_bench_rag")?,
        ));
    }
    Ok(vec![LogEntry {
        id: "m7_retrieval".into(),
        milestone: 7,
        title: part("title")?,
        takeaway: part("takeaway")?,
        question: part("question")?,
        setup: part("setup")?,
        results: part("results")?,
        details: part("details")?,
        figures,
        discussion: part("discussion")?,
    }])
}
