//! m7 — retrieval: every retriever of `configs/phase3/m7_retrieval.toml` on every collection of it,
//! scored exactly as trec_eval scores (see [`phase3_rag::metrics`]).
//!
//! One record per collection, `records/m7/retrieval_<collection>/`: the mean scores per retriever
//! in the summary (reproducible bit for bit), recall@k for every k up to the depth and per-query
//! nDCG@10 as artifacts, and the timings — index build, per-query latency — in an artifact of their
//! own, so nothing else in the record changes from one run to the next.

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _, Result};
use serde::{Deserialize, Serialize};
use viz::record::{Record, RunWriter};
use viz::Context;

use super::PHASE;
use crate::records::{metric, Breakdown, RetrievalSummary, RetrieverSummary};
use phase3_rag::beir::Collection;
use phase3_rag::dual::TrainLog;
use phase3_rag::metrics::{evaluate_collection, Evaluation, Run};
use phase3_rag::retrieve::Retriever;
use phase3_rag::retrievers::{Built, CollectionSpec, RetrieverSpec};

mod figures;
mod kinds;
mod log;

pub use figures::figures;
pub use log::log_entries;

pub const MILESTONE: &str = "m7";
/// The experiment (config `configs/phase3/m7_retrieval.toml`).
pub const RETRIEVAL: &str = "m7_retrieval";
const FIG_RECALL: &str = "m7_recall_at_k.png";
const FIG_TRAINING: &str = "m7_dual_training.png";

/// `configs/phase3/m7_retrieval.toml`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalConfig {
    /// Hits kept per query (recall@depth and MAP are cut there).
    pub depth: usize,
    /// The recall columns of the table.
    pub recall_at: Vec<usize>,
    pub collection: Vec<CollectionSpec>,
    pub retriever: Vec<RetrieverSpec>,
}

/// One retriever measured on one collection.
pub struct Measured {
    pub name: String,
    pub eval: Evaluation,
    /// Mean recall@k for k = 1..=depth.
    pub recall_curve: Vec<f64>,
    pub timings: Timings,
    /// The training log, for a retriever trained while it was built.
    pub training: Option<TrainLog>,
}

/// Wall-clock measurements, kept apart from the scores (they differ from run to run).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Timings {
    pub index_s: f64,
    pub query_p50_ms: f64,
    pub query_p95_ms: f64,
    pub queries_per_s: f64,
}

/// Build `spec` on `collection`, read from `dir` (with the retrievers `built` before it, for a
/// hybrid), run every query to `depth`, and score the run. Returns the measurement and the
/// retriever.
pub fn measure(
    ctx: &Context,
    spec: &RetrieverSpec,
    collection: &Collection,
    dir: &Path,
    depth: usize,
    built: &BTreeMap<String, Rc<dyn Retriever>>,
) -> Result<(Measured, Rc<dyn Retriever>)> {
    let t = Instant::now();
    let Built {
        retriever,
        training,
    } = spec
        .build(ctx, collection, dir, built)
        .with_context(|| format!("building retriever `{}`", spec.name()))?;
    let index_s = t.elapsed().as_secs_f64();
    let mut run = Run::new();
    let queries = collection.judged_queries();
    let mut latencies = Vec::with_capacity(queries.len());
    let all = Instant::now();
    for q in &queries {
        let t = Instant::now();
        let hits = retriever
            .search(&q.text, depth)
            .with_context(|| format!("`{}` searching query {}", spec.name(), q.id))?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        run.insert(q.id.clone(), hits);
    }
    let total_s = all.elapsed().as_secs_f64();
    let depths: Vec<usize> = (1..=depth).collect();
    let eval = evaluate_collection(&run, collection, &depths)?;
    let recall_curve = depths.iter().map(|k| eval.mean.recall[k]).collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let measured = Measured {
        name: spec.name().to_string(),
        eval,
        recall_curve,
        timings: Timings {
            index_s,
            query_p50_ms: pct(0.5),
            query_p95_ms: pct(0.95),
            queries_per_s: queries.len() as f64 / total_s.max(1e-9),
        },
        training,
    };
    Ok((measured, retriever))
}

