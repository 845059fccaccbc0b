//! The crate's one error type. Every variant names the file it is about
//! (a refusal names it in its message); `Refused` is what a port shows as
//! blocked, the others are a broken or unreadable PORT_DIR.

use std::path::{Path, PathBuf};

use mlxport_contract::DocumentError;

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A check the command performs failed (exit code 1): a license that
    /// needs acceptance, a local path or secret in the output, a failed
    /// smoke test.
    #[error("{0}")]
    Refused(String),
    /// A tampered or incomplete PORT_DIR: the file and the rule it breaks.
    #[error("{}: {rule}", path.display())]
    Invalid { path: PathBuf, rule: String },
    /// A versioned document of the PORT_DIR (port.json, the parity or
    /// quality report, a bench receipt) that is not its schema's.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// A JSON file that does not parse.
    #[error("{}: not valid JSON", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Weights that do not open.
    #[error("{}: weights do not open", path.display())]
    Weights {
        path: PathBuf,
        #[source]
        source: mlxport_tensor::Error,
    },
    /// Reading or writing a file failed; the message names it.
    #[error("{message}")]
    Io {
        path: PathBuf,
        message: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The file or directory the error is about (none for a refusal, whose
    /// message names it).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Refused(_) => None,
            Error::Invalid { path, .. } | Error::Json { path, .. } | Error::Weights { path, .. } | Error::Io { path, .. } => Some(path),
            Error::Document(d) => Some(d.path()),
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, rule: impl Into<String>) -> Error {
        Error::Invalid { path: path.into(), rule: rule.into() }
    }
}

/// `map_err` for an I/O error on `path`: "PATH: WHAT".
pub(crate) fn io(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> Error {
    let (path, message) = (path.to_path_buf(), format!("{}: {what}", path.display()));
    move |source| Error::Io { path, message, source }
}
