//! The crate's error type.

use std::path::{Path, PathBuf};

/// What went wrong; every variant names the file or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mapping file (or the map derived for a model) breaks a rule.
    #[error("{path}: {message}")]
    Map { path: PathBuf, message: String },
    /// An operation on a file or directory failed.
    #[error("{path}: cannot {op}: {source}")]
    Io { path: PathBuf, op: &'static str, source: std::io::Error },
    /// A tensor file could not be read or written.
    #[error(transparent)]
    Tensor(#[from] mlxport_tensor::Error),
    /// A tensor cannot be converted as asked (the message names it).
    #[error("{0}")]
    Convert(String),
    /// The options break a rule (an unknown mode, recipe or rule).
    #[error("{0}")]
    Usage(String),
    /// A name pattern of a mapping breaks a rule of the pattern syntax.
    #[error("pattern '{pattern}': {rule}")]
    Pattern { pattern: String, rule: String },
}

impl Error {
    pub fn map(path: &Path, message: impl Into<String>) -> Self {
        Error::Map { path: path.to_path_buf(), message: message.into() }
    }
    pub fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), op, source }
    }
    pub fn pattern(pattern: &str, rule: impl Into<String>) -> Self {
        Error::Pattern { pattern: pattern.to_string(), rule: rule.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
