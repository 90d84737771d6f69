//! The statistics every experiment uses, in one place, each function checked against scipy or
//! statsmodels (`tests/fixtures/`).
//!
//! - Spread: [`mean`], [`sample_sd`] (n − 1 in the denominator, as numpy's `ddof=1`).
//! - Paired binary outcomes (two systems on the same questions): [`sign_test`] / [`mcnemar`], the
//!   exact binomial test on the discordant pairs, with its mid-p variant named as such.
//! - Paired numbers (two configurations over the same seeds): [`paired_t`]; [`wilcoxon`] only as a
//!   check, and only from 6 pairs on (with 5 its smallest two-sided p is 0.0625).
//! - A proportion's interval: [`wilson`] and [`clopper_pearson`].
//! - Where none of those applies: [`paired_bootstrap`] (percentile interval over resampled items).
//! - Several comparisons in one named family: [`holm`] (Holm–Bonferroni adjusted p-values), read
//!   into verdicts by [`judge_family`]; the primary comparison, the one its milestone's Question asks, by
//!   [`judge_primary`]. Two systems right or wrong on the same items: [`paired_binary`].
//! - Words: [`verdict`] is the one function that says "better", "worse" or "tied".

use anyhow::{bail, ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF, StudentsT};

/// The level every claim is tested at, after correction within its family.
pub const ALPHA: f64 = 0.05;

/// The arithmetic mean; NaN for no values.
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// The sample standard deviation (n − 1 in the denominator); NaN for fewer than two values.
pub fn sample_sd(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = mean(x);
    let ss: f64 = x.iter().map(|v| (v - m) * (v - m)).sum();
    (ss / (x.len() - 1) as f64).sqrt()
}

/// The exact two-sided sign test on paired binary outcomes (McNemar's exact test).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignTest {
    /// Items only the first system got right.
    pub wins: usize,
    /// Items only the second system got right.
    pub losses: usize,
    /// Exact two-sided p: twice the smaller binomial tail of `wins` in `wins + losses` fair flips.
    pub p: f64,
    /// The mid-p variant (half the probability of the observed count), less conservative.
    pub mid_p: f64,
}

/// `P(X ≤ k)` and `P(X = k)` for `X ~ Binomial(n, 1/2)`, summed in log space.
fn binomial_half_tail(n: usize, k: usize) -> (f64, f64) {
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    let mut at_k = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        at_k = (ln_choose + ln_half_n).exp();
        tail += at_k;
    }
    (tail, at_k)
}

/// The exact sign test of `wins` against `losses` (ties, items both got right or both wrong, say
/// nothing and are not passed).
pub fn sign_test(wins: usize, losses: usize) -> SignTest {
    let n = wins + losses;
    if n == 0 {
        return SignTest {
            wins,
            losses,
            p: 1.0,
            mid_p: 1.0,
        };
    }
    let (tail, at_k) = binomial_half_tail(n, wins.min(losses));
    SignTest {
        wins,
        losses,
        p: (2.0 * tail).min(1.0),
        mid_p: (2.0 * tail - at_k).min(1.0),
    }
}

/// McNemar's exact test on two systems' outcomes for the same items (`first[i]`, `second[i]`: was
/// item `i` right).
pub fn mcnemar(first: &[bool], second: &[bool]) -> Result<SignTest> {
    ensure!(
        first.len() == second.len(),
        "paired outcomes differ in length ({} vs {})",
        first.len(),
        second.len()
    );
    let wins = first
        .iter()
        .zip(second)
        .filter(|(a, b)| **a && !**b)
        .count();
    let losses = first
        .iter()
        .zip(second)
        .filter(|(a, b)| !**a && **b)
        .count();
    Ok(sign_test(wins, losses))
}

/// A two-sided interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// The standard normal quantile of `p`.
fn normal_quantile(p: f64) -> f64 {
    let d = statrs::distribution::Normal::new(0.0, 1.0).expect("standard normal");
    d.inverse_cdf(p)
}

/// The Wilson score interval for `successes` of `n` at confidence `level` (e.g. 0.95).
pub fn wilson(successes: usize, n: usize, level: f64) -> Interval {
    if n == 0 {
        return Interval {
            low: 0.0,
            high: 1.0,
        };
    }
    let z = normal_quantile(1.0 - (1.0 - level) / 2.0);
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let denom = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / denom;
    // At 0 or n successes the bound is exactly 0 or 1; rounding would leave a speck beside it.
    Interval {
        low: if successes == 0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        high: if successes == n {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    }
}

/// The Clopper–Pearson ("exact") interval for `successes` of `n` at confidence `level`, from the
/// beta distribution's quantiles.
pub fn clopper_pearson(successes: usize, n: usize, level: f64) -> Interval {
    let a = (1.0 - level) / 2.0;
    let (k, n_f) = (successes as f64, n as f64);
    let low = if successes == 0 {
        0.0
    } else {
        Beta::new(k, n_f - k + 1.0)
            .expect("valid beta")
            .inverse_cdf(a)
    };
    let high = if successes == n {
        1.0
    } else {
        Beta::new(k + 1.0, n_f - k)
            .expect("valid beta")
            .inverse_cdf(1.0 - a)
    };
    Interval { low, high }
}

/// Student's t quantile with `df` degrees of freedom.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df)
        .expect("positive degrees of freedom")
        .inverse_cdf(p)
}

