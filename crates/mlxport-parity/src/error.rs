//! The crate's error type.

/// What went wrong: a specification that breaks a rule, or a streaming
/// pass over two tensors that could not read them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A specification (a name map, a tolerance, a per-tensor rule, a
    /// ladder, the failure atlas) that breaks a rule; the message names the
    /// flag or file and the rule.
    #[error("{0}")]
    InvalidInput(String),
    /// A tensor could not be read (the error names the file and tensor).
    #[error("{0}")]
    Read(#[from] mlxport_tensor::Error),
    /// One side of a streaming pass ended early.
    #[error("side {side} ended after {got} of {want} bytes")]
    Short { side: char, got: u64, want: u64 },
}
