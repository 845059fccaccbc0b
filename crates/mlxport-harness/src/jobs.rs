//! The steps that run Python: the source oracle, the MLX capture and the
//! BLAS check, each a [`Job`] over an embedded script whose result is read
//! back through its manifest and verified against its tensors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{json_value, tempdir, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::blas::Blas;
use crate::env::PythonEnv;
use crate::manifest::{manifest_path, Manifest};
use crate::runner::Job;
use crate::scaffold::Family;

/// Settings shared by every step.
#[derive(Clone, Debug)]
pub struct Settings {
    pub timeout: Duration,
    /// Fix every math library to this many threads.
    pub threads: Option<usize>,
    /// Copy the steps' progress messages to stderr.
    pub verbose: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { timeout: Duration::from_secs(1800), threads: None, verbose: false }
    }
}

/// The project's Python environment with the embedded scripts written out.
pub struct Harness {
    pub env: PythonEnv,
    pub blas: Blas,
    pub settings: Settings,
    scripts: tempfile::TempDir,
}

/// What the oracle runs on.
#[derive(Clone, Debug)]
pub struct OracleRequest {
    pub model: PathBuf,
    /// The inputs JSON (see [`Inputs`]).
    pub inputs: Inputs,
    pub out: PathBuf,
    /// `float32` (default) or `checkpoint`.
    pub dtype: String,
    pub seed: u64,
}

/// Inputs of an oracle run, as written to `inputs.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texts: Option<Vec<String>>,
    /// Image files or folders of them (image models); empty: the built-in
    /// set of real photographs (scikit-image's samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<PathBuf>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<Vec<u32>>>,
    /// Greedy new tokens per prompt (decoders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<u32>,
    /// Prompts for generation (default: the texts / token ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_special_tokens: Option<bool>,
    /// Rung 8's cases (batches, a long input, one token, special tokens
    /// only); default on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edges: Option<bool>,
    /// The cap on rung 8's long input, in tokens (default 1024; the input is
    /// the configuration's maximum positions less a margin when smaller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_tokens: Option<u32>,
    /// The pieces a decoder's long input is prefilled into its KV cache in,
    /// in tokens (default: at most 512, and at least 3 pieces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_chunk: Option<u32>,
}

impl Inputs {
    pub fn read(path: &Path) -> Result<Inputs> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, format!("cannot read {}", path.display()), e))?;
        let i: Inputs = serde_json::from_str(&text).map_err(|e| {
            Error::invalid_because(
                format!(
                    "{}: not a valid inputs file (keys: texts, images, token_ids, generate, prompts, max_length, add_special_tokens, edges, long_tokens, long_chunk)",
                    path.display()
                ),
                e,
            )
        })?;
        i.validate().map_err(|e| Error::invalid_because(format!("{}", path.display()), e))?;
        Ok(i)
    }

    pub fn validate(&self) -> Result<()> {
        if let Some(images) = &self.images {
            // Two-tower models (CLIP, SigLIP) read texts or token ids too.
            if self.texts.is_some() && self.token_ids.is_some() {
                return Err(Error::invalid("give texts or token_ids, not both"));
            }
            if self.token_ids.as_ref().is_some_and(|t| t.is_empty() || t.iter().any(|s| s.is_empty())) {
                return Err(Error::invalid("give a non-empty list of non-empty token id sequences"));
            }
            for p in images {
                if !p.exists() {
                    return Err(Error::invalid(format!("image {}: no such file or folder", p.display())));
                }
            }
            return Ok(());
        }
        match (&self.texts, &self.token_ids) {
            (Some(t), None) if !t.is_empty() => {}
            (None, Some(t)) if !t.is_empty() && t.iter().all(|s| !s.is_empty()) => {}
            (Some(_), Some(_)) => return Err(Error::invalid("give texts or token_ids, not both")),
            _ => return Err(Error::invalid("give a non-empty list of texts or of token id sequences")),
        }
        if self.long_chunk == Some(0) {
            return Err(Error::invalid("long_chunk must be at least 1 token"));
        }
        if self.long_tokens == Some(0) {
            return Err(Error::invalid("long_tokens must be at least 1 token"));
        }
        Ok(())
    }
}

