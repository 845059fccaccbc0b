//! The Python steps of `mlxport quality`: logits of two language models on
//! a held-out text plus their greedy continuations, sentence embeddings of
//! two encoders, or two image models' features and class logits. The metrics themselves are computed in Rust
//! (`mlxport-quality`) from the files these steps write.

use std::path::PathBuf;

use crate::error::{Error, Result};

use crate::jobs::{absolute, Harness};

/// A reference and candidate MLX language models (mlx-lm layout) on a
/// text and prompts, all in one process.
#[derive(Clone, Debug)]
pub struct LmRequest {
    pub reference: PathBuf,
    pub candidates: Vec<PathBuf>,
    /// A scaffolded decoder package to run them with (`None`: mlx-lm).
    pub package: Option<PathBuf>,
    /// `float32` (floating parameters cast at load) or `stored`.
    pub compute_dtype: String,
    /// With a package: the candidates' serving options (JSON).
    pub candidate_options: Option<String>,
    pub text: PathBuf,
    pub prompts: PathBuf,
    /// Score at most this many tokens of the text (0: all).
    pub max_tokens: usize,
    pub window: usize,
    pub stride: usize,
    /// Greedy tokens per prompt.
    pub generate: usize,
    /// Directory for `chunk_NNNN.npz`, `greedy.npz`, `quality_lm.json`.
    pub out: PathBuf,
}

/// Two encoders' weights run through one scaffolded package.
#[derive(Clone, Debug)]
pub struct EncoderRequest {
    pub package: PathBuf,
    pub reference: PathBuf,
    pub candidate: PathBuf,
    pub sentences: PathBuf,
    pub queries: PathBuf,
    /// The embeddings npz (a JSON beside it says what ran).
    pub out: PathBuf,
}

/// Two image models' weights run through one scaffolded package on a set
/// of photographs.
#[derive(Clone, Debug)]
pub struct VisionRequest {
    pub package: PathBuf,
    pub reference: PathBuf,
    pub candidate: PathBuf,
    /// Image files or folders (empty: scikit-image's photographs).
    pub images: Vec<PathBuf>,
    /// The features/logits npz (a JSON beside it says what ran).
    pub out: PathBuf,
    /// Greedy tokens per image (vision-language packages; `None`: the
    /// script's default).
    pub generate: Option<u32>,
}

impl Harness {
    /// Run `quality_vision.py` (MLX, BLAS preloaded when available).
    pub fn quality_vision(&self, req: &VisionRequest) -> Result<()> {
        let mut job = self
            .mlx_job("quality_vision.py")
            .arg("--package")
            .arg(absolute(&req.package)?)
            .arg("--reference")
            .arg(absolute(&req.reference)?)
            .arg("--candidate")
            .arg(absolute(&req.candidate)?)
            .arg("--out")
            .arg(absolute(&req.out)?);
        for i in &req.images {
            job = job.arg("--image").arg(absolute(i)?);
        }
        if let Some(n) = req.generate {
            job = job.arg("--generate").arg(n.to_string());
        }
        job.run()?.check("the image features (scaffolded package)")
    }

    /// Run `quality_lm.py` (MLX, BLAS preloaded when available).
    pub fn quality_lm(&self, req: &LmRequest) -> Result<()> {
        std::fs::create_dir_all(&req.out).map_err(|e| Error::io(&req.out, format!("cannot create {}", req.out.display()), e))?;
        let mut job = self.mlx_job("quality_lm.py").arg("--reference").arg(absolute(&req.reference)?);
        for c in &req.candidates {
            job = job.arg("--candidate").arg(absolute(c)?);
        }
        if let Some(p) = &req.package {
            job = job.arg("--package").arg(absolute(p)?);
        }
        if let Some(o) = &req.candidate_options {
            job = job.arg("--candidate-options").arg(o);
        }
        let job = job
            .arg("--compute-dtype")
            .arg(&req.compute_dtype)
            .arg("--text")
            .arg(absolute(&req.text)?)
            .arg("--prompts")
            .arg(absolute(&req.prompts)?)
            .arg("--max-tokens")
            .arg(req.max_tokens.to_string())
            .arg("--window")
            .arg(req.window.to_string())
            .arg("--stride")
            .arg(req.stride.to_string())
            .arg("--generate")
            .arg(req.generate.to_string())
            .arg("--out")
            .arg(absolute(&req.out)?);
        job.run()?.check(if req.package.is_some() { "the language-model logits (scaffolded package)" } else { "the language-model logits (mlx-lm)" })
    }

    /// Run `quality_encoder.py` (MLX, BLAS preloaded when available).
    pub fn quality_encoder(&self, req: &EncoderRequest) -> Result<()> {
        let job = self
            .mlx_job("quality_encoder.py")
            .arg("--package")
            .arg(absolute(&req.package)?)
            .arg("--reference")
            .arg(absolute(&req.reference)?)
            .arg("--candidate")
            .arg(absolute(&req.candidate)?)
            .arg("--sentences")
            .arg(absolute(&req.sentences)?)
            .arg("--queries")
            .arg(absolute(&req.queries)?)
            .arg("--out")
            .arg(absolute(&req.out)?);
        job.run()?.check("the sentence embeddings (scaffolded package)")
    }
}
