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

/// Write a safetensors file of F32 zeros with these tensors (name, shape),
/// written by hand so the fixture does not depend on the writer under test.
/// Returns the parameter count.
pub fn write_zero_safetensors(path: &Path, tensors: &[(&str, Vec<u64>)]) -> u64 {
    let mut header = serde_json::Map::new();
    let mut offset = 0u64;
    for (name, shape) in tensors {
        let n: u64 = shape.iter().product::<u64>() * 4;
        header.insert(name.to_string(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}));
        offset += n;
    }
    let mut h = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend(h);
    bytes.resize(bytes.len() + offset as usize, 0);
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tensors.iter().map(|(_, s)| s.iter().product::<u64>()).sum()
}
