//! `cargo xtask policy-seeds` (opt-in, ~7 minutes per seed on 2 cores): m12's main comparison
//! repeated with m10's policy trained again under other seeds, so that its verdict covers
//! retraining, not only the sampling of tasks.
//!
//! The cheapest honest route: each seed fine-tunes the same m8 reader again on its own draw of
//! training tasks, demonstrations and batches (the reader itself is trained once), and only the
//! two systems of the main comparison — the agent and the baseline the main run's dev suite chose,
//! with the k it chose — answer the main run's suite with that policy behind both. The main run's
//! own policy is the first seed. A seed whose policy is already saved
//! (`checkpoints/m10_agent_seed<N>`) is not trained again, so an interrupted run resumes (its
//! record then holds no training curve for that seed). With `fresh_suite_seed`, m10's own policy
//! also meets the main comparison on a second suite, drawn after the design was fixed.
//!
//! Records: `records/m12/seeds/`, never written by `cargo xtask all`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{ensure, Context as _, Result};
use serde::{Deserialize, Serialize};
use viz::record::{Record, RunWriter};
use viz::Context;

use phase3_rag::world::{Question, Split, World};
use phase4_agents::backend::Models;
use phase4_agents::tools::Corpus;

use super::{load, record, run_system, suite, Eval, Outcome, System, MILESTONE};
use crate::m10;
use crate::m11::world_and_models;

/// The opt-in run's config: `configs/phase4/m12_seeds.toml`.
pub const SEEDS: &str = "m12_seeds";
const RECORD: &str = "seeds";

/// `configs/phase4/m12_seeds.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedsConfig {
    /// Policy training seeds besides m10's own.
    pub seeds: Vec<u64>,
    /// Draws a second suite as m12 draws its own (held-out entities, every phrasing), keeping only
    /// questions neither m12's suite nor its dev suite asked; m10's own policy meets the main
    /// comparison there once more.
    #[serde(default)]
    pub fresh_suite_seed: Option<u64>,
}

/// One seed's two systems on the suite.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedSummary {
    pub agent: f64,
    pub baseline: f64,
}

/// The record's summary: the systems compared, and each seed's success rates.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedsSummary {
    pub tasks: u64,
    #[serde(flatten)]
    pub seeds: BTreeMap<String, SeedSummary>,
}

/// One policy seed's outcomes (or, for the second suite, its suite seed's), as the log reads them.
pub(crate) struct SeedRun {
    pub seed: u64,
    pub agent: Vec<Outcome>,
    pub baseline: Vec<Outcome>,
}

fn policy_name(seed: u64) -> String {
    format!("{}_seed{seed}", m10::POLICY)
}

fn outcomes_name(seed: u64, system: System) -> String {
    format!("outcomes_seed{seed}_{system}")
}

/// What one run of the main comparison needs: m12's run read back, its world and documents.
struct Setup<'a> {
    e: &'a Eval,
    world: &'a Arc<World>,
    corpus: &'a Arc<Corpus>,
}

impl Setup<'_> {
    /// The agent and the baseline on `suite` with `models`; each one's outcomes go into `rec` as
    /// `name(system)`, and its success comes back.
    fn compare(
        &self,
        ctx: &Context,
        suite: &[Question],
        models: &Models,
        rec: &mut RunWriter,
        name: &dyn Fn(System) -> String,
    ) -> Result<SeedSummary> {
        let mut rate = BTreeMap::new();
        for system in [self.e.agent(), self.e.baseline()] {
            let bar = ctx.progress(suite.len() as u64, &format!("m12 {}", name(system)));
            let outcomes = run_system(
                system,
                suite,
                models,
                self.corpus,
                self.world,
                &self.e.cfg,
                self.e.dev.as_ref(),
                &|| bar.inc(1),
            )?;
            bar.finish_and_clear();
            let right = outcomes.iter().filter(|o| o.correct).count();
            rate.insert(system, right as f64 / outcomes.len().max(1) as f64);
            rec.artifact(&name(system), &outcomes)?;
        }
        Ok(SeedSummary {
            agent: rate[&self.e.agent()],
            baseline: rate[&self.e.baseline()],
        })
    }

    /// A second suite drawn as m12 draws its own, leaving out every question m12's suite or its
    /// dev suite asked.
    fn second_suite(&self, suite: &[Question], seed: u64) -> Vec<Question> {
        let e = self.e;
        let mut asked: BTreeSet<String> = suite.iter().map(|q| q.text.clone()).collect();
        if let Some(d) = &e.cfg.dev {
            let dev = super::dev::suite(self.world, &e.cfg, d, suite);
            asked.extend(dev.into_iter().map(|q| q.text));
        }
        m10::tasks(
            self.world,
            &e.cfg.kinds,
            e.cfg.tasks,
            seed,
            "m12fresh-",
            &|q| q.split == Split::HeldOut && !asked.contains(&q.text),
        )
    }
}

