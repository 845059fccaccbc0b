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
pub mod examples;
pub mod inputs;
pub mod matrix;
pub mod optimize;
pub mod parity;
pub mod port;
pub mod quality;
pub mod quantize;
pub mod weights;

use mlxport_harness::jobs::Harness;

/// Check once that the preloaded BLAS changes no MLX result; when it does,
/// say so on stderr (the harness then runs without it). Nothing to check
/// without a preload.
pub fn check_blas(h: &mut Harness, doing: &str) -> anyhow::Result<Option<mlxport_harness::jobs::BlasCheck>> {
    if h.blas.path().is_none() {
        return Ok(None);
    }
    let c = h.check_blas()?;
    if !c.ok {
        eprintln!("note: OpenBLAS changed MLX results (max relative change {:.1e}); {doing} without it", c.max_rel_error);
    }
    Ok(Some(c))
}
