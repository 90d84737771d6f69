//! m11: how well the verifier's own log-odds tell right first answers from wrong ones — the ROC,
//! its area with a bootstrap interval, and the numbers the log states.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use viz::plot::entity::Entity;
use viz::plot::{FigureSpec, LineChart, Marker, Series};

use super::{VerifierScore, FIG_VERIFIER};

/// Bootstrap resamples behind [`auc_interval`], and the seed of their stream.
const RESAMPLES: usize = 2000;
const SEED: u64 = 11;

/// The right and the wrong answers' margins.
fn split(scores: &[VerifierScore]) -> (Vec<f64>, Vec<f64>) {
    let of = |right: bool| -> Vec<f64> {
        scores
            .iter()
            .filter(|s| s.first_correct == right)
            .map(|s| s.margin)
            .collect()
    };
    (of(true), of(false))
}

/// The chance that a margin of `right` beats one of `wrong` (ties count half).
fn mann_whitney(right: &[f64], wrong: &[f64]) -> f64 {
    let mut wins = 0.0;
    for r in right {
        for w in wrong {
            wins += if r > w {
                1.0
            } else if r == w {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (right.len() * wrong.len()) as f64
}

/// The area under the ROC curve of `margin` separating right answers from wrong ones: the chance
/// that a right answer's margin beats a wrong one's (ties count half); None without both.
pub fn auc(scores: &[VerifierScore]) -> Option<f64> {
    let (right, wrong) = split(scores);
    (!right.is_empty() && !wrong.is_empty()).then(|| mann_whitney(&right, &wrong))
}

/// A 95 % percentile interval on [`auc`] by the stratified bootstrap: the right and the wrong
/// answers resampled apart, each to its own count, [`RESAMPLES`] times from a stream seeded by
/// [`SEED`] (deterministic). It covers the sampling of tasks only: one policy, scored once.
pub fn auc_interval(scores: &[VerifierScore]) -> Option<stats::Interval> {
    let (right, wrong) = split(scores);
    if right.is_empty() || wrong.is_empty() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut draw =
        |v: &[f64]| -> Vec<f64> { (0..v.len()).map(|_| v[rng.gen_range(0..v.len())]).collect() };
    let mut areas: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (r, w) = (draw(&right), draw(&wrong));
            mann_whitney(&r, &w)
        })
        .collect();
    areas.sort_by(f64::total_cmp);
    let at = |q: f64| areas[((q * RESAMPLES as f64) as usize).min(RESAMPLES - 1)];
    Some(stats::Interval {
        low: at(0.025),
        high: at(0.975),
    })
}

/// The ROC curve of `margin` as a test for a right answer: (share of wrong answers accepted,
/// share of right ones accepted) as the threshold falls through every distinct margin, from (0, 0)
/// to (1, 1); None without both right and wrong answers.
pub fn roc(scores: &[VerifierScore]) -> Option<Vec<(f64, f64)>> {
    let right = scores.iter().filter(|s| s.first_correct).count();
    let wrong = scores.len() - right;
    if right == 0 || wrong == 0 {
        return None;
    }
    let mut sorted: Vec<&VerifierScore> = scores.iter().collect();
    sorted.sort_by(|a, b| b.margin.total_cmp(&a.margin));
    let mut pts = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0, 0);
    for (i, s) in sorted.iter().enumerate() {
        if s.first_correct {
            tp += 1;
        } else {
            fp += 1;
        }
        // Tied margins pass the threshold together: one point for the lot.
        if sorted.get(i + 1).is_none_or(|n| n.margin != s.margin) {
            pts.push((fp as f64 / wrong as f64, tp as f64 / right as f64));
        }
    }
    Some(pts)
}

/// The area under a curve by the trapezoid rule.
pub fn trapezoid(pts: &[(f64, f64)]) -> f64 {
    pts.windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}

/// What the verifier's own threshold (log-odds 0: yes as likely as no) accepts: (right, wrong).
fn accepted_at_zero(scores: &[VerifierScore]) -> (usize, usize) {
    let at = |right: bool| {
        scores
            .iter()
            .filter(|s| s.first_correct == right && s.margin > 0.0)
            .count()
    };
    (at(true), at(false))
}

/// How the AUC's interval reads: above chance, below it, or not told apart from it.
fn reading(ci: stats::Interval) -> &'static str {
    if ci.low > 0.5 {
        "Verifier ranks right answers above wrong ones"
    } else if ci.high < 0.5 {
        "Verifier ranks wrong answers above right ones"
    } else {
        "Verifier's ranking indistinguishable from chance"
    }
}