/// Runs the experiment: every retriever on every collection, one record per collection.
pub fn run_retrieval(ctx: &Context) -> Result<String> {
    let (cfg, raw): (RetrievalConfig, toml::Value) = ctx.load_config(PHASE, RETRIEVAL)?;
    ensure!(cfg.depth >= 1, "m7_retrieval: `depth` must be at least 1");
    ensure!(
        cfg.recall_at.iter().all(|&k| (1..=cfg.depth).contains(&k)),
        "m7_retrieval: every `recall_at` value must be between 1 and `depth` ({})",
        cfg.depth
    );
    let mut parts = Vec::new();
    for spec in &cfg.collection {
        let dir = spec.materialise(ctx)?;
        let collection = Collection::load(&dir)?;
        let kinds = question_kinds(&dir)?;
        let mut rec = RunWriter::create(ctx, MILESTONE, &record_name(&spec.name), &raw, 0)?;
        let bar = ctx.progress(cfg.retriever.len() as u64, &format!("m7 {}", spec.name));
        let mut timings = BTreeMap::new();
        let mut curves = BTreeMap::new();
        let mut per_query = BTreeMap::new();
        let mut best: Option<(String, f64)> = None;
        let mut built: BTreeMap<String, Rc<dyn Retriever>> = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        let mut training = BTreeMap::new();
        let mut summary = RetrievalSummary {
            docs: collection.docs.len() as u64,
            queries: collection.queries.len() as u64,
            judged_queries: collection.judged_queries().len() as u64,
            retrievers: BTreeMap::new(),
        };
        for r in &cfg.retriever {
            if let Some(why) = r.skip_reason(&dir) {
                skipped.insert(r.name().to_string(), why);
                bar.inc(1);
                continue;
            }
            let (m, retriever) = measure(ctx, r, &collection, &dir, cfg.depth, &built)?;
            built.insert(r.name().to_string(), retriever);
            let name = &m.name;
            let ndcg: BTreeMap<String, f64> = m
                .eval
                .per_query
                .iter()
                .map(|(q, s)| (q.clone(), s.ndcg_cut_10))
                .collect();
            let log = m.training.as_ref();
            summary.retrievers.insert(
                name.clone(),
                RetrieverSummary {
                    ndcg_cut_10: m.eval.mean.ndcg_cut_10,
                    map: m.eval.mean.ap,
                    recip_rank: m.eval.mean.recip_rank,
                    mrr_10: m.eval.mean.recip_rank_cut_10,
                    queries_scored: m.eval.per_query.len() as u64,
                    train_pairs: log.map(|l| l.pairs as u64),
                    train_loss_final: log.and_then(|l| l.loss.last()).map(|&(_, loss)| loss),
                    train_in_batch_accuracy: log.map(|l| l.final_in_batch_accuracy),
                    breakdown: Breakdown {
                        recall: m
                            .eval
                            .mean
                            .recall
                            .iter()
                            .filter(|(k, _)| cfg.recall_at.contains(k))
                            .map(|(&k, &v)| (k, v))
                            .collect(),
                        // A generated world says what kind each question is: the mean per kind
                        // shows which questions a retriever finds (lookups name their entity;
                        // indirect and multi-hop do not).
                        ndcg_by_kind: mean_by_kind(&ndcg, &kinds),
                    },
                },
            );
            rec.summaries(&summary)?;
            if let Some(log) = log {
                for &(step, loss) in &log.loss {
                    rec.scalar(step as u64, &metric::retriever_train_loss(name), loss)?;
                }
                training.insert(name.clone(), log.clone());
            }
            per_query.insert(name.clone(), ndcg);
            curves.insert(name.clone(), m.recall_curve.clone());
            timings.insert(name.clone(), m.timings.clone());
            if best.as_ref().is_none_or(|b| m.eval.mean.ndcg_cut_10 > b.1) {
                best = Some((name.clone(), m.eval.mean.ndcg_cut_10));
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        // The collection's size, also when every retriever was skipped.
        rec.summaries(&summary)?;
        rec.artifact("recall_curves", &curves)?;
        rec.artifact("ndcg_per_query", &per_query)?;
        rec.artifact("timings", &timings)?;
        rec.artifact("skipped", &skipped)?;
        rec.artifact("training", &training)?;
        let queries: BTreeMap<&str, &str> = collection
            .queries
            .iter()
            .map(|q| (q.id.as_str(), q.text.as_str()))
            .collect();
        rec.artifact("queries", &queries)?;
        rec.finish()?;
        if let Some((who, v)) = best {
            parts.push(format!("{}: best nDCG@10 {v:.3} ({who})", spec.name));
        }
    }
    Ok(parts.join("; "))
}

/// Question id → kind, from the `questions.jsonl` a generated world writes next to its BEIR files
/// (empty for collections without one).
fn question_kinds(dir: &Path) -> Result<BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct Q {
        id: String,
        kind: String,
    }
    let path = dir.join("questions.jsonl");
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let q: Q = serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a question record", path.display(), i + 1))?;
            Ok((q.id, q.kind))
        })
        .collect()
}

