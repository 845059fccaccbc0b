//! The generation benchmark, written once: MLX generation through the
//! Python harness on an mlx-lm model directory or a scaffolded package,
//! each through its own serving loop, timed per prompt length, as a
//! receipt (`mlxport.bench-receipt/v1`, workload `generate`); a package
//! can be measured side by side with mlx-lm in one process
//! (`mlxport.bench-versus/v1`). `mlxport bench generate`, the port's
//! `bench` step and every `optimize` candidate use it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::error::{bail, Context, Result};
use mlxport_bench::env::{Environment, Source};
use mlxport_bench::generate::{GenerateBench, Output};
use mlxport_bench::receipt::{QualityGate, Receipt};
use mlxport_bench::stats::DEFAULT_SEED;
use mlxport_harness::jobs::{GenerateBenchRequest, Harness, Settings as HarnessSettings, Target};

/// What to measure.
#[derive(Clone, Debug)]
pub struct GenerateRequest {
    /// An mlx-lm model directory, or a scaffolded package (with `weights`).
    pub model: PathBuf,
    /// The weights a scaffolded package loads.
    pub weights: Option<PathBuf>,
    /// A package's serving options, JSON (`None`: its own defaults).
    pub options: Option<String>,
    /// Also measure mlx-lm's own generation loop on this directory, in the
    /// same process, interleaved run by run with the package.
    pub versus_mlx_lm: Option<PathBuf>,
    /// Also measure the package under these serving options (JSON), in the
    /// same process, interleaved: the candidate is `options`, the baseline
    /// these.
    pub versus_options: Option<String>,
    pub prompt_tokens: Vec<u32>,
    /// New tokens per run (at least 2: decoding is timed from the second).
    pub gen_tokens: u32,
    pub runs: u32,
    pub warmup: u32,
    /// Seed of the prompts' token ids and of the bootstrap (default
    /// [`DEFAULT_SEED`]).
    pub seed: Option<u64>,
    /// The receipt's workload name.
    pub workload: Option<String>,
    /// A quality report whose verdict the receipt carries.
    pub quality_gate: Option<PathBuf>,
    /// Bootstrap resamples for the confidence intervals.
    pub resamples: u32,
    /// Check once that the preloaded BLAS changes no MLX result.
    pub blas_check: bool,
    pub harness: HarnessSettings,
}

impl GenerateRequest {
    /// A request with the defaults of `bench generate` (1 warmup, 10,000
    /// resamples, BLAS checked).
    pub fn new(model: PathBuf, prompt_tokens: Vec<u32>, gen_tokens: u32, runs: u32, harness: HarnessSettings) -> GenerateRequest {
        GenerateRequest {
            model,
            weights: None,
            options: None,
            versus_mlx_lm: None,
            versus_options: None,
            prompt_tokens,
            gen_tokens,
            runs,
            warmup: 1,
            seed: None,
            workload: None,
            quality_gate: None,
            resamples: 10_000,
            blas_check: true,
            harness,
        }
    }
}

/// A measured receipt and what it ran on.
pub struct Generated {
    pub receipt: Receipt,
    /// With `versus_mlx_lm`: mlx-lm's receipt and the paired ratios.
    pub versus: Option<mlxport_bench::generate::Versus>,
    pub implementation: String,
    pub device: String,
    pub blas: String,
}

/// Whether the settings can make a benchmark: positive prompt lengths, at
/// least 2 new tokens (the first comes from the prefill; decoding is timed
/// from the second) and at least one run. Callers word the refusal with
/// their own flags; [`check_settings`] words it with `bench generate`'s.
pub fn valid_settings(prompt_tokens: &[u32], gen_tokens: u32, runs: u32) -> bool {
    !prompt_tokens.is_empty() && !prompt_tokens.contains(&0) && gen_tokens >= 2 && runs >= 1
}

/// Refuse settings that cannot make a benchmark.
pub fn check_settings(prompt_tokens: &[u32], gen_tokens: u32, runs: u32) -> Result<()> {
    if prompt_tokens.is_empty() || prompt_tokens.contains(&0) {
        bail!("--prompt-tokens: give positive lengths, e.g. 128,1024,4096");
    }
    if gen_tokens < 2 {
        bail!("--gen-tokens must be at least 2 (the first token comes from the prefill; decoding is timed from the second)");
    }
    if runs == 0 {
        bail!("--runs and --resamples must be at least 1");
    }
    Ok(())
}

