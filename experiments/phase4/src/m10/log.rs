//! m10's log entry: the prose is `templates/m10_agent.md`, filled with the numbers computed here.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::Record;
use viz::table::Table;
use viz::template::render_block;
use viz::Context;

use phase4_agents::react::End;

use crate::records::AgentSummary;

use super::phrasings::{self, PhrasingFinding, FIG_PHRASINGS};
use super::{
    kind_name, kinds_and_all, loaded, moves, pct, rate, record, share, AgentExperiment, DemoCount,
    Loaded, Named, Outcome, AGENT, FIG_LOOP, FIG_LOSS, FIG_SUCCESS,
};

const TEMPLATE: &str = include_str!("../../templates/m10_agent.md");

/// What `templates/m10_agent.md` needs, numbers already formatted.
#[derive(Serialize)]
struct AgentValues {
    reader_block_size: String,
    block_size: String,
    train_tasks: String,
    mixture: MixtureShares,
    steps: String,
    batch_size: String,
    max_lr: String,
    variants: Vec<VariantWriting>,
    search_k: String,
    max_steps: String,
    step_tokens: String,
    eval_tasks: String,
    provenance: String,
    table: String,
    policy: String,
    demo_table: String,
    samples: Vec<Sample>,
    episodes: String,
    finished: String,
    correct: String,
    stopped: String,
    budget: String,
    context_full: String,
    errors: String,
    first_named: Vec<FirstNamed>,
    exact_names: Vec<ExactNames>,
    pairs: Vec<VariantPair>,
    phrasings: Option<Phrasings>,
    /// Every variant on trained against held-out phrasings (its figure's caption).
    phrasing_figure: Option<PhrasingFinding>,
}

/// Each role's share of the training rows, in percent.
#[derive(Serialize)]
struct MixtureShares {
    react: String,
    solve: String,
    plan: String,
    verify: String,
    read: String,
}

/// How a variant writes its actions.
#[derive(Serialize)]
struct VariantWriting {
    name: String,
    spaced: bool,
}

/// One sample transcript of the policy.
#[derive(Serialize)]
struct Sample {
    kind: String,
    success: bool,
    /// How the episode ended: `finished`, `budget`, `context_full` or `model_error`.
    end: &'static str,
    answer: String,
    error: String,
    gold: String,
    transcript: String,
}

/// What the policy's first searches named, and how often that led to the answer.
#[derive(Serialize)]
struct FirstNamed {
    named: &'static str,
    tasks: String,
    answered: String,
}

/// How often a variant's first search named the entity exactly.
#[derive(Serialize)]
struct ExactNames {
    name: String,
    share: String,
}

/// Two variants on the same tasks.
#[derive(Serialize)]
struct VariantPair {
    a: String,
    b: String,
    correct_a: String,
    correct_b: String,
    only_a: String,
    only_b: String,
    p: String,
    /// `b` against `a` after the family's correction.
    verdict: stats::Verdict,
}

/// The policy's success on held-out against trained phrasings.
#[derive(Serialize)]
struct Phrasings {
    held_out: String,
    trained: String,
}

