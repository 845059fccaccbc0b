//! The WEIGHT_MAP format (`mlxport.weight_map/v1`): how every source tensor
//! becomes target tensors. Documented in `docs/weight-map.md`.
//!
//! A map is a list of [`Rule`]s (source pattern(s) -> target pattern(s)
//! through an ordered list of [`Transform`]s), [`Tie`]s (a target tensor
//! written as a copy of another), [`Unmapped`] entries (source tensors the
//! conversion deliberately does not carry, each with a category and a
//! reason) and `unresolved` names a drafter could not decide. Patterns use
//! `{name}` placeholders that stand for a decimal index (`{i}` for layers,
//! `{e}` for experts); see [`crate::pattern`].

use std::path::Path;

use mlxport_util::hash::sha256_hex;
use serde::{Deserialize, Serialize};

use crate::transform::{parse_dtype, Meta, Transform};
use crate::{Error, Result};

/// The schema id every map carries.
pub const SCHEMA: &str = "mlxport.weight_map/v1";

/// A weight map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightMap {
    pub schema: String,
    /// What the map was drafted from.
    #[serde(default)]
    pub source: SourceDesc,
    /// What it converts to.
    #[serde(default)]
    pub target: TargetDesc,
    /// The default dtype of converted floating tensors: `keep` (the source
    /// dtype; dequantized GGUF blocks become F32) or a dtype name
    /// (`BF16`, `F16`, `F32`). `convert --dtype` overrides it.
    #[serde(default = "default_dtype")]
    pub dtype: String,
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ties: Vec<Tie>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped: Vec<Unmapped>,
    /// Source tensors the drafter could not map; a map with any is not
    /// ready for conversion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<Unresolved>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn default_dtype() -> String {
    "keep".into()
}

/// Where a map came from (informational; validation re-reads the source).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDesc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gguf_architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensors: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
}

/// The layout a map produces.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetDesc {
    /// `mlx-lm` (names and layout mlx-lm loads) or `scaffold` (Hugging
    /// Face names, MLX layouts; what `mlxport scaffold` generates against).
    #[serde(default)]
    pub layout: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
}

/// One or more strings; a single string is accepted for one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
    pub fn from_vec(mut v: Vec<String>) -> Self {
        if v.len() == 1 {
            OneOrMany::One(v.remove(0))
        } else {
            OneOrMany::Many(v)
        }
    }
}

/// A shape as declared in a map: `null` entries mean "not declared".
pub type Shape = Vec<u64>;

/// Source pattern(s) -> target pattern(s) through transforms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Source name patterns. A placeholder that appears in a source pattern
    /// but in no target pattern is *gathered*: every index 0..n-1 found
    /// becomes one input, in index order (MoE experts to stack).
    pub source: OneOrMany,
    /// Target name patterns; several when the transforms end in a split.
    pub target: OneOrMany,
    /// Declared shape of each source input (one per source pattern; a
    /// gathered pattern's shape is that of each element). Checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_shapes: Option<Vec<Option<Shape>>>,
    /// Declared shape of each target. Checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_shapes: Option<Vec<Option<Shape>>>,
    /// Declared source dtype (safetensors spelling; `Q4_1` etc. for GGUF
    /// blocks). Checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_dtype: Option<String>,
    /// A pinned target dtype, which `--dtype` does not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_dtype: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A target tensor written as a copy of another target tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tie {
    /// The tensor to write (may contain placeholders bound by `from`).
    pub target: String,
    /// The target tensor it copies.
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a source tensor is not converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Deliberately left out (a training-only buffer, a head the target
    /// does not use).
    Ignored,
    /// Recomputed by the target at load or run time (rotary `inv_freq`,
    /// `position_ids`).
    Generated,
    /// Equal to another source tensor that is mapped (a tied `lm_head`).
    Shared,
    /// The conversion cannot carry it; converting refuses the map.
    Unsupported,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Ignored => "ignored",
            Category::Generated => "generated",
            Category::Shared => "shared",
            Category::Unsupported => "unsupported",
        }
    }
}

/// A source tensor (or pattern) that is deliberately not converted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unmapped {
    pub source: String,
    pub category: Category,
    pub reason: String,
    /// For `shared`: the source tensor it equals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_with: Option<String>,
}

