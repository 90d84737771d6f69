//! m12's tables: success and effort per system, the paired tests, where the agents' misses
//! stopped, what the dev suite chose, and the main comparison over policy seeds.

use std::collections::BTreeMap;

use phase3_rag::world::Question;
use serde::Serialize;
use stats::Verdict;
use viz::claims::p_cell;
use viz::table::Table;

use super::log::{miss_reasons, paired, pct, Paired, Tests, REASONS};
use super::{of_kind, BySystem, Eval, EvalConfig, Outcome, System};
use crate::m10::kind_name;

/// What the dev suite chose, before the test suite ran.
#[derive(Serialize)]
pub(super) struct DevValues {
    seed: String,
    tasks: String,
    ks: String,
    /// Per tuned system and kind: the chosen k and its dev success.
    table: String,
    /// Dev tasks right per candidate baseline (`right` of `tasks`).
    right: Vec<DevRight>,
    /// Dev tasks right per search agent (free or constrained decoding).
    agents: Vec<DevRight>,
}

#[derive(Serialize)]
pub(super) struct DevRight {
    system: String,
    right: String,
    pct: String,
}

/// The main comparison repeated over policy seeds: one exact McNemar test per seed, Holm over the
/// seeds ("m12 seeds").
#[derive(Serialize)]
pub(super) struct SeedsValues {
    n: String,
    seeds: String,
    better: String,
    tied: String,
    worse: String,
    agent_mean: String,
    agent_sd: String,
    baseline_mean: String,
    baseline_sd: String,
    table: String,
}

