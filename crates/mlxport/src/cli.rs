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
