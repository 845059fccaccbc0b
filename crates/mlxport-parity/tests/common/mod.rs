//! Shared helpers: the reference Python environment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// The reference interpreter: `$MLXPORT_PYTHON`, else the project's
/// `.venv`. Outside CI a missing environment skips the test loudly; under
/// CI (`CI` set) it fails.
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("MLXPORT_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("reference Python environment missing at {} (run scripts/python-env.sh)", p.display());
    }
    eprintln!("\n*** SKIPPED: reference Python environment missing at {}; run scripts/python-env.sh ***\n", p.display());
    None
}

/// Run a Python script file with arguments; panics with stderr on failure.
pub fn run_script(py: &Path, script: &Path, args: &[&str]) -> String {
    let out = Command::new(py).arg(script).args(args).output().expect("spawn python");
    if !out.status.success() {
        panic!("{} failed ({}):\n{}", script.display(), out.status, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A script under `tests/reference/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference").join(name)
}
