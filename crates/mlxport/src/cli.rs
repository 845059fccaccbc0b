//! Command-line definitions: every flag is defined once, here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "mlxport", version, about = "Port PyTorch / Hugging Face models to Apple MLX and prove the port correct", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the tensors of checkpoint files or model directories
    /// (safetensors incl. sharded, npy/npz, GGUF, PyTorch zip).
    Tensors(TensorsArgs),
    /// Classify a model statically and safely (never runs its code):
    /// family, risks, license, size, quantization, blockers.
    Inspect(InspectArgs),
    /// Compare two tensor files (any readable format) pair by pair, or climb
    /// a parity ladder to the first divergence. Exit 1 when a check fails.
    Compare(Box<CompareArgs>),
}

#[derive(Debug, Args)]
pub struct TensorsArgs {
    /// Tensor files or model directories. With no path, lists the built-in
    /// example model (all-MiniLM-L6-v2 from the reference environment).
    pub paths: Vec<PathBuf>,
    /// Only tensors whose name matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub filter: Option<String>,
    /// Add min, max, mean, std, NaN and Inf counts (decoded values;
    /// block-quantized GGUF tensors are dequantized).
    #[arg(long)]
    pub stats: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A model directory, a single weights file, or a Hugging Face cache
    /// snapshot. With no path, inspects the built-in example model.
    pub model: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write a Markdown report here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Exit with code 1 when the inspection finds a blocker.
    #[arg(long)]
    pub fail_on_blockers: bool,
    /// Print the JSON report instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Context length for the KV-cache estimate.
    #[arg(long, default_value_t = 4096, value_name = "TOKENS")]
    pub context: u64,
    /// Memory of the target machine (e.g. 16GB) for the fit verdict.
    #[arg(long, value_name = "SIZE")]
    pub target_memory: Option<String>,
    /// Include the model's absolute path in reports (left out by default).
    #[arg(long)]
    pub absolute_paths: bool,
    /// Hash every file again instead of using the digest cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The candidate: a tensor file or model directory (npz, npy,
    /// safetensors incl. sharded, GGUF dequantized, PyTorch zip).
    pub a: PathBuf,
    /// The reference (the source model's capture): relative errors and
    /// allclose are measured against it.
    pub b: PathBuf,
    /// JSON object mapping A's names to B's names.
    #[arg(long, value_name = "names.json", conflicts_with = "rename")]
    pub map: Option<PathBuf>,
    /// Rewrite A's names into B's: 'REGEX=REPLACEMENT' (split at the last
    /// '='; $1 and ${name} refer to groups). Repeat to apply in order.
    #[arg(long, value_name = "REGEX=REPL")]
    pub rename: Vec<String>,
    /// Only tensors whose name matches.
    #[arg(long, value_name = "REGEX")]
    pub include: Option<String>,
    /// Leave out tensors whose name matches.
    #[arg(long, value_name = "REGEX")]
    pub exclude: Option<String>,
    /// Absolute tolerance (default: rtol times the reference's scale).
    #[arg(long, value_name = "X")]
    pub atol: Option<f64>,
    /// Relative tolerance (default: eps^(2/3) of the less precise dtype).
    #[arg(long, value_name = "Y")]
    pub rtol: Option<f64>,
    /// Smallest cosine similarity allowed (default: 1 - rtol).
    #[arg(long, value_name = "Z")]
    pub cosine_min: Option<f64>,
    /// Largest ULP distance allowed (same float dtype on both sides).
    #[arg(long, value_name = "N")]
    pub ulp: Option<u64>,
    /// NaN in the same place on both sides counts as equal.
    #[arg(long)]
    pub equal_nan: bool,
    /// Per-tensor tolerances: 'REGEX=atol:..,rtol:..,cosine:..,ulp:..,kl:..,top1:..'.
    /// Repeatable; later rules win.
    #[arg(long, value_name = "REGEX=TOLS")]
    pub tol: Vec<String>,
    /// Tensors to compare as logits (default: names containing 'logits').
    #[arg(long, value_name = "REGEX")]
    pub logits: Option<String>,
    /// k of the logits' top-k overlap.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub top_k: usize,
    /// Climb a parity ladder: a ladder file (mlxport.ladder/v1), a capture
    /// manifest (mlxport.capture/v1), or 'auto' to infer it from A's names.
    #[arg(long, value_name = "FILE|auto")]
    pub ladder: Option<String>,
    /// With --ladder: compare every rung, not just up to the first divergence.
    #[arg(long, requires = "ladder")]
    pub all: bool,
    /// Names found on one side only do not fail the comparison.
    #[arg(long)]
    pub allow_unmatched: bool,
    /// Print the JSON report (schema mlxport.compare/v1) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write a Markdown report here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write an SVG chart of error and cosine by rung here (with --ladder).
    #[arg(long, value_name = "FILE", requires = "ladder")]
    pub svg: Option<PathBuf>,
}
