//! m10 — the agent loop, with a policy of our own: m8's reader fine-tuned by imitation on the
//! scripted planner's transcripts, then run on held-out tasks through the language-model trait.
//!
//! Training tasks are drawn from *seen* entities in the phrasings not held out; evaluation tasks from
//! *held-out* entities, in every phrasing (the held-out phrasings are reported apart). The policy is
//! saved to `checkpoints/m10_agent/` for `cargo xtask agent` and the later milestones.
//!
//! Records: `records/m10/agent/` — every episode's trace (model outputs, parsed actions,
//! observations, token counts), the training loss; model-call latencies in `timings`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use phase2_lm::generator::Generator;
use phase2_lm::lm::{GptLm, LanguageModel};
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, Tokenizer};
use phase2_lm::train::TrainConfig;
use phase3_rag::rc::Example;
use phase3_rag::reader::exact_match;
use phase3_rag::saved::{self, ReaderWorld};
use phase3_rag::world::{Question, QuestionKind, World};
use serde::{Deserialize, Serialize};
use viz::diagram::Diagram;
use viz::plot::entity::Entity;
use viz::plot::{DiagramFigure, FigureSpec, GroupedBars, LineChart, Series};
use viz::record::Record;
use viz::Context;

use phase4_agents::backend::{par_map, Models};
use phase4_agents::planner::Demo;
use phase4_agents::react::{self, AgentConfig, End, Episode};
use phase4_agents::tools::{names, Corpus, Toolset};

use crate::records::{metric, AgentSummary};

mod log;
mod phrasings;
mod run;
pub use log::log_entries;
pub use run::{run_agent, train_policy_seed};

pub const AGENT: &str = "m10_agent";
pub const MILESTONE: &str = "m10";
const RECORD: &str = "agent";
/// The policy's checkpoint (`checkpoints/m10_agent/`).
pub const POLICY: &str = "m10_agent";

const FIG_LOOP: &str = "m10_agent_loop.png";
const FIG_LOSS: &str = "m10_imitation_loss.png";
const FIG_SUCCESS: &str = "m10_success_by_kind.png";

/// `configs/phase4/m10_agent.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentExperiment {
    pub seed: u64,
    /// The kinds of task taught and evaluated.
    pub kinds: Vec<QuestionKind>,
    /// Training tasks drawn per kind (seen entities, trained phrasings); each is demonstrated with
    /// both toolsets.
    pub train_tasks: usize,
    /// Held-out tasks evaluated per kind.
    pub eval_tasks: usize,
    /// Documents a `search` returns.
    pub search_k: usize,
    /// Tokens the policy reads: m8's reader's context lengthened (a whole transcript must fit).
    pub context: usize,
    pub agent: AgentConfig,
    /// The fine-tuning run (from m8's reader weights), the same for every variant.
    pub train: TrainConfig,
    /// Transcripts shown in the log: this many successes and as many failures.
    pub samples: usize,
    /// The share of each role's rows in training.
    pub mixture: Mixture,
    /// The policies trained, each on its own demonstrations, all from the same weights.
    pub variant: Vec<Variant>,
    /// The variant saved as the policy (`checkpoints/m10_agent/`), drawn and sampled in the log.
    pub policy: String,
}

/// How a policy's demonstrations are written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// Write actions as `tool[ argument]`, so that names tokenize as in running text (see
    /// [`react::action_text`]); false: `tool[argument]`.
    #[serde(default = "yes")]
    pub spaced_arguments: bool,
}

fn yes() -> bool {
    true
}

/// What share of the training rows each role's demonstrations make up. The one policy plays every
/// role phase 4 has: the ReAct agent, the team's planner, solvers and verifier, and m8's reader
/// (single-shot RAG in m12), so that m12 compares systems, not weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mixture {
    /// Whole-question ReAct transcripts, with `search` and with `lookup`.
    pub react: f64,
    /// The team's solvers: one sub-question each, with `search`.
    pub solve: f64,
    /// The team's planner: a question and its sub-questions.
    pub plan: f64,
    /// The team's verifier: evidence, an answer, yes or no.
    pub verify: f64,
    /// m8's reading rows (single-hop questions over retrieved documents).
    pub read: f64,
    /// Documents per reading row, drawn from this list.
    pub read_k: Vec<usize>,
}

