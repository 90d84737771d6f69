//! Is a difference between two conditions real? The paired bootstrap over questions (Efron &
//! Tibshirani, 1993; Koehn, 2004 for NLP): both conditions answered the same questions, so resample
//! the questions with replacement and look at how the difference of the means moves.

use anyhow::{ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// `mean(a) − mean(b)` over paired observations, its 95 % percentile interval and a two-sided
/// p-value (twice the smaller share of resampled differences on either side of zero).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    pub p_value: f64,
    pub n: usize,
}

impl Paired {
    /// The 95 % interval excludes zero.
    pub fn significant(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// The paired bootstrap of `mean(a) − mean(b)` with `resamples` draws from a stream seeded by
/// `seed` (the same inputs give the same interval).
pub fn paired_bootstrap(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Result<Paired> {
    ensure!(
        a.len() == b.len(),
        "paired samples differ in length ({} vs {})",
        a.len(),
        b.len()
    );
    ensure!(!a.is_empty(), "no paired observations");
    ensure!(resamples >= 100, "at least 100 resamples");
    let n = a.len();
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let difference = d.iter().sum::<f64>() / n as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| d[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * resamples as f64) as usize).min(resamples - 1)];
    let below = means.iter().filter(|&&m| m <= 0.0).count() as f64 / resamples as f64;
    let above = means.iter().filter(|&&m| m >= 0.0).count() as f64 / resamples as f64;
    Ok(Paired {
        difference,
        low: at(0.025),
        high: at(0.975),
        p_value: (2.0 * below.min(above)).min(1.0),
        n,
    })
}

/// A fraction as a percentage with one decimal: `0.123` → `12.3 %`.
pub fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// A paired difference in points, with its 95 % interval and p-value.
pub fn describe(p: &Paired) -> String {
    format!(
        "{:+.1} points (95 % interval {:+.1} to {:+.1}, p = {:.3}{})",
        100.0 * p.difference,
        100.0 * p.low,
        100.0 * p.high,
        p.p_value,
        if p.significant() {
            ""
        } else {
            ", not significant"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m8_bootstrap_separates_a_real_difference_from_noise() {
        // a right on 80 of 100, b on 50 of 100, paired: a clear difference.
        let a: Vec<f64> = (0..100).map(|i| f64::from(u8::from(i < 80))).collect();
        let b: Vec<f64> = (0..100).map(|i| f64::from(u8::from(i < 50))).collect();
        let p = paired_bootstrap(&a, &b, 2000, 1).unwrap();
        assert!((p.difference - 0.3).abs() < 1e-12);
        assert!(p.significant() && p.low > 0.15 && p.high < 0.45, "{p:?}");
        assert!(p.p_value < 0.01);
        // Identical conditions: no difference, interval on zero.
        let same = paired_bootstrap(&a, &a, 2000, 1).unwrap();
        assert_eq!((same.difference, same.low, same.high), (0.0, 0.0, 0.0));
        assert!(!same.significant() && same.p_value == 1.0);
        // Two questions flipped either way out of 100: not significant.
        let mut c = a.clone();
        c.swap(79, 80);
        c[0] = 0.0;
        let small = paired_bootstrap(&a, &c, 2000, 1).unwrap();
        assert!(!small.significant(), "{small:?}");
        // Seeded: the same numbers again.
        assert_eq!(p, paired_bootstrap(&a, &b, 2000, 1).unwrap());
        assert!(paired_bootstrap(&a, &b[1..], 2000, 1).is_err());
    }
}

/// The Wilson score interval for `successes` of `n` at 95 % (z = 1.96): (low, high), both within
/// 0..=1 — unlike the normal approximation, sensible near 0 % and 100 % and for small `n`.
pub fn wilson(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let denom = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod wilson_tests {
    use super::wilson;

    #[test]
    fn wilson_matches_published_values() {
        // 8 of 10: (0.490, 0.943) in Newcombe (1998), table I.
        let (lo, hi) = wilson(8, 10);
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 20);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1611).abs() < 1e-3, "{hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }
}

/// McNemar's exact test for two conditions scored on the same items: `b` items only the first
/// got right, `c` only the second. The two-sided p-value of the binomial test of `b` against
/// `b + c` fair coin flips (the items both got right or both got wrong say nothing).
pub fn mcnemar(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // P(X ≤ k) for X ~ Binomial(n, 1/2), summed in log space (n may be in the hundreds).
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod mcnemar_tests {
    use super::mcnemar;

    #[test]
    fn mcnemar_exact_matches_the_binomial_tail() {
        // b = 1, c = 9: 2 · (1 + 10) / 1024.
        assert!((mcnemar(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((mcnemar(9, 1) - mcnemar(1, 9)).abs() < 1e-15);
        assert_eq!(mcnemar(5, 5), 1.0);
        assert_eq!(mcnemar(0, 0), 1.0);
        // b = 0, c = 6: 2 / 64.
        assert!((mcnemar(0, 6) - 2.0 / 64.0).abs() < 1e-12);
        assert!(mcnemar(40, 80) < 0.001);
    }
}
