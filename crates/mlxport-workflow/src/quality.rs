//! The quality gate of a candidate model against its reference, as one
//! job: the harness computes logits (language models), embeddings
//! (encoders) or image features and class logits (image models),
//! `mlxport-quality` the metrics and the verdict. `mlxport
//! quality`, the port's `quality` step and the optimize loop share it
//! (the gate itself is [`crate::optimize::gate`]).

use std::path::PathBuf;

use crate::error::{bail, Context, Result};
use mlxport_harness::jobs::{Harness, Settings as HarnessSettings};
use mlxport_quality::{QualityReport, Thresholds};

use crate::optimize::gate::{self, EncoderSettings, LmSettings, VisionSettings};

/// What to gate.
#[derive(Clone, Debug)]
pub struct QualityRequest {
    /// The reference: an MLX checkpoint in mlx-lm layout (language models)
    /// or an encoder directory.
    pub reference: PathBuf,
    /// The candidates, same layout (quantized, say); language models are
    /// all gated in one process.
    pub candidates: Vec<PathBuf>,
    /// Language models: corpus, prompts and windows.
    pub lm: LmSettings,
    /// Encoders: sentences, queries, retrieval k and the package to run.
    pub encoder: EncoderSettings,
    /// Image models: photographs and the package to run.
    pub vision: VisionSettings,
    /// Threshold overrides, `K=V,...`.
    pub thresholds: Option<String>,
    pub harness: HarnessSettings,
}

/// Whether a model type goes to the encoder gate.
pub fn is_encoder(model_type: &str) -> bool {
    gate::ENCODER_TYPES.contains(&model_type.to_ascii_lowercase().as_str())
}

/// Run the gate (language model or encoder, by the reference's model type)
/// and return one report per candidate, in order; writes nothing.
pub fn gate(req: &QualityRequest) -> Result<Vec<QualityReport>> {
    let mut th = Thresholds::default();
    if let Some(spec) = &req.thresholds {
        th.apply(spec).context("--thresholds")?;
    }
    if req.candidates.is_empty() {
        bail!("give at least one --candidate");
    }
    for (flag, p) in std::iter::once(("--reference", &req.reference)).chain(req.candidates.iter().map(|c| ("--candidate", c))) {
        if !p.join("config.json").is_file() {
            bail!("{flag} {}: not a model directory (no config.json)", p.display());
        }
    }
    let mut h = Harness::new(req.harness.clone())?;
    crate::check_blas(&mut h, "running")?;
    let work = tempfile::Builder::new().prefix("mlxport-quality-").tempdir()?;
    let reports = if gate::is_vision(&req.reference)? {
        let mut out = Vec::new();
        for c in &req.candidates {
            out.push(gate::vision_gate(&h, &req.reference, c, &req.vision, work.path(), th.clone())?);
        }
        out
    } else if gate::is_encoder(&req.reference)? {
        let mut out = Vec::new();
        for c in &req.candidates {
            out.push(gate::encoder_gate(&h, &req.reference, c, &req.encoder, work.path(), th.clone())?);
        }
        out
    } else {
        let mt = gate::model_type(&req.reference)?;
        if req.lm.package.is_none() && gate::SEQ2SEQ_TYPES.contains(&mt.as_str()) {
            bail!(
                "{}: a {mt} encoder-decoder, which mlx-lm does not run: give --package with the package `mlxport scaffold` made for it",
                req.reference.display()
            );
        }
        gate::lm_gate_many(&h, &req.reference, &req.candidates, &req.lm, work.path(), th)?
    };
    drop(work);
    Ok(reports)
}
