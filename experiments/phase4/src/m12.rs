//! m12 — evaluation: five systems on one held-out task suite, the same model behind all of them.
//!
//! - `closed_book` — m8's reader prompt with no passages.
//! - `rag` — single-shot RAG: the `rag_k` documents BM25 ranks best for the question, read once.
//! - `react_search` — the ReAct agent with `search` (the same BM25 over the same documents), `calc`,
//!   `finish`: the main comparison with `rag` (same retriever, same model).
//! - `react_lookup` — the ablation: `lookup` (exact attributes) instead of `search`.
//! - `team` — m11's planner, solvers and verifier.
//!
//! The suite is drawn by `suite_seed` from the held-out entities, in every phrasing: any seed draws
//! a new suite; the world and the policy stay. Every system answers every task, so systems compare
//! task by task (McNemar's exact test), with Wilson intervals per kind.
//!
//! Records: `records/m12/eval/` — each system's outcome per task with its trace; wall times in
//! `timings`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, ensure, Result};
use openai_client::ClientConfig;
use phase2_lm::lm::{LanguageModel, Request};
use phase3_rag::reader::exact_match;
use phase3_rag::stats::{mcnemar, wilson};
use phase3_rag::world::{Question, QuestionKind, Split, World};
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::{Record, RunWriter};
use viz::table::Table;
use viz::Context;

use super::m10::{self, held_out_phrasing, kind_name, reader_world, tasks};
use super::m11::{self, TeamOutcome};
use phase4_agents::backend::{par_map, Models};
use phase4_agents::react::{self, AgentConfig, Episode};
use phase4_agents::team::{self, TeamConfig};
use phase4_agents::tools::{Corpus, Toolset};

pub const EVAL: &str = "m12_eval";
pub const MILESTONE: &str = "m12";
const RECORD: &str = "eval";
const FIG_SUCCESS: &str = "m12_success_rates.png";

/// The systems, in the order tables show them.
pub const SYSTEMS: &[&str] = &["closed_book", "rag", "react_search", "react_lookup", "team"];

/// `configs/phase4/m12_eval.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Draws the suite (held-out entities, every phrasing).
    pub suite_seed: u64,
    pub kinds: Vec<QuestionKind>,
    /// Tasks per kind.
    pub tasks: usize,
    /// The systems run, from [`SYSTEMS`].
    pub systems: Vec<String>,
    /// Documents one `search` returns (the agents) and one RAG prompt holds.
    pub search_k: usize,
    pub rag_k: usize,
    /// Tokens a closed-book or RAG answer may take.
    pub answer_tokens: usize,
    pub agent: AgentConfig,
    pub team: TeamConfig,
    pub retry_temperature: f64,
    pub workers: usize,
    /// Any OpenAI-compatible model instead of our policy, for every system.
    #[serde(default)]
    pub openai: Option<ClientConfig>,
}

/// How a system got its answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trace {
    /// One read: the documents in the prompt (ids) and what the model wrote.
    Read {
        documents: Vec<String>,
        output: String,
    },
    Agent(Episode),
    Team(Box<TeamOutcome>),
}

/// One system on one task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub kind: QuestionKind,
    pub held_out_phrasing: bool,
    pub gold: String,
    pub answer: Option<String>,
    pub correct: bool,
    pub model_calls: usize,
    /// Agent turns (ReAct steps; for the team, all solvers' steps).
    pub steps: usize,
    pub tool_errors: usize,
    pub tokens: usize,
    pub trace: Trace,
}