/// The MLX side to capture.
#[derive(Clone, Debug)]
pub enum Target {
    /// A scaffolded package and its weights.
    Package { package: PathBuf, weights: PathBuf },
    /// mlx-lm's own implementation of a model directory.
    MlxLm { model: PathBuf },
    /// mlx-vlm's own implementation of a vision-language model directory.
    MlxVlm { model: PathBuf },
}

#[derive(Clone, Debug)]
pub struct CaptureRequest {
    pub target: Target,
    /// The oracle's tensors file; its manifest gives the inputs.
    pub oracle: PathBuf,
    pub out: PathBuf,
    pub generate: bool,
}

/// A generation benchmark (`bench_generate.py`).
#[derive(Clone, Debug)]
pub struct GenerateBenchRequest {
    pub target: Target,
    pub prompt_tokens: Vec<u32>,
    pub gen_tokens: u32,
    pub runs: u32,
    pub warmup: u32,
    pub seed: u64,
    /// A package's serving options (JSON; `None`: the package's defaults).
    pub options: Option<String>,
    /// Also measure mlx-lm on this directory, interleaved with the package.
    pub versus_mlx_lm: Option<PathBuf>,
    /// Also measure the package under these serving options (JSON),
    /// interleaved with it.
    pub versus_options: Option<String>,
}

/// Sentence-embedding throughput of an encoder package
/// (`bench_encoder.py`).
#[derive(Clone, Debug)]
pub struct EncoderBenchRequest {
    pub package: PathBuf,
    pub weights: PathBuf,
    /// The measured sides' serving options (JSON each; the first is the
    /// candidate).
    pub options: Vec<String>,
    /// The other side's, interleaved with it (`None`: one side only).
    pub versus_options: Option<String>,
    pub sentences: PathBuf,
    pub runs: u32,
    pub warmup: u32,
}

/// An image-model package's throughput by batch size (`bench_vision.py`).
#[derive(Clone, Debug)]
pub struct ImagesBenchRequest {
    pub package: PathBuf,
    pub weights: PathBuf,
    pub batch_sizes: Vec<u32>,
    /// Image files or folders (empty: scikit-image's photographs).
    pub images: Vec<PathBuf>,
    /// Pixel arrays per pass (the images cycled).
    pub inputs: u32,
    pub runs: u32,
    pub warmup: u32,
}

/// A serving mode of a decoder package against its plain loop
/// (`bench_modes.py`): batched generation or speculative decoding.
#[derive(Clone, Debug)]
pub struct ModeBenchRequest {
    pub package: PathBuf,
    pub weights: PathBuf,
    /// `batch` or `speculative`.
    pub mode: String,
    pub batch: u32,
    pub draft: Option<PathBuf>,
    pub draft_tokens: u32,
    pub prompt_tokens: u32,
    pub gen_tokens: u32,
    pub runs: u32,
    pub warmup: u32,
    pub seed: u64,
}

/// A profile of a decoder as served (`profile_serving.py`; a module named
/// `profile` would shadow the standard library's, which cProfile imports).
#[derive(Clone, Debug)]
pub struct ProfileRequest {
    pub target: Target,
    /// A package's serving options (JSON; `None`: its defaults).
    pub options: Option<String>,
    pub prompt_tokens: Vec<u32>,
    pub contexts: Vec<u32>,
    pub gen_tokens: u32,
    pub runs: u32,
    pub seed: u64,
}

/// The result of comparing MLX with and without the preloaded BLAS.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlasCheck {
    pub library: String,
    pub ok: bool,
    /// Largest |a - b| / max|b| over the checked tensors.
    pub max_rel_error: f64,
    pub min_cosine: f64,
    pub tolerance: f64,
    pub cached: bool,
}

