//! Logit metrics: per position (a row over the last axis, the vocabulary),
//! compare the two softmax distributions.
//!
//! For a row `x` the log-softmax is computed stably in f64:
//! `m = max x`, `s = sum exp(x - m)` (exact sum, rounded once),
//! `lp = (x - m) - ln s`, `p = exp(lp)`. Then per position:
//!
//! - top-1 agreement: the first index of the maximum is the same;
//! - top-k overlap: `|topk(a) ∩ topk(b)| / k`, ranking by value, ties to
//!   the lower index;
//! - `KL(a||b) = sum p_a (lp_a - lp_b)` and `KL(b||a)`, terms with zero
//!   probability contributing 0 (a zero in the other distribution where
//!   this one is positive makes it infinite);
//! - the largest `|p_a - p_b|`.
//!
//! A row with a NaN, or with no finite maximum, has no defined
//! distribution: it is counted as invalid and as a top-1 disagreement.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::metrics::{decode_block, ExactSum, WINDOW};
use mlxport_tensor::stream::ChunkRead;
use mlxport_tensor::DType;

/// Positions whose details are kept in a report (summaries cover all).
pub const MAX_POSITIONS_KEPT: usize = 4096;
/// Longest last axis compared as a vocabulary (real vocabularies are at
/// most a few hundred thousand entries); a row is held in memory whole.
pub const MAX_VOCAB: u64 = 1 << 22;

/// Metrics of one position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub position: u64,
    pub top1_a: Option<u64>,
    pub top1_b: Option<u64>,
    pub top1_agree: bool,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub topk_overlap: f64,
    pub kl_ab: Option<f64>,
    pub kl_ba: Option<f64>,
    pub max_prob_diff: Option<f64>,
}

/// Summary over all positions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogitReport {
    pub vocab: u64,
    pub positions: u64,
    pub k: usize,
    pub top1_agree: u64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub top1_agreement: f64,
    pub first_top1_disagreement: Option<u64>,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub topk_overlap_mean: f64,
    pub kl_ab_mean: Option<f64>,
    pub kl_ab_max: Option<f64>,
    pub kl_ab_max_position: Option<u64>,
    pub kl_ba_mean: Option<f64>,
    pub kl_ba_max: Option<f64>,
    pub kl_ba_max_position: Option<u64>,
    pub max_prob_diff: Option<f64>,
    pub max_prob_diff_position: Option<u64>,
    /// Rows with a NaN or without a finite maximum.
    pub invalid_positions: u64,
    /// Per-position details, the first [`MAX_POSITIONS_KEPT`].
    pub per_position: Vec<Position>,
    pub per_position_truncated: bool,
}

struct Row {
    lp: Vec<f64>,
    top: Vec<usize>,
}

/// Log-softmax and top-k of a row; `None` when undefined.
fn analyse(x: &[f64], k: usize) -> Option<Row> {
    if x.iter().any(|v| v.is_nan()) {
        return None;
    }
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return None;
    }
    let mut s = ExactSum::default();
    for &v in x {
        s.add((v - m).exp());
    }
    let ls = s.value().ln();
    let lp: Vec<f64> = x.iter().map(|&v| (v - m) - ls).collect();
    // Top-k by (value desc, index asc), insertion into a short list.
    let mut top: Vec<usize> = Vec::with_capacity(k + 1);
    for (i, &v) in x.iter().enumerate() {
        if top.len() == k && v <= x[top[k - 1]] {
            continue;
        }
        let at = top.iter().position(|&j| v > x[j]).unwrap_or(top.len());
        top.insert(at, i);
        top.truncate(k);
    }
    Some(Row { lp, top })
}

fn kl(p: &[f64], q: &[f64]) -> f64 {
    let mut s = ExactSum::default();
    for (&lp, &lq) in p.iter().zip(q) {
        if lp == f64::NEG_INFINITY {
            continue;
        }
        s.add(lp.exp() * (lp - lq));
    }
    s.value()
}

fn position(i: u64, a: &[f64], b: &[f64], k: usize) -> Position {
    let (ra, rb) = (analyse(a, k), analyse(b, k));
    match (ra, rb) {
        (Some(ra), Some(rb)) => {
            let overlap = ra.top.iter().filter(|j| rb.top.contains(j)).count();
            let mut pd = 0f64;
            for (&x, &y) in ra.lp.iter().zip(&rb.lp) {
                pd = pd.max((x.exp() - y.exp()).abs());
            }
            Position {
                position: i,
                top1_a: Some(ra.top[0] as u64),
                top1_b: Some(rb.top[0] as u64),
                top1_agree: ra.top[0] == rb.top[0],
                topk_overlap: overlap as f64 / k as f64,
                kl_ab: Some(kl(&ra.lp, &rb.lp)),
                kl_ba: Some(kl(&rb.lp, &ra.lp)),
                max_prob_diff: Some(pd),
            }
        }
        (ra, rb) => Position {
            position: i,
            top1_a: ra.map(|r| r.top[0] as u64),
            top1_b: rb.map(|r| r.top[0] as u64),
            top1_agree: false,
            topk_overlap: 0.0,
            kl_ab: None,
            kl_ba: None,
            max_prob_diff: None,
        },
    }
}