/// A source tensor a drafter could not map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unresolved {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    pub reason: String,
}

impl WeightMap {
    /// An empty map.
    pub fn new(layout: &str) -> Self {
        WeightMap {
            schema: SCHEMA.into(),
            source: SourceDesc::default(),
            target: TargetDesc { layout: layout.into(), model_type: None },
            dtype: default_dtype(),
            rules: Vec::new(),
            ties: Vec::new(),
            unmapped: Vec::new(),
            unresolved: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Parse a map from JSON text, checking the schema id.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let map: WeightMap = serde_json::from_str(text).map_err(|e| Error::map(path, format!("not a valid weight map: {e}")))?;
        if map.schema != SCHEMA {
            return Err(Error::map(path, format!("schema is '{}', this tool reads '{SCHEMA}'", map.schema)));
        }
        Ok(map)
    }

    /// Read a map file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "read", e))?;
        Self::from_json(&text, path)
    }

    /// The canonical JSON text: 2-space indent, values that fit in 100
    /// columns on one line, final newline.
    pub fn to_json(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or_default();
        let mut s = crate::config::to_readable_json(&v, 2, 100);
        s.push('\n');
        s
    }

    /// SHA-256 of the canonical JSON text: what a conversion manifest
    /// records, so a map edited only in whitespace keeps its hash.
    pub fn hash(&self) -> String {
        sha256_hex(self.to_json().as_bytes())
    }

    /// The inverse map: targets become sources, transforms are inverted in
    /// reverse order. Fails naming the first transform that loses
    /// information (a slice, a narrowing cast) or a tie.
    pub fn invert(&self) -> Result<WeightMap> {
        let mut inv = self.clone();
        inv.rules.clear();
        inv.ties.clear();
        inv.unmapped.clear();
        inv.unresolved.clear();
        inv.notes = vec![format!("inverse of a map with {} rules", self.rules.len())];
        inv.source = SourceDesc::default();
        for (i, r) in self.rules.iter().enumerate() {
            // Inverting a reshape, concat or cast needs what came before it:
            // walk the declared source shapes and dtype forward.
            let shapes: Option<Vec<Vec<u64>>> = r.source_shapes.as_ref().and_then(|v| v.iter().cloned().collect());
            let dtype = r.source_dtype.as_deref().and_then(parse_dtype);
            let mut cur: Option<Vec<Meta>> = shapes.map(|v| v.into_iter().map(|shape| Meta { shape, dtype }).collect());
            let mut before: Vec<Option<Vec<Meta>>> = Vec::new();
            for t in &r.transforms {
                before.push(cur.clone());
                cur = cur.and_then(|m| t.infer(&m).ok());
            }
            let mut transforms = Vec::new();
            for (t, b) in r.transforms.iter().zip(before).rev() {
                let shapes: Option<Vec<Vec<u64>>> = b.as_ref().map(|m| m.iter().map(|m| m.shape.clone()).collect());
                let dt = b.as_ref().and_then(|m| m.first()).and_then(|m| m.dtype).or(dtype);
                let inv_t = t
                    .inverse(shapes.as_deref(), dt)
                    .map_err(|why| Error::map(Path::new("<map>"), format!("rule {i} ({}) is not invertible: {why}", r.source.to_vec().join(", "))))?;
                transforms.extend(inv_t);
            }
            inv.rules.push(Rule {
                source: r.target.clone(),
                target: r.source.clone(),
                source_shapes: r.target_shapes.clone(),
                target_shapes: r.source_shapes.clone(),
                source_dtype: r.target_dtype.clone(),
                target_dtype: r.source_dtype.clone(),
                transforms,
                note: None,
            });
        }
        // A tie's copy is dropped on the way back: it equals its origin.
        for t in &self.ties {
            inv.unmapped.push(Unmapped {
                source: t.target.clone(),
                category: Category::Shared,
                reason: "a copy written by a tie in the forward map".into(),
                shared_with: Some(t.from.clone()),
            });
        }
        if !self.unmapped.is_empty() {
            inv.notes.push(format!("{} source tensors the forward map leaves out are not restored", self.unmapped.len()));
        }
        Ok(inv)
    }
}
