//! The crate's error type for its parsing and validation APIs.

/// A specification (a name map, a tolerance, a per-tensor rule) that breaks
/// a rule; the message names the flag or file and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidInput(String),
}
