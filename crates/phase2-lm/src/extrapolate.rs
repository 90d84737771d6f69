//! Extrapolating a learning curve: how low will this run's validation loss be after `T` seconds, from
//! its first few minutes?
//!
//! Loss against training time (or data seen) is well described, away from its first transient, by a
//! power law that levels off at an irreducible floor:
//!
//! ```text
//! L(t) = a + b · t^(−c)        a ≥ 0 (the floor), b > 0, c > 0
//! ```
//!
//! For a fixed floor `a` the curve is a straight line in log space, `ln(L − a) = ln b − c · ln t`, so
//! `b` and `c` come from ordinary least squares; the floor itself is found by a one-dimensional
//! search over `0 ≤ a < min L` minimising the squared error of `L` itself (the profile over `a`). A
//! few minutes of curve pin `b` and `c` much better than `a`, so an extrapolation far past the data
//! is an estimate to rank candidates by and to say roughly what compute a goal needs — not a
//! promise; the experiment reports it beside what the long run then measures.

use serde::{Deserialize, Serialize};

/// `L(t) = a + b · t^(−c)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerLaw {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl PowerLaw {
    /// The curve at `t` (> 0).
    pub fn at(&self, t: f64) -> f64 {
        self.a + self.b * t.powf(-self.c)
    }

    /// When the curve reaches `target`: `t = (b / (target − a))^(1/c)`; `None` when it never does
    /// (the floor `a` is at or above the target).
    pub fn time_to(&self, target: f64) -> Option<f64> {
        (target > self.a).then(|| (self.b / (target - self.a)).powf(1.0 / self.c))
    }

    /// Root-mean-square error of the curve on `points` (`(t, L)`).
    pub fn rmse(&self, points: &[(f64, f64)]) -> f64 {
        let n = points.len().max(1) as f64;
        (points
            .iter()
            .map(|&(t, l)| (self.at(t) - l).powi(2))
            .sum::<f64>()
            / n)
            .sqrt()
    }

    /// The least-squares fit to `points` (`(t, L)`, `t > 0`), or `None` where the data do not
    /// define a falling power law: fewer than 3 points, a `t ≤ 0` or a non-finite value, or no
    /// floor under which the points fall with `t` (`c > 10⁻⁶`).
    pub fn fit(points: &[(f64, f64)]) -> Option<PowerLaw> {
        if points.len() < 3
            || points
                .iter()
                .any(|&(t, l)| !(t > 0.0 && t.is_finite() && l.is_finite()))
        {
            return None;
        }
        let min_l = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        if min_l <= 0.0 {
            return None;
        }
        // The floor as a = min_l · (1 − s): s runs over (0, 1] on a log scale, which resolves the
        // region near min_l, where ln(L − a) changes fastest, as finely as the region near 0.
        let sse = |log_s: f64| -> (f64, Option<PowerLaw>) {
            let a = min_l * (1.0 - 10f64.powf(log_s));
            match fit_given_floor(points, a) {
                Some(law) => (
                    points.iter().map(|&(t, l)| (law.at(t) - l).powi(2)).sum(),
                    Some(law),
                ),
                None => (f64::INFINITY, None),
            }
        };
        const LO: f64 = -9.0; // a within 1e-9 of the lowest point
        const GRID: usize = 360;
        let grid: Vec<f64> = (0..=GRID)
            .map(|k| LO + (0.0 - LO) * k as f64 / GRID as f64)
            .collect();
        let (best_k, best) = grid
            .iter()
            .enumerate()
            .map(|(k, &g)| (k, sse(g).0))
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        if !best.is_finite() {
            return None;
        }
        // Golden-section search between the grid neighbours of the best grid point.
        let (mut lo, mut hi) = (grid[best_k.saturating_sub(1)], grid[(best_k + 1).min(GRID)]);
        let phi = (5f64.sqrt() - 1.0) / 2.0;
        let (mut x1, mut x2) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
        let (mut f1, mut f2) = (sse(x1).0, sse(x2).0);
        for _ in 0..100 {
            if f1 <= f2 {
                hi = x2;
                (x2, f2) = (x1, f1);
                x1 = hi - phi * (hi - lo);
                f1 = sse(x1).0;
            } else {
                lo = x1;
                (x1, f1) = (x2, f2);
                x2 = lo + phi * (hi - lo);
                f2 = sse(x2).0;
            }
        }
        let refined = sse((lo + hi) / 2.0);
        let on_grid = sse(grid[best_k]);
        // The grid point stands when the refinement found nothing better (a flat profile).
        if refined.0 <= on_grid.0 {
            refined.1
        } else {
            on_grid.1
        }
    }
}

/// The smallest exponent `c` that counts as falling: below it the points are flat (a constant
/// curve fits with any floor and a slope of rounding error).
const MIN_EXPONENT: f64 = 1e-6;

/// `b` and `c` by least squares of `ln(L − a)` on `ln t` for a given floor `a` (below every point);
/// `None` unless the fitted curve falls (`c > 0`).
fn fit_given_floor(points: &[(f64, f64)], a: f64) -> Option<PowerLaw> {
    let n = points.len() as f64;
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for &(t, l) in points {
        if l <= a {
            return None;
        }
        let (x, y) = (t.ln(), (l - a).ln());
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    let var = sxx - sx * sx / n;
    if var <= 0.0 {
        return None;
    }
    let slope = (sxy - sx * sy / n) / var;
    let intercept = (sy - slope * sx) / n;
    let c = -slope;
    // A slope within rounding of zero is a flat curve, not a power law.
    (c > MIN_EXPONENT && c.is_finite()).then(|| PowerLaw {
        a,
        b: intercept.exp(),
        c,
    })
}
