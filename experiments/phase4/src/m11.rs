//! m11 — a multi-agent team: a planner, solvers and a verifier ([`phase4_agents::team`]) played by m10's
//! policy, talking only over the message bus; run on held-out tasks with every message recorded.
//!
//! The architecture figure is drawn from the messages the runs actually sent (who wrote to whom,
//! what, how often) and the tools the solvers actually called; the log shows one run as a sequence
//! diagram. m12 evaluates the same team against the other systems.
//!
//! Records: `records/m11/team/` — every run's messages, plan, solver episodes and verdicts.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Result};
use openai_client::ClientConfig;
use phase3_rag::reader::exact_match;
use phase3_rag::world::{Question, QuestionKind, Split, World};
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::{DiagramFigure, FigureSpec};
use viz::record::{Record, RunWriter};
use viz::table::Table;
use viz::template::render_block;
use viz::Context;

use super::m10::{self, held_out_phrasing, kind_name, reader_world, tasks};
use phase4_agents::backend::{par_map, Models};
use phase4_agents::team::{self, Kind, TeamConfig, TeamRun};
use phase4_agents::tools::{Corpus, Toolset};

use crate::records::TeamSummary;

mod verifier;
mod wiring;
pub use verifier::{auc, auc_interval, roc, trapezoid};
use verifier::{margins, roc_values, Margins, Roc};
pub use wiring::architecture;

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
    let w = wiring::Wiring::of(&outcomes);
    let mut out = vec![FigureSpec::new(
        FIG_ARCH,
        DiagramFigure {
            title: format!(
                "{} team runs: all {} messages over the bus; {} of {} sub-questions finished",
                w.runs,
                w.messages,
                w.episodes - w.stopped,
                w.episodes
            ),
            diagram: architecture(&outcomes),
        },
    )];
    let scores: Vec<VerifierScore> = rec.artifact("verifier_scores").unwrap_or_default();
    out.extend(verifier::figure(&scores));
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
    /// Every verdict the verifier gave (first answers and retries), and how many said yes.
    verdicts: String,
    yes: String,
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
        verdicts: outcomes
            .iter()
            .map(|o| o.run.verdicts.len())
            .sum::<usize>()
            .to_string(),
        yes: outcomes
            .iter()
            .flat_map(|o| &o.run.verdicts)
            .filter(|v| **v == Some(true))
            .count()
            .to_string(),
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
    Some(crate::headline_text(
        "m11",
        &serde_json::json!({ "success": format!("{:.1} %", 100.0 * summary.success) }),
    ))
}
