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
    /// Benchmark commands with honest statistics: warmups, interleaved
    /// baseline/candidate runs, bootstrap confidence intervals, outliers,
    /// receipts (`bench -- CMD...`, `bench --baseline A --candidate B`,
    /// `bench check RECEIPT...`).
    Bench(Box<BenchArgs>),
    /// Run the source model (transformers + torch, CPU, offline, no remote
    /// code) on fixed inputs and capture every ladder tensor.
    Oracle(OracleArgs),
    /// Generate an MLX Python package for a model from its inspection.
    Scaffold(ScaffoldArgs),
    /// Run the MLX side (a scaffolded package or mlx-lm) on an oracle's
    /// inputs and capture the same tensors under the same names.
    Capture(CaptureArgs),
    /// Compare two tensor files (any readable format) pair by pair, or climb
    /// a parity ladder to the first divergence. Exit 1 when a check fails.
    Compare(Box<CompareArgs>),
    /// The main job: port a model end to end into PORT_DIR (inspect, plan,
    /// weight map, oracle, convert, scaffold or mlx-lm, capture, parity
    /// ladder, report, package), resuming where a previous run stopped.
    /// With no MODEL, ports the built-in all-MiniLM-L6-v2.
    Port(Box<PortArgs>),
    /// Package a finished port as a publishable MLX model folder: weights,
    /// config, tokenizer, the generated package for scaffold targets, and a
    /// model card with license and provenance; smoke-tested.
    Package(PackageArgs),
    /// The engineering report of a port: Markdown, JSON and one
    /// self-contained HTML page with charts.
    Report(ReportArgs),
    /// The agent skill: render its reference pages from the knowledge base,
    /// or install it for a coding agent (with a hash manifest) and check an
    /// installed copy.
    #[command(subcommand)]
    Skill(SkillCommand),
    /// Check that the skill, the docs and the knowledge base agree with each
    /// other and with this CLI: front matter, links, commands, ids, pinned
    /// sources, manifest hashes. Exit 1 on a failure.
    Audit(AuditArgs),
    /// The evidence-source registry: validate its rules (https, no
    /// credentials or private hosts, pins by kind), optionally fetching
    /// every URL.
    #[command(subcommand)]
    Sources(SourcesCommand),
    /// Review-only: rank saved update feeds (MLX project releases, paper
    /// listings) against the knowledge base and write a review; never edits
    /// the knowledge base.
    Research(ResearchArgs),
    /// Prove a port: config, weights, source oracle, MLX capture and the
    /// whole parity ladder in one command, stopping at the first divergence
    /// with a hint; writes JSON, Markdown and an SVG chart. Exit 1 on a
    /// divergence.
    Parity(Box<ParityArgs>),
    /// Quantize a floating-point MLX checkpoint exactly as mlx-lm does
    /// (affine, mxfp4, mxfp8, nvfp4; mixed recipes; per-layer rules; a
    /// bits-per-weight budget), with a per-layer error report.
    Quantize(Box<QuantizeArgs>),
    /// Task-level quality gate of a candidate (quantized, optimized) model
    /// against its reference: perplexity, KL, top-k and greedy agreement
    /// and degeneration for language models; embedding cosine and retrieval
    /// agreement for encoders. Exit 1 when a threshold fails.
    Quality(Box<QualityArgs>),
    /// Optimization loop: from a float baseline, produce quantization
    /// candidates one change at a time (bf16, affine bits and group sizes,
    /// mixed recipes, bit budgets, mxfp4 / nvfp4 / mxfp8), gate each
    /// against the baseline, benchmark generation, keep or revert with a
    /// record; writes OPTIMIZATIONS.md, optimize.json, receipts and the
    /// chosen checkpoint.
    Optimize(Box<OptimizeArgs>),
    /// Profile a port's decoder as served (its package, or mlx-lm): load
    /// time, first-call cost, prefill tokens/s by prompt length, decode
    /// tokens/s by context length, peak memory and the share of each
    /// decode step spent in Python; writes PORT_DIR/profile/profile.json.
    Profile(Box<ProfileArgs>),
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The port directory (`mlxport port`'s PORT_DIR).
    pub port_dir: PathBuf,
    /// The package's serving options as JSON (default: its own defaults).
    #[arg(long, value_name = "JSON")]
    pub options: Option<String>,
    /// Prompt lengths whose prefill is measured.
    #[arg(long, value_delimiter = ',', default_value = "32,128,512", value_name = "N,N,...")]
    pub prompt_tokens: Vec<u32>,
    /// Context lengths at which decoding is measured.
    #[arg(long, value_delimiter = ',', default_value = "128,512", value_name = "N,N,...")]
    pub contexts: Vec<u32>,
    /// Decode steps timed per context.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub gen_tokens: u32,
    /// Runs per figure (medians are reported).
    #[arg(long, short = 'r', default_value_t = 3, value_name = "N")]
    pub runs: u32,
    /// Seed of the prompt token ids.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,
    /// Print the profile as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub harness: HarnessArgs,
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
    /// Target layout: mlx-lm (names mlx-lm loads), scaffold (Hugging Face
    /// names, MLX layouts) or mlx-vlm (a vision-language model's names
    /// mlx-vlm loads); default: mlx-lm when mlx-lm has the model.
    #[arg(long, value_parser = ["mlx-lm", "scaffold", "mlx-vlm"])]
    pub target: Option<String>,
    /// Write the map here (default: print it).
    #[arg(long = "out", short = 'o', alias = "output", value_name = "WEIGHT_MAP.json")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MapValidateArgs {
    /// The source checkpoint (directory or file).
    #[arg(long, value_name = "MODEL")]
    pub source: PathBuf,
    /// A converted checkpoint to check the map's output against (names,
    /// shapes, dtypes).
    #[arg(long, value_name = "MODEL")]
    pub converted: Option<PathBuf>,
    /// Check the map against the parameters of the implementation that will
    /// load its output: `mlx-lm` (mlx-lm's own model class, after its
    /// sanitize), `scaffold` (the generated package) or `mlx-vlm`
    /// (mlx-vlm's model class of a vision-language model), built from the
    /// config the conversion writes; nothing is converted. (A path here is
    /// the previous release's spelling of --converted.)
    #[arg(long, value_name = "mlx-lm|scaffold|mlx-vlm")]
    pub target: Option<String>,
    /// The weight map.
    #[arg(long, value_name = "WEIGHT_MAP.json")]
    pub map: PathBuf,
    /// Dtype policy to validate with (as `convert --dtype`); default: the
    /// map's.
    #[arg(long, value_parser = ["bf16", "f16", "f32", "keep"])]
    pub dtype: Option<String>,
    /// Write the JSON report here.
    #[arg(long = "out", short = 'o', alias = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
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
    #[arg(long, short = 'o', value_name = "DIR")]
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
    /// Quantize the converted weights (as `mlx_lm.convert -q`); the
    /// quantization options below apply.
    #[arg(long, short = 'q')]
    pub quantize: bool,
    /// GGUF source: keep Q4_0, Q4_1 and Q8_0 tensors as MLX affine
    /// (group size 32) without requantizing; other tensors as usual.
    #[arg(long)]
    pub keep_gguf_quant: bool,
    #[command(flatten)]
    pub quant: QuantArgs,
}

