//! The parity report (`"schema": "mlxport.parity/v1"`, `parity/parity.json`):
//! the whole ladder of a port — the configuration each side reads, the
//! weights the MLX side loads, the tensor ladder and cached decoding —
//! with the tensor comparison it ran. Defined once: the parity pipeline
//! writes it, the package and the report read it back with these types,
//! and a report read back re-serialises to the same bytes.
//!
//! `parity/parity.json` may also hold a plain comparison report
//! (`mlxport.compare/v1`, from `mlxport compare --json`); [`ParityFile`]
//! reads either.

use std::collections::BTreeMap;
use std::path::Path;

use mlxport_contract::document::{self, DocumentError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compare::{PairReport, Status};
use crate::render;
use crate::report::{FirstDivergence, LadderReport, Report, RungStatus, Summary};

/// Version of the parity report.
pub const SCHEMA: &str = "mlxport.parity/v1";

/// File names written into the output directory.
pub const ORACLE_FILE: &str = "oracle.npz";
pub const CAPTURE_FILE: &str = "capture.npz";
pub const REPORT_JSON: &str = "parity.json";
pub const REPORT_MD: &str = "parity.md";
pub const REPORT_SVG: &str = "parity.svg";

/// How a configuration value compares across the two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigStatus {
    Same,
    Differs,
    /// The target does not read it.
    SourceOnly,
    TargetOnly,
}

impl ConfigStatus {
    /// The string the report writes.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConfigStatus::Same => "same",
            ConfigStatus::Differs => "differs",
            ConfigStatus::SourceOnly => "source_only",
            ConfigStatus::TargetOnly => "target_only",
        }
    }
}

impl std::fmt::Display for ConfigStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One configuration value as each side reads it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigField {
    pub key: String,
    pub source: Value,
    pub target: Value,
    /// `same`, `differs`, `source_only` (the target does not read it) or
    /// `target_only`.
    pub status: ConfigStatus,
}

/// The weights rung: what the MLX side's model has and what its loader
/// gives it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WeightCheck {
    pub parameters: usize,
    pub loaded: usize,
    /// Parameters of the model the loader gives no tensor for.
    pub missing: Vec<String>,
    /// Tensors the loader gives that the model has no parameter for.
    pub unexpected: Vec<String>,
    /// Tensors in the weight files that never reach the model.
    pub unused: Vec<String>,
    pub shape_mismatches: Vec<String>,
    pub dtype_mismatches: Vec<String>,
    /// Float dtypes of the weight files, with tensor counts.
    pub dtypes: BTreeMap<String, usize>,
}

/// Which MLX implementation the ladder ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetKind {
    /// A scaffolded package with its weights.
    #[serde(rename = "package")]
    Package,
    /// mlx-lm's own implementation of a model directory.
    #[serde(rename = "mlx-lm")]
    MlxLm,
    /// mlx-vlm's own implementation of a vision-language model directory.
    #[serde(rename = "mlx-vlm")]
    MlxVlm,
}

impl TargetKind {
    /// The string the report writes.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetKind::Package => "package",
            TargetKind::MlxLm => "mlx-lm",
            TargetKind::MlxVlm => "mlx-vlm",
        }
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `package` or `mlx-lm`.
    pub kind: TargetKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    pub weights: String,
}

/// The whole run (`"schema": "mlxport.parity/v1"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ParityReport {
    pub schema: String,
    pub status: Status,
    pub source: String,
    pub target: TargetInfo,
    pub first_divergence: Option<FirstDivergence>,
    /// Every rung in order: config, weights, then the tensor ladder and
    /// cached decoding against full recomputation.
    pub ladder: LadderReport,
    pub config: Vec<ConfigField>,
    pub weights: WeightCheck,
    /// The tensor comparison (`mlxport.compare/v1`), when it ran.
    pub compare: Option<Report>,
    pub oracle: Option<String>,
    pub capture: Option<String>,
    pub blas: String,
    pub notes: Vec<String>,
}

impl ParityReport {
    /// Parse a report; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ParityReport, DocumentError> {
        document::parse(text, path, &[SCHEMA])
    }

    /// Read a report.
    pub fn read(path: &Path) -> Result<ParityReport, DocumentError> {
        document::read(path, &[SCHEMA])
    }

    /// The report as written: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a parity report serialises") + "\n"
    }

    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }
}

impl WeightCheck {
    /// What the weights rung found wrong, one line each.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let list = |v: &[String]| {
            let more = if v.len() > 5 { format!(" (+{} more)", v.len() - 5) } else { String::new() };
            format!("{}{more}", v.iter().take(5).cloned().collect::<Vec<_>>().join(", "))
        };
        if !self.missing.is_empty() {
            out.push(format!("{} parameters of the model have no weight: {}", self.missing.len(), list(&self.missing)));
        }
        if !self.unexpected.is_empty() {
            out.push(format!("{} weights match no parameter of the model: {}", self.unexpected.len(), list(&self.unexpected)));
        }
        if !self.unused.is_empty() {
            out.push(format!("{} tensors in the weight files are never loaded: {}", self.unused.len(), list(&self.unused)));
        }
        out.extend(self.shape_mismatches.iter().take(10).cloned());
        out.extend(self.dtype_mismatches.iter().take(10).cloned());
        out
    }
}

