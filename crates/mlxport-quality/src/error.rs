//! The crate's one error type.

/// Why a metric cannot be computed or a threshold not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The two models' outputs do not line up (layouts, vocabularies).
    #[error("{0}")]
    Mismatch(String),
    /// NaN or Inf in a model's output: the model is broken.
    #[error("{0}")]
    NonFinite(String),
    /// An argument breaks a rule (a threshold override, no positions).
    #[error("{0}")]
    InvalidInput(String),
}

/// Results of the quality metrics.
pub type Result<T, E = Error> = std::result::Result<T, E>;