/// Success, phrasings, naming and effort per variant and kind.
fn variant_table(cfg: &AgentExperiment, all: &[(String, Vec<Outcome>)]) -> Table {
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
    for (name, os) in all {
        for k in kinds_and_all(cfg) {
            let of: Vec<&Outcome> = os
                .iter()
                .filter(|o| k.is_none_or(|k| o.kind == k))
                .collect();
            let (c, n) = rate(&of);
            let stats::Interval { low: lo, high: hi } = stats::wilson(c, n, 0.95);
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
    table
}

/// The policy's training rows per role and kind.
fn demo_table(demos: &BTreeMap<String, DemoCount>) -> Table {
    let mut demo_table = Table::new(&[
        "role / kind",
        "tasks",
        "demonstrated",
        "rows",
        "mean tokens per row",
        "longest",
        "rows that fit the context",
    ]);
    for (k, d) in demos {
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
    demo_table
}

/// Sample transcripts of the policy: the first success and failure of each kind, in task order.
fn samples(cfg: &AgentExperiment, outcomes: &[Outcome]) -> Vec<Sample> {
    let mut samples = Vec::new();
    for want in [true, false] {
        let picked: Vec<&Outcome> = cfg
            .kinds
            .iter()
            .filter_map(|&k| outcomes.iter().find(|o| o.kind == k && o.correct == want))
            .take(cfg.samples)
            .collect();
        for o in picked {
            let (end, error) = match &o.episode.end {
                End::Finished => ("finished", String::new()),
                End::Budget => ("budget", String::new()),
                End::ContextFull => ("context_full", String::new()),
                End::ModelError(e) => ("model_error", e.to_string()),
            };
            samples.push(Sample {
                kind: kind_name(o.kind).to_string(),
                success: want,
                end,
                answer: o.episode.answer.clone().unwrap_or_default(),
                error,
                gold: o.gold.clone(),
                transcript: o.episode.transcript(),
            });
        }
    }
    samples
}

/// What the policy's first search named, and how often each led to the answer.
fn first_named(outcomes: &[Outcome]) -> Vec<FirstNamed> {
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
            named_parts.push(FirstNamed {
                named: n.label(),
                tasks: k.to_string(),
                answered: pct(c as f64 / k as f64),
            });
        }
    }
    named_parts
}

/// Each variant's share of first searches that named the entity exactly.
fn exact_names(all: &[(String, Vec<Outcome>)]) -> Vec<ExactNames> {
    all.iter()
        .map(|(name, os)| {
            let named: Vec<&Outcome> = os.iter().filter(|o| o.first_named.is_some()).collect();
            let exact = named
                .iter()
                .filter(|o| o.first_named == Some(Named::Exact))
                .count();
            ExactNames {
                name: name.clone(),
                share: share(exact, named.len()),
            }
        })
        .collect()
}

/// Two variants on the same tasks, as the log judges them.
struct VariantTest<'a> {
    a: &'a str,
    b: &'a str,
    /// Tasks each got right, of `n`.
    correct_a: usize,
    correct_b: usize,
    n: usize,
    /// `b` against `a`.
    t: stats::PairedBinary,
    judged: stats::Judged,
}

/// Variants against each other on the same tasks: McNemar's exact test, the pairs one family
/// ("m10 variants") read after Holm's correction. Each variant was trained once: the tests cover
/// the sampling of tasks, not retraining.
fn variant_tests(all: &[(String, Vec<Outcome>)]) -> Result<Vec<VariantTest<'_>>> {
    let right = |os: &[Outcome]| os.iter().map(|o| o.correct).collect::<Vec<bool>>();
    let count = |os: &[Outcome]| os.iter().filter(|o| o.correct).count();
    let mut pairs = Vec::new();
    for (i, (na, a)) in all.iter().enumerate() {
        for (nb, b) in &all[i + 1..] {
            let t = stats::paired_binary(&right(b), &right(a))?;
            pairs.push((na, nb, count(a), count(b), a.len(), t));
        }
    }
    let judged = stats::judge_family(
        &pairs
            .iter()
            .map(|p| (p.5.difference, p.5.test.p))
            .collect::<Vec<_>>(),
    );
    Ok(pairs
        .into_iter()
        .zip(judged)
        .map(|((a, b, correct_a, correct_b, n, t), judged)| VariantTest {
            a,
            b,
            correct_a,
            correct_b,
            n,
            t,
            judged,
        })
        .collect())
}

fn variant_pairs(all: &[(String, Vec<Outcome>)]) -> Result<Vec<VariantPair>> {
    Ok(variant_tests(all)?
        .into_iter()
        .map(|v| VariantPair {
            a: v.a.to_string(),
            b: v.b.to_string(),
            correct_a: v.correct_a.to_string(),
            correct_b: v.correct_b.to_string(),
            only_a: v.t.test.losses.to_string(),
            only_b: v.t.test.wins.to_string(),
            p: format!(
                "p {}; {}",
                viz::claims::p_value(v.t.test.p),
                viz::claims::reading(&v.judged)
            ),
            verdict: v.judged.verdict,
        })
        .collect())
}

