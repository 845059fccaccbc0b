//! The conversion manifest (`mlxport-conversion.json`) and the model card
//! stub written beside converted weights.

use std::path::Path;

use serde::Serialize;

pub use crate::writer::FileRecord;
use crate::{Error, Result};
use mlxport_util::hash::sha256_hex;

/// File name of the manifest in a converted directory.
pub const MANIFEST_FILE: &str = "mlxport-conversion.json";
/// Schema id of the manifest.
pub const SCHEMA: &str = "mlxport.conversion/v1";

/// What a conversion read and wrote, and how.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub schema: &'static str,
    /// `mlxport <version>`.
    pub tool: String,
    /// The command line (the output directory given by its name only).
    pub command: Vec<String>,
    pub map: MapRecord,
    pub source: SourceRecord,
    pub target: TargetRecord,
    /// Changes made to config.json on the way.
    pub config_changes: Vec<String>,
    /// Every input file read, relative to the source path.
    pub inputs: Vec<FileRecord>,
    /// Every output file, relative to the output directory (except this
    /// manifest).
    pub outputs: Vec<FileRecord>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MapRecord {
    /// SHA-256 of the map's canonical JSON text.
    pub sha256: String,
    pub schema: String,
    pub rules: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct SourceRecord {
    /// The source's file or directory name.
    pub name: String,
    pub format: String,
    pub tensors: usize,
    pub categorized: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct TargetRecord {
    pub layout: String,
    pub dtype: String,
    pub stage: String,
    pub tensors: usize,
    pub parameters: u64,
    pub total_size: u64,
}

/// SHA-256 and size of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let d = mlxport_util::hash::sha256_file(path).map_err(|e| Error::io(path, "read", e))?;
    Ok((d.bytes, d.sha256))
}

/// A record for bytes held in memory.
pub fn record_bytes(name: &str, bytes: &[u8]) -> FileRecord {
    FileRecord { path: name.into(), size: bytes.len() as u64, sha256: sha256_hex(bytes) }
}

/// The README card stub: front matter mlx-lm and the Hub understand, and
/// where the weights came from.
pub fn model_card(source_name: &str, license: Option<&str>, base_model: Option<&str>, manifest: &Manifest) -> String {
    let mut s = String::from("---\n");
    if let Some(l) = license {
        s.push_str(&format!("license: {l}\n"));
    }
    s.push_str("library_name: mlx\n");
    if let Some(b) = base_model {
        s.push_str(&format!("base_model: {b}\n"));
    }
    s.push_str("tags:\n- mlx\n- mlxport\n---\n\n");
    s.push_str(&format!("# {source_name} (MLX)\n\n"));
    s.push_str(&format!(
        "Converted from `{source_name}` ({}) with {} to the {} layout, dtype {}.\n\n",
        manifest.source.format, manifest.tool, manifest.target.layout, manifest.target.dtype
    ));
    s.push_str(&format!(
        "- tensors: {}, parameters: {}, weights: {} bytes\n- weight map SHA-256: `{}`\n- every input and output file with its SHA-256: `{MANIFEST_FILE}`\n\n",
        manifest.target.tensors, manifest.target.parameters, manifest.target.total_size, manifest.map.sha256
    ));
    if manifest.target.layout == "mlx-lm" {
        s.push_str("```python\nfrom mlx_lm import load, generate\n\nmodel, tokenizer = load(\"path/to/this/directory\")\nprint(generate(model, tokenizer, prompt=\"hello\"))\n```\n");
    }
    s
}

/// `license:` from a model card's YAML front matter, if any.
pub fn card_license(card: &str) -> Option<String> {
    let body = card.strip_prefix("---")?;
    let end = body.find("\n---")?;
    body[..end].lines().find_map(|l| l.strip_prefix("license:").map(|v| v.trim().trim_matches('"').to_string())).filter(|v| !v.is_empty())
}
