//! m12's log entry: the prose is `templates/m12_eval.md`, filled with the numbers computed here.

use std::collections::BTreeMap;

use anyhow::Result;
use phase3_rag::world::{Question, QuestionKind};
use serde::Serialize;
use stats::{Judged, Verdict};
use viz::claims::{p_cell, p_value, reading};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::Record;
use viz::table::Table;
use viz::template::render_block;
use viz::Context;

use phase4_agents::react::Episode;

use super::cost::{self, CostFinding, FIG_COST};
use super::failures::{self, FailureFinding, FIG_FAILURES};
use super::{
    kinds_and_all, load, of_kind, record, suite_by_id, BySystem, EvalConfig, Outcome, System,
    Trace, EVAL, FIG_SUCCESS,
};
use crate::m10::kind_name;

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
        p: stats::sign_test(only_a, only_b).p,
    }
}

/// The Question's comparison: ReAct + search against single-shot RAG on multi-hop tasks.
pub(super) const PRIMARY: (System, System, Option<QuestionKind>) = (
    System::ReactSearch,
    System::Rag,
    Some(QuestionKind::MultiHop),
);

/// One pair of systems on one task kind (`None`: all tasks), as the log reads it.
pub(crate) struct TestRow {
    a: System,
    b: System,
    kind: Option<QuestionKind>,
    t: Paired,
    judged: Judged,
}

/// Every paired comparison the log makes — each pair of systems on each task kind and on all
/// tasks, McNemar's exact test. The primary comparison ([`PRIMARY`], named after the first results
/// were known) is read alone; the others are one exploratory family, "m12 pairs", read after
/// Holm's correction. One policy, trained once: the tests cover the sampling of tasks, not
/// retraining.
pub(crate) struct Tests {
    rows: Vec<TestRow>,
}

impl Tests {
    pub(crate) fn of(cfg: &EvalConfig, all: &BySystem) -> Tests {
        let mut rows: Vec<(System, System, Option<QuestionKind>, Paired)> = Vec::new();
        for (a, b) in comparison_pairs(all) {
            for k in kinds_and_all(cfg) {
                let t = paired(
                    &of_kind(outcomes_of(all, a), k),
                    &of_kind(outcomes_of(all, b), k),
                );
                rows.push((a, b, k, t));
            }
        }
        let diff = |t: &Paired| (t.a as f64 - t.b as f64) / t.n.max(1) as f64;
        let is_primary =
            |r: &(System, System, Option<QuestionKind>, Paired)| (r.0, r.1, r.2) == PRIMARY;
        let family: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| !is_primary(r))
            .map(|r| (diff(&r.3), r.3.p))
            .collect();
        let mut judged_family = stats::judge_family(&family).into_iter();
        let rows = rows
            .into_iter()
            .map(|r| {
                let judged = if is_primary(&r) {
                    stats::judge_primary(diff(&r.3), r.3.p)
                } else {
                    judged_family.next().expect("one per family member")
                };
                TestRow {
                    a: r.0,
                    b: r.1,
                    kind: r.2,
                    t: r.3,
                    judged,
                }
            })
            .collect();
        Tests { rows }
    }

    fn get(&self, a: System, b: System, kind: Option<QuestionKind>) -> Option<&TestRow> {
        self.rows
            .iter()
            .find(|r| r.a == a && r.b == b && r.kind == kind)
    }

    /// `a` against `b` on `kind` as the log reads it, whichever way round the log tested them;
    /// None when it did not.
    pub(crate) fn verdict(
        &self,
        a: System,
        b: System,
        kind: Option<QuestionKind>,
    ) -> Option<Verdict> {
        if let Some(r) = self.get(a, b, kind) {
            return Some(r.judged.verdict);
        }
        self.get(b, a, kind).map(|r| match r.judged.verdict {
            Verdict::Better => Verdict::Worse,
            Verdict::Worse => Verdict::Better,
            Verdict::Tied => Verdict::Tied,
        })
    }
}

/// The longest title a chart's single title line holds at 1200 px, with a margin.
pub(super) const TITLE_CHARS: usize = 80;