/// Success per kind, and overall with its Wilson interval, one row per system: the log's main
/// table (the per-kind intervals are the figure's whiskers).
pub(super) fn success_table(e: &Eval) -> Table {
    let (cfg, all) = (&e.cfg, &e.all);
    let mut table = Table::new(
        &std::iter::once("system".to_string())
            .chain(cfg.kinds.iter().map(|&k| kind_name(k).to_string()))
            .chain(["all (Wilson 95 %)".to_string()])
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    // A tuned RAG that is single-shot RAG by construction would repeat its row.
    let shown = all
        .iter()
        .filter(|(s, _)| !(e.tuned_is_rag() && *s == System::RagTuned));
    for (system, os) in shown {
        let mut row = vec![system.label().to_string()];
        for &k in &cfg.kinds {
            let of = of_kind(os, Some(k));
            row.push(pct(of.iter().filter(|o| o.correct).count(), of.len()));
        }
        let n = os.len();
        let c = os.iter().filter(|o| o.correct).count();
        let stats::Interval { low: lo, high: hi } = stats::wilson(c, n, 0.95);
        row.push(format!(
            "{} ({:.1}–{:.1})",
            pct(c, n),
            100.0 * lo,
            100.0 * hi
        ));
        table.push(row);
    }
    table
}

/// What each system spent per task, and its wall time.
pub(super) fn effort_table(all: &BySystem, timings: &BTreeMap<String, serde_json::Value>) -> Table {
    let mut table = Table::new(&[
        "system",
        "mean model calls",
        "mean steps",
        "tool errors",
        "mean tokens",
        "wall time (s)",
    ]);
    for (system, os) in all {
        let n = os.len();
        let mean = |f: &dyn Fn(&Outcome) -> usize| {
            format!(
                "{:.1}",
                os.iter().map(f).sum::<usize>() as f64 / n.max(1) as f64
            )
        };
        table.push(vec![
            system.label().to_string(),
            mean(&|o| o.model_calls),
            mean(&|o| o.steps),
            os.iter().map(|o| o.tool_errors).sum::<usize>().to_string(),
            mean(&|o| o.tokens),
            timings
                .get(system.name())
                .and_then(|t| t["wall_s"].as_f64())
                .map_or("–".into(), |s| format!("{s:.0}")),
        ]);
    }
    table
}

/// Each pair on the same tasks, per kind and overall.
pub(super) fn tests_table(tests: &Tests) -> Table {
    let mut table = Table::new(&[
        "comparison (A vs B)",
        "task kind",
        "A",
        "B",
        "only A right",
        "only B right",
        "McNemar p (exact)",
        "Holm p (family)",
        "A is",
    ]);
    for r in &tests.rows {
        table.push(vec![
            format!("{} vs {}", r.a.label(), r.b.label()),
            r.kind.map_or("all".into(), |k| kind_name(k).to_string()),
            pct(r.t.a, r.t.n),
            pct(r.t.b, r.t.n),
            r.t.only_a.to_string(),
            r.t.only_b.to_string(),
            p_cell(r.t.p),
            if r.judged.primary {
                "primary".into()
            } else {
                p_cell(r.judged.p_adjusted)
            },
            r.judged.verdict.word().to_string(),
        ]);
    }
    table
}

/// Where the agents' misses stopped along each task's chain of facts.
pub(super) fn misses_table(
    cfg: &EvalConfig,
    all: &BySystem,
    suite: &BTreeMap<String, Question>,
) -> Table {
    let mut misses = Table::new(
        &["system", "task kind", "missed"]
            .into_iter()
            .chain(REASONS)
            .collect::<Vec<_>>(),
    );
    for (system, os) in all {
        for &k in &cfg.kinds {
            let of = of_kind(os, Some(k));
            if let Some(c) = miss_reasons(&of, suite) {
                let mut row = vec![
                    system.label().to_string(),
                    kind_name(k).to_string(),
                    of.iter().filter(|o| !o.correct).count().to_string(),
                ];
                row.extend(c.iter().map(usize::to_string));
                misses.push(row);
            }
        }
    }
    misses
}

/// The main comparison over every policy seed, when the opt-in record exists.
pub(super) fn seeds_values(runs: &[super::seeds::SeedRun], e: &Eval) -> SeedsValues {
    let (agent, baseline) = (e.agent(), e.baseline());
    let tests: Vec<Paired> = runs
        .iter()
        .map(|r| {
            let a: Vec<&Outcome> = r.agent.iter().collect();
            let b: Vec<&Outcome> = r.baseline.iter().collect();
            paired(&a, &b)
        })
        .collect();
    let rate = |c: usize, n: usize| c as f64 / n.max(1) as f64;
    let family: Vec<(f64, f64)> = tests
        .iter()
        .map(|t| (rate(t.a, t.n) - rate(t.b, t.n), t.p))
        .collect();
    let judged = stats::judge_family(&family);
    let mut table = Table::new(&[
        "policy seed",
        &format!("{} (A)", agent.label()),
        &format!("{} (B)", baseline.label()),
        "only A right",
        "only B right",
        "McNemar p (exact)",
        "Holm p (seeds)",
        "A is",
    ]);
    for ((r, t), j) in runs.iter().zip(&tests).zip(&judged) {
        table.push(vec![
            r.seed.to_string(),
            pct(t.a, t.n),
            pct(t.b, t.n),
            t.only_a.to_string(),
            t.only_b.to_string(),
            p_cell(t.p),
            p_cell(j.p_adjusted),
            j.verdict.word().to_string(),
        ]);
    }
    let count = |v: Verdict| judged.iter().filter(|j| j.verdict == v).count().to_string();
    let rates = |f: &dyn Fn(&Paired) -> usize| -> Vec<f64> {
        tests.iter().map(|t| 100.0 * rate(f(t), t.n)).collect()
    };
    let (a, b) = (rates(&|t| t.a), rates(&|t| t.b));
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len().max(1) as f64;
    SeedsValues {
        n: runs.len().to_string(),
        seeds: runs
            .iter()
            .map(|r| r.seed.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        better: count(Verdict::Better),
        tied: count(Verdict::Tied),
        worse: count(Verdict::Worse),
        agent_mean: format!("{:.1}", mean(&a)),
        agent_sd: format!("{:.1}", stats::sample_sd(&a)),
        baseline_mean: format!("{:.1}", mean(&b)),
        baseline_sd: format!("{:.1}", stats::sample_sd(&b)),
        table: table.markdown().trim_end().to_string(),
    }
}

/// The dev suite's choices: the k of each tuned system per kind, and each candidate's dev success.
pub(super) fn dev_values(e: &Eval) -> Option<DevValues> {
    let (d, cfg) = (e.dev.as_ref()?, e.cfg.dev.as_ref()?);
    let mut table = Table::new(
        &std::iter::once("system (k per retrieval)".to_string())
            .chain(e.cfg.kinds.iter().map(|&k| kind_name(k).to_string()))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    for system in super::dev::TUNED {
        let mut row = vec![system.label().to_string()];
        for &kind in &e.cfg.kinds {
            let cell = d.k(system, kind).and_then(|k| {
                d.cells
                    .iter()
                    .find(|c| c.system == system && c.kind == kind && c.k == k)
            });
            row.push(cell.map_or("–".into(), |c| {
                format!("k = {} ({})", c.k, pct(c.right, c.n))
            }));
        }
        table.push(row);
    }
    Some(DevValues {
        seed: cfg.seed.to_string(),
        tasks: d.tasks.to_string(),
        ks: cfg
            .ks
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        table: table.markdown().trim_end().to_string(),
        right: dev_right(&d.right, d.tasks),
        agents: dev_right(&d.agent_right, d.tasks),
    })
}

fn dev_right(right: &[(System, usize)], tasks: usize) -> Vec<DevRight> {
    right
        .iter()
        .map(|(s, r)| DevRight {
            system: s.label().to_string(),
            right: r.to_string(),
            pct: pct(*r, tasks),
        })
        .collect()
}