/// The verifier's ROC on its first checks, with the chance diagonal and its own threshold marked;
/// the axes run a little past 0 and 1 so that a mark at a corner is drawn whole.
pub(super) fn figure(scores: &[VerifierScore]) -> Option<FigureSpec> {
    let curve = roc(scores)?;
    let ci = auc_interval(scores)?;
    let area = trapezoid(&curve);
    let right = scores.iter().filter(|s| s.first_correct).count();
    let wrong = scores.len() - right;
    let (tp, fp) = accepted_at_zero(scores);
    let chart = LineChart::new(
        format!(
            "{}: AUC {area:.2} (95 % CI {:.2}–{:.2})",
            reading(ci),
            ci.low,
            ci.high
        ),
        format!("wrong first answers accepted (share of {wrong})"),
        format!("right first answers accepted (share of {right})"),
    )
    .x_range(-0.03, 1.03)
    .y_range(-0.03, 1.03)
    .series(
        Series::new(
            format!(
                "verifier's log p(yes) − log p(no): AUC {area:.2}, 95 % bootstrap interval {:.2}–{:.2}",
                ci.low, ci.high
            ),
            curve,
        )
        .entity(Entity::Verifier),
    )
    .series(Series::new("chance (AUC 0.5)", vec![(0.0, 0.0), (1.0, 1.0)]).entity(Entity::Chance))
    .series(
        Series::new(
            format!("its threshold, log-odds 0: accepts {tp} right, {fp} wrong"),
            vec![(fp as f64 / wrong as f64, tp as f64 / right as f64)],
        )
        .entity(Entity::Threshold)
        .points(Marker::Diamond),
    );
    Some(FigureSpec::new(FIG_VERIFIER, chart))
}

/// The verifier's own log-odds on its first checks.
#[derive(Serialize)]
pub(super) struct Margins {
    right: String,
    wrong: String,
    auc: String,
    /// The AUC's 95 % bootstrap interval ([`auc_interval`]).
    auc_low: String,
    auc_high: String,
    /// `indistinct` (the AUC's interval reaches down to chance), `rejects_both` (right answers'
    /// mean below 0), or `ranks`.
    verdict: &'static str,
}

/// The verifier's margins on its first checks, when there are right and wrong answers to compare.
pub(super) fn margins(scores: &[VerifierScore]) -> Option<Margins> {
    let (right, wrong) = split(scores);
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let (r, w, a, ci) = (
        mean(&right)?,
        mean(&wrong)?,
        auc(scores)?,
        auc_interval(scores)?,
    );
    Some(Margins {
        right: format!("{r:+.2}"),
        wrong: format!("{w:+.2}"),
        auc: format!("{a:.2}"),
        auc_low: format!("{:.2}", ci.low),
        auc_high: format!("{:.2}", ci.high),
        verdict: if ci.low <= 0.5 {
            "indistinct"
        } else if r < 0.0 {
            "rejects_both"
        } else {
            "ranks"
        },
    })
}

/// The verifier's ROC figure: how many first checks it was drawn from, and what the verifier's own
/// threshold accepts.
#[derive(Serialize)]
pub(super) struct Roc {
    scored: String,
    right: String,
    wrong: String,
    auc: String,
    auc_low: String,
    auc_high: String,
    resamples: String,
    accepted_right: String,
    accepted_wrong: String,
}

pub(super) fn roc_values(scores: &[VerifierScore]) -> Option<Roc> {
    let area = trapezoid(&roc(scores)?);
    let ci = auc_interval(scores)?;
    let right = scores.iter().filter(|s| s.first_correct).count();
    let (tp, fp) = accepted_at_zero(scores);
    Some(Roc {
        scored: scores.len().to_string(),
        right: right.to_string(),
        wrong: (scores.len() - right).to_string(),
        auc: format!("{area:.2}"),
        auc_low: format!("{:.2}", ci.low),
        auc_high: format!("{:.2}", ci.high),
        resamples: RESAMPLES.to_string(),
        accepted_right: tp.to_string(),
        accepted_wrong: fp.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(first_correct: bool, margin: f64) -> VerifierScore {
        VerifierScore {
            id: String::new(),
            first_correct,
            margin,
        }
    }

    #[test]
    fn m11_auc_is_the_roc_area_and_its_interval_is_deterministic_and_holds_it() {
        let scores: Vec<VerifierScore> = (0..30)
            .map(|i| score(i % 3 == 0, f64::from(i % 7) - 3.0))
            .collect();
        let a = auc(&scores).unwrap();
        assert!((a - trapezoid(&roc(&scores).unwrap())).abs() < 1e-12);
        let ci = auc_interval(&scores).unwrap();
        assert!(ci.low < a && a < ci.high, "{ci:?} around {a}");
        assert_eq!(auc_interval(&scores), Some(ci), "same seed, same interval");
        // Perfect separation: every resample separates too.
        let clean: Vec<VerifierScore> = (0..10).map(|i| score(i < 5, f64::from(i))).collect();
        let ci = auc_interval(&clean).unwrap();
        assert_eq!((ci.low, ci.high), (0.0, 0.0), "right below wrong");
        assert!(auc_interval(&clean[..5]).is_none(), "no wrong answers");
    }
}
