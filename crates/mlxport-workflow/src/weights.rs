//! Weight maps, written once: draft a map for a target layout from a
//! source checkpoint, validate it against the source (every tensor mapped
//! or categorized, shapes and dtypes consistent), and convert with it.
//! `mlxport map draft|validate`, the port's `map-draft`, `map-validate`
//! and `convert` steps, the parity matrix and the optimize baseline all go
//! through these functions.

use std::path::Path;

use crate::error::{bail, Result};
use mlxport_convert::convert::{ConvertOptions, Converted};
use mlxport_convert::draft::{Draft, DraftOptions};
use mlxport_convert::plan::{DtypePolicy, Plan, Severity};
use mlxport_convert::report::Report;
use mlxport_convert::WeightMap;
use mlxport_tensor::TensorSource;

/// Draft a weight map from an open source. `family` and `target` as
/// `mlxport map draft` takes them (`None`: from the routing; the target's
/// default layout). A GGUF file carries its own metadata: a config.json
/// beside it is not its config.
pub fn draft_from(src: &dyn TensorSource, path: &Path, family: Option<String>, target: Option<String>) -> Result<Draft> {
    let config = if src.format() == mlxport_tensor::Format::Gguf { None } else { mlxport_convert::draft::config_beside(path)? };
    Ok(mlxport_convert::draft::draft(src, &DraftOptions { family, target, config })?)
}

/// Draft a weight map for `target` (`mlx-lm` or `scaffold`) from the source
/// at `path`.
pub fn draft(path: &Path, target: &str) -> Result<Draft> {
    let src = mlxport_tensor::open(path)?;
    draft_from(src.as_ref(), path, None, Some(target.to_string()))
}

/// A map checked against its source.
pub struct Validation {
    pub plan: Plan,
    pub report: Report,
}

impl Validation {
    /// The plan's errors as `code: message`, at most `n`; unresolved
    /// tensors too when `unresolved` (callers that list them from the map
    /// leave them out).
    pub fn errors(&self, n: usize, unresolved: bool) -> Vec<String> {
        self.plan
            .issues
            .iter()
            .filter(|i| i.severity == Severity::Error && (unresolved || i.code != "unresolved"))
            .take(n)
            .map(|i| format!("{}: {}", i.code, i.message))
            .collect()
    }
}

/// Validate a map against the source's tensors with a dtype policy (`None`:
/// the map's own).
pub fn validate(map: &WeightMap, src: &dyn TensorSource, dtype: Option<DtypePolicy>) -> Validation {
    let plan = mlxport_convert::plan::plan(map, src.tensors(), dtype);
    let name = dtype.map(|d| d.name().to_string()).unwrap_or_else(|| map.dtype.clone());
    let report = mlxport_convert::report::report(map, &plan, false, &name);
    Validation { plan, report }
}

/// Draft a map for `target`, refuse it unless it validates, and convert
/// the source into `out` (replaced if it exists).
pub fn draft_validate_convert(source: &Path, target: &str, out: &Path, opts: &ConvertOptions) -> Result<Converted> {
    let src = mlxport_tensor::open(source)?;
    let d = draft_from(src.as_ref(), source, None, Some(target.to_string()))?;
    let v = validate(&d.map, src.as_ref(), opts.dtype);
    drop(src);
    if !v.report.ok {
        let issues = v.errors(5, true);
        let unresolved: Vec<String> = d.map.unresolved.iter().take(5).map(|u| format!("{} ({})", u.source, u.reason)).collect();
        bail!(
            "the weight map does not validate: {}{}",
            issues.join("; "),
            if unresolved.is_empty() { String::new() } else { format!("; unresolved: {}", unresolved.join(", ")) }
        );
    }
    if std::fs::symlink_metadata(out).is_ok() {
        std::fs::remove_dir_all(out).map_err(|e| crate::error::Error::Io { path: out.to_path_buf(), source: e })?;
    }
    Ok(mlxport_convert::convert::convert(source, &d.map, out, opts)?)
}