/// The success figure's title when two variants ran: their verdict as the log reads it (McNemar's
/// exact test over all tasks), the better one first, and their success rates.
pub(super) fn success_title(all: &[(String, Vec<Outcome>)]) -> Result<Option<String>> {
    let tests = variant_tests(all)?;
    let [v] = tests.as_slice() else {
        return Ok(None);
    };
    let rate = |c: usize| pct(c as f64 / v.n.max(1) as f64);
    let (a, b) = (v.a.replace('_', " "), v.b.replace('_', " "));
    let ((first, rf), (second, rs)) = match v.judged.verdict {
        stats::Verdict::Better => ((b, v.correct_b), (a, v.correct_a)),
        _ => ((a, v.correct_a), (b, v.correct_b)),
    };
    let verdict = match v.judged.verdict {
        stats::Verdict::Tied => "tied with",
        _ => "better than",
    };
    Ok(Some(format!(
        "{first} {verdict} {second}: {} vs {} of all tasks (McNemar p {})",
        rate(rf),
        rate(rs),
        viz::claims::p_value(v.t.test.p)
    )))
}

/// The policy on held-out against trained phrasings, when it met both.
fn phrasings(outcomes: &[Outcome]) -> Option<Phrasings> {
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
    (hn > 0 && tn > 0).then(|| Phrasings {
        held_out: pct(hc as f64 / hn as f64),
        trained: pct(tc as f64 / tn as f64),
    })
}

fn agent_values(rec: &Record, loaded: &Loaded) -> Result<AgentValues> {
    let Loaded { cfg, all, policy } = loaded;
    let summary: AgentSummary = rec.summary_as()?;
    let outcomes = &all[*policy].1;
    let demos: BTreeMap<String, DemoCount> =
        rec.artifact(&format!("demonstrations_{}", cfg.policy))?;
    let mx = &cfg.mixture;
    let share_of = |w: f64| format!("{:.0}", 100.0 * w / mx.weights().iter().sum::<f64>());
    let m = moves(outcomes);
    let n = outcomes.len();
    let finished = m.correct + m.wrong;
    Ok(AgentValues {
        reader_block_size: summary.reader_block_size.to_string(),
        block_size: summary.block_size.to_string(),
        train_tasks: cfg.train_tasks.to_string(),
        mixture: MixtureShares {
            react: share_of(mx.react),
            solve: share_of(mx.solve),
            plan: share_of(mx.plan),
            verify: share_of(mx.verify),
            read: share_of(mx.read),
        },
        steps: cfg.train.steps.to_string(),
        batch_size: cfg.train.batch_size.to_string(),
        max_lr: cfg.train.max_lr.to_string(),
        variants: cfg
            .variant
            .iter()
            .map(|v| VariantWriting {
                name: v.name.clone(),
                spaced: v.spaced_arguments,
            })
            .collect(),
        search_k: cfg.search_k.to_string(),
        max_steps: cfg.agent.max_steps.to_string(),
        step_tokens: cfg.agent.step_tokens.to_string(),
        eval_tasks: cfg.eval_tasks.to_string(),
        provenance: rec.provenance(),
        table: variant_table(cfg, all).markdown().trim_end().to_string(),
        policy: cfg.policy.clone(),
        demo_table: demo_table(&demos).markdown().trim_end().to_string(),
        samples: samples(cfg, outcomes),
        episodes: n.to_string(),
        finished: finished.to_string(),
        correct: m.correct.to_string(),
        stopped: (n - finished).to_string(),
        budget: m.budget.to_string(),
        context_full: m.context_full.to_string(),
        errors: m.errors.to_string(),
        first_named: first_named(outcomes),
        exact_names: exact_names(all),
        pairs: variant_pairs(all)?,
        phrasings: phrasings(outcomes),
        phrasing_figure: phrasings::finding(&cfg.kinds, all, &cfg.policy),
    })
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let values = agent_values(&rec, &loaded(&rec)?)?;
    let block = |name: &str| render_block("m10_agent.md", TEMPLATE, name, &values);
    Ok(vec![LogEntry {
        id: AGENT.into(),
        milestone: 10,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![
            Figure::new(
                FIG_SUCCESS,
                FigureKind::EvaluationTables,
                block("caption_m10_success_by_kind")?,
            ),
            Figure::new(
                FIG_LOOP,
                FigureKind::PipelineDiagrams,
                block("caption_m10_agent_loop")?,
            ),
            Figure::new(
                FIG_LOSS,
                FigureKind::LossCurves,
                block("caption_m10_imitation_loss")?,
            ),
            Figure::new(
                FIG_PHRASINGS,
                FigureKind::EvaluationTables,
                block("caption_m10_phrasings")?,
            ),
        ],
        discussion: block("discussion")?,
    }])
}