pub const BLAS_TOLERANCE: f64 = 1e-5;

/// What [`Harness::verify_blas`] found: the BLAS the harness runs MLX with
/// now, and the check, when one ran.
#[derive(Clone, Debug, Serialize)]
pub struct BlasVerdict {
    /// [`Blas::describe`] after the check (`no BLAS preload: ...` when the
    /// preload was dropped or there was none).
    pub blas: String,
    /// The check; `None` when there was no preload to check.
    pub check: Option<BlasCheck>,
}

impl BlasVerdict {
    /// Whether the preload changed results and the harness now runs
    /// without it.
    pub fn dropped(&self) -> bool {
        self.check.as_ref().is_some_and(|c| !c.ok)
    }

    /// The note to show when the preload was dropped, `doing` saying what
    /// goes on without it (`running`, `measuring`, `ran`):
    /// `OpenBLAS changed MLX results (max relative change 3.1e-3); running without it`.
    pub fn note(&self, doing: &str) -> Option<String> {
        let c = self.check.as_ref().filter(|c| !c.ok)?;
        Some(format!("OpenBLAS changed MLX results (max relative change {:.1e}); {doing} without it", c.max_rel_error))
    }

    /// One line for a report: the BLAS in use and how it was checked
    /// (`preloading X (checked, cached: max relative change 1.0e-7)`), or
    /// the [`note`](Self::note) when the preload was dropped.
    pub fn summary(&self, doing: &str) -> String {
        match &self.check {
            None => self.blas.clone(),
            Some(c) if c.ok => format!("{} (checked{}: max relative change {:.1e})", self.blas, if c.cached { ", cached" } else { "" }, c.max_rel_error),
            Some(_) => self.note(doing).unwrap_or_default(),
        }
    }
}

impl Harness {
    pub fn new(settings: Settings) -> Result<Harness> {
        let env = PythonEnv::locate()?;
        let scripts = tempfile::Builder::new()
            .prefix("mlxport-harness-")
            .tempdir()
            .map_err(|e| Error::io(&std::env::temp_dir(), format!("cannot create a temporary directory in {}", std::env::temp_dir().display()), e))?;
        crate::scripts::materialize(scripts.path())?;
        Ok(Harness { env, blas: Blas::detect(), settings, scripts })
    }

    pub(crate) fn job(&self, script: &str) -> Job {
        let mut j = Job::new(self.env.python())
            .arg(self.scripts.path().join(script))
            .timeout(self.settings.timeout)
            .echo_stderr(self.settings.verbose)
            .cwd(self.scripts.path());
        if let Some(n) = self.settings.threads {
            j = j.threads(n);
        }
        j
    }

    pub(crate) fn mlx_job(&self, script: &str) -> Job {
        let j = self.job(script);
        match self.blas.path() {
            Some(p) => j.preload(p),
            None => j,
        }
    }

    /// Run the source model with transformers + torch and capture it.
    /// Refuses models that need their own code, before running anything.
    pub fn oracle(&self, req: &OracleRequest) -> Result<Manifest> {
        req.inputs.validate()?;
        let insp = mlxport_intake::inspect(&req.model, &mlxport_intake::Options::default())
            .map_err(|e| Error::invalid_because(format!("cannot inspect {}", req.model.display()), e))?;
        let iv = json_value("the inspection", &insp)?;
        let family = oracle_family(&iv)?;
        let fingerprint = iv["model"]["fingerprint"].as_str().unwrap_or_default().to_string();
        let dir = tempdir()?;
        let inputs = dir.path().join("inputs.json");
        let body = serde_json::to_vec_pretty(&req.inputs).map_err(|e| Error::invalid_because("the inputs do not serialize as JSON", e))?;
        std::fs::write(&inputs, body).map_err(|e| Error::io(&inputs, format!("cannot write {}", inputs.display()), e))?;
        let model = std::fs::canonicalize(&req.model).map_err(|e| Error::io(&req.model, format!("{} does not exist", req.model.display()), e))?;
        let out = absolute(&req.out)?;
        let job = self
            .job("oracle.py")
            .arg("--model")
            .arg(&model)
            .arg("--inputs")
            .arg(&inputs)
            .arg("--out")
            .arg(&out)
            .arg("--family")
            .arg(family.name())
            .arg("--dtype")
            .arg(&req.dtype)
            .arg("--seed")
            .arg(req.seed.to_string())
            .arg("--fingerprint")
            .arg(&fingerprint);
        job.run()?.check("the oracle (transformers)")?;
        read_verified(&out)
    }

