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
use phase2_lm::model::{lengthen_context, GptConfig};
use phase2_lm::tokenizer::{AnyTokenizer, Tokenizer};
use phase2_lm::train::{RunConfig, TrainConfig, Trainer};
use phase3_rag::rc::{self, Example};
use phase3_rag::reader::exact_match;
use phase3_rag::saved::{self, ReaderWorld};
use phase3_rag::stats::{mcnemar, wilson};
use phase3_rag::world::{Question, QuestionKind, Split, World};
use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use viz::diagram::Diagram;
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::{GroupedBars, LineChart, Series};
use viz::record::{Record, RunWriter};
use viz::table::Table;
use viz::Context;

use phase4_agents::backend::{par_map, Models};
use phase4_agents::planner::{self, Demo};
use phase4_agents::react::{self, AgentConfig, End, Episode};
use phase4_agents::tools::{Corpus, Toolset};

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
                .filter(|a| a.tool == "search" || a.tool == "lookup")
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

pub fn run_agent(ctx: &Context) -> Result<String> {
    let (cfg, raw): (AgentExperiment, toml::Value) = ctx.load_config(super::PHASE, AGENT)?;
    ensure!(!cfg.kinds.is_empty(), "{AGENT}: `kinds` is empty");
    ensure!(
        !cfg.kinds.contains(&QuestionKind::Indirect),
        "{AGENT}: `kinds` cannot include `indirect` (the planner does not teach it)"
    );
    ensure!(cfg.search_k >= 1, "{AGENT}: `search_k` must be at least 1");
    ensure!(
        cfg.agent.max_steps >= 1 && cfg.agent.step_tokens >= 1,
        "{AGENT}: `agent.max_steps` and `agent.step_tokens` must be at least 1"
    );
    let started = Instant::now();
    let (world, reader_dir) = reader_world(ctx)?;
    let (run, params, tokenizer) = phase2_lm::checkpoint::load_weights(&reader_dir)
        .with_context(|| format!("{AGENT} fine-tunes m8's reader"))?;
    let (model, params) = lengthen_context(&run.model, &params, cfg.context)
        .with_context(|| format!("{AGENT}: `context`"))?;
    let block = model.block_size;
    let world = Arc::new(world);
    let corpus = Arc::new(Corpus::of(&world)?);

    ensure!(
        !cfg.variant.is_empty(),
        "{AGENT}: list at least one [[variant]]"
    );
    ensure!(
        cfg.variant.iter().any(|v| v.name == cfg.policy),
        "{AGENT}: `policy` = `{}` names no [[variant]] (have: {})",
        cfg.policy,
        cfg.variant
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let eval_tasks = tasks(
        &world,
        &cfg.kinds,
        cfg.eval_tasks,
        cfg.seed.wrapping_add(1),
        "eval-",
        &|q| q.split == Split::HeldOut,
    );
    let prep_s = started.elapsed().as_secs_f64();
    let mut rec = RunWriter::create(ctx, MILESTONE, RECORD, &raw, cfg.seed)?;
    rec.summary("block_size", block as f64);
    rec.summary("reader_block_size", run.model.block_size as f64);
    rec.summary("tasks", eval_tasks.len() as f64);
    let mut timings = BTreeMap::new();
    timings.insert("prepare_s".to_string(), serde_json::json!(prep_s));
    let mut line = Vec::new();
    for variant in &cfg.variant {
        let v = &variant.name;
        let t0 = Instant::now();
        // Demonstrations of every role, from training tasks: seen entities, trained phrasings.
        let train_tasks = tasks(
            &world,
            &cfg.kinds,
            cfg.train_tasks,
            cfg.seed,
            "train-",
            &|q| q.split == Split::Seen && !held_out_phrasing(q),
        );
        let spaced = variant.spaced_arguments;
        let mut pools: [Vec<Example>; 5] = Default::default();
        let mut demos: BTreeMap<String, DemoCount> = BTreeMap::new();
        let mut demo_rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(3));
        let mut add =
            |pools: &mut [Vec<Example>; 5], role: usize, key: String, rows: Option<Vec<Demo>>| {
                let entry = demos.entry(key).or_default();
                entry.tasks += 1;
                let Some(rows) = rows else { return };
                entry.demonstrated += 1;
                for demo in rows {
                    let e = example(&demo, &tokenizer);
                    entry.rows += 1;
                    entry.longest = entry.longest.max(e.tokens.len());
                    entry.tokens += e.tokens.len();
                    if e.tokens.len() <= block + 1 {
                        entry.fit += 1;
                        pools[role].push(e);
                    }
                }
            };
        for toolset in [Toolset::Search, Toolset::Lookup] {
            let mut tools = toolset.build(&corpus, &world, cfg.search_k);
            for q in &train_tasks {
                let demo =
                    planner::demonstrate(q, toolset, &mut tools, cfg.agent.describe_tools, spaced);
                let key = format!("react {}/{}", toolset.name(), kind_name(q.kind));
                add(&mut pools, 0, key, demo.map(|d| vec![d]));
            }
        }
        let mut tools = Toolset::Search.build(&corpus, &world, cfg.search_k);
        for q in &train_tasks {
            let k = kind_name(q.kind);
            let (solvers, verdicts) =
                match planner::team_demos(q, &world, &mut tools, spaced, &mut demo_rng) {
                    Some((s, v)) => (Some(s), Some(v)),
                    None => (None, None),
                };
            add(&mut pools, 1, format!("solve/{k}"), solvers);
            add(&mut pools, 3, format!("verify/{k}"), verdicts);
            add(
                &mut pools,
                2,
                format!("plan/{k}"),
                planner::plan_demo(q).map(|d| vec![d]),
            );
            if q.kind == QuestionKind::Lookup {
                let read_k = *cfg
                    .mixture
                    .read_k
                    .choose(&mut demo_rng)
                    .context("`mixture.read_k` is empty")?;
                let demo = planner::read_demo(q, &corpus, read_k, &mut demo_rng);
                add(&mut pools, 4, format!("read/{k}"), demo.map(|d| vec![d]));
            }
        }
        let weights = cfg.mixture.weights();
        for (role, pool) in pools.iter().enumerate() {
            ensure!(
                weights[role] <= 0.0 || !pool.is_empty(),
                "{AGENT}: no `{}` demonstration fits the policy's {block}-token context",
                ROLES[role]
            );
        }
        let roles = WeightedIndex::new(weights).with_context(|| {
            format!("{AGENT}: `mixture` weights must be ≥ 0 with a positive sum")
        })?;
        let demo_s = t0.elapsed().as_secs_f64();

        let mut trainer = Trainer::from_params(
            RunConfig {
                model: model.clone(),
                train: cfg.train.clone(),
            },
            params.clone(),
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(2));
        let bar = ctx.progress(cfg.train.steps as u64, &format!("m10 imitation ({v})"));
        let t_train = Instant::now();
        let mut window = Vec::new();
        for step in 0..cfg.train.steps {
            let rows: Vec<&Example> = (0..cfg.train.batch_size)
                .map(|_| {
                    let pool = &pools[roles.sample(&mut rng)];
                    &pool[rng.gen_range(0..pool.len())]
                })
                .collect();
            let stats = trainer.step_on(&rc::batch(&rows, block)?)?;
            window.push(stats.loss as f64);
            if (step + 1) % cfg.train.log_interval == 0 || step + 1 == cfg.train.steps {
                let mean = window.iter().sum::<f64>() / window.len() as f64;
                window.clear();
                rec.scalar(step as u64 + 1, &format!("train_loss/{v}"), mean)?;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let train_s = t_train.elapsed().as_secs_f64();
        if *v == cfg.policy {
            phase2_lm::checkpoint::save(
                &phase2_lm::checkpoint::dir_for(ctx, POLICY),
                &trainer,
                &tokenizer,
            )?;
        }

        let bar = ctx.progress(eval_tasks.len() as u64, &format!("m10 held-out ({v})"));
        let t_eval = Instant::now();
        let calls_at_eval = planner::calls();
        let outcomes = evaluate(
            &model,
            trainer.params(),
            &tokenizer,
            &eval_tasks,
            Toolset::Search,
            &corpus,
            &world,
            cfg.search_k,
            &cfg.agent,
            cfg.train.workers,
            &|| bar.inc(1),
        )?;
        ensure!(
            planner::calls() == calls_at_eval,
            "the scripted planner was called during evaluation"
        );
        bar.finish_and_clear();
        let eval_s = t_eval.elapsed().as_secs_f64();

        let correct = outcomes.iter().filter(|o| o.correct).count();
        rec.summary(
            &format!("{v}/success"),
            correct as f64 / outcomes.len().max(1) as f64,
        );
        for &k in &cfg.kinds {
            let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == k).collect();
            rec.summary(
                &format!("{v}/{}/success", kind_name(k)),
                of.iter().filter(|o| o.correct).count() as f64 / of.len().max(1) as f64,
            );
        }
        for (role, pool) in pools.iter().enumerate() {
            rec.summary(&format!("{v}/examples/{}", ROLES[role]), pool.len() as f64);
        }
        rec.artifact(&format!("demonstrations_{v}"), &demos)?;
        rec.artifact(&format!("outcomes_{v}"), &outcomes)?;
        let latencies: Vec<&Vec<f64>> = outcomes.iter().map(|o| &o.episode.latencies_ms).collect();
        timings.insert(
            v.clone(),
            serde_json::json!({
                "demonstrate_s": demo_s, "train_s": train_s, "evaluate_s": eval_s,
                "model_call_ms": latencies,
            }),
        );
        line.push(format!(
            "{v}: {} rows, held-out success {:.1} % ({correct} of {}), trained {train_s:.0} s",
            pools.iter().map(Vec::len).sum::<usize>(),
            100.0 * correct as f64 / outcomes.len().max(1) as f64,
            outcomes.len()
        ));
    }
    rec.artifact("timings", &timings)?;
    rec.finish()?;
    Ok(line.join("; "))
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
/// episodes took it. The way back to the next model turn is a node of its own, so the diagram stays
/// a top-to-bottom flow.
fn loop_diagram(m: &Moves, tools: &[&str]) -> Diagram {
    let n = |v: usize| v.to_string();
    let mut d = Diagram::new()
        .node("question", "question")
        .node("model", "model turn: Thought + Action")
        .node("error", "malformed action, unknown tool or tool error")
        .node("stopped", "stopped: step budget or context full")
        .node("observe", "observation appended → next model turn")
        .node("answer_ok", "answer: correct")
        .node("answer_bad", "answer: wrong")
        .edge("question", "model", Some(&n(m.episodes)))
        .edge("model", "error", Some(&n(m.errors)))
        .edge("error", "observe", Some(&n(m.errors)));
    for &t in tools {
        let c = m.by_tool.get(t).copied().unwrap_or(0);
        d = d.node(t, &format!("{t}[…]")).edge("model", t, Some(&n(c)));
        if t == "finish" {
            d = d.edge(t, "answer_ok", Some(&n(m.correct))).edge(
                t,
                "answer_bad",
                Some(&n(m.wrong)),
            );
        } else {
            d = d.edge(t, "observe", Some(&n(c)));
        }
    }
    d.edge(
        "model",
        "stopped",
        Some(&n(m.budget + m.context_full + m.model_error)),
    )
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

pub fn figures(ctx: &Context) -> Result<Vec<PathBuf>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let Loaded { cfg, all, policy } = loaded(&rec)?;
    let policy = &all[policy].1;
    let m = moves(policy);
    let loop_path = ctx.figure(FIG_LOOP);
    viz::plot::render_diagram(
        &loop_diagram(&m, &["search", "calc", "finish"]),
        &format!(
            "The agent loop on {} held-out tasks (policy `{}`; edges: times taken)",
            policy.len(),
            cfg.policy
        ),
        &loop_path,
    )?;
    let mut loss = LineChart::new(
        "Imitation: loss on the policy's own tokens",
        "fine-tuning step",
        "loss per scored token (nats, log scale)",
    )
    .log_y();
    for (name, _) in &all {
        loss = loss.series(Series::new(
            name.replace('_', " "),
            rec.series(&format!("train_loss/{name}")),
        ));
    }
    let loss_path = ctx.figure(FIG_LOSS);
    loss.render(&loss_path)?;
    let groups: Vec<(String, Vec<(QuestionKind, bool)>)> = all
        .iter()
        .map(|(name, os)| {
            (
                name.replace('_', " "),
                os.iter().map(|o| (o.kind, o.correct)).collect(),
            )
        })
        .collect();
    let bars = success_bars(
        format!(
            "Held-out task success with search, by kind ({} tasks per kind)",
            cfg.eval_tasks
        ),
        &cfg.kinds,
        &groups,
    );
    let bars_path = ctx.figure(FIG_SUCCESS);
    bars.render(&bars_path)?;
    Ok(vec![loop_path, loss_path, bars_path])
}

/// Grouped bars of success per task kind (and all kinds), one group per system or variant, each
/// bar with its Wilson 95 % interval; `groups` are (label, (kind, correct) per task).
pub fn success_bars(
    title: String,
    kinds: &[QuestionKind],
    groups: &[(String, Vec<(QuestionKind, bool)>)],
) -> GroupedBars {
    let mut cats: Vec<String> = kinds.iter().map(|&k| kind_name(k).to_string()).collect();
    cats.push("all".into());
    let mut bars = GroupedBars::new(title, "tasks answered exactly (%)", cats);
    for (i, (label, tasks)) in groups.iter().enumerate() {
        let (mut vals, mut whiskers) = (Vec::new(), Vec::new());
        for k in kinds.iter().map(|&k| Some(k)).chain([None]) {
            let of: Vec<bool> = tasks
                .iter()
                .filter(|(kind, _)| k.is_none_or(|k| *kind == k))
                .map(|(_, c)| *c)
                .collect();
            let c = of.iter().filter(|&&c| c).count();
            let (lo, hi) = wilson(c, of.len());
            vals.push(100.0 * c as f64 / of.len().max(1) as f64);
            whiskers.push((100.0 * lo, 100.0 * hi));
        }
        // One legend entry for the intervals, on the first group.
        let legend = if i == 0 { "Wilson 95 % interval" } else { "" };
        bars = bars.group(label.clone(), vals).whiskers(legend, whiskers);
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

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let Loaded { cfg, all, policy } = loaded(&rec)?;
    let outcomes = &all[policy].1;
    let mut table = Table::new(&[
        "variant",
        "task kind",
        "success (Wilson 95 %)",
        "trained phrasings",
        "held-out phrasings",
        "first search names the entity",
        "mean steps",
        "tool errors",
        "no answer",
    ]);
    for (name, os) in &all {
        for k in kinds_and_all(&cfg) {
            let of: Vec<&Outcome> = os
                .iter()
                .filter(|o| k.is_none_or(|k| o.kind == k))
                .collect();
            let (c, n) = rate(&of);
            let (lo, hi) = wilson(c, n);
            let trained: Vec<&Outcome> = of
                .iter()
                .copied()
                .filter(|o| !o.held_out_phrasing)
                .collect();
            let held: Vec<&Outcome> = of.iter().copied().filter(|o| o.held_out_phrasing).collect();
            let named: Vec<bool> = of
                .iter()
                .filter_map(|o| o.first_named)
                .map(|n| n == Named::Exact)
                .collect();
            let steps =
                of.iter().map(|o| o.episode.steps.len()).sum::<usize>() as f64 / n.max(1) as f64;
            let (tc, tn) = rate(&trained);
            let (hc, hn) = rate(&held);
            table.push(vec![
                name.replace('_', " "),
                k.map_or("all".into(), |k| kind_name(k).to_string()),
                format!(
                    "{} ({}–{})",
                    pct(c as f64 / n.max(1) as f64),
                    pct(lo),
                    pct(hi)
                ),
                share(tc, tn),
                share(hc, hn),
                share(named.iter().filter(|&&b| b).count(), named.len()),
                format!("{steps:.2}"),
                of.iter()
                    .map(|o| o.episode.tool_errors())
                    .sum::<usize>()
                    .to_string(),
                of.iter()
                    .filter(|o| o.episode.answer.is_none())
                    .count()
                    .to_string(),
            ]);
        }
    }
    let demos: BTreeMap<String, DemoCount> =
        rec.artifact(&format!("demonstrations_{}", cfg.policy))?;
    let mut demo_table = Table::new(&[
        "role / kind",
        "tasks",
        "demonstrated",
        "rows",
        "mean tokens per row",
        "longest",
        "rows that fit the context",
    ]);
    for (k, d) in &demos {
        demo_table.push(vec![
            k.clone(),
            d.tasks.to_string(),
            d.demonstrated.to_string(),
            d.rows.to_string(),
            format!("{:.0}", d.tokens as f64 / d.rows.max(1) as f64),
            d.longest.to_string(),
            d.fit.to_string(),
        ]);
    }
    // Sample transcripts of the policy: the first success and failure of each kind, in task order.
    let mut samples = String::new();
    for want in [true, false] {
        let picked: Vec<&Outcome> = cfg
            .kinds
            .iter()
            .filter_map(|&k| outcomes.iter().find(|o| o.kind == k && o.correct == want))
            .take(cfg.samples)
            .collect();
        for o in picked {
            samples.push_str(&format!(
                "\n**{}, {} ({}; gold: {}).**\n\n```text\n{}```\n",
                kind_name(o.kind),
                if want { "success" } else { "failure" },
                match &o.episode.end {
                    End::Finished => format!(
                        "answered {}",
                        o.episode.answer.as_deref().unwrap_or_default()
                    ),
                    End::Budget => "step budget spent".into(),
                    End::ContextFull => "context full".into(),
                    End::ModelError(e) => format!("model error: {e}"),
                },
                o.gold,
                o.episode.transcript()
            ));
        }
    }
    let results = format!(
        "{}\n\nThe policy's training rows (`{}`), per role and kind: tasks drawn, demonstrated (every \
         search of the plan showed the fact it needs), the rows written, and those short enough for \
         the {:.0}-token context:\n\n{}\n\nSample transcripts of \
         the policy, as the model saw and wrote them:\n{samples}",
        table.markdown().trim_end(),
        cfg.policy,
        rec.require("block_size")?,
        demo_table.markdown().trim_end(),
    );
    let variants_text: Vec<String> = cfg
        .variant
        .iter()
        .map(|v| {
            if v.spaced_arguments {
                format!("`{}` writes actions as `tool[ argument]`", v.name)
            } else {
                format!("`{}` as `tool[argument]`", v.name)
            }
        })
        .collect();
    let mx = &cfg.mixture;
    let setup = format!(
        "m8's reader, its context lengthened from {:.0} to {:.0} tokens (new position rows copied \
         from its last ones), fine-tuned by imitation on {} training tasks per kind (seen entities, \
         phrasings not held out), for which the scripted planner wrote, with the real tools, the \
         rows of every role the policy plays in phase 4: whole-question ReAct transcripts with \
         `search` and with `lookup` ({:.0} % of rows), the team's solver transcripts on one \
         sub-question each ({:.0} %), its plans ({:.0} %) and verdicts ({:.0} %), and m8-style \
         reading rows ({:.0} %, so that the same weights are m12's single-shot RAG reader). The loss \
         is on what the model writes only ({} steps of {} rows, peak rate {}). Variants, each from \
         the same weights with the same steps and rows, differ only in how actions are written: {}. \
         Evaluated greedy with `search` (BM25 over the world's documents, top {}), `calc` and \
         `finish`, at most {} turns of {} tokens, on the same {} tasks per kind about held-out \
         entities. Success = SQuAD exact match of `finish`'s answer. {}",
        rec.require("reader_block_size")?,
        rec.require("block_size")?,
        cfg.train_tasks,
        100.0 * mx.react / mx.weights().iter().sum::<f64>(),
        100.0 * mx.solve / mx.weights().iter().sum::<f64>(),
        100.0 * mx.plan / mx.weights().iter().sum::<f64>(),
        100.0 * mx.verify / mx.weights().iter().sum::<f64>(),
        100.0 * mx.read / mx.weights().iter().sum::<f64>(),
        cfg.train.steps,
        cfg.train.batch_size,
        cfg.train.max_lr,
        variants_text.join("; "),
        cfg.search_k,
        cfg.agent.max_steps,
        cfg.agent.step_tokens,
        cfg.eval_tasks,
        rec.provenance()
    );
    let m = moves(outcomes);
    let n = outcomes.len();
    let finished = m.correct + m.wrong;
    let mut discussion = format!(
        "With policy `{}`, of {n} held-out episodes {finished} ended with `finish` ({} correct) and \
         {} stopped without an answer ({} at the step budget, {} with the context full); the \
         policy made {} malformed or failed calls, each returned to it as an observation.",
        cfg.policy,
        m.correct,
        n - finished,
        m.budget,
        m.context_full,
        m.errors
    );
    // What the first search named, and how often each led to the answer.
    let mut named_parts = Vec::new();
    for n in [
        Named::Exact,
        Named::SeenEntity,
        Named::HeldOutEntity,
        Named::NoEntity,
    ] {
        let of: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.first_named == Some(n))
            .collect();
        if !of.is_empty() {
            let (c, k) = rate(&of);
            named_parts.push(format!(
                "{} in {k} tasks ({} of them answered)",
                n.label(),
                pct(c as f64 / k as f64)
            ));
        }
    }
    if !named_parts.is_empty() {
        discussion.push_str(&format!(
            " Its first search named {}.",
            named_parts.join("; ")
        ));
    }
    for (name, os) in &all {
        let named: Vec<&Outcome> = os.iter().filter(|o| o.first_named.is_some()).collect();
        let exact = named
            .iter()
            .filter(|o| o.first_named == Some(Named::Exact))
            .count();
        discussion.push_str(&format!(
            " `{name}` named the entity exactly in {} of its first searches.",
            share(exact, named.len())
        ));
    }
    // Variants against each other on the same tasks (McNemar's exact test).
    for (i, (na, a)) in all.iter().enumerate() {
        for (nb, b) in &all[i + 1..] {
            let only_a = a
                .iter()
                .zip(b)
                .filter(|(x, y)| x.correct && !y.correct)
                .count();
            let only_b = a
                .iter()
                .zip(b)
                .filter(|(x, y)| !x.correct && y.correct)
                .count();
            let (ca, _) = rate(&a.iter().collect::<Vec<_>>());
            let (cb, _) = rate(&b.iter().collect::<Vec<_>>());
            let p = mcnemar(only_a, only_b);
            let p_text = if p < 0.001 {
                "p < 0.001".to_string()
            } else {
                format!("p = {p:.3}")
            };
            discussion.push_str(&format!(
                " `{nb}` answered {cb} of {n} against `{na}`'s {ca} ({only_b} tasks only it got right, \
                 {only_a} only `{na}`; McNemar {}){}.",
                p_text,
                if p < 0.05 {
                    ": a real difference"
                } else {
                    ": within the noise"
                }
            ));
        }
    }
    let (hc, hn) = rate(
        &outcomes
            .iter()
            .filter(|o| o.held_out_phrasing)
            .collect::<Vec<_>>(),
    );
    let (tc, tn) = rate(
        &outcomes
            .iter()
            .filter(|o| !o.held_out_phrasing)
            .collect::<Vec<_>>(),
    );
    if hn > 0 && tn > 0 {
        discussion.push_str(&format!(
            " Phrasings never seen in training are harder: {} against {} on the trained ones.",
            pct(hc as f64 / hn as f64),
            pct(tc as f64 / tn as f64)
        ));
    }
    Ok(vec![LogEntry {
        id: AGENT.into(),
        milestone: 10,
        title: "m10 — The agent loop: a GPT that searches, calculates and answers".into(),
        question: "Can our own small GPT, taught by imitation, run a ReAct loop on entities it has \
                   never seen — choosing tools, reading their observations, and finishing with an \
                   answer?"
            .into(),
        setup,
        results,
        figures: vec![
            Figure::new(
                FIG_SUCCESS,
                FigureKind::EvaluationTables,
                "Held-out task success per kind and variant, with Wilson 95 % intervals.",
            ),
            Figure::new(
                FIG_LOOP,
                FigureKind::PipelineDiagrams,
                "The loop's states as the code runs them; each edge labelled with how often the policy's held-out episodes took it.",
            ),
            Figure::new(
                FIG_LOSS,
                FigureKind::LossCurves,
                "Imitation loss on the thoughts and actions of the planner's transcripts, per variant.",
            ),
        ],
        discussion,
    }])
}

/// The milestone's headline.
pub fn headline(ctx: &Context) -> Option<String> {
    let rec = record(ctx)?;
    let cfg: AgentExperiment = rec.config_as().ok()?;
    Some(format!(
        "held-out task success {} with search (policy `{}`: m8's reader fine-tuned by imitation)",
        pct(rec.summary(&format!("{}/success", cfg.policy))?),
        cfg.policy
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
    use phase3_rag::world::WorldConfig;

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
        assert_eq!(first.unwrap().tool, "search");
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
