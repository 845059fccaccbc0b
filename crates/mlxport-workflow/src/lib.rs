//! Every multi-step mlxport job, as a library: each takes a typed request
//! and returns a typed result, writes its documents, and prints nothing but
//! progress on stderr. The `mlxport` binary only turns command lines into
//! requests and results into tables; another Rust program (or a test) runs
//! a whole port without it.
//!
//! | job | request | entry |
//! |---|---|---|
//! | the port, end to end and resumable | [`port::PortRequest`] | [`port::run`] |
//! | the parity ladder of one port | [`parity::ParityRequest`] | [`parity::pipeline`] |
//! | the parity matrix | [`matrix::MatrixRequest`] | [`matrix::run`] |
//! | the quality gate | [`quality::QualityRequest`] | [`quality::gate`] |
//! | the generation benchmark | [`bench::GenerateRequest`] | [`bench::measure`] |
//! | the optimization loop (quality -> bench -> keep or revert) | [`optimize::OptimizeRequest`] | [`optimize::run`] |
//! | the profile of a port's decoder as served | [`profile::ProfileRequest`] | [`profile::run`] |
//!
//! Shared pieces: [`weights`] (map draft -> validate -> convert, one
//! implementation), [`inputs`] (oracle inputs), [`quantize`] (the
//! quantization choice), [`examples`] (the built-in example models).
//!
//! ```no_run
//! use mlxport_workflow::port::{run, PortRequest};
//! let outcome = run(&PortRequest::example("minilm")).unwrap();
//! assert!(outcome.record.is_complete());
//! ```

pub mod bench;
pub mod error;
pub mod examples;
pub mod inputs;
pub mod matrix;
pub mod optimize;
pub mod parity;
pub mod port;
pub mod profile;
pub mod provenance;
pub mod quality;
pub mod quantize;
pub mod weights;

use mlxport_harness::jobs::Harness;

/// Check once that the preloaded BLAS changes no MLX result
/// ([`Harness::verify_blas`]); when it does, say so on stderr (the harness
/// then runs without it).
pub fn check_blas(h: &mut Harness, doing: &str) -> crate::error::Result<mlxport_harness::jobs::BlasVerdict> {
    let v = h.verify_blas()?;
    if let Some(n) = v.note(doing) {
        eprintln!("note: {n}");
    }
    Ok(v)
}
