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
