//! m12's log entry: the prose is `templates/m12_eval.md`, filled with the numbers computed here.

use std::collections::BTreeMap;

use anyhow::Result;
use phase3_rag::stats::{mcnemar, wilson};
use phase3_rag::world::{Question, QuestionKind};
use serde::Serialize;
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::Record;
use viz::table::Table;
use viz::template::render_block;
use viz::Context;

use phase4_agents::react::Episode;

use super::{
    kinds_and_all, label, load, of_kind, record, suite, BySystem, EvalConfig, Outcome, Trace, EVAL,
    FIG_SUCCESS,
};
use crate::m10::{kind_name, reader_world};

/// Two systems on the same tasks.
struct Paired {
    /// Tasks each got right, and of how many.
    a: usize,
    b: usize,
    n: usize,
    /// Tasks only one of them got right (the discordant pairs).
    only_a: usize,
    only_b: usize,
    /// McNemar's exact test on the discordant pairs.
    p: f64,
}

fn paired(a: &[&Outcome], b: &[&Outcome]) -> Paired {
    let count = |f: &dyn Fn(&(&&Outcome, &&Outcome)) -> bool| a.iter().zip(b).filter(f).count();
    let only_a = count(&|(x, y)| x.correct && !y.correct);
    let only_b = count(&|(x, y)| !x.correct && y.correct);
    Paired {
        a: a.iter().filter(|o| o.correct).count(),
        b: b.iter().filter(|o| o.correct).count(),
        n: a.len(),
        only_a,
        only_b,
        p: mcnemar(only_a, only_b),
    }
}

fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

fn pct(c: usize, n: usize) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * c as f64 / n as f64)
    }
}

/// Where a missed task stopped, from what the agent's (or the team's solvers') tools showed.
const REASONS: [&str; 4] = [
    "never saw the first fact",
    "saw the first fact, never the second",
    "saw every fact, no answer",
    "saw every fact, wrong answer",
];

/// The misses of `outcomes`, counted by [`REASONS`]; None for a system that reads once.
fn miss_reasons(outcomes: &[&Outcome], suite: &BTreeMap<String, Question>) -> Option<[usize; 4]> {
    let mut counts = [0; 4];
    for o in outcomes.iter().filter(|o| !o.correct) {
        let episodes: Vec<&Episode> = match &o.trace {
            Trace::Agent(ep) => vec![ep],
            Trace::Team(t) => t.run.episodes.iter().collect(),
            Trace::Read { .. } => return None,
        };
        let Some(q) = suite.get(&o.id) else { continue };
        let seen = |hop: &phase3_rag::world::Hop| {
            episodes.iter().any(|ep| {
                ep.steps
                    .iter()
                    .any(|s| !s.error && s.observation.contains(&hop.sentence))
            })
        };
        let reached = q.chain.iter().take_while(|h| seen(h)).count();
        let i = match reached {
            0 => 0,
            n if n < q.chain.len() => 1,
            _ if o.answer.is_none() => 2,
            _ => 3,
        };
        counts[i] += 1;
    }
    Some(counts)
}

const TEMPLATE: &str = include_str!("../../templates/m12_eval.md");

/// What `templates/m12_eval.md` needs, numbers already formatted.
#[derive(Serialize)]
struct EvalValues {
    tasks: String,
    suite_seed: String,
    openai: Option<OpenAiModel>,
    rag_k: String,
    search_k: String,
    max_steps: String,
    workers: String,
    provenance: String,
    systems_table: String,
    tests_table: String,
    misses_table: String,
    main: Option<MainComparison>,
    single_hop: Option<SingleHop>,
    overall: Vec<OverallPair>,
    best_per_kind: Vec<BestOnKind>,
}

/// The model behind every system when it is not our policy.
#[derive(Serialize)]
struct OpenAiModel {
    model: String,
    base_url: String,
}

/// The search-only agent against single-shot RAG on multi-hop tasks.
#[derive(Serialize)]
struct MainComparison {
    /// `agent_better`, `rag_better` (each significant at 5 %), or `indistinct`.
    verdict: &'static str,
    agent: String,
    rag: String,
    only_agent: String,
    only_rag: String,
    p: String,
    /// How often RAG's one read held the second hop's document.
    reach: String,
    misses: Option<MultiHopMisses>,
}