/// Quantization options shared by `quantize`, `convert -q` and `port -q`.
#[derive(Debug, Args, Clone)]
pub struct QuantArgs {
    #[command(flatten)]
    pub choice: QuantChoice,
    /// Measure every quantized tensor's error (RMSE, max abs, relative
    /// Frobenius, SQNR) and write the ranked report here as JSON.
    #[arg(long, value_name = "report.json")]
    pub report: Option<PathBuf>,
}

/// What to quantize and how (the options that decide the weights).
#[derive(Debug, Args, Clone, Default)]
pub struct QuantChoice {
    /// Bits per weight (affine: 2, 3, 4, 5, 6, 8; default: the mode's).
    #[arg(long)]
    pub bits: Option<u8>,
    /// Group size (affine: 32, 64, 128; default: the mode's).
    #[arg(long)]
    pub group_size: Option<usize>,
    /// Quantization mode.
    #[arg(long, value_parser = ["affine", "mxfp4", "mxfp8", "nvfp4"])]
    pub mode: Option<String>,
    /// mlx-lm's mixed recipe (more bits for v_proj/down_proj in the first,
    /// last and every third layer, and for lm_head).
    #[arg(long, value_parser = ["mixed_2_6", "mixed_3_4", "mixed_3_6", "mixed_4_6"])]
    pub recipe: Option<String>,
    /// Per-layer override, 'REGEX=bits:8,group:64[,mode:M]' or 'REGEX=skip',
    /// matched against the module path (`model.layers.0.mlp.down_proj`);
    /// repeatable; the first matching rule wins over recipe and model rules.
    #[arg(long = "rule", value_name = "REGEX=SPEC")]
    pub rules: Vec<String>,
    /// Choose affine bits per layer (same group size) to meet this average
    /// bits per weight (mlx-lm's count: bytes * 8 / parameters) with the
    /// least total squared error.
    #[arg(long, value_name = "BPW")]
    pub target_bpw: Option<f64>,
}

impl QuantChoice {
    /// The choice these flags describe.
    pub fn choice(&self) -> mlxport_workflow::quantize::QuantChoice {
        mlxport_workflow::quantize::QuantChoice {
            bits: self.bits,
            group_size: self.group_size,
            mode: self.mode.clone(),
            recipe: self.recipe.clone(),
            rules: self.rules.clone(),
            target_bpw: self.target_bpw,
        }
    }

    /// Whether any of these options was given.
    pub fn any(&self) -> bool {
        self.choice().any()
    }
}

#[derive(Debug, Args)]
pub struct QuantizeArgs {
    /// A floating-point MLX model directory (mlx-lm layout).
    pub model: PathBuf,
    /// Output directory; must not exist.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub quant: QuantArgs,
    /// Cast floating tensors first (as `mlx_lm.convert --dtype`); default:
    /// as stored.
    #[arg(long, value_parser = ["bf16", "f16", "f32"])]
    pub dtype: Option<String>,
    /// Largest shard (binary units).
    #[arg(long, default_value = "5GB", value_name = "SIZE")]
    pub shard_size: String,
    /// Hash every input file again instead of using the digest cache
    /// (shared with `mlxport inspect` and `convert`).
    #[arg(long)]
    pub no_cache: bool,
    /// Print the report (or the summary) as JSON.
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
    #[arg(long = "out", short = 'o', alias = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
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
    /// Hash every file and read every tensor header again instead of using
    /// the digest and tensor-summary caches.
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
    #[arg(long = "out", short = 'o', alias = "output", value_name = "PORT_PLAN.md")]
    pub out: Option<PathBuf>,
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
    /// An `optimize.json` (`mlxport optimize`): its kept candidates count as
    /// validated locally (repeatable). Results of `mlxport optimize` on
    /// this machine for this model are also read from the local store.
    #[arg(long, value_name = "FILE")]
    pub validated: Vec<PathBuf>,
    /// Do not read the local store of `mlxport optimize` results.
    #[arg(long)]
    pub no_store: bool,
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

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub check: Option<BenchCommand>,
    #[command(flatten)]
    pub run: BenchRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Validate receipts (schema and every derived number); with
    /// --baseline and --candidate, decide whether the candidate is promoted.
    Check(BenchCheckArgs),
    /// Benchmark token generation of an MLX model (an mlx-lm directory or a
    /// scaffolded package) through the Python harness: time to first
    /// token, prefill and decode throughput, per-token latency and MLX's
    /// memory counters, for several prompt lengths; writes a receipt.
    Generate(Box<BenchGenerateArgs>),
    /// Benchmark sentence embeddings of a scaffolded encoder package:
    /// sentences/s and tokens/s by batch size (right-padded batches,
    /// sorted by length unless --no-bucket), all sizes in one process with
    /// their passes interleaved; writes a receipt.
    Encoder(Box<BenchEncoderArgs>),
    /// Benchmark an image-model package (a scaffolded ViT, DINOv2, ...):
    /// images/s by batch size, model forward passes only (the photographs
    /// go through the package's image processor once, untimed), all sizes
    /// in one process with their passes interleaved; writes a receipt.
    Images(Box<BenchImagesArgs>),
}

