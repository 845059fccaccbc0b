//! The harness's one error type: every variant names the file or the step
//! and the rule broken, so a caller can match on what went wrong (a
//! refusal, a missing reference library, a failed Python step) without
//! parsing messages.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Any error kept as the source of another.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong running the Python reference harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, writing or creating a file or directory failed.
    #[error("{message}")]
    Io {
        /// What was attempted, naming the path.
        message: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The project's Python environment was not found (or a setting that
    /// names it points nowhere).
    #[error("{0}")]
    PythonMissing(String),
    /// A reference library is not installed in the Python environment.
    #[error("package '{package}' is not installed in the Python environment at {}; run scripts/python-env.sh", env.display())]
    LibraryMissing { package: String, env: PathBuf },
    /// A Python step exited unsuccessfully.
    #[error("{what} failed ({how}):\n{stderr_tail}")]
    Step {
        /// The step (`the MLX capture`).
        what: String,
        /// `exit code N` or `signal N`.
        how: String,
        /// The last lines of its standard error.
        stderr_tail: String,
    },
    /// A Python step ran past its time limit and was stopped.
    #[error("{what} timed out after {:.0} s and was stopped (its whole process group killed)\n{stderr_tail}", after.as_secs_f64())]
    StepTimedOut { what: String, after: Duration, stderr_tail: String },
    /// An input, a manifest or a step's output breaks a rule.
    #[error("{message}")]
    InvalidInput {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A check refused the model or the operation (custom code, an
    /// inspection blocker, overwriting an existing directory).
    #[error("{0}")]
    Refused(String),
    /// The package templates cannot implement what the model needs (every
    /// unsupported item named).
    #[error(transparent)]
    Unsupported(#[from] crate::scaffold::Unsupported),
    /// A tensor file could not be read.
    #[error(transparent)]
    Tensor(#[from] mlxport_tensor::Error),
}

impl Error {
    /// An I/O error on `path`; `message` says what was attempted.
    pub fn io(path: &Path, message: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { message: message.into(), path: path.to_path_buf(), source }
    }

    /// A rule broken, with no underlying error.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidInput { message: message.into(), source: None }
    }

    /// A rule broken, because of `source`.
    pub fn invalid_because(message: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::InvalidInput { message: message.into(), source: Some(source.into()) }
    }
}

/// Results of the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A fresh temporary directory, the error naming the system's temporary
/// directory.
pub(crate) fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io(&std::env::temp_dir(), format!("cannot create a temporary directory in {}", std::env::temp_dir().display()), e))
}

/// A value as JSON, or an error saying which.
pub(crate) fn json_value<T: serde::Serialize>(what: &str, v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::invalid_because(format!("{what} does not serialize as JSON"), e))
}