/// The success figure's title: the search agent against single-shot RAG in the log's verdicts
/// (McNemar's exact test; the primary kind read alone, the rest after Holm's correction) — the kinds
/// it is better on, those it is worse on (the primary kind whatever its verdict), then all tasks;
/// single-shot RAG by its short name when its full one does not fit a title line; when even that
/// does not fit, the primary kind, the largest lead the other way, and all tasks.
pub(crate) fn success_title(cfg: &EvalConfig, all: &BySystem) -> Option<String> {
    let tests = Tests::of(cfg, all);
    let (a, b, primary) = PRIMARY;
    let overall = tests.get(a, b, None)?;
    let rows: Vec<&TestRow> = cfg
        .kinds
        .iter()
        .filter_map(|&k| tests.get(a, b, Some(k)))
        .collect();
    // The shown kinds grouped by verdict ("multi-hop and numeric better"), then all tasks.
    let parts = |shown: &[&TestRow]| {
        let mut parts: Vec<String> = [Verdict::Better, Verdict::Worse, Verdict::Tied]
            .into_iter()
            .filter_map(|v| {
                let kinds: Vec<&str> = shown
                    .iter()
                    .filter(|r| r.judged.verdict == v)
                    .filter_map(|r| r.kind.map(kind_name))
                    .collect();
                let (last, rest) = kinds.split_last()?;
                Some(if rest.is_empty() {
                    format!("{last} {}", v.word())
                } else {
                    format!("{} and {last} {}", rest.join(", "), v.word())
                })
            })
            .collect();
        parts.push(format!("all {}", overall.judged.verdict.word()));
        parts.join(", ")
    };
    let decided: Vec<&TestRow> = rows
        .iter()
        .copied()
        .filter(|r| r.judged.verdict != Verdict::Tied || r.kind == primary)
        .collect();
    let main = rows.iter().copied().find(|r| r.kind == primary)?;
    let against = rows
        .iter()
        .copied()
        .filter(|r| r.judged.verdict != Verdict::Tied && r.judged.verdict != main.judged.verdict)
        .max_by(|x, y| {
            x.judged
                .difference
                .abs()
                .total_cmp(&y.judged.difference.abs())
        });
    let mut fallback: Vec<&TestRow> = against.into_iter().chain([main]).collect();
    fallback.sort_by_key(|r| cfg.kinds.iter().position(|&k| Some(k) == r.kind));
    let candidates: Vec<String> = [&decided, &fallback]
        .into_iter()
        .flat_map(|shown| {
            [b.label(), b.short_label()]
                .map(|name| format!("{} vs {name}: {}", a.label(), parts(shown)))
        })
        .collect();
    candidates
        .iter()
        .find(|t| t.chars().count() <= TITLE_CHARS)
        .or(candidates.last())
        .cloned()
}

/// The README's line: the agent against single-shot RAG on all tasks, then per kind, each with the
/// verdict the log gives it, and the handicap RAG runs with when it reads one document.
pub(crate) fn headline(cfg: &EvalConfig, all: &BySystem) -> Option<String> {
    let tests = Tests::of(cfg, all);
    let mut parts = Vec::new();
    let mut kinds = kinds_and_all(cfg);
    kinds.rotate_right(1); // all tasks first
    for k in kinds {
        let r = tests.get(System::ReactSearch, System::Rag, k)?;
        parts.push(serde_json::json!({
            "kind": k.map_or("all tasks", kind_name),
            "agent": format!("{:.1}", 100.0 * r.t.a as f64 / r.t.n.max(1) as f64),
            "rag": format!("{:.1}", 100.0 * r.t.b as f64 / r.t.n.max(1) as f64),
            "verdict": r.judged.verdict.word(),
            "primary": r.judged.primary,
        }));
    }
    Some(crate::headline_text(
        "m12",
        &serde_json::json!({ "parts": parts, "rag_reads_one": cfg.rag_k == 1 }),
    ))
}

/// `p = 0.070` or `p < 0.001`, and how it was read.
fn p_text(row: &TestRow) -> String {
    format!("p {}; {}", p_value(row.t.p), reading(&row.judged))
}

fn pct(c: usize, n: usize) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * c as f64 / n as f64)
    }
}

/// Where a missed task stopped, from what the agent's (or the team's solvers') tools showed.
pub(super) const REASONS: [&str; 4] = [
    "never saw the first fact",
    "saw the first fact, never the second",
    "saw every fact, no answer",
    "saw every fact, wrong answer",
];

