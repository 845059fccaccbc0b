//! Findings: blockers (a port cannot proceed until fixed), warnings and
//! notes, each with the evidence and a remediation a user can act on.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Blocker,
    Warning,
    Info,
}

/// One finding.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Finding {
    /// Stable identifier (`remote-code`, `executable-pickle`, ...).
    pub id: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

impl Finding {
    pub fn new(id: &str, severity: Severity, path: Option<&str>, message: impl Into<String>, remediation: Option<&str>) -> Self {
        Finding { id: id.into(), severity, path: path.map(str::to_string), message: message.into(), remediation: remediation.map(str::to_string) }
    }
}

/// Files that run code when a model is installed or set up.
pub fn is_install_hook(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    matches!(name, "setup.py" | "setup.cfg" | "pyproject.toml" | "environment.yml" | "environment.yaml" | "conda.yaml" | "Pipfile" | "install.sh" | "Makefile")
        || (name.starts_with("requirements") && name.ends_with(".txt"))
}

/// Python source files.
pub fn is_python_code(rel: &str) -> bool {
    rel.ends_with(".py") || rel.ends_with(".pyc") || rel.ends_with(".pyw")
}

/// Extensions under which pickles travel (files are also sniffed).
pub fn pickle_extension(rel: &str) -> bool {
    [".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".dill", ".pck", ".data"].iter().any(|e| rel.ends_with(e))
}

/// Whether the first bytes look like a pickle stream (PROTO 2..5) or a zip.
pub fn sniff_pickle_or_zip(head: &[u8]) -> bool {
    matches!(head, [0x80, 2..=5, ..]) || head.starts_with(b"PK\x03\x04")
}

pub const REMEDIATION_REMOTE_CODE: &str = "the model needs `trust_remote_code`; mlxport never runs a model's own code. Use a checkpoint of a transformers-native architecture with the same weights, or review the custom code yourself and port it by hand";
pub const REMEDIATION_EXEC_PICKLE: &str = "do not load this file. Get the weights as safetensors from a trusted source, or ask the publisher to re-export them; the pickle would run the named globals when loaded";
pub const REMEDIATION_UNKNOWN_PICKLE: &str =
    "the pickle references globals outside the tensor allowlist and cannot be loaded safely; obtain safetensors weights";