fn target_of(req: &GenerateRequest) -> Result<Target> {
    let is_package = req.model.join("__init__.py").is_file();
    Ok(match (is_package, &req.weights) {
        (true, Some(w)) => Target::Package { package: req.model.clone(), weights: w.clone() },
        (true, None) => bail!("{} is a Python package: give --weights DIR with the weights it loads", req.model.display()),
        (false, None) if req.model.join("config.json").is_file() => Target::MlxLm { model: req.model.clone() },
        (false, None) => bail!("{}: not an mlx-lm model directory (no config.json) nor a scaffolded package (no __init__.py)", req.model.display()),
        (false, Some(_)) => bail!("--weights goes with a scaffolded package; {} is not one (no __init__.py)", req.model.display()),
    })
}

/// Measure generation as `req` describes with a new harness (BLAS checked
/// once when asked) and build its receipt; writes and prints nothing.
pub fn measure(req: &GenerateRequest) -> Result<Generated> {
    check_settings(&req.prompt_tokens, req.gen_tokens, req.runs)?;
    if req.resamples == 0 {
        bail!("--runs and --resamples must be at least 1");
    }
    let target = target_of(req)?;
    if (req.options.is_some() || req.versus_mlx_lm.is_some() || req.versus_options.is_some()) && !matches!(target, Target::Package { .. }) {
        bail!("--options, --versus-mlx-lm and --versus-options go with a scaffolded package (and --weights)");
    }
    if req.versus_mlx_lm.is_some() && req.versus_options.is_some() {
        bail!("give --versus-mlx-lm or --versus-options, not both");
    }
    if let Some(v) = &req.versus_mlx_lm {
        if !v.join("config.json").is_file() {
            bail!("--versus-mlx-lm {}: not an mlx-lm model directory (no config.json)", v.display());
        }
    }
    for (flag, o) in [("--options", &req.options), ("--versus-options", &req.versus_options)] {
        if let Some(o) = o {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(o).with_context(|| format!("{flag}: not a JSON object: {o}"))?;
        }
    }
    let weights_dir = match &target {
        Target::Package { weights, .. } => weights.clone(),
        Target::MlxLm { model } | Target::MlxVlm { model } => model.clone(),
    };
    let fingerprint = mlxport_intake::inspect(&weights_dir, &mlxport_intake::Options::default()).ok().map(|i| i.model.fingerprint);
    let quality_gate = req.quality_gate.as_deref().map(QualityGate::load).transpose().context("--quality-gate")?;
    let mut h = Harness::new(req.harness.clone())?;
    if req.blas_check {
        crate::check_blas(&mut h, "measuring")?;
    }
    if std::io::stderr().is_terminal() {
        eprintln!(
            "measuring generation: prompts of {:?} tokens, {} new tokens, {} warmup + {} runs each ...",
            req.prompt_tokens, req.gen_tokens, req.warmup, req.runs
        );
    }
    let (receipt, versus) = run_versus(&h, target, req, fingerprint, quality_gate)?;
    Ok(Generated { receipt, versus: versus.1, implementation: versus.0.implementation, device: versus.0.device, blas: h.blas.describe() })
}

/// Measure with a harness the caller holds: the receipt, the harness's
/// raw output and, with `versus_mlx_lm` or `versus_options`, the other
/// side's receipt with the paired ratios.
pub fn run_versus(
    h: &Harness,
    target: Target,
    req: &GenerateRequest,
    fingerprint: Option<String>,
    quality_gate: Option<QualityGate>,
) -> Result<(Receipt, (Output, Option<mlxport_bench::generate::Versus>))> {
    let (receipt, output) = run(h, target, req, fingerprint.clone(), quality_gate)?;
    let versus = match &output.versus {
        Some(v) => {
            let seed = req.seed.unwrap_or(DEFAULT_SEED);
            let settings = mlxport_bench::generate::settings(req.runs, req.warmup, seed, req.resamples, Some(h.settings.timeout.as_secs_f64()));
            let baseline = Receipt::from_generate(GenerateBench {
                environment: Environment::capture(),
                source: Source::capture(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))),
                workload_name: req.workload.clone(),
                model_fingerprint: fingerprint,
                settings,
                output: (**v).clone(),
                quality_gate: None,
            })?;
            Some(mlxport_bench::generate::Versus::new(receipt.clone(), baseline, &output)?)
        }
        None => None,
    };
    Ok((receipt, (output, versus)))
}

