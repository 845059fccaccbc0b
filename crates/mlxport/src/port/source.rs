//! What `mlxport port` ports: a model path as given, or a built-in example
//! from the project's Python environment (all-MiniLM-L6-v2, or SmolLM2-135M
//! in Hugging Face form built once from its GGUF package).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use mlxport_harness::runner::Job;

use crate::env::PythonEnv;

/// `python/fixtures.py`, embedded so an installed binary can build the
/// SmolLM2 example without the source tree.
const FIXTURES_PY: &str = include_str!("../../../../python/fixtures.py");

/// The model to port.
pub struct ModelSource {
    /// The path every step reads.
    pub path: PathBuf,
    /// As recorded in port.json (`example:minilm`, or the path as given).
    pub label: String,
    /// A short name: the default PORT_DIR (`port-out/NAME`) and package name.
    pub name: String,
}

pub fn resolve(model: Option<&Path>, example: Option<&str>, show_paths: bool, verbose: bool) -> Result<ModelSource> {
    if let Some(m) = model {
        if std::fs::symlink_metadata(m).is_err() {
            anyhow::bail!("{}: no such file or directory", m.display());
        }
        let abs = std::fs::canonicalize(m).with_context(|| format!("cannot resolve {}", m.display()))?;
        let label = if show_paths { abs.display().to_string() } else { m.display().to_string() };
        let name = abs.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        return Ok(ModelSource { path: abs, label, name });
    }
    match example.unwrap_or("minilm") {
        "smollm2" => {
            let out = examples_dir()?.join("smollm2-hf");
            build_smollm2(&out, verbose)?;
            Ok(ModelSource { label: if show_paths { out.display().to_string() } else { "example:smollm2".into() }, path: out, name: "smollm2-135m-instruct".into() })
        }
        _ => {
            let path = crate::commands::example_model()?;
            Ok(ModelSource { label: if show_paths { path.display().to_string() } else { "example:minilm".into() }, path, name: "all-minilm-l6-v2".into() })
        }
    }
}

/// `$MLXPORT_EXAMPLES` or the user's cache (`$XDG_CACHE_HOME/mlxport/examples`,
/// `~/.cache/mlxport/examples`).
fn examples_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("MLXPORT_EXAMPLES") {
        return Ok(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    base.map(|b| b.join("mlxport/examples")).context("neither MLXPORT_EXAMPLES, XDG_CACHE_HOME nor HOME is set: nowhere to build the example")
}

/// The Hugging Face form of SmolLM2-135M-Instruct from its GGUF (float32,
/// about 540 MB, built once: an existing complete build is reused).
fn build_smollm2(out: &Path, verbose: bool) -> Result<()> {
    if out.join(".complete").is_file() {
        return Ok(());
    }
    let env = PythonEnv::locate()?;
    std::fs::create_dir_all(out.parent().unwrap_or(Path::new("."))).with_context(|| format!("creating {}", out.display()))?;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("fixtures.py");
    std::fs::write(&script, FIXTURES_PY)?;
    eprintln!("building the SmolLM2 example (Hugging Face form of its GGUF) in {} ...", out.display());
    Job::new(env.python())
        .arg(&script)
        .arg("smollm2-hf")
        .arg(out)
        .timeout(Duration::from_secs(1800))
        .echo_stderr(verbose)
        .run()?
        .check("building the SmolLM2 example (python/fixtures.py smollm2-hf)")
}
