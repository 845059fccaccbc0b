//! Next-token metrics of a candidate language model against its reference,
//! streamed over positions.
//!
//! Per position, from the two rows of logits (last axis = vocabulary):
//! log-softmax in f64 (max-shifted, log-sum-exp), the negative
//! log-likelihood of the true next token under each model, the KL
//! divergence `KL(ref || cand) = sum p_ref (log p_ref - log p_cand)`,
//! top-1 agreement (the two argmaxes equal, first index of ties) and top-5
//! overlap (`|top5_ref ∩ top5_cand| / 5`, ties broken by lower index).
//! Rows are processed in parallel, then folded in position order, so the
//! sums are the same whatever the thread count.

use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How many tokens the top-k overlap compares.
pub const TOP_K: usize = 5;

/// The metrics of one position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    pub nll_reference: f64,
    pub nll_candidate: f64,
    pub kl: f64,
    pub top1_agree: bool,
    /// Shared tokens among the two top-k sets, divided by k.
    pub topk_overlap: f64,
}

/// Log-softmax of one row in f64.
pub fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
    let sum: f64 = row.iter().map(|&x| ((x as f64) - max).exp()).sum();
    let lse = max + sum.ln();
    row.iter().map(|&x| x as f64 - lse).collect()
}

/// Indices of the `k` largest values, largest first (ties: lower index first).
pub fn top_k(row: &[f64], k: usize) -> Vec<usize> {
    let mut best: Vec<usize> = Vec::with_capacity(k + 1);
    for (i, &x) in row.iter().enumerate() {
        if best.len() == k && x <= row[best[k - 1]] {
            continue;
        }
        let at = best.iter().position(|&j| x > row[j]).unwrap_or(best.len());
        best.insert(at, i);
        best.truncate(k);
    }
    best
}

/// The metrics of one position from its two logit rows and the true next token.
pub fn position(reference: &[f32], candidate: &[f32], target: usize) -> Position {
    let lr = log_softmax(reference);
    let lc = log_softmax(candidate);
    let kl: f64 = lr.iter().zip(&lc).map(|(&a, &b)| if a == f64::NEG_INFINITY { 0.0 } else { a.exp() * (a - b) }).sum();
    let tr = top_k(&lr, TOP_K);
    let tc = top_k(&lc, TOP_K);
    let shared = tr.iter().filter(|i| tc.contains(i)).count();
    Position { nll_reference: -lr[target], nll_candidate: -lc[target], kl, top1_agree: tr[0] == tc[0], topk_overlap: shared as f64 / TOP_K as f64 }
}

/// Summary of the next-token metrics over every scored position.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LmMetrics {
    pub positions: usize,
    pub vocab: usize,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub perplexity_reference: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub perplexity_candidate: f64,
    /// Candidate perplexity / reference perplexity.
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub perplexity_ratio: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub nll_reference: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub nll_candidate: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub kl_mean: f64,
    /// 99th percentile of the per-position KL (numpy's linear method).
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub kl_p99: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub kl_max: f64,
    pub kl_max_position: usize,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub top1_agreement: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub top5_overlap: f64,
}

/// Streams chunks of positions; memory is one chunk plus one f64 per position.
#[derive(Default)]
pub struct LmAccumulator {
    vocab: Option<usize>,
    nll_ref: f64,
    nll_cand: f64,
    kl_sum: f64,
    kls: Vec<f64>,
    top1: usize,
    topk: f64,
}

impl LmAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `targets.len()` positions: `reference` and `candidate` are
    /// row-major `[n, vocab]` logits.
    pub fn add(&mut self, reference: &[f32], candidate: &[f32], targets: &[i64]) -> Result<()> {
        let n = targets.len();
        if n == 0 {
            return Ok(());
        }
        if reference.len() != candidate.len() {
            return Err(Error::Mismatch(format!(
                "the reference has {} logits and the candidate {}: the vocabularies differ",
                reference.len(),
                candidate.len()
            )));
        }
        if !reference.len().is_multiple_of(n) || reference.is_empty() {
            return Err(Error::Mismatch(format!("{} logits do not divide into {} positions", reference.len(), n)));
        }
        let vocab = reference.len() / n;
        if *self.vocab.get_or_insert(vocab) != vocab {
            return Err(Error::Mismatch(format!("vocabulary size changed from {} to {vocab} between chunks", self.vocab.unwrap())));
        }
        for (i, &t) in targets.iter().enumerate() {
            if t < 0 || t as usize >= vocab {
                return Err(Error::Mismatch(format!("target token {t} at position {i} is outside the vocabulary of {vocab}")));
            }
        }
        if reference.iter().chain(candidate).any(|x| !x.is_finite()) {
            return Err(Error::NonFinite("non-finite logits (NaN or Inf) in this chunk: the model output is broken".into()));
        }
        let rows: Vec<Position> = (0..n)
            .into_par_iter()
            .map(|i| position(&reference[i * vocab..(i + 1) * vocab], &candidate[i * vocab..(i + 1) * vocab], targets[i] as usize))
            .collect();
        for p in rows {
            self.nll_ref += p.nll_reference;
            self.nll_cand += p.nll_candidate;
            self.kl_sum += p.kl;
            self.kls.push(p.kl);
            self.top1 += p.top1_agree as usize;
            self.topk += p.topk_overlap;
        }
        Ok(())
    }

    pub fn finish(&self) -> Result<LmMetrics> {
        let n = self.kls.len();
        if n == 0 {
            return Err(Error::InvalidInput("no positions were scored".into()));
        }
        let nf = n as f64;
        let (kl_max_position, kl_max) = self.kls.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &k)| if k > b.1 { (i, k) } else { b });
        let (nr, nc) = (self.nll_ref / nf, self.nll_cand / nf);
        Ok(LmMetrics {
            positions: n,
            vocab: self.vocab.unwrap_or(0),
            perplexity_reference: nr.exp(),
            perplexity_candidate: nc.exp(),
            perplexity_ratio: (nc - nr).exp(),
            nll_reference: nr,
            nll_candidate: nc,
            kl_mean: self.kl_sum / nf,
            kl_p99: crate::percentile(&self.kls, 99.0).unwrap_or(0.0),
            kl_max,
            kl_max_position,
            top1_agreement: self.top1 as f64 / nf,
            top5_overlap: self.topk / nf,
        })
    }
}
