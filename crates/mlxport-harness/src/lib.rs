//! The Python side of mlxport: run the source framework and the MLX port
//! as subprocesses, and generate the MLX port itself.
//!
//! The crate's one job is everything that needs Python. It finds the
//! project's environment ([`env::PythonEnv`]), ships the scripts and
//! package templates embedded in the binary ([`scripts`]), runs a step as a
//! subprocess with a timeout that kills its whole process group, bounded
//! output and an offline, controlled environment ([`runner::Job`]), and
//! reads the step's result back as an npz plus a manifest whose SHA-256
//! digests are checked against the tensors ([`manifest::Manifest`]).
//!
//! Principal types:
//! - [`jobs::Harness`]: the steps — [`Harness::oracle`](jobs::Harness::oracle)
//!   (transformers + torch on the CPU), [`Harness::capture`](jobs::Harness::capture)
//!   (a scaffolded package or mlx-lm's own implementation on MLX) and
//!   [`Harness::verify_blas`](jobs::Harness::verify_blas) (MLX on Linux runs
//!   with OpenBLAS preloaded, [`blas::Blas`], after checking it changes no
//!   result beyond float tolerance; the verdict says what runs now).
//! - [`Error`]: one error type; a refusal, a missing Python environment or
//!   reference library and a failed Python step are variants to match.
//! - [`scaffold::plan`] / [`scaffold::write`]: an MLX package for a dense
//!   decoder, an encoder, an encoder-decoder, an image model or a
//!   vision-language model from an inspection report, refused before any
//!   file is written when the model needs something the templates lack.
//! - [`manifest`]: the tensor names both sides share (the parity ladder).
//!
//! ```no_run
//! use mlxport_harness::jobs::{Harness, Inputs, OracleRequest, Settings};
//! let h = Harness::new(Settings::default())?;
//! let inputs = Inputs { texts: Some(vec!["The capital of France is".into()]), generate: Some(8), ..Default::default() };
//! let m = h.oracle(&OracleRequest { model: "smollm2-hf".into(), inputs, out: "oracle.npz".into(), dtype: "float32".into(), seed: 0 })?;
//! println!("{}", m.names().join(", "));
//! # Ok::<(), mlxport_harness::Error>(())
//! ```

pub mod blas;
pub mod env;
pub mod error;
pub mod jobs;
pub mod manifest;
pub mod quality;
pub mod runner;
pub mod scaffold;
pub mod scripts;
pub mod seq2seq;
pub mod vision;
pub mod vlm;

pub use error::{Error, Result};

pub use jobs::Harness;
pub use manifest::Manifest;