const ROLES: [&str; 5] = ["react", "solve", "plan", "verify", "read"];

impl Mixture {
    fn weights(&self) -> [f64; 5] {
        [self.react, self.solve, self.plan, self.verify, self.read]
    }
}

/// Whether `q` was written in a phrasing held out of training: the last of its kind's, when there
/// are at least two.
pub fn held_out_phrasing(q: &Question) -> bool {
    q.templates >= 2 && q.template + 1 == q.templates
}

pub fn kind_name(k: QuestionKind) -> &'static str {
    match k {
        QuestionKind::Lookup => "single-hop",
        QuestionKind::Indirect => "indirect",
        QuestionKind::MultiHop => "multi-hop",
        QuestionKind::Numeric => "numeric",
        QuestionKind::Comparison => "comparison",
    }
}

/// The world m8's reader was trained in (from its record's config) and the reader's directory.
pub fn reader_world(ctx: &Context) -> Result<(World, PathBuf)> {
    let rec = Record::load(ctx, saved::MILESTONE, "reader").with_context(|| {
        if ctx.quick {
            "phase 4's smoke run reads phase 3's smoke reader, which each `--quick` run clears: run both with `cargo xtask all --quick`".to_string()
        } else {
            format!(
                "phase 4 starts from m8's reader: run `cargo xtask phase3 --only {}` first",
                saved::READER
            )
        }
    })?;
    let cfg: ReaderWorld = rec.config_as()?;
    Ok((World::generate(&cfg.world)?, saved::reader_dir(ctx)))
}

/// Tasks of every kind: `n` per kind that `keep` accepts, drawn by `seed`.
pub fn tasks(
    world: &World,
    kinds: &[QuestionKind],
    n: usize,
    seed: u64,
    prefix: &str,
    keep: &dyn Fn(&Question) -> bool,
) -> Vec<Question> {
    kinds
        .iter()
        .enumerate()
        .flat_map(|(i, &k)| {
            world.draw_questions(
                k,
                n,
                seed.wrapping_add(1000 * i as u64),
                &format!("{prefix}{}-", kind_name(k)),
                keep,
            )
        })
        .collect()
}

/// The planner's demonstrations of one role (toolset) and kind.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DemoCount {
    /// Tasks drawn.
    pub tasks: usize,
    /// Demonstrated: the plan's searches showed the facts it needs.
    pub demonstrated: usize,
    /// Training rows written for the demonstrated tasks (a team task gives one per solver, two
    /// verdicts).
    #[serde(default)]
    pub rows: usize,
    /// Rows short enough for the context.
    pub fit: usize,
    /// Tokens over the rows, and the longest row.
    pub tokens: usize,
    pub longest: usize,
}

/// What an agent's first search or lookup named, against the question's first entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Named {
    /// The entity, exactly.
    Exact,
    /// Another entity of the world, one the reader was trained on.
    SeenEntity,
    /// Another entity of the world, held out.
    HeldOutEntity,
    /// No entity's name.
    NoEntity,
}

impl Named {
    pub fn label(self) -> &'static str {
        match self {
            Named::Exact => "the entity itself",
            Named::SeenEntity => "another, seen entity",
            Named::HeldOutEntity => "another, held-out entity",
            Named::NoEntity => "no entity",
        }
    }
}

/// One evaluated task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub kind: QuestionKind,
    pub held_out_phrasing: bool,
    pub question: String,
    pub gold: String,
    pub correct: bool,
    /// What the first action's search or lookup named; None when the first turn held neither.
    pub first_named: Option<Named>,
    pub episode: Episode,
}