/// The paired t-test of `mean(first − second)`, with its interval at the chosen level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedT {
    pub n: usize,
    pub mean_difference: f64,
    /// Sample SD of the differences.
    pub sd_difference: f64,
    pub t: f64,
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    pub interval: Interval,
}

/// The paired t-test over pairs `(first[i], second[i])` (the same seed, say, under two configs).
pub fn paired_t(first: &[f64], second: &[f64], level: f64) -> Result<PairedT> {
    ensure!(
        first.len() == second.len(),
        "paired samples differ in length ({} vs {})",
        first.len(),
        second.len()
    );
    ensure!(first.len() >= 2, "a paired t-test needs at least 2 pairs");
    let d: Vec<f64> = first.iter().zip(second).map(|(a, b)| a - b).collect();
    let n = d.len();
    let (m, sd) = (mean(&d), sample_sd(&d));
    let se = sd / (n as f64).sqrt();
    let df = (n - 1) as f64;
    let dist = StudentsT::new(0.0, 1.0, df).expect("positive degrees of freedom");
    let t = m / se;
    let p = if se == 0.0 {
        if m == 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        (2.0 * dist.cdf(-t.abs())).min(1.0)
    };
    let half = dist.inverse_cdf(1.0 - (1.0 - level) / 2.0) * se;
    Ok(PairedT {
        n,
        mean_difference: m,
        sd_difference: sd,
        t,
        df,
        p,
        interval: Interval {
            low: m - half,
            high: m + half,
        },
    })
}

/// The exact Wilcoxon signed-rank test (zero differences dropped, as scipy's default).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wilcoxon {
    /// Pairs with a nonzero difference.
    pub n: usize,
    /// The smaller of the positive and negative rank sums.
    pub statistic: f64,
    /// Exact two-sided p-value.
    pub p: f64,
}

/// The exact Wilcoxon signed-rank test of `first − second`. Refuses tied absolute differences
/// (their exact distribution is not the one counted here) and fewer than 6 nonzero differences.
pub fn wilcoxon(first: &[f64], second: &[f64]) -> Result<Wilcoxon> {
    ensure!(
        first.len() == second.len(),
        "paired samples differ in length"
    );
    let mut d: Vec<f64> = first
        .iter()
        .zip(second)
        .map(|(a, b)| a - b)
        .filter(|x| *x != 0.0)
        .collect();
    let n = d.len();
    ensure!(
        n >= 6,
        "the signed-rank test needs at least 6 nonzero differences (got {n}); with 5 its smallest p is 0.0625"
    );
    d.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    if d.windows(2).any(|w| w[0].abs() == w[1].abs()) {
        bail!("tied absolute differences: the exact signed-rank distribution does not apply");
    }
    let plus: usize = (1..=n).filter(|&r| d[r - 1] > 0.0).sum();
    let total = n * (n + 1) / 2;
    let w = plus.min(total - plus);
    // counts[s]: subsets of the ranks 1..=n whose sum is s.
    let mut counts = vec![0f64; total + 1];
    counts[0] = 1.0;
    for r in 1..=n {
        for s in (r..=total).rev() {
            counts[s] += counts[s - r];
        }
    }
    let all = 2f64.powi(n as i32);
    let tail: f64 = counts[..=w].iter().sum::<f64>() / all;
    Ok(Wilcoxon {
        n,
        statistic: w as f64,
        p: (2.0 * tail).min(1.0),
    })
}

/// Holm–Bonferroni adjusted p-values, in the order given: compare each with the family's alpha.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

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

/// The paired bootstrap of `mean(a) − mean(b)` with `resamples` draws from a stream seeded by
/// `seed` (Efron & Tibshirani, 1993): for paired numbers no test above fits. Lenient with few
/// discordant binary pairs: use [`mcnemar`] for those.
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

impl Paired {
    /// The 95 % interval excludes zero.
    pub fn significant(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// What a comparison says, in the words every README row and log sentence use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Better,
    Worse,
    Tied,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Tied => "tied",
        }
    }
}

/// The one verdict function: the first system is "better" (or "worse") than the second only when
/// its test, already corrected within its family, rejects at [`ALPHA`]; otherwise the two are
/// "tied", whatever the sign of the difference. `difference` is first − second on a scale where
/// larger is better.
pub fn verdict(difference: f64, p_corrected: f64) -> Verdict {
    if p_corrected < ALPHA && difference > 0.0 {
        Verdict::Better
    } else if p_corrected < ALPHA && difference < 0.0 {
        Verdict::Worse
    } else {
        Verdict::Tied
    }
}

