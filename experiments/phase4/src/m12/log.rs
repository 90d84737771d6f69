//! m12's log entry: the prose is `templates/m12_eval.md`, filled with the numbers computed here.

use std::collections::BTreeMap;

use anyhow::Result;
use phase3_rag::world::{Question, QuestionKind};
use serde::Serialize;
use stats::{Judged, Verdict};
use viz::claims::{p_value, reading};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::Record;
use viz::template::render_block;
use viz::Context;

use phase4_agents::react::Episode;

use super::cost::{self, CostFinding, FIG_COST};
use super::failures::{self, FailureFinding, FIG_FAILURES};
use super::tables::{
    dev_values, effort_table, misses_table, seeds_values, success_table, tests_table, DevValues,
    SeedsValues,
};
use super::{
    kinds_and_all, load, of_kind, record, suite_by_id, BySystem, Eval, EvalConfig, Outcome, System,
    Trace, EVAL, FIG_SUCCESS,
};
use crate::m10::kind_name;

/// Two systems on the same tasks.
pub(super) struct Paired {
    /// Tasks each got right, and of how many.
    pub(super) a: usize,
    pub(super) b: usize,
    pub(super) n: usize,
    /// Tasks only one of them got right (the discordant pairs).
    pub(super) only_a: usize,
    pub(super) only_b: usize,
    /// McNemar's exact test on the discordant pairs.
    pub(super) p: f64,
}

