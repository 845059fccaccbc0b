//! Encoder quality: do the candidate's sentence embeddings point where the
//! reference's do, and do they retrieve the same neighbours?
//!
//! Cosine per sentence between the two models' embeddings (mean, min and
//! where). Retrieval: each query is scored against every sentence of the
//! collection by cosine, under the reference's embeddings and under the
//! candidate's; per query, overlap@k = |top-k(ref) ∩ top-k(cand)| / k and
//! Spearman's rank correlation of the two full rankings
//! (`1 - 6 Σd² / (n (n² - 1))`, ranks by descending score, ties broken by
//! lower index); both averaged over queries. All arithmetic in f64.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EncoderMetrics {
    pub sentences: usize,
    pub queries: usize,
    pub hidden: usize,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub cosine_mean: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub cosine_min: f64,
    pub cosine_min_sentence: usize,
    pub k: usize,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub overlap_at_k: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub overlap_at_k_min: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub spearman_mean: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub spearman_min: f64,
    /// Queries whose top-1 neighbour is the same under both models.
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub top1_agreement: f64,
}

/// Cosine of two vectors in f64 (1 when both are zero, 0 when one is).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut d, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 && nb == 0.0 {
        1.0
    } else if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        d / (na.sqrt() * nb.sqrt())
    }
}

/// Indices sorted by descending score (ties: lower index first).
pub fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]).then(i.cmp(&j)));
    idx
}

/// Spearman's rho of two rankings of the same items (permutations).
pub fn spearman(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len();
    if n < 2 {
        return 1.0;
    }
    let (mut ra, mut rb) = (vec![0usize; n], vec![0usize; n]);
    for (r, &i) in a.iter().enumerate() {
        ra[i] = r;
    }
    for (r, &i) in b.iter().enumerate() {
        rb[i] = r;
    }
    let d2: f64 = ra.iter().zip(&rb).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
    let nf = n as f64;
    1.0 - 6.0 * d2 / (nf * (nf * nf - 1.0))
}

/// `reference`/`candidate`: `[S, H]` sentence embeddings; `query_*`: `[Q, H]`.
pub fn compute(reference: &[f32], candidate: &[f32], query_reference: &[f32], query_candidate: &[f32], hidden: usize, k: usize) -> Result<EncoderMetrics> {
    if hidden == 0 || reference.len() != candidate.len() || !reference.len().is_multiple_of(hidden) || reference.is_empty() {
        return Err(Error::Mismatch(format!(
            "sentence embeddings: {} and {} values do not form the same [S, {hidden}] layout",
            reference.len(),
            candidate.len()
        )));
    }
    if query_reference.len() != query_candidate.len() || !query_reference.len().is_multiple_of(hidden) || query_reference.is_empty() {
        return Err(Error::Mismatch(format!(
            "query embeddings: {} and {} values do not form the same [Q, {hidden}] layout",
            query_reference.len(),
            query_candidate.len()
        )));
    }
    if reference.iter().chain(candidate).chain(query_reference).chain(query_candidate).any(|x| !x.is_finite()) {
        return Err(Error::NonFinite("non-finite values (NaN or Inf) in the embeddings: the model output is broken".into()));
    }
    let s = reference.len() / hidden;
    let q = query_reference.len() / hidden;
    let k = k.clamp(1, s);
    let row = |m: &'_ [f32], i: usize| -> Vec<f32> { m[i * hidden..(i + 1) * hidden].to_vec() };
    let cos: Vec<f64> = (0..s).map(|i| cosine(&row(reference, i), &row(candidate, i))).collect();
    let (cosine_min_sentence, cosine_min) = cos.iter().enumerate().fold((0, f64::INFINITY), |b, (i, &c)| if c < b.1 { (i, c) } else { b });
    let (mut overlap, mut overlap_min, mut rho, mut rho_min, mut top1) = (0f64, f64::INFINITY, 0f64, f64::INFINITY, 0usize);
    for j in 0..q {
        let (qr, qc) = (row(query_reference, j), row(query_candidate, j));
        let sr: Vec<f64> = (0..s).map(|i| cosine(&qr, &row(reference, i))).collect();
        let sc: Vec<f64> = (0..s).map(|i| cosine(&qc, &row(candidate, i))).collect();
        let (rr, rc) = (ranking(&sr), ranking(&sc));
        let shared = rr[..k].iter().filter(|i| rc[..k].contains(i)).count() as f64 / k as f64;
        let r = spearman(&rr, &rc);
        overlap += shared;
        overlap_min = overlap_min.min(shared);
        rho += r;
        rho_min = rho_min.min(r);
        top1 += (rr[0] == rc[0]) as usize;
    }
    let qf = q as f64;
    Ok(EncoderMetrics {
        sentences: s,
        queries: q,
        hidden,
        cosine_mean: cos.iter().sum::<f64>() / s as f64,
        cosine_min,
        cosine_min_sentence,
        k,
        overlap_at_k: overlap / qf,
        overlap_at_k_min: overlap_min,
        spearman_mean: rho / qf,
        spearman_min: rho_min,
        top1_agreement: top1 as f64 / qf,
    })
}
