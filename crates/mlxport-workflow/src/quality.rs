//! The quality gate of a candidate model against its reference, as one
//! job: the harness computes logits (language models) or embeddings
//! (encoders), `mlxport-quality` the metrics and the verdict. `mlxport
//! quality`, the port's `quality` step and the optimize loop share it
//! (the gate itself is [`crate::optimize::gate`]).

use std::path::PathBuf;

use crate::error::{bail, Context, Result};
use mlxport_harness::jobs::{Harness, Settings as HarnessSettings};
use mlxport_quality::{QualityReport, Thresholds};

use crate::optimize::gate::{self, EncoderSettings, LmSettings};

/// What to gate.
#[derive(Clone, Debug)]
pub struct QualityRequest {
    /// The reference: an MLX checkpoint in mlx-lm layout (language models)
    /// or an encoder directory.
    pub reference: PathBuf,
    /// The candidate, same layout (quantized, say).
    pub candidate: PathBuf,
    /// Language models: corpus, prompts and windows.
    pub lm: LmSettings,
    /// Encoders: sentences, queries, retrieval k and the package to run.
    pub encoder: EncoderSettings,
    /// Threshold overrides, `K=V,...`.
    pub thresholds: Option<String>,
    pub harness: HarnessSettings,
}

/// Whether a model type goes to the encoder gate.
pub fn is_encoder(model_type: &str) -> bool {
    gate::ENCODER_TYPES.contains(&model_type.to_ascii_lowercase().as_str())
}

/// Run the gate (language model or encoder, by the reference's model type)
/// and return its report; writes nothing.
pub fn gate(req: &QualityRequest) -> Result<QualityReport> {
    let mut th = Thresholds::default();
    if let Some(spec) = &req.thresholds {
        th.apply(spec).context("--thresholds")?;
    }
    for (flag, p) in [("--reference", &req.reference), ("--candidate", &req.candidate)] {
        if !p.join("config.json").is_file() {
            bail!("{flag} {}: not a model directory (no config.json)", p.display());
        }
    }
    let mut h = Harness::new(req.harness.clone())?;
    crate::check_blas(&mut h, "running")?;
    let work = tempfile::Builder::new().prefix("mlxport-quality-").tempdir()?;
    let report = if gate::is_encoder(&req.reference)? {
        gate::encoder_gate(&h, &req.reference, &req.candidate, &req.encoder, work.path(), th)?
    } else {
        gate::lm_gate(&h, &req.reference, &req.candidate, &req.lm, work.path(), th)?
    };
    drop(work);
    Ok(report)
}
