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

/// What checking a map against its target implementation found, besides
/// the issues it adds to the validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImplementationCheck {
    /// The target's parameters were compared with the map's output.
    Checked,
    /// Not checked, and why (no config to build the model from, a model
    /// the scaffold templates refuse: the scaffold step says which part).
    NotChecked(String),
}

/// Check a map against the parameters of the implementation that will load
/// its output: the target's model is built from the config the conversion
/// would write (mlx-lm's own class for `mlx-lm`, the generated package for
/// `scaffold`), handed the map's planned weights as lazy zeros (nothing is
/// converted or loaded), and its parameters are compared with the tensors
/// its loader would pass on after its own renames (`sanitize`). Missing and
/// unexpected names, shape differences, and a model the target cannot
/// build become errors in `v` (codes `missing_parameter`,
/// `unexpected_weight`, `parameter_shape`, `target_build`).
pub fn check_implementation(
    v: &mut Validation,
    map: &WeightMap,
    source: &Path,
    src: &dyn TensorSource,
    harness: &mlxport_harness::Harness,
    inspection: &serde_json::Value,
) -> Result<ImplementationCheck> {
    use mlxport_harness::jobs::Target;

    let implementation = map.target.layout.clone();
    let Some(config) = mlxport_convert::convert::target_config(source, src, map, &v.plan)? else {
        return Ok(ImplementationCheck::NotChecked("the source has no config.json to build the target's model from".into()));
    };
    let tmp = tempfile::tempdir()?;
    let weights = tmp.path().join("weights");
    std::fs::create_dir_all(&weights)?;
    std::fs::write(weights.join("config.json"), mlxport_convert::config::to_python_json(&config, 4))?;
    // A placeholder the loaders find; the probe serves the planned weights
    // in its place.
    let mut placeholder = 2u64.to_le_bytes().to_vec();
    placeholder.extend_from_slice(b"{}");
    std::fs::write(weights.join("model.safetensors"), placeholder)?;
    let planned: serde_json::Map<String, serde_json::Value> =
        v.plan.targets().iter().map(|t| (t.name.clone(), serde_json::json!([t.shape, mlx_dtype(t.dtype)]))).collect();
    let planned_path = tmp.path().join("planned.json");
    std::fs::write(&planned_path, serde_json::to_vec(&planned)?)?;
    let target = match implementation.as_str() {
        "mlx-lm" => Target::MlxLm { model: weights.clone() },
        "mlx-vlm" => Target::MlxVlm { model: weights.clone() },
        _ => {
            let plan = match mlxport_harness::scaffold::plan(inspection, "mlxport_target_check", concat!("mlxport ", env!("CARGO_PKG_VERSION"))) {
                Ok(p) => p,
                Err(e @ mlxport_harness::Error::Unsupported(_)) => return Ok(ImplementationCheck::NotChecked(e.to_string())),
                Err(e) => return Err(e.into()),
            };
            let package = tmp.path().join("mlxport_target_check");
            mlxport_harness::scaffold::write(&plan, &package)?;
            Target::Package { package, weights: weights.clone() }
        }
    };
    let probe = harness.probe_planned(source, &target, Some(&planned_path))?;
    let shapes = |v: &serde_json::Value| -> std::collections::BTreeMap<String, Vec<u64>> {
        v.as_object()
            .map(|o| o.iter().map(|(k, x)| (k.clone(), x[0].as_array().map(|a| a.iter().filter_map(|d| d.as_u64()).collect()).unwrap_or_default())).collect())
            .unwrap_or_default()
    };
    let t = mlxport_convert::plan::TargetParameters {
        implementation: implementation.clone(),
        parameters: shapes(&probe["weights"]["parameters"]),
        loaded: shapes(&probe["weights"]["loaded"]),
        error: probe["target_error"].as_str().map(str::to_string),
    };
    mlxport_convert::plan::check_parameters(&mut v.plan, &t);
    let dtype = v.report.summary.dtype.clone();
    v.report = mlxport_convert::report::report(map, &v.plan, v.report.summary.target_checked, &dtype);
    v.report.summary.implementation_checked = Some(implementation);
    Ok(ImplementationCheck::Checked)
}

/// The MLX name of a dtype (`mx.float32`, ...).
fn mlx_dtype(d: mlxport_tensor::DType) -> &'static str {
    use mlxport_tensor::DType as D;
    match d {
        D::Bool => "bool_",
        D::U8 => "uint8",
        D::I8 => "int8",
        D::U16 => "uint16",
        D::I16 => "int16",
        D::U32 => "uint32",
        D::I32 => "int32",
        D::U64 => "uint64",
        D::I64 => "int64",
        D::F16 => "float16",
        D::BF16 => "bfloat16",
        D::F64 => "float64",
        D::C64 => "complex64",
        _ => "float32",
    }
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
