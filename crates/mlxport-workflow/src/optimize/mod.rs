//! The optimization loop behind `mlxport optimize`: from a float baseline,
//! produce one candidate per change (dtype, affine bits, group size, mixed
//! recipe, bit budget, float quantization mode), put each through the
//! quality gate against the baseline and a generation benchmark, and keep
//! or revert it with a written record. A candidate that fails the gate is
//! reverted however fast it is; the chosen configuration is the best by
//! the objective among the kept ones.
//!
//! Entry point: [`run`] with an [`OptimizeRequest`], returning an
//! [`OptimizeOutcome`] (also what `mlxport port` calls). In the work
//! directory it leaves:
//! - `OPTIMIZATIONS.md`: the table and one record per candidate;
//! - `optimize.json`: the same as JSON (schema [`SCHEMA`]);
//! - `receipts/ID.json`: each generation benchmark (`mlxport.bench-receipt/v1`);
//! - `quality/ID.json`: each quality report (`mlxport.quality/v1`);
//! - `records/ID.json`: finished candidates, reused by a later run whose
//!   inputs (baseline, candidate, gate and bench settings) are unchanged;
//! - `validated/ID.json`: receipts for `mlxport recommend` of the kept
//!   candidates (also written to the local store, see [`validated`]);
//! - `chosen/`: the chosen checkpoint (`baseline/` when the baseline is a
//!   conversion made here);
//! - with a decoder or encoder `package`: the serving switches measured on
//!   the chosen weights ([`serving`]): `receipts/serve-ID.json`,
//!   `quality/serve-ID.json` for the lossy ones, and `serving.json`, the
//!   options the package serves with, when any switch is kept.
//!
//! Modules: [`candidate`] (specs and the default sweep), [`gate`] (the
//! quality gate, shared with `mlxport quality`), [`measure`] (the
//! generation benchmark), [`record`] (records, decisions, Markdown),
//! [`validated`] (what `recommend` reads).

pub mod candidate;
pub mod gate;
pub mod measure;
pub mod record;
pub mod serving;
pub mod validated;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{bail, Context, Result};
use mlxport_convert::convert::ConvertOptions;
use mlxport_convert::plan::DtypePolicy;
use mlxport_harness::jobs::{Harness, Settings as HarnessSettings};
use mlxport_quality::Thresholds;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use candidate::Candidate;
pub use record::{Decision, OptimizeDoc, Record};

/// Schema of `optimize.json`.
pub const SCHEMA: &str = "mlxport.optimize/v1";

/// What the chosen configuration is best at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Highest decode throughput (tokens/s).
    DecodeThroughput,
    /// Lowest peak memory (MLX peak while generating; encoders: weight bytes).
    PeakMemory,
    /// Geometric mean of the decode speed-up and the memory reduction.
    Balanced,
}

impl Objective {
    pub const NAMES: [&'static str; 3] = ["decode-throughput", "peak-memory", "balanced"];

    pub fn parse(s: &str) -> Result<Objective> {
        Ok(match s {
            "decode-throughput" => Objective::DecodeThroughput,
            "peak-memory" => Objective::PeakMemory,
            "balanced" => Objective::Balanced,
            _ => bail!("unknown objective '{s}' (use {})", Self::NAMES.join(", ")),
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Objective::DecodeThroughput => "decode-throughput",
            Objective::PeakMemory => "peak-memory",
            Objective::Balanced => "balanced",
        }
    }
}

/// The generation benchmark each candidate gets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchSettings {
    pub prompt_tokens: Vec<u32>,
    pub gen_tokens: u32,
    pub runs: u32,
    pub warmup: u32,
    pub resamples: u32,
    pub seed: u64,
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings { prompt_tokens: vec![128], gen_tokens: 64, runs: 5, warmup: 1, resamples: 2000, seed: mlxport_bench::stats::DEFAULT_SEED }
    }
}