#[derive(Debug, Args)]
pub struct BenchImagesArgs {
    /// A package made by `mlxport scaffold` from an image model.
    pub package: PathBuf,
    /// The weights directory it loads (with preprocessor_config.json).
    #[arg(long, value_name = "DIR")]
    pub weights: PathBuf,
    /// Batch sizes to measure; the first is the reference of the ratios.
    #[arg(long, value_delimiter = ',', default_value = "1,8", value_name = "N,N,...")]
    pub batch_sizes: Vec<u32>,
    /// An image file or a folder of images (repeatable; default: every
    /// photograph scikit-image ships).
    #[arg(long, value_name = "FILE|DIR")]
    pub image: Vec<PathBuf>,
    /// Pixel arrays per timed pass (the images cycled).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub inputs: u32,
    /// Timed passes of the whole set per batch size.
    #[arg(long, short = 'r', default_value_t = 5, value_name = "N")]
    pub runs: u32,
    /// Untimed passes per batch size first.
    #[arg(long, short = 'w', default_value_t = 1, value_name = "N")]
    pub warmup: u32,
    /// Seed of the bootstrap.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub resamples: u32,
    /// Write the receipt (JSON) here.
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Print the receipt instead of the summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub harness: HarnessArgs,
}

#[derive(Debug, Args)]
pub struct BenchEncoderArgs {
    /// A package made by `mlxport scaffold` from an encoder.
    pub package: PathBuf,
    /// The weights directory it loads (with tokenizer.json).
    #[arg(long, value_name = "DIR")]
    pub weights: PathBuf,
    /// Batch sizes to measure; the first is the reference of the ratios.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32", value_name = "N,N,...")]
    pub batch_sizes: Vec<u32>,
    /// Batch the sentences in their given order instead of sorted by length.
    #[arg(long)]
    pub no_bucket: bool,
    /// Sentences, one per line, `#` lines skipped (default: the shipped
    /// sentence and query sets).
    #[arg(long, value_name = "FILE")]
    pub sentences: Option<PathBuf>,
    /// Timed passes of the whole set per batch size.
    #[arg(long, short = 'r', default_value_t = 5, value_name = "N")]
    pub runs: u32,
    /// Untimed passes per batch size first.
    #[arg(long, short = 'w', default_value_t = 1, value_name = "N")]
    pub warmup: u32,
    /// Seed of the bootstrap.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub resamples: u32,
    /// Write the receipt (JSON) here.
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Print the receipt instead of the summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub harness: HarnessArgs,
}

#[derive(Debug, Args)]
pub struct BenchGenerateArgs {
    /// An mlx-lm model directory (config.json + safetensors), or a package
    /// made by `mlxport scaffold` (then give --weights).
    pub model: PathBuf,
    /// With a scaffolded package: the weights directory it loads.
    #[arg(long, value_name = "DIR")]
    pub weights: Option<PathBuf>,
    /// With a scaffolded package: its serving options as JSON, e.g.
    /// '{"cache": "step", "pipeline": true}' (default: the package's own
    /// defaults, its serving.json).
    #[arg(long, value_name = "JSON")]
    pub options: Option<String>,
    /// With a scaffolded package: also measure mlx-lm's own generation
    /// loop on this mlx-lm directory (the same weights), in the same
    /// process with the runs interleaved, and report package / mlx-lm
    /// ratios of decode and prefill throughput with paired 95% intervals;
    /// -o then writes both receipts and the ratios (mlxport.bench-versus/v1).
    #[arg(long, value_name = "DIR", conflicts_with = "versus_options")]
    pub versus_mlx_lm: Option<PathBuf>,
    /// With a scaffolded package: also measure the package itself under
    /// these serving options (JSON; '{}' is the first port), interleaved
    /// the same way: the ratios are --options / --versus-options, and the
    /// tokens of both are compared (how an optimization candidate is
    /// decided).
    #[arg(long, value_name = "JSON")]
    pub versus_options: Option<String>,
    /// Prompt lengths to measure, in one run.
    #[arg(long, value_delimiter = ',', default_value = "128,1024,4096", value_name = "N,N,...")]
    pub prompt_tokens: Vec<u32>,
    /// New tokens per run (greedy, never stopping early).
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub gen_tokens: u32,
    /// Timed runs per prompt length.
    #[arg(long, short = 'r', default_value_t = 5, value_name = "N")]
    pub runs: u32,
    /// Untimed runs per prompt length before the timed ones.
    #[arg(long, short = 'w', default_value_t = 1, value_name = "N")]
    pub warmup: u32,
    /// Seed of the prompt token ids and of the bootstrap.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Name the workload (default: from the prompt and generation lengths).
    #[arg(long, value_name = "NAME")]
    pub workload: Option<String>,
    /// A quality-gate result (JSON with "passed": true|false) to bind to
    /// the receipt.
    #[arg(long, value_name = "FILE")]
    pub quality_gate: Option<PathBuf>,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub resamples: u32,
    /// Skip checking that the preloaded BLAS leaves MLX results unchanged.
    #[arg(long)]
    pub no_blas_check: bool,
    /// Write the receipt (JSON) here.
    #[arg(long = "out", short = 'o', alias = "receipt", value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Write a Markdown table here.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
    /// Write an SVG chart of throughput by prompt length here.
    #[arg(long, value_name = "FILE")]
    pub export_svg: Option<PathBuf>,
    /// Print the receipt instead of the summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub harness: HarnessArgs,
}