    /// Run the MLX side on the oracle's inputs.
    pub fn capture(&self, req: &CaptureRequest) -> Result<Manifest> {
        let oman = manifest_path(&req.oracle);
        Manifest::read(&oman)?;
        let out = absolute(&req.out)?;
        let mut job = self.mlx_job("capture.py").arg("--oracle-manifest").arg(absolute(&oman)?).arg("--out").arg(&out);
        job = with_target(job, &req.target)?;
        if !req.generate {
            job = job.arg("--no-generate");
        }
        job.run()?.check("the MLX capture")?;
        read_verified(&out)
    }

    /// Build the parity matrix's tiny random-weight checkpoints
    /// (`matrix_build.py`, one process for all of them): `specs` is a JSON
    /// list of matrix entries, each built into `out`/NAME; the per-entry
    /// outcome is returned (`result` JSON list).
    pub fn build_checkpoints(&self, specs: &Path, out: &Path) -> Result<Value> {
        let dir = tempdir()?;
        let result = dir.path().join("built.json");
        let job = self.job("matrix_build.py").arg("--specs").arg(absolute(specs)?).arg("--out").arg(absolute(out)?).arg("--result").arg(&result);
        job.run()?.check("the matrix checkpoint builder (transformers)")?;
        let text = std::fs::read_to_string(&result).map_err(|e| Error::io(&result, format!("the builder wrote no {}", result.display()), e))?;
        serde_json::from_str(&text).map_err(|e| Error::invalid_because("the builder's output is not JSON", e))
    }

    /// The static rungs of a parity run (`probe.py`): the configuration
    /// transformers reads from `source` and the one the target reads, the
    /// target model's parameters and the tensors its loader hands to
    /// `load_weights` (intercepted: nothing is loaded, nothing runs).
    pub fn probe(&self, source: &Path, target: &Target) -> Result<Value> {
        self.probe_planned(source, target, None)
    }

    /// [`Harness::probe`] with the weights a map would write (`planned`:
    /// JSON `{name: [shape, mlx dtype]}`) standing in for the target's
    /// safetensors files: what the target would load, before anything is
    /// converted. A target that cannot build the model is reported in the
    /// output's `target_error`.
    pub fn probe_planned(&self, source: &Path, target: &Target, planned: Option<&Path>) -> Result<Value> {
        let dir = tempdir()?;
        let out = dir.path().join("probe.json");
        let source = std::fs::canonicalize(source).map_err(|e| Error::io(source, format!("{} does not exist", source.display()), e))?;
        let mut job = self.mlx_job("probe.py").arg("--source").arg(&source).arg("--out").arg(&out);
        if let Some(p) = planned {
            job = job.arg("--planned").arg(absolute(p)?);
        }
        job = with_target(job, target)?;
        job.run()?.check("the configuration and weights probe")?;
        let text = std::fs::read_to_string(&out).map_err(|e| Error::io(&out, format!("the probe wrote no {}", out.display()), e))?;
        serde_json::from_str(&text).map_err(|e| Error::invalid_because("the probe's output is not JSON", e))
    }

