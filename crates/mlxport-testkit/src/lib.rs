//! Shared support for mlxport's tests, written once: every crate's
//! integration tests (and unit tests) use these instead of keeping copies.
//!
//! Its one job is test support, never product code (`publish = false`, a
//! dev-dependency only):
//!
//! - [`python`]: finding the pinned Python reference environment
//!   (`$MLXPORT_PYTHON`, else `<workspace>/.venv/bin/python`) with the
//!   skip-or-fail rule — missing outside CI, a test skips loudly; missing
//!   under CI (`CI` set), it fails — and running snippets or scripts with it;
//! - [`fs`]: SHA-256 of files, JSON files read and written, temporary
//!   directories, a hand-written safetensors fixture;
//! - [`output`]: the text of a finished process for assertion messages;
//! - [`rng`]: a small seeded generator, so failures reproduce;
//! - [`alloc`]: a counting global allocator, so tests can bound peak heap;
//! - [`bin!`]: the `mlxport` binary (or another of the calling crate's
//!   binaries) as a [`std::process::Command`].

pub mod alloc;
pub mod fs;
pub mod output;
pub mod python;
pub mod rng;
pub mod shapes;

use std::path::{Path, PathBuf};

pub use fs::{file_digest, file_sha256, read_json, tempdir, write_json, write_zero_safetensors};
pub use output::{describe, run_echoed, text};
pub use python::{in_ci, installed_package_dir, openblas, package_dir, python, python_path, run_py, skip_or_fail, Py};

/// The workspace root (the folder of the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// A binary of the calling crate as a [`std::process::Command`]:
/// `bin!()` is `mlxport`, `bin!("name")` any other. It expands in the
/// calling test, where Cargo sets `CARGO_BIN_EXE_<name>`.
#[macro_export]
macro_rules! bin {
    () => {
        $crate::bin!("mlxport")
    };
    ($name:literal) => {
        ::std::process::Command::new(env!(concat!("CARGO_BIN_EXE_", $name)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn files_hash_and_json_round_trips() {
        let d = tempdir();
        let p = d.path().join("a/b.json");
        write_json(&p, &serde_json::json!({"x": 1}));
        assert_eq!(read_json(&p), serde_json::json!({"x": 1}));
        std::fs::write(d.path().join("abc"), b"abc").unwrap();
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(file_sha256(&d.path().join("abc")), want);
        assert_eq!(file_digest(&d.path().join("abc")), (want.to_string(), 3));
    }
}