/// Where the agent's multi-hop misses stopped ([`REASONS`]).
#[derive(Serialize)]
struct MultiHopMisses {
    missed: String,
    never_first: String,
    first_only: String,
    all_no_answer: String,
    all_wrong: String,
}

/// Single-hop, shown only when single-shot RAG significantly beats the agent.
#[derive(Serialize)]
struct SingleHop {
    rag: String,
    agent: String,
    only_rag: String,
    only_agent: String,
    p: String,
    missed: String,
    saw_wrong: String,
    never_saw: String,
}

/// Two systems over all tasks.
#[derive(Serialize)]
struct OverallPair {
    a: String,
    /// `noise` (p ≥ 0.05), `beats` or `trails`.
    relation: &'static str,
    b: String,
    pct_a: String,
    pct_b: String,
    only_a: String,
    only_b: String,
    p: String,
}

/// The systems (ties together) with the most right answers on one kind.
#[derive(Serialize)]
struct BestOnKind {
    kind: String,
    systems: Vec<String>,
    top: String,
}

/// Success per kind and overall, and effort, one row per system.
fn systems_table(
    cfg: &EvalConfig,
    all: &BySystem,
    timings: &BTreeMap<String, serde_json::Value>,
) -> Table {
    let mut table = Table::new(
        &std::iter::once("system".to_string())
            .chain(cfg.kinds.iter().map(|&k| kind_name(k).to_string()))
            .chain(
                [
                    "all (Wilson 95 %)",
                    "mean model calls",
                    "mean steps",
                    "tool errors",
                    "mean tokens",
                    "wall time (s)",
                ]
                .map(String::from),
            )
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    for (system, os) in all {
        let mut row = vec![label(system).to_string()];
        for &k in &cfg.kinds {
            let of = of_kind(os, Some(k));
            let c = of.iter().filter(|o| o.correct).count();
            let (lo, hi) = wilson(c, of.len());
            row.push(format!(
                "{} ({:.0}–{:.0})",
                pct(c, of.len()),
                100.0 * lo,
                100.0 * hi
            ));
        }
        let n = os.len();
        let c = os.iter().filter(|o| o.correct).count();
        let (lo, hi) = wilson(c, n);
        let mean = |f: &dyn Fn(&Outcome) -> usize| {
            format!(
                "{:.1}",
                os.iter().map(f).sum::<usize>() as f64 / n.max(1) as f64
            )
        };
        row.push(format!(
            "{} ({:.1}–{:.1})",
            pct(c, n),
            100.0 * lo,
            100.0 * hi
        ));
        row.push(mean(&|o| o.model_calls));
        row.push(mean(&|o| o.steps));
        row.push(os.iter().map(|o| o.tool_errors).sum::<usize>().to_string());
        row.push(mean(&|o| o.tokens));
        row.push(
            timings
                .get(system)
                .and_then(|t| t["wall_s"].as_f64())
                .map_or("–".into(), |s| format!("{s:.0}")),
        );
        table.push(row);
    }
    table
}

/// The paired comparisons the log makes, of the systems that ran.
fn comparison_pairs(all: &BySystem) -> Vec<(&'static str, &'static str)> {
    [
        ("react_search", "rag"),
        ("rag", "closed_book"),
        ("react_search", "closed_book"),
        ("react_lookup", "react_search"),
        ("team", "react_search"),
        ("team", "rag"),
    ]
    .into_iter()
    .filter(|(a, b)| all.iter().any(|(s, _)| s == a) && all.iter().any(|(s, _)| s == b))
    .collect()
}

/// A system's outcomes (one that ran).
fn outcomes_of<'a>(all: &'a BySystem, s: &str) -> &'a [Outcome] {
    &all.iter().find(|(x, _)| x == s).expect("filtered").1
}

