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
    /// Draft or validate a weight map: how every source tensor becomes an
    /// MLX tensor (names, transforms, ties, deliberately dropped tensors).
    #[command(subcommand)]
    Map(MapCommand),
    /// Convert a checkpoint through a weight map into an MLX model
    /// directory (mlx-lm layout), streaming, deterministic and atomic.
    Convert(ConvertArgs),
    /// Plan a port from an inspection report: family and runbook, state,
    /// weights, license, memory budget, objectives, uncertainties, parity
    /// fixtures, weight-map transforms, rungs and stop conditions.
    Plan(PlanArgs),
    /// Recommend optimization techniques for an inspected model, in five
    /// buckets ordered by the optimization ladder, with a memory-fit analysis.
    Recommend(RecommendArgs),
    /// Print a knowledge-base page (method pages, runbooks, rungs, ladder,
    /// techniques, sources); lists the topics without an argument.
    Docs(DocsArgs),
    /// Explain one technique of the registry: status, MLX API, families,
    /// objectives, prerequisites, risks and pinned evidence.
    Explain(ExplainArgs),
}

#[derive(Debug, Subcommand)]
pub enum MapCommand {
    /// Draft a family-aware weight map for a checkpoint (Hugging Face
    /// directory, safetensors, PyTorch or GGUF file).
    Draft(MapDraftArgs),
    /// Check a weight map against a source (and optionally a target)
    /// checkpoint; exit 1 on any error.
    Validate(MapValidateArgs),
}

#[derive(Debug, Args)]
pub struct MapDraftArgs {
    /// The source model: a directory or a weights file.
    pub model: PathBuf,
    /// Architecture family (dense-decoder, moe-decoder, encoder, ...);
    /// default: the family inspection routes the model to.
    #[arg(long)]
    pub family: Option<String>,
    /// Target layout: mlx-lm (names mlx-lm loads) or scaffold (Hugging Face
    /// names, MLX layouts); default: mlx-lm when mlx-lm has the model.
    #[arg(long, value_parser = ["mlx-lm", "scaffold"])]
    pub target: Option<String>,
    /// Write the map here (default: print it).
    #[arg(long, short = 'o', value_name = "WEIGHT_MAP.json")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MapValidateArgs {
    /// The source checkpoint (directory or file).
    #[arg(long, value_name = "MODEL")]
    pub source: PathBuf,
    /// A converted checkpoint to check the map's output against (names,
    /// shapes, dtypes).
    #[arg(long, value_name = "MODEL")]
    pub target: Option<PathBuf>,
    /// The weight map.
    #[arg(long, value_name = "WEIGHT_MAP.json")]
    pub map: PathBuf,
    /// Dtype policy to validate with (as `convert --dtype`); default: the
    /// map's.
    #[arg(long, value_parser = ["bf16", "f16", "f32", "keep"])]
    pub dtype: Option<String>,
    /// Write the JSON report here.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the JSON report instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The source model: a Hugging Face directory (safetensors, sharded or
    /// not), a GGUF file or a PyTorch checkpoint.
    pub model: PathBuf,
    /// The weight map (see `mlxport map draft`).
    #[arg(long, value_name = "WEIGHT_MAP.json")]
    pub map: PathBuf,
    /// Output directory; must not exist.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Dtype of floating tensors; default: the map's policy (`keep`:
    /// as stored, dequantized GGUF blocks as f32).
    #[arg(long, value_parser = ["bf16", "f16", "f32", "keep"])]
    pub dtype: Option<String>,
    /// Largest shard (binary units: 5GB is 5 GiB, mlx-lm's limit).
    #[arg(long, default_value = "5GB", value_name = "SIZE")]
    pub shard_size: String,
    /// Hash every input file again instead of using the digest cache
    /// (shared with `mlxport inspect`).
    #[arg(long)]
    pub no_cache: bool,
    /// Print the conversion manifest as JSON.
    #[arg(long)]
    pub json: bool,
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
pub struct PlanArgs {
    /// An inspection report (`mlxport inspect -o inspection.json`).
    pub inspection: PathBuf,
    /// The model the report describes: re-verify its fingerprint, family and
    /// blockers against these files and refuse a report that disagrees.
    #[arg(long, value_name = "MODEL")]
    pub artifact_root: Option<PathBuf>,
    /// Memory of the target machine (e.g. 16GB).
    #[arg(long, value_name = "SIZE")]
    pub target_memory: Option<String>,
    /// What the port optimises for (default: the family runbook's).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(mlxport_kb::data::OBJECTIVES))]
    pub objective: Option<String>,
    /// Write the Markdown plan here (printed when neither this nor --json).
    #[arg(long, short = 'o', value_name = "PORT_PLAN.md")]
    pub output: Option<PathBuf>,
    /// Print the plan as JSON (`mlxport.port-plan/v1`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// An inspection report (`mlxport inspect -o inspection.json`).
    pub inspection: PathBuf,
    /// Target machine profile (TOML: memory = "16GB", optional name, chip,
    /// usable_share).
    #[arg(long, value_name = "PROFILE.toml")]
    pub target_profile: Option<PathBuf>,
    /// Memory of the target machine, instead of a profile.
    #[arg(long, value_name = "SIZE", conflicts_with = "target_profile")]
    pub target_memory: Option<String>,
    /// What to optimise for (default: the family runbook's).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(mlxport_kb::data::OBJECTIVES))]
    pub objective: Option<String>,
    /// Only techniques for this workload (default: every inference
    /// workload; `fine-tuning` lists LoRA and friends).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(mlxport_kb::data::WORKLOADS))]
    pub workload: Option<String>,
    /// Directory of local benchmark receipts (`*.json`); a passing receipt
    /// for this model makes a technique "validated locally".
    #[arg(long, value_name = "DIR")]
    pub receipts: Option<PathBuf>,
    /// Print JSON (`mlxport.recommendation/v1`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DocsArgs {
    /// A topic (`porting-core`, `parity`, `runbook/encoder`, `ladder`, ...).
    pub topic: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A technique id (`mlxport docs techniques` lists them).
    pub technique: String,
    /// Print the registry entry as JSON.
    #[arg(long)]
    pub json: bool,
}
