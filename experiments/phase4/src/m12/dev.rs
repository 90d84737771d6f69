//! The non-agent baselines' settings, chosen on a dev suite before the test suite runs: how many
//! documents single-shot RAG reads and how many each step of two-step RAG retrieves, per task kind,
//! and which non-agent system is the best baseline (the one the main comparison faces); likewise
//! whether the search agent decodes its actions constrained or free (the agent the main comparison
//! puts forward).
//!
//! The dev suite is drawn like the test suite, from held-out entities, with its own seed, and
//! keeps only tasks that share no entity with the test suite: no test task's documents are read
//! while a setting is chosen.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{ensure, Result};
use phase3_rag::world::{Question, QuestionKind, Split, World};
use phase4_agents::backend::{par_map, Models};
use phase4_agents::tools::Corpus;
use serde::{Deserialize, Serialize};

use super::{read, read_twice, run_system, EvalConfig, System};
use crate::m10::tasks;

/// `[dev]` of `configs/phase4/m12_eval.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevConfig {
    /// Draws the dev suite (another seed than the test suite's).
    pub seed: u64,
    /// Tasks per kind.
    pub tasks: usize,
    /// Documents per retrieval tried, for single-shot RAG and for each step of two-step RAG.
    pub ks: Vec<usize>,
}

/// One setting on the dev tasks of one kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevCell {
    pub system: System,
    pub kind: QuestionKind,
    pub k: usize,
    pub right: usize,
    pub n: usize,
}

/// What the dev suite chose, recorded as the artifact `dev` before the test suite ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevChoice {
    /// Dev tasks in all (those that share no entity with the test suite).
    pub tasks: usize,
    /// Every setting tried.
    pub cells: Vec<DevCell>,
    /// The k each tuned system uses per kind: the most dev tasks right, the smaller k on a tie.
    pub chosen: Vec<(System, QuestionKind, usize)>,
    /// Dev tasks right over all kinds, per non-agent system at its chosen (or configured) k.
    pub right: Vec<(System, usize)>,
    /// The non-agent system with the most dev tasks right (the simpler one on a tie).
    pub baseline: System,
    /// Dev tasks right over all kinds, per search agent that ran.
    #[serde(default)]
    pub agent_right: Vec<(System, usize)>,
    /// The search agent with the most dev tasks right (free decoding on a tie).
    pub agent: System,
}

impl DevChoice {
    /// The k `system` reads per retrieval on tasks of `kind`.
    pub fn k(&self, system: System, kind: QuestionKind) -> Option<usize> {
        self.chosen
            .iter()
            .find(|(s, k, _)| *s == system && *k == kind)
            .map(|c| c.2)
    }
}

/// The systems the dev suite tunes.
pub const TUNED: [System; 2] = [System::RagTuned, System::RagTwoStep];

/// The non-agent systems the best baseline is chosen from, simplest first.
pub const BASELINES: [System; 3] = [System::Rag, System::RagTuned, System::RagTwoStep];

/// The search agents the main comparison's agent is chosen from, simplest first.
pub const AGENTS: [System; 2] = [System::ReactSearch, System::ReactSearchConstrained];

/// The first of `right` with the most right answers (lists run simplest first).
fn most_right(right: &[(System, usize)]) -> Option<System> {
    // max_by_key keeps the last of equals; reversed, that is the first of the list.
    right.iter().rev().max_by_key(|(_, r)| *r).map(|(s, _)| *s)
}

/// The dev suite of `cfg`: held-out tasks that share no entity with `test`.
pub fn suite(world: &World, cfg: &EvalConfig, dev: &DevConfig, test: &[Question]) -> Vec<Question> {
    let used: BTreeSet<&str> = test
        .iter()
        .flat_map(|q| q.entities.iter().map(String::as_str))
        .collect();
    tasks(world, &cfg.kinds, dev.tasks, dev.seed, "m12dev-", &|q| {
        q.split == Split::HeldOut && q.entities.iter().all(|e| !used.contains(e.as_str()))
    })
}