/// Each pair on the same tasks, per kind and overall.
fn tests_table(cfg: &EvalConfig, all: &BySystem, pairs: &[(&str, &str)]) -> Table {
    let mut tests = Table::new(&[
        "comparison (A vs B)",
        "task kind",
        "A",
        "B",
        "only A right",
        "only B right",
        "McNemar (exact)",
    ]);
    for (a, b) in pairs {
        for k in kinds_and_all(cfg) {
            let (oa, ob) = (
                of_kind(outcomes_of(all, a), k),
                of_kind(outcomes_of(all, b), k),
            );
            let t = paired(&oa, &ob);
            tests.push(vec![
                format!("{} vs {}", label(a), label(b)),
                k.map_or("all".into(), |k| kind_name(k).to_string()),
                pct(t.a, t.n),
                pct(t.b, t.n),
                t.only_a.to_string(),
                t.only_b.to_string(),
                p_text(t.p),
            ]);
        }
    }
    tests
}

/// Where the agents' misses stopped along each task's chain of facts.
fn misses_table(cfg: &EvalConfig, all: &BySystem, suite: &BTreeMap<String, Question>) -> Table {
    let mut misses = Table::new(
        &["system", "task kind", "missed"]
            .into_iter()
            .chain(REASONS)
            .collect::<Vec<_>>(),
    );
    for (system, os) in all {
        for &k in &cfg.kinds {
            let of = of_kind(os, Some(k));
            if let Some(c) = miss_reasons(&of, suite) {
                let mut row = vec![
                    label(system).to_string(),
                    kind_name(k).to_string(),
                    of.iter().filter(|o| !o.correct).count().to_string(),
                ];
                row.extend(c.iter().map(usize::to_string));
                misses.push(row);
            }
        }
    }
    misses
}

/// The search-only agent (r) against single-shot RAG (g) on one kind, when both ran on it.
fn agent_vs_rag<'a>(
    cfg: &EvalConfig,
    all: &'a BySystem,
    k: QuestionKind,
) -> Option<(Vec<&'a Outcome>, Vec<&'a Outcome>, Paired)> {
    let has = |s: &str| all.iter().any(|(x, _)| x == s);
    (has("react_search") && has("rag") && cfg.kinds.contains(&k)).then(|| {
        let (r, g) = (
            of_kind(outcomes_of(all, "react_search"), Some(k)),
            of_kind(outcomes_of(all, "rag"), Some(k)),
        );
        let t = paired(&r, &g);
        (r, g, t)
    })
}

/// The main comparison: the agent against RAG on multi-hop tasks.
fn main_comparison(
    cfg: &EvalConfig,
    all: &BySystem,
    suite: &BTreeMap<String, Question>,
) -> Option<MainComparison> {
    let (r, g, t) = agent_vs_rag(cfg, all, QuestionKind::MultiHop)?;
    let Paired {
        a: cr,
        b: cg,
        only_a: only_r,
        only_b: only_g,
        p,
        ..
    } = t;
    let verdict = if cr > cg && p < 0.05 {
        "agent_better"
    } else if cg > cr && p < 0.05 {
        "rag_better"
    } else {
        "indistinct"
    };
    // RAG's reach: how often its one read held the second hop's document.
    let reach = g
        .iter()
        .filter(|o| {
            let (Trace::Read { documents, .. }, Some(q)) = (&o.trace, suite.get(&o.id)) else {
                return false;
            };
            q.chain
                .get(1)
                .is_some_and(|h| documents.contains(&h.doc_id))
        })
        .count();
    Some(MainComparison {
        verdict,
        agent: pct(cr, r.len()),
        rag: pct(cg, g.len()),
        only_agent: only_r.to_string(),
        only_rag: only_g.to_string(),
        p: p_text(p),
        reach: pct(reach, g.len()),
        misses: miss_reasons(&r, suite).map(|c| MultiHopMisses {
            missed: (r.len() - cr).to_string(),
            never_first: c[0].to_string(),
            first_only: c[1].to_string(),
            all_no_answer: c[2].to_string(),
            all_wrong: c[3].to_string(),
        }),
    })
}

/// Single-hop: the agent reads the same kind of document RAG does; where it loses, why.
fn single_hop(
    cfg: &EvalConfig,
    all: &BySystem,
    suite: &BTreeMap<String, Question>,
) -> Option<SingleHop> {
    let (r, g, t) = agent_vs_rag(cfg, all, QuestionKind::Lookup)?;
    let Paired {
        a: cr,
        b: cg,
        only_a: only_r,
        only_b: only_g,
        p,
        ..
    } = t;
    let c = miss_reasons(&r, suite).filter(|_| cg > cr && p < 0.05)?;
    Some(SingleHop {
        rag: pct(cg, g.len()),
        agent: pct(cr, r.len()),
        only_rag: only_g.to_string(),
        only_agent: only_r.to_string(),
        p: p_text(p),
        missed: (r.len() - cr).to_string(),
        saw_wrong: (c[3] + c[2]).to_string(),
        never_saw: c[0].to_string(),
    })
}

