//! The part of an inspection report (`mlxport.inspection/v1`, written by
//! `mlxport inspect`) that planning and recommendation read.
//!
//! Reading is lenient about fields this crate does not use and strict about
//! the schema: a report of another schema, or one that is not JSON, is
//! refused with the reason.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// The inspection schema this crate reads.
pub const INSPECTION_SCHEMA: &str = mlxport_intake::inspect::SCHEMA;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ModelView {
    pub name: String,
    pub kind: String,
    pub fingerprint: String,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReferencesView {
    pub mlx_lm: Option<String>,
    pub mlx_vlm: Option<String>,
    pub mlx_audio: Option<String>,
    pub closest: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RoutingView {
    pub family: Option<String>,
    pub secondary: Vec<String>,
    pub profile: Option<String>,
    pub confidence: String,
    pub ambiguous: bool,
    pub conflicts: Vec<String>,
    pub traits: Vec<String>,
    pub runbook: Option<String>,
    pub references: ReferencesView,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FactsView {
    pub model_type: Option<String>,
    pub architectures: Vec<String>,
    pub text_model_type: Option<String>,
    pub torch_dtype: Option<String>,
    pub tie_word_embeddings: Option<bool>,
    pub num_hidden_layers: Option<u64>,
    pub hidden_size: Option<u64>,
    pub num_attention_heads: Option<u64>,
    pub num_key_value_heads: Option<u64>,
    pub head_dim: Option<u64>,
    pub vocab_size: Option<u64>,
    pub max_position_embeddings: Option<u64>,
    pub sliding_window: Option<u64>,
    pub num_experts: Option<u64>,
    pub num_experts_per_tok: Option<u64>,
    pub is_encoder_decoder: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WeightFileView {
    pub path: String,
    pub format: String,
    pub primary: bool,
    pub tensors: u64,
    pub parameters: u64,
    pub bytes: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TyingView {
    pub tie_word_embeddings: Option<bool>,
    pub lm_head_missing: bool,
    pub embedding: Option<String>,
    pub tied: bool,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TensorsView {
    pub files: Vec<WeightFileView>,
    pub tensors: u64,
    pub parameters: u64,
    pub bytes: u64,
    pub bytes_by_dtype: BTreeMap<String, u64>,
    pub tying: TyingView,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QuantizationView {
    pub scheme: String,
    pub bits: Option<u64>,
    pub group_size: Option<u64>,
    pub mode: Option<String>,
    pub types: BTreeMap<String, u64>,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LicenseView {
    pub spdx: Option<String>,
    pub name: Option<String>,
    pub class: String,
    pub redistribution: String,
    pub reason: String,
    pub requires_acceptance: bool,
    pub conditions: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WeightSizeView {
    pub precision: String,
    pub bits_per_weight: f64,
    pub bytes: u64,
    pub fits: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KvCacheView {
    pub bytes_per_token: u64,
    pub formula: String,
    pub context: u64,
    pub bytes_for_context: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SizeView {
    pub parameters: u64,
    pub quantizable_parameters: u64,
    pub weights: Vec<WeightSizeView>,
    pub kv_cache: Option<KvCacheView>,
    pub target_memory_bytes: Option<u64>,
    pub usable_bytes: Option<u64>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConfigView {
    pub path: String,
    pub kind: String,
    pub value: Option<Value>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileView {
    pub path: String,
    pub size: u64,
    pub kind: String,
    pub role: String,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct FindingView {
    pub id: String,
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

/// An inspection report, as far as planning needs it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InspectionView {
    pub schema: String,
    pub tool: String,
    pub model: ModelView,
    pub routing: RoutingView,
    pub facts: FactsView,
    pub tensors: TensorsView,
    pub quantization: Option<QuantizationView>,
    pub license: LicenseView,
    pub size: SizeView,
    pub configs: Vec<ConfigView>,
    pub files: Vec<FileView>,
    pub blockers: Vec<FindingView>,
    pub warnings: Vec<FindingView>,
    pub notes: Vec<FindingView>,
    pub complete: bool,
}

impl InspectionView {
    /// Parse report text; `origin` names it in errors
    /// ([`Error::NotInspection`](crate::Error::NotInspection)).
    pub fn parse(text: &str, origin: &str) -> crate::Result<InspectionView> {
        let invalid = |message: String| crate::Error::NotInspection { path: origin.to_string(), message };
        let v: InspectionView = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if v.schema != INSPECTION_SCHEMA {
            return Err(invalid(format!("schema is '{}', expected '{INSPECTION_SCHEMA}' (re-run mlxport inspect)", v.schema)));
        }
        if v.model.fingerprint.is_empty() {
            return Err(invalid("model.fingerprint is missing".into()));
        }
        Ok(v)
    }

    /// Read a report file.
    pub fn read(path: &Path) -> crate::Result<InspectionView> {
        let text = std::fs::read_to_string(path).map_err(|source| crate::Error::io(path, "cannot read", source))?;
        InspectionView::parse(&text, &path.display().to_string())
    }

    /// From an in-memory inspection (no file round trip).
    pub fn from_inspection(i: &mlxport_intake::Inspection) -> InspectionView {
        let text = serde_json::to_string(i).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_default()
    }

    pub fn has_trait(&self, t: &str) -> bool {
        self.routing.traits.iter().any(|x| x == t)
    }

    /// Bytes of the weights at a precision (`f32`, `bf16`, `q8`, `q6`, `q4`).
    pub fn weight_bytes(&self, precision: &str) -> Option<u64> {
        self.size.weights.iter().find(|w| w.precision == precision).map(|w| w.bytes)
    }

    /// The parsed value of a top-level config file of a kind.
    pub fn config(&self, kind: &str) -> Option<&ConfigView> {
        self.configs.iter().find(|c| c.kind == kind && !c.path.contains('/'))
    }
}
