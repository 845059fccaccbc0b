//! Hex and SHA-256: of bytes, and of files streamed in 1 MiB reads.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Lowercase hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A file's size and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    /// Lowercase hex SHA-256 of the contents.
    pub sha256: String,
    /// Bytes read.
    pub bytes: u64,
}

/// SHA-256 of a file, streamed (memory stays at one buffer whatever the
/// file's size). The error is the I/O error; callers name the file.
pub fn sha256_file(path: &Path) -> std::io::Result<FileDigest> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        bytes += k as u64;
    }
    Ok(FileDigest { sha256: hex(&h.finalize()), bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_vectors() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        // Larger than one read buffer, so the streaming path is exercised.
        let data: Vec<u8> = (0..(3 << 20) + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let d = sha256_file(&p).unwrap();
        assert_eq!(d, FileDigest { sha256: sha256_hex(&data), bytes: data.len() as u64 });
        assert!(sha256_file(&dir.path().join("missing")).is_err());
    }
}
