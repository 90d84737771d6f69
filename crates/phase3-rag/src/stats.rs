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