/// A demonstration as a training row: its pieces tokenized one by one (each starts at a
/// pre-tokenizer boundary, so this is how the whole text tokenizes), the model's pieces scored.
fn example(demo: &Demo, tokenizer: &AnyTokenizer) -> Example {
    let mut tokens = Vec::new();
    let mut scored = Vec::new();
    for (text, mine) in &demo.pieces {
        let ids = tokenizer.encode(text);
        if *mine {
            scored.push(tokens.len()..tokens.len() + ids.len());
        }
        tokens.extend(ids);
    }
    Example { tokens, scored }
}

/// Runs `tasks` with the policy (`model`, `params`, `tokenizer`), greedy, on `workers` threads,
/// each with its own tools of `toolset`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    model: &GptConfig,
    params: &[f32],
    tokenizer: &AnyTokenizer,
    tasks: &[Question],
    toolset: Toolset,
    corpus: &Arc<Corpus>,
    world: &Arc<World>,
    search_k: usize,
    agent: &AgentConfig,
    workers: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Outcome>> {
    let models = Models::Own(phase2_lm::generator::Loaded {
        config: model.clone(),
        params: params.to_vec(),
        tokenizer: tokenizer.clone(),
    });
    par_map(
        tasks,
        workers,
        &models,
        0.0,
        &|lm, _, q: &Question| {
            let mut tools = toolset.build(corpus, world, search_k);
            let episode = react::run(lm, &mut tools, &q.text, agent, 0);
            let correct = episode
                .answer
                .as_deref()
                .is_some_and(|a| exact_match(a, &q.answer));
            let first_named = episode
                .steps
                .first()
                .and_then(|s| s.action.as_ref())
                .filter(|a| a.tool == names::SEARCH || a.tool == names::LOOKUP)
                .map(|a| {
                    let named = a.argument.split(';').next().unwrap_or("").trim();
                    if named == q.chain[0].subject {
                        Named::Exact
                    } else {
                        match world.find(named) {
                            Some(e) if world.is_held_out(e) => Named::HeldOutEntity,
                            Some(_) => Named::SeenEntity,
                            None => Named::NoEntity,
                        }
                    }
                });
            Outcome {
                id: q.id.clone(),
                first_named,
                kind: q.kind,
                held_out_phrasing: held_out_phrasing(q),
                question: q.text.clone(),
                gold: q.answer.clone(),
                correct,
                episode,
            }
        },
        tick,
    )
}

fn record(ctx: &Context) -> Option<Record> {
    Record::load(ctx, MILESTONE, RECORD).ok()
}

/// How often the loop moved between its states, over `outcomes`.
#[derive(Default)]
struct Moves {
    episodes: usize,
    by_tool: BTreeMap<String, usize>,
    errors: usize,
    correct: usize,
    wrong: usize,
    budget: usize,
    context_full: usize,
    model_error: usize,
}

impl Moves {
    /// Episodes that ended without an answer.
    fn stopped(&self) -> usize {
        self.budget + self.context_full + self.model_error
    }
}

fn moves(outcomes: &[Outcome]) -> Moves {
    let mut m = Moves {
        episodes: outcomes.len(),
        ..Moves::default()
    };
    for o in outcomes {
        for s in &o.episode.steps {
            match (&s.action, s.error) {
                (Some(a), false) => *m.by_tool.entry(a.tool.clone()).or_default() += 1,
                _ => m.errors += 1,
            }
        }
        match &o.episode.end {
            End::Finished if o.correct => m.correct += 1,
            End::Finished => m.wrong += 1,
            End::Budget => m.budget += 1,
            End::ContextFull => m.context_full += 1,
            End::ModelError(_) => m.model_error += 1,
        }
    }
    m
}

