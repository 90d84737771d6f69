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
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Result};
use openai_client::ClientConfig;
use phase2_lm::lm::{LanguageModel, Request};
use phase3_rag::reader::exact_match;
use phase3_rag::world::{Question, QuestionKind, Split, World};
use serde::{Deserialize, Serialize};
use viz::plot::entity::Entity;
use viz::plot::FigureSpec;
use viz::record::{Record, RunWriter};
use viz::Context;

use super::m10::{self, held_out_phrasing, reader_world, tasks};
use super::m11::{self, TeamOutcome};
use phase4_agents::backend::{par_map, Models};
use phase4_agents::react::{self, AgentConfig, Episode};
use phase4_agents::team::{self, TeamConfig};
use phase4_agents::tools::{Corpus, Toolset};

use crate::records::{by_kind, EvalSummary, SystemSummary};

mod cost;
mod failures;
mod log;
pub use log::log_entries;

pub const EVAL: &str = "m12_eval";
pub const MILESTONE: &str = "m12";
const RECORD: &str = "eval";
const FIG_SUCCESS: &str = "m12_success_rates.png";

/// A system m12 evaluates; the config names it in snake case (`react_search`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    /// The policy answers from its weights alone.
    ClosedBook,
    /// One BM25 search with the question, the policy reads the top `rag_k` documents.
    Rag,
    /// The ReAct agent with `search` (free text over BM25).
    ReactSearch,
    /// The ReAct agent with `lookup` (an entity's exact attribute).
    ReactLookup,
    /// m11's planner, solvers and verifier.
    Team,
}

impl System {
    /// Every system, in the order tables show them.
    pub const ALL: [System; 5] = [
        System::ClosedBook,
        System::Rag,
        System::ReactSearch,
        System::ReactLookup,
        System::Team,
    ];

    /// The config's and the record's name.
    pub fn name(self) -> &'static str {
        match self {
            System::ClosedBook => "closed_book",
            System::Rag => "rag",
            System::ReactSearch => "react_search",
            System::ReactLookup => "react_lookup",
            System::Team => "team",
        }
    }

    /// What it is in the house palette: closed book is the no-context condition of m8's figures;
    /// the others take the palette in their config order.
    pub fn entity(self) -> Option<Entity> {
        match self {
            System::ClosedBook => Some(Entity::ClosedBook),
            _ => None,
        }
    }

    /// Its name in a title too short for [`System::label`]: single-shot RAG is the only RAG.
    pub fn short_label(self) -> &'static str {
        match self {
            System::Rag => "RAG",
            s => s.label(),
        }
    }

    /// The name tables and figures show.
    pub fn label(self) -> &'static str {
        match self {
            System::ClosedBook => "closed book",
            System::Rag => "single-shot RAG",
            System::ReactSearch => "ReAct + search",
            System::ReactLookup => "ReAct + lookup",
            System::Team => "team",
        }
    }
}

