//! Outliers by the modified Z-score (Iglewicz and Hoaglin):
//! `M = 0.6745 (x − median) / MAD`, flagged when `|M| > 3.5`. When more than
//! half the values are equal (MAD = 0) the mean absolute deviation stands
//! in: `M = (x − median) / (1.253314 · meanAD)`.

use serde::{Deserialize, Serialize};

use crate::stats::{mad, median};

/// The threshold on `|M|`.
pub const THRESHOLD: f64 = 3.5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    /// Index of the run (0-based, timed runs only).
    pub run: usize,
    pub value: f64,
    /// Modified Z-score (positive: slower / larger than the median).
    pub z: f64,
}

/// Modified Z-scores of every value (0 for all when no spread at all).
pub fn modified_z(xs: &[f64]) -> Vec<f64> {
    let m = median(xs);
    let d = mad(xs, m);
    if d > 0.0 {
        return xs.iter().map(|x| 0.6745 * (x - m) / d).collect();
    }
    let mean_ad = xs.iter().map(|x| (x - m).abs()).sum::<f64>() / xs.len() as f64;
    if mean_ad > 0.0 {
        xs.iter().map(|x| (x - m) / (1.253_314 * mean_ad)).collect()
    } else {
        vec![0.0; xs.len()]
    }
}

/// The values whose modified Z-score exceeds the threshold.
pub fn find(xs: &[f64]) -> Vec<Outlier> {
    if xs.len() < 3 {
        return Vec::new();
    }
    modified_z(xs).into_iter().enumerate().filter(|(_, z)| z.abs() > THRESHOLD).map(|(run, z)| Outlier { run, value: xs[run], z }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_one_slow_run() {
        let mut xs = vec![0.100, 0.101, 0.099, 0.100, 0.102, 0.100, 0.098, 0.101, 0.100, 0.099];
        assert!(find(&xs).is_empty());
        xs[6] = 0.300;
        let o = find(&xs);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].run, 6);
        assert!(o[0].z > 100.0);
    }

    #[test]
    fn zero_mad_falls_back() {
        let xs = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0];
        let o = find(&xs);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].run, 6);
        assert!(find(&[2.0; 8]).is_empty());
    }
}
