//! m12 — evaluation: eight systems on one held-out task suite, the same model behind all of them.
//!
//! - `closed_book` — m8's reader prompt with no passages.
//! - `rag` — single-shot RAG: the `rag_k` documents BM25 ranks best for the question, read once.
//! - `rag_tuned` — single-shot RAG reading, per task kind, the number of documents that did best on
//!   a dev suite (`dev.rs`).
//! - `rag_two_step` — retrieve, read, retrieve again with the span read, read both: the strongest
//!   non-agent system, its k per step and kind also chosen on the dev suite.
//! - `react_search` — the ReAct agent with `search` (the same BM25 over the same documents), `calc`,
//!   `finish`: the main comparison is with the best of the three RAG systems on the dev suite (same
//!   retriever, same model).
//! - `react_search_constrained` — the same agent decoding its `search` and `finish` arguments
//!   constrained to spans of the question and of what it has read (`react::spans`); the better of
//!   the two agents on the dev suite is the one the main comparison puts forward.
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
pub mod dev;
mod failures;
mod log;
pub mod seeds;
mod tables;
use dev::{DevChoice, DevConfig};
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
    /// Single-shot RAG with its k per task kind chosen on the dev suite.
    RagTuned,
    /// Two reads: the second search's query is the first read's answer; k chosen on the dev suite.
    RagTwoStep,
    /// The ReAct agent with `search` (free text over BM25).
    ReactSearch,
    /// The same agent with constrained decoding: `search` and `finish` arguments restricted to
    /// spans of the question and of what it has read.
    ReactSearchConstrained,
    /// The ReAct agent with `lookup` (an entity's exact attribute).
    ReactLookup,
    /// m11's planner, solvers and verifier.
    Team,
}

impl System {
    /// Every system, in the order tables show them.
    pub const ALL: [System; 8] = [
        System::ClosedBook,
        System::Rag,
        System::RagTuned,
        System::RagTwoStep,
        System::ReactSearch,
        System::ReactSearchConstrained,
        System::ReactLookup,
        System::Team,
    ];

