//! Files in tests: SHA-256 digests, JSON read and written, temporary
//! directories. Every failure names the file.

use std::path::Path;

use serde_json::Value;

/// Lowercase hex SHA-256 of a file.
pub fn file_sha256(path: &Path) -> String {
    file_digest(path).0
}

/// (lowercase hex SHA-256, size in bytes) of a file.
pub fn file_digest(path: &Path) -> (String, u64) {
    let d = mlxport_util::hash::sha256_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (d.sha256, d.bytes)
}

/// A JSON file's contents.
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Write pretty JSON, creating the parent directories.
pub fn write_json(path: &Path, v: &Value) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