/// One read of m8's prompt over `docs` (closed book when empty); the answer is the first line.
fn read(
    lm: &mut dyn LanguageModel,
    q: &Question,
    docs: Vec<(&str, &str)>,
    answer_tokens: usize,
) -> Outcome {
    let mut docs = docs;
    // Drop the worst-ranked documents until the prompt and the answer fit the context.
    let prompt = loop {
        let lines: Vec<&str> = docs.iter().map(|(_, l)| *l).collect();
        let p = team::read_prompt(&lines, &q.text);
        match (lm.count_tokens(&p), lm.context_tokens()) {
            (Some(n), Some(c)) if n + answer_tokens > c && !docs.is_empty() => {
                docs.pop();
            }
            _ => break p,
        }
    };
    let (answer, output, tokens) = match lm.complete(&Request {
        prompt: &prompt,
        max_tokens: answer_tokens,
        stop: &["\n"],
        seed: 0,
    }) {
        Ok(c) => (
            Some(c.text.trim().to_string()).filter(|a| !a.is_empty()),
            c.text,
            c.prompt_tokens + c.completion_tokens,
        ),
        Err(e) => (None, format!("model error: {e:#}"), 0),
    };
    Outcome {
        id: q.id.clone(),
        kind: q.kind,
        held_out_phrasing: held_out_phrasing(q),
        gold: q.answer.clone(),
        correct: answer.as_deref().is_some_and(|a| exact_match(a, &q.answer)),
        answer,
        model_calls: 1,
        steps: 0,
        tool_errors: 0,
        tokens,
        trace: Trace::Read {
            documents: docs.iter().map(|(id, _)| id.to_string()).collect(),
            output,
        },
    }
}

fn agent_outcome(q: &Question, ep: Episode) -> Outcome {
    Outcome {
        id: q.id.clone(),
        kind: q.kind,
        held_out_phrasing: held_out_phrasing(q),
        gold: q.answer.clone(),
        correct: ep
            .answer
            .as_deref()
            .is_some_and(|a| exact_match(a, &q.answer)),
        answer: ep.answer.clone(),
        model_calls: ep.steps.len(),
        steps: ep.steps.len(),
        tool_errors: ep.tool_errors(),
        tokens: ep.tokens(),
        trace: Trace::Agent(ep),
    }
}

/// Every task of `suite` through `system`.
#[allow(clippy::too_many_arguments)]
pub fn run_system(
    system: &str,
    suite: &[Question],
    models: &Models,
    corpus: &Arc<Corpus>,
    world: &Arc<World>,
    cfg: &EvalConfig,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Outcome>> {
    let react_with = |toolset: Toolset| {
        par_map(
            suite,
            cfg.workers,
            models,
            cfg.retry_temperature,
            &|lm, _, q: &Question| {
                let mut tools = toolset.build(corpus, world, cfg.search_k);
                agent_outcome(q, react::run(lm, &mut tools, &q.text, &cfg.agent, 0))
            },
            tick,
        )
    };
    match system {
        "closed_book" | "rag" => {
            let k = if system == "rag" { cfg.rag_k } else { 0 };
            par_map(
                suite,
                cfg.workers,
                models,
                cfg.retry_temperature,
                &|lm, _, q: &Question| {
                    let docs = if k == 0 {
                        Vec::new()
                    } else {
                        corpus.search(&q.text, k)
                    };
                    read(lm, q, docs, cfg.answer_tokens)
                },
                tick,
            )
        }
        "react_search" => react_with(Toolset::Search),
        "react_lookup" => react_with(Toolset::Lookup),
        "team" => Ok(m11::run_team(
            suite,
            models,
            corpus,
            world,
            cfg.search_k,
            &cfg.team,
            cfg.retry_temperature,
            cfg.workers,
            tick,
        )?
        .into_iter()
        .map(|o| Outcome {
            id: o.id.clone(),
            kind: o.kind,
            held_out_phrasing: o.held_out_phrasing,
            gold: o.gold.clone(),
            answer: o.run.answer.clone(),
            correct: o.correct,
            model_calls: o.run.model_calls(),
            steps: o.run.episodes.iter().map(|e| e.steps.len()).sum(),
            tool_errors: o.run.tool_errors(),
            tokens: o.run.tokens(),
            trace: Trace::Team(Box::new(o)),
        })
        .collect()),
        other => bail!(
            "{EVAL}: unknown system `{other}`; the systems are {}",
            SYSTEMS.join(", ")
        ),
    }
}

/// The suite of `cfg`: `tasks` per kind about held-out entities, drawn by `suite_seed`.
pub fn suite(world: &World, cfg: &EvalConfig) -> Vec<Question> {
    tasks(world, &cfg.kinds, cfg.tasks, cfg.suite_seed, "m12-", &|q| {
        q.split == Split::HeldOut
    })
}

pub fn run_eval(ctx: &Context) -> Result<String> {
    let (cfg, raw): (EvalConfig, toml::Value) = ctx.load_config(super::PHASE, EVAL)?;
    ensure!(
        !cfg.kinds.is_empty() && cfg.tasks >= 1,
        "{EVAL}: `kinds` and `tasks` must not be empty"
    );
    ensure!(!cfg.systems.is_empty(), "{EVAL}: `systems` is empty");
    for s in &cfg.systems {
        ensure!(
            SYSTEMS.contains(&s.as_str()),
            "{EVAL}: unknown system `{s}` in `systems`; the systems are {}",
            SYSTEMS.join(", ")
        );
    }
    let (world, corpus, models) = m11::world_and_models(ctx, cfg.openai.clone())?;
    let suite = suite(&world, &cfg);
    let mut rec = RunWriter::create(ctx, MILESTONE, RECORD, &raw, cfg.suite_seed)?;
    rec.summary("tasks", suite.len() as f64);
    let mut timings = BTreeMap::new();
    let mut line = Vec::new();
    for system in &cfg.systems {
        let bar = ctx.progress(suite.len() as u64, &format!("m12 {system}"));
        let t0 = Instant::now();
        let outcomes = run_system(system, &suite, &models, &corpus, &world, &cfg, &|| {
            bar.inc(1)
        })?;
        bar.finish_and_clear();
        let wall = t0.elapsed().as_secs_f64();
        timings.insert(system.clone(), serde_json::json!({ "wall_s": wall }));
        let correct = outcomes.iter().filter(|o| o.correct).count();
        rec.summary(
            &format!("{system}/success"),
            correct as f64 / outcomes.len().max(1) as f64,
        );
        for &k in &cfg.kinds {
            let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == k).collect();
            rec.summary(
                &format!("{system}/{}/success", kind_name(k)),
                of.iter().filter(|o| o.correct).count() as f64 / of.len().max(1) as f64,
            );
        }
        rec.artifact(&format!("outcomes_{system}"), &outcomes)?;
        line.push(format!(
            "{system} {:.1} %",
            100.0 * correct as f64 / outcomes.len().max(1) as f64
        ));
    }
    rec.artifact("timings", &timings)?;
    rec.finish()?;
    Ok(format!(
        "{} held-out tasks ({}): {}",
        suite.len(),
        models.name(),
        line.join(", ")
    ))
}

