//! m10's run: for each variant, demonstrations of every role from training tasks, imitation from
//! m8's reader, then the held-out evaluation; the policy variant is saved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use phase2_lm::model::{lengthen_context, GptConfig};
use phase2_lm::tokenizer::AnyTokenizer;
use phase2_lm::train::{RunConfig, Trainer};
use phase3_rag::rc::{self, Example};
use phase3_rag::world::{Question, QuestionKind, Split, World};
use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use viz::record::RunWriter;
use viz::Context;

use crate::records::{by_kind, metric, AgentSummary, VariantSummary};
use phase4_agents::planner::{self, Demo};
use phase4_agents::tools::{Corpus, Toolset};

use super::{
    evaluate, example, held_out_phrasing, kind_name, reader_world, tasks, AgentExperiment,
    DemoCount, Outcome, Variant, AGENT, MILESTONE, POLICY, RECORD, ROLES,
};

/// What every variant starts from: the world and its documents, m8's reader with its context
/// lengthened, and the held-out tasks.
struct Start {
    world: Arc<World>,
    corpus: Arc<Corpus>,
    model: GptConfig,
    params: Vec<f32>,
    tokenizer: AnyTokenizer,
    block: usize,
    eval_tasks: Vec<Question>,
}

/// Each role's training rows (in [`ROLES`] order).
type Pools = [Vec<Example>; 5];

/// The world, m8's reader lengthened to the policy's context, and the held-out tasks; the
/// reader's own context.
fn prepare(ctx: &Context, cfg: &AgentExperiment) -> Result<(Start, usize)> {
    check_config(cfg)?;
    check_variants(cfg)?;
    let (world, reader_dir) = reader_world(ctx)?;
    let (run, params, tokenizer) = phase2_lm::checkpoint::load_weights(&reader_dir)
        .with_context(|| format!("{AGENT} fine-tunes m8's reader"))?;
    let (model, params) = lengthen_context(&run.model, &params, cfg.context)
        .with_context(|| format!("{AGENT}: `context`"))?;
    let block = model.block_size;
    let world = Arc::new(world);
    let corpus = Arc::new(Corpus::of(&world)?);
    let eval_tasks = tasks(
        &world,
        &cfg.kinds,
        cfg.eval_tasks,
        cfg.seed.wrapping_add(1),
        "eval-",
        &|q| q.split == Split::HeldOut,
    );
    let start = Start {
        world,
        corpus,
        model,
        params,
        tokenizer,
        block,
        eval_tasks,
    };
    Ok((start, run.model.block_size))
}

/// m10's policy trained again with another `seed` — its own training tasks, demonstrations and
/// batches, from the same m8 reader — and saved in `dir`; the loss goes into `rec` under
/// `tag`. Returns the training seconds. How m12's main comparison is repeated over policy seeds.
pub fn train_policy_seed(
    ctx: &Context,
    seed: u64,
    dir: &std::path::Path,
    rec: &mut RunWriter,
    tag: &str,
) -> Result<f64> {
    let (mut cfg, _): (AgentExperiment, toml::Value) = ctx.load_config(crate::PHASE, AGENT)?;
    cfg.seed = seed;
    cfg.train.seed = seed;
    let (start, _) = prepare(ctx, &cfg)?;
    let variant = cfg
        .variant
        .iter()
        .find(|v| v.name == cfg.policy)
        .context("checked: the policy names a variant")?;
    let (pools, _) = demonstrations(&cfg, &start, variant.spaced_arguments)?;
    let roles = role_sampler(&cfg, &pools, start.block)?;
    let (trainer, train_s) = imitate(ctx, &cfg, &start, tag, &pools, &roles, rec)?;
    phase2_lm::checkpoint::save(dir, &trainer, &start.tokenizer)?;
    Ok(train_s)
}

pub fn run_agent(ctx: &Context) -> Result<String> {
    let (cfg, raw): (AgentExperiment, toml::Value) = ctx.load_config(crate::PHASE, AGENT)?;
    let started = Instant::now();
    let (start, reader_block) = prepare(ctx, &cfg)?;
    let prep_s = started.elapsed().as_secs_f64();
    let mut rec = RunWriter::create(ctx, MILESTONE, RECORD, &raw, cfg.seed)?;
    let mut summary = AgentSummary {
        block_size: start.block as u64,
        reader_block_size: reader_block as u64,
        tasks: start.eval_tasks.len() as u64,
        variants: BTreeMap::new(),
    };
    rec.summaries(&summary)?;
    let mut timings = BTreeMap::new();
    timings.insert("prepare_s".to_string(), serde_json::json!(prep_s));
    let mut line = Vec::new();
    for variant in &cfg.variant {
        line.push(run_variant(
            ctx,
            &cfg,
            &start,
            variant,
            &mut rec,
            &mut summary,
            &mut timings,
        )?);
    }
    rec.artifact("timings", &timings)?;
    rec.finish()?;
    Ok(line.join("; "))
}

fn check_config(cfg: &AgentExperiment) -> Result<()> {
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
    Ok(())
}

fn check_variants(cfg: &AgentExperiment) -> Result<()> {
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
    Ok(())
}

