//! The workflow's error: what a caller of a job can match (an invalid
//! request, a refusal, a failing library step with its own typed error, an
//! I/O error naming the file), with context added as a job goes
//! ([`Context`]). [`Error::chain`] renders an error with every cause, the
//! way the command line prints it.

use std::fmt::Display;
use std::path::PathBuf;

/// Everything a job can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request cannot run as given: a bad option, a missing or wrong
    /// path, inputs that do not fit the model.
    #[error("{0}")]
    Invalid(String),
    /// A check refused to go on (a PORT_DIR holding another model's port,
    /// a package that may not be published): a person must decide.
    #[error("{0}")]
    Refused(String),
    /// The Python side (environment and reference libraries missing, a
    /// failing or timed-out step, a refused scaffold).
    #[error(transparent)]
    Harness(#[from] mlxport_harness::Error),
    #[error(transparent)]
    Tensor(#[from] mlxport_tensor::Error),
    #[error(transparent)]
    Convert(#[from] mlxport_convert::Error),
    #[error(transparent)]
    Parity(#[from] mlxport_parity::Error),
    #[error(transparent)]
    Quality(#[from] mlxport_quality::Error),
    /// Report and package (a refused package is a [`mlxport_publish::Error::Refused`]).
    #[error(transparent)]
    Publish(#[from] mlxport_publish::Error),
    #[error(transparent)]
    Intake(#[from] mlxport_intake::Error),
    #[error(transparent)]
    Kb(#[from] mlxport_kb::Error),
    #[error(transparent)]
    Bench(#[from] mlxport_bench::Error),
    #[error(transparent)]
    Contract(#[from] mlxport_contract::UnknownValue),
    #[error(transparent)]
    Document(#[from] mlxport_contract::document::DocumentError),
    /// Another library step's error, as its message (libraries whose errors
    /// are plain text).
    #[error("{0}")]
    Library(String),
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// An I/O error whose file the context around it names.
    #[error(transparent)]
    IoBare(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// What the job was doing when `source` happened.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
}

/// The workflow's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An invalid request, with its message.
    pub fn invalid(msg: impl Display) -> Error {
        Error::Invalid(msg.to_string())
    }

    /// A library error known only by its message.
    pub fn msg(msg: impl Display) -> Error {
        Error::Library(msg.to_string())
    }

    /// The error and every cause, `outer: inner: ...` (what `mlxport`
    /// prints after `error:`).
    pub fn chain(&self) -> String {
        chain(self)
    }

    /// The innermost error under any context.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }

    /// Add context to this error.
    pub fn context(self, context: impl Display) -> Error {
        Error::Context { context: context.to_string(), source: Box::new(self) }
    }
}

pub use mlxport_util::error::chain;

/// Context for results and options, as a job goes.
pub trait Context<T> {
    fn context<C: Display>(self, context: C) -> Result<T>;
    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }
    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.ok_or_else(|| Error::invalid(context))
    }
    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.ok_or_else(|| Error::invalid(f()))
    }
}

/// Return early with [`Error::Invalid`] and a formatted message.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Invalid(format!($($arg)*)))
    };
}

pub use crate::bail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_match_variants_and_read_the_chain() {
        fn f() -> Result<()> {
            bail!("--runs must be at least {}", 1);
        }
        let e = f().context("benchmarking the float weights").unwrap_err();
        assert!(matches!(e.root(), Error::Invalid(m) if m == "--runs must be at least 1"));
        assert_eq!(e.to_string(), "benchmarking the float weights");
        assert_eq!(e.chain(), "benchmarking the float weights: --runs must be at least 1");
        let io: Result<()> = Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone")).with_context(|| "reading x/port.json");
        let e = io.unwrap_err();
        assert!(matches!(e.root(), Error::IoBare(_)));
        assert_eq!(e.chain(), "reading x/port.json: gone");
        let none: Option<u8> = None;
        assert!(matches!(none.context("no HOME").unwrap_err(), Error::Invalid(m) if m == "no HOME"));
        let h: Error = mlxport_harness::Error::PythonMissing("run scripts/python-env.sh".into()).into();
        assert!(matches!(h, Error::Harness(mlxport_harness::Error::PythonMissing(_))));
    }
}