pub(super) fn paired(a: &[&Outcome], b: &[&Outcome]) -> Paired {
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

/// The Question's comparison: the search agent against the best non-agent baseline (each chosen on
/// the dev suite before the test suite ran) over all tasks.
fn primary(e: &Eval) -> (System, System, Option<QuestionKind>) {
    (e.agent(), e.baseline(), None)
}

/// One pair of systems on one task kind (`None`: all tasks), as the log reads it.
pub(crate) struct TestRow {
    pub(super) a: System,
    pub(super) b: System,
    pub(super) kind: Option<QuestionKind>,
    pub(super) t: Paired,
    pub(super) judged: Judged,
}

/// Every paired comparison the log makes — each pair of systems on each task kind and on all
/// tasks, McNemar's exact test. The primary comparison ([`primary`]: the search agent against the
/// dev suite's best baseline, over all tasks) is read alone; the others are one exploratory
/// family, "m12 pairs", read after Holm's correction. One policy, trained once: the tests cover
/// the sampling of tasks, not retraining.
pub(crate) struct Tests {
    pub(super) rows: Vec<TestRow>,
    /// The primary comparison: A, B and the kind (None: all tasks).
    primary: (System, System, Option<QuestionKind>),
}

impl Tests {
    pub(crate) fn of(e: &Eval) -> Tests {
        let (cfg, all) = (&e.cfg, &e.all);
        let primary = primary(e);
        let mut rows: Vec<(System, System, Option<QuestionKind>, Paired)> = Vec::new();
        let pairs = comparison_pairs(all, e.agent(), e.baseline())
            .into_iter()
            .filter(|&(a, b)| !(e.tuned_is_rag() && [a, b].contains(&System::RagTuned)));
        for (a, b) in pairs {
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
            |r: &(System, System, Option<QuestionKind>, Paired)| (r.0, r.1, r.2) == primary;
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
        Tests { rows, primary }
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

/// The success figure's title: the search agent against the best baseline in the log's verdicts
/// (McNemar's exact test; all tasks read alone, the kinds after Holm's correction) — the overall
/// verdict with both rates, then the kinds whose verdict differs from it; shorter names, and then
/// no kinds, until the title fits a line.
pub(crate) fn success_title(e: &Eval) -> Option<String> {
    let tests = Tests::of(e);
    let (a, b, _) = tests.primary;
    let overall = tests.get(a, b, None)?;
    let verb = |v: Verdict| match v {
        Verdict::Better => "beats",
        Verdict::Worse => "trails",
        Verdict::Tied => "ties with",
    };
    // The kinds that read otherwise than all tasks, grouped by verdict ("tied on single-hop").
    let exceptions: String = [Verdict::Better, Verdict::Worse, Verdict::Tied]
        .into_iter()
        .filter(|&v| v != overall.judged.verdict)
        .filter_map(|v| {
            let kinds: Vec<&str> = e
                .cfg
                .kinds
                .iter()
                .filter_map(|&k| tests.get(a, b, Some(k)))
                .filter(|r| r.judged.verdict == v)
                .filter_map(|r| r.kind.map(kind_name))
                .collect();
            (!kinds.is_empty()).then(|| format!(", {} on {}", v.word(), kinds.join(" and ")))
        })
        .collect();
    let rates = format!(
        "{:.1} vs {:.1} %",
        100.0 * overall.t.a as f64 / overall.t.n.max(1) as f64,
        100.0 * overall.t.b as f64 / overall.t.n.max(1) as f64
    );
    let verb = verb(overall.judged.verdict);
    let candidates: Vec<String> = [exceptions.as_str(), ""]
        .into_iter()
        .flat_map(|rest| {
            [
                (a.label(), b.label()),
                (a.short_label(), b.label()),
                (a.short_label(), b.short_label()),
            ]
            .map(|(x, y)| capitalised(&format!("{x} {verb} {y}: {rates}{rest}")))
        })
        .collect();
    candidates
        .iter()
        .find(|t| t.chars().count() <= TITLE_CHARS)
        .or(candidates.last())
        .cloned()
}

/// `text` with its first letter in upper case.
pub(super) fn capitalised(text: &str) -> String {
    let mut c = text.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The README's line: the search agent against the best baseline on all tasks, then per kind, each
/// with the verdict the log gives it.
pub(crate) fn headline(ctx: &Context, e: &Eval) -> Option<String> {
    let cfg = &e.cfg;
    let tests = Tests::of(e);
    let baseline = e.baseline();
    let mut parts = Vec::new();
    let mut kinds = kinds_and_all(cfg);
    kinds.rotate_right(1); // all tasks first
    for k in kinds {
        let r = tests.get(e.agent(), baseline, k)?;
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
        &serde_json::json!({
            "parts": parts,
            "baseline": baseline.label(),
            "agent": e.agent().label(),
            "rag_reads_one": baseline == System::Rag && cfg.rag_k == 1,
            "dev": e.dev.is_some(),
            "seeds": super::seeds::runs(ctx, e).ok().flatten().map(|r| seeds_values(&r, e)),
        }),
    ))
}

/// `p = 0.070` or `p < 0.001`, and how it was read.
fn p_text(row: &TestRow) -> String {
    format!("p {}; {}", p_value(row.t.p), reading(&row.judged))
}

pub(super) fn pct(c: usize, n: usize) -> String {
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
            Trace::Read { .. } | Trace::TwoStep { .. } => return None,
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
    retry_temperature: String,
    workers: String,
    provenance: String,
    systems_table: String,
    effort_table: String,
    tests_table: String,
    misses_table: String,
    /// The best non-agent baseline's name and the agent put forward, and how the dev suite chose
    /// them.
    baseline: String,
    agent: String,
    dev: Option<DevValues>,
    /// The dev suite chose `rag_k` for every kind: the tuned RAG is single-shot RAG.
    tuned_is_rag: bool,
    main: Option<PrimaryComparison>,
    /// The main comparison over policy training seeds (`cargo xtask policy-seeds`).
    seeds: Option<SeedsValues>,
    /// Constrained decoding as the lever, when the constrained agent is the one put forward.
    lever: Option<Lever>,
    /// The main comparison again on a fresh suite (`cargo xtask policy-seeds`), read alone.
    fresh: Option<KindRow>,
    /// Per kind, the first task the free agent missed and the constrained one got right, and the
    /// first the constrained one missed: both transcripts.
    before_after: Vec<BeforeAfter>,
    multi_hop: Option<MultiHop>,
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

/// The same policy decoding freely: against the baseline, and against itself constrained.
#[derive(Serialize)]
struct Lever {
    free: String,
    /// The free agent against the baseline, after the family's correction.
    free_verdict: Verdict,
    only_constrained: String,
    only_free: String,
}

/// One task's transcripts, free and constrained.
#[derive(Serialize)]
struct BeforeAfter {
    kind: String,
    gold: String,
    /// The constrained agent got it right (and the free one wrong); false: the constrained one
    /// missed it.
    fixed: bool,
    free: String,
    constrained: String,
}

/// The search agent against the best baseline over all tasks, read alone.
#[derive(Serialize)]
struct PrimaryComparison {
    verdict: Verdict,
    agent: String,
    baseline: String,
    baseline_pct: String,
    only_agent: String,
    only_baseline: String,
    p: String,
    /// The kinds the baseline answered none of.
    baseline_zero: Vec<String>,
    /// The kind the baseline does best on, agent against baseline there.
    best_kind: Option<KindRow>,
    /// The tasks in phrasings the policy never trained on (a subgroup, uncorrected).
    held_out: Option<KindRow>,
}

/// Two systems on a subset of the tasks.
#[derive(Serialize)]
struct KindRow {
    name: String,
    agent: String,
    baseline: String,
    only_agent: String,
    only_baseline: String,
    /// McNemar's exact p, uncorrected.
    p: String,
    verdict: Verdict,
    /// How it was read (the family's correction), when it is one of the tests table's rows.
    reading: Option<String>,
}

/// The search-only agent against the best baseline on multi-hop tasks.
#[derive(Serialize)]
struct MultiHop {
    /// The agent against the baseline, after the family's correction.
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

/// Single-hop, shown only when the baseline significantly beats the agent.
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

/// The paired comparisons the log makes, of the systems that ran: the search agent (the dev suite's
/// choice) against every non-agent system, constrained against free decoding, each tuned RAG
/// against single-shot RAG, RAG against closed book, and the ablation and the team against the
/// search agent and the baseline.
fn comparison_pairs(all: &BySystem, agent: System, baseline: System) -> Vec<(System, System)> {
    use super::System::*;
    let mut pairs = vec![(agent, baseline)];
    for p in [
        (ReactSearchConstrained, ReactSearch),
        (ReactSearch, baseline),
        (agent, Rag),
        (agent, RagTuned),
        (agent, RagTwoStep),
        (RagTuned, Rag),
        (RagTwoStep, Rag),
        (Rag, ClosedBook),
        (agent, ClosedBook),
        (ReactLookup, ReactSearch),
        (Team, agent),
        (Team, baseline),
    ] {
        if !pairs.contains(&p) {
            pairs.push(p);
        }
    }
    pairs
        .into_iter()
        .filter(|(a, b)| all.iter().any(|(s, _)| s == a) && all.iter().any(|(s, _)| s == b))
        .collect()
}

/// A system's outcomes (one that ran).
fn outcomes_of(all: &BySystem, s: System) -> &[Outcome] {
    &all.iter().find(|(x, _)| *x == s).expect("filtered").1
}

/// The search-only agent (r) against the baseline (g) on one kind, when both ran on it.
fn agent_vs_baseline<'a>(
    e: &'a Eval,
    tests: &'a Tests,
    k: QuestionKind,
) -> Option<(Vec<&'a Outcome>, Vec<&'a Outcome>, &'a TestRow)> {
    let row = tests.get(e.agent(), e.baseline(), Some(k))?;
    Some((
        of_kind(outcomes_of(&e.all, e.agent()), Some(k)),
        of_kind(outcomes_of(&e.all, e.baseline()), Some(k)),
        row,
    ))
}

/// The primary comparison: the search agent against the best baseline over all tasks.
fn primary_comparison(e: &Eval, tests: &Tests) -> Option<PrimaryComparison> {
    let (a, b, kind) = tests.primary;
    let row = tests.get(a, b, kind)?;
    let t = &row.t;
    Some(PrimaryComparison {
        verdict: row.judged.verdict,
        agent: pct(t.a, t.n),
        baseline: e.baseline().label().to_string(),
        baseline_pct: pct(t.b, t.n),
        only_agent: t.only_a.to_string(),
        only_baseline: t.only_b.to_string(),
        p: p_text(row),
        baseline_zero: e
            .cfg
            .kinds
            .iter()
            .filter_map(|&k| tests.get(a, b, Some(k)))
            .filter(|r| r.t.b == 0 && r.t.n > 0)
            .filter_map(|r| r.kind.map(|k| kind_name(k).to_string()))
            .collect(),
        best_kind: e
            .cfg
            .kinds
            .iter()
            .filter_map(|&k| tests.get(a, b, Some(k)))
            .max_by_key(|r| r.t.b)
            .map(|r| KindRow {
                name: r.kind.map_or("all", kind_name).to_string(),
                agent: pct(r.t.a, r.t.n),
                baseline: pct(r.t.b, r.t.n),
                only_agent: r.t.only_a.to_string(),
                only_baseline: r.t.only_b.to_string(),
                p: p_value(r.t.p),
                verdict: r.judged.verdict,
                reading: Some(reading(&r.judged)),
            }),
        held_out: held_out_phrasings(e, a, b),
    })
}

/// Agent against baseline on the tasks whose phrasing the policy never trained on: a subgroup the
/// log reports beside the primary comparison, tested alone and uncorrected.
fn held_out_phrasings(e: &Eval, a: System, b: System) -> Option<KindRow> {
    let held = |s: System| -> Vec<&Outcome> {
        outcomes_of(&e.all, s)
            .iter()
            .filter(|o| o.held_out_phrasing)
            .collect()
    };
    let (x, y) = (held(a), held(b));
    if x.is_empty() {
        return None;
    }
    let t = paired(&x, &y);
    Some(alone_row(
        format!("{} tasks in held-out phrasings", t.n),
        &t,
    ))
}

/// Agent against baseline on tasks outside the tests table, McNemar's exact test read alone.
fn alone_row(name: String, t: &Paired) -> KindRow {
    let diff = (t.a as f64 - t.b as f64) / t.n.max(1) as f64;
    KindRow {
        name,
        agent: pct(t.a, t.n),
        baseline: pct(t.b, t.n),
        only_agent: t.only_a.to_string(),
        only_baseline: t.only_b.to_string(),
        p: p_value(t.p),
        verdict: stats::judge_primary(diff, t.p).verdict,
        reading: None,
    }
}

/// The main comparison on the fresh suite: McNemar's exact test, read alone (it repeats the
/// primary comparison on tasks drawn after the design was fixed).
fn fresh_row(f: &super::seeds::SeedRun) -> KindRow {
    let a: Vec<&Outcome> = f.agent.iter().collect();
    let b: Vec<&Outcome> = f.baseline.iter().collect();
    let t = paired(&a, &b);
    alone_row(format!("{} tasks (seed {})", t.n, f.seed), &t)
}

/// Constrained decoding against free decoding over all tasks, when the constrained agent is the
/// one the dev suite put forward.
fn lever(e: &Eval, tests: &Tests) -> Option<Lever> {
    use super::System::{ReactSearch, ReactSearchConstrained};
    if e.agent() != ReactSearchConstrained {
        return None;
    }
    let free = tests.get(ReactSearch, e.baseline(), None)?;
    let pair = tests.get(ReactSearchConstrained, ReactSearch, None)?;
    Some(Lever {
        free: pct(free.t.a, free.t.n),
        free_verdict: free.judged.verdict,
        only_constrained: pair.t.only_a.to_string(),
        only_free: pair.t.only_b.to_string(),
    })
}

/// For each kind, a task constrained decoding fixed and one it did not, as the two agents wrote them.
fn before_after(e: &Eval) -> Vec<BeforeAfter> {
    use super::System::{ReactSearch, ReactSearchConstrained};
    if !e.all.iter().any(|(s, _)| *s == ReactSearchConstrained)
        || !e.all.iter().any(|(s, _)| *s == ReactSearch)
    {
        return Vec::new();
    }
    let free = outcomes_of(&e.all, ReactSearch);
    let constrained = outcomes_of(&e.all, ReactSearchConstrained);
    let transcript = |o: &Outcome| match &o.trace {
        Trace::Agent(ep) => ep.transcript(),
        _ => String::new(),
    };
    let mut out = Vec::new();
    for &kind in &e.cfg.kinds {
        let pairs = || {
            free.iter()
                .zip(constrained)
                .filter(move |(f, _)| f.kind == kind)
        };
        let fixed = pairs().find(|(f, c)| !f.correct && c.correct);
        let missed = pairs().find(|(_, c)| !c.correct);
        for (pair, fixed) in [(fixed, true), (missed, false)] {
            let Some((f, c)) = pair else { continue };
            out.push(BeforeAfter {
                kind: kind_name(kind).to_string(),
                gold: c.gold.clone(),
                fixed,
                free: transcript(f),
                constrained: transcript(c),
            });
        }
    }
    out
}

/// The documents a read (or both reads) put in the prompt.
fn read_documents(trace: &Trace) -> Option<&[String]> {
    match trace {
        Trace::Read { documents, .. } | Trace::TwoStep { documents, .. } => Some(documents),
        Trace::Agent(_) | Trace::Team(_) => None,
    }
}

/// Multi-hop: the agent against the baseline, and how often the baseline's prompt held the second
/// hop's document.
fn multi_hop(e: &Eval, tests: &Tests, suite: &BTreeMap<String, Question>) -> Option<MultiHop> {
    let (r, g, row) = agent_vs_baseline(e, tests, QuestionKind::MultiHop)?;
    let t = &row.t;
    let reach = g
        .iter()
        .filter(|o| {
            let (Some(documents), Some(q)) = (read_documents(&o.trace), suite.get(&o.id)) else {
                return false;
            };
            q.chain
                .get(1)
                .is_some_and(|h| documents.contains(&h.doc_id))
        })
        .count();
    Some(MultiHop {
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

/// Single-hop: the agent reads the same kind of document the baseline does; where it loses, why
/// (shown only when the family's corrected test calls the agent worse).
fn single_hop(e: &Eval, tests: &Tests, suite: &BTreeMap<String, Question>) -> Option<SingleHop> {
    let (r, g, row) = agent_vs_baseline(e, tests, QuestionKind::Lookup)?;
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
        .filter(|r| r.kind.is_none() && !r.judged.primary)
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

fn eval_values(ctx: &Context, rec: &Record, e: &Eval) -> Result<EvalValues> {
    let (cfg, all) = (&e.cfg, &e.all);
    let timings: BTreeMap<String, serde_json::Value> = rec.artifact("timings")?;
    let tests = Tests::of(e);
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
        retry_temperature: cfg.retry_temperature.to_string(),
        workers: cfg.workers.to_string(),
        provenance: rec.provenance(),
        effort_table: effort_table(all, &timings)
            .markdown()
            .trim_end()
            .to_string(),
        systems_table: success_table(e).markdown().trim_end().to_string(),
        tests_table: tests_table(&tests).markdown().trim_end().to_string(),
        misses_table: misses_table(cfg, all, &suite)
            .markdown()
            .trim_end()
            .to_string(),
        baseline: e.baseline().label().to_string(),
        agent: e.agent().label().to_string(),
        dev: dev_values(e),
        tuned_is_rag: e.tuned_is_rag(),
        main: primary_comparison(e, &tests),
        seeds: super::seeds::runs(ctx, e)?.map(|runs| seeds_values(&runs, e)),
        lever: lever(e, &tests),
        before_after: before_after(e),
        fresh: super::seeds::fresh(ctx, e)?.as_ref().map(fresh_row),
        multi_hop: multi_hop(e, &tests, &suite),
        single_hop: single_hop(e, &tests, &suite),
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
    let e = load(&rec)?;
    let values = eval_values(ctx, &rec, &e)?;
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
