//! Tensor parity for mlxport: did the port reproduce the source, tensor by
//! tensor, and if not, where did it first diverge and why.
//!
//! The crate's one job is to compare two sets of named tensors — a
//! reference (B, usually the PyTorch source's capture) and a candidate (A,
//! the MLX port's) — exactly, fast and in bounded memory, and to say what a
//! divergence most likely means.
//!
//! - [`metrics`]: the element-wise metrics (max abs error and where, mean
//!   abs, RMSE, relative error with a floor, cosine, ULP distance, NaN/Inf,
//!   allclose; integers exactly) in one streaming, parallel, deterministic
//!   pass in f64.
//! - [`tolerance`]: default tolerances by dtype from machine epsilon, global
//!   and per-tensor overrides.
//! - [`logits`]: softmax-level metrics of logits (top-1, top-k overlap, KL
//!   both ways, probability difference) per position.
//! - [`ladder`]: parity ladders (ladder files, capture manifests, inferred
//!   from names), climbed to the first divergence; [`atlas`] holds the
//!   failure atlas that explains it (`data/failure_atlas.toml`).
//! - [`report`]: the run and its JSON report (`mlxport.compare/v1`);
//!   [`render`]: Markdown and an SVG chart.
//! - [`parity_report`]: the parity pipeline's report of a port
//!   (`mlxport.parity/v1`, `parity/parity.json`), read and written with the
//!   same types.
//!
//! ```no_run
//! use mlxport_parity::{compare::Settings, report::{run, LadderChoice, RunOptions}};
//! let a = mlxport_tensor::open("mlx_capture.npz".as_ref())?;
//! let b = mlxport_tensor::open("torch_capture.npz".as_ref())?;
//! let settings = Settings { top_k: 5, ..Settings::default() };
//! let opts = RunOptions { ladder: LadderChoice::Auto, all: false, allow_unmatched: false };
//! let report = run(a.as_ref(), b.as_ref(), &settings, &opts, &mut |_, _| {})?;
//! if let Some(first) = report.ladder.as_ref().and_then(|l| l.first_divergence.as_ref()) {
//!     println!("first divergence at {} (hint: {})", first.name, first.hint);
//! }
//! # Ok::<(), mlxport_tensor::Error>(())
//! ```

pub mod atlas;
pub mod compare;
pub mod error;
pub mod ladder;
pub mod logits;
pub mod metrics;
pub mod parity_report;
pub mod render;
pub mod report;
pub mod tolerance;

pub use compare::{PairReport, Settings, Status};
pub use error::Error;
pub use parity_report::{ParityFile, ParityReport};
pub use report::{run, LadderChoice, Report, RunOptions, RungStatus};