/// The misses of `outcomes`, counted by [`REASONS`]; None for a system that reads once.
pub(super) fn miss_reasons(
    outcomes: &[&Outcome],
    suite: &BTreeMap<String, Question>,
) -> Option<[usize; 4]> {
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
    /// Success against cost per system (its figure's caption).
    cost: Option<CostFinding>,
    /// Why the agents missed (its figure's caption); None when it is not drawn.
    failures: Option<FailureFinding>,
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
    /// The agent against RAG, read alone (the primary comparison).
    verdict: Verdict,
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
    saw_no_answer: String,
    never_saw: String,
}

/// Two systems over all tasks.
#[derive(Serialize)]
struct OverallPair {
    a: String,
    /// A against B after the family's correction.
    verdict: Verdict,
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
        let mut row = vec![system.label().to_string()];
        for &k in &cfg.kinds {
            let of = of_kind(os, Some(k));
            let c = of.iter().filter(|o| o.correct).count();
            let stats::Interval { low: lo, high: hi } = stats::wilson(c, of.len(), 0.95);
            row.push(format!(
                "{} ({:.0}–{:.0})",
                pct(c, of.len()),
                100.0 * lo,
                100.0 * hi
            ));
        }
        let n = os.len();
        let c = os.iter().filter(|o| o.correct).count();
        let stats::Interval { low: lo, high: hi } = stats::wilson(c, n, 0.95);
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
                .get(system.name())
                .and_then(|t| t["wall_s"].as_f64())
                .map_or("–".into(), |s| format!("{s:.0}")),
        );
        table.push(row);
    }
    table
}

/// The paired comparisons the log makes, of the systems that ran.
fn comparison_pairs(all: &BySystem) -> Vec<(System, System)> {
    use super::System::*;
    [
        (ReactSearch, Rag),
        (Rag, ClosedBook),
        (ReactSearch, ClosedBook),
        (ReactLookup, ReactSearch),
        (Team, ReactSearch),
        (Team, Rag),
    ]
    .into_iter()
    .filter(|(a, b)| all.iter().any(|(s, _)| s == a) && all.iter().any(|(s, _)| s == b))
    .collect()
}

/// A system's outcomes (one that ran).
fn outcomes_of(all: &BySystem, s: System) -> &[Outcome] {
    &all.iter().find(|(x, _)| *x == s).expect("filtered").1
}

/// Each pair on the same tasks, per kind and overall.
fn tests_table(tests: &Tests) -> Table {
    let mut table = Table::new(&[
        "comparison (A vs B)",
        "task kind",
        "A",
        "B",
        "only A right",
        "only B right",
        "McNemar p (exact)",
        "Holm p (family)",
        "A is",
    ]);
    for r in &tests.rows {
        table.push(vec![
            format!("{} vs {}", r.a.label(), r.b.label()),
            r.kind.map_or("all".into(), |k| kind_name(k).to_string()),
            pct(r.t.a, r.t.n),
            pct(r.t.b, r.t.n),
            r.t.only_a.to_string(),
            r.t.only_b.to_string(),
            p_cell(r.t.p),
            if r.judged.primary {
                "primary".into()
            } else {
                p_cell(r.judged.p_adjusted)
            },
            r.judged.verdict.word().to_string(),
        ]);
    }
    table
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
                    system.label().to_string(),
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
    all: &'a BySystem,
    tests: &'a Tests,
    k: QuestionKind,
) -> Option<(Vec<&'a Outcome>, Vec<&'a Outcome>, &'a TestRow)> {
    let row = tests.get(System::ReactSearch, System::Rag, Some(k))?;
    Some((
        of_kind(outcomes_of(all, System::ReactSearch), Some(k)),
        of_kind(outcomes_of(all, System::Rag), Some(k)),
        row,
    ))
}

/// The main comparison: the agent against RAG on multi-hop tasks.
fn main_comparison(
    all: &BySystem,
    tests: &Tests,
    suite: &BTreeMap<String, Question>,
) -> Option<MainComparison> {
    let (r, g, row) = agent_vs_rag(all, tests, QuestionKind::MultiHop)?;
    let t = &row.t;
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
        verdict: row.judged.verdict,
        agent: pct(t.a, r.len()),
        rag: pct(t.b, g.len()),
        only_agent: t.only_a.to_string(),
        only_rag: t.only_b.to_string(),
        p: p_text(row),
        reach: pct(reach, g.len()),
        misses: miss_reasons(&r, suite).map(|c| MultiHopMisses {
            missed: (r.len() - t.a).to_string(),
            never_first: c[0].to_string(),
            first_only: c[1].to_string(),
            all_no_answer: c[2].to_string(),
            all_wrong: c[3].to_string(),
        }),
    })
}