/// Everything one optimization run needs.
#[derive(Clone, Debug)]
pub struct OptimizeRequest {
    /// An MLX float checkpoint (mlx-lm layout), a Hugging Face checkpoint
    /// (converted first: map draft + convert), or an encoder directory.
    pub model: PathBuf,
    pub work_dir: PathBuf,
    pub objective: Objective,
    /// `None`: [`candidate::DEFAULT_SWEEP`].
    pub candidates: Option<Vec<Candidate>>,
    pub lm: gate::LmSettings,
    pub encoder: gate::EncoderSettings,
    pub thresholds: Thresholds,
    pub bench: BenchSettings,
    pub harness: HarnessSettings,
    /// Reuse finished candidates whose inputs are unchanged.
    pub reuse: bool,
    /// Keep every kept candidate's checkpoint, not only the chosen one.
    pub keep_checkpoints: bool,
    /// Directory of the local store of validated results (`None`: none
    /// written); see [`validated::store_dir`].
    pub store: Option<PathBuf>,
    /// The command line, recorded in OPTIMIZATIONS.md.
    pub command: Vec<String>,
    /// A scaffolded package (any family) that loads the baseline's and the
    /// candidates' weights: the quality gate and the benchmark run through
    /// it (`None`: mlx-lm for language models, a package scaffolded from
    /// the baseline for encoders).
    pub package: Option<PathBuf>,
    /// With a decoder or encoder package: the serving switches to measure
    /// on the chosen weights (`None`: every one that applies, see
    /// [`serving::defaults`]; empty: none).
    pub serving: Option<Vec<serving::Candidate>>,
}

/// What [`run`] produced.
#[derive(Clone, Debug)]
pub struct OptimizeOutcome {
    pub doc: OptimizeDoc,
    pub json: PathBuf,
    pub markdown: PathBuf,
    /// The chosen checkpoint.
    pub chosen: PathBuf,
}

/// The float baseline the candidates are made from.
struct Baseline {
    path: PathBuf,
    converted: bool,
    fingerprint: String,
    /// No generation: an encoder or an image model (gated on its task,
    /// memory is the weight bytes).
    encoder: bool,
    /// An image or vision-language model (the image gate).
    vision: bool,
    /// A vision-language model: the image gate scores its captions, and
    /// it is benchmarked generating.
    vlm: bool,
}

fn fingerprint(dir: &Path) -> Result<String> {
    let insp =
        serde_json::to_value(mlxport_intake::inspect(dir, &mlxport_intake::Options::default()).with_context(|| format!("cannot inspect {}", dir.display()))?)?;
    insp["model"]["fingerprint"].as_str().map(String::from).with_context(|| format!("{}: the inspection has no fingerprint", dir.display()))
}

fn read_config(dir: &Path) -> Option<Value> {
    std::fs::read(dir.join("config.json")).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

fn has_safetensors(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|rd| rd.flatten().any(|e| e.path().extension().is_some_and(|x| x == "safetensors"))).unwrap_or(false)
}

/// The baseline: the model itself when it is an MLX checkpoint or an
/// encoder, else its conversion (map draft for mlx-lm + convert, dtype
/// kept) into `work/baseline`.
fn baseline(req: &OptimizeRequest) -> Result<Baseline> {
    let model = &req.model;
    if !model.exists() {
        bail!("{}: no such model", model.display());
    }
    let fp = fingerprint(model)?;
    if model.is_dir() {
        if let Some(c) = read_config(model) {
            if c.get("quantization").is_some() || c.get("quantization_config").is_some() {
                bail!("{}: config.json has a quantization block; optimize starts from a floating-point checkpoint", model.display());
            }
        }
    }
    let has_config = model.is_dir() && model.join("config.json").is_file();
    let vision = has_config && gate::is_vision(model)?;
    let vlm = vision && mlxport_contract::vlm::PORTABLE.contains(&gate::model_type(model)?.as_str());
    let encoder = (vision && !vlm) || has_config && gate::is_encoder(model)?;
    if vision || encoder || model.join(mlxport_convert::manifest::MANIFEST_FILE).is_file() {
        return Ok(Baseline { path: model.clone(), converted: false, fingerprint: fp, encoder, vision, vlm });
    }
    let out = req.work_dir.join("baseline");
    let stamp = req.work_dir.join("baseline.json");
    let want = json!({"schema": SCHEMA, "source_fingerprint": fp, "tool": env!("CARGO_PKG_VERSION")});
    if out.join("config.json").is_file() && std::fs::read(&stamp).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()).as_ref() == Some(&want) {
        eprintln!("baseline: reusing {} (converted from the same source)", out.display());
        return Ok(Baseline { path: out, converted: true, fingerprint: fp, encoder, vision, vlm });
    }
    let d = crate::weights::draft(model, "mlx-lm")?;
    if !d.map.unresolved.is_empty() {
        if model.is_dir() && model.join("config.json").is_file() && has_safetensors(model) {
            eprintln!(
                "note: {} tensors of {} have no mlx-lm mapping; using the checkpoint as an MLX checkpoint as it is",
                d.map.unresolved.len(),
                model.display()
            );
            return Ok(Baseline { path: model.clone(), converted: false, fingerprint: fp, encoder, vision, vlm });
        }
        let names: Vec<String> = d.map.unresolved.iter().take(5).map(|u| format!("{} ({})", u.source, u.reason)).collect();
        bail!("{}: cannot convert to mlx-lm layout, {} tensors unresolved: {} (draft a map with `mlxport map draft`, fix it, convert, then optimize the conversion)", model.display(), d.map.unresolved.len(), names.join("; "));
    }
    if std::fs::symlink_metadata(&out).is_ok() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot remove the stale {}", out.display()))?;
    }
    eprintln!("baseline: converting {} to mlx-lm layout ({} family, dtype kept) ...", model.display(), d.family);
    let opts = ConvertOptions {
        dtype: Some(DtypePolicy::Keep),
        command: vec!["mlxport".into(), "optimize".into()],
        digest_cache: mlxport_intake::digest::DigestCache::default_path(),
        ..ConvertOptions::default()
    };
    mlxport_convert::convert::convert(model, &d.map, &out, &opts)?;
    std::fs::write(&stamp, serde_json::to_string_pretty(&want)? + "\n")?;
    Ok(Baseline { path: out, converted: true, fingerprint: fp, encoder, vision, vlm })
}

