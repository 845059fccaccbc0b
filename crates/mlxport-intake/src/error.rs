//! The crate's one error type: every variant names the file (or the value)
//! and the rule broken, so a caller can match on what went wrong without
//! parsing messages.

use std::path::{Path, PathBuf};

/// What can go wrong inspecting a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operation on a file or directory failed; `op` says which
    /// (`cannot inspect`, `cannot open`, `cannot stat`, `read failed`).
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A file breaks a rule (it changed while it was being read).
    #[error("{path}: {rule}")]
    Invalid { path: PathBuf, rule: String },
    /// A value given to the crate breaks a rule (a size that is not one,
    /// JSON that is malformed or repeats a key); the message quotes the
    /// value or the place in it.
    #[error("{0}")]
    InvalidInput(String),
}

impl Error {
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), op, source }
    }

    pub(crate) fn invalid(path: &Path, rule: impl Into<String>) -> Error {
        Error::Invalid { path: path.to_path_buf(), rule: rule.into() }
    }

    /// The message without the file's path, for a record that names the
    /// file itself.
    pub fn rule(&self) -> String {
        match self {
            Error::Io { op, source, .. } => format!("{op}: {source}"),
            Error::Invalid { rule, .. } => rule.clone(),
            Error::InvalidInput(m) => m.clone(),
        }
    }
}

/// Results of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_can_match_what_went_wrong_and_the_file() {
        let missing = Path::new("no/such/model.safetensors");
        match crate::digest::sha256_file(missing) {
            Err(e @ Error::Io { .. }) => {
                let Error::Io { path, op, .. } = &e else { unreachable!() };
                assert_eq!((path.as_path(), *op), (missing, "cannot open"));
                assert!(e.to_string().starts_with("no/such/model.safetensors: cannot open: "), "{e}");
                assert!(e.rule().starts_with("cannot open: "), "{}", e.rule());
            }
            other => panic!("expected Error::Io, got {other:?}"),
        }
        match crate::inspect(Path::new("no/such/dir"), &crate::Options::default()) {
            Err(Error::Io { path, op, .. }) => assert_eq!((path.as_path(), op), (Path::new("no/such/dir"), "cannot inspect")),
            other => panic!("expected Error::Io, got {:?}", other.map(|_| ())),
        }
    }
}
