//! One error type for every reader and writer in this crate.
//!
//! Every variant names the file it concerns and says which rule was broken,
//! so that a user can act on the message without reading our source.

use std::path::{Path, PathBuf};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while reading or writing tensors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused an operation on the file.
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The file is malformed: it breaks a rule of its format.
    #[error("{path}: invalid {format} file: {rule}")]
    Invalid { path: PathBuf, format: &'static str, rule: String },
    /// One tensor inside an otherwise readable file is malformed.
    #[error("{path}: tensor '{tensor}': {rule}")]
    InvalidTensor { path: PathBuf, tensor: String, rule: String },
    /// The file is well formed but uses something we do not support.
    #[error("{path}: unsupported: {what}")]
    Unsupported { path: PathBuf, what: String },
    /// The file asks for something unsafe (code execution, path traversal,
    /// resource exhaustion). It is refused, never executed.
    #[error("{path}: refused: {why}")]
    Refused { path: PathBuf, why: String },
    /// A tensor name was asked for that the source does not hold.
    #[error("{path}: no tensor named '{name}'")]
    NotFound { path: PathBuf, name: String },
}

impl Error {
    pub fn io(path: impl AsRef<Path>, op: &'static str, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), op, source }
    }
    pub fn invalid(path: impl AsRef<Path>, format: &'static str, rule: impl Into<String>) -> Self {
        Error::Invalid { path: path.as_ref().to_path_buf(), format, rule: rule.into() }
    }
    pub fn tensor(path: impl AsRef<Path>, tensor: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::InvalidTensor { path: path.as_ref().to_path_buf(), tensor: tensor.into(), rule: rule.into() }
    }
    pub fn unsupported(path: impl AsRef<Path>, what: impl Into<String>) -> Self {
        Error::Unsupported { path: path.as_ref().to_path_buf(), what: what.into() }
    }
    pub fn refused(path: impl AsRef<Path>, why: impl Into<String>) -> Self {
        Error::Refused { path: path.as_ref().to_path_buf(), why: why.into() }
    }
    pub fn not_found(path: impl AsRef<Path>, name: impl Into<String>) -> Self {
        Error::NotFound { path: path.as_ref().to_path_buf(), name: name.into() }
    }
}
