//! m9 — ablations: the reader of m8 (its checkpoint) across chunk size × k × retriever, on the same
//! held-out questions in every cell, so any two cells compare question by question (paired
//! bootstrap). End-to-end exact match per cell, and the latency of each stage: index build,
//! retrieval per question, reading per question.
//!
//! One record, `records/m9/ablation/`: per cell exact match, answer perplexity, gold-passage recall
//! and prompt tokens in the summary; every question's right/wrong per cell as an artifact; timings
//! in an artifact of their own.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::{FigureSpec, Heatmap, HeatmapGrid};
use viz::record::{Record, RunWriter};
use viz::Context;

use super::m8::ReaderConfig;
use super::PHASE;
use crate::records::{AblationSummary, CellSummary, ChunkingSummary};
use phase3_rag::asker::{answer_jobs, eval_questions, hit, mean, Asker, Condition};
use phase3_rag::beir::Collection;
use phase3_rag::reader::Passages;
use phase3_rag::retrieve::Retriever;
use phase3_rag::retrievers::RetrieverSpec;
use phase3_rag::saved::{reader_dir, READER};
use phase3_rag::world::World;
use stats::{Judged, PairedBinary, Verdict};
use viz::claims::pct;

pub const MILESTONE: &str = "m9";
/// The experiment (config `configs/phase3/m9_ablation.toml`).
pub const ABLATION: &str = "m9_ablation";
const FIG_HEATMAP: &str = "m9_ablation_heatmap.png";

/// `configs/phase3/m9_ablation.toml`. The world, the chunkings and the reader are m8's.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AblationConfig {
    /// Held-out questions asked in every cell (the first of m8's seeded sample).
    pub questions: usize,
    pub ks: Vec<usize>,
    /// Not read: records made before the grid was compared by McNemar's exact test name the
    /// bootstrap resamples they were compared with; kept so their configs still parse.
    #[serde(default, skip_serializing)]
    pub resamples: Option<usize>,
    /// Threads the reading is split over.
    pub threads: usize,
    pub retriever: Vec<RetrieverSpec>,
}

/// Per cell, what the record's timings artifact holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CellTimings {
    pub retrieve_ms_p50: f64,
    pub retrieve_ms_p95: f64,
    pub read_ms_p50: f64,
    pub read_ms_p95: f64,
}

