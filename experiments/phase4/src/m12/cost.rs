//! m12: success against cost, one mark per system — the figure and the numbers its caption states.
//!
//! Cost is the mean tokens per task (prompt and completion over every model call, as each outcome
//! records them), not model calls: closed book and single-shot RAG make one call each by
//! construction and would share an x, and an agent's calls grow dearer as its transcript grows.

use serde::Serialize;
use stats::Verdict;
use viz::plot::{FigureSpec, LineChart, Marker, Series};

use super::log::Tests;
use super::{BySystem, Outcome, System};

pub(super) const FIG_COST: &str = "m12_accuracy_vs_cost.png";

/// Half the width of a system's interval box, as a factor on its (logarithmic) x: narrow enough that
/// two systems 7 % apart in tokens (the two ReAct agents) get boxes that do not touch.
const HALF_WIDTH: f64 = 1.03;

/// One system's success and cost.
struct Point {
    system: System,
    right: usize,
    n: usize,
    tokens: f64,
    calls: f64,
}

impl Point {
    fn of(system: System, os: &[Outcome]) -> Point {
        let n = os.len();
        let mean = |f: &dyn Fn(&Outcome) -> usize| {
            os.iter().map(f).sum::<usize>() as f64 / n.max(1) as f64
        };
        Point {
            system,
            right: os.iter().filter(|o| o.correct).count(),
            n,
            tokens: mean(&|o| o.tokens),
            calls: mean(&|o| o.model_calls),
        }
    }
    fn rate(&self) -> f64 {
        self.right as f64 / self.n.max(1) as f64
    }
}

fn points(all: &BySystem) -> Vec<Point> {
    all.iter().map(|(s, os)| Point::of(*s, os)).collect()
}

/// One system as the caption states it.
#[derive(Serialize)]
pub(super) struct CostRow {
    label: String,
    success: String,
    right: String,
    n: String,
    tokens: String,
    calls: String,
}

/// What the caption states.
#[derive(Serialize)]
pub(super) struct CostFinding {
    /// The figure's title: a system against the cheapest that gets half as far, in the log's
    /// verdict, and what it costs.
    headline: String,
    rows: Vec<CostRow>,
    /// The top of the y axis, in percent.
    top: String,
}

/// The y axis: from 0 to the next 5 % above the highest interval, and 5 % more for the key.
fn top(points: &[Point]) -> f64 {
    let hi = points
        .iter()
        .map(|p| stats::wilson(p.right, p.n, 0.95).high)
        .fold(0.0, f64::max);
    ((100.0 * hi / 5.0).ceil() * 5.0 + 5.0).min(100.0)
}

pub(super) fn finding(tests: &Tests, all: &BySystem) -> Option<CostFinding> {
    let pts = points(all);
    if pts.is_empty() {
        return None;
    }
    Some(CostFinding {
        headline: title(&pts, &|a, b| tests.verdict(a, b, None)),
        rows: pts
            .iter()
            .map(|p| CostRow {
                label: p.system.label().to_string(),
                success: format!("{:.1}", 100.0 * p.rate()),
                right: p.right.to_string(),
                n: p.n.to_string(),
                tokens: format!("{:.0}", p.tokens),
                calls: format!("{:.2}", p.calls),
            })
            .collect(),
        top: format!("{:.0}", top(&pts)),
    })
}

/// The title's finding: the cheapest system other than the best that gets at least half as far as
/// the best (a third, when none does), against the most successful system the log compares with
/// it over all tasks — that pair's verdict (`verdict(a, b)`: `a` against `b`, McNemar's exact test
/// after Holm's correction), both rates and the token ratio. Without such a pair, counts and
/// costs only, no ranking word.
fn title(pts: &[Point], verdict: &dyn Fn(System, System) -> Option<Verdict>) -> String {
    let Some(best) = pts.iter().max_by(|a, b| a.rate().total_cmp(&b.rate())) else {
        return "Success against cost".into();
    };
    let cheapest_reaching = |share: f64| {
        pts.iter()
            .filter(|p| p.system != best.system && p.rate() >= best.rate() * share)
            .min_by(|a, b| a.tokens.total_cmp(&b.tokens))
    };
    let Some(cheap) = cheapest_reaching(0.5).or_else(|| cheapest_reaching(1.0 / 3.0)) else {
        return "Success against cost".into();
    };
    let judged = pts
        .iter()
        .filter(|p| p.system != cheap.system)
        .filter_map(|p| verdict(p.system, cheap.system).map(|v| (p, v)))
        .max_by_key(|(p, _)| p.right);
    match judged {
        Some((p, v)) => super::log::capitalised(&format!(
            "{}: {} {} ({:.1} vs {:.1} %), {:.1}× the tokens",
            p.system.short_label(),
            match v {
                Verdict::Better => "better than",
                Verdict::Worse => "worse than",
                Verdict::Tied => "tied with",
            },
            cheap.system.label(),
            100.0 * p.rate(),
            100.0 * cheap.rate(),
            p.tokens / cheap.tokens.max(1e-9)
        )),
        None => format!(
            "{}: {:.1} % success at {:.0} tokens per task",
            best.system.label(),
            100.0 * best.rate(),
            best.tokens
        ),
    }
}