/// Logit metrics of two tensors whose last axis (`vocab` long) is the
/// vocabulary, read row by row.
#[allow(clippy::too_many_arguments)]
pub fn logit_pass(a: &mut dyn ChunkRead, da: DType, b: &mut dyn ChunkRead, db: DType, numel: u64, vocab: u64, k: usize) -> Result<LogitReport, crate::Error> {
    let k = k.clamp(1, vocab.max(1) as usize);
    let (sa, sb) = (da.size().unwrap_or(1), db.size().unwrap_or(1));
    let v = vocab as usize;
    let rows = numel / vocab.max(1);
    let per_window = (WINDOW / v.max(1)).max(1) as u64;
    let mut kept = Vec::new();
    let (mut agree, mut first_dis, mut invalid) = (0u64, None, 0u64);
    let mut overlap = ExactSum::default();
    let (mut kl_ab, mut kl_ba) = (ExactSum::default(), ExactSum::default());
    let (mut kl_ab_max, mut kl_ba_max, mut pd_max): ((f64, u64), (f64, u64), (f64, u64)) = ((-1.0, 0), (-1.0, 0), (-1.0, 0));
    let mut valid = 0u64;
    let mut done = 0u64;
    while done < rows {
        let n = per_window.min(rows - done) as usize;
        let wa = a.next_chunk(n * v * sa)?;
        if wa.len() != n * v * sa {
            return Err(crate::Error::Short { side: 'A', got: wa.len() as u64, want: (n * v * sa) as u64 });
        }
        let wb = b.next_chunk(n * v * sb)?;
        if wb.len() != n * v * sb {
            return Err(crate::Error::Short { side: 'B', got: wb.len() as u64, want: (n * v * sb) as u64 });
        }
        let out: Vec<Position> = (0..n)
            .into_par_iter()
            .map(|r| {
                let mut xa = vec![0f64; v];
                let mut xb = vec![0f64; v];
                decode_block(da, &wa[r * v * sa..(r + 1) * v * sa], &mut xa);
                decode_block(db, &wb[r * v * sb..(r + 1) * v * sb], &mut xb);
                position(done + r as u64, &xa, &xb, k)
            })
            .collect();
        for p in out {
            if p.top1_agree {
                agree += 1;
            } else if first_dis.is_none() {
                first_dis = Some(p.position);
            }
            overlap.add(p.topk_overlap);
            match (p.kl_ab, p.kl_ba, p.max_prob_diff) {
                (Some(x), Some(y), Some(d)) => {
                    valid += 1;
                    kl_ab.add(x);
                    kl_ba.add(y);
                    let better = |m: &mut (f64, u64), v: f64| {
                        if v > m.0 || (v.is_nan() && !m.0.is_nan()) {
                            *m = (v, p.position);
                        }
                    };
                    better(&mut kl_ab_max, x);
                    better(&mut kl_ba_max, y);
                    better(&mut pd_max, d);
                }
                _ => invalid += 1,
            }
            if kept.len() < MAX_POSITIONS_KEPT {
                kept.push(p);
            }
        }
        done += n as u64;
    }
    let some = |x: f64| (valid > 0).then_some(x);
    let at = |x: u64| (valid > 0).then_some(x);
    Ok(LogitReport {
        vocab,
        positions: rows,
        k,
        top1_agree: agree,
        top1_agreement: if rows > 0 { agree as f64 / rows as f64 } else { 1.0 },
        first_top1_disagreement: first_dis,
        topk_overlap_mean: if rows > 0 { overlap.value() / rows as f64 } else { 1.0 },
        kl_ab_mean: some(kl_ab.value() / valid as f64),
        kl_ab_max: some(kl_ab_max.0),
        kl_ab_max_position: at(kl_ab_max.1),
        kl_ba_mean: some(kl_ba.value() / valid as f64),
        kl_ba_max: some(kl_ba_max.0),
        kl_ba_max_position: at(kl_ba_max.1),
        max_prob_diff: some(pd_max.0),
        max_prob_diff_position: at(pd_max.1),
        invalid_positions: invalid,
        per_position_truncated: rows as usize > kept.len(),
        per_position: kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_rows_agree_and_kl_is_zero() {
        let x = [1.0, 3.0, 2.0, 3.0, -1.0, f64::NEG_INFINITY];
        let p = position(0, &x, &x, 3);
        assert!(p.top1_agree);
        assert_eq!(p.top1_a, Some(1));
        assert_eq!(p.topk_overlap, 1.0);
        assert_eq!(p.kl_ab, Some(0.0));
        assert_eq!(p.max_prob_diff, Some(0.0));
        let r = analyse(&x, 3).unwrap();
        assert_eq!(r.top, vec![1, 3, 2]);
    }

    #[test]
    fn nan_rows_are_invalid() {
        let p = position(4, &[0.0, f64::NAN], &[0.0, 1.0], 1);
        assert!(!p.top1_agree && p.kl_ab.is_none());
        let z = [0.0, f64::NEG_INFINITY];
        let q = position(0, &[0.0, 0.0], &z, 1);
        assert_eq!(q.kl_ab, Some(f64::INFINITY));
        assert!(q.kl_ba.unwrap().is_finite());
    }
}