pub fn run_seeds(ctx: &Context) -> Result<String> {
    let (cfg, raw): (SeedsConfig, toml::Value) = ctx.load_config(crate::PHASE, SEEDS)?;
    ensure!(!cfg.seeds.is_empty(), "{SEEDS}: `seeds` is empty");
    let main = record(ctx).context(
        "the seeds repeat m12's main comparison: run `cargo xtask phase4 --only m12_eval` first",
    )?;
    let e = load(&main)?;
    let policy_seed = Record::load(ctx, m10::MILESTONE, "agent")?.meta.seed;
    ensure!(
        !cfg.seeds.contains(&policy_seed),
        "{SEEDS}: seed {policy_seed} is m10's own policy, already in m12's record"
    );
    let (world, corpus, _) = world_and_models(ctx, None)?;
    let setup = Setup {
        e: &e,
        world: &world,
        corpus: &corpus,
    };
    let suite = suite(&world, &e.cfg);
    let mut rec = RunWriter::create(ctx, MILESTONE, RECORD, &raw, cfg.seeds[0])?;
    let mut summary = SeedsSummary {
        tasks: suite.len() as u64,
        seeds: BTreeMap::new(),
    };
    let mut line = Vec::new();
    let mut report = |what: String, s: &SeedSummary| {
        line.push(format!(
            "{what}: {} {:.1} % vs {} {:.1} %",
            e.agent().label(),
            100.0 * s.agent,
            e.baseline().label(),
            100.0 * s.baseline
        ))
    };
    for &seed in &cfg.seeds {
        let dir = phase2_lm::checkpoint::dir_for(ctx, &policy_name(seed));
        if !dir.join("config.toml").is_file() {
            m10::train_policy_seed(ctx, seed, &dir, &mut rec, &format!("seed{seed}"))?;
        }
        let models = Models::load(&dir, None)?;
        let s = setup.compare(ctx, &suite, &models, &mut rec, &|sys| {
            outcomes_name(seed, sys)
        })?;
        report(format!("seed {seed}"), &s);
        summary.seeds.insert(format!("seed{seed}"), s);
        rec.summaries(&summary)?;
    }
    if let Some(seed) = cfg.fresh_suite_seed {
        let fresh = setup.second_suite(&suite, seed);
        let models = Models::load(&phase2_lm::checkpoint::dir_for(ctx, m10::POLICY), None)?;
        let s = setup.compare(ctx, &fresh, &models, &mut rec, &fresh_name)?;
        report(format!("fresh suite ({} tasks)", fresh.len()), &s);
        summary.seeds.insert("fresh".into(), s);
        rec.summaries(&summary)?;
    }
    rec.finish()?;
    Ok(line.join("; "))
}

fn fresh_name(system: System) -> String {
    format!("fresh_outcomes_{system}")
}

/// The main comparison on the fresh suite, when the opt-in record holds it.
pub(crate) fn fresh(ctx: &Context, e: &Eval) -> Result<Option<SeedRun>> {
    let Ok(rec) = Record::load(ctx, MILESTONE, RECORD) else {
        return Ok(None);
    };
    let cfg: SeedsConfig = rec.config_as()?;
    let Some(seed) = cfg.fresh_suite_seed else {
        return Ok(None);
    };
    Ok(Some(SeedRun {
        seed,
        agent: rec.artifact(&fresh_name(e.agent()))?,
        baseline: rec.artifact(&fresh_name(e.baseline()))?,
    }))
}

/// Every policy seed's two systems: the main run's first, then the opt-in record's, when it was
/// run for the same comparison; None without the opt-in record.
pub(crate) fn runs(ctx: &Context, e: &Eval) -> Result<Option<Vec<SeedRun>>> {
    let Ok(rec) = Record::load(ctx, MILESTONE, RECORD) else {
        return Ok(None);
    };
    let cfg: SeedsConfig = rec.config_as()?;
    let (agent, baseline) = (e.agent(), e.baseline());
    let of = |s: System| {
        e.all
            .iter()
            .find(|(x, _)| *x == s)
            .map(|(_, os)| os.clone())
            .with_context(|| format!("m12's record has no system `{s}`"))
    };
    let main_seed = Record::load(ctx, m10::MILESTONE, "agent")?.meta.seed;
    let mut runs = vec![SeedRun {
        seed: main_seed,
        agent: of(agent)?,
        baseline: of(baseline)?,
    }];
    for &seed in &cfg.seeds {
        runs.push(SeedRun {
            seed,
            agent: rec.artifact(&outcomes_name(seed, agent)).context(
                "records/m12/seeds compared other systems than m12's record: run \
                 `cargo xtask policy-seeds` again",
            )?,
            baseline: rec.artifact(&outcomes_name(seed, baseline))?,
        });
    }
    Ok(Some(runs))
}