fn percentile(xs: &[f64], q: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((q * v.len() as f64).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(f64::NAN)
}

fn cell(chunking: &str, retriever: &str, k: usize) -> String {
    format!("{chunking}/{retriever}@{k}")
}

pub fn run_ablation(ctx: &Context) -> Result<String> {
    let (cfg, raw): (AblationConfig, toml::Value) = ctx.load_config(PHASE, ABLATION)?;
    let (reader, _): (ReaderConfig, toml::Value) = ctx.load_config(PHASE, READER)?;
    ensure!(
        !cfg.ks.is_empty() && cfg.ks.iter().all(|&k| k >= 1),
        "m9_ablation: `ks` must list values of at least 1"
    );
    ensure!(
        cfg.threads >= 1,
        "m9_ablation: `threads` must be at least 1"
    );
    let dir = reader_dir(ctx);
    let (run, params, tokenizer) =
        phase2_lm::checkpoint::load_weights(&dir).with_context(|| {
            format!(
            "m9 reads the reader m8 trained ({}): run `cargo xtask phase3 --only {READER}` first",
            dir.display()
        )
        })?;
    let world = World::generate(&reader.world)?;
    let questions = eval_questions(&world, cfg.questions, reader.seed);
    ensure!(!questions.is_empty(), "m9: no held-out questions");
    let mut rec = RunWriter::create(ctx, MILESTONE, "ablation", &raw, reader.seed)?;
    let cells = reader.chunking.len() * cfg.retriever.len() * cfg.ks.len();
    let bar = ctx.progress(cells as u64, "m9 chunk size × k × retriever");
    let mut correct: BTreeMap<String, String> = BTreeMap::new();
    let mut timings: BTreeMap<String, CellTimings> = BTreeMap::new();
    let mut index_s: BTreeMap<String, f64> = BTreeMap::new();
    let mut best: Option<(String, f64)> = None;
    let mut summary = AblationSummary {
        questions: questions.len() as u64,
        chunkings: BTreeMap::new(),
    };
    for chunking in &reader.chunking {
        let passages = Passages::new(chunking.chunk.clone(), world.documents())?;
        let cdir = ctx
            .data_cache
            .join("worlds")
            .join(format!("m8_passages_{}", chunking.name));
        passages.write_beir(&cdir, world.questions())?;
        let collection = Collection::load(&cdir)?;
        summary.chunkings.insert(
            chunking.name.clone(),
            ChunkingSummary {
                passages: passages.passages.len() as u64,
                ..Default::default()
            },
        );
        rec.summaries(&summary)?;
        let mut built: BTreeMap<String, Rc<dyn Retriever>> = BTreeMap::new();
        for spec in &cfg.retriever {
            let t = Instant::now();
            let b = spec.build(ctx, &collection, &cdir, &built)?;
            index_s.insert(
                format!("{}/{}", chunking.name, spec.name()),
                t.elapsed().as_secs_f64(),
            );
            built.insert(spec.name().to_string(), b.retriever);
        }
        let asker = Asker::new(
            &passages,
            &built,
            1,
            cfg.ks.iter().copied().max().unwrap_or(1),
        );
        for spec in &cfg.retriever {
            for &k in &cfg.ks {
                let name = cell(&chunking.name, spec.name(), k);
                let condition = Condition {
                    name: name.clone(),
                    retrieved: Some((spec.name().to_string(), k)),
                };
                let mut unused = ChaCha8Rng::seed_from_u64(0);
                let (jobs, retrieve_ms) = asker.jobs(&condition, &questions, &mut unused)?;
                let answered = answer_jobs(
                    &run.model,
                    &params,
                    &tokenizer,
                    &jobs,
                    reader.answer_tokens,
                    cfg.threads,
                )?;
                let read_ms: Vec<f64> = answered.iter().map(|(_, ms)| *ms).collect();
                let outcomes: Vec<_> = answered.into_iter().map(|(o, _)| o).collect();
                let em = mean(outcomes.iter().map(hit));
                let this = CellSummary {
                    exact_match: em,
                    answer_perplexity: mean(outcomes.iter().map(|o| o.answer_perplexity)),
                    gold_in_context: mean(
                        outcomes
                            .iter()
                            .map(|o| f64::from(u8::from(o.gold_in_context))),
                    ),
                    prompt_tokens: mean(outcomes.iter().map(|o| o.prompt_tokens as f64)),
                };
                summary
                    .chunkings
                    .entry(chunking.name.clone())
                    .or_default()
                    .insert(spec.name(), k, this);
                rec.summaries(&summary)?;
                correct.insert(
                    name.clone(),
                    outcomes
                        .iter()
                        .map(|o| if o.correct { '1' } else { '0' })
                        .collect(),
                );
                timings.insert(
                    name.clone(),
                    CellTimings {
                        retrieve_ms_p50: percentile(&retrieve_ms, 0.5),
                        retrieve_ms_p95: percentile(&retrieve_ms, 0.95),
                        read_ms_p50: percentile(&read_ms, 0.5),
                        read_ms_p95: percentile(&read_ms, 0.95),
                    },
                );
                if best.as_ref().is_none_or(|b| em > b.1) {
                    best = Some((name, em));
                }
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    rec.artifact("correct", &correct)?;
    rec.artifact("timings", &timings)?;
    rec.artifact("index_s", &index_s)?;
    rec.finish()?;
    let (name, em) = best.context("m9: no cell")?;
    Ok(format!(
        "{cells} cells × {} questions; best {name} exact match {:.3}",
        questions.len(),
        em
    ))
}

fn record(ctx: &Context) -> Option<Record> {
    Record::load(ctx, MILESTONE, "ablation").ok()
}

/// The chunkings the cells were cut with: those of the reader m8 recorded.
fn reader_config(ctx: &Context) -> Result<ReaderConfig> {
    Record::load(ctx, phase3_rag::saved::MILESTONE, "reader")?.config_as()
}

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let cfg: AblationConfig = rec.config_as()?;
    let reader = reader_config(ctx)?;
    let summary: AblationSummary = rec.summary_as()?;
    let panels = cfg
        .retriever
        .iter()
        .map(|r| -> Result<Heatmap> {
            let matrix = reader
                .chunking
                .iter()
                .map(|c| {
                    cfg.ks
                        .iter()
                        // In %, as the cells print it and the colour bar reads.
                        .map(|&k| Ok(100.0 * summary.cell(&c.name, r.name(), k)?.exact_match))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Heatmap::new(r.name(), matrix)
                .x_ticks(cfg.ks.iter().map(|k| k.to_string()).collect())
                .y_ticks(
                    reader
                        .chunking
                        .iter()
                        .map(|c| c.name.replace('_', " "))
                        .collect(),
                )
                .labels("k (passages retrieved)", "chunking")
                .colorbar(format!("exact match (%, n = {})", summary.questions))
                .range(0.0, 100.0)
                .cell_values(1.0, 1))
        })
        .collect::<Result<Vec<_>>>()?;
    // The finding, in the words the log uses: the best cell against the others (one Holm family).
    let grid = Grid::of(&rec, &cfg, &reader)?;
    let mut panels = panels;
    panels.extend(tied_panel(&grid, &summary));
    // Two panels a row: wide enough cells to print each value.
    let cols = panels.len().min(2);
    Ok(vec![FigureSpec::new(
        FIG_HEATMAP,
        HeatmapGrid::new(heatmap_title(&grid), panels, cols),
    )])
}

/// The figure's title: the best cell against the others, with the test named as the log names it
/// (McNemar's exact test per cell, Holm over the family); a best shared by cells of equal exact
/// match says so.
fn heatmap_title(grid: &Grid) -> String {
    let worse = grid
        .others
        .iter()
        .filter(|o| o.3.verdict == Verdict::Worse)
        .count();
    let n = grid.others.len();
    match grid.equal().as_slice() {
        [] => format!(
            "Best cell {} ({:.1} %): {worse} of {n} worse, {} tied (McNemar, Holm)",
            grid.best.replace('_', " "),
            100.0 * grid.best_em,
            grid.tied().len(),
        ),
        // Shorter, to fit: the ties panel names the test in full.
        equal => format!(
            "Best cell {} = {} ({:.1} %): {worse} of {n} worse (Holm)",
            grid.best.replace('_', " "),
            equal.join(" = ").replace('_', " "),
            100.0 * grid.best_em,
        ),
    }
}

/// The cells the corrected test cannot tell from the best, the best first, as one more panel in
/// the exact-match colours (a cell a row): the grid's ties marked where the reader looks for them.
fn tied_panel(grid: &Grid, summary: &AblationSummary) -> Option<Heatmap> {
    let tied = grid.tied();
    if tied.is_empty() {
        return None;
    }
    let rows: Vec<(String, f64)> = std::iter::once((grid.best.clone(), grid.best_em))
        .chain(
            grid.others
                .iter()
                .filter(|o| o.3.verdict == Verdict::Tied)
                .map(|o| (o.0.clone(), o.1)),
        )
        .collect();
    Some(
        Heatmap::new(
            "the best and its ties (McNemar, Holm)",
            rows.iter().map(|r| vec![100.0 * r.1]).collect(),
        )
        .y_ticks(rows.iter().map(|r| r.0.replace('_', " ")).collect())
        .colorbar(format!("exact match (%, n = {})", summary.questions))
        .range(0.0, 100.0)
        .cell_values(1.0, 1),
    )
}

const TEMPLATE: &str = include_str!("../templates/m9_ablation.md");

/// One line of "one factor at a time from the best cell".
#[derive(Serialize)]
struct FactorLine {
    /// `chunking`, `retriever` or `k`.
    factor: String,
    value: String,
    best: String,
    change: String,
}

/// Two chunkings that cut the world into nearly the same passages.
#[derive(Serialize)]
struct SamePassages {
    a: String,
    b: String,
    passages_a: String,
    passages_b: String,
    pairs: String,
    widest: String,
}

/// What `templates/m9_ablation.md` is filled with.
#[derive(Serialize)]
struct AblationValues {
    chunkings: Vec<String>,
    retrievers: Vec<String>,
    ks: String,
    cells: String,
    n: String,
    provenance: String,
    exact_match_table: String,
    latency_table: String,
    max_k: String,
    best: String,
    best_em: String,
    /// Cells whose exact match equals the best's.
    equal: Vec<String>,
    worse: String,
    others: String,
    tied: Vec<String>,
    worst: String,
    worst_em: String,
    spread: String,
    factors: Vec<FactorLine>,
    same_passages: Vec<SamePassages>,
}

/// A cell's answers, right (`1`) or wrong (`0`), question by question.
fn bits(correct: &BTreeMap<String, String>, name: &str) -> Result<Vec<bool>> {
    Ok(correct
        .get(name)
        .with_context(|| format!("record has no answers for cell `{name}`"))?
        .chars()
        .map(|c| c == '1')
        .collect())
}

/// The grid read as one family ("m9 grid"): the best cell (highest exact match; among equal ones
/// the first by name) against every other cell, each McNemar's exact test on the same questions,
/// read after Holm's correction over all of them. "Best" is picked after the fact, which favours
/// finding differences: the correction is the least a reader should ask. The README's headline
/// and the log both read this one function.
struct Grid {
    best: String,
    best_em: f64,
    /// Every other cell by falling exact match: `(cell, exact match, other − best, reading)`.
    others: Vec<(String, f64, PairedBinary, Judged)>,
    /// Every cell's answers, right (`1`) or wrong, question by question (the record's artifact).
    correct: BTreeMap<String, String>,
}

impl Grid {
    fn of(rec: &Record, cfg: &AblationConfig, reader: &ReaderConfig) -> Result<Grid> {
        let correct: BTreeMap<String, String> = rec.artifact("correct")?;
        let summary: AblationSummary = rec.summary_as()?;
        let mut all = Vec::new();
        for c in &reader.chunking {
            for r in &cfg.retriever {
                for &k in &cfg.ks {
                    let em = summary.cell(&c.name, r.name(), k)?.exact_match;
                    all.push((cell(&c.name, r.name(), k), em));
                }
            }
        }
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let (best, best_em) = all.first().cloned().context("m9 record: no cells")?;
        let best_bits = bits(&correct, &best)?;
        let tests: Vec<PairedBinary> = all[1..]
            .iter()
            .map(|(name, _)| stats::paired_binary(&bits(&correct, name)?, &best_bits))
            .collect::<Result<_>>()?;
        let judged = stats::judge_family(
            &tests
                .iter()
                .map(|t| (t.difference, t.test.p))
                .collect::<Vec<_>>(),
        );
        let others = all[1..]
            .iter()
            .zip(tests)
            .zip(judged)
            .map(|(((name, em), t), j)| (name.clone(), *em, t, j))
            .collect();
        Ok(Grid {
            best,
            best_em,
            others,
            correct,
        })
    }

    /// The cells whose exact match equals the best's: the best is theirs as much as its own
    /// (it was picked first by name).
    fn equal(&self) -> Vec<&str> {
        self.others
            .iter()
            .filter(|o| o.1 == self.best_em)
            .map(|o| o.0.as_str())
            .collect()
    }

    /// The cells the corrected test cannot tell from the best.
    fn tied(&self) -> Vec<&str> {
        self.others
            .iter()
            .filter(|o| o.3.verdict == Verdict::Tied)
            .map(|o| o.0.as_str())
            .collect()
    }

    /// `other − best` in words.
    fn change(&self, other: &str) -> Result<String> {
        let (_, _, t, j) = self
            .others
            .iter()
            .find(|o| o.0 == other)
            .with_context(|| format!("m9 grid has no cell `{other}`"))?;
        Ok(viz::claims::paired_binary(t, j, "questions"))
    }
}

/// The exact-match table and the latency table.
struct Tables {
    exact_match: viz::table::Table,
    latency: viz::table::Table,
}

/// The tables of the results, from the record.
fn tables(
    rec: &Record,
    summary: &AblationSummary,
    cfg: &AblationConfig,
    reader: &ReaderConfig,
) -> Result<Tables> {
    let timings: BTreeMap<String, CellTimings> = rec.artifact("timings")?;
    let index_s: BTreeMap<String, f64> = rec.artifact("index_s")?;
    let mut headers = vec!["chunking".to_string(), "retriever".to_string()];
    headers.extend(cfg.ks.iter().map(|k| format!("k = {k}")));
    headers.push("prompt tokens (k = max)".into());
    let hdr: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut table = viz::table::Table::new(&hdr);
    let mut lat = viz::table::Table::new(&[
        "chunking",
        "retriever",
        "index build (s)",
        "retrieve p50 / p95 (ms)",
        "read p50 / p95 (ms)",
    ]);
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    for c in &reader.chunking {
        for r in &cfg.retriever {
            let mut row = vec![c.name.replace('_', " "), r.name().to_string()];
            for &k in &cfg.ks {
                row.push(pct(summary.cell(&c.name, r.name(), k)?.exact_match));
            }
            row.push(format!(
                "{:.0}",
                summary.cell(&c.name, r.name(), max_k)?.prompt_tokens
            ));
            table.push(row);
            let t = timings
                .get(&cell(&c.name, r.name(), max_k))
                .cloned()
                .unwrap_or_default();
            let fused = matches!(r, RetrieverSpec::Hybrid { .. });
            lat.push(vec![
                c.name.replace('_', " "),
                r.name().to_string(),
                if fused {
                    "– (its inputs')".into()
                } else {
                    format!(
                        "{:.2}",
                        index_s
                            .get(&format!("{}/{}", c.name, r.name()))
                            .copied()
                            .unwrap_or(f64::NAN)
                    )
                },
                format!("{:.2} / {:.2}", t.retrieve_ms_p50, t.retrieve_ms_p95),
                format!("{:.0} / {:.0}", t.read_ms_p50, t.read_ms_p95),
            ]);
        }
    }
    Ok(Tables {
        exact_match: table,
        latency: lat,
    })
}

/// Per factor: the best cell against the same cell with one factor changed (other − best), as
/// the grid's family reads it.
fn factor_lines(
    grid: &Grid,
    cfg: &AblationConfig,
    reader: &ReaderConfig,
) -> Result<Vec<FactorLine>> {
    let best = grid.best.as_str();
    let parts: Vec<&str> = best.splitn(2, '/').collect();
    let (bc, rest) = (parts[0], parts.get(1).copied().unwrap_or(""));
    let (br, bk) = rest.rsplit_once('@').unwrap_or((rest, "1"));
    let change = |other: &str| grid.change(other);
    let mut factors = Vec::new();
    for c in reader.chunking.iter().filter(|c| c.name != bc) {
        let other = format!("{}/{br}@{bk}", c.name);
        factors.push(FactorLine {
            factor: "chunking".into(),
            value: c.name.replace('_', " "),
            best: bc.replace('_', " "),
            change: change(&other)?,
        });
    }
    for r in cfg.retriever.iter().filter(|r| r.name() != br) {
        let other = format!("{bc}/{}@{bk}", r.name());
        factors.push(FactorLine {
            factor: "retriever".into(),
            value: r.name().to_string(),
            best: br.to_string(),
            change: change(&other)?,
        });
    }
    for k in cfg.ks.iter().filter(|k| k.to_string() != bk) {
        let other = format!("{bc}/{br}@{k}");
        factors.push(FactorLine {
            factor: "k".into(),
            value: k.to_string(),
            best: bk.to_string(),
            change: change(&other)?,
        });
    }
    Ok(factors)
}

/// Chunkings that cut the world into (nearly) the same passages are one level of the factor, not
/// two: each such pair, with the widest exact-match gap between their paired cells.
fn same_passages(
    summary: &AblationSummary,
    correct: &BTreeMap<String, String>,
    cfg: &AblationConfig,
    reader: &ReaderConfig,
) -> Result<Vec<SamePassages>> {
    let passages = |c: &str| summary.passages(c);
    let mut out = Vec::new();
    for (i, a) in reader.chunking.iter().enumerate() {
        for b in &reader.chunking[i + 1..] {
            if let (Some(pa), Some(pb)) = (passages(&a.name), passages(&b.name)) {
                if pa.abs_diff(pb) as f64 <= 0.01 * pa.max(pb) as f64 {
                    let pairs: Vec<(String, String)> = cfg
                        .retriever
                        .iter()
                        .flat_map(|r| {
                            cfg.ks.iter().map(move |&k| {
                                (cell(&a.name, r.name(), k), cell(&b.name, r.name(), k))
                            })
                        })
                        .collect();
                    let mut widest: f64 = 0.0;
                    for (x, y) in &pairs {
                        let (bx, by) = (bits(correct, x)?, bits(correct, y)?);
                        let em = |v: &[bool]| {
                            v.iter().filter(|&&b| b).count() as f64 / v.len().max(1) as f64
                        };
                        widest = widest.max((em(&bx) - em(&by)).abs());
                    }
                    out.push(SamePassages {
                        a: a.name.clone(),
                        b: b.name.clone(),
                        passages_a: pa.to_string(),
                        passages_b: pb.to_string(),
                        pairs: pairs.len().to_string(),
                        widest: format!("{:.1}", 100.0 * widest),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Everything the template needs, computed from the record.
fn ablation_values(
    rec: &Record,
    cfg: &AblationConfig,
    reader: &ReaderConfig,
) -> Result<AblationValues> {
    let summary: AblationSummary = rec.summary_as()?;
    let n = summary.questions;
    let Tables {
        exact_match: table,
        latency: lat,
        ..
    } = tables(rec, &summary, cfg, reader)?;
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let grid = Grid::of(rec, cfg, reader)?;
    let tied = grid.tied();
    let (worst, worst_em, _, _) = grid.others.last().context("m9 record: one cell only")?;
    let factors = factor_lines(&grid, cfg, reader)?;
    Ok(AblationValues {
        chunkings: reader.chunking.iter().map(|c| c.name.clone()).collect(),
        retrievers: cfg.retriever.iter().map(|r| r.name().to_string()).collect(),
        ks: format!("{:?}", cfg.ks),
        cells: (grid.others.len() + 1).to_string(),
        n: n.to_string(),
        provenance: rec.provenance(),
        exact_match_table: table.markdown(),
        latency_table: lat.markdown(),
        max_k: max_k.to_string(),
        best: grid.best.replace('_', " "),
        best_em: pct(grid.best_em),
        equal: grid.equal().iter().map(|e| e.replace('_', " ")).collect(),
        worse: (grid.others.len() - tied.len()).to_string(),
        others: grid.others.len().to_string(),
        tied: tied.iter().map(|t| t.replace('_', " ")).collect(),
        worst: worst.replace('_', " "),
        worst_em: pct(*worst_em),
        spread: grid.change(worst)?,
        factors,
        same_passages: same_passages(&summary, &grid.correct, cfg, reader)?,
    })
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let cfg: AblationConfig = rec.config_as()?;
    let reader = reader_config(ctx)?;
    let values = ablation_values(&rec, &cfg, &reader)?;
    let part =
        |block: &str| viz::template::render_block("m9_ablation.md", TEMPLATE, block, &values);
    Ok(vec![LogEntry {
        id: "m9_ablation".into(),
        milestone: 9,
        title: part("title")?,
        takeaway: part("takeaway")?,
        question: part("question")?,
        setup: part("setup")?,
        results: part("results")?,
        details: part("details")?,
        figures: vec![Figure::new(
            FIG_HEATMAP,
            FigureKind::EvaluationTables,
            part("caption_m9_ablation_heatmap")?,
        )],
        discussion: part("discussion")?,
    }])
}

/// The milestone's headline: the best cell and how many cells the corrected test cannot tell from
/// it (the same [`Grid`] the log reads).
pub fn headline(ctx: &Context) -> Option<String> {
    let rec = record(ctx)?;
    let cfg: AblationConfig = rec.config_as().ok()?;
    let reader = reader_config(ctx).ok()?;
    let grid = Grid::of(&rec, &cfg, &reader).ok()?;
    Some(crate::headline_text(
        "m9",
        &serde_json::json!({
            "best": grid.best.to_string(),
            "best_em": format!("{:.1} %", 100.0 * grid.best_em),
            "tied": grid.tied().len(),
            "others": grid.others.len(),
        }),
    ))
}