impl std::fmt::Display for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `configs/phase4/m12_eval.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Draws the suite (held-out entities, every phrasing).
    pub suite_seed: u64,
    pub kinds: Vec<QuestionKind>,
    /// Tasks per kind.
    pub tasks: usize,
    /// The systems run.
    pub systems: Vec<System>,
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
    system: System,
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
        System::ClosedBook | System::Rag => {
            let k = if system == System::Rag { cfg.rag_k } else { 0 };
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
        System::ReactSearch => react_with(Toolset::Search),
        System::ReactLookup => react_with(Toolset::Lookup),
        System::Team => Ok(m11::run_team(
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
    }
}

/// The suite of `cfg`: `tasks` per kind about held-out entities, drawn by `suite_seed`.
pub fn suite(world: &World, cfg: &EvalConfig) -> Vec<Question> {
    tasks(world, &cfg.kinds, cfg.tasks, cfg.suite_seed, "m12-", &|q| {
        q.split == Split::HeldOut
    })
}

/// The suite of `cfg` by task id, in the world m8's reader was trained in (as the misses need it).
fn suite_by_id(ctx: &Context, cfg: &EvalConfig) -> Result<BTreeMap<String, Question>> {
    let (world, _) = reader_world(ctx)?;
    Ok(suite(&world, cfg)
        .into_iter()
        .map(|q| (q.id.clone(), q))
        .collect())
}

pub fn run_eval(ctx: &Context) -> Result<String> {
    let (cfg, raw): (EvalConfig, toml::Value) = ctx.load_config(super::PHASE, EVAL)?;
    ensure!(
        !cfg.kinds.is_empty() && cfg.tasks >= 1,
        "{EVAL}: `kinds` and `tasks` must not be empty"
    );
    ensure!(!cfg.systems.is_empty(), "{EVAL}: `systems` is empty");
    let (world, corpus, models) = m11::world_and_models(ctx, cfg.openai.clone())?;
    let suite = suite(&world, &cfg);
    let mut rec = RunWriter::create(ctx, MILESTONE, RECORD, &raw, cfg.suite_seed)?;
    let mut summary = EvalSummary {
        tasks: suite.len() as u64,
        systems: BTreeMap::new(),
    };
    rec.summaries(&summary)?;
    let mut timings = BTreeMap::new();
    let mut line = Vec::new();
    for &system in &cfg.systems {
        let bar = ctx.progress(suite.len() as u64, &format!("m12 {system}"));
        let t0 = Instant::now();
        let outcomes = run_system(system, &suite, &models, &corpus, &world, &cfg, &|| {
            bar.inc(1)
        })?;
        bar.finish_and_clear();
        let wall = t0.elapsed().as_secs_f64();
        timings.insert(system.name(), serde_json::json!({ "wall_s": wall }));
        let correct = outcomes.iter().filter(|o| o.correct).count();
        let kinds = cfg.kinds.iter().map(|&k| {
            let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == k).collect();
            let right = of.iter().filter(|o| o.correct).count();
            (k, right as f64 / of.len().max(1) as f64)
        });
        summary.systems.insert(
            system.name().to_string(),
            SystemSummary {
                success: correct as f64 / outcomes.len().max(1) as f64,
                by_kind: by_kind(kinds),
            },
        );
        rec.summaries(&summary)?;
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
type BySystem = Vec<(System, Vec<Outcome>)>;

fn load(rec: &Record) -> Result<(EvalConfig, BySystem)> {
    let cfg: EvalConfig = rec.config_as()?;
    let all = cfg
        .systems
        .iter()
        .map(|&s| Ok((s, rec.artifact(&format!("outcomes_{s}"))?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((cfg, all))
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

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let (cfg, all) = load(&rec)?;
    let groups: Vec<m10::SuccessGroup> = all
        .iter()
        .map(|(system, os)| m10::SuccessGroup {
            label: system.label().to_string(),
            entity: system.entity(),
            tasks: os.iter().map(|o| (o.kind, o.correct)).collect(),
        })
        .collect();
    let bars = m10::success_bars(
        log::success_title(&cfg, &all).unwrap_or_else(|| {
            format!(
                "Held-out task success by system and kind ({} tasks per kind)",
                cfg.tasks
            )
        }),
        &cfg.kinds,
        &groups,
    );
    let tests = log::Tests::of(&cfg, &all);
    let mut specs = vec![
        FigureSpec::new(FIG_SUCCESS, bars),
        cost::figure(&tests, &all),
    ];
    specs.extend(failures::figure(&all, &suite_by_id(ctx, &cfg)?));
    Ok(specs)
}

/// The milestone's headline: the agent against single-shot RAG, as the log reads it.
pub fn headline(ctx: &Context) -> Option<String> {
    let rec = record(ctx)?;
    let (cfg, all) = load(&rec).ok()?;
    log::headline(&cfg, &all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use phase2_lm::lm::Completion;
    use phase3_rag::world::WorldConfig;

    fn cfg_text(seed: u64, systems: &str) -> String {
        format!(
            "suite_seed = {seed}\nkinds = [\"lookup\", \"multi_hop\", \"numeric\", \"comparison\"]\n\
             tasks = 6\nsystems = {systems}\nsearch_k = 1\nrag_k = 2\nanswer_tokens = 8\n\
             retry_temperature = 0.7\nworkers = 1\n[agent]\nmax_steps = 2\nstep_tokens = 8\n\
             [team]\nplan_tokens = 8\nmax_sub_questions = 3\nsend_back = true\n\
             [team.solver]\nmax_steps = 2\nstep_tokens = 8\n"
        )
    }

    fn cfg(seed: u64) -> EvalConfig {
        toml::from_str(&cfg_text(seed, "[\"rag\"]")).unwrap()
    }

    #[test]
    fn systems_are_named_once_and_a_misspelt_one_is_refused() {
        let all: Vec<&str> = System::ALL.iter().map(|s| s.name()).collect();
        let parsed: EvalConfig = toml::from_str(&cfg_text(1, &format!("{all:?}"))).unwrap();
        assert_eq!(parsed.systems, System::ALL);
        let err = toml::from_str::<EvalConfig>(&cfg_text(1, "[\"rag\", \"react_serch\"]"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("react_serch") && err.contains("react_search"),
            "{err}"
        );
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
