//! Is a difference between two conditions real? The paired bootstrap over questions (Efron &
//! Tibshirani, 1993; Koehn, 2004 for NLP): both conditions answered the same questions, so resample
//! the questions with replacement and look at how the difference of the means moves.

pub use stats::{paired_bootstrap, Paired};

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
/// ([`stats::wilson`] at 0.95.)
pub fn wilson(successes: usize, n: usize) -> (f64, f64) {
    let i = stats::wilson(successes, n, 0.95);
    (i.low, i.high)
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
/// ([`stats::sign_test`].)
pub fn mcnemar(b: usize, c: usize) -> f64 {
    stats::sign_test(b, c).p
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
