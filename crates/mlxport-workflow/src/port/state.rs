//! The hashing that decides whether a re-run may keep a finished step:
//! artifact digests, the inputs hash of a step, and upstream artifact
//! hashes. The record itself is `mlxport_contract::PortRecord`.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use mlxport_contract::{Artifact, PortRecord, Step};
use mlxport_util::hash::{sha256_file, sha256_hex};

/// Every regular file under `rel` (a file or a directory of PORT_DIR), as
/// artifacts sorted by path.
pub fn artifacts(dir: &Path, rel: &str) -> Result<Vec<Artifact>> {
    let mut files: Vec<PathBuf> = Vec::new();
    let root = dir.join(rel);
    if root.is_dir() {
        collect(&root, &mut files)?;
    } else {
        files.push(root);
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let d = sha256_file(&f).with_context(|| format!("cannot read {}", f.display()))?;
            let path = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().into_owned();
            Ok(Artifact { path, sha256: d.sha256, bytes: d.bytes })
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        let t = e.file_type()?;
        if t.is_dir() {
            // Python's bytecode caches are not part of a package.
            if p.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            collect(&p, out)?;
        } else if t.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// Do the recorded artifacts still hold exactly these bytes?
pub fn artifacts_intact(dir: &Path, recorded: &[Artifact]) -> bool {
    !recorded.is_empty()
        && recorded.iter().all(|a| {
            let p = dir.join(&a.path);
            std::fs::metadata(&p).is_ok_and(|m| m.len() == a.bytes) && sha256_file(&p).is_ok_and(|d| d.sha256 == a.sha256)
        })
}

/// The inputs hash of a step: the tool version, the step's name, and
/// whatever it reads (upstream artifact hashes, options), as canonical JSON.
pub fn inputs_hash(step: Step, inputs: &serde_json::Value) -> String {
    let mut v = serde_json::json!({"tool": env!("CARGO_PKG_VERSION"), "step": step, "inputs": inputs});
    if runs_python(step) {
        v["python"] = python_digest().into();
    }
    sha256_hex(v.to_string().as_bytes())
}

/// The steps whose outputs come from the Python the binary carries.
fn runs_python(step: Step) -> bool {
    use Step::*;
    matches!(step, MapValidate | Oracle | Scaffold | Capture | Parity | Quality | Bench | Optimize | Package)
}

/// SHA-256 of the Python the binary carries (the harness's scripts and the
/// package templates): a port resumed by a build whose scripts differ runs
/// its steps again rather than keeping what the old scripts produced.
fn python_digest() -> &'static str {
    static DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| {
        let mut all = Vec::new();
        for set in mlxport_harness::scripts::ALL {
            for (name, text) in *set {
                all.extend_from_slice(format!("{name}\n{}\n{text}\n", text.len()).as_bytes());
            }
        }
        sha256_hex(&all)
    })
}

/// Artifact hashes of some steps of a record, for a downstream inputs hash.
pub fn upstream(state: &PortRecord, steps: &[Step]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for s in steps {
        let arts: Vec<serde_json::Value> =
            state.step(*s).map(|r| r.artifacts.iter().map(|a| serde_json::json!([a.path, a.sha256])).collect()).unwrap_or_default();
        m.insert(s.as_str().to_string(), serde_json::Value::Array(arts));
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_hash_changes_with_inputs() {
        let a = inputs_hash(Step::Convert, &serde_json::json!({"dtype": "keep"}));
        assert_eq!(a, inputs_hash(Step::Convert, &serde_json::json!({"dtype": "keep"})));
        assert_ne!(a, inputs_hash(Step::Convert, &serde_json::json!({"dtype": "f16"})));
        assert_ne!(a, inputs_hash(Step::MapValidate, &serde_json::json!({"dtype": "keep"})));
        // The hash an earlier release computed for the same step and inputs
        // (its step name was a string): a re-run keeps the step.
        let v = serde_json::json!({"tool": env!("CARGO_PKG_VERSION"), "step": "convert", "inputs": {"dtype": "keep"}});
        assert_eq!(a, sha256_hex(v.to_string().as_bytes()));
        // A step that runs the harness's Python is keyed on its scripts too.
        let o = inputs_hash(Step::Oracle, &serde_json::json!({"dtype": "keep"}));
        let v = serde_json::json!({"tool": env!("CARGO_PKG_VERSION"), "step": "oracle", "inputs": {"dtype": "keep"}});
        assert_ne!(o, sha256_hex(v.to_string().as_bytes()));
        assert_eq!(o, inputs_hash(Step::Oracle, &serde_json::json!({"dtype": "keep"})));
    }
}