/// The loop's states and its moves between them, each edge labelled with how often the held-out
/// episodes took it: down from the question to an answer or a stop, and back from each observation
/// to the next model turn (the loop itself, round the side). Boxes take the agent diagrams' colours
/// (m11's team uses the same): the model turn, the tools, the observation, the answers; the
/// question, malformed actions and stops are grey.
fn loop_diagram(m: &Moves, tools: &[&str]) -> Diagram {
    let n = |v: usize| v.to_string();
    let mut d = Diagram::new()
        .node_in("question", "question", Entity::Plain)
        .node_in("model", "model turn: Thought + Action", Entity::AgentModel)
        .node_in(
            "error",
            "malformed action, unknown tool or tool error",
            Entity::Plain,
        )
        .node_in(
            "stopped",
            "stopped: step budget or context full",
            Entity::Plain,
        )
        .node_in(
            "observe",
            "observation appended to the transcript",
            Entity::AgentObservation,
        )
        .node_in("answer_ok", "answer: correct", Entity::AgentAnswer)
        .node_in("answer_bad", "answer: wrong", Entity::AgentAnswer)
        .edge("question", "model", Some(&n(m.episodes)))
        .edge("model", "error", Some(&n(m.errors)))
        .edge("error", "observe", Some(&n(m.errors)));
    for &t in tools {
        let c = m.by_tool.get(t).copied().unwrap_or(0);
        d = d
            .node_in(t, &format!("{t}[…]"), Entity::AgentTool)
            .edge("model", t, Some(&n(c)));
        if t == names::FINISH {
            d = d.edge(t, "answer_ok", Some(&n(m.correct))).edge(
                t,
                "answer_bad",
                Some(&n(m.wrong)),
            );
        } else {
            d = d.edge(t, "observe", Some(&n(c)));
        }
    }
    let observed: usize = m.errors
        + tools
            .iter()
            .filter(|&&t| t != names::FINISH)
            .map(|&t| m.by_tool.get(t).copied().unwrap_or(0))
            .sum::<usize>();
    d.edge("model", "stopped", Some(&n(m.stopped())))
        .back("observe", "model", Some(&n(observed)))
}

/// What the figures and the log read from the record: the config, every variant's outcomes in
/// config order, and which of them is the policy.
struct Loaded {
    cfg: AgentExperiment,
    all: Vec<(String, Vec<Outcome>)>,
    policy: usize,
}