/// Measure with a harness the caller holds and build the receipt.
pub fn run(h: &Harness, target: Target, req: &GenerateRequest, fingerprint: Option<String>, quality_gate: Option<QualityGate>) -> Result<(Receipt, Output)> {
    let seed = req.seed.unwrap_or(DEFAULT_SEED);
    let bench = GenerateBenchRequest {
        target,
        prompt_tokens: req.prompt_tokens.clone(),
        gen_tokens: req.gen_tokens,
        runs: req.runs,
        warmup: req.warmup,
        seed,
        options: req.options.clone(),
        versus_mlx_lm: req.versus_mlx_lm.clone(),
        versus_options: req.versus_options.clone(),
    };
    let raw = h.bench_generate(&bench)?;
    let output = Output::parse(&raw)?;
    let got: Vec<u32> = output.results.iter().map(|r| r.prompt_tokens).collect();
    if got != req.prompt_tokens || output.results.iter().any(|r| r.runs.len() != req.runs as usize) {
        bail!("the generation benchmark measured prompt lengths {got:?} with other run counts than asked ({:?}, {} runs)", req.prompt_tokens, req.runs);
    }
    let settings = mlxport_bench::generate::settings(req.runs, req.warmup, seed, req.resamples, Some(h.settings.timeout.as_secs_f64()));
    let receipt = Receipt::from_generate(GenerateBench {
        environment: Environment::capture(),
        source: Source::capture(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))),
        workload_name: req.workload.clone(),
        model_fingerprint: fingerprint,
        settings,
        output: output.clone(),
        quality_gate,
    })?;
    Ok((receipt, output))
}

/// The receipt as the JSON `bench generate -o` writes.
pub fn receipt_json(r: &Receipt) -> String {
    mlxport_bench::export::Export::render(&mlxport_bench::export::Json, r)
}