fn file_digest(p: &Option<PathBuf>) -> Result<Value> {
    Ok(match p {
        Some(p) => json!(mlxport_util::hash::sha256_hex(&std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?)),
        None => Value::Null,
    })
}

/// The settings that decide a candidate's measurements (its reuse key).
fn settings_value(req: &OptimizeRequest, b: &Baseline) -> Result<Value> {
    Ok(json!({
        "schema": SCHEMA,
        "tool": env!("CARGO_PKG_VERSION"),
        "baseline_fingerprint": b.fingerprint,
        "baseline_converted": b.converted,
        "encoder": b.encoder,
        "thresholds": req.thresholds,
        "lm": if b.encoder { Value::Null } else { json!({"text": file_digest(&req.lm.text)?, "prompts": file_digest(&req.lm.prompts)?, "max_tokens": req.lm.max_tokens, "window": req.lm.window, "stride": req.lm.stride, "generate": req.lm.generate}) },
        "encoder_gate": if b.encoder && !b.vision { json!({"sentences": file_digest(&req.encoder.sentences)?, "queries": file_digest(&req.encoder.queries)?, "k": req.encoder.retrieval_k}) } else { Value::Null },
        "vision_gate": if b.vision { json!({"images": "mlxport:scikit-image photographs"}) } else { Value::Null },
        "bench": if b.encoder { Value::Null } else { serde_json::to_value(&req.bench)? },
        "package": req.package.as_deref().map(serving::package_digest).transpose()?,
        "compute_f32": req.lm.compute_f32,
        "dequantize": req.lm.dequantize,
    }))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "safetensors")).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Produce one candidate checkpoint from the baseline.
