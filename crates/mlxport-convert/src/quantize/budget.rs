//! `--target-bpw`: bits per layer under an average bits-per-weight budget.
//!
//! Bits per weight is mlx-lm's: every byte written times 8 over the
//! parameter count of the index (a quantized weight counts its original
//! elements). Each candidate layer can take any affine bit width at its
//! group size; its cost is `elements * bits` plus its scales and biases,
//! its error the sum of squared errors of that quantization (measured, not
//! modelled). The allocation minimizes the total squared error — every
//! weight counts the same — under the budget: a greedy that repeatedly
//! takes the upgrade with the largest error reduction per added bit that
//! still fits, started from every layer at the lowest width and from each
//! uniform width that fits, keeping the best. Starting from the best
//! fitting uniform choice guarantees a result no worse than it.

use serde::Serialize;

use super::options::AFFINE_BITS;
use crate::{Error, Result};

/// One layer the allocation may choose bits for.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub name: String,
    pub elements: u64,
    pub group_size: usize,
    /// Bytes of one scale (and of one bias).
    pub scale_bytes: u64,
    /// Sum of squared errors at each of [`AFFINE_BITS`].
    pub sse: [f64; 6],
}

impl Candidate {
    /// Bits written for this layer at `AFFINE_BITS[k]`.
    pub fn cost(&self, k: usize) -> f64 {
        let groups = self.elements / self.group_size as u64;
        (self.elements * AFFINE_BITS[k] as u64 + 2 * groups * self.scale_bytes * 8) as f64
    }
}

/// A uniform choice, for comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Uniform {
    pub bits: u8,
    pub bpw: f64,
    pub total_sse: f64,
}

/// The chosen bits and what they are predicted to cost.
#[derive(Clone, Debug, Serialize)]
pub struct Allocation {
    pub target_bpw: f64,
    pub bpw: f64,
    /// Sum of squared errors over every quantized weight.
    pub total_sse: f64,
    /// `sqrt(total_sse / sum of squared weights)`.
    pub relative_error: f64,
    /// Bits per candidate, in candidate order.
    pub bits: Vec<u8>,
    pub uniform: Vec<Uniform>,
    /// The best uniform choice at equal or lower bits per weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_uniform_below: Option<Uniform>,
}

/// Choose bits per candidate so that `(fixed_bits + sum cost) /
/// parameters <= target`, minimizing the summed squared error.
/// `weight_sq` is the sum of squared weights of the candidates.
pub fn allocate(cands: &[Candidate], fixed_bits: f64, parameters: u64, target: f64, weight_sq: f64) -> Result<Allocation> {
    if parameters == 0 || cands.is_empty() {
        return Err(Error::Usage("--target-bpw: the model has no layer to quantize".into()));
    }
    let p = parameters as f64;
    let budget = target * p - fixed_bits;
    let total = |ks: &[usize]| -> (f64, f64) {
        let cost: f64 = cands.iter().zip(ks).map(|(c, &k)| c.cost(k)).sum();
        let sse: f64 = cands.iter().zip(ks).map(|(c, &k)| c.sse[k]).sum();
        (cost, sse)
    };
    let lowest = vec![0usize; cands.len()];
    let (min_cost, _) = total(&lowest);
    if min_cost > budget {
        return Err(Error::Usage(format!(
            "--target-bpw {target}: below what this model can reach ({:.3} bits per weight with every layer at 2 bits)",
            (min_cost + fixed_bits) / p
        )));
    }
    let uniform: Vec<Uniform> = (0..AFFINE_BITS.len())
        .map(|k| {
            let (c, s) = total(&vec![k; cands.len()]);
            Uniform { bits: AFFINE_BITS[k], bpw: (c + fixed_bits) / p, total_sse: s }
        })
        .collect();
    let mut starts = vec![lowest];
    for (k, u) in uniform.iter().enumerate() {
        if u.bpw <= target && k > 0 {
            starts.push(vec![k; cands.len()]);
        }
    }
    let mut best: Option<(Vec<usize>, f64, f64)> = None;
    for start in starts {
        let ks = greedy(cands, start, budget);
        let (c, s) = total(&ks);
        if best.as_ref().is_none_or(|b| s < b.2) {
            best = Some((ks, c, s));
        }
    }
    let (ks, cost, sse) = best.expect("one start at least");
    let bpw = (cost + fixed_bits) / p;
    let best_uniform_below = uniform.iter().filter(|u| u.bpw <= bpw).min_by(|a, b| a.total_sse.total_cmp(&b.total_sse)).cloned();
    Ok(Allocation {
        target_bpw: target,
        bpw,
        total_sse: sse,
        relative_error: if weight_sq > 0.0 { (sse / weight_sq).sqrt() } else { 0.0 },
        bits: ks.iter().map(|&k| AFFINE_BITS[k]).collect(),
        uniform,
        best_uniform_below,
    })
}

/// Take the best-ratio upgrade that fits until none does.
fn greedy(cands: &[Candidate], mut ks: Vec<usize>, budget: f64) -> Vec<usize> {
    let mut cost: f64 = cands.iter().zip(&ks).map(|(c, &k)| c.cost(k)).sum();
    loop {
        let mut pick: Option<(usize, usize, f64)> = None;
        for (i, c) in cands.iter().enumerate() {
            let k0 = ks[i];
            for k in k0 + 1..AFFINE_BITS.len() {
                let dc = c.cost(k) - c.cost(k0);
                let de = c.sse[k0] - c.sse[k];
                if de <= 0.0 || cost + dc > budget {
                    continue;
                }
                let ratio = de / dc;
                // Ties go to the earlier layer and the smaller step: deterministic.
                if pick.is_none_or(|(_, _, r)| ratio > r) {
                    pick = Some((i, k, ratio));
                }
            }
        }
        let Some((i, k, _)) = pick else { break };
        cost += cands[i].cost(k) - cands[i].cost(ks[i]);
        ks[i] = k;
    }
    ks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(n: u64, scale: f64) -> Candidate {
        // Error falls by 4x per bit, scaled per layer.
        let sse = AFFINE_BITS.map(|b| scale * n as f64 * 4f64.powi(-(b as i32)));
        Candidate { name: format!("l{n}"), elements: n, group_size: 64, scale_bytes: 2, sse }
    }

    #[test]
    fn meets_the_budget_and_beats_uniform() {
        let cs: Vec<Candidate> = (0..40).map(|i| cand(4096 * (1 + i % 7), 1.0 + (i % 5) as f64 * 3.0)).collect();
        let params: u64 = cs.iter().map(|c| c.elements).sum::<u64>() + 1000;
        let fixed = 1000.0 * 16.0;
        for target in [3.0, 4.25, 4.5, 5.1] {
            let a = allocate(&cs, fixed, params, target, 1.0).unwrap();
            assert!(a.bpw <= target + 1e-12 && a.bpw > target - 0.05, "{target}: {}", a.bpw);
            let u = a.best_uniform_below.clone().unwrap();
            assert!(a.total_sse < u.total_sse, "{target}: {} vs uniform {}", a.total_sse, u.total_sse);
        }
        assert!(allocate(&cs, fixed, params, 2.1, 1.0).unwrap_err().to_string().contains("below what this model can reach"));
    }
}
