//! m11 — a multi-agent team: a planner, solvers and a verifier ([`phase4_agents::team`]) played by m10's
//! policy, talking only over the message bus; run on held-out tasks with every message recorded.
//!
//! The architecture figure is drawn from the messages the runs actually sent (who wrote to whom,
//! what, how often) and the tools the solvers actually called; the log shows one run as a sequence
//! diagram. m12 evaluates the same team against the other systems.
//!
//! Records: `records/m11/team/` — every run's messages, plan, solver episodes and verdicts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Result};
use openai_client::ClientConfig;
use phase3_rag::reader::exact_match;
use phase3_rag::world::{Question, QuestionKind, Split, World};
use serde::{Deserialize, Serialize};
use viz::diagram::Diagram;
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::entity::Entity;
use viz::plot::{DiagramFigure, FigureSpec, LineChart, Marker, Series};
use viz::record::{Record, RunWriter};
use viz::table::Table;
use viz::template::render_block;
use viz::Context;

use super::m10::{self, held_out_phrasing, kind_name, reader_world, tasks};
use phase4_agents::backend::{par_map, Models};
use phase4_agents::team::{self, Kind, TeamConfig, TeamRun};
use phase4_agents::tools::{names, Corpus, Toolset};

use crate::records::TeamSummary;

pub const TEAM: &str = "m11_team";
pub const MILESTONE: &str = "m11";
const RECORD: &str = "team";
const FIG_ARCH: &str = "m11_multi_agent_architecture.png";
const FIG_VERIFIER: &str = "m11_verifier.png";

/// `configs/phase4/m11_team.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamExperiment {
    pub seed: u64,
    pub kinds: Vec<QuestionKind>,
    /// Held-out tasks per kind.
    pub tasks: usize,
    pub search_k: usize,
    /// The solvers' sampling temperature when an answer is sent back.
    pub retry_temperature: f64,
    pub workers: usize,
    /// The kind whose run the log shows as a sequence diagram.
    pub trace_kind: QuestionKind,
    pub team: TeamConfig,
    /// Any OpenAI-compatible model instead of our policy, for every role.
    #[serde(default)]
    pub openai: Option<ClientConfig>,
}

/// One task through the team.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TeamOutcome {
    pub id: String,
    pub kind: QuestionKind,
    pub held_out_phrasing: bool,
    pub question: String,
    pub gold: String,
    pub correct: bool,
    /// Whether the first attempt's answer was right (before any send-back).
    pub first_correct: bool,
    pub run: TeamRun,
}

/// How sure the verifier was on a run's first check: `log p(" yes") − log p(" no")` for the first
/// attempt's answer (from the model's own scores, when the backend can score).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerifierScore {
    pub id: String,
    pub first_correct: bool,
    pub margin: f64,
}

