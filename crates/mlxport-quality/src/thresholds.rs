//! The limits a candidate must meet, with defaults and `k=v` overrides.
//!
//! Defaults, and why:
//! - `ppl_ratio = 1.05` (candidate perplexity at most 5% above the
//!   reference's): 8- and 6-bit affine quantization of small models costs
//!   well under 1%, good 4-bit recipes a few percent; a broken port or
//!   2-bit weights cost tens of percent or more.
//! - `kl_mean = 0.05` nats and `kl_p99 = 0.5` nats: the mean catches a
//!   uniform drift of the distributions, the tail catches a minority of
//!   positions where the candidate predicts something else entirely, which
//!   a mean hides.
//! - `top1 = 0.90`, `top5 = 0.80`: the candidate's most likely next token
//!   is the reference's at 9 positions in 10, and 4 of its 5 best are shared.
//! - `greedy_prefix = 0.5`: on average the greedy continuations agree for at
//!   least half their length before the first divergence (greedy decoding
//!   amplifies a single flipped argmax, so exact match is reported but not
//!   required).
//! - `new_degenerate = 0`: no prompt on which the candidate loops or
//!   repeats a token while the reference does not.
//! - Encoders: `cosine_mean = 0.99`, `cosine_min = 0.95` (per-sentence
//!   cosine between the two models' embeddings), `overlap = 0.8`
//!   (overlap@k of retrieved neighbours), `spearman = 0.9` (rank
//!   correlation of the whole ranking, mean over queries).
//! - Image models use the same keys: `top1` and `top5` for the class
//!   predictions of a classifier (per image), `cosine_mean` and
//!   `cosine_min` for the image features.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Thresholds {
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub ppl_ratio: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub kl_mean: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub kl_p99: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub top1: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub top5: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub greedy_prefix: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub new_degenerate: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub cosine_mean: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub cosine_min: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub overlap: f64,
    #[serde(deserialize_with = "mlxport_contract::document::nan_if_null")]
    pub spearman: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            ppl_ratio: 1.05,
            kl_mean: 0.05,
            kl_p99: 0.5,
            top1: 0.90,
            top5: 0.80,
            greedy_prefix: 0.5,
            new_degenerate: 0.0,
            cosine_mean: 0.99,
            cosine_min: 0.95,
            overlap: 0.8,
            spearman: 0.9,
        }
    }
}

/// Every key, whether it is an upper (`max`) or lower (`min`) limit, and what it bounds.
pub const KEYS: &[(&str, &str, &str)] = &[
    ("ppl_ratio", "max", "candidate perplexity / reference perplexity"),
    ("kl_mean", "max", "mean KL(reference || candidate) over positions, nats"),
    ("kl_p99", "max", "99th percentile of the per-position KL, nats"),
    ("top1", "min", "top-1 agreement of the next-token distributions"),
    ("top5", "min", "top-5 overlap of the next-token distributions"),
    ("greedy_prefix", "min", "mean fraction of the greedy continuation before the first divergence"),
    ("new_degenerate", "max", "prompts degenerate under the candidate only"),
    ("cosine_mean", "min", "mean embedding cosine"),
    ("cosine_min", "min", "smallest embedding cosine"),
    ("overlap", "min", "retrieval overlap@k"),
    ("spearman", "min", "retrieval rank correlation (mean over queries)"),
];

impl Thresholds {
    fn slot(&mut self, key: &str) -> Option<&mut f64> {
        Some(match key {
            "ppl_ratio" => &mut self.ppl_ratio,
            "kl_mean" => &mut self.kl_mean,
            "kl_p99" => &mut self.kl_p99,
            "top1" => &mut self.top1,
            "top5" => &mut self.top5,
            "greedy_prefix" => &mut self.greedy_prefix,
            "new_degenerate" => &mut self.new_degenerate,
            "cosine_mean" => &mut self.cosine_mean,
            "cosine_min" => &mut self.cosine_min,
            "overlap" => &mut self.overlap,
            "spearman" => &mut self.spearman,
            _ => return None,
        })
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.clone().slot(key).map(|v| *v)
    }

    /// Apply `k=v,k=v` overrides (keys: [`KEYS`]).
    pub fn apply(&mut self, spec: &str) -> Result<()> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else { return Err(Error::InvalidInput(format!("threshold '{part}': expected KEY=VALUE"))) };
            let (k, v) = (k.trim(), v.trim());
            let value: f64 = v.parse().map_err(|_| Error::InvalidInput(format!("threshold {k}={v}: '{v}' is not a number")))?;
            if !value.is_finite() {
                return Err(Error::InvalidInput(format!("threshold {k}={v}: must be finite")));
            }
            let keys = KEYS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ");
            let Some(slot) = self.slot(k) else { return Err(Error::InvalidInput(format!("unknown threshold '{k}' (known: {keys})"))) };
            *slot = value;
        }
        Ok(())
    }
}