fn produce(b: &Baseline, c: &Candidate, base_dtype: Option<DtypePolicy>, out: &Path) -> Result<record::Produced> {
    if std::fs::symlink_metadata(out).is_ok() {
        std::fs::remove_dir_all(out).with_context(|| format!("cannot remove the stale {}", out.display()))?;
    }
    if let Some(p) = out.parent() {
        std::fs::create_dir_all(p)?;
    }
    let t = Instant::now();
    let src = mlxport_tensor::open(&b.path)?;
    let map = mlxport_convert::quantize::identity_map(src.as_ref(), &b.path)?;
    drop(src);
    let command = vec!["mlxport".into(), "optimize".into(), "--candidates".into(), c.id.clone()];
    let digest_cache = mlxport_intake::digest::DigestCache::default_path();
    match c.quant_options()? {
        None => {
            let opts = ConvertOptions { dtype: Some(DtypePolicy::To(mlxport_tensor::DType::BF16)), command, digest_cache, ..ConvertOptions::default() };
            let done = mlxport_convert::convert::convert(&b.path, &map, out, &opts)?;
            Ok(record::Produced {
                bpw: None,
                weight_bytes: dir_bytes(out),
                quantized_layers: 0,
                left_float: done.manifest.target.tensors as usize,
                seconds: t.elapsed().as_secs_f64(),
            })
        }
        Some(q) => {
            let opts = ConvertOptions { dtype: base_dtype, command, digest_cache, ..ConvertOptions::default() };
            let done = mlxport_convert::quantize::quantize_convert(&b.path, &map, out, opts, Some(&q), false)?;
            if done.report.quantized == 0 {
                bail!("no layer can take {} (the quantized dimensions are not multiples of {})", c.describe(), c.required_divisor().unwrap_or(0));
            }
            Ok(record::Produced {
                bpw: Some(done.report.bpw),
                weight_bytes: dir_bytes(out),
                quantized_layers: done.report.quantized,
                left_float: done.report.skipped.len(),
                seconds: t.elapsed().as_secs_f64(),
            })
        }
    }
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(v)? + "\n").with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn quality_gate(h: &Harness, req: &OptimizeRequest, b: &Baseline, cand: &Path) -> Result<mlxport_quality::QualityReport> {
    let work = tempfile::Builder::new().prefix("mlxport-optimize-").tempdir()?;
    if b.vision {
        let s = gate::VisionSettings { images: Vec::new(), package: req.package.clone().or_else(|| req.encoder.package.clone()), generate: None };
        gate::vision_gate(h, &b.path, cand, &s, work.path(), req.thresholds.clone())
    } else if b.encoder {
        let s = gate::EncoderSettings { package: req.package.clone().or_else(|| req.encoder.package.clone()), ..req.encoder.clone() };
        gate::encoder_gate(h, &b.path, cand, &s, work.path(), req.thresholds.clone())
    } else {
        gate::lm_gate(h, &b.path, cand, &lm_settings(req), work.path(), req.thresholds.clone())
    }
}

/// The language-model gate's settings, through the package when there is one.
fn lm_settings(req: &OptimizeRequest) -> gate::LmSettings {
    gate::LmSettings { package: req.package.clone().or_else(|| req.lm.package.clone()), ..req.lm.clone() }
}