/// One variant: demonstrate, imitate, save (the policy), evaluate, record; its summary line.
fn run_variant(
    ctx: &Context,
    cfg: &AgentExperiment,
    start: &Start,
    variant: &Variant,
    rec: &mut RunWriter,
    summary: &mut AgentSummary,
    timings: &mut BTreeMap<String, serde_json::Value>,
) -> Result<String> {
    let v = &variant.name;
    let t0 = Instant::now();
    let (pools, demos) = demonstrations(cfg, start, variant.spaced_arguments)?;
    let roles = role_sampler(cfg, &pools, start.block)?;
    let demo_s = t0.elapsed().as_secs_f64();

    let (trainer, train_s) = imitate(ctx, cfg, start, v, &pools, &roles, rec)?;
    if *v == cfg.policy {
        phase2_lm::checkpoint::save(
            &phase2_lm::checkpoint::dir_for(ctx, POLICY),
            &trainer,
            &start.tokenizer,
        )?;
    }

    let (outcomes, eval_s) = evaluate_policy(ctx, cfg, start, v, &trainer)?;

    let correct = outcomes.iter().filter(|o| o.correct).count();
    let kinds = cfg.kinds.iter().map(|&k| {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == k).collect();
        let right = of.iter().filter(|o| o.correct).count();
        (k, right as f64 / of.len().max(1) as f64)
    });
    summary.variants.insert(
        v.clone(),
        VariantSummary {
            success: correct as f64 / outcomes.len().max(1) as f64,
            examples: ROLES
                .iter()
                .zip(&pools)
                .map(|(role, pool)| (role.to_string(), pool.len() as u64))
                .collect(),
            by_kind: by_kind(kinds),
        },
    );
    rec.summaries(summary)?;
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
    Ok(format!(
        "{v}: {} rows, held-out success {:.1} % ({correct} of {}), trained {train_s:.0} s",
        pools.iter().map(Vec::len).sum::<usize>(),
        100.0 * correct as f64 / outcomes.len().max(1) as f64,
        outcomes.len()
    ))
}

/// Demonstrations of every role, from training tasks: seen entities, trained phrasings. The rows
/// that fit the context go to their role's pool; every role and kind is counted.
fn demonstrations(
    cfg: &AgentExperiment,
    start: &Start,
    spaced: bool,
) -> Result<(Pools, BTreeMap<String, DemoCount>)> {
    let Start {
        world,
        corpus,
        tokenizer,
        block,
        ..
    } = start;
    let block = *block;
    let train_tasks = tasks(
        world,
        &cfg.kinds,
        cfg.train_tasks,
        cfg.seed,
        "train-",
        &|q| q.split == Split::Seen && !held_out_phrasing(q),
    );
    let mut pools: Pools = Default::default();
    let mut demos: BTreeMap<String, DemoCount> = BTreeMap::new();
    let mut demo_rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(3));
    let mut add = |pools: &mut Pools, role: usize, key: String, rows: Option<Vec<Demo>>| {
        let entry = demos.entry(key).or_default();
        entry.tasks += 1;
        let Some(rows) = rows else { return };
        entry.demonstrated += 1;
        for demo in rows {
            let e = example(&demo, tokenizer);
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
        let mut tools = toolset.build(corpus, world, cfg.search_k);
        for q in &train_tasks {
            let demo =
                planner::demonstrate(q, toolset, &mut tools, cfg.agent.describe_tools, spaced);
            let key = format!("react {}/{}", toolset.name(), kind_name(q.kind));
            add(&mut pools, 0, key, demo.map(|d| vec![d]));
        }
    }
    let mut tools = Toolset::Search.build(corpus, world, cfg.search_k);
    for q in &train_tasks {
        let k = kind_name(q.kind);
        let (solvers, verdicts) =
            match planner::team_demos(q, world, &mut tools, spaced, &mut demo_rng) {
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
            let demo = planner::read_demo(q, corpus, read_k, &mut demo_rng);
            add(&mut pools, 4, format!("read/{k}"), demo.map(|d| vec![d]));
        }
    }
    Ok((pools, demos))
}

/// Draws a training row's role by the mixture's weights; every role with weight has rows.
fn role_sampler(cfg: &AgentExperiment, pools: &Pools, block: usize) -> Result<WeightedIndex<f64>> {
    let weights = cfg.mixture.weights();
    for (role, pool) in pools.iter().enumerate() {
        ensure!(
            weights[role] <= 0.0 || !pool.is_empty(),
            "{AGENT}: no `{}` demonstration fits the policy's {block}-token context",
            ROLES[role]
        );
    }
    WeightedIndex::new(weights)
        .with_context(|| format!("{AGENT}: `mixture` weights must be ≥ 0 with a positive sum"))
}

/// Fine-tunes m8's lengthened reader on the pools, logging the loss; the trainer and its seconds.
fn imitate(
    ctx: &Context,
    cfg: &AgentExperiment,
    start: &Start,
    v: &str,
    pools: &Pools,
    roles: &WeightedIndex<f64>,
    rec: &mut RunWriter,
) -> Result<(Trainer, f64)> {
    let block = start.block;
    let mut trainer = Trainer::from_params(
        RunConfig {
            model: start.model.clone(),
            train: cfg.train.clone(),
        },
        start.params.clone(),
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
            rec.scalar(step as u64 + 1, &metric::train_loss(v), mean)?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((trainer, t_train.elapsed().as_secs_f64()))
}

/// The trained policy on the held-out tasks with `search` (the scripted planner must stay
/// unused); the outcomes and their seconds.
fn evaluate_policy(
    ctx: &Context,
    cfg: &AgentExperiment,
    start: &Start,
    v: &str,
    trainer: &Trainer,
) -> Result<(Vec<Outcome>, f64)> {
    let bar = ctx.progress(
        start.eval_tasks.len() as u64,
        &format!("m10 held-out ({v})"),
    );
    let t_eval = Instant::now();
    let calls_at_eval = planner::calls();
    let outcomes = evaluate(
        &start.model,
        trainer.params(),
        &start.tokenizer,
        &start.eval_tasks,
        Toolset::Search,
        &start.corpus,
        &start.world,
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
    Ok((outcomes, t_eval.elapsed().as_secs_f64()))
}