/// Mean of the per-query values of each question kind (kinds in name order).
fn mean_by_kind(
    per_query: &BTreeMap<String, f64>,
    kinds: &BTreeMap<String, String>,
) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (q, v) in per_query {
        if let Some(k) = kinds.get(q) {
            let e = sums.entry(k.clone()).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (sum, n))| (k, sum / n as f64))
        .collect()
}

fn record_name(collection: &str) -> String {
    format!("retrieval_{collection}")
}

/// The records of the config's collections that exist, with their collection spec.
fn records(ctx: &Context) -> Result<Vec<(CollectionSpec, Record)>> {
    let (cfg, _): (RetrievalConfig, toml::Value) = ctx.load_config(PHASE, RETRIEVAL)?;
    Ok(cfg
        .collection
        .into_iter()
        .filter_map(|c| {
            let r = Record::load(ctx, MILESTONE, &record_name(&c.name)).ok()?;
            Some((c, r))
        })
        .collect())
}

/// The retriever names of a record that ran, in config order (not those skipped on its
/// collection).
fn retriever_names(rec: &Record) -> Result<Vec<String>> {
    let cfg: RetrievalConfig = rec.config_as()?;
    let skipped = skipped(rec)?;
    Ok(cfg
        .retriever
        .iter()
        .map(|r| r.name().to_string())
        .filter(|n| !skipped.contains_key(n))
        .collect())
}

/// The training logs of a record's trained retrievers (none in records made before there were any).
fn training_logs(rec: &Record) -> Result<BTreeMap<String, TrainLog>> {
    if rec.dir.join("artifacts").join("training.json").is_file() {
        rec.artifact("training")
    } else {
        Ok(BTreeMap::new())
    }
}

/// The retrievers a record skipped, with why.
fn skipped(rec: &Record) -> Result<BTreeMap<String, String>> {
    if rec.dir.join("artifacts").join("skipped.json").is_file() {
        rec.artifact("skipped")
    } else {
        Ok(BTreeMap::new())
    }
}

/// The best nDCG@10 over the retrievers on the first collection, for the README's milestone table,
/// with the verdict of the primary comparison against the runner-up (the log's own).
pub fn headline(ctx: &Context) -> Option<String> {
    let (spec, rec) = records(ctx).ok()?.into_iter().next()?;
    let names = retriever_names(&rec).ok()?;
    let top = log::top_two(&rec, &names).ok()??;
    let (a, b) = (&top.a, &top.b);
    let relation = match top.judged.verdict {
        stats::Verdict::Tied => "tied with",
        _ => "better than",
    };
    Some(crate::headline_text(
        "m7",
        &serde_json::json!({
            "collection": spec.name,
            "first": a.0,
            "first_score": format!("{:.3}", a.1),
            "relation": relation,
            "second": b.0,
            "second_score": format!("{:.3}", b.1),
            "p": format!("{:.2}", top.test.p_value),
        }),
    ))
}

