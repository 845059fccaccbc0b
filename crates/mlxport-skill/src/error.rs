//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong reading, checking or installing the skill.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written or moved.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// A manifest, front matter or knowledge-base file breaks a rule
    /// (the message names the file and the rule).
    #[error("{0}")]
    Invalid(String),
    /// Installing would replace something this tool did not install.
    #[error("{0}")]
    Refused(String),
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), error }
    }
}
