//! m12: why the agents missed — where each agent's misses on multi-hop tasks stopped along the
//! task's chain of facts (the log's misses table, those rows), as bars, and the finding
//! its title and caption state.

use std::collections::BTreeMap;

use phase3_rag::world::{Question, QuestionKind};
use serde::Serialize;
use viz::plot::{FigureSpec, GroupedBars};

use super::log::{miss_reasons, REASONS};
use super::{of_kind, BySystem, System};
use crate::m10::kind_name;

pub(super) const FIG_FAILURES: &str = "m12_failure_modes.png";

/// [`REASONS`] as the key and the title name them: short enough for one row of keys.
const LABELS: [&str; 4] = [
    "never saw the first fact",
    "saw only the first fact",
    "saw every fact, no answer",
    "saw every fact, wrong answer",
];
const _: () = assert!(LABELS.len() == REASONS.len());

/// One agent's misses on one kind, counted by [`REASONS`].
struct Misses {
    system: System,
    /// Its misses, as the misses table counts them.
    missed: usize,
    counts: [usize; 4],
}

/// The kind drawn: multi-hop, where a second search has to name what the first one found, when the
/// suite has it.
fn kind(all: &BySystem) -> Option<QuestionKind> {
    let k = QuestionKind::MultiHop;
    all.iter()
        .any(|(_, os)| os.iter().any(|o| o.kind == k))
        .then_some(k)
}

/// Every agent's (or team's) misses on `k`, in config order; systems that read once have no
/// steps to follow and are left out.
fn misses(all: &BySystem, suite: &BTreeMap<String, Question>, k: QuestionKind) -> Vec<Misses> {
    all.iter()
        .filter_map(|(system, os)| {
            let of = of_kind(os, Some(k));
            Some(Misses {
                system: *system,
                missed: of.iter().filter(|o| !o.correct).count(),
                counts: miss_reasons(&of, suite)?,
            })
        })
        .collect()
}

/// The title's finding: the main comparison's agent's commonest reason, with its count of its
/// misses — "Most … misses" when that reason is more than half of every agent's misses, else that
/// agent's alone.
fn title(ms: &[Misses], k: QuestionKind, agent: System) -> Option<String> {
    let main = ms
        .iter()
        .find(|m| m.system == agent)
        .or_else(|| ms.first())?;
    let top = (0..LABELS.len()).max_by_key(|&i| main.counts[i])?;
    let count = main.counts[top];
    let kind = kind_name(k);
    Some(if ms.iter().all(|m| 2 * m.counts[top] > m.missed) {
        format!(
            "Most {kind} misses {} ({}: {count} of {})",
            LABELS[top],
            main.system.short_label(),
            main.missed
        )
    } else {
        format!(
            "{}'s {kind} misses: {count} of {} {}",
            main.system.short_label(),
            main.missed,
            LABELS[top]
        )
    })
}

/// What the caption states.
#[derive(Serialize)]
pub(super) struct FailureFinding {
    kind: String,
}

pub(super) fn finding(
    all: &BySystem,
    suite: &BTreeMap<String, Question>,
) -> Option<FailureFinding> {
    let k = kind(all)?;
    let ms = misses(all, suite, k);
    (ms.iter().any(|m| m.missed > 0)).then(|| FailureFinding {
        kind: kind_name(k).to_string(),
    })
}

/// One category per reason, one bar per agent in its house colour (its misses in the key), each
/// bar's count above it: grouped rather than stacked, so each reason's count reads off the axis.
pub(super) fn figure(
    all: &BySystem,
    suite: &BTreeMap<String, Question>,
    agent: System,
) -> Option<FigureSpec> {
    let k = kind(all)?;
    let ms = misses(all, suite, k);
    if !ms.iter().any(|m| m.missed > 0) {
        return None;
    }
    let mut bars = GroupedBars::new(
        title(&ms, k, agent)?,
        format!("{} tasks missed", kind_name(k)),
        LABELS.iter().map(|l| l.to_string()).collect(),
    );
    for m in &ms {
        bars = bars
            .group(
                format!("{}: {} missed", m.system.label(), m.missed),
                m.counts.iter().map(|&c| c as f64).collect(),
            )
            .entity_if(Some(m.system.entity()))
            .notes(m.counts.iter().map(usize::to_string).collect());
    }
    Some(FigureSpec::new(FIG_FAILURES, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m12_failure_title_says_most_only_when_the_reason_is_most_of_every_agents_misses() {
        let m = |system, missed, counts| Misses {
            system,
            missed,
            counts,
        };
        let ms = [
            m(System::ReactSearch, 91, [14, 67, 0, 10]),
            m(System::ReactLookup, 88, [22, 59, 0, 7]),
            m(System::Team, 86, [17, 56, 0, 13]),
        ];
        assert_eq!(
            title(&ms, QuestionKind::MultiHop, System::ReactSearch).unwrap(),
            "Most multi-hop misses saw only the first fact (ReAct + search: 67 of 91)"
        );
        let split = [
            m(System::ReactSearch, 91, [14, 67, 0, 10]),
            m(System::Team, 86, [40, 30, 0, 16]),
        ];
        assert_eq!(
            title(&split, QuestionKind::MultiHop, System::ReactSearch).unwrap(),
            "ReAct + search's multi-hop misses: 67 of 91 saw only the first fact"
        );
    }
}
