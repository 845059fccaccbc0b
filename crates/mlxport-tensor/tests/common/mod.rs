//! Shared helpers for integration tests: the pinned Python reference
//! environment and scratch directories.
#![allow(dead_code)]

pub mod alloc;
pub mod hostile;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// The reference Python interpreter: `$MLXPORT_PYTHON`, else the project's
/// `.venv`. Outside CI a missing environment skips the test loudly; under CI
/// (`CI` set) it fails the test, because CI installs the environment.
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

/// Run a Python snippet with arguments; panics with its stderr on failure.
/// Returns stdout.
pub fn run_py(py: &Path, code: &str, args: &[&str]) -> String {
    let out = Command::new(py).arg("-c").arg(code).args(args).env("HF_HUB_OFFLINE", "1").env("TRANSFORMERS_OFFLINE", "1").output().expect("spawn python");
    if !out.status.success() {
        panic!("python failed ({}):\n{}\n--- stderr ---\n{}", out.status, code, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