/// Two systems' right/wrong outcomes on the same items, with McNemar's exact test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedBinary {
    /// Items both systems answered.
    pub n: usize,
    /// The first system's share right minus the second's.
    pub difference: f64,
    /// The discordant items and the exact test on them.
    pub test: SignTest,
}

/// Compare two systems scored right (`true`) or wrong on the same items.
pub fn paired_binary(first: &[bool], second: &[bool]) -> Result<PairedBinary> {
    let test = mcnemar(first, second)?;
    ensure!(!first.is_empty(), "no paired outcomes");
    Ok(PairedBinary {
        n: first.len(),
        difference: (test.wins as f64 - test.losses as f64) / first.len() as f64,
        test,
    })
}

/// One comparison as its family reads it: its own p, the Holm-adjusted p within the family, and
/// the verdict from the adjusted p.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    pub difference: f64,
    pub p: f64,
    pub p_adjusted: f64,
    /// How many comparisons the family holds.
    pub family_size: usize,
    /// The milestone's primary comparison, read alone ([`judge_primary`]).
    pub primary: bool,
    pub verdict: Verdict,
}

/// Judge a named family of comparisons together: each `(difference, p)` is read at [`ALPHA`]
/// after Holm–Bonferroni correction over the whole family (larger difference = better first).
pub fn judge_family(comparisons: &[(f64, f64)]) -> Vec<Judged> {
    let p: Vec<f64> = comparisons.iter().map(|c| c.1).collect();
    holm(&p)
        .into_iter()
        .zip(comparisons)
        .map(|(p_adjusted, &(difference, p))| Judged {
            difference,
            p,
            p_adjusted,
            family_size: comparisons.len(),
            primary: false,
            verdict: verdict(difference, p_adjusted),
        })
        .collect()
}

/// A primary comparison, named before it is read: a family of one, uncorrected.
pub fn judge_primary(difference: f64, p: f64) -> Judged {
    Judged {
        primary: true,
        ..judge_family(&[(difference, p)])[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tie_is_called_a_tie_whatever_the_sign() {
        assert_eq!(verdict(0.03, 0.070), Verdict::Tied);
        assert_eq!(verdict(-0.03, 0.070), Verdict::Tied);
        assert_eq!(verdict(0.03, 0.049), Verdict::Better);
        assert_eq!(verdict(-0.03, 0.049), Verdict::Worse);
        assert_eq!(verdict(0.0, 0.0), Verdict::Tied);
        assert_eq!(Verdict::Tied.word(), "tied");
    }

    #[test]
    fn the_sign_test_of_the_issue_cases() {
        // m9: 7 against 1 discordant questions: exact p = 0.0703, not the bootstrap's 0.032.
        assert!((sign_test(7, 1).p - 0.0703125).abs() < 1e-12);
        // m8: 4 against 0: the exact sign test gives 0.125.
        assert!((sign_test(4, 0).p - 0.125).abs() < 1e-12);
        assert_eq!(sign_test(0, 0).p, 1.0);
        assert_eq!(sign_test(3, 3).p, 1.0);
        let m = mcnemar(&[true, true, false, true], &[false, true, true, false]).unwrap();
        assert_eq!((m.wins, m.losses), (2, 1));
        assert!(mcnemar(&[true], &[]).is_err());
    }

    #[test]
    fn five_pairs_cannot_reach_five_percent_by_signed_ranks() {
        assert!(wilcoxon(&[1.0, 2.0, 3.0, 4.0, 5.0], &[0.0; 5]).is_err());
        let w = wilcoxon(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0.0; 6]).unwrap();
        assert!((w.p - 0.03125).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn sample_sd_divides_by_n_minus_one() {
        assert!((sample_sd(&[1.0, 2.0, 3.0, 4.0]) - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!(sample_sd(&[1.0]).is_nan());
    }

    #[test]
    fn a_family_corrects_what_alone_would_pass() {
        // 0.03 passes alone; one of three comparisons, Holm multiplies it by 3.
        assert_eq!(judge_primary(0.1, 0.03).verdict, Verdict::Better);
        let fam = judge_family(&[(0.1, 0.03), (-0.2, 0.001), (0.05, 0.5)]);
        assert_eq!(fam[0].verdict, Verdict::Tied);
        assert!((fam[0].p_adjusted - 0.06).abs() < 1e-12);
        assert_eq!(fam[1].verdict, Verdict::Worse);
        assert!((fam[1].p_adjusted - 0.003).abs() < 1e-12);
        assert_eq!(fam[2].verdict, Verdict::Tied);
        assert!(fam.iter().all(|j| j.family_size == 3));
    }

    #[test]
    fn paired_binary_counts_the_discordant_items() {
        let a = [true, true, true, false, true];
        let b = [false, false, true, false, true];
        let c = paired_binary(&a, &b).unwrap();
        assert_eq!((c.n, c.test.wins, c.test.losses), (5, 2, 0));
        assert!((c.difference - 0.4).abs() < 1e-12);
        assert!((c.test.p - 0.5).abs() < 1e-12);
        assert!(paired_binary(&[], &[]).is_err());
    }
}