/// `cargo xtask rag-eval --beir DIR`: every retriever of the m7 config on one BEIR directory, one
/// table row per retriever, printed.
pub fn rag_eval(root: &Path, beir: &Path, quick: bool) -> Result<()> {
    let ctx = Context::full(root, true);
    let ctx = Context { quick, ..ctx };
    let (cfg, _): (RetrievalConfig, toml::Value) = ctx.load_config(PHASE, RETRIEVAL)?;
    if !beir.join("corpus.jsonl").is_file() {
        bail!(
            "{} is not a BEIR-layout directory (no corpus.jsonl)",
            beir.display()
        );
    }
    let collection = Collection::load(beir)?;
    let mut headers = vec!["retriever".to_string()];
    headers.extend(cfg.recall_at.iter().map(|k| format!("recall@{k}")));
    headers.extend(["MRR@10", "nDCG@10", "MAP", "index s", "p50 ms", "p95 ms"].map(String::from));
    let hdr: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut table = viz::table::Table::new(&hdr);
    let mut built: BTreeMap<String, Rc<dyn Retriever>> = BTreeMap::new();
    for spec in &cfg.retriever {
        if let Some(why) = spec.skip_reason(beir) {
            eprintln!("rag-eval: `{}` skipped: {why}", spec.name());
            continue;
        }
        let (m, retriever) = measure(&ctx, spec, &collection, beir, cfg.depth, &built)?;
        built.insert(spec.name().to_string(), retriever);
        for w in m.eval.warnings() {
            eprintln!("rag-eval: {}: {w}", m.name);
        }
        let mut row = vec![m.name.clone()];
        row.extend(
            cfg.recall_at
                .iter()
                .map(|k| format!("{:.4}", m.eval.mean.recall[k])),
        );
        row.push(format!("{:.4}", m.eval.mean.recip_rank_cut_10));
        row.push(format!("{:.4}", m.eval.mean.ndcg_cut_10));
        row.push(format!("{:.4}", m.eval.mean.ap));
        row.push(format!("{:.3}", m.timings.index_s));
        row.push(format!("{:.3}", m.timings.query_p50_ms));
        row.push(format!("{:.3}", m.timings.query_p95_ms));
        table.push(row);
    }
    println!(
        "rag-eval: {} ({} documents, {} queries, {} judged)\n\n{}",
        beir.display(),
        collection.docs.len(),
        collection.queries.len(),
        collection.judged_queries().len(),
        table.markdown()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m7_means_by_question_kind_skip_queries_without_a_kind() {
        let per_query: BTreeMap<String, f64> = [("a", 1.0), ("b", 0.0), ("c", 0.5), ("d", 0.25)]
            .map(|(q, v)| (q.to_string(), v))
            .into();
        let kinds: BTreeMap<String, String> =
            [("a", "lookup"), ("b", "lookup"), ("c", "multi_hop")]
                .map(|(q, k)| (q.to_string(), k.to_string()))
                .into();
        let m = mean_by_kind(&per_query, &kinds);
        assert_eq!(m.len(), 2);
        assert_eq!(m["lookup"], 0.5);
        assert_eq!(m["multi_hop"], 0.5);
    }

    #[test]
    fn m7_question_kinds_name_the_bad_line() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(question_kinds(tmp.path()).unwrap().is_empty());
        std::fs::write(
            tmp.path().join("questions.jsonl"),
            "{\"id\":\"q0\",\"kind\":\"lookup\"}\n{\"id\":\"q1\"}\n",
        )
        .unwrap();
        let e = format!("{:#}", question_kinds(tmp.path()).unwrap_err());
        assert!(e.contains("questions.jsonl:2"), "{e}");
    }
}