fn loaded(rec: &Record) -> Result<Loaded> {
    let cfg: AgentExperiment = rec.config_as()?;
    let all = cfg
        .variant
        .iter()
        .map(|v| {
            Ok((
                v.name.clone(),
                rec.artifact(&format!("outcomes_{}", v.name))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let policy = all
        .iter()
        .position(|(n, _)| *n == cfg.policy)
        .context("the record has no outcomes of the policy variant")?;
    Ok(Loaded { cfg, all, policy })
}

/// The task kinds of `cfg`, then None for all of them together.
fn kinds_and_all(cfg: &AgentExperiment) -> Vec<Option<QuestionKind>> {
    let mut kinds: Vec<Option<QuestionKind>> = cfg.kinds.iter().copied().map(Some).collect();
    kinds.push(None);
    kinds
}

fn rate(os: &[&Outcome]) -> (usize, usize) {
    (os.iter().filter(|o| o.correct).count(), os.len())
}

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let Loaded { cfg, all, policy } = loaded(&rec)?;
    let outcomes = &all[policy].1;
    let m = moves(outcomes);
    let loop_fig = FigureSpec::new(
        FIG_LOOP,
        DiagramFigure {
            title: format!(
                "Agent loop, policy {}: {} of {} held-out right, {} wrong, {} stopped",
                cfg.policy,
                m.correct,
                outcomes.len(),
                m.wrong,
                m.stopped()
            ),
            diagram: loop_diagram(&m, &[names::SEARCH, names::CALC, names::FINISH]),
        },
    );
    let mut curves = Vec::new();
    for (name, _) in &all {
        curves.push((
            name.replace('_', " "),
            rec.series(&metric::train_loss(name))?,
        ));
    }
    let mut loss = LineChart::new(
        loss_title(&curves),
        "fine-tuning step",
        "loss per scored token (nats, log scale)",
    )
    .log_y();
    for (name, points) in curves {
        loss = loss.series(Series::new(name, points));
    }
    let groups: Vec<SuccessGroup> = all
        .iter()
        .map(|(name, os)| SuccessGroup {
            label: name.replace('_', " "),
            entity: None,
            tasks: os.iter().map(|o| (o.kind, o.correct)).collect(),
        })
        .collect();
    let bars = success_bars(
        log::success_title(&all)?.unwrap_or_else(|| {
            format!(
                "Held-out task success with search, by kind ({} tasks per kind)",
                cfg.eval_tasks
            )
        }),
        &cfg.kinds,
        &groups,
    );
    Ok(vec![
        loop_fig,
        FigureSpec::new(FIG_LOSS, loss),
        FigureSpec::new(FIG_SUCCESS, bars),
        phrasings::figure(&all),
    ])
}

/// `v` to two significant figures (8.5, 0.025).
fn sig2(v: f64) -> String {
    let decimals = if v > 0.0 {
        (1.0 - v.log10().floor()).max(0.0) as usize
    } else {
        1
    };
    format!("{v:.decimals$}")
}

/// The loss figure's title: what the curves support — how far every variant's loss fell from its
/// first logged value to its last (the smallest such factor, as a power of ten it exceeds), and in
/// how many steps. No endpoint values side by side: the variants write actions differently, so
/// their scored tokens are not the same stream and their losses do not rank them.
fn loss_title(curves: &[(String, Vec<(f64, f64)>)]) -> String {
    let falls: Vec<f64> = curves
        .iter()
        .filter_map(|(_, pts)| Some(pts.first()?.1 / pts.last()?.1))
        .collect();
    let steps = curves
        .iter()
        .filter_map(|(_, pts)| pts.last().map(|p| p.0))
        .fold(0.0, f64::max);
    let least = falls.iter().copied().fold(f64::INFINITY, f64::min);
    let every = if falls.len() == 2 { "both" } else { "every" };
    if falls.len() < 2 || !least.is_finite() || least <= 1.0 {
        return "Imitation: loss on the policy's own tokens (the curves do not rank the variants)"
            .into();
    }
    let fold = if least >= 10.0 {
        format!("over {}-fold", sig2(10f64.powf(least.log10().floor())))
    } else {
        format!("{}-fold", sig2(least))
    };
    format!("Imitation loss falls {fold} in {steps:.0} steps for {every} variants (not a ranking)")
}

/// One system's (or policy's) bars in [`success_bars`].
pub struct SuccessGroup {
    pub label: String,
    /// The entity it stands for, if any (its colour); else the palette in order.
    pub entity: Option<Entity>,
    /// (kind, answered right) per task.
    pub tasks: Vec<(QuestionKind, bool)>,
}

/// Grouped bars of success per task kind (and all kinds), one group per system or variant, each
/// bar with its Wilson 95 % interval.
pub fn success_bars(title: String, kinds: &[QuestionKind], groups: &[SuccessGroup]) -> GroupedBars {
    let mut cats: Vec<String> = kinds.iter().map(|&k| kind_name(k).to_string()).collect();
    cats.push("all".into());
    let mut bars = GroupedBars::new(title, "tasks answered exactly (%)", cats);
    for (i, g) in groups.iter().enumerate() {
        let (mut vals, mut whiskers) = (Vec::new(), Vec::new());
        for k in kinds.iter().map(|&k| Some(k)).chain([None]) {
            let of: Vec<bool> = g
                .tasks
                .iter()
                .filter(|(kind, _)| k.is_none_or(|k| *kind == k))
                .map(|(_, c)| *c)
                .collect();
            let c = of.iter().filter(|&&c| c).count();
            let stats::Interval { low: lo, high: hi } = stats::wilson(c, of.len(), 0.95);
            vals.push(100.0 * c as f64 / of.len().max(1) as f64);
            whiskers.push((100.0 * lo, 100.0 * hi));
        }
        // One legend entry for the intervals, after the last group's.
        let legend = if i + 1 == groups.len() {
            "Wilson 95 % interval"
        } else {
            ""
        };
        bars = bars
            .group(g.label.clone(), vals)
            .entity_if(g.entity)
            .whiskers(legend, whiskers);
    }
    bars
}

fn pct(v: f64) -> String {
    format!("{:.1} %", 100.0 * v)
}

fn share(c: usize, n: usize) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{} ({c} of {n})", pct(c as f64 / n as f64))
    }
}

/// The milestone's headline.
pub fn headline(ctx: &Context) -> Option<String> {
    let rec = record(ctx)?;
    let cfg: AgentExperiment = rec.config_as().ok()?;
    let summary: AgentSummary = rec.summary_as().ok()?;
    Some(crate::headline_text(
        "m10",
        &serde_json::json!({
            "success": pct(summary.variants.get(&cfg.policy)?.success),
            "policy": cfg.policy,
        }),
    ))
}

/// `cargo xtask agent "question"`: the saved policy answers with `search`, and the transcript is
/// printed.
/// With `remote`, the model is any OpenAI-compatible server's instead of the saved policy: the same
/// loop, tools and world. `describe_tools` lists each tool with its description (for a larger model;
/// our policy was trained on the one-line list).
pub fn ask(
    ctx: &Context,
    question: &str,
    toolset: Toolset,
    remote: Option<openai_client::ClientConfig>,
    describe_tools: bool,
) -> Result<()> {
    ensure!(!question.trim().is_empty(), "the question is empty");
    let (mut cfg, _): (AgentExperiment, toml::Value) = ctx.load_config(super::PHASE, AGENT)?;
    cfg.agent.describe_tools |= describe_tools;
    let (world, _) = reader_world(ctx)?;
    let world = Arc::new(world);
    let corpus = Arc::new(Corpus::of(&world)?);
    let dir = phase2_lm::checkpoint::dir_for(ctx, POLICY);
    let mut lm: Box<dyn LanguageModel> = match remote {
        Some(client) => Box::new(openai_client::OpenAiLm::new(client)?),
        None => {
            ensure!(
                dir.join("config.toml").is_file(),
                "no agent policy in {}: {} (it needs m8's reader first: `cargo xtask phase3 --only m8_reader`)",
                dir.display(),
                viz::record::produced_by(
                    ctx,
                    &format!("cargo xtask phase4 --only {AGENT}"),
                    "m10",
                    "agent"
                )
            );
            Box::new(GptLm::new(
                "policy",
                Generator::from_checkpoint(&dir, GptLm::greedy())?,
            ))
        }
    };
    let mut tools = toolset.build(&corpus, &world, cfg.search_k);
    let t0 = Instant::now();
    let ep = react::run(lm.as_mut(), &mut tools, question, &cfg.agent, 0);
    print!("{}", ep.transcript());
    println!(
        "-- {:?}: {} in {} steps, {} tokens, {:.0} ms",
        ep.end,
        ep.answer.as_deref().unwrap_or("no answer"),
        ep.steps.len(),
        ep.tokens(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use phase2_lm::tokenizer::CharTokenizer;
    use phase3_rag::world::{Split, WorldConfig};
    use phase4_agents::planner;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn m10_demonstrations_score_only_what_the_model_writes() {
        let world = Arc::new(World::generate(&WorldConfig::default()).unwrap());
        let corpus = Arc::new(Corpus::of(&world).unwrap());
        let qs = tasks(
            &world,
            &[QuestionKind::MultiHop, QuestionKind::Numeric],
            5,
            3,
            "t-",
            &|q| q.split == Split::Seen,
        );
        let mut tools = Toolset::Search.build(&corpus, &world, 1);
        let demo = qs
            .iter()
            .find_map(|q| planner::demonstrate(q, Toolset::Search, &mut tools, false, true))
            .expect("some task is demonstrable");
        let text = demo.text();
        let tok: AnyTokenizer = CharTokenizer::from_text(&text).into();
        let e = example(&demo, &tok);
        assert_eq!(e.tokens, tok.encode(&text));
        let scored: String = e
            .scored
            .iter()
            .map(|r| tok.decode(&e.tokens[r.clone()]))
            .collect();
        // Exactly the thoughts and actions (and the stop after each) are the model's.
        assert!(scored.contains("Action: search[ "), "{scored}");
        assert!(
            !scored.contains("Question:") && !scored.contains("* "),
            "{scored}"
        );
        assert!(text.ends_with("]\n\n"));
        // A planner transcript replays through the loop's own reconstruction.
        let (_, first) = react::parse(&demo.pieces[2].0);
        assert_eq!(first.unwrap().tool, names::SEARCH);
    }

    #[test]
    fn m11_the_planner_writes_plans_solver_transcripts_and_verdicts_from_the_chain() {
        let world = Arc::new(World::generate(&WorldConfig::default()).unwrap());
        let corpus = Arc::new(Corpus::of(&world).unwrap());
        let mut tools = Toolset::Search.build(&corpus, &world, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for kind in [
            QuestionKind::Lookup,
            QuestionKind::MultiHop,
            QuestionKind::Numeric,
            QuestionKind::Comparison,
        ] {
            let qs = tasks(&world, &[kind], 5, 3, "t-", &|q| q.split == Split::Seen);
            let (q, (solvers, verdicts)) = qs
                .iter()
                .find_map(|q| {
                    planner::team_demos(q, &world, &mut tools, true, &mut rng).map(|d| (q, d))
                })
                .expect("some task is demonstrable");
            let plan = planner::plan_demo(q).unwrap();
            let subs = phase4_agents::team::parse_plan(&plan.pieces[1].0, 4);
            assert_eq!(
                subs.len(),
                solvers.len(),
                "{kind:?}: one solver per sub-question"
            );
            // The last solver finishes with the gold answer; a later solver reads earlier answers.
            let last = solvers.last().unwrap().text();
            assert!(
                last.ends_with(&format!("finish[ {}]\n\n", q.answer)),
                "{last}"
            );
            if kind == QuestionKind::MultiHop {
                assert!(subs[1].contains("#1"));
                assert!(solvers[1].text().contains(&q.chain[0].value));
            }
            // Two verdicts over the same evidence: the gold answer yes, a wrong one no.
            let (yes, no) = (verdicts[0].text(), verdicts[1].text());
            assert!(
                yes.ends_with(&format!("Answer: {}\nVerdict: yes\n", q.answer)),
                "{yes}"
            );
            assert!(
                no.ends_with("Verdict: no\n") && !no.contains(&format!("Answer: {}\n", q.answer))
            );
            assert_eq!(yes.split("Answer:").next(), no.split("Answer:").next());
        }
    }

    #[test]
    fn m10_loss_title_states_how_far_every_variant_fell_and_ranks_none() {
        assert_eq!(
            (sig2(8.51), sig2(0.02517), sig2(0.0537)),
            ("8.5".into(), "0.025".into(), "0.054".into())
        );
        let curves = vec![
            ("spaced".to_string(), vec![(10.0, 8.51), (900.0, 0.0252)]),
            ("unspaced".to_string(), vec![(10.0, 8.79), (900.0, 0.0537)]),
        ];
        let title = loss_title(&curves);
        assert_eq!(
            title,
            "Imitation loss falls over 100-fold in 900 steps for both variants (not a ranking)"
        );
        assert!(!title.contains("0.025") && !title.contains("0.054"));
    }

    #[test]
    fn m10_held_out_phrasings_are_the_last_of_two_or_more() {
        let mut q = World::generate(&WorldConfig::default())
            .unwrap()
            .questions()[0]
            .clone();
        q.templates = 3;
        q.template = 2;
        assert!(held_out_phrasing(&q));
        q.template = 1;
        assert!(!held_out_phrasing(&q));
        q.templates = 1;
        q.template = 0;
        assert!(!held_out_phrasing(&q));
    }
}