#[derive(Debug, Args)]
pub struct BenchRunArgs {
    /// The command to benchmark, after `--`; run directly, without a shell,
    /// unless --shell.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// A/B mode: the baseline command line (split with shell-words rules,
    /// never through a shell unless --shell).
    #[arg(long, value_name = "CMD", requires = "candidate")]
    pub baseline: Option<String>,
    /// A/B mode: the candidate command line.
    #[arg(long, value_name = "CMD", requires = "baseline")]
    pub candidate: Option<String>,
    /// Run commands and hooks through /bin/sh -c.
    #[arg(long)]
    pub shell: bool,
    /// Untimed runs (rounds, in A/B mode) before measuring.
    #[arg(long, short = 'w', default_value_t = 0, value_name = "N")]
    pub warmup: u32,
    /// Exactly this many timed runs (per command).
    #[arg(long, short = 'r', value_name = "N")]
    pub runs: Option<u32>,
    /// At least this many timed runs when --runs is not given.
    #[arg(long, short = 'm', default_value_t = 10, value_name = "N")]
    pub min_runs: u32,
    /// At most this many timed runs when --runs is not given.
    #[arg(long, short = 'M', value_name = "N")]
    pub max_runs: Option<u32>,
    /// Keep measuring until each command has run this long in all
    /// (seconds), when --runs is not given.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub min_time: f64,
    /// Run before every run, untimed.
    #[arg(long, value_name = "CMD")]
    pub prepare: Option<String>,
    /// Run once after all runs.
    #[arg(long, value_name = "CMD")]
    pub cleanup: Option<String>,
    /// Kill a run's whole process group after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Order of runs within each A/B round.
    #[arg(long, value_enum, default_value_t = BenchOrder::Alternate)]
    pub order: BenchOrder,
    /// Seed of --order random and of the bootstrap.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// What happens to the command's output.
    #[arg(long, value_enum, default_value_t = BenchOutput::Capture)]
    pub output: BenchOutput,
    /// With --output capture: keep this much of the end of stdout and of
    /// stderr (KiB).
    #[arg(long, default_value_t = 16, value_name = "KIB")]
    pub capture_kib: usize,
    /// Keep measuring when a run fails or times out (recorded in the runs).
    #[arg(long, short = 'i')]
    pub ignore_failure: bool,
    /// Name the workload (default: the command line); baseline and
    /// candidate receipts must name the same one to be compared.
    #[arg(long, value_name = "NAME")]
    pub workload: Option<String>,
    /// An input file of the workload, hashed into the receipt (repeat).
    #[arg(long = "input", value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// The fingerprint of the model being measured (e.g. from inspect).
    #[arg(long, value_name = "FINGERPRINT")]
    pub model_fingerprint: Option<String>,
    /// A quality-gate result (JSON with "passed": true|false) to bind to
    /// the receipt.
    #[arg(long, value_name = "FILE")]
    pub quality_gate: Option<PathBuf>,
    /// Smallest difference an A/B verdict reports, in percent.
    #[arg(long, default_value_t = 1.0, value_name = "PCT")]
    pub min_effect: f64,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub resamples: u32,
    /// Write the receipt (JSON) here.
    #[arg(long = "out", short = 'o', alias = "receipt", value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Write a Markdown table here.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
    /// Write an SVG chart of the run times here.
    #[arg(long, value_name = "FILE")]
    pub export_svg: Option<PathBuf>,
    /// Print the receipt instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchOrder {
    /// Baseline then candidate in every round (ABAB...).
    Alternate,
    /// A seeded random order in every round.
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchOutput {
    /// Keep the end of stdout and stderr (see --capture-kib).
    Capture,
    /// Discard it.
    Null,
    /// Pass it through.
    Inherit,
}

#[derive(Debug, Args)]
pub struct BenchCheckArgs {
    /// Receipts to validate.
    #[arg(value_name = "RECEIPT")]
    pub receipts: Vec<PathBuf>,
    /// The baseline receipt of a promotion.
    #[arg(long, value_name = "RECEIPT", requires = "candidate")]
    pub baseline: Option<PathBuf>,
    /// The candidate receipt of a promotion.
    #[arg(long, value_name = "RECEIPT", requires = "baseline")]
    pub candidate: Option<PathBuf>,
    /// Write the promotion decision as a claim about this technique
    /// (`mlxport.receipt/v1`, read by `mlxport recommend --receipts DIR`).
    #[arg(long, value_name = "FILE", requires = "candidate", requires = "technique")]
    pub claim: Option<PathBuf>,
    /// The technique the candidate applies (a knowledge-base id), for
    /// --claim.
    #[arg(long, value_name = "ID", requires = "claim")]
    pub technique: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct HarnessArgs {
    /// Stop a Python step that runs longer than this (seconds); its whole
    /// process group is killed.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub timeout: u64,
    /// Fix torch, BLAS and OpenMP to this many threads (reproducible runs).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Show the Python steps' progress messages.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

impl HarnessArgs {
    /// The harness settings these flags describe.
    pub fn settings(&self) -> mlxport_harness::jobs::Settings {
        mlxport_harness::jobs::Settings { timeout: std::time::Duration::from_secs(self.timeout), threads: self.threads, verbose: self.verbose }
    }
}

#[derive(Debug, Args)]
pub struct OracleArgs {
    /// A Hugging Face model directory or a GGUF file.
    pub model: PathBuf,
    /// Inputs JSON: {"texts": [...]} or {"token_ids": [[...]]}, optional
    /// "generate", "prompts", "max_length", "add_special_tokens".
    #[arg(long, value_name = "FILE", conflicts_with_all = ["text", "token_ids"])]
    pub inputs: Option<PathBuf>,
    /// An input text (repeat for a padded batch).
    #[arg(long, value_name = "TEXT", conflicts_with = "token_ids")]
    pub text: Vec<String>,
    /// An input as comma-separated token ids (repeatable).
    #[arg(long = "token-ids", value_name = "IDS")]
    pub token_ids: Vec<String>,
    /// An image file or a folder of images (repeatable; image models;
    /// two-tower models such as CLIP also take --text or --token-ids).
    #[arg(long, value_name = "FILE|DIR")]
    pub image: Vec<PathBuf>,
    /// The built-in set of real photographs (scikit-image's samples: RGB,
    /// grayscale and RGBA, PNG and JPEG, several sizes; image models).
    #[arg(long, conflicts_with = "image")]
    pub sample_images: bool,
    /// Greedy new tokens per prompt (decoders): captures generated ids and
    /// the logits of cached decoding and of full recomputation.
    #[arg(long, value_name = "N")]
    pub generate: Option<u32>,
    /// The source's compute dtype: float32, `checkpoint` for the
    /// checkpoint's own, or a torch dtype name. `--dtype` is the previous
    /// release's spelling.
    #[arg(long, alias = "dtype", default_value = "float32")]
    pub compute_dtype: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The tensors file (the manifest is written beside it as
    /// NAME.manifest.json).
    #[arg(long = "out", short = 'o', alias = "output", value_name = "FILE", default_value = "oracle.npz")]
    pub out: PathBuf,
    #[command(flatten)]
    pub harness: HarnessArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScaffoldArgs {
    /// An inspection report (mlxport inspect -o inspection.json), or a
    /// model path to inspect now.
    pub inspection: PathBuf,
    /// The package directory to create; its name is the package name.
    #[arg(long = "out", short = 'o', alias = "output", value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// A scaffolded package directory.
    #[arg(long, value_name = "DIR", required_unless_present_any = ["mlx_lm", "mlx_vlm"], conflicts_with_all = ["mlx_lm", "mlx_vlm"], requires = "weights")]
    pub package: Option<PathBuf>,
    /// A model directory for mlx-lm's own implementation (mlx_lm.load).
    #[arg(long = "mlx-lm", value_name = "DIR", conflicts_with = "mlx_vlm")]
    pub mlx_lm: Option<PathBuf>,
    /// A vision-language model directory for mlx-vlm's own implementation
    /// (mlx_vlm.utils.load_model).
    #[arg(long = "mlx-vlm", value_name = "DIR")]
    pub mlx_vlm: Option<PathBuf>,
    /// Converted weights for --package.
    #[arg(long, value_name = "DIR")]
    pub weights: Option<PathBuf>,
    /// The oracle's tensors file: its manifest gives the inputs.
    #[arg(long, value_name = "FILE", default_value = "oracle.npz")]
    pub oracle: PathBuf,
    #[arg(long = "out", short = 'o', alias = "output", value_name = "FILE", default_value = "capture.npz")]
    pub out: PathBuf,
    /// Skip greedy generation and cache decoding.
    #[arg(long)]
    pub no_generate: bool,
    /// Skip the check that the preloaded BLAS changes no MLX result.
    #[arg(long)]
    pub no_blas_check: bool,
    #[command(flatten)]
    pub harness: HarnessArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ParityArgs {
    #[command(subcommand)]
    pub command: Option<ParityCommand>,
    /// The source model: a Hugging Face directory or a GGUF file.
    #[arg(long, value_name = "MODEL", required = true)]
    pub source: Option<PathBuf>,
    /// The MLX side: `scaffold` (a generated package, given with
    /// --package), `mlx-lm` (mlx-lm's own implementation of --weights) or
    /// `mlx-vlm` (mlx-vlm's, for a vision-language model).
    /// A package directory here is the spelling of the previous release,
    /// still read (deprecated: use --target scaffold --package DIR).
    #[arg(long, value_name = "scaffold|mlx-lm|mlx-vlm", required = true)]
    pub target: Option<String>,
    /// With --target scaffold: the generated package (`mlxport scaffold`).
    #[arg(long, value_name = "PKG")]
    pub package: Option<PathBuf>,
    /// The converted weights (with --target mlx-lm: the model directory
    /// mlx_lm.load reads).
    #[arg(long, value_name = "DIR", required = true)]
    pub weights: Option<PathBuf>,
    /// Inputs JSON: {"texts": [...]} or {"token_ids": [[...]]}, optional
    /// "generate", "prompts", "max_length", "add_special_tokens".
    #[arg(long, value_name = "FILE", conflicts_with_all = ["text", "token_ids", "oracle"])]
    pub inputs: Option<PathBuf>,
    /// An input text (repeat for a padded batch).
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["token_ids", "oracle"])]
    pub text: Vec<String>,
    /// An input as comma-separated token ids (repeatable).
    #[arg(long = "token-ids", value_name = "IDS", conflicts_with = "oracle")]
    pub token_ids: Vec<String>,
    /// An image file or a folder of images (repeatable; image models;
    /// two-tower models such as CLIP also take --text or --token-ids).
    #[arg(long, value_name = "FILE|DIR")]
    pub image: Vec<PathBuf>,
    /// The built-in set of real photographs (scikit-image's samples: RGB,
    /// grayscale and RGBA, PNG and JPEG, several sizes; image models).
    #[arg(long, conflicts_with = "image")]
    pub sample_images: bool,
    /// Greedy new tokens per prompt (decoders): greedy tokens and cached
    /// decoding against full recomputation.
    #[arg(long, value_name = "N")]
    pub generate: Option<u32>,
    /// Reuse an oracle (`mlxport oracle -o FILE`) instead of running the
    /// source again; its inputs are used.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["inputs", "text", "token_ids", "image", "sample_images"])]
    pub oracle: Option<PathBuf>,
    /// Climb every rung instead of stopping at the first divergence.
    #[arg(long)]
    pub all: bool,
    /// Output directory: oracle.npz, capture.npz (with manifests),
    /// parity.json, parity.md, parity.svg.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "parity")]
    pub out: PathBuf,
    /// The source's compute dtype: float32, or `checkpoint` (the dtype it
    /// is stored in). `--dtype` is the previous release's spelling.
    #[arg(long, alias = "dtype", default_value = "float32")]
    pub compute_dtype: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Per-tensor tolerance rule REGEX=atol:..,rtol:..,cosine:.. (repeatable;
    /// later rules win).
    #[arg(long, value_name = "RULE")]
    pub tol: Vec<String>,
    /// Skip the check that the preloaded BLAS changes no MLX result.
    #[arg(long)]
    pub no_blas_check: bool,
    #[command(flatten)]
    pub harness: HarnessArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ParityCommand {
    /// The parity matrix: for every matrix entry (python/matrix/*.json), a
    /// tiny random-weight checkpoint built by transformers from its config
    /// (seed 0, float32), then inspect, weight map, convert, scaffold or
    /// mlx-lm, and every parity rung; entries expected to fail closed must
    /// be refused naming the feature. Exit 1 when an outcome differs from
    /// its expectation.
    Matrix(ParityMatrixArgs),
}

#[derive(Debug, Args)]
pub struct ParityMatrixArgs {
    /// Entries to run, by entry name or model_type (comma-separated or
    /// repeated); default: all.
    #[arg(long, value_name = "NAME,...")]
    pub types: Vec<String>,
    /// The MLX side: the generated package, mlx-lm's implementation (for
    /// the model types mlx-lm has; mlx-vlm's for a vision-language entry),
    /// or both.
    #[arg(long, default_value = "scaffold", value_parser = ["scaffold", "mlx-lm", "both"])]
    pub target: String,
    /// Read the spec files from this directory instead of the ones built
    /// into the binary (python/matrix/*.json).
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
    /// Keep checkpoints, ports and parity reports here (default: a
    /// temporary directory, removed).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Print the JSON report (`mlxport.parity-matrix/v1`) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write the Markdown table here; a file holding the
    /// `<!-- parity-matrix:begin -->` / `<!-- parity-matrix:end -->`
    /// markers (docs/parity-matrix.md) has only that section replaced.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long = "out", short = 'o', alias = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub harness: HarnessArgs,
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

#[derive(Debug, Args)]
pub struct PortArgs {
    /// A Hugging Face model directory or a weights file. With no MODEL (and
    /// no --example), ports the built-in all-MiniLM-L6-v2 from its package.
    #[arg(conflicts_with = "example")]
    pub model: Option<PathBuf>,
    /// Port a built-in example: `minilm` (all-MiniLM-L6-v2, encoder, the
    /// default) or `smollm2` (SmolLM2-135M-Instruct in Hugging Face form,
    /// built from its GGUF package; dense decoder).
    #[arg(long, value_parser = ["minilm", "smollm2"])]
    pub example: Option<String>,
    /// The port directory (default: port-out/NAME in the current
    /// directory). A re-run with the same directory resumes.
    #[arg(long, short = 'o', value_name = "PORT_DIR")]
    pub out: Option<PathBuf>,
    /// The MLX side: mlx-lm when it implements the model type (auto), a
    /// generated package (scaffold), or mlx-vlm's own implementation of a
    /// vision-language model (mlx-vlm).
    #[arg(long, default_value = "auto", value_parser = ["auto", "mlx-lm", "scaffold", "mlx-vlm"])]
    pub target: String,
    /// Dtype of the converted weights' floating tensors (`keep`: as stored).
    #[arg(long, default_value = "keep", value_parser = ["keep", "f32", "f16", "bf16"])]
    pub dtype: String,
    /// Quantize the converted weights after the parity ladder (step
    /// `quantize`, into quantized/), gate the result against the float
    /// weights (step `quality`) and benchmark both (step `bench`); the
    /// package then ships the quantized weights. Implied by any of the
    /// quantization options below (same meaning as in `mlxport quantize`).
    #[arg(long, short = 'q')]
    pub quantize: bool,
    #[command(flatten)]
    pub quant: QuantChoice,
    /// Quality-gate threshold overrides, `cosine_min=0.999,...` (keys as
    /// `mlxport quality --thresholds`).
    #[arg(long, value_name = "K=V,...")]
    pub quality_thresholds: Option<String>,
    /// Language models: score at most this many tokens of the quality
    /// corpus (0: all of it).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub quality_max_tokens: usize,
    /// Generative models: prompt lengths the bench step measures.
    #[arg(long, value_delimiter = ',', default_value = "128,512", value_name = "N,N,...")]
    pub bench_prompt_tokens: Vec<u32>,
    /// Generative models: new tokens per bench run.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub bench_gen_tokens: u32,
    /// Generative models: timed bench runs per prompt length and model.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub bench_runs: u32,
    /// Run the optimization search (`mlxport optimize`) on the converted
    /// weights as step `optimize` (into optimize/): each candidate is made,
    /// gated against the float weights and benchmarked, then kept or
    /// reverted; the package ships the chosen one. Instead of -q (it
    /// chooses the quantization itself); the --quality-* and --bench-*
    /// options apply to every candidate.
    #[arg(long, conflicts_with_all = ["quantize", "bits", "group_size", "mode", "recipe", "rules", "target_bpw"])]
    pub optimize: bool,
    /// With --optimize: what the chosen configuration is best at.
    #[arg(long, default_value = "decode-throughput", value_parser = clap::builder::PossibleValuesParser::new(mlxport_workflow::optimize::Objective::NAMES), requires = "optimize")]
    pub optimize_objective: String,
    /// With --optimize: comma-separated candidates (default: the full
    /// sweep of `mlxport optimize`), e.g. `bf16,q8g64,q4g64,mixed_4_6`.
    #[arg(long, value_name = "LIST", requires = "optimize")]
    pub optimize_candidates: Option<String>,
    /// With --optimize, for decoders: the package's serving switches to
    /// measure on the chosen weights, comma-separated (compile, fuse,
    /// rope-tables, cache-step, pipeline, prefill-chunk, kv8, kv4, rotating,
    /// batch4, speculative), or `none` (default:
    /// every one that applies). The kept ones ship as the package's
    /// serving.json.
    #[arg(long, value_name = "LIST", requires = "optimize")]
    pub optimize_serving: Option<String>,
    /// Accept restricted or unknown license terms (a restricted license
    /// stops the port at `plan` without it; `package` asks for it too).
    #[arg(long)]
    pub accept_license: bool,
    /// Never ask: replace a PORT_DIR that holds the port of another model.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Oracle inputs JSON ({"texts": [...], "generate": N}); default: a
    /// built-in set of sentences (encoders) or prompts (decoders).
    #[arg(long, value_name = "FILE", conflicts_with = "text")]
    pub inputs: Option<PathBuf>,
    /// An oracle input text (repeat for a batch).
    #[arg(long, value_name = "TEXT")]
    pub text: Vec<String>,
    /// An oracle input image, or a folder of images (repeatable; image
    /// models; default: the built-in set of real photographs). Two-tower
    /// models (CLIP, SigLIP) also take --text (default: built-in captions).
    #[arg(long, value_name = "FILE|DIR", conflicts_with = "inputs")]
    pub image: Vec<PathBuf>,
    /// Greedy tokens per prompt for decoders.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub generate: u32,
    /// Memory of the target machine (e.g. 16GB) for the fit verdict.
    #[arg(long, value_name = "SIZE")]
    pub target_memory: Option<String>,
    /// Record the model's absolute path in port.json.
    #[arg(long)]
    pub show_paths: bool,
    /// The Hugging Face repository the model is (`owner/name`), recorded in
    /// port.json's provenance and shown by the report and the model card.
    /// Default: read from a hub cache path (`models--OWNER--NAME/snapshots/COMMIT`).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// The revision of --repo the model is (a commit hash or tag). Default:
    /// the commit of a hub cache path.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    #[command(flatten)]
    pub harness: HarnessArgs,
    /// Print the machine summary (port.json) on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The port directory (port.json and the artifacts of every step).
    pub port_dir: PathBuf,
    /// Output directory; must not exist or be empty.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    /// Accept restricted, unknown or non-redistributable license terms; the
    /// terms are written into the model card.
    #[arg(long)]
    pub accept_license: bool,
    /// Run only the static smoke test (config and safetensors headers), not
    /// the Python load.
    #[arg(long)]
    pub no_python_smoke: bool,
    /// Print the package manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The port directory (port.json and the artifacts of every step).
    pub port_dir: PathBuf,
    /// Output directory for report.md, report.json and report.html
    /// (default: PORT_DIR/report).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print report.json to standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Write the reference pages (rendered from the knowledge base) and the
    /// manifest into the source tree's skill/ directory.
    Render(SkillRenderArgs),
    /// Install the skill for a coding agent, or check an installed copy.
    Install(SkillInstallArgs),
}

#[derive(Debug, Args)]
pub struct SkillRenderArgs {
    /// The source tree (default: the nearest directory upwards holding
    /// skill/SKILL.md).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Only report whether the checked-in pages are current (exit 1 if not).
    #[arg(long)]
    pub check: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["client", "dest"])))]
pub struct SkillInstallArgs {
    /// The agent whose personal skills directory receives the skill
    /// (under $HOME): claude-code ~/.claude/skills, codex ~/.agents/skills,
    /// cursor ~/.cursor/skills, gemini ~/.gemini/skills, windsurf
    /// ~/.codeium/windsurf/skills, copilot ~/.copilot/skills.
    #[arg(long, value_parser = ["claude-code", "codex", "cursor", "gemini", "windsurf", "copilot"])]
    pub client: Option<String>,
    /// A skills directory of your choice; the skill goes into DIR/mlxport.
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
    /// copy: the files themselves; symlink: one copy in
    /// $XDG_DATA_HOME/mlxport/skills (default ~/.local/share/...) and a
    /// symbolic link to it.
    #[arg(long, default_value = "copy", value_parser = ["copy", "symlink"])]
    pub mode: String,
    /// Verify an installed copy file by file against its manifest and this
    /// build's skill; exit 1 naming modified, missing, extra or outdated files.
    #[arg(long)]
    pub check: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The source tree (default: the nearest directory upwards holding
    /// skill/SKILL.md).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Warnings fail the audit too.
    #[arg(long)]
    pub strict: bool,
    /// Show notes as well as errors and warnings.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Check every evidence source; exit 1 naming each rule broken.
    Validate(SourcesValidateArgs),
}

#[derive(Debug, Args)]
pub struct SourcesValidateArgs {
    /// A sources file to validate instead of the built-in registry.
    #[arg(long, value_name = "sources.toml")]
    pub file: Option<PathBuf>,
    /// Also fetch every URL (network; redirects re-validated hop by hop).
    #[arg(long)]
    pub check_urls: bool,
    /// Seconds allowed per request with --check-urls.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    pub timeout: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResearchArgs {
    /// Directory of saved feeds: releases as JSON (GitHub releases API
    /// shape), papers as Atom, RSS or JSON.
    #[arg(long, value_name = "DIR")]
    pub feeds: PathBuf,
    /// The review file to write (Markdown).
    #[arg(long = "out", short = 'o', alias = "output", value_name = "review.md")]
    pub out: PathBuf,
    /// Print the review as JSON (schema mlxport.research-review/v1) too.
    #[arg(long)]
    pub json: bool,
}

/// What the language-model quality gate scores (shared by `quality` and
/// `optimize`).
#[derive(Debug, Args, Clone)]
pub struct LmGateArgs {
    /// Held-out text for perplexity and KL (default: the corpus shipped
    /// with mlxport, about 3,500 tokens in varied registers).
    #[arg(long, value_name = "FILE")]
    pub text: Option<PathBuf>,
    /// Prompts for greedy continuations, one per line, `#` lines skipped
    /// (default: the shipped prompt set).
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<PathBuf>,
    /// Context window when scoring the text (tokens).
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub window: usize,
    /// Tokens scored per window (each window keeps window - stride tokens of context).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub stride: usize,
    /// Greedy tokens generated per prompt.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub generate: usize,
    /// Compute in the checkpoints' own dtypes instead of float32 (by
    /// default every floating parameter, quantized layers' scales and
    /// biases included, is cast to float32 at load: on a CPU MLX
    /// multiplies bfloat16 several times slower, and the gate compares
    /// models, not the precision of their arithmetic). With packed
    /// bfloat16 weights on a CPU the result reflects MLX's bfloat16
    /// quantized products (several percent off the weights); the report
    /// warns when a layer's product is more than 1% off.
    #[arg(long)]
    pub stored_dtype: bool,
    /// With --stored-dtype: quantized layers become float layers holding
    /// their dequantized values in their scales' dtype, so the products
    /// are plain ones in that dtype (bfloat16 rounding) rather than MLX's
    /// packed ones (on a CPU several percent off in bfloat16).
    #[arg(long, requires = "stored_dtype")]
    pub dequantize: bool,
    /// With --package (a decoder package): serve the candidates with these
    /// options of the package (JSON), e.g. '{"kv_bits": 4}' to gate a
    /// quantized KV cache; the text is then scored through the cache.
    #[arg(long, value_name = "JSON")]
    pub candidate_options: Option<String>,
}

impl Default for LmGateArgs {
    /// The gate's own defaults (as the command line's).
    fn default() -> Self {
        let d = mlxport_workflow::optimize::gate::LmSettings::default();
        LmGateArgs {
            text: d.text,
            prompts: d.prompts,
            window: d.window,
            stride: d.stride,
            generate: d.generate,
            stored_dtype: !d.compute_f32,
            dequantize: d.dequantize,
            candidate_options: d.candidate_options,
        }
    }
}

impl LmGateArgs {
    pub fn settings(&self, max_tokens: usize) -> mlxport_workflow::optimize::gate::LmSettings {
        mlxport_workflow::optimize::gate::LmSettings {
            text: self.text.clone(),
            prompts: self.prompts.clone(),
            max_tokens,
            window: self.window,
            stride: self.stride,
            generate: self.generate,
            package: None,
            compute_f32: !self.stored_dtype,
            dequantize: self.dequantize,
            candidate_options: self.candidate_options.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct QualityArgs {
    /// The reference model: an MLX checkpoint in mlx-lm layout (language
    /// models; may be the float conversion) or an encoder directory
    /// (BERT-style, Hugging Face layout).
    #[arg(long, value_name = "MODEL")]
    pub reference: PathBuf,
    /// The candidate model, same layout as the reference (quantized
    /// checkpoints carry their `quantization` entry in config.json).
    /// Repeat to gate several candidates: language models are all run in
    /// one process, the reference's logits computed once.
    #[arg(long, value_name = "MODEL", required = true)]
    pub candidate: Vec<PathBuf>,
    /// Score at most this many tokens of the text (0: all of it).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_tokens: usize,
    #[command(flatten)]
    pub lm: LmGateArgs,
    /// Encoders: sentence set, one per line (default: the shipped set).
    #[arg(long, value_name = "FILE")]
    pub sentences: Option<PathBuf>,
    /// Encoders: retrieval queries, one per line (default: the shipped set).
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
    /// Encoders: neighbours compared per query (overlap@k).
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub retrieval_k: usize,
    /// Image models: an image file or a folder of images (repeatable;
    /// default: every photograph scikit-image ships, each also mirrored).
    #[arg(long, value_name = "FILE|DIR")]
    pub image: Vec<PathBuf>,
    /// The scaffolded package to run the weight sets through. Encoders and
    /// image models: default scaffolded from the reference now. Language
    /// models: a decoder package (its first-port decoding); default mlx-lm.
    #[arg(long, value_name = "DIR")]
    pub package: Option<PathBuf>,
    /// Override thresholds: `ppl_ratio=1.02,kl_mean=0.02,...` (keys:
    /// ppl_ratio, kl_mean, kl_p99, top1, top5, greedy_prefix,
    /// new_degenerate, cosine_mean, cosine_min, overlap, spearman).
    #[arg(long, value_name = "K=V,...")]
    pub thresholds: Option<String>,
    /// Write the report as JSON (schema mlxport.quality/v1).
    #[arg(long = "out", short = 'o', alias = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the report as Markdown.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    #[command(flatten)]
    pub harness: HarnessArgs,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// An MLX float checkpoint (mlx-lm layout), a Hugging Face checkpoint
    /// (converted first: map draft + convert) or an encoder directory.
    pub model: PathBuf,
    /// Where the records, receipts, quality reports and the chosen
    /// checkpoint go; finished candidates found there are reused.
    #[arg(long, short = 'o', alias = "work-dir", value_name = "DIR")]
    pub out: PathBuf,
    /// What the chosen configuration is best at.
    #[arg(long, default_value = "decode-throughput", value_parser = clap::builder::PossibleValuesParser::new(mlxport_workflow::optimize::Objective::NAMES))]
    pub objective: String,
    /// Comma-separated candidates (default: the full sweep): bf16,
    /// qBITSgGROUP (q8g64, q4g32), mixed_3_6 / mixed_4_6 / ..., bpwN
    /// (bpw4.5), mxfp4, nvfp4, mxfp8; `none` keeps the float weights and
    /// measures only the serving switches (with --package).
    #[arg(long, value_name = "LIST")]
    pub candidates: Option<String>,
    /// A scaffolded package (`mlxport scaffold`) that loads these weights:
    /// the quality gate and the benchmark run through it instead of
    /// mlx-lm, and for a decoder its serving switches are measured on the
    /// chosen weights (see --serving).
    #[arg(long, value_name = "DIR")]
    pub package: Option<PathBuf>,
    /// With a decoder --package: the serving switches to measure,
    /// comma-separated (compile, fuse, rope-tables, cache-step, pipeline,
    /// prefill-chunk, kv8, kv4, rotating, batch4, speculative), or `none`
    /// (default: every one that applies). Each
    /// runs side by side with the first port, interleaved; exact switches
    /// must keep every greedy token, the quantized KV caches must pass the
    /// quality gate; the kept ones are written to serving.json in the work
    /// directory (copy it into the package to serve with them).
    #[arg(long, value_name = "LIST", requires = "package")]
    pub serving: Option<String>,
    /// Quality gate: score at most this many tokens of the corpus (0: all).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_tokens: usize,
    #[command(flatten)]
    pub lm: LmGateArgs,
    /// Quality gate thresholds: `ppl_ratio=1.02,kl_mean=0.02,...` (see
    /// `mlxport quality --help`).
    #[arg(long, value_name = "K=V,...")]
    pub thresholds: Option<String>,
    /// Benchmark: prompt lengths (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "128", value_name = "N,...")]
    pub prompt_tokens: Vec<u32>,
    /// Benchmark: new tokens per run.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub gen_tokens: u32,
    /// Benchmark: timed runs per prompt length.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: u32,
    /// Benchmark: untimed warmup runs per prompt length.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub warmup: u32,
    /// Measure every candidate again even when a finished record with the
    /// same inputs exists.
    #[arg(long)]
    pub no_reuse: bool,
    /// Keep every candidate checkpoint (default: only the chosen one).
    #[arg(long)]
    pub keep_checkpoints: bool,
    /// Do not record the validated result in the local store that
    /// `mlxport recommend` reads.
    #[arg(long)]
    pub no_store: bool,
    #[command(flatten)]
    pub harness: HarnessArgs,
    /// Print optimize.json instead of the table.
    #[arg(long)]
    pub json: bool,
}