/// Each pair over all tasks.
fn overall_pairs(all: &BySystem, pairs: &[(&str, &str)]) -> Vec<OverallPair> {
    pairs
        .iter()
        .map(|(a, b)| {
            let t = paired(
                &of_kind(outcomes_of(all, a), None),
                &of_kind(outcomes_of(all, b), None),
            );
            OverallPair {
                a: label(a).to_string(),
                relation: if t.p >= 0.05 {
                    "noise"
                } else if t.a > t.b {
                    "beats"
                } else {
                    "trails"
                },
                b: label(b).to_string(),
                pct_a: pct(t.a, t.n),
                pct_b: pct(t.b, t.n),
                only_a: t.only_a.to_string(),
                only_b: t.only_b.to_string(),
                p: p_text(t.p),
            }
        })
        .collect()
}

/// Where each system is best (ties named together).
fn best_per_kind(cfg: &EvalConfig, all: &BySystem) -> Vec<BestOnKind> {
    let mut out = Vec::new();
    for &k in &cfg.kinds {
        let counts: Vec<(&String, usize)> = all
            .iter()
            .map(|(s, os)| (s, of_kind(os, Some(k)).iter().filter(|o| o.correct).count()))
            .collect();
        let Some(top) = counts.iter().map(|(_, c)| *c).max() else {
            continue;
        };
        let best: Vec<String> = counts
            .iter()
            .filter(|(_, c)| *c == top)
            .map(|(s, _)| label(s).to_string())
            .collect();
        out.push(BestOnKind {
            kind: kind_name(k).to_string(),
            systems: best,
            top: top.to_string(),
        });
    }
    out
}

fn eval_values(
    ctx: &Context,
    rec: &Record,
    cfg: &EvalConfig,
    all: &BySystem,
) -> Result<EvalValues> {
    let timings: BTreeMap<String, serde_json::Value> = rec.artifact("timings")?;
    let pairs = comparison_pairs(all);
    let (world, _) = reader_world(ctx)?;
    let suite: BTreeMap<String, Question> = suite(&world, cfg)
        .into_iter()
        .map(|q| (q.id.clone(), q))
        .collect();
    Ok(EvalValues {
        tasks: cfg.tasks.to_string(),
        suite_seed: cfg.suite_seed.to_string(),
        openai: cfg.openai.as_ref().map(|c| OpenAiModel {
            model: c.model.to_string(),
            base_url: c.base_url.to_string(),
        }),
        rag_k: cfg.rag_k.to_string(),
        search_k: cfg.search_k.to_string(),
        max_steps: cfg.agent.max_steps.to_string(),
        workers: cfg.workers.to_string(),
        provenance: rec.provenance(),
        systems_table: systems_table(cfg, all, &timings)
            .markdown()
            .trim_end()
            .to_string(),
        tests_table: tests_table(cfg, all, &pairs)
            .markdown()
            .trim_end()
            .to_string(),
        misses_table: misses_table(cfg, all, &suite)
            .markdown()
            .trim_end()
            .to_string(),
        main: main_comparison(cfg, all, &suite),
        single_hop: single_hop(cfg, all, &suite),
        overall: overall_pairs(all, &pairs),
        best_per_kind: best_per_kind(cfg, all),
    })
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let (cfg, all) = load(&rec)?;
    let values = eval_values(ctx, &rec, &cfg, &all)?;
    let block = |name: &str| render_block("m12_eval.md", TEMPLATE, name, &values);
    Ok(vec![LogEntry {
        id: EVAL.into(),
        milestone: 12,
        title: block("title")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        figures: vec![Figure::new(
            FIG_SUCCESS,
            FigureKind::EvaluationTables,
            block("caption_m12_success_rates")?,
        )
        .key()],
        discussion: block("discussion")?,
    }])
}