    /// Benchmark generation on MLX: the step's JSON output
    /// (`mlxport.bench-generate/v1`), unparsed.
    pub fn bench_generate(&self, req: &GenerateBenchRequest) -> Result<Vec<u8>> {
        let dir = tempdir()?;
        let out = dir.path().join("bench-generate.json");
        let lengths: Vec<String> = req.prompt_tokens.iter().map(u32::to_string).collect();
        let mut job = self
            .mlx_job("bench_generate.py")
            .arg("--prompt-tokens")
            .arg(lengths.join(","))
            .arg("--gen-tokens")
            .arg(req.gen_tokens.to_string())
            .arg("--runs")
            .arg(req.runs.to_string())
            .arg("--warmup")
            .arg(req.warmup.to_string())
            .arg("--seed")
            .arg(req.seed.to_string())
            .arg("--out")
            .arg(&out);
        job = with_target(job, &req.target)?;
        if let Some(o) = &req.options {
            job = job.arg("--options").arg(o);
        }
        if let Some(v) = &req.versus_mlx_lm {
            job = job.arg("--versus-mlx-lm").arg(absolute(v)?);
        }
        if let Some(o) = &req.versus_options {
            job = job.arg("--versus-options").arg(o);
        }
        job.run()?.check("the generation benchmark (MLX)")?;
        std::fs::read(&out).map_err(|e| Error::io(&out, format!("the generation benchmark wrote no result ({})", out.display()), e))
    }

    /// Run `bench_encoder.py` (MLX, BLAS preloaded when available); its JSON.
    pub fn bench_encoder(&self, req: &EncoderBenchRequest) -> Result<Vec<u8>> {
        let dir = tempdir()?;
        let out = dir.path().join("bench-encoder.json");
        let mut job = self
            .mlx_job("bench_encoder.py")
            .arg("--package")
            .arg(absolute(&req.package)?)
            .arg("--weights")
            .arg(absolute(&req.weights)?)
            .arg("--sentences")
            .arg(absolute(&req.sentences)?)
            .arg("--runs")
            .arg(req.runs.to_string())
            .arg("--warmup")
            .arg(req.warmup.to_string())
            .arg("--out")
            .arg(&out);
        for o in &req.options {
            job = job.arg("--options").arg(o);
        }
        if let Some(v) = &req.versus_options {
            job = job.arg("--versus-options").arg(v);
        }
        job.run()?.check("the sentence-embedding benchmark (MLX)")?;
        std::fs::read(&out).map_err(|e| Error::io(&out, format!("the sentence-embedding benchmark wrote no result ({})", out.display()), e))
    }

    /// Run `bench_vision.py` (MLX, BLAS preloaded when available); its JSON.
    pub fn bench_vision(&self, req: &ImagesBenchRequest) -> Result<Vec<u8>> {
        let dir = tempdir()?;
        let out = dir.path().join("bench-images.json");
        let mut job = self
            .mlx_job("bench_vision.py")
            .arg("--package")
            .arg(absolute(&req.package)?)
            .arg("--weights")
            .arg(absolute(&req.weights)?)
            .arg("--inputs")
            .arg(req.inputs.to_string())
            .arg("--runs")
            .arg(req.runs.to_string())
            .arg("--warmup")
            .arg(req.warmup.to_string())
            .arg("--out")
            .arg(&out);
        for b in &req.batch_sizes {
            job = job.arg("--batch-size").arg(b.to_string());
        }
        for i in &req.images {
            job = job.arg("--image").arg(absolute(i)?);
        }
        job.run()?.check("the image benchmark (MLX)")?;
        std::fs::read(&out).map_err(|e| Error::io(&out, format!("the image benchmark wrote no result ({})", out.display()), e))
    }

