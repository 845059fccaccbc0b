//! A candidate against a baseline: the ratio of their measurements with a
//! bootstrap confidence interval, and a verdict.
//!
//! - Paired (one interleaved benchmark): the ratio candidate / baseline is
//!   computed for every round, its median is the estimate, and the interval
//!   resamples the rounds (pairs), so drifts common to both commands cancel.
//! - Independent (two receipts measured apart): the estimate is the ratio
//!   of the medians, and each sample is resampled on its own.
//!
//! The *improvement* turns the ratio into "how many times better the
//! candidate is" (baseline / candidate for times, candidate / baseline for
//! throughputs). The verdict is "faster" when the whole interval of the
//! improvement lies above `1 + min_effect`, "slower" when it lies below
//! `1 / (1 + min_effect)`, and otherwise "no difference beyond noise".
//! `min_effect` (1% by default) keeps a systematic sub-percent bias of the
//! machine from being reported as a real difference.

use serde::{Deserialize, Serialize};

use crate::stats::{bootstrap_median_ci, bootstrap_ratio_of_medians_ci, median, Bootstrap, Interval};

/// Which direction of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "faster")]
    Faster,
    #[serde(rename = "slower")]
    Slower,
    #[serde(rename = "no difference beyond noise")]
    NoDifference,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoDifference => "no difference beyond noise",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Paired,
    Independent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub method: Method,
    /// Pairs (paired) or the smaller sample size (independent).
    pub pairs: usize,
    /// Candidate / baseline of the metric.
    pub ratio: f64,
    pub ratio_ci: Interval,
    /// Times better the candidate is (> 1: better).
    pub improvement: f64,
    pub improvement_ci: Interval,
    pub min_effect: f64,
    pub verdict: Verdict,
}

/// Default smallest effect a verdict reports (1%).
pub const DEFAULT_MIN_EFFECT: f64 = 0.01;

/// Compare interleaved runs pair by pair (`baseline[i]` with
/// `candidate[i]`).
pub fn paired(baseline: &[f64], candidate: &[f64], better: Better, boot: &Bootstrap, min_effect: f64) -> Comparison {
    let n = baseline.len().min(candidate.len());
    assert!(n > 0, "paired comparison needs runs");
    let ratios: Vec<f64> = (0..n).map(|i| candidate[i] / baseline[i]).collect();
    finish(Method::Paired, n, median(&ratios), bootstrap_median_ci(&ratios, boot), better, min_effect)
}

/// Compare two samples measured apart.
pub fn independent(baseline: &[f64], candidate: &[f64], better: Better, boot: &Bootstrap, min_effect: f64) -> Comparison {
    assert!(!baseline.is_empty() && !candidate.is_empty(), "comparison needs runs");
    let ratio = median(candidate) / median(baseline);
    let ci = bootstrap_ratio_of_medians_ci(baseline, candidate, boot);
    finish(Method::Independent, baseline.len().min(candidate.len()), ratio, ci, better, min_effect)
}

fn finish(method: Method, pairs: usize, ratio: f64, ratio_ci: Interval, better: Better, min_effect: f64) -> Comparison {
    let (improvement, improvement_ci) = match better {
        Better::Lower => (1.0 / ratio, Interval { low: 1.0 / ratio_ci.high, high: 1.0 / ratio_ci.low }),
        Better::Higher => (ratio, ratio_ci),
    };
    let verdict = if improvement_ci.low > 1.0 + min_effect {
        Verdict::Faster
    } else if improvement_ci.high < 1.0 / (1.0 + min_effect) {
        Verdict::Slower
    } else {
        Verdict::NoDifference
    };
    Comparison { method, pairs, ratio, ratio_ci, improvement, improvement_ci, min_effect, verdict }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn noisy(base: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut r = Rng::new(seed);
        (0..n).map(|_| base * (1.0 + (r.below(2001) as f64 - 1000.0) * 1e-5)).collect()
    }

    #[test]
    fn verdicts() {
        let b = Bootstrap::default();
        let a = noisy(0.10, 20, 1);
        let slow = noisy(0.13, 20, 2);
        let c = paired(&a, &slow, Better::Lower, &b, DEFAULT_MIN_EFFECT);
        assert_eq!(c.verdict, Verdict::Slower);
        assert!((c.ratio - 1.3).abs() < 0.02 && c.ratio_ci.contains(c.ratio), "{c:?}");
        assert!((c.improvement - 1.0 / 1.3).abs() < 0.02);
        assert_eq!(paired(&slow, &a, Better::Lower, &b, DEFAULT_MIN_EFFECT).verdict, Verdict::Faster);
        let same = noisy(0.10, 20, 3);
        assert_eq!(paired(&a, &same, Better::Lower, &b, DEFAULT_MIN_EFFECT).verdict, Verdict::NoDifference);
        // Throughput: higher is better, so 1.3x the value is faster.
        assert_eq!(independent(&a, &slow, Better::Higher, &b, DEFAULT_MIN_EFFECT).verdict, Verdict::Faster);
        assert_eq!(independent(&a, &slow, Better::Lower, &b, DEFAULT_MIN_EFFECT).verdict, Verdict::Slower);
    }
}