/// The Markdown report: the verdict, the config and weights rungs, then
/// the ladder as `mlxport compare` renders it.
pub fn markdown_of(r: &ParityReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "# Parity: {}\n", if r.status == Status::Pass { "PASS" } else { "FAIL" });
    let _ = writeln!(s, "- source: `{}`", r.source);
    let _ =
        writeln!(s, "- target: {} `{}`{}", r.target.kind, r.target.weights, r.target.package.as_ref().map(|p| format!(" (package `{p}`)")).unwrap_or_default());
    let _ = writeln!(s, "- BLAS: {}", r.blas);
    match &r.first_divergence {
        None => {
            let _ = writeln!(s, "- no divergence: every rung within tolerance");
        }
        Some(f) => {
            let _ = writeln!(s, "- first divergence: rung {} `{}` (hint `{}`)", f.rung, f.name, f.hint);
        }
    }
    let _ = writeln!(
        s,
        "\n![parity ladder]({REPORT_SVG})\n\n## Rungs\n\n| # | rung | status | max abs | max rel | cosine | failures |\n|---|---|---|---|---|---|---|"
    );
    for x in &r.ladder.rungs {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            x.index,
            x.name,
            x.status,
            render::num(x.max_abs),
            render::num(x.max_rel),
            render::cos(x.cosine),
            x.failures.len()
        );
    }
    for x in r.ladder.rungs.iter().filter(|x| x.status == RungStatus::Fail) {
        let _ = writeln!(s, "\n### {} — failed\n", x.name);
        for f in x.failures.iter().take(10) {
            let _ = writeln!(s, "- {f}");
        }
        if let Some(h) = &x.hint {
            let _ = writeln!(s, "\nHint `{}`: {}\n", h.id, h.title);
            for c in &h.causes {
                let _ = writeln!(s, "- {c}");
            }
            for sy in &h.symptoms {
                let _ = writeln!(s, "- [{}] {}", sy.id, sy.title);
            }
        }
    }
    let _ = writeln!(s, "\n## Configuration as each side reads it\n\n| key | source | target | status |\n|---|---|---|---|");
    for f in &r.config {
        let _ = writeln!(s, "| {} | {} | {} | {} |", f.key, f.source, f.target, f.status);
    }
    let w = &r.weights;
    let _ = writeln!(
        s,
        "\n## Weights\n\n{} parameters, {} tensors loaded; missing {}, unexpected {}, unused {}, shape mismatches {}, dtype mismatches {}; dtypes {:?}",
        w.parameters,
        w.loaded,
        w.missing.len(),
        w.unexpected.len(),
        w.unused.len(),
        w.shape_mismatches.len(),
        w.dtype_mismatches.len(),
        w.dtypes
    );
    for n in &r.notes {
        let _ = writeln!(s, "\nNote: {n}");
    }
    if let Some(c) = &r.compare {
        let _ = writeln!(s, "\n## Tensor comparison\n");
        s.push_str(&render::markdown(c, None));
    }
    s
}

/// What `parity/parity.json` holds: the parity pipeline's report, or the
/// tensor comparison `mlxport compare --json` writes.
#[derive(Clone, Debug)]
pub enum ParityFile {
    /// `mlxport.parity/v1`.
    Parity(Box<ParityReport>),
    /// `mlxport.compare/v1`.
    Compare(Box<Report>),
}

impl ParityFile {
    /// Parse either document by its schema; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ParityFile, DocumentError> {
        let found = document::schema_of(text, path, &format!("{SCHEMA} or {}", crate::report::SCHEMA))?;
        if found.as_deref() == Some(crate::report::SCHEMA) {
            document::parse(text, path, &[crate::report::SCHEMA]).map(|r| ParityFile::Compare(Box::new(r)))
        } else {
            document::parse(text, path, &[SCHEMA, crate::report::SCHEMA]).map(|r| ParityFile::Parity(Box::new(r)))
        }
    }

    /// Read either document.
    pub fn read(path: &Path) -> Result<ParityFile, DocumentError> {
        let text = std::fs::read_to_string(path).map_err(|source| DocumentError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    pub fn status(&self) -> Status {
        match self {
            ParityFile::Parity(p) => p.status,
            ParityFile::Compare(c) => c.status,
        }
    }

    /// The ladder, when one was climbed.
    pub fn ladder(&self) -> Option<&LadderReport> {
        match self {
            ParityFile::Parity(p) => Some(&p.ladder),
            ParityFile::Compare(c) => c.ladder.as_ref(),
        }
    }

    /// The tensor comparison, when it ran.
    pub fn compare(&self) -> Option<&Report> {
        match self {
            ParityFile::Parity(p) => p.compare.as_ref(),
            ParityFile::Compare(c) => Some(c),
        }
    }

    /// The compared pairs' counts.
    pub fn summary(&self) -> Option<&Summary> {
        self.compare().map(|c| &c.summary)
    }

    /// Every compared pair.
    pub fn pairs(&self) -> &[PairReport] {
        self.compare().map(|c| c.pairs.as_slice()).unwrap_or_default()
    }

    pub fn first_divergence(&self) -> Option<&FirstDivergence> {
        self.ladder().and_then(|l| l.first_divergence.as_ref())
    }
}