    /// Run `bench_modes.py` (MLX, BLAS preloaded when available); its JSON.
    pub fn bench_modes(&self, req: &ModeBenchRequest) -> Result<Vec<u8>> {
        let dir = tempdir()?;
        let out = dir.path().join("bench-modes.json");
        let mut job = self
            .mlx_job("bench_modes.py")
            .arg("--package")
            .arg(absolute(&req.package)?)
            .arg("--weights")
            .arg(absolute(&req.weights)?)
            .arg("--mode")
            .arg(&req.mode)
            .arg("--batch")
            .arg(req.batch.to_string())
            .arg("--draft-tokens")
            .arg(req.draft_tokens.to_string())
            .arg("--prompt-tokens")
            .arg(req.prompt_tokens.to_string())
            .arg("--gen-tokens")
            .arg(req.gen_tokens.to_string())
            .arg("--runs")
            .arg(req.runs.to_string())
            .arg("--warmup")
            .arg(req.warmup.to_string())
            .arg("--seed")
            .arg(req.seed.to_string())
            .arg("--out")
            .arg(&out);
        if let Some(d) = &req.draft {
            job = job.arg("--draft").arg(absolute(d)?);
        }
        job.run()?.check("the serving-mode benchmark (MLX)")?;
        std::fs::read(&out).map_err(|e| Error::io(&out, format!("the serving-mode benchmark wrote no result ({})", out.display()), e))
    }

    /// Run `profile_serving.py` (MLX, BLAS preloaded when available); its JSON.
    pub fn profile(&self, req: &ProfileRequest) -> Result<Vec<u8>> {
        let dir = tempdir()?;
        let out = dir.path().join("profile.json");
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let mut job = self
            .mlx_job("profile_serving.py")
            .arg("--prompt-tokens")
            .arg(list(&req.prompt_tokens))
            .arg("--contexts")
            .arg(list(&req.contexts))
            .arg("--gen-tokens")
            .arg(req.gen_tokens.to_string())
            .arg("--runs")
            .arg(req.runs.to_string())
            .arg("--seed")
            .arg(req.seed.to_string())
            .arg("--out")
            .arg(&out);
        job = with_target(job, &req.target)?;
        if let Some(o) = &req.options {
            job = job.arg("--options").arg(o);
        }
        job.run()?.check("the profile (MLX)")?;
        std::fs::read(&out).map_err(|e| Error::io(&out, format!("the profile wrote no result ({})", out.display()), e))
    }

    /// Capture the first sequence's forward pass with the BLAS preload on
    /// or off (for the preload check on a real model).
    pub fn capture_first(&self, req: &CaptureRequest, preload: bool) -> Result<Manifest> {
        let oman = manifest_path(&req.oracle);
        let out = absolute(&req.out)?;
        let mut job = if preload { self.mlx_job("capture.py") } else { self.job("capture.py") };
        job = job.arg("--oracle-manifest").arg(absolute(&oman)?).arg("--out").arg(&out).arg("--first-only");
        job = with_target(job, &req.target)?;
        job.run()?.check("the MLX capture")?;
        read_verified(&out)
    }

    /// Check the BLAS preload, if there is one, with [`check_blas`](Self::check_blas)
    /// (which turns it off when it changes results) and say what the
    /// harness runs with now. Prints nothing; show
    /// [`BlasVerdict::note`] or [`BlasVerdict::summary`] as fits.
    pub fn verify_blas(&mut self) -> Result<BlasVerdict> {
        let check = match self.blas.path() {
            Some(_) => Some(self.check_blas()?),
            None => None,
        };
        Ok(BlasVerdict { blas: self.blas.describe(), check })
    }

