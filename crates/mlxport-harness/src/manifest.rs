//! The result protocol between the harness and its Python steps.
//!
//! A step writes its tensors to one `.npz` and, beside it, a manifest
//! (`NAME.manifest.json` for `NAME.npz`, schema `mlxport.capture/v1`) that
//! records what was run on what: the implementation, the model and its
//! fingerprint, the inputs, the options, the library versions, and every
//! tensor in ladder order with its dtype, shape, rung and the SHA-256 of
//! its little-endian C-order bytes. The harness reads the manifest back and
//! checks it against the npz ([`Manifest::verify`]) before anyone trusts it.
//!
//! Tensor names (the same on the source and the MLX side, so a ladder pairs
//! them by name):
//!
//! | name | shape | what |
//! |---|---|---|
//! | `inputs.input_ids`, `inputs.attention_mask`, `inputs.token_type_ids` | `[B, T]` int32 | the padded batch (right padding; mask 1 on real tokens) |
//! | `embeddings` | `[B, T, H]` | output of the embedding stage (encoders: after the embedding LayerNorm) |
//! | `layers.{i}` | `[B, T, H]` | output of block `i` (0-based) |
//! | `final_norm` | `[B, T, H]` | decoder: the final norm's output |
//! | `logits` | `[B, T, V]` | decoder: LM-head output |
//! | `last_hidden_state` | `[B, T, H]` | encoder: the last block's output |
//! | `pooler_output` | `[B, H]` | encoder with a pooler: tanh(dense(CLS)) |
//! | `pooled` | `[B, H]` | encoder: mean of the real tokens' last hidden states |
//! | `sentence_embedding` | `[B, H]` | encoder: `pooled`, L2-normalized (sentence-transformers) |
//! | `generated.ids` | `[P, N]` int32 | decoder: N greedy new tokens per prompt |
//! | `cache_decode.logits` | `[P, N, V]` | decoder: logits of each greedy step, decoded incrementally with the KV cache |
//! | `full_decode.logits` | `[P, N, V]` | decoder: the same positions, recomputed in one pass without a cache |
//!
//! Per-token tensors are zero at padded positions on both sides, so padding
//! never counts as a difference.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "mlxport.capture/v1";

/// The ladder order of rungs, as tensors are written.
pub const RUNG_ORDER: &[&str] = &[
    "inputs",
    "embeddings",
    "layers",
    "final_norm",
    "logits",
    "last_hidden_state",
    "pooler_output",
    "pooled",
    "sentence_embedding",
    "generated",
    "cache_decode",
    "full_decode",
];

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TensorEntry {
    pub name: String,
    /// numpy dtype name (`float32`, `int32`, ...).
    pub dtype: String,
    pub shape: Vec<u64>,
    /// SHA-256 of the little-endian C-order bytes.
    pub sha256: String,
    /// The ladder rung this tensor belongs to (see [`RUNG_ORDER`]).
    pub rung: String,
    /// For per-token tensors: the mask tensor whose zeros mark padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    /// `oracle` (the source framework) or `capture` (the MLX side).
    pub kind: String,
    /// `transformers`, `mlxport-scaffold` or `mlx-lm`.
    pub implementation: String,
    /// `decoder` or `encoder`.
    pub family: String,
    /// The tensors file, relative to the manifest.
    pub tensors_file: String,
    pub model: serde_json::Value,
    pub inputs: serde_json::Value,
    pub options: serde_json::Value,
    pub libraries: serde_json::Value,
    #[serde(default)]
    pub checks: serde_json::Value,
    pub tensors: Vec<TensorEntry>,
    #[serde(default)]
    pub elapsed_s: f64,
}

/// `x.npz` -> `x.manifest.json`.
pub fn manifest_path(npz: &Path) -> PathBuf {
    let stem = npz.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "capture".into());
    npz.with_file_name(format!("{stem}.manifest.json"))
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, format!("cannot read manifest {}", path.display()), e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| Error::invalid_because(format!("{} is not a valid {SCHEMA} manifest", path.display()), e))?;
        if m.schema != SCHEMA {
            return Err(Error::invalid(format!("{}: schema '{}' is not {SCHEMA}", path.display(), m.schema)));
        }
        Ok(m)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorEntry> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Check the npz holds exactly the manifest's tensors, with the shapes
    /// and SHA-256 digests it records.
    pub fn verify(&self, npz: &Path) -> Result<()> {
        let src = mlxport_tensor::open_file(npz).map_err(|e| Error::invalid_because(format!("cannot read {}", npz.display()), e))?;
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.tensors {
            if !seen.insert(t.name.as_str()) {
                return Err(Error::invalid(format!("{}: manifest lists tensor '{}' twice", npz.display(), t.name)));
            }
            let info =
                src.info(&t.name).map_err(|e| Error::invalid_because(format!("{}: manifest tensor '{}' is not in the file", npz.display(), t.name), e))?;
            if info.shape != t.shape {
                return Err(Error::invalid(format!("{}: tensor '{}' has shape {:?}, manifest says {:?}", npz.display(), t.name, info.shape, t.shape)));
            }
            let raw = src.raw(&t.name)?;
            let digest = mlxport_util::hash::sha256_hex(&raw);
            if digest != t.sha256 {
                return Err(Error::invalid(format!("{}: tensor '{}' SHA-256 {} differs from the manifest's {}", npz.display(), t.name, digest, t.sha256)));
            }
        }
        for info in src.tensors() {
            if !seen.contains(info.name.as_str()) {
                return Err(Error::invalid(format!("{}: tensor '{}' is not in the manifest", npz.display(), info.name)));
            }
        }
        Ok(())
    }

    /// Names in ladder order.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.iter().map(|t| t.name.as_str()).collect()
    }
}
