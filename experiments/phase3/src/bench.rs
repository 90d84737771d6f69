//! `cargo xtask bench-rag [--python PY]`: retrieval speed, ours against the Python yardsticks on the
//! same machine, in one run (`configs/phase3/bench_rag.toml`).
//!
//! * **BM25** on a generated world large enough for the index to matter (CISI's 1,460 documents
//!   index in milliseconds with anything): index build (tokenisation included) and queries/s over
//!   every query of the world, one thread, against bm25s with the same tokenisation and Lucene's
//!   BM25 (`scripts/rag_bench.py bm25`). Both return the top `k` document indices and scores.
//! * **all-MiniLM-L6-v2**: documents/s encoding CISI (`title + " " + text`, batches of 32, 2
//!   threads, tokenisation included) with our engine against sentence-transformers'
//!   `encode(batch_size=32)` on 2 torch threads (`scripts/rag_bench.py minilm`).
//!
//! Each side runs `rounds` times, alternating ours / theirs, so drifts in machine load (this is a
//! shared virtual machine) hit both alike; the medians are compared as a ratio. Everything in the
//! record is a timing, so it is not expected to reproduce bit for bit; the configuration, the
//! commit and the Python packages' versions are recorded with it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _, Result};
use serde::{Deserialize, Serialize};
use viz::record::{Record, RunWriter};
use viz::Context;

use super::PHASE;
use crate::records::{BenchSummary, Sides};
use phase3_rag::beir::Collection;
use phase3_rag::bm25::{Bm25Config, Bm25Index};
use phase3_rag::minilm::{model_dir, MiniLm};
use phase3_rag::retrievers::find_collection;
use phase3_rag::world::{World, WorldConfig};

/// The record's name under `records/m7/`.
pub const RUN: &str = "bench_rag";
/// The bench's record sits among m7's (`records/m7/bench_rag`): it times m7's retrievers.
const MILESTONE: &str = "m7";

/// `configs/phase3/bench_rag.toml`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BenchRagConfig {
    /// Documents of the generated world BM25 is timed on.
    pub world_docs: usize,
    pub world_seed: u64,
    /// Our BM25's setting: bm25s's (its tokenizer without stop words, Lucene's IDF, k1 1.5, b 0.75).
    pub bm25: Bm25Config,
    /// Hits per query.
    pub k: usize,
    /// Collection whose documents MiniLM encodes (a BEIR folder, found like m7's).
    pub minilm_collection: String,
    pub batch_size: usize,
    /// Threads for MiniLM on both sides (BM25 is one thread on both).
    pub threads: usize,
    /// Documents encoded (0 = all).
    #[serde(default)]
    pub minilm_limit: usize,
    /// Alternating rounds per side.
    pub rounds: usize,
    /// Also time bm25s with its numba backend (its fastest; needs `numba` in the Python
    /// environment), besides its default numpy one.
    #[serde(default)]
    pub bm25s_numba: bool,
}

/// One side's measurements, a value per round.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Side {
    pub bm25_build_s: Vec<f64>,
    pub bm25_queries_per_s: Vec<f64>,
    pub minilm_docs_per_s: Vec<f64>,
}

/// The whole result, as the record's artifact.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct BenchResult {
    pub world_docs: usize,
    pub world_queries: usize,
    /// Hits per BM25 query.
    pub k: usize,
    pub minilm_docs: usize,
    /// Mean tokens per encoded document ([CLS] and [SEP] included, truncated at 256).
    pub minilm_mean_tokens: f64,
    pub ours: Side,
    /// Absent when no Python was given: bm25s with its default (numpy) backend, and
    /// sentence-transformers.
    pub python: Option<Side>,
    /// bm25s with its numba backend (BM25 fields only), when the config asks for it.
    #[serde(default)]
    pub bm25s_numba: Option<Side>,
    /// Versions the Python side reported (bm25s, torch, sentence-transformers, Python).
    pub python_versions: Vec<(String, String)>,
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Runs `rag_bench.py` with `args` and returns its last stdout line as JSON.
fn python_json(python: &Path, script: &Path, args: &[String]) -> Result<serde_json::Value> {
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} {} {} failed ({}):\n{}",
            python.display(),
            script.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{} printed no JSON line:\n{stdout}", script.display()))?;
    serde_json::from_str(last)
        .with_context(|| format!("parsing {}'s result: {last}", script.display()))
}