/// Each system's marker: distinct shapes, so the marks read apart in greyscale too.
fn marker(system: System) -> Marker {
    match system {
        System::ClosedBook => Marker::Square,
        System::Rag | System::RagTuned => Marker::Diamond,
        System::RagTwoStep => Marker::Ring,
        System::ReactSearch | System::ReactSearchConstrained => Marker::Circle,
        System::ReactLookup => Marker::Triangle,
        System::Team => Marker::Cross,
    }
}

/// One mark per system at its mean tokens per task and its success rate, over a shaded box
/// spanning its Wilson interval, in the system's colour of the success figure (config order). A
/// mark is a marker, not a line, so no entity's dash applies to it; the box's edges are points
/// without a y (not drawn), so each system draws its one marker, centred in its box.
pub(super) fn figure(tests: &Tests, all: &BySystem) -> FigureSpec {
    let pts = points(all);
    let mut chart = LineChart::new(
        title(&pts, &|a, b| tests.verdict(a, b, None)),
        "mean tokens per task (prompt + completion over all model calls; log scale)",
        "tasks answered exactly (%)",
    )
    .log_x()
    .y_range(0.0, top(&pts));
    for p in &pts {
        let y = 100.0 * p.rate();
        let stats::Interval { low, high } = stats::wilson(p.right, p.n, 0.95);
        let band = (100.0 * low, 100.0 * high);
        chart = chart.series(
            Series::new(
                format!(
                    "{}: {} of {}, {:.0} tokens",
                    p.system.label(),
                    p.right,
                    p.n,
                    p.tokens
                ),
                vec![
                    (p.tokens / HALF_WIDTH, f64::NAN),
                    (p.tokens, y),
                    (p.tokens * HALF_WIDTH, f64::NAN),
                ],
            )
            .points(marker(p.system))
            .band(vec![band; 3])
            // The system's colour of the success bars.
            .entity(p.system.entity()),
        );
    }
    FigureSpec::new(FIG_COST, chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(system: System, right: usize, tokens: f64) -> Point {
        Point {
            system,
            right,
            n: 400,
            tokens,
            calls: 1.0,
        }
    }

    #[test]
    fn m12_cost_title_states_the_logs_verdict_against_the_cheapest_that_gets_half_as_far() {
        let pts = [
            pt(System::ClosedBook, 7, 30.0),
            pt(System::Rag, 70, 76.0),
            pt(System::ReactSearch, 80, 647.0),
            pt(System::ReactLookup, 83, 608.0),
        ];
        // The log tests the search agent against RAG, not the lookup agent: the title takes the
        // pair it tested, in its verdict, whichever way round it was tested.
        let tested = |a: System, b: System| {
            ((a, b) == (System::ReactSearch, System::Rag)).then_some(Verdict::Tied)
        };
        assert_eq!(
            title(&pts, &tested),
            "ReAct + search: tied with single-shot RAG (20.0 vs 17.5 %), 8.5× the tokens"
        );
        // When nothing cheaper gets half as far as the best, a third does.
        let far = [
            pt(System::Rag, 70, 76.0),
            pt(System::ReactSearch, 80, 647.0),
            pt(System::ReactSearchConstrained, 183, 998.0),
        ];
        let constrained = |a: System, b: System| {
            ((a, b) == (System::ReactSearchConstrained, System::Rag)).then_some(Verdict::Better)
        };
        assert_eq!(
            title(&far, &constrained),
            "Constrained ReAct: better than single-shot RAG (45.8 vs 17.5 %), 13.1× the tokens"
        );
        let flipped = |a: System, b: System| {
            ((a, b) == (System::ReactSearch, System::Rag)).then_some(Verdict::Better)
        };
        assert!(title(&pts, &flipped).contains("better than single-shot RAG"));
        // No tested pair: counts and costs only.
        assert!(title(&pts, &|_, _| None).ends_with("608 tokens per task"));
        assert!(top(&pts) > 20.75 && top(&pts) <= 100.0);
    }
}