    /// Check once per BLAS library and MLX installation that the preload
    /// changes no result beyond [`BLAS_TOLERANCE`] (relative to each
    /// tensor's largest magnitude). The verdict is cached beside the digest
    /// cache; a failed check turns the preload off for this harness.
    pub fn check_blas(&mut self) -> Result<BlasCheck> {
        let Some(lib) = self.blas.path().map(Path::to_path_buf) else { return Err(Error::invalid(format!("no BLAS to check: {}", self.blas.describe()))) };
        let key = blas_key(&lib, &self.env);
        let cache = cache_dir().map(|d| d.join("blas-check.json"));
        if let Some(c) = &cache {
            if let Ok(text) = std::fs::read_to_string(c) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    if v["key"] == key {
                        if let Ok(mut r) = serde_json::from_value::<BlasCheck>(v["result"].clone()) {
                            r.cached = true;
                            if !r.ok {
                                self.blas = Blas::None(format!("{} changed MLX results (cached check)", lib.display()));
                            }
                            return Ok(r);
                        }
                    }
                }
            }
        }
        let dir = tempdir()?;
        let with = dir.path().join("with.npz");
        let without = dir.path().join("without.npz");
        self.mlx_job("blas_check.py").arg(&with).run()?.check("the BLAS check (preloaded)")?;
        self.job("blas_check.py").arg(&without).run()?.check("the BLAS check (reference BLAS)")?;
        let (rel, cos) = compare_files(&with, &without)?;
        let r = BlasCheck {
            library: lib.display().to_string(),
            ok: rel <= BLAS_TOLERANCE && cos >= 1.0 - 1e-9,
            max_rel_error: rel,
            min_cosine: cos,
            tolerance: BLAS_TOLERANCE,
            cached: false,
        };
        if let Some(c) = &cache {
            let _ = std::fs::create_dir_all(c.parent().unwrap());
            if let Ok(body) = serde_json::to_vec_pretty(&serde_json::json!({"key": key, "result": r})) {
                let _ = std::fs::write(c, body);
            }
        }
        if !r.ok {
            self.blas = Blas::None(format!("{} changed MLX results (max relative error {rel:.2e})", lib.display()));
        }
        Ok(r)
    }
}

fn blas_key(lib: &Path, env: &PythonEnv) -> String {
    let meta = |p: &Path| std::fs::metadata(p).map(|m| format!("{}:{:?}", m.len(), m.modified().ok())).unwrap_or_default();
    // The MLX native module identifies the installation.
    let mlx = env
        .package_dir("mlx")
        .ok()
        .and_then(|d| std::fs::read_dir(&d).ok())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("core") && n.to_string_lossy().ends_with(".so")))
        .map(|p| meta(&p))
        .collect::<Vec<_>>()
        .join(",");
    format!("{}|{}|{}|{}", lib.display(), meta(lib), env.root().display(), mlx)
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(x).join("mlxport"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mlxport"))
}

/// Largest relative max-abs error and smallest cosine over the tensors two
/// files share (float tensors only).
pub fn compare_files(a: &Path, b: &Path) -> Result<(f64, f64)> {
    let sa = mlxport_tensor::open_file(a)?;
    let sb = mlxport_tensor::open_file(b)?;
    let mut worst = 0.0f64;
    let mut min_cos = 1.0f64;
    for t in sa.tensors() {
        if !t.dtype().is_some_and(|d| d.is_float()) {
            continue;
        }
        let (x, y) = (sa.read_f32(&t.name)?, sb.read_f32(&t.name)?);
        if x.len() != y.len() {
            return Err(Error::invalid(format!("{}: shapes differ between runs ({} and {})", t.name, a.display(), b.display())));
        }
        let (err, cos) = metrics(&x, &y);
        worst = worst.max(err);
        min_cos = min_cos.min(cos);
    }
    Ok((worst, min_cos))
}

/// (max |x - y| / max |y|, cosine) in f64.
pub fn metrics(x: &[f32], y: &[f32]) -> (f64, f64) {
    let (mut max_err, mut max_ref, mut dot, mut nx, mut ny) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a as f64, b as f64);
        max_err = max_err.max((a - b).abs());
        max_ref = max_ref.max(b.abs());
        dot += a * b;
        nx += a * a;
        ny += b * b;
    }
    let cos = if nx == 0.0 && ny == 0.0 { 1.0 } else { dot / (nx.sqrt() * ny.sqrt()) };
    (if max_ref > 0.0 { max_err / max_ref } else { max_err }, cos)
}