/// Run the loop. See the crate documentation for what it writes.
pub fn run(req: &OptimizeRequest) -> Result<OptimizeOutcome> {
    std::fs::create_dir_all(&req.work_dir).with_context(|| format!("cannot create {}", req.work_dir.display()))?;
    if req.serving.as_ref().is_some_and(|l| !l.is_empty()) && !req.package.as_deref().is_some_and(serving::has_switches) {
        bail!("serving switches need a decoder or encoder package (--package): the package's serving options are what they switch");
    }
    let b = baseline(req)?;
    let candidates = req.candidates.clone().unwrap_or_else(Candidate::defaults);
    let settings = settings_value(req, &b)?;
    let mut h = Harness::new(req.harness.clone())?;
    crate::check_blas(&mut h, "running")?;
    let environment = mlxport_bench::env::Environment::capture();
    let hardware = validated::hardware(&environment);
    let records_dir = req.work_dir.join("records");
    let total = candidates.len() + 1;

    // The baseline's own speed and memory (the reference of every decision).
    let base_key = mlxport_util::hash::sha256_hex(serde_json::to_string(&json!({"settings": settings, "candidate": "baseline"}))?.as_bytes());
    let mut base = reuse(req, &records_dir, "baseline", &base_key);
    if base.is_none() {
        eprintln!("[1/{total}] baseline: measuring {}", b.path.display());
        let mut r = Record::new_baseline(&b.path, base_key.clone(), b.encoder);
        r.produced = Some(record::Produced { bpw: None, weight_bytes: dir_bytes(&b.path), quantized_layers: 0, left_float: 0, seconds: 0.0 });
        if !b.encoder {
            let m =
                measure::generate(&h, &b.path, req.package.as_deref(), &req.bench, Some(b.fingerprint.clone()), &req.work_dir.join("receipts/baseline.json"))
                    .context("the baseline's generation benchmark")?;
            r.set_speed(m);
        }
        write_json(&records_dir.join("baseline.json"), &r)?;
        base = Some(r);
    } else {
        eprintln!("[1/{total}] baseline: reused (inputs unchanged)");
    }
    let base = base.expect("set");

    let mut records = Vec::new();
    // A kept bf16 carries over: later candidates keep their float parts in bf16.
    let mut base_dtype: Option<DtypePolicy> = None;
    for (i, c) in candidates.iter().enumerate() {
        let on_top = base_dtype.map(|_| "bf16".to_string());
        let key = mlxport_util::hash::sha256_hex(serde_json::to_string(&json!({"settings": settings, "candidate": c, "on_top_of": on_top}))?.as_bytes());
        let ckpt = req.work_dir.join("candidates").join(&c.id);
        if let Some(r) = reuse(req, &records_dir, &c.id, &key) {
            eprintln!("[{}/{total}] {}: reused (inputs unchanged)", i + 2, c.id);
            if c.id == "bf16" && r.decision_keep_hint(&base, req.objective) {
                base_dtype = Some(DtypePolicy::To(mlxport_tensor::DType::BF16));
            }
            records.push(r);
            continue;
        }
        eprintln!("[{}/{total}] {}: {}", i + 2, c.id, c.describe());
        let mut r = Record::new(c, key, on_top.clone());
        match produce(&b, c, base_dtype, &ckpt) {
            Ok(p) => r.produced = Some(p),
            Err(e) => r.correctness.error = Some(format!("could not be produced: {}", e.chain())),
        }
        if r.produced.is_some() {
            eprintln!("    quality gate against the baseline ...");
            match quality_gate(&h, req, &b, &ckpt) {
                Ok(q) => {
                    let path = req.work_dir.join("quality").join(format!("{}.json", c.id));
                    write_json(&path, &q)?;
                    std::fs::write(req.work_dir.join("quality").join(format!("{}.md", c.id)), q.to_markdown())?;
                    r.set_quality(&q, format!("quality/{}.json", c.id));
                }
                Err(e) => r.correctness.error = Some(format!("does not load or run: {}", e.chain())),
            }
        }
        if r.correctness.loads && !b.encoder {
            eprintln!("    generation benchmark ...");
            match measure::generate(
                &h,
                &ckpt,
                req.package.as_deref(),
                &req.bench,
                Some(b.fingerprint.clone()),
                &req.work_dir.join("receipts").join(format!("{}.json", c.id)),
            ) {
                Ok(m) => r.set_speed(m),
                Err(e) => r.correctness.error = Some(format!("the generation benchmark failed: {}", e.chain())),
            }
        }
        write_json(&records_dir.join(format!("{}.json", c.id)), &r)?;
        if c.id == "bf16" && r.decision_keep_hint(&base, req.objective) {
            base_dtype = Some(DtypePolicy::To(mlxport_tensor::DType::BF16));
        }
        eprintln!("    {}", r.one_line());
        records.push(r);
    }

    let kind = if b.vlm {
        "vision-language"
    } else if b.vision {
        "vision"
    } else if b.encoder {
        "encoder"
    } else {
        "language-model"
    };
    let mut doc = OptimizeDoc::new(req, &b.path, b.converted, &b.fingerprint, kind, &hardware, &environment.hash, settings, base, records);
    doc.decide();
    // Checkpoints: the chosen one stays (made again if an earlier run removed it).
    let chosen_id = doc.chosen.id.clone();
    let chosen_path = if chosen_id == "baseline" {
        b.path.clone()
    } else {
        let ckpt = req.work_dir.join("candidates").join(&chosen_id);
        if !ckpt.join("config.json").is_file() {
            let c = candidates.iter().find(|c| c.id == chosen_id).expect("chosen among candidates");
            let on_top = doc.records.iter().find(|r| r.id == chosen_id).and_then(|r| r.on_top_of.clone());
            eprintln!("making the chosen checkpoint {chosen_id} again (removed after an earlier run) ...");
            produce(&b, c, on_top.map(|_| DtypePolicy::To(mlxport_tensor::DType::BF16)), &ckpt)?;
        }
        ckpt
    };
    // The serving switches, on the chosen weights, through the package.
    doc.serving = serve(&h, req, &b, &chosen_path, &chosen_id)?;
    let chosen_link = req.work_dir.join("chosen");
    let _ = std::fs::remove_file(&chosen_link);
    if chosen_link.is_dir() && !chosen_link.is_symlink() {
        std::fs::remove_dir_all(&chosen_link)?;
    }
    let rel =
        chosen_path.strip_prefix(&req.work_dir).map(Path::to_path_buf).unwrap_or_else(|_| std::fs::canonicalize(&chosen_path).unwrap_or(chosen_path.clone()));
    link_dir(&rel, &chosen_link)?;
    doc.chosen.checkpoint = "chosen".into();
    if !req.keep_checkpoints {
        if let Ok(rd) = std::fs::read_dir(req.work_dir.join("candidates")) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy() != chosen_id {
                    std::fs::remove_dir_all(e.path()).ok();
                }
            }
        }
    }
    // What recommend reads.
    let receipts = validated::receipts(&doc);
    let vdir = req.work_dir.join("validated");
    if vdir.is_dir() {
        std::fs::remove_dir_all(&vdir)?;
    }
    for (id, r) in &receipts {
        write_json(&vdir.join(format!("{id}.json")), r)?;
    }
    if let Some(store) = &req.store {
        validated::write_store(store, &doc.model.fingerprint, &hardware, &receipts)?;
    }
    let json_path = req.work_dir.join("optimize.json");
    write_json(&json_path, &doc)?;
    let md = req.work_dir.join("OPTIMIZATIONS.md");
    std::fs::write(&md, doc.to_markdown()).with_context(|| format!("cannot write {}", md.display()))?;
    Ok(OptimizeOutcome { doc, json: json_path, markdown: md, chosen: chosen_link })
}

