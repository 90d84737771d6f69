//! m10: each variant's success on held-out tasks whose phrasing was seen in training against those
//! in the phrasing held out of training — the figure and the numbers its caption states.

use phase3_rag::world::QuestionKind;
use serde::Serialize;
use viz::plot::{FigureSpec, GroupedBars};

use super::{kind_name, pct, rate, Outcome};

pub(super) const FIG_PHRASINGS: &str = "m10_phrasings.png";

/// Tasks right of tasks, on the trained and on the held-out phrasings.
#[derive(Clone, Copy)]
struct Split {
    trained: (usize, usize),
    held: (usize, usize),
}

fn split(os: &[&Outcome]) -> Split {
    let of = |held: bool| {
        rate(
            &os.iter()
                .copied()
                .filter(|o| o.held_out_phrasing == held)
                .collect::<Vec<_>>(),
        )
    };
    Split {
        trained: of(false),
        held: of(true),
    }
}

fn share(v: (usize, usize)) -> f64 {
    v.0 as f64 / v.1.max(1) as f64
}

/// One variant's success on the two sets of phrasings.
#[derive(Serialize)]
pub(super) struct VariantPhrasings {
    name: String,
    trained: String,
    trained_of: String,
    held: String,
    held_of: String,
}

/// One kind, the policy's success on the two sets of phrasings.
#[derive(Serialize)]
pub(super) struct KindPhrasings {
    kind: String,
    trained: String,
    held: String,
}

/// What the caption states.
#[derive(Serialize)]
pub(super) struct PhrasingFinding {
    variants: Vec<VariantPhrasings>,
    /// Tasks in each set (the same tasks for every variant).
    trained_tasks: String,
    held_tasks: String,
    policy: String,
    /// The policy per kind, and whether it does worse on held-out phrasings in every kind.
    kinds: Vec<KindPhrasings>,
    lower_in_every_kind: bool,
}

fn counted(v: (usize, usize)) -> String {
    format!("{} ({} of {})", pct(share(v)), v.0, v.1)
}

/// `None` when no variant met both sets of phrasings.
pub(super) fn finding(
    kinds: &[QuestionKind],
    all: &[(String, Vec<Outcome>)],
    policy: &str,
) -> Option<PhrasingFinding> {
    let splits: Vec<(String, Split)> = all
        .iter()
        .map(|(n, os)| (n.replace('_', " "), split(&os.iter().collect::<Vec<_>>())))
        .collect();
    let first = splits.first()?.1;
    if first.trained.1 == 0 || first.held.1 == 0 {
        return None;
    }
    let variants = splits
        .iter()
        .map(|(name, s)| VariantPhrasings {
            name: name.clone(),
            trained: pct(share(s.trained)),
            trained_of: format!("{} of {}", s.trained.0, s.trained.1),
            held: pct(share(s.held)),
            held_of: format!("{} of {}", s.held.0, s.held.1),
        })
        .collect();
    let outcomes = &all.iter().find(|(n, _)| n == policy)?.1;
    let per_kind: Vec<(QuestionKind, Split)> = kinds
        .iter()
        .map(|&k| {
            let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == k).collect();
            (k, split(&of))
        })
        .collect();
    Some(PhrasingFinding {
        variants,
        trained_tasks: first.trained.1.to_string(),
        held_tasks: first.held.1.to_string(),
        policy: policy.to_string(),
        lower_in_every_kind: per_kind
            .iter()
            .all(|(_, s)| s.held.1 > 0 && share(s.held) < share(s.trained)),
        kinds: per_kind
            .iter()
            .map(|(k, s)| KindPhrasings {
                kind: kind_name(*k).to_string(),
                trained: counted(s.trained),
                held: counted(s.held),
            })
            .collect(),
    })
}

/// Grouped bars: trained and held-out phrasings, one bar per variant, each with its Wilson
/// interval and its count.
pub(super) fn figure(all: &[(String, Vec<Outcome>)]) -> FigureSpec {
    let splits: Vec<(String, Split)> = all
        .iter()
        .map(|(n, os)| (n.replace('_', " "), split(&os.iter().collect::<Vec<_>>())))
        .collect();
    let arrows: Vec<String> = splits
        .iter()
        .map(|(n, s)| {
            format!(
                "{n} {:.0} % → {:.0} %",
                100.0 * share(s.trained),
                100.0 * share(s.held)
            )
        })
        .collect();
    // An association, not an effect: the two sets of phrasings mix the task kinds differently.
    let verb = if splits.iter().all(|(_, s)| share(s.held) < share(s.trained)) {
        "Success is lower on held-out phrasings"
    } else {
        "Success, trained → held-out phrasings"
    };
    let mut bars = GroupedBars::new(
        format!("{verb}: {}", arrows.join(", ")),
        "held-out-entity tasks answered exactly (%)",
        vec![
            "phrasing seen in training".into(),
            "phrasing held out of training".into(),
        ],
    );
    for (i, (name, s)) in splits.iter().enumerate() {
        let (mut vals, mut whiskers, mut notes) = (Vec::new(), Vec::new(), Vec::new());
        for v in [s.trained, s.held] {
            let stats::Interval { low, high } = stats::wilson(v.0, v.1, 0.95);
            vals.push(100.0 * share(v));
            whiskers.push((100.0 * low, 100.0 * high));
            notes.push(format!("{:.1} %\n{} of {}", 100.0 * share(v), v.0, v.1));
        }
        let legend = if i + 1 == splits.len() {
            "Wilson 95 % interval"
        } else {
            ""
        };
        bars = bars
            .group(name.clone(), vals)
            .whiskers(legend, whiskers)
            .notes(notes);
    }
    FigureSpec::new(FIG_PHRASINGS, bars)
}