    /// The config's and the record's name.
    pub fn name(self) -> &'static str {
        match self {
            System::ClosedBook => "closed_book",
            System::Rag => "rag",
            System::RagTuned => "rag_tuned",
            System::RagTwoStep => "rag_two_step",
            System::ReactSearch => "react_search",
            System::ReactSearchConstrained => "react_search_constrained",
            System::ReactLookup => "react_lookup",
            System::Team => "team",
        }
    }

    /// What it is in the house palette: closed book is the no-context condition of m8's figures.
    pub fn entity(self) -> Entity {
        match self {
            System::ClosedBook => Entity::ClosedBook,
            System::Rag => Entity::Rag,
            System::RagTuned => Entity::RagTuned,
            System::RagTwoStep => Entity::RagTwoStep,
            System::ReactSearch => Entity::ReactSearch,
            System::ReactSearchConstrained => Entity::ReactSearchConstrained,
            System::ReactLookup => Entity::ReactLookup,
            System::Team => Entity::Team,
        }
    }

    /// Its name in a title too short for [`System::label`].
    pub fn short_label(self) -> &'static str {
        match self {
            System::ReactSearchConstrained => "constrained ReAct",
            s => s.label(),
        }
    }

    /// The name tables and figures show.
    pub fn label(self) -> &'static str {
        match self {
            System::ClosedBook => "closed book",
            System::Rag => "single-shot RAG",
            System::RagTuned => "RAG, k tuned",
            System::RagTwoStep => "two-step RAG",
            System::ReactSearch => "ReAct + search",
            System::ReactSearchConstrained => "ReAct + search, constrained",
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
    /// The dev suite that tunes `rag_tuned` and `rag_two_step` and picks the best baseline.
    #[serde(default)]
    pub dev: Option<DevConfig>,
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
    /// Two reads: the first's documents and output, the second search's query (the first answer)
    /// and the second read's documents (the first's, then the new ones) and output.
    TwoStep {
        first_documents: Vec<String>,
        first_output: String,
        query: Option<String>,
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

/// Two-step RAG: read the `k` best documents for the question, search again with the answer read,
/// then read the first documents and the `k` best new ones.
fn read_twice(
    lm: &mut dyn LanguageModel,
    q: &Question,
    corpus: &Corpus,
    k: usize,
    answer_tokens: usize,
) -> Outcome {
    let first_docs = corpus.search(&q.text, k);
    let first = read(lm, q, first_docs.clone(), answer_tokens);
    let Trace::Read {
        documents: first_documents,
        output: first_output,
    } = first.trace
    else {
        unreachable!("read() traces a read")
    };
    let mut docs = first_docs;
    if let Some(a) = &first.answer {
        let new: Vec<(&str, &str)> = corpus
            .search(a, k + docs.len())
            .into_iter()
            .filter(|(id, _)| !docs.iter().any(|(d, _)| d == id))
            .take(k)
            .collect();
        docs.extend(new);
    }
    let second = read(lm, q, docs, answer_tokens);
    let Trace::Read { documents, output } = second.trace else {
        unreachable!("read() traces a read")
    };
    Outcome {
        model_calls: 2,
        tokens: first.tokens + second.tokens,
        trace: Trace::TwoStep {
            first_documents,
            first_output,
            query: first.answer,
            documents,
            output,
        },
        ..second
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
    dev: Option<&DevChoice>,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Outcome>> {
    let tuned_k = |q: &Question| {
        dev.and_then(|d| d.k(system, q.kind))
            .expect("the dev suite chose a k for every tuned system and kind")
    };
    let react_with = |toolset: Toolset, constrain: bool| {
        let agent = AgentConfig {
            constrain,
            ..cfg.agent.clone()
        };
        par_map(
            suite,
            cfg.workers,
            models,
            cfg.retry_temperature,
            &|lm, _, q: &Question| {
                let mut tools = toolset.build(corpus, world, cfg.search_k);
                agent_outcome(q, react::run(lm, &mut tools, &q.text, &agent, 0))
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
        System::RagTuned => par_map(
            suite,
            cfg.workers,
            models,
            cfg.retry_temperature,
            &|lm, _, q: &Question| {
                read(lm, q, corpus.search(&q.text, tuned_k(q)), cfg.answer_tokens)
            },
            tick,
        ),
        System::RagTwoStep => par_map(
            suite,
            cfg.workers,
            models,
            cfg.retry_temperature,
            &|lm, _, q: &Question| read_twice(lm, q, corpus, tuned_k(q), cfg.answer_tokens),
            tick,
        ),
        System::ReactSearch => react_with(Toolset::Search, false),
        System::ReactSearchConstrained => react_with(Toolset::Search, true),
        System::ReactLookup => react_with(Toolset::Lookup, false),
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

/// What the config must hold before anything runs.
fn check(cfg: &EvalConfig) -> Result<()> {
    ensure!(
        !cfg.kinds.is_empty() && cfg.tasks >= 1,
        "{EVAL}: `kinds` and `tasks` must not be empty"
    );
    ensure!(!cfg.systems.is_empty(), "{EVAL}: `systems` is empty");
    ensure!(
        cfg.openai.is_none() || !cfg.systems.contains(&System::ReactSearchConstrained),
        "{EVAL}: `react_search_constrained` needs our own policy: an OpenAI-compatible server \
         offers no constrained decoding here (drop it from `systems`, or `openai`)"
    );
    let tuned = cfg.systems.iter().any(|s| dev::TUNED.contains(s));
    ensure!(
        !tuned || cfg.dev.is_some(),
        "{EVAL}: `rag_tuned` and `rag_two_step` need a `[dev]` suite to choose their k"
    );
    Ok(())
}

pub fn run_eval(ctx: &Context) -> Result<String> {
    let (cfg, raw): (EvalConfig, toml::Value) = ctx.load_config(super::PHASE, EVAL)?;
    check(&cfg)?;
    let (world, corpus, models) = m11::world_and_models(ctx, cfg.openai.clone())?;
    let suite = suite(&world, &cfg);
    let mut rec = RunWriter::create(ctx, MILESTONE, RECORD, &raw, cfg.suite_seed)?;
    // The baselines' settings are chosen on the dev suite and recorded before any test task runs.
    let dev = match &cfg.dev {
        Some(d) => {
            let dev_suite = dev::suite(&world, &cfg, d, &suite);
            let agents = cfg
                .systems
                .iter()
                .filter(|s| dev::AGENTS.contains(s))
                .count();
            let runs = (2 * d.ks.len() + 1 + agents) * dev_suite.len();
            let bar = ctx.progress(runs as u64, "m12 dev suite");
            let choice = dev::choose(&dev_suite, &cfg, d, &models, (&corpus, &world), &|| {
                bar.inc(1)
            })?;
            bar.finish_and_clear();
            rec.artifact("dev", &choice)?;
            Some(choice)
        }
        None => None,
    };
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
        let outcomes = run_system(
            system,
            &suite,
            &models,
            &corpus,
            &world,
            &cfg,
            dev.as_ref(),
            &|| bar.inc(1),
        )?;
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

/// A run of m12 read back: its config, each system's outcomes and what the dev suite chose.
pub(crate) struct Eval {
    pub cfg: EvalConfig,
    pub all: BySystem,
    pub dev: Option<DevChoice>,
}

impl Eval {
    /// The non-agent system the main comparison faces: the best on the dev suite (single-shot
    /// RAG when there was none).
    pub fn baseline(&self) -> System {
        self.dev.as_ref().map_or(System::Rag, |d| d.baseline)
    }

    /// Whether the dev suite chose `rag_k` for every kind: then `rag_tuned` is `rag` by
    /// construction, and the log tests it against nothing (a copy would only pad the family).
    pub fn tuned_is_rag(&self) -> bool {
        self.dev.as_ref().is_some_and(|d| {
            self.cfg
                .kinds
                .iter()
                .all(|&k| d.k(System::RagTuned, k) == Some(self.cfg.rag_k))
        })
    }

    /// The search agent the main comparison puts forward: the better on the dev suite, free or
    /// constrained decoding (the free one when there was none).
    pub fn agent(&self) -> System {
        self.dev.as_ref().map_or(System::ReactSearch, |d| d.agent)
    }
}

fn load(rec: &Record) -> Result<Eval> {
    let cfg: EvalConfig = rec.config_as()?;
    let all = cfg
        .systems
        .iter()
        .map(|&s| Ok((s, rec.artifact(&format!("outcomes_{s}"))?)))
        .collect::<Result<Vec<_>>>()?;
    let dev = match cfg.dev {
        Some(_) => Some(rec.artifact("dev")?),
        None => None,
    };
    Ok(Eval { cfg, all, dev })
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
    let e = load(&rec)?;
    let (cfg, all) = (&e.cfg, &e.all);
    let groups: Vec<m10::SuccessGroup> = all
        .iter()
        .map(|(system, os)| m10::SuccessGroup {
            label: system.label().to_string(),
            entity: Some(system.entity()),
            tasks: os.iter().map(|o| (o.kind, o.correct)).collect(),
        })
        .collect();
    let bars = m10::success_bars(
        log::success_title(&e).unwrap_or_else(|| {
            format!(
                "Held-out task success by system and kind ({} tasks per kind)",
                cfg.tasks
            )
        }),
        &cfg.kinds,
        &groups,
    );
    let tests = log::Tests::of(&e);
    let mut specs = vec![
        FigureSpec::new(FIG_SUCCESS, bars),
        cost::figure(&tests, all),
    ];
    specs.extend(failures::figure(all, &suite_by_id(ctx, cfg)?, e.agent()));
    Ok(specs)
}

/// The milestone's headline: the agent against single-shot RAG, as the log reads it.
pub fn headline(ctx: &Context) -> Option<String> {
    let rec = record(ctx)?;
    let e = load(&rec).ok()?;
    log::headline(ctx, &e)
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

    #[test]
    fn m12_two_step_rag_searches_again_with_what_it_read_first() {
        let world = World::generate(&WorldConfig::default()).unwrap();
        let corpus = Corpus::of(&world).unwrap();
        let q = &suite(&world, &cfg(12))[0];
        let mut lm = Echo {
            prompts: Vec::new(),
            context: 10_000,
        };
        let o = read_twice(&mut lm, q, &corpus, 2, 8);
        let Trace::TwoStep {
            first_documents,
            query,
            documents,
            ..
        } = &o.trace
        else {
            panic!("two reads")
        };
        assert_eq!(o.model_calls, 2);
        assert_eq!(lm.prompts.len(), 2);
        // Echo answers its first document's title: the second search is for that title, and keeps
        // the first read's documents, then two new ones.
        let first_title = lm.prompts[0]
            .strip_prefix("* ")
            .unwrap()
            .split(':')
            .next()
            .unwrap();
        assert_eq!(query.as_deref(), Some(first_title));
        assert_eq!(documents.len(), 4);
        assert_eq!(&documents[..2], &first_documents[..]);
        assert!(documents[2..].iter().all(|d| !first_documents.contains(d)));
        let new: Vec<&str> = corpus
            .search(first_title, 4)
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| !first_documents.iter().any(|d| d == id))
            .take(2)
            .collect();
        assert_eq!(&documents[2..], &new[..]);
    }

    #[test]
    fn m12_refuses_a_constrained_agent_on_a_server_and_a_tuned_rag_without_a_dev_suite() {
        let systems = "[\"rag\", \"react_search_constrained\"]";
        let mut c: EvalConfig = toml::from_str(&cfg_text(1, systems)).unwrap();
        assert!(check(&c).is_ok());
        c.openai = Some(ClientConfig::new("http://127.0.0.1:9/v1", "m"));
        let e = check(&c).unwrap_err().to_string();
        assert!(e.contains("react_search_constrained"), "{e}");
        let c: EvalConfig = toml::from_str(&cfg_text(1, "[\"rag_two_step\"]")).unwrap();
        let e = check(&c).unwrap_err().to_string();
        assert!(e.contains("[dev]"), "{e}");
    }

    #[test]
    fn m12_dev_suite_shares_no_entity_with_the_test_suite() {
        let world = World::generate(&WorldConfig::default()).unwrap();
        let test = suite(&world, &cfg(12));
        let d = dev::DevConfig {
            seed: 1012,
            tasks: 6,
            ks: vec![1],
        };
        let dev_suite = dev::suite(&world, &cfg(12), &d, &test);
        assert_eq!(dev_suite.len(), test.len());
        assert!(dev_suite.iter().all(|q| q.split == Split::HeldOut));
        for q in &dev_suite {
            for t in &test {
                assert!(
                    q.entities.iter().all(|e| !t.entities.contains(e)),
                    "{} shares an entity with {}",
                    q.id,
                    t.id
                );
            }
        }
        // With no test suite to avoid, the same seed draws other tasks.
        let free = dev::suite(&world, &cfg(12), &d, &[]);
        assert_eq!(free.len(), test.len());
    }
}