/// The serving switches of the package measured on the chosen weights
/// (decoder and encoder packages; `None` otherwise or when none is asked
/// for). Writes or removes `serving.json` in the work directory.
fn serve(h: &Harness, req: &OptimizeRequest, b: &Baseline, chosen_path: &Path, chosen_id: &str) -> Result<Option<serving::Doc>> {
    Ok(match &req.package {
        Some(pkg) if serving::has_switches(pkg) => {
            let list = match &req.serving {
                Some(l) => serving::fit(l.clone(), &read_config(chosen_path).unwrap_or(Value::Null)),
                None if b.encoder => serving::encoder_defaults(),
                None => serving::defaults(&read_config(chosen_path).unwrap_or(Value::Null), &req.bench),
            };
            if list.is_empty() {
                let _ = std::fs::remove_file(req.work_dir.join("serving.json"));
                None
            } else {
                let lm = lm_settings(req);
                // Speculative decoding's draft: the baseline quantized harder.
                let draft_dir = req.work_dir.join("draft");
                let draft = if list.iter().any(|c| c.id == "speculative") {
                    eprintln!("making the draft model for speculative decoding ({}) ...", serving::DRAFT);
                    match produce(b, &Candidate::parse(serving::DRAFT)?, None, &draft_dir) {
                        Ok(_) => Some(draft_dir.clone()),
                        Err(e) => {
                            eprintln!("note: no draft model ({}); speculative decoding is not measured", e.chain());
                            None
                        }
                    }
                } else {
                    None
                };
                let r = serving::Run {
                    h,
                    package: pkg,
                    weights: chosen_path,
                    work_dir: &req.work_dir,
                    bench: &req.bench,
                    lm: &lm,
                    thresholds: &req.thresholds,
                    objective: req.objective,
                    fingerprint: Some(b.fingerprint.clone()),
                    draft: draft.as_deref(),
                };
                let mut d = serving::run(&r, &list)?;
                let _ = std::fs::remove_dir_all(&draft_dir);
                // Named as the caller finds them: the chosen checkpoint, or the baseline.
                if chosen_id != "baseline" {
                    d.weights = "chosen".into();
                }
                Some(d)
            }
        }
        _ => {
            let _ = std::fs::remove_file(req.work_dir.join("serving.json"));
            None
        }
    })
}

#[cfg(unix)]
fn link_dir(target: &Path, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).with_context(|| format!("cannot link {} -> {}", link.display(), target.display()))
}

#[cfg(not(unix))]
fn link_dir(target: &Path, link: &Path) -> Result<()> {
    std::fs::write(link.with_extension("txt"), target.display().to_string())?;
    Ok(())
}

/// A finished record with the same inputs, when reuse is on.
fn reuse(req: &OptimizeRequest, dir: &Path, id: &str, key: &str) -> Option<Record> {
    if !req.reuse {
        return None;
    }
    let r: Record = serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).ok()?).ok()?;
    let receipt_ok = r.receipt.as_ref().is_none_or(|p| req.work_dir.join(p).is_file());
    (r.inputs_sha256 == key && receipt_ok).then_some(Record { reused: true, ..r })
}