fn field(v: &serde_json::Value, key: &str) -> Result<f64> {
    v[key]
        .as_f64()
        .with_context(|| format!("rag_bench.py's result has no number `{key}`: {v}"))
}

/// The world BM25 is timed on, written once per configuration to the data cache.
fn bench_world(ctx: &Context, cfg: &BenchRagConfig) -> Result<PathBuf> {
    let dir = ctx
        .data_cache
        .join("worlds")
        .join(format!("bench_{}_seed{}", cfg.world_docs, cfg.world_seed));
    if !dir.join("questions.jsonl").is_file() {
        let t = Instant::now();
        World::generate(&WorldConfig::with_documents(cfg.world_seed, cfg.world_docs))?
            .write_beir(&dir)
            .with_context(|| format!("writing the bench world to {}", dir.display()))?;
        eprintln!(
            "bench-rag: world of {} documents written to {} in {:.1} s",
            cfg.world_docs,
            dir.display(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(dir)
}

/// Our BM25 on `collection`: (build seconds, queries per second).
fn time_bm25(cfg: &BenchRagConfig, c: &Collection) -> Result<(f64, f64)> {
    let t = Instant::now();
    let index = Bm25Index::build(
        cfg.bm25.clone(),
        c.docs
            .iter()
            .map(|d| (d.id.clone(), format!("{} {}", d.title, d.text))),
    )?;
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut hits = 0usize;
    for q in &c.queries {
        hits += index.top_k(&q.text, cfg.k).len();
    }
    let query_s = t.elapsed().as_secs_f64();
    ensure!(hits > 0, "no query found any document");
    Ok((build_s, c.queries.len() as f64 / query_s.max(1e-9)))
}

/// Times everything, prints the comparison, records it.
pub fn bench_rag(ctx: &Context, python: Option<&Path>, rounds: Option<usize>) -> Result<()> {
    let (cfg, raw): (BenchRagConfig, toml::Value) = ctx.load_config(PHASE, "bench_rag")?;
    let rounds = rounds.unwrap_or(cfg.rounds);
    ensure!(rounds > 0, "bench_rag: `rounds` must be at least 1");
    let script = ctx.root.join("crates/phase3-rag/scripts/rag_bench.py");
    if python.is_some() && !script.is_file() {
        bail!("{} is missing", script.display());
    }

    // Created first, so the record names the commit (and tree state) the timed code was built from.
    let mut rec = RunWriter::create(ctx, MILESTONE, RUN, &raw, 0)?;
    let world_dir = bench_world(ctx, &cfg)?;
    let world = Collection::load(&world_dir)?;
    let cisi_dir = find_collection(ctx, &cfg.minilm_collection)?;
    let mut docs: Vec<String> = Collection::load(&cisi_dir)?
        .docs
        .iter()
        .map(|d| format!("{} {}", d.title, d.text))
        .collect();
    if cfg.minilm_limit > 0 {
        docs.truncate(cfg.minilm_limit);
    }
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let mut model = MiniLm::load(&model_dir(&ctx.root, &ctx.data_cache)?)?;
    model.set_threads(cfg.threads);
    let lens: Vec<usize> = model.tokenize(&refs)?.iter().map(Vec::len).collect();
    let mean_tokens = lens.iter().sum::<usize>() as f64 / lens.len().max(1) as f64;
    model.encode_all(&refs[..refs.len().min(32)], cfg.batch_size)?; // warm-up, as theirs

    let mut ours = Side::default();
    let mut theirs = python.map(|_| Side::default());
    let mut numba = (python.is_some() && cfg.bm25s_numba).then(Side::default);
    let mut versions: Vec<(String, String)> = Vec::new();
    let bar = ctx.progress((rounds * 2) as u64, "bench-rag");
    for _ in 0..rounds {
        let (build_s, qps) = time_bm25(&cfg, &world)?;
        ours.bm25_build_s.push(build_s);
        ours.bm25_queries_per_s.push(qps);
        if let Some(py) = python {
            let backends = [theirs.as_mut(), numba.as_mut()];
            for (backend, side) in ["numpy", "numba"].into_iter().zip(backends) {
                let Some(side) = side else { continue };
                let v = python_json(
                    py,
                    &script,
                    &[
                        "bm25".into(),
                        "--beir".into(),
                        world_dir.display().to_string(),
                        "--k".into(),
                        cfg.k.to_string(),
                        "--threads".into(),
                        "1".into(),
                        "--repeats".into(),
                        "1".into(),
                        "--backend".into(),
                        backend.into(),
                    ],
                )?;
                side.bm25_build_s.push(field(&v, "build_s")?);
                side.bm25_queries_per_s.push(field(&v, "queries_per_s")?);
                for key in ["bm25s_version", "python_version"] {
                    if let Some(s) = v[key].as_str() {
                        versions.push((key.into(), s.into()));
                    }
                }
            }
        }
        bar.inc(1);
        let t = Instant::now();
        let vectors = model.encode_all(&refs, cfg.batch_size)?;
        ours.minilm_docs_per_s
            .push(vectors.len() as f64 / t.elapsed().as_secs_f64());
        if let (Some(py), Some(side)) = (python, theirs.as_mut()) {
            let mut args: Vec<String> = [
                "minilm",
                "--beir",
                &cisi_dir.display().to_string(),
                "--model",
                &model_dir(&ctx.root, &ctx.data_cache)?.display().to_string(),
                "--threads",
                &cfg.threads.to_string(),
                "--batch-size",
                &cfg.batch_size.to_string(),
            ]
            .map(String::from)
            .to_vec();
            if cfg.minilm_limit > 0 {
                args.extend(["--limit".into(), cfg.minilm_limit.to_string()]);
            }
            let v = python_json(py, &script, &args)?;
            side.minilm_docs_per_s.push(field(&v, "docs_per_s")?);
            for key in [
                "torch_version",
                "sentence_transformers_version",
                "transformers_version",
            ] {
                if let Some(s) = v[key].as_str() {
                    versions.push((key.into(), s.into()));
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    versions.sort();
    versions.dedup();

    let result = BenchResult {
        world_docs: world.docs.len(),
        world_queries: world.queries.len(),
        k: cfg.k,
        minilm_docs: refs.len(),
        minilm_mean_tokens: mean_tokens,
        ours,
        python: theirs,
        bm25s_numba: numba,
        python_versions: versions,
    };
    rec.summaries(&summary(&result))?;
    rec.artifact("bench", &result)?;
    rec.finish()?;
    println!("{}", table(&result).markdown());
    println!("{}", one_line(&result));
    Ok(())
}

/// The record's headline numbers: medians per side, and ours ÷ theirs (for a time, theirs ÷ ours,
/// so above 1 always means ours is faster).
fn summary(r: &BenchResult) -> BenchSummary {
    let ours = &r.ours;
    let (py, numba) = (r.python.as_ref(), r.bm25s_numba.as_ref());
    let sides = |pick: Pick| Sides {
        ours: median(pick(ours)),
        python: py.map(|p| median(pick(p))),
        bm25s_numba: numba.map(|p| median(pick(p))),
    };
    // Times: theirs ÷ ours; rates: ours ÷ theirs.
    let build = |p: &Side| median(&p.bm25_build_s) / median(&ours.bm25_build_s);
    let query = |p: &Side| median(&ours.bm25_queries_per_s) / median(&p.bm25_queries_per_s);
    BenchSummary {
        bm25_build_s: sides(|s| &s.bm25_build_s),
        bm25_queries_per_s: sides(|s| &s.bm25_queries_per_s),
        minilm_docs_per_s: Sides {
            // bm25s times BM25 only.
            bm25s_numba: None,
            ..sides(|s| &s.minilm_docs_per_s)
        },
        bm25_build_speedup: py.map(build),
        bm25_query_speedup: py.map(query),
        minilm_speedup: py.map(|p| median(&ours.minilm_docs_per_s) / median(&p.minilm_docs_per_s)),
        bm25_build_speedup_numba: numba.map(build),
        bm25_query_speedup_numba: numba.map(query),
    }
}

/// Which of a [`Side`]'s measurements a table row shows.
type Pick = fn(&Side) -> &Vec<f64>;

/// The comparison as a table: one row per measurement, medians, ratio.
pub fn table(r: &BenchResult) -> viz::table::Table {
    let mut t = viz::table::Table::new(&["measurement", "ours", "Python", "ours ÷ Python (speed)"]);
    let build = format!("BM25 index build, {} documents, 1 thread (s)", r.world_docs);
    let queries = format!(
        "BM25 queries/s, {} queries, top {}, 1 thread",
        r.world_queries, r.k
    );
    let minilm = format!(
        "MiniLM documents/s, {} CISI documents ({:.0} tokens each on average), 2 threads",
        r.minilm_docs, r.minilm_mean_tokens
    );
    let numba = r.bm25s_numba.as_ref();
    let py = r.python.as_ref();
    let rows: [(&String, Pick, bool, &str, Option<&Side>); 5] = [
        (
            &build,
            |s| &s.bm25_build_s,
            true,
            "bm25s, numpy backend (its default)",
            py,
        ),
        (
            &build,
            |s| &s.bm25_build_s,
            true,
            "bm25s, numba backend",
            numba,
        ),
        (
            &queries,
            |s| &s.bm25_queries_per_s,
            false,
            "bm25s, numpy backend (its default)",
            py,
        ),
        (
            &queries,
            |s| &s.bm25_queries_per_s,
            false,
            "bm25s, numba backend",
            numba,
        ),
        (
            &minilm,
            |s| &s.minilm_docs_per_s,
            false,
            "sentence-transformers",
            py,
        ),
    ];
    for (what, get, is_time, who, side) in rows {
        let ours = median(get(&r.ours));
        if get(&r.ours).is_empty() || (side.is_none() && who.contains("numba")) {
            continue;
        }
        let (theirs, ratio) = match side {
            Some(p) => {
                let v = median(get(p));
                let ratio = if is_time { v / ours } else { ours / v };
                (format!("{v:.3} ({who})"), format!("{ratio:.2}×"))
            }
            None => ("–".into(), "–".into()),
        };
        t.push(vec![what.clone(), format!("{ours:.3}"), theirs, ratio]);
    }
    t
}

fn one_line(r: &BenchResult) -> String {
    let s = summary(r);
    match (
        s.minilm_speedup,
        s.bm25_build_speedup,
        s.bm25_query_speedup,
        s.minilm_docs_per_s.python,
    ) {
        (Some(m), Some(build), Some(query), Some(theirs)) => format!(
            "bench-rag: BM25 build {build:.2}× and queries {query:.2}× bm25s's speed (numpy backend; numba: {}); MiniLM {m:.2}× sentence-transformers' ({:.1} vs {theirs:.1} documents/s)",
            match (s.bm25_build_speedup_numba, s.bm25_query_speedup_numba) {
                (Some(b), Some(q)) => format!("{b:.2}× and {q:.2}×"),
                _ => "not run".into(),
            },
            s.minilm_docs_per_s.ours,
        ),
        _ => format!(
            "bench-rag: BM25 build {:.2} s, {:.0} queries/s; MiniLM {:.1} documents/s (no Python given)",
            s.bm25_build_s.ours, s.bm25_queries_per_s.ours, s.minilm_docs_per_s.ours
        ),
    }
}

/// The recorded bench, if it was run.
pub fn load(ctx: &Context) -> Option<(Record, BenchResult)> {
    let rec = Record::load(ctx, MILESTONE, RUN).ok()?;
    let r = rec.artifact("bench").ok()?;
    Some((rec, r))
}