fn record(ctx: &Context) -> Option<Record> {
    Record::load(ctx, MILESTONE, RECORD).ok()
}

/// Each system's outcomes, in config order.
type BySystem = Vec<(String, Vec<Outcome>)>;

fn load(rec: &Record) -> Result<(EvalConfig, BySystem)> {
    let cfg: EvalConfig = rec.config_as()?;
    let all = cfg
        .systems
        .iter()
        .map(|s| Ok((s.clone(), rec.artifact(&format!("outcomes_{s}"))?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((cfg, all))
}

fn label(system: &str) -> &'static str {
    match system {
        "closed_book" => "closed book",
        "rag" => "single-shot RAG",
        "react_search" => "ReAct + search",
        "react_lookup" => "ReAct + lookup",
        "team" => "team",
        _ => "?",
    }
}

fn of_kind(os: &[Outcome], k: Option<QuestionKind>) -> Vec<&Outcome> {
    os.iter()
        .filter(|o| k.is_none_or(|k| o.kind == k))
        .collect()
}

fn kinds_and_all(cfg: &EvalConfig) -> Vec<Option<QuestionKind>> {
    let mut v: Vec<Option<QuestionKind>> = cfg.kinds.iter().copied().map(Some).collect();
    v.push(None);
    v
}

pub fn figures(ctx: &Context) -> Result<Vec<PathBuf>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let (cfg, all) = load(&rec)?;
    let groups: Vec<(String, Vec<(QuestionKind, bool)>)> = all
        .iter()
        .map(|(system, os)| {
            (
                label(system).to_string(),
                os.iter().map(|o| (o.kind, o.correct)).collect(),
            )
        })
        .collect();
    let bars = m10::success_bars(
        format!(
            "Held-out task success by system and kind ({} tasks per kind, same tasks for all)",
            cfg.tasks
        ),
        &cfg.kinds,
        &groups,
    );
    let path = ctx.figure(FIG_SUCCESS);
    bars.render(&path)?;
    Ok(vec![path])
}

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

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let (cfg, all) = load(&rec)?;
    let timings: BTreeMap<String, serde_json::Value> = rec.artifact("timings")?;
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
    for (system, os) in &all {
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
    // Paired comparisons, per kind and overall.
    let pairs: Vec<(&str, &str)> = [
        ("react_search", "rag"),
        ("rag", "closed_book"),
        ("react_search", "closed_book"),
        ("react_lookup", "react_search"),
        ("team", "react_search"),
        ("team", "rag"),
    ]
    .into_iter()
    .filter(|(a, b)| all.iter().any(|(s, _)| s == a) && all.iter().any(|(s, _)| s == b))
    .collect();
    let get = |s: &str| &all.iter().find(|(x, _)| x == s).expect("filtered").1;
    let mut tests = Table::new(&[
        "comparison (A vs B)",
        "task kind",
        "A",
        "B",
        "only A right",
        "only B right",
        "McNemar (exact)",
    ]);
    for (a, b) in &pairs {
        for k in kinds_and_all(&cfg) {
            let (oa, ob) = (of_kind(get(a), k), of_kind(get(b), k));
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
    // Where the agents' misses stopped along each task's chain of facts.
    let (world, _) = reader_world(ctx)?;
    let suite: BTreeMap<String, Question> = suite(&world, &cfg)
        .into_iter()
        .map(|q| (q.id.clone(), q))
        .collect();
    let mut misses = Table::new(
        &["system", "task kind", "missed"]
            .into_iter()
            .chain(REASONS)
            .collect::<Vec<_>>(),
    );
    for (system, os) in &all {
        for &k in &cfg.kinds {
            let of = of_kind(os, Some(k));
            if let Some(c) = miss_reasons(&of, &suite) {
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
    let results = format!(
        "{}\n\nEach system against another on the same tasks (McNemar's exact test on the tasks \
         only one of the two got right):\n\n{}\n\nWhere the agents' misses stopped: how far along \
         the task's chain of facts their tools' observations got (a single-hop task has one fact, \
         the others two):\n\n{}",
        table.markdown().trim_end(),
        tests.markdown().trim_end(),
        misses.markdown().trim_end()
    );

    // What it shows, computed: the main comparison on multi-hop first.
    let mut discussion = String::new();
    let has = |s: &str| all.iter().any(|(x, _)| x == s);
    // The search-only agent (r) against single-shot RAG (g) on one kind, when both ran on it.
    let agent_vs_rag = |k: QuestionKind| {
        (has("react_search") && has("rag") && cfg.kinds.contains(&k)).then(|| {
            let (r, g) = (
                of_kind(get("react_search"), Some(k)),
                of_kind(get("rag"), Some(k)),
            );
            let t = paired(&r, &g);
            (r, g, t)
        })
    };
    if let Some((r, g, t)) = agent_vs_rag(QuestionKind::MultiHop) {
        let Paired {
            a: cr,
            b: cg,
            only_a: only_r,
            only_b: only_g,
            p,
            ..
        } = t;
        let verdict = if cr > cg && p < 0.05 {
            "the search-only ReAct agent beats single-shot RAG on multi-hop tasks"
        } else if cg > cr && p < 0.05 {
            "single-shot RAG beats the search-only ReAct agent on multi-hop tasks"
        } else {
            "the search-only ReAct agent and single-shot RAG cannot be told apart on multi-hop tasks"
        };
        discussion.push_str(&format!(
            "**Main comparison:** {verdict}: {} against {} ({only_r} tasks only the agent got \
             right, {only_g} only RAG; McNemar {}).",
            pct(cr, r.len()),
            pct(cg, g.len()),
            p_text(p)
        ));
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
        discussion.push_str(&format!(
            " RAG's single read held the second hop's document in {} of multi-hop prompts: the \
             question names only the first entity, and the document with the answer is found only \
             by the name the first document gives.",
            pct(reach, g.len())
        ));
        if let Some(c) = miss_reasons(&r, &suite) {
            discussion.push_str(&format!(
                " Of the agent's {} misses on multi-hop, {} never saw the first fact, {} saw the first \
                 and never the second — its second search did not name the entity the first \
                 observation gave —, {} saw both facts and gave no answer, {} saw both and answered \
                 wrong.",
                r.len() - cr,
                c[0],
                c[1],
                c[2],
                c[3]
            ));
        }
    }
    // Single-hop: the agent reads the same kind of document RAG does; where it loses, why.
    if let Some((r, g, t)) = agent_vs_rag(QuestionKind::Lookup) {
        let Paired {
            a: cr,
            b: cg,
            only_a: only_r,
            only_b: only_g,
            p,
            ..
        } = t;
        if let Some(c) = miss_reasons(&r, &suite).filter(|_| cg > cr && p < 0.05) {
            discussion.push_str(&format!(
                " On single-hop tasks single-shot RAG beats the agent ({} against {}; {only_g} vs \
                 {only_r} discordant, McNemar {}). Of the agent's {} misses there, {} saw the fact \
                 and still answered wrong and {} never saw it: reading an answer out of a \
                 transcript is harder for this policy than reading it in m8's format.",
                pct(cg, g.len()),
                pct(cr, r.len()),
                p_text(p),
                r.len() - cr,
                c[3] + c[2],
                c[0]
            ));
        }
    }
    for (a, b) in &pairs {
        let t = paired(&of_kind(get(a), None), &of_kind(get(b), None));
        discussion.push_str(&format!(
            " Over all tasks, {} {} {} ({} against {}; {} vs {} discordant, McNemar {}).",
            label(a),
            if t.p >= 0.05 {
                "is within the noise of"
            } else if t.a > t.b {
                "beats"
            } else {
                "trails"
            },
            label(b),
            pct(t.a, t.n),
            pct(t.b, t.n),
            t.only_a,
            t.only_b,
            p_text(t.p)
        ));
    }
    // Where each system is best (ties named together).
    for &k in &cfg.kinds {
        let counts: Vec<(&String, usize)> = all
            .iter()
            .map(|(s, os)| (s, of_kind(os, Some(k)).iter().filter(|o| o.correct).count()))
            .collect();
        let Some(top) = counts.iter().map(|(_, c)| *c).max() else {
            continue;
        };
        let best: Vec<&str> = counts
            .iter()
            .filter(|(_, c)| *c == top)
            .map(|(s, _)| label(s))
            .collect();
        discussion.push_str(&format!(
            " Best on {}: {} ({top} of {}).",
            kind_name(k),
            best.join(" and "),
            cfg.tasks
        ));
    }
    let setup =
        format!(
        "One suite of {} tasks per kind about held-out entities, every phrasing (suite seed {}), \
         answered by every system with the same model ({}): closed book (m8's prompt, no \
         passages); single-shot RAG (the {} best documents by BM25, read once); the ReAct agent \
         with `search` (the same BM25, top {}), `calc`, `finish`, at most {} turns; the same agent \
         with `lookup` instead of `search` (ablation); and m11's team. Greedy decoding; success = \
         SQuAD exact match. Model calls, agent steps, tool errors and tokens (prompt + completion, \
         all calls) are per task; wall time is the system's whole run on {} workers. {}",
        cfg.tasks,
        cfg.suite_seed,
        cfg.openai
            .as_ref()
            .map_or("m10's policy".to_string(), |c| format!("`{}` at {}", c.model, c.base_url)),
        cfg.rag_k,
        cfg.search_k,
        cfg.agent.max_steps,
        cfg.workers,
        rec.provenance()
    );
    Ok(vec![LogEntry {
        id: EVAL.into(),
        milestone: 12,
        title: "m12 — When do agents help? Five systems on one held-out suite".into(),
        question: "On the same held-out tasks and with the same model, when does an agent that \
                   searches step by step, or a team, beat reading once — and where do they fail?"
            .into(),
        setup,
        results,
        figures: vec![Figure::new(
            FIG_SUCCESS,
            FigureKind::EvaluationTables,
            "Success per system and task kind on the same held-out suite, with Wilson 95 % intervals: closed book, single-shot RAG, the ReAct agent with search or lookup, and the team, one model behind all.",
        )
        .key()],
        discussion: discussion.trim().to_string(),
    }])
}

/// The milestone's headline.
pub fn headline(ctx: &Context) -> Option<String> {
    let rec = record(ctx)?;
    Some(format!(
        "multi-hop: ReAct + search {:.0} % vs single-shot RAG {:.0} % (same model and retriever)",
        100.0 * rec.summary("react_search/multi-hop/success")?,
        100.0 * rec.summary("rag/multi-hop/success")?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use phase2_lm::lm::Completion;
    use phase3_rag::world::WorldConfig;

    fn cfg(seed: u64) -> EvalConfig {
        toml::from_str(&format!(
            "suite_seed = {seed}\nkinds = [\"lookup\", \"multi_hop\", \"numeric\", \"comparison\"]\n\
             tasks = 6\nsystems = [\"rag\"]\nsearch_k = 1\nrag_k = 2\nanswer_tokens = 8\n\
             retry_temperature = 0.7\nworkers = 1\n[agent]\nmax_steps = 2\nstep_tokens = 8\n\
             [team]\nplan_tokens = 8\nmax_sub_questions = 3\nsend_back = true\n\
             [team.solver]\nmax_steps = 2\nstep_tokens = 8\n"
        ))
        .unwrap()
    }

    #[test]
    fn m12_any_seed_draws_a_new_suite_of_held_out_tasks() {
        let world = World::generate(&WorldConfig::default()).unwrap();
        let a = suite(&world, &cfg(12));
        assert_eq!(a.len(), 4 * 6);
        for k in cfg(12).kinds {
            assert_eq!(a.iter().filter(|q| q.kind == k).count(), 6);
        }
        assert!(a.iter().all(|q| q.split == Split::HeldOut));
        let texts = |s: &[Question]| s.iter().map(|q| q.text.clone()).collect::<Vec<_>>();
        assert_eq!(
            texts(&a),
            texts(&suite(&world, &cfg(12))),
            "same seed, same suite"
        );
        let b = suite(&world, &cfg(13));
        let shared = texts(&b).iter().filter(|t| texts(&a).contains(t)).count();
        assert!(shared < a.len() / 2, "{shared} of {} tasks shared", a.len());
    }

    /// Answers the first line of its prompt's first document title; counts tokens as bytes.
    struct Echo {
        prompts: Vec<String>,
        context: usize,
    }

    impl LanguageModel for Echo {
        fn name(&self) -> String {
            "echo".into()
        }
        fn complete(&mut self, r: &Request) -> anyhow::Result<Completion> {
            self.prompts.push(r.prompt.to_string());
            let text = r
                .prompt
                .strip_prefix("* ")
                .and_then(|p| p.split(':').next())
                .map_or(" nothing".to_string(), |t| format!(" {t}"));
            Ok(Completion {
                completion_tokens: 1,
                prompt_tokens: r.prompt.len(),
                stopped: true,
                text,
            })
        }
        fn count_tokens(&self, text: &str) -> Option<usize> {
            Some(text.len())
        }
        fn context_tokens(&self) -> Option<usize> {
            Some(self.context)
        }
    }

    #[test]
    fn m12_closed_book_and_rag_read_m8s_prompt_within_the_context() {
        let world = World::generate(&WorldConfig::default()).unwrap();
        let corpus = Corpus::of(&world).unwrap();
        let q = &suite(&world, &cfg(12))[0];
        let mut lm = Echo {
            prompts: Vec::new(),
            context: 10_000,
        };
        let closed = read(&mut lm, q, Vec::new(), 8);
        assert_eq!(lm.prompts[0], format!("Q: {}\nA:", q.text));
        assert_eq!(closed.answer.as_deref(), Some("nothing"));
        let rag = read(&mut lm, q, corpus.search(&q.text, 2), 8);
        let Trace::Read { documents, .. } = &rag.trace else {
            panic!("a read")
        };
        assert_eq!(documents.len(), 2);
        assert!(lm.prompts[1].ends_with(&format!("\nQ: {}\nA:", q.text)));
        // The worst-ranked document goes first when the context is short; then all of them.
        lm.context = lm.prompts[1].len();
        let short = read(&mut lm, q, corpus.search(&q.text, 2), 8);
        let Trace::Read { documents, .. } = &short.trace else {
            panic!("a read")
        };
        assert_eq!(documents.len(), 1);
        lm.context = 8;
        let none = read(&mut lm, q, corpus.search(&q.text, 2), 8);
        assert!(matches!(&none.trace, Trace::Read { documents, .. } if documents.is_empty()));
        assert_eq!(rag.model_calls, 1);
    }
}
