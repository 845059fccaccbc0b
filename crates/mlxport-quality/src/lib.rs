//! Quality gates: is a candidate model (quantized, optimized) still as good
//! as its reference at the task level?
//!
//! The crate computes every metric of `mlxport quality` from the numbers
//! the harness writes (logits, greedy token ids, sentence embeddings) and
//! turns them into a verdict. Principal types:
//! - [`lm::LmAccumulator`]: perplexity of both models, KL divergence of the
//!   next-token distributions (mean and p99), top-1 and top-5 agreement,
//!   streamed position by position in f64.
//! - [`greedy::GreedySummary`]: exact match and first divergence of greedy
//!   continuations, and [`greedy::degeneration`] (repeated tokens, n-gram
//!   loops).
//! - [`encoder::EncoderMetrics`]: embedding cosine and retrieval agreement
//!   (overlap@k, Spearman rank correlation).
//! - [`vision::VisionMetrics`]: image models' top-1 agreement and top-5
//!   overlap of the class predictions, and feature cosine.
//! - [`thresholds::Thresholds`]: the limits, with documented defaults and
//!   `k=v` overrides; [`report::QualityReport`]: checks, verdict with
//!   reasons, versioned JSON (`mlxport.quality/v1`) and Markdown.
//!
//! ```
//! use mlxport_quality::{greedy, Thresholds};
//! let looping = greedy::degeneration(&[5, 6, 5, 6, 5, 6, 5, 6, 5, 6, 5, 6]);
//! assert!(looping.degenerate);
//! let mut limits = Thresholds::default();
//! limits.apply("kl_mean=0.1,top1=0.85")?;
//! assert_eq!(limits.get("kl_mean"), Some(0.1));
//! # Ok::<(), mlxport_quality::Error>(())
//! ```

pub mod encoder;
pub mod error;
pub mod greedy;
pub mod lm;
pub mod report;
pub mod thresholds;
pub mod vision;

pub use error::{Error, Result};
pub use report::QualityReport;
pub use thresholds::Thresholds;

/// The corpus, prompts, sentences and queries shipped with the project.
pub mod data {
    /// Held-out text for perplexity and KL (the project's own prose).
    pub const CORPUS: &str = include_str!("../data/corpus.txt");
    /// Prompts for greedy continuations, one per line.
    pub const PROMPTS: &str = include_str!("../data/prompts.txt");
    /// Sentences for the encoder gate (also the retrieval collection).
    pub const SENTENCES: &str = include_str!("../data/sentences.txt");
    /// Retrieval queries for the encoder gate.
    pub const QUERIES: &str = include_str!("../data/queries.txt");
}

/// Percentile with linear interpolation between closest ranks (numpy's
/// default `percentile` method). `q` in [0, 100]; `None` for no values.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(v[lo] + (v[hi] - v[lo]) * frac)
}
