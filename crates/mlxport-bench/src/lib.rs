//! Benchmark commands with honest statistics.
//!
//! The crate's one job: run a command (or a baseline and a candidate,
//! interleaved) many times under controlled conditions, measure every run
//! from the kernel's own accounting, and say what the numbers support and no
//! more — with confidence intervals, outlier warnings, and a receipt that
//! binds the result to the hardware, software, workload and quality gate it
//! came from.
//!
//! - [`command`]: a command line, split with shell-words rules and run
//!   without a shell unless asked.
//! - [`runner`]: one run of a process in its own process group: wall time,
//!   user and system CPU, peak RSS, exit status, a timeout that kills the
//!   whole group, the last bytes of its output.
//! - [`schedule`]: warmups, run counts, minimum time, prepare/cleanup hooks,
//!   interleaved A/B rounds.
//! - [`stats`], [`outliers`], [`compare`]: summary statistics with a
//!   bootstrap CI of the median, modified Z-score outliers, paired ratios
//!   and a verdict.
//! - [`env`]: the machine and software the numbers came from.
//! - [`receipt`] and [`check`]: the versioned record
//!   (`mlxport.bench-receipt/v1`), its validation, and the promotion rules.
//! - [`export`]: JSON, Markdown and SVG renderings of a receipt.
//! - [`generate`]: MLX generation benchmarks (measured by the Python
//!   harness) as receipts, and their summary by prompt length.
//!
//! ```no_run
//! use mlxport_bench::{command::CommandSpec, schedule::Plan, runner::RunOptions};
//!
//! let sleep = CommandSpec::parse("sleep 0.01", false).unwrap();
//! let plan = Plan { runs: Some(5), ..Plan::default() };
//! let measured = mlxport_bench::schedule::measure(&[sleep], &plan, &RunOptions::default(), &mut |_| {}).unwrap();
//! let walls: Vec<f64> = measured.runs[0].iter().map(|r| r.wall_s).collect();
//! let summary = mlxport_bench::stats::summarize(&walls, &mlxport_bench::stats::Bootstrap::default());
//! println!("median {:.4} s, 95% CI {:.4}..{:.4}", summary.median, summary.median_ci.low, summary.median_ci.high);
//! ```
//!
//! Benchmarks of MLX generation (`bench generate`) fit the same receipt: a
//! [`receipt::Workload`] of kind `generate`, one [`receipt::Benchmark`] per
//! prompt length whose [`receipt::Metric`] names a throughput (higher is
//! better) read from each run's `extra` measurements.

pub mod check;
pub mod command;
pub mod compare;
pub mod embed;
pub mod env;
pub mod error;
pub mod export;
pub mod generate;
pub mod hash;
pub mod images;
pub mod outliers;
pub mod receipt;
pub mod rng;
pub mod runner;
pub mod schedule;
pub mod stats;

pub use error::{Error, Result};
#[cfg(test)]
mod testutil;