/// The area under the ROC curve of `margin` separating right answers from wrong ones: the chance
/// that a right answer's margin beats a wrong one's (ties count half); None without both.
pub fn auc(scores: &[VerifierScore]) -> Option<f64> {
    let right: Vec<f64> = scores
        .iter()
        .filter(|s| s.first_correct)
        .map(|s| s.margin)
        .collect();
    let wrong: Vec<f64> = scores
        .iter()
        .filter(|s| !s.first_correct)
        .map(|s| s.margin)
        .collect();
    if right.is_empty() || wrong.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for r in &right {
        for w in &wrong {
            wins += if r > w {
                1.0
            } else if r == w {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (right.len() * wrong.len()) as f64)
}

/// The ROC curve of `margin` as a test for a right answer: (share of wrong answers accepted,
/// share of right ones accepted) as the threshold falls through every distinct margin, from (0, 0)
/// to (1, 1); None without both right and wrong answers.
pub fn roc(scores: &[VerifierScore]) -> Option<Vec<(f64, f64)>> {
    let right = scores.iter().filter(|s| s.first_correct).count();
    let wrong = scores.len() - right;
    if right == 0 || wrong == 0 {
        return None;
    }
    let mut sorted: Vec<&VerifierScore> = scores.iter().collect();
    sorted.sort_by(|a, b| b.margin.total_cmp(&a.margin));
    let mut pts = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0, 0);
    for (i, s) in sorted.iter().enumerate() {
        if s.first_correct {
            tp += 1;
        } else {
            fp += 1;
        }
        // Tied margins pass the threshold together: one point for the lot.
        if sorted.get(i + 1).is_none_or(|n| n.margin != s.margin) {
            pts.push((fp as f64 / wrong as f64, tp as f64 / right as f64));
        }
    }
    Some(pts)
}

/// The area under a curve by the trapezoid rule.
pub fn trapezoid(pts: &[(f64, f64)]) -> f64 {
    pts.windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}

/// What the verifier's own threshold (log-odds 0: yes as likely as no) accepts: (right, wrong).
fn accepted_at_zero(scores: &[VerifierScore]) -> (usize, usize) {
    let at = |right: bool| {
        scores
            .iter()
            .filter(|s| s.first_correct == right && s.margin > 0.0)
            .count()
    };
    (at(true), at(false))
}

/// The verifier's ROC on its first checks, with the chance diagonal and its own threshold marked.
fn verifier_figure(scores: &[VerifierScore]) -> Option<FigureSpec> {
    let curve = roc(scores)?;
    let area = trapezoid(&curve);
    let right = scores.iter().filter(|s| s.first_correct).count();
    let wrong = scores.len() - right;
    let (tp, fp) = accepted_at_zero(scores);
    let chart = LineChart::new(
        if area < 0.6 {
            format!("The verifier's log-odds rank right answers near chance: AUC {area:.2}")
        } else {
            format!("The verifier's log-odds rank right above wrong: AUC {area:.2}")
        },
        format!("wrong first answers accepted (share of {wrong})"),
        format!("right first answers accepted (share of {right})"),
    )
    .x_range(0.0, 1.0)
    .y_range(0.0, 1.0)
    .series(
        Series::new(
            format!("verifier's log p(yes) − log p(no), AUC {area:.2} (trapezoid)"),
            curve,
        )
        .entity(Entity::Verifier),
    )
    .series(Series::new("chance (AUC 0.5)", vec![(0.0, 0.0), (1.0, 1.0)]).entity(Entity::Chance))
    .series(
        Series::new(
            format!("its threshold, log-odds 0: accepts {tp} right, {fp} wrong"),
            vec![(fp as f64 / wrong as f64, tp as f64 / right as f64)],
        )
        .entity(Entity::Threshold)
        .points(Marker::Diamond),
    );
    Some(FigureSpec::new(FIG_VERIFIER, chart))
}

/// Runs `tasks` through the team, `workers` at a time, each with its own models and tools.
#[allow(clippy::too_many_arguments)]
pub fn run_team(
    tasks: &[Question],
    models: &Models,
    corpus: &Arc<Corpus>,
    world: &Arc<World>,
    search_k: usize,
    cfg: &TeamConfig,
    temperature: f64,
    workers: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<TeamOutcome>> {
    par_map(
        tasks,
        workers,
        models,
        temperature,
        &|lm, retry, q: &Question| {
            let mut tools = Toolset::Search.build(corpus, world, search_k);
            let run = team::run(lm, retry, &mut tools, &q.text, cfg, 0);
            let right =
                |a: &Option<String>| a.as_deref().is_some_and(|a| exact_match(a, &q.answer));
            TeamOutcome {
                id: q.id.clone(),
                kind: q.kind,
                held_out_phrasing: held_out_phrasing(q),
                question: q.text.clone(),
                gold: q.answer.clone(),
                correct: right(&run.answer),
                first_correct: right(&run.first_answer),
                run,
            }
        },
        tick,
    )
}

/// The world m8's reader read, its documents indexed for `search`, and the model behind every
/// role: m10's policy, or `openai`'s.
pub fn world_and_models(
    ctx: &Context,
    openai: Option<ClientConfig>,
) -> Result<(Arc<World>, Arc<Corpus>, Models)> {
    let (world, _) = reader_world(ctx)?;
    let world = Arc::new(world);
    let corpus = Arc::new(Corpus::of(&world)?);
    let models = Models::load(&phase2_lm::checkpoint::dir_for(ctx, m10::POLICY), openai)?;
    Ok((world, corpus, models))
}

pub fn run_experiment(ctx: &Context) -> Result<String> {
    let (cfg, raw): (TeamExperiment, toml::Value) = ctx.load_config(super::PHASE, TEAM)?;
    ensure!(
        !cfg.kinds.is_empty() && cfg.tasks >= 1,
        "{TEAM}: `kinds` and `tasks` must not be empty"
    );
    ensure!(
        cfg.team.max_sub_questions >= 1 && cfg.team.plan_tokens >= 1,
        "{TEAM}: `team.max_sub_questions` and `team.plan_tokens` must be at least 1"
    );
    let (world, corpus, models) = world_and_models(ctx, cfg.openai.clone())?;
    let suite = tasks(&world, &cfg.kinds, cfg.tasks, cfg.seed, "team-", &|q| {
        q.split == Split::HeldOut
    });
    let mut rec = RunWriter::create(ctx, MILESTONE, RECORD, &raw, cfg.seed)?;
    let bar = ctx.progress(suite.len() as u64, "m11 team");
    let t0 = Instant::now();
    let outcomes = run_team(
        &suite,
        &models,
        &corpus,
        &world,
        cfg.search_k,
        &cfg.team,
        cfg.retry_temperature,
        cfg.workers,
        &|| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let wall = t0.elapsed().as_secs_f64();
    let correct = outcomes.iter().filter(|o| o.correct).count();
    rec.summaries(&TeamSummary {
        success: correct as f64 / outcomes.len().max(1) as f64,
        sent_back: outcomes.iter().filter(|o| o.run.sent_back).count() as u64,
    })?;
    rec.artifact("outcomes", &outcomes)?;
    // The verifier's margins on its first checks, scored by the same model.
    let (mut lm, _) = models.pair(0.0)?;
    let mut scores = Vec::new();
    for o in outcomes.iter().filter(|o| o.run.first_answer.is_some()) {
        let Some(check) = o.run.messages.iter().find(|m| m.kind == Kind::Check) else {
            continue;
        };
        let yes = lm.score(&check.text, team::verdict_text(true).trim_end())?;
        let no = lm.score(&check.text, team::verdict_text(false).trim_end())?;
        if let (Some(y), Some(n)) = (yes, no) {
            scores.push(VerifierScore {
                id: o.id.clone(),
                first_correct: o.first_correct,
                margin: y.logprob() - n.logprob(),
            });
        }
    }
    rec.artifact("verifier_scores", &scores)?;
    let latencies: Vec<&Vec<f64>> = outcomes.iter().map(|o| &o.run.latencies_ms).collect();
    rec.artifact(
        "timings",
        &serde_json::json!({ "wall_s": wall, "model_call_ms": latencies }),
    )?;
    rec.finish()?;
    Ok(format!(
        "team ({}) answered {correct} of {} held-out tasks",
        models.name(),
        outcomes.len()
    ))
}

fn record(ctx: &Context) -> Option<Record> {
    Record::load(ctx, MILESTONE, RECORD).ok()
}

fn node_id(agent: &str) -> String {
    agent.replace('-', "_")
}

/// An agent's box in the architecture: the solvers (one per sub-question) share one.
fn role_of(agent: &str) -> &str {
    if agent.starts_with("solver-") {
        "solvers"
    } else {
        agent
    }
}

/// The team's wiring as the runs used it: each role writes to the bus (top row), the bus delivers
/// to each role (bottom row); each box says which messages, and how many, took that way. Below the
/// solvers, the tools they called.
pub fn architecture(outcomes: &[TeamOutcome]) -> Diagram {
    type Counts = BTreeMap<String, BTreeMap<Kind, usize>>;
    let (mut wrote, mut read): (Counts, Counts) = Default::default();
    let mut solvers: BTreeMap<String, usize> = BTreeMap::new();
    // Per tool (None: no well-formed action), its calls that worked and those that failed.
    let mut tools: BTreeMap<Option<String>, (usize, usize)> = BTreeMap::new();
    let mut messages = 0;
    for o in outcomes {
        for m in &o.run.messages {
            messages += 1;
            *wrote
                .entry(role_of(&m.from).into())
                .or_default()
                .entry(m.kind)
                .or_default() += 1;
            *read
                .entry(role_of(&m.to).into())
                .or_default()
                .entry(m.kind)
                .or_default() += 1;
            if m.to.starts_with("solver-") {
                *solvers.entry(m.to.clone()).or_default() += 1;
            }
        }
        for ep in &o.run.episodes {
            for s in &ep.steps {
                let calls = tools
                    .entry(s.action.as_ref().map(|a| a.tool.clone()))
                    .or_default();
                if s.error {
                    calls.1 += 1;
                } else {
                    calls.0 += 1;
                }
            }
        }
    }
    let list = |kinds: &BTreeMap<Kind, usize>| -> String {
        kinds
            .iter()
            .map(|(k, n)| format!("{} ×{n}", k.label()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let name = |role: &str| -> String {
        if role == "solvers" {
            format!(
                "solvers ({})",
                solvers.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        } else {
            role.to_string()
        }
    };
    let mut d = Diagram::new().node(
        "bus",
        &format!(
            "message bus: {messages} messages in {} runs, every one recorded",
            outcomes.len()
        ),
    );
    // In the order a task flows: user, planner, solvers, verifier.
    let rank = |r: &str| {
        ["user", "planner", "solvers", "verifier"]
            .iter()
            .position(|x| *x == r)
    };
    let order = |c: &Counts| {
        let mut v: Vec<(String, BTreeMap<Kind, usize>)> =
            c.iter().map(|(r, k)| (r.clone(), k.clone())).collect();
        v.sort_by_key(|(r, _)| rank(r));
        v
    };
    for (role, kinds) in &order(&wrote) {
        let id = format!("{role}_out");
        d = d
            .node(&id, &format!("{} writes: {}", name(role), list(kinds)))
            .edge(&id, "bus", None);
    }
    for (role, kinds) in &order(&read) {
        let id = format!("{role}_in");
        d = d
            .node(&id, &format!("{} reads: {}", name(role), list(kinds)))
            .edge("bus", &id, None);
    }
    if !tools.is_empty() && read.contains_key("solvers") {
        d = tool_calls(d, &tools);
    }
    d
}

/// Below the solvers, the calls no tool could take and each tool they called (in m10's loop
/// order), every edge counting the calls by outcome; the observations (errors included) go back
/// into the solvers' loops, counted in the box they end in (a back edge would cross the row above).
fn tool_calls(mut d: Diagram, tools: &BTreeMap<Option<String>, (usize, usize)>) -> Diagram {
    let order = [
        None,
        Some(names::SEARCH),
        Some(names::CALC),
        Some(names::FINISH),
    ];
    let rank = |t: &Option<String>| {
        order
            .iter()
            .position(|o| o.as_deref() == t.as_deref())
            .unwrap_or(order.len())
    };
    let mut sorted: Vec<(&Option<String>, &(usize, usize))> = tools.iter().collect();
    sorted.sort_by_key(|(t, _)| rank(t));
    let mut observed = 0;
    for (tool, &(ok, failed)) in sorted {
        match tool {
            Some(t) => {
                let id = format!("tool_{}", node_id(t));
                d = d.node(&id, &format!("{t}[…]")).edge(
                    "solvers_in",
                    &id,
                    Some(&format!("{ok} ok, {failed} failed")),
                );
                // A finish that worked ends the solver's loop; anything else is observed.
                let back = if t == names::FINISH {
                    failed
                } else {
                    ok + failed
                };
                observed += back;
                if back > 0 {
                    d = d.edge(&id, "observe", Some(&back.to_string()));
                }
            }
            None => {
                // No well-formed action is always an error.
                let calls = ok + failed;
                observed += calls;
                d = d
                    .node_in(
                        "malformed",
                        "malformed: no well-formed action",
                        Entity::Plain,
                    )
                    .edge("solvers_in", "malformed", Some(&format!("{calls} failed")))
                    .edge("malformed", "observe", Some(&calls.to_string()));
            }
        }
    }
    if observed == 0 {
        return d;
    }
    d.node(
        "observe",
        &format!(
            "observation (or error) appended to the solver's transcript, then its next turn: ×{observed}"
        ),
    )
}

/// One run as a Mermaid sequence diagram: every message in order (long texts cut).
pub fn sequence(o: &TeamOutcome) -> String {
    let mut s = String::from("```mermaid\nsequenceDiagram\n");
    let mut seen: Vec<&str> = Vec::new();
    for m in &o.run.messages {
        for a in [m.from.as_str(), m.to.as_str()] {
            if !seen.contains(&a) {
                seen.push(a);
            }
        }
    }
    for a in &seen {
        s.push_str(&format!("    participant {}\n", node_id(a)));
    }
    for m in &o.run.messages {
        let text = match m.kind {
            // The check carries the whole verifier prompt: show its answer line.
            Kind::Check => m
                .text
                .lines()
                .find_map(|l| l.strip_prefix("Answer: "))
                .map(|a| {
                    format!(
                        "is `{a}` right? ({} evidence lines)",
                        m.text.lines().count() - 3
                    )
                })
                .unwrap_or_default(),
            _ => m.text.clone(),
        };
        let text: String = text
            .replace([';', '#', '\n'], " ")
            .chars()
            .take(90)
            .collect();
        s.push_str(&format!(
            "    {}->>{}: {}: {}\n",
            node_id(&m.from),
            node_id(&m.to),
            m.kind.label(),
            if text.is_empty() {
                "(none)".into()
            } else {
                text
            }
        ));
    }
    s.push_str("```\n");
    s
}

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let outcomes: Vec<TeamOutcome> = rec.artifact("outcomes")?;
    let mut out = vec![FigureSpec::new(
        FIG_ARCH,
        DiagramFigure {
            title: format!(
                "The team as wired in {} runs: agents write to and read from the bus only",
                outcomes.len()
            ),
            diagram: architecture(&outcomes),
        },
    )];
    let scores: Vec<VerifierScore> = rec.artifact("verifier_scores").unwrap_or_default();
    out.extend(verifier_figure(&scores));
    Ok(out)
}

fn pct(c: usize, n: usize) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * c as f64 / n as f64)
    }
}

const TEMPLATE: &str = include_str!("../templates/m11_team.md");

/// What `templates/m11_team.md` needs, numbers already formatted.
#[derive(Serialize)]
struct TeamValues {
    max_sub_questions: String,
    search_k: String,
    max_steps: String,
    retry_temperature: String,
    tasks: String,
    seed: String,
    provenance: String,
    table: String,
    shown: Option<ShownRun>,
    accepted: String,
    accepted_right: String,
    rejected: String,
    rejected_wrong: String,
    margins: Option<Margins>,
    roc: Option<Roc>,
    fixed: String,
    broken: String,
    overall: Option<Overall>,
}

/// The run the log shows message by message.
#[derive(Serialize)]
struct ShownRun {
    id: String,
    kind: String,
    gold: String,
    answer: Option<String>,
    sequence: String,
    plan: Vec<String>,
    transcripts: Vec<String>,
}

/// The verifier's own log-odds on its first checks.
#[derive(Serialize)]
struct Margins {
    right: String,
    wrong: String,
    auc: String,
    /// `indistinct` (AUC under 0.6), `rejects_both` (right answers' mean below 0), or `ranks`.
    verdict: &'static str,
}

/// The verifier's ROC figure: how many first checks it was drawn from, and what the verifier's own
/// threshold accepts.
#[derive(Serialize)]
struct Roc {
    scored: String,
    right: String,
    wrong: String,
    auc: String,
    accepted_right: String,
    accepted_wrong: String,
}

fn roc_values(scores: &[VerifierScore]) -> Option<Roc> {
    let area = trapezoid(&roc(scores)?);
    let right = scores.iter().filter(|s| s.first_correct).count();
    let (tp, fp) = accepted_at_zero(scores);
    Some(Roc {
        scored: scores.len().to_string(),
        right: right.to_string(),
        wrong: (scores.len() - right).to_string(),
        auc: format!("{area:.2}"),
        accepted_right: tp.to_string(),
        accepted_wrong: fp.to_string(),
    })
}

#[derive(Serialize)]
struct Overall {
    runs: String,
    success: String,
}

/// Success and effort per task kind, and over all.
fn kind_table(cfg: &TeamExperiment, outcomes: &[TeamOutcome]) -> String {
    let mut table = Table::new(&[
        "task kind",
        "success (Wilson 95 %)",
        "first attempt right",
        "sent back",
        "plans of the right length",
        "mean model calls",
        "mean messages",
    ]);
    let mut kinds: Vec<Option<QuestionKind>> = cfg.kinds.iter().copied().map(Some).collect();
    kinds.push(None);
    for k in kinds {
        let of: Vec<&TeamOutcome> = outcomes
            .iter()
            .filter(|o| k.is_none_or(|k| o.kind == k))
            .collect();
        let n = of.len();
        let c = of.iter().filter(|o| o.correct).count();
        let stats::Interval { low: lo, high: hi } = stats::wilson(c, n, 0.95);
        let want = |kind: QuestionKind| match kind {
            QuestionKind::Lookup => 1,
            QuestionKind::MultiHop => 2,
            _ => 3,
        };
        table.push(vec![
            k.map_or("all".into(), |k| kind_name(k).to_string()),
            format!("{} ({:.1}–{:.1} %)", pct(c, n), 100.0 * lo, 100.0 * hi),
            pct(of.iter().filter(|o| o.first_correct).count(), n),
            of.iter().filter(|o| o.run.sent_back).count().to_string(),
            pct(
                of.iter()
                    .filter(|o| o.run.plan.len() == want(o.kind))
                    .count(),
                n,
            ),
            format!(
                "{:.1}",
                of.iter().map(|o| o.run.model_calls()).sum::<usize>() as f64 / n.max(1) as f64
            ),
            format!(
                "{:.1}",
                of.iter().map(|o| o.run.messages.len()).sum::<usize>() as f64 / n.max(1) as f64
            ),
        ]);
    }
    table.markdown()
}

/// The run shown: the first of the trace kind that was sent back (the whole protocol), else the
/// first of that kind.
fn shown_run(cfg: &TeamExperiment, outcomes: &[TeamOutcome]) -> Option<ShownRun> {
    let of_kind = || outcomes.iter().filter(|o| o.kind == cfg.trace_kind);
    let o = of_kind()
        .find(|o| o.run.sent_back)
        .or_else(|| of_kind().next())?;
    Some(ShownRun {
        id: o.id.clone(),
        kind: kind_name(o.kind).to_string(),
        gold: o.gold.clone(),
        answer: o.run.answer.clone(),
        sequence: sequence(o),
        plan: o.run.plan.clone(),
        transcripts: o.run.episodes.iter().map(|ep| ep.transcript()).collect(),
    })
}

/// The verifier's margins on its first checks, when there are right and wrong answers to compare.
fn margins(scores: &[VerifierScore]) -> Option<Margins> {
    let mean = |right: bool| {
        let v: Vec<f64> = scores
            .iter()
            .filter(|s| s.first_correct == right)
            .map(|s| s.margin)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let (r, w, a) = (mean(true)?, mean(false)?, auc(scores)?);
    Some(Margins {
        right: format!("{r:+.2}"),
        wrong: format!("{w:+.2}"),
        auc: format!("{a:.2}"),
        verdict: if a < 0.6 {
            "indistinct"
        } else if r < 0.0 {
            "rejects_both"
        } else {
            "ranks"
        },
    })
}

fn team_values(rec: &Record, cfg: &TeamExperiment, outcomes: &[TeamOutcome]) -> TeamValues {
    // Verdicts against the truth of the first attempt's answer.
    let judged: Vec<(&TeamOutcome, bool)> = outcomes
        .iter()
        .filter_map(|o| o.run.verdicts.first().copied().flatten().map(|v| (o, v)))
        .collect();
    let accepted_right = judged.iter().filter(|(o, v)| *v && o.first_correct).count();
    let accepted = judged.iter().filter(|(_, v)| *v).count();
    let rejected_wrong = judged
        .iter()
        .filter(|(o, v)| !*v && !o.first_correct)
        .count();
    let rejected = judged.iter().filter(|(_, v)| !*v).count();
    let fixed = outcomes
        .iter()
        .filter(|o| o.run.sent_back && o.correct && !o.first_correct)
        .count();
    let broken = outcomes
        .iter()
        .filter(|o| o.run.sent_back && !o.correct && o.first_correct)
        .count();
    let n = outcomes.len();
    let scores: Vec<VerifierScore> = rec.artifact("verifier_scores").unwrap_or_default();
    TeamValues {
        max_sub_questions: cfg.team.max_sub_questions.to_string(),
        search_k: cfg.search_k.to_string(),
        max_steps: cfg.team.solver.max_steps.to_string(),
        retry_temperature: cfg.retry_temperature.to_string(),
        tasks: cfg.tasks.to_string(),
        seed: cfg.seed.to_string(),
        provenance: rec.provenance(),
        table: kind_table(cfg, outcomes),
        shown: shown_run(cfg, outcomes),
        accepted: accepted.to_string(),
        accepted_right: pct(accepted_right, accepted),
        rejected: rejected.to_string(),
        rejected_wrong: pct(rejected_wrong, rejected),
        margins: margins(&scores),
        roc: roc_values(&scores),
        fixed: fixed.to_string(),
        broken: broken.to_string(),
        overall: (n > 0).then(|| Overall {
            runs: n.to_string(),
            success: pct(outcomes.iter().filter(|o| o.correct).count(), n),
        }),
    }
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let cfg: TeamExperiment = rec.config_as()?;
    let outcomes: Vec<TeamOutcome> = rec.artifact("outcomes")?;
    let values = team_values(&rec, &cfg, &outcomes);
    let block = |name: &str| render_block("m11_team.md", TEMPLATE, name, &values);
    Ok(vec![LogEntry {
        id: TEAM.into(),
        milestone: 11,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: {
            let mut figures = vec![Figure::new(
                FIG_ARCH,
                FigureKind::PipelineDiagrams,
                block("caption_m11_multi_agent_architecture")?,
            )];
            if values.roc.is_some() {
                figures.push(Figure::new(
                    FIG_VERIFIER,
                    FigureKind::EvaluationTables,
                    block("caption_m11_verifier")?,
                ));
            }
            figures
        },
        discussion: block("discussion")?,
    }])
}

/// The milestone's headline.
pub fn headline(ctx: &Context) -> Option<String> {
    let rec = record(ctx)?;
    let summary: TeamSummary = rec.summary_as().ok()?;
    Some(format!(
        "the team answered {:.1} % of held-out tasks, every message on the record",
        100.0 * summary.success
    ))
}
