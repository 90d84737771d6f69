//! Intervals over questions for the figures, from the stats crate: the 95 % percentile bootstrap
//! of a mean over its items (one trained model: the interval covers the sampling of the
//! questions, not retraining).

use anyhow::Result;

/// Resamples per interval: enough for a 95 % percentile interval's ends to settle.
pub const RESAMPLES: usize = 2_000;

/// The 95 % percentile bootstrap interval of `mean(xs)` over its items, resampled from a stream
/// seeded by `seed`: [`stats::paired_bootstrap`] of `xs` against zeros, whose mean difference is
/// `mean(xs)` itself.
pub fn mean_interval(xs: &[f64], seed: u64) -> Result<(f64, f64)> {
    let zeros = vec![0.0; xs.len()];
    let b = stats::paired_bootstrap(xs, &zeros, RESAMPLES, seed)?;
    Ok((b.low, b.high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mean_interval_holds_the_mean_and_narrows_with_more_items() {
        let few: Vec<f64> = (0..20).map(|i| f64::from(i % 2)).collect();
        let many: Vec<f64> = (0..2000).map(|i| f64::from(i % 2)).collect();
        let (a, b) = mean_interval(&few, 0).unwrap();
        let (c, d) = mean_interval(&many, 0).unwrap();
        assert!(a < 0.5 && 0.5 < b, "{a} {b}");
        assert!(c < 0.5 && 0.5 < d, "{c} {d}");
        assert!(d - c < (b - a) / 5.0);
        assert!(mean_interval(&[], 0).is_err());
    }
}