/// Try every k of `dev` for the tuned systems on the dev suite and choose.
pub fn choose(
    dev_suite: &[Question],
    cfg: &EvalConfig,
    dev: &DevConfig,
    models: &Models,
    (corpus, world): (&Arc<Corpus>, &Arc<World>),
    tick: &(dyn Fn() + Sync),
) -> Result<DevChoice> {
    ensure!(
        !dev.ks.is_empty() && dev.ks.iter().all(|&k| k >= 1),
        "m12_eval: `dev.ks` must list at least one k ≥ 1"
    );
    let mut cells = Vec::new();
    for system in TUNED {
        for &k in &dev.ks {
            let outcomes = par_map(
                dev_suite,
                cfg.workers,
                models,
                cfg.retry_temperature,
                &|lm, _, q: &Question| match system {
                    System::RagTwoStep => read_twice(lm, q, corpus, k, cfg.answer_tokens),
                    _ => read(lm, q, corpus.search(&q.text, k), cfg.answer_tokens),
                },
                tick,
            )?;
            for &kind in &cfg.kinds {
                let of: Vec<_> = outcomes.iter().filter(|o| o.kind == kind).collect();
                cells.push(DevCell {
                    system,
                    kind,
                    k,
                    right: of.iter().filter(|o| o.correct).count(),
                    n: of.len(),
                });
            }
        }
    }
    // The configured RAG (rag_k), for the baseline's choice.
    let rag = par_map(
        dev_suite,
        cfg.workers,
        models,
        cfg.retry_temperature,
        &|lm, _, q: &Question| read(lm, q, corpus.search(&q.text, cfg.rag_k), cfg.answer_tokens),
        tick,
    )?;
    let mut chosen = Vec::new();
    for system in TUNED {
        for &kind in &cfg.kinds {
            let best = cells
                .iter()
                .filter(|c| c.system == system && c.kind == kind)
                .max_by_key(|c| (c.right, std::cmp::Reverse(c.k)))
                .expect("one cell per k");
            chosen.push((system, kind, best.k));
        }
    }
    let tuned_right = |system: System| {
        cells
            .iter()
            .filter(|c| c.system == system && chosen.contains(&(system, c.kind, c.k)))
            .map(|c| c.right)
            .sum::<usize>()
    };
    let right: Vec<(System, usize)> = BASELINES
        .iter()
        .map(|&s| match s {
            System::Rag => (s, rag.iter().filter(|o| o.correct).count()),
            _ => (s, tuned_right(s)),
        })
        .collect();
    let baseline = most_right(&right).expect("three baselines");
    let mut agent_right = Vec::new();
    for system in AGENTS.into_iter().filter(|s| cfg.systems.contains(s)) {
        let outcomes = run_system(system, dev_suite, models, corpus, world, cfg, None, tick)?;
        agent_right.push((system, outcomes.iter().filter(|o| o.correct).count()));
    }
    Ok(DevChoice {
        tasks: dev_suite.len(),
        cells,
        chosen,
        right,
        baseline,
        agent: most_right(&agent_right).unwrap_or(System::ReactSearch),
        agent_right,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m12_the_most_right_wins_and_a_tie_goes_to_the_simpler_system() {
        let r = |a, b, c| {
            vec![
                (System::Rag, a),
                (System::RagTuned, b),
                (System::RagTwoStep, c),
            ]
        };
        assert_eq!(most_right(&r(5, 7, 6)), Some(System::RagTuned));
        assert_eq!(most_right(&r(5, 7, 7)), Some(System::RagTuned));
        assert_eq!(most_right(&r(7, 7, 7)), Some(System::Rag));
        assert_eq!(most_right(&r(1, 2, 3)), Some(System::RagTwoStep));
        assert_eq!(most_right(&[]), None);
        let choice = DevChoice {
            tasks: 8,
            cells: Vec::new(),
            chosen: vec![(System::RagTuned, QuestionKind::MultiHop, 3)],
            right: r(1, 2, 3),
            baseline: System::RagTwoStep,
            agent_right: Vec::new(),
            agent: System::ReactSearch,
        };
        assert_eq!(choice.k(System::RagTuned, QuestionKind::MultiHop), Some(3));
        assert_eq!(choice.k(System::RagTuned, QuestionKind::Lookup), None);
        assert_eq!(choice.k(System::RagTwoStep, QuestionKind::MultiHop), None);
    }
}