/// Write a receipt's JSON atomically.
pub fn write_receipt(r: &Receipt, path: &Path) -> Result<()> {
    if let Some(p) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    mlxport_util::fs::write_atomic(path, receipt_json(r).as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// What to measure of an encoder package: sentences/s over a sentence set
/// at several batch sizes, all in one process, interleaved.
#[derive(Clone, Debug)]
pub struct EmbedRequest {
    pub package: PathBuf,
    pub weights: PathBuf,
    /// One configuration per size; the first is the reference of the ratios.
    pub batch_sizes: Vec<u32>,
    /// Sort by length before batching (batch sizes above 1).
    pub bucket: bool,
    /// Sentences, one per line (default: the shipped sentence and query sets).
    pub sentences: Option<PathBuf>,
    pub runs: u32,
    pub warmup: u32,
    pub seed: Option<u64>,
    pub resamples: u32,
    pub workload: Option<String>,
    pub quality_gate: Option<PathBuf>,
    pub harness: HarnessSettings,
}

/// An image-model package's throughput (`images` workload).
#[derive(Clone, Debug)]
pub struct ImagesRequest {
    pub package: PathBuf,
    pub weights: PathBuf,
    /// One benchmark per size.
    pub batch_sizes: Vec<u32>,
    /// Image files or folders (empty: scikit-image's photographs).
    pub images: Vec<PathBuf>,
    /// Pixel arrays per timed pass (the images cycled).
    pub inputs: u32,
    pub runs: u32,
    pub warmup: u32,
    pub seed: Option<u64>,
    pub resamples: u32,
    pub workload: Option<String>,
    pub quality_gate: Option<PathBuf>,
    pub harness: HarnessSettings,
}

/// Measure an image-model package's images/s by batch size and build the
/// receipt (`images` workload, one benchmark per batch size).
pub fn images(req: &ImagesRequest) -> Result<Receipt> {
    if req.batch_sizes.is_empty() || req.batch_sizes.contains(&0) || req.inputs == 0 {
        bail!("give positive batch sizes and a positive input count");
    }
    if req.runs == 0 || req.resamples == 0 {
        bail!("--runs and --resamples must be at least 1");
    }
    let pb = PackageBench::start(&req.package, &req.weights, req.quality_gate.as_deref(), &req.harness)?;
    let raw = pb.harness.bench_vision(&mlxport_harness::jobs::ImagesBenchRequest {
        package: req.package.clone(),
        weights: req.weights.clone(),
        batch_sizes: req.batch_sizes.clone(),
        images: req.images.clone(),
        inputs: req.inputs,
        runs: req.runs,
        warmup: req.warmup,
    })?;
    let output: serde_json::Value = serde_json::from_slice(&raw).context("the image benchmark's JSON")?;
    Ok(Receipt::from_images(pb.finish(output, req.workload.clone(), req.runs, req.warmup, req.seed, req.resamples))?)
}

/// What a package benchmark (`bench encoder`, `bench images`) checks and
/// reads before it runs: the package is one, the weights' fingerprint, the
/// quality gate to bind, and the harness.
struct PackageBench {
    fingerprint: Option<String>,
    quality_gate: Option<QualityGate>,
    harness: Harness,
}

impl PackageBench {
    fn start(package: &Path, weights: &Path, quality_gate: Option<&Path>, harness: &HarnessSettings) -> Result<PackageBench> {
        if !package.join("__init__.py").is_file() {
            bail!("{}: not a scaffolded package (no __init__.py)", package.display());
        }
        Ok(PackageBench {
            fingerprint: mlxport_intake::inspect(weights, &mlxport_intake::Options::default()).ok().map(|i| i.model.fingerprint),
            quality_gate: quality_gate.map(QualityGate::load).transpose().context("--quality-gate")?,
            harness: Harness::new(harness.clone())?,
        })
    }

    /// The receipt's input: the harness's JSON with the environment, the
    /// settings (bootstrap seed and resamples) and what `start` read.
    fn finish(
        self,
        output: serde_json::Value,
        workload: Option<String>,
        runs: u32,
        warmup: u32,
        seed: Option<u64>,
        resamples: u32,
    ) -> mlxport_bench::embed::EmbedBench {
        let timeout = Some(self.harness.settings.timeout.as_secs_f64());
        mlxport_bench::embed::EmbedBench {
            environment: Environment::capture(),
            source: Source::capture(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))),
            workload_name: workload,
            model_fingerprint: self.fingerprint,
            settings: mlxport_bench::generate::settings(runs, warmup, seed.unwrap_or(DEFAULT_SEED), resamples, timeout),
            output,
            quality_gate: self.quality_gate,
        }
    }
}

/// Measure an encoder package's sentence embeddings and build the receipt
/// (`embed` workload, one benchmark per batch size).
pub fn embed(req: &EmbedRequest) -> Result<Receipt> {
    if req.batch_sizes.is_empty() || req.batch_sizes.contains(&0) {
        bail!("--batch-sizes: give positive sizes, e.g. 1,8,32");
    }
    if req.runs == 0 || req.resamples == 0 {
        bail!("--runs and --resamples must be at least 1");
    }
    let pb = PackageBench::start(&req.package, &req.weights, req.quality_gate.as_deref(), &req.harness)?;
    let work = tempfile::Builder::new().prefix("mlxport-embed-").tempdir()?;
    let sentences = match &req.sentences {
        Some(p) => p.clone(),
        None => {
            let p = work.path().join("sentences.txt");
            std::fs::write(&p, format!("{}\n{}", mlxport_quality::data::SENTENCES, mlxport_quality::data::QUERIES))?;
            p
        }
    };
    let options: Vec<String> = req.batch_sizes.iter().map(|b| serde_json::json!({"batch_size": b, "bucket": req.bucket && *b > 1}).to_string()).collect();
    let raw = pb.harness.bench_encoder(&mlxport_harness::jobs::EncoderBenchRequest {
        package: req.package.clone(),
        weights: req.weights.clone(),
        options,
        versus_options: None,
        sentences,
        runs: req.runs,
        warmup: req.warmup,
    })?;
    let output: serde_json::Value = serde_json::from_slice(&raw).context("the sentence-embedding benchmark's JSON")?;
    Ok(Receipt::from_embed(pb.finish(output, req.workload.clone(), req.runs, req.warmup, req.seed, req.resamples))?)
}
