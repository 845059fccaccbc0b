//! The crate's error type.

use std::path::{Path, PathBuf};

/// What went wrong; every variant names the file or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Map { path: PathBuf, message: String },
    #[error("{path}: cannot {op}: {source}")]
    Io { path: PathBuf, op: &'static str, source: std::io::Error },
    #[error(transparent)]
    Tensor(#[from] mlxport_tensor::Error),
    #[error("{0}")]
    Convert(String),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn map(path: &Path, message: impl Into<String>) -> Self {
        Error::Map { path: path.to_path_buf(), message: message.into() }
    }
    pub fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), op, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