/// Inspect a source model statically and refuse what the oracle refuses
/// (custom code, blockers, families it does not capture), before any
/// Python step reads it. Returns the family.
pub fn check_source(model: &Path) -> Result<Family> {
    let insp = mlxport_intake::inspect(model, &mlxport_intake::Options::default())
        .map_err(|e| Error::invalid_because(format!("cannot inspect {}", model.display()), e))?;
    oracle_family(&json_value("the inspection", &insp)?)
}

fn oracle_family(iv: &Value) -> Result<Family> {
    let blockers = iv["blockers"].as_array().cloned().unwrap_or_default();
    if let Some(b) = blockers.iter().find(|b| b["id"] == "remote-code") {
        return Err(Error::Refused(format!(
            "refused: {} ({}). {}",
            b["message"].as_str().unwrap_or("remote code"),
            b["path"].as_str().unwrap_or("config"),
            b["remediation"].as_str().unwrap_or("")
        )));
    }
    if let Some(b) = blockers.first() {
        return Err(Error::Refused(format!("refused: inspection blocker {}: {}", b["id"].as_str().unwrap_or("?"), b["message"].as_str().unwrap_or(""))));
    }
    match iv["routing"]["family"].as_str() {
        Some("dense-decoder" | "moe-decoder") => Ok(Family::Decoder),
        Some("encoder") => Ok(Family::Encoder),
        Some("encoder-decoder") => Ok(Family::EncoderDecoder),
        Some("vision") => Ok(Family::Vision),
        Some("vision-language") => Ok(Family::VisionLanguage),
        other => Err(Error::Refused(format!(
            "the oracle captures dense and mixture-of-experts decoders, encoders, encoder-decoders, image and vision-language models; this model routes to {}",
            other.unwrap_or("no family")
        ))),
    }
}

/// The MLX side a script runs: `--package DIR --weights DIR`, `--mlx-lm DIR`
/// or `--mlx-vlm DIR`.
fn with_target(job: Job, target: &Target) -> Result<Job> {
    Ok(match target {
        Target::Package { package, weights } => job.arg("--package").arg(absolute(package)?).arg("--weights").arg(absolute(weights)?),
        Target::MlxLm { model } => job.arg("--mlx-lm").arg(absolute(model)?),
        Target::MlxVlm { model } => job.arg("--mlx-vlm").arg(absolute(model)?),
    })
}

pub(crate) fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| Error::io(p, format!("cannot make {} absolute (no current directory)", p.display()), e))?.join(p)
    })
}

fn read_verified(npz: &Path) -> Result<Manifest> {
    let m = Manifest::read(&manifest_path(npz))?;
    m.verify(npz)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> std::result::Result<Inputs, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("inputs.json");
        std::fs::write(&p, text).unwrap();
        Inputs::read(&p).map_err(|e| {
            // The message and its causes, as the CLI prints them.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text += &format!(": {c}");
                cause = c.source();
            }
            text
        })
    }

    #[test]
    fn an_inputs_file_is_read_with_its_long_input_settings() {
        let i = read(r#"{"texts": ["a"], "generate": 4, "long_tokens": 8192, "long_chunk": 512}"#).unwrap();
        assert_eq!((i.long_tokens, i.long_chunk, i.generate), (Some(8192), Some(512), Some(4)));
    }

    #[test]
    fn an_inputs_file_with_an_unknown_key_or_a_zero_chunk_is_refused() {
        // A misspelt key would otherwise be ignored silently.
        let e = read(r#"{"texts": ["a"], "long_chunks": 512}"#).unwrap_err();
        assert!(e.contains("not a valid inputs file") && e.contains("long_chunks"), "{e}");
        let e = read(r#"{"texts": ["a"], "long_chunk": 0}"#).unwrap_err();
        assert!(e.contains("long_chunk must be at least 1"), "{e}");
        let e = read(r#"{"token_ids": [[1], []]}"#).unwrap_err();
        assert!(e.contains("non-empty"), "{e}");
    }
}