/// Single-hop: the agent reads the same kind of document RAG does; where it loses, why (shown
/// only when the family's corrected test calls the agent worse).
fn single_hop(
    all: &BySystem,
    tests: &Tests,
    suite: &BTreeMap<String, Question>,
) -> Option<SingleHop> {
    let (r, g, row) = agent_vs_rag(all, tests, QuestionKind::Lookup)?;
    let t = &row.t;
    let c = miss_reasons(&r, suite).filter(|_| row.judged.verdict == Verdict::Worse)?;
    Some(SingleHop {
        rag: pct(t.b, g.len()),
        agent: pct(t.a, r.len()),
        only_rag: t.only_b.to_string(),
        only_agent: t.only_a.to_string(),
        p: p_text(row),
        missed: (r.len() - t.a).to_string(),
        saw_wrong: c[3].to_string(),
        saw_no_answer: c[2].to_string(),
        never_saw: c[0].to_string(),
    })
}

/// Each pair over all tasks.
fn overall_pairs(tests: &Tests) -> Vec<OverallPair> {
    tests
        .rows
        .iter()
        .filter(|r| r.kind.is_none())
        .map(|r| OverallPair {
            a: r.a.label().to_string(),
            verdict: r.judged.verdict,
            b: r.b.label().to_string(),
            pct_a: pct(r.t.a, r.t.n),
            pct_b: pct(r.t.b, r.t.n),
            only_a: r.t.only_a.to_string(),
            only_b: r.t.only_b.to_string(),
            p: p_text(r),
        })
        .collect()
}

/// Which system got the most tasks of each kind right (equal counts named together; a count, not
/// a test: the tests table says which of those leads are real).
fn best_per_kind(cfg: &EvalConfig, all: &BySystem) -> Vec<BestOnKind> {
    let mut out = Vec::new();
    for &k in &cfg.kinds {
        let counts: Vec<(System, usize)> = all
            .iter()
            .map(|(s, os)| {
                (
                    *s,
                    of_kind(os, Some(k)).iter().filter(|o| o.correct).count(),
                )
            })
            .collect();
        let Some(top) = counts.iter().map(|(_, c)| *c).max() else {
            continue;
        };
        let best: Vec<String> = counts
            .iter()
            .filter(|(_, c)| *c == top)
            .map(|(s, _)| s.label().to_string())
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
    let tests = Tests::of(cfg, all);
    let suite = suite_by_id(ctx, cfg)?;
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
        tests_table: tests_table(&tests).markdown().trim_end().to_string(),
        misses_table: misses_table(cfg, all, &suite)
            .markdown()
            .trim_end()
            .to_string(),
        main: main_comparison(all, &tests, &suite),
        single_hop: single_hop(all, &tests, &suite),
        overall: overall_pairs(&tests),
        best_per_kind: best_per_kind(cfg, all),
        cost: cost::finding(&tests, all),
        failures: failures::finding(all, &suite),
    })
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let (cfg, all) = load(&rec)?;
    let values = eval_values(ctx, &rec, &cfg, &all)?;
    let block = |name: &str| render_block("m12_eval.md", TEMPLATE, name, &values);
    let mut figures = vec![
        Figure::new(
            FIG_SUCCESS,
            FigureKind::EvaluationTables,
            block("caption_m12_success_rates")?,
        )
        .key(),
        Figure::new(
            FIG_COST,
            FigureKind::EvaluationTables,
            block("caption_m12_accuracy_vs_cost")?,
        ),
    ];
    // Drawn exactly when its caption has something to state.
    if values.failures.is_some() {
        figures.push(Figure::new(
            FIG_FAILURES,
            FigureKind::EvaluationTables,
            block("caption_m12_failure_modes")?,
        ));
    }
    Ok(vec![LogEntry {
        id: EVAL.into(),
        milestone: 12,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures,
        discussion: block("discussion")?,
    }])
}
