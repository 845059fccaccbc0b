//! Summary statistics of a sample of measurements, with a bootstrap
//! confidence interval of the median.
//!
//! The standard deviation is the sample one (n − 1); the MAD is the raw
//! median absolute deviation from the median (not scaled to σ); the p95 is
//! the linear-interpolation quantile (type 7); the interval is the
//! percentile bootstrap of the median with a fixed seed, so the same runs
//! always give the same interval.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// Bootstrap settings, recorded in every receipt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Number of resamples.
    pub resamples: u32,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap { resamples: 10_000, level: 0.95, seed: DEFAULT_SEED }
    }
}

/// The default seed ("mlxport" in ASCII).
pub const DEFAULT_SEED: u64 = 0x006d_6c78_706f_7274;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation; absent with a single value.
    pub stddev: Option<f64>,
    /// Coefficient of variation, stddev / mean.
    pub cv: Option<f64>,
    pub median: f64,
    pub mad: f64,
    pub min: f64,
    pub max: f64,
    pub p95: f64,
    /// Bootstrap confidence interval of the median.
    pub median_ci: Interval,
}

/// Summarize a non-empty sample.
pub fn summarize(xs: &[f64], boot: &Bootstrap) -> Summary {
    assert!(!xs.is_empty(), "summarize needs at least one value");
    let n = xs.len();
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = xs.iter().sum::<f64>() / n as f64;
    let stddev = (n > 1).then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    let median = quantile(&sorted, 0.5);
    Summary {
        n,
        mean,
        stddev,
        cv: stddev.filter(|_| mean != 0.0).map(|s| s / mean.abs()),
        median,
        mad: mad(&sorted, median),
        min: sorted[0],
        max: sorted[n - 1],
        p95: quantile(&sorted, 0.95),
        median_ci: bootstrap_median_ci(xs, boot),
    }
}

/// Linear-interpolation quantile (type 7) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Median of any values.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    median_in_place(&mut v)
}

/// Raw median absolute deviation around `median`.
pub fn mad(xs: &[f64], median: f64) -> f64 {
    let mut dev: Vec<f64> = xs.iter().map(|x| (x - median).abs()).collect();
    median_in_place(&mut dev)
}

fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let (left, mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let m = *mid;
    if n % 2 == 1 {
        m
    } else {
        let below = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + m) / 2.0
    }
}

/// Percentile bootstrap interval of the median.
pub fn bootstrap_median_ci(xs: &[f64], boot: &Bootstrap) -> Interval {
    let mut rng = Rng::new(boot.seed);
    let mut buf = vec![0.0; xs.len()];
    let stats: Vec<f64> = (0..boot.resamples.max(1))
        .map(|_| {
            for b in buf.iter_mut() {
                *b = xs[rng.below(xs.len())];
            }
            median_in_place(&mut buf)
        })
        .collect();
    percentile_interval(stats, boot.level)
}

/// Percentile bootstrap interval of `median(b) / median(a)` for two
/// independent samples, each resampled on its own.
pub fn bootstrap_ratio_of_medians_ci(a: &[f64], b: &[f64], boot: &Bootstrap) -> Interval {
    let mut rng = Rng::new(boot.seed);
    let (mut ba, mut bb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    let stats: Vec<f64> = (0..boot.resamples.max(1))
        .map(|_| {
            for x in ba.iter_mut() {
                *x = a[rng.below(a.len())];
            }
            for x in bb.iter_mut() {
                *x = b[rng.below(b.len())];
            }
            median_in_place(&mut bb) / median_in_place(&mut ba)
        })
        .collect();
    percentile_interval(stats, boot.level)
}

fn percentile_interval(mut stats: Vec<f64>, level: f64) -> Interval {
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Interval { low: quantile(&stats, tail), high: quantile(&stats, 1.0 - tail) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let s = summarize(&xs, &Bootstrap::default());
        assert_eq!(s.n, 8);
        assert_eq!(s.mean, 5.0);
        assert!((s.stddev.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.median, 4.5);
        // |x - 4.5| = 2.5 .5 .5 .5 .5 .5 2.5 4.5 -> median 0.5
        assert_eq!(s.mad, 0.5);
        assert_eq!((s.min, s.max), (2.0, 9.0));
        // type 7: h = 7 * 0.95 = 6.65 -> 7 + 0.65 * 2
        assert!((s.p95 - 8.3).abs() < 1e-12);
        assert!(s.median_ci.contains(s.median));
        // Resampled medians of 8 values lie between the 2nd and 7th.
        assert!(s.median_ci.low >= 2.0 && s.median_ci.high <= 9.0, "{:?}", s.median_ci);
        assert_eq!(s.median_ci, summarize(&xs, &Bootstrap::default()).median_ci);
    }

    #[test]
    fn single_value() {
        let s = summarize(&[3.0], &Bootstrap::default());
        assert_eq!((s.median, s.mad, s.p95, s.stddev, s.cv), (3.0, 0.0, 3.0, None, None));
        assert_eq!(s.median_ci, Interval { low: 3.0, high: 3.0 });
    }

    #[test]
    fn bootstrap_is_deterministic_and_covers() {
        let mut r = Rng::new(3);
        let xs: Vec<f64> = (0..50).map(|_| 10.0 + (r.below(1000) as f64) / 1000.0).collect();
        let b = Bootstrap::default();
        assert_eq!(bootstrap_median_ci(&xs, &b), bootstrap_median_ci(&xs, &b));
        let ci = bootstrap_median_ci(&xs, &b);
        // The true median of U(10, 11) is 10.5; the interval is narrow.
        assert!(ci.high - ci.low < 0.4, "{ci:?}");
        let ratio = bootstrap_ratio_of_medians_ci(&xs, &xs.iter().map(|x| x * 2.0).collect::<Vec<_>>(), &b);
        assert!(ratio.contains(2.0) && ratio.high - ratio.low < 0.1, "{ratio:?}");
    }
}
