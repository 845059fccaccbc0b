//! The serving switches of a decoder package as optimization candidates:
//! `compile`, fused input projections, shared rotary tables, a KV cache
//! grown in steps, pipelined decoding, chunked prefill, a quantized KV
//! cache (8 and 4 bits) and, for models with sliding-window layers, a
//! rotating cache. Each is measured on the chosen
//! weights against the package's first port (`Options()`): the two run in
//! one process with their runs interleaved, and the paired ratios of
//! decode and prefill throughput carry a 95% bootstrap interval. An exact
//! switch must give the first port's greedy tokens at every prompt length;
//! a lossy one (the quantized KV cache) must pass the quality gate, which
//! scores the text through that cache. The kept switches, combined and
//! measured once more together, become the package's `serving.json`: the
//! defaults the package serves with.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::bench::GenerateRequest;
use crate::error::{bail, Context, Result};
use crate::optimize::{gate, BenchSettings, Objective};
use mlxport_bench::compare::Verdict;
use mlxport_bench::generate::Versus;
use mlxport_harness::jobs::{Harness, Target};
use mlxport_quality::Thresholds;

/// Schema of the `serving.json` a package reads its defaults from.
pub const SERVING_SCHEMA: &str = "mlxport.serving/v1";

/// The decoder switch names, in the order the default sweep measures them.
pub const NAMES: &[&str] = &["compile", "fuse", "rope-tables", "cache-step", "pipeline", "prefill-chunk", "kv8", "kv4", "rotating", "batch4", "speculative"];

/// Decoder serving modes: measured on a whole workload against the plain
/// loop, shipped under `modes` in serving.json (not package options).
pub const MODES: &[&str] = &["batch4", "speculative"];

/// The draft `speculative` uses: the model quantized harder.
pub const DRAFT: &str = "q4g64";

/// The encoder switch names (a package's `serving.Options`).
pub const ENCODER_NAMES: &[&str] = &["batch8", "batch32-bucket", "explicit-attention"];

/// One serving switch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: String,
    /// The package options it sets (JSON object).
    pub options: Map<String, Value>,
    /// Lossy switches are judged by the quality gate; exact ones by
    /// identical greedy tokens.
    pub lossy: bool,
}

impl Candidate {
    /// The switch `id`; `prefill-chunk` chunks at `chunk` tokens.
    pub fn by_id(id: &str, chunk: u32) -> Result<Candidate> {
        let (options, lossy) = match id {
            "compile" => (json!({"compile": true}), false),
            "fuse" => (json!({"fuse": true}), false),
            "rope-tables" => (json!({"rope_tables": true}), false),
            "cache-step" => (json!({"cache": "step"}), false),
            "pipeline" => (json!({"pipeline": true}), false),
            "prefill-chunk" => (json!({"prefill_chunk": chunk}), false),
            "kv8" => (json!({"kv_bits": 8}), true),
            "kv4" => (json!({"kv_bits": 4}), true),
            "rotating" => (json!({"rotating": true}), false),
            "batch4" => (json!({"batch": 4}), false),
            "speculative" => (json!({"speculative": {"draft": DRAFT, "draft_tokens": 2}}), false),
            "batch8" => (json!({"batch_size": 8}), false),
            "batch32-bucket" => (json!({"batch_size": 32, "bucket": true}), false),
            "explicit-attention" => (json!({"attention": "explicit"}), false),
            _ => bail!("unknown serving switch '{id}' (decoders: {}; encoders: {}; or none)", NAMES.join(", "), ENCODER_NAMES.join(", ")),
        };
        let Value::Object(options) = options else { unreachable!("object literals") };
        Ok(Candidate { id: id.into(), options, lossy })
    }

    pub fn describe(&self) -> String {
        match self.id.as_str() {
            "compile" => "mx.compile of each block's element-wise chains (shapeless)".into(),
            "fuse" => "queries, keys and values (and gate and up) as one matrix product each, weights concatenated once".into(),
            "rope-tables" => "rotary sines and cosines computed once per forward pass, shared by every block".into(),
            "cache-step" => "KV cache pre-allocated in steps of 256 positions, written in place".into(),
            "pipeline" => "decode step n+1 queued (mx.async_eval) before token n is read".into(),
            "prefill-chunk" => format!("prompt prefilled {} tokens per call", self.options["prefill_chunk"]),
            "kv8" | "kv4" => format!(
                "KV cache quantized to {} bits (mlx-lm's layout, group {})",
                self.options["kv_bits"],
                self.options.get("kv_group_size").and_then(Value::as_u64).unwrap_or(64)
            ),
            "rotating" => "sliding-window layers keep only their window (ring buffer)".into(),
            "batch4" => "4 prompts of different lengths decoded as one left-padded batch, against one after the other".into(),
            "speculative" => format!("speculative decoding, 2 draft tokens per step proposed by the model quantized to {DRAFT}, against plain greedy decoding"),
            "batch8" => "8 sentences per call, right-padded with an attention mask".into(),
            "batch32-bucket" => "sentences sorted by length, 32 per call (less padding)".into(),
            "explicit-attention" => "attention as matrix products and a softmax instead of mx.fast.scaled_dot_product_attention".into(),
            _ => self.id.clone(),
        }
    }

    /// A comma-separated list of switch ids (`none`: the empty list).
    pub fn parse_list(list: &str, chunk: u32) -> Result<Vec<Candidate>> {
        if list.trim() == "none" {
            return Ok(Vec::new());
        }
        let mut out: Vec<Candidate> = Vec::new();
        for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if out.iter().any(|c| c.id == id) {
                bail!("serving switch '{id}' given twice");
            }
            out.push(Candidate::by_id(id, chunk)?);
        }
        if out.is_empty() {
            bail!("no serving switch given (known: {}, or none)", NAMES.join(", "));
        }
        Ok(out)
    }
}

/// The chunk `prefill-chunk` uses: half the longest benchmark prompt
/// (so that the benchmark's prompts really are chunked), at least 16.
pub fn chunk_for(bench: &BenchSettings) -> u32 {
    (bench.prompt_tokens.iter().copied().max().unwrap_or(128) / 2).max(16)
}

/// Every switch that applies to the model: `rotating` only where the
/// config has a sliding window.
pub fn defaults(config: &Value, bench: &BenchSettings) -> Vec<Candidate> {
    let sliding = config.get("sliding_window").is_some_and(|v| v.as_u64().is_some_and(|w| w > 0));
    fit(NAMES.iter().filter(|n| **n != "rotating" || sliding).map(|n| Candidate::by_id(n, chunk_for(bench)).expect("known names")).collect(), config)
}

/// The head dimension a decoder config implies.
fn head_dim(config: &Value) -> Option<u64> {
    config.get("head_dim").and_then(Value::as_u64).or_else(|| Some(config.get("hidden_size")?.as_u64()? / config.get("num_attention_heads")?.as_u64()?.max(1)))
}

/// Fit the switches to the model: a quantized KV cache groups by the
/// largest of 128, 64, 32 that divides the head dimension (a head
/// dimension none divides keeps 64, and the switch is then refused by the
/// package, named in its record).
pub fn fit(mut list: Vec<Candidate>, config: &Value) -> Vec<Candidate> {
    if let Some(hd) = head_dim(config) {
        if let Some(g) = [64u64, 128, 32].into_iter().find(|g| hd % g == 0) {
            for c in list.iter_mut().filter(|c| c.options.contains_key("kv_bits")) {
                c.options.insert("kv_group_size".into(), json!(g));
            }
        }
    }
    list
}

/// SHA-256 over a package's Python files (names and bytes, sorted): the
/// implementation the measurements belong to.
pub fn package_digest(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))?.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "__pycache__") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "py") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend_from_slice(f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().as_bytes());
        all.push(0);
        all.extend(std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?);
    }
    Ok(mlxport_util::hash::sha256_hex(&all))
}

/// The family a scaffolded package's stamp names (`decoder`, `encoder`,
/// `encoder-decoder`).
pub fn package_family(dir: &Path) -> Option<String> {
    std::fs::read(dir.join("mlxport_scaffold.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["family"].as_str().map(String::from))
}

/// Whether a scaffolded package has serving switches (decoders and
/// encoders).
pub fn has_switches(dir: &Path) -> bool {
    matches!(package_family(dir).as_deref(), Some("decoder" | "encoder"))
}

/// Every encoder switch.
pub fn encoder_defaults() -> Vec<Candidate> {
    ENCODER_NAMES.iter().map(|n| Candidate::by_id(n, 0).expect("known names")).collect()
}

/// One workload of an A/B measurement (a prompt length for decoders, the
/// sentence set for encoders).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `prompt N` or `S sentences`.
    pub workload: String,
    /// `decode tok/s` or `sentences/s`.
    pub unit: String,
    /// Candidate / first port of the throughput, median of the paired
    /// ratios, and its 95% CI.
    pub ratio: f64,
    pub ci: [f64; 2],
    pub verdict: String,
    /// Decoders: the same for prefill throughput.
    pub prefill_ratio: Option<f64>,
    pub prefill_ci: Option<[f64; 2]>,
    pub throughput: f64,
    pub baseline_throughput: f64,
    pub peak_memory_bytes: f64,
    pub baseline_peak_memory_bytes: f64,
    /// The candidate's output is the first port's: the same greedy tokens
    /// (decoders), embeddings at cosine >= 1 - 1e-6 (encoders).
    pub equal: bool,
    /// Encoders: the smallest cosine between the two sides' embeddings.
    pub min_cosine: Option<f64>,
}

/// The quality gate of a lossy switch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub verdict: String,
    pub reasons: Vec<String>,
    pub kl_mean: Option<f64>,
    pub top1_agreement: Option<f64>,
    pub perplexity_ratio: Option<f64>,
    pub greedy_exact_match: Option<f64>,
    /// Greedy tokens compared per prompt.
    pub greedy_tokens: usize,
    /// Relative to the work directory.
    pub report: String,
}

/// Keep or reject one switch, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchDecision {
    pub keep: bool,
    pub reason: String,
}

/// A measured switch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub change: String,
    pub options: Map<String, Value>,
    pub lossy: bool,
    pub rows: Vec<Row>,
    pub gate: Option<Gate>,
    pub error: Option<String>,
    pub decision: SwitchDecision,
    /// The side-by-side measurement (`mlxport.bench-versus/v1`), relative
    /// to the work directory.
    pub receipt: Option<String>,
    /// Speculative decoding: draft tokens proposed and accepted, the
    /// acceptance rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative: Option<Value>,
}

impl Record {
    /// A switch with nothing measured yet.
    fn unmeasured(id: &str, change: &str, options: &Map<String, Value>, lossy: bool) -> Record {
        Record {
            id: id.into(),
            change: change.into(),
            options: options.clone(),
            lossy,
            rows: Vec::new(),
            gate: None,
            error: None,
            decision: SwitchDecision { keep: false, reason: String::new() },
            receipt: None,
            speculative: None,
        }
    }
}

/// Write a switch's measurement as `receipts/serve-ID.json`; its path
/// relative to the work directory.
fn write_receipt(r: &Run, id: &str, doc: &impl Serialize) -> Result<String> {
    let rel = format!("receipts/serve-{id}.json");
    let path = r.work_dir.join(&rel);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(doc)? + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(rel)
}

/// Per-run throughput of one side of a harness document: `count` items
/// (from the document) over each run's seconds.
fn per_second(doc: &Value, side: &str, count: f64) -> Result<Vec<f64>> {
    let secs = doc[side]["seconds"].as_array().with_context(|| format!("no {side} seconds"))?;
    secs.iter().map(|x| x.as_f64().filter(|v| *v > 0.0).map(|v| count / v).context("a non-positive time")).collect()
}

/// The serving part of `optimize.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    /// The weights the switches were measured on (relative when inside the
    /// work directory).
    pub weights: String,
    pub package_sha256: String,
    pub records: Vec<Record>,
    /// The kept switches together, measured once more against the first
    /// port (absent when fewer than two were kept).
    pub combined: Option<Record>,
    /// The options the package now serves with (`{}`: the first port).
    pub defaults: Map<String, Value>,
    /// Kept serving modes (batched generation, speculative decoding).
    #[serde(default)]
    pub modes: Map<String, Value>,
}

/// What [`run`] measures with: the harness, the package, the chosen
/// weights, and the loop's gate and benchmark settings.
pub struct Run<'a> {
    pub h: &'a Harness,
    pub package: &'a Path,
    pub weights: &'a Path,
    pub work_dir: &'a Path,
    pub bench: &'a BenchSettings,
    pub lm: &'a gate::LmSettings,
    pub thresholds: &'a Thresholds,
    pub objective: Objective,
    pub fingerprint: Option<String>,
    /// The draft checkpoint `speculative` uses.
    pub draft: Option<&'a Path>,
}

/// Measure every switch, decide, combine the kept ones; writes
/// `receipts/serve-ID.json`, `quality/serve-ID.json` and `serving.json`
/// (removed when nothing is kept) in the work directory.
pub fn run(r: &Run, candidates: &[Candidate]) -> Result<Doc> {
    let rel = |p: &Path| p.strip_prefix(r.work_dir).map(|x| x.display().to_string()).unwrap_or_else(|_| p.display().to_string());
    let encoder = package_family(r.package).as_deref() == Some("encoder");
    for c in candidates {
        let is_enc = ENCODER_NAMES.contains(&c.id.as_str());
        if is_enc != encoder {
            bail!(
                "serving switch '{}' is for {} packages; this package is {}",
                c.id,
                if is_enc { "encoder" } else { "decoder" },
                package_family(r.package).unwrap_or_default()
            );
        }
    }
    let measure_one = |r: &Run, id: &str, change: &str, options: &Map<String, Value>, lossy: bool| {
        if MODES.contains(&id) {
            measure_mode_one(r, id, change, options)
        } else if encoder {
            measure_encoder_one(r, id, change, options)
        } else {
            measure_one(r, id, change, options, lossy)
        }
    };
    let mut records = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        eprintln!("[serving {}/{}] {}: {}", i + 1, candidates.len(), c.id, c.describe());
        records.push(measure_one(r, &c.id, &c.describe(), &c.options, c.lossy)?);
        eprintln!("    {}", records.last().expect("pushed").decision.reason);
    }
    let mut modes = Map::new();
    for m in records.iter().filter(|x| x.decision.keep && MODES.contains(&x.id.as_str())) {
        modes.extend(m.options.clone());
    }
    let kept: Vec<&Record> = records.iter().filter(|x| x.decision.keep && !MODES.contains(&x.id.as_str())).collect();
    let mut defaults = Map::new();
    let mut combined = None;
    if !kept.is_empty() {
        for k in &kept {
            defaults.extend(k.options.clone());
        }
        if kept.len() > 1 {
            let ids: Vec<&str> = kept.iter().map(|k| k.id.as_str()).collect();
            eprintln!("[serving] the kept switches together: {}", ids.join(" + "));
            let lossy = kept.iter().any(|k| k.lossy);
            let c = measure_one(r, "combined", &format!("together: {}", ids.join(" + ")), &defaults, lossy)?;
            eprintln!("    {}", c.decision.reason);
            if !c.decision.keep {
                // Together they do not hold: serve the single best one.
                let best = kept.iter().max_by(|a, b| best_ratio(a).partial_cmp(&best_ratio(b)).unwrap_or(std::cmp::Ordering::Equal)).expect("non-empty");
                defaults = best.options.clone();
            }
            combined = Some(c);
        }
    }
    let path = r.work_dir.join("serving.json");
    if defaults.is_empty() && modes.is_empty() {
        let _ = std::fs::remove_file(&path);
    } else {
        let doc = json!({
            "schema": SERVING_SCHEMA,
            "options": defaults,
            "modes": modes,
            "decided_by": "mlxport optimize: each switch measured against the first port (runs interleaved, paired 95% CI) and proven exact or within the quality gate",
            "objective": r.objective.as_str(),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Doc { weights: rel(r.weights), package_sha256: package_digest(r.package)?, records, combined, defaults, modes })
}

fn best_ratio(r: &Record) -> f64 {
    r.rows.iter().map(|x| x.ratio).fold(f64::NEG_INFINITY, f64::max)
}

fn measure_one(r: &Run, id: &str, change: &str, options: &Map<String, Value>, lossy: bool) -> Result<Record> {
    let opts = Value::Object(options.clone()).to_string();
    let mut rec = Record::unmeasured(id, change, options, lossy);
    if lossy {
        eprintln!("    quality gate: the first port against the same weights served with {opts} ...");
        let work = tempfile::Builder::new().prefix("mlxport-serving-").tempdir()?;
        // At least 64 greedy tokens per prompt: a cache's error grows with the context.
        let s =
            gate::LmSettings { package: Some(r.package.to_path_buf()), candidate_options: Some(opts.clone()), generate: r.lm.generate.max(64), ..r.lm.clone() };
        match gate::lm_gate(r.h, r.weights, r.weights, &s, work.path(), r.thresholds.clone()) {
            Ok(q) => {
                let path = r.work_dir.join("quality").join(format!("serve-{id}.json"));
                if let Some(p) = path.parent() {
                    std::fs::create_dir_all(p)?;
                }
                std::fs::write(&path, q.to_json())?;
                std::fs::write(path.with_extension("md"), q.to_markdown())?;
                rec.gate = Some(Gate {
                    verdict: q.verdict.to_string(),
                    reasons: q.reasons.clone(),
                    kl_mean: q.lm.as_ref().map(|m| m.kl_mean),
                    top1_agreement: q.lm.as_ref().map(|m| m.top1_agreement),
                    perplexity_ratio: q.lm.as_ref().map(|m| m.perplexity_ratio),
                    greedy_exact_match: q.greedy.as_ref().map(|g| g.exact_match_rate),
                    greedy_tokens: r.lm.generate.max(64),
                    report: format!("quality/serve-{id}.json"),
                });
            }
            Err(e) => rec.error = Some(format!("the quality gate could not run: {}", e.chain())),
        }
    }
    if rec.error.is_none() {
        eprintln!("    side by side with the first port ...");
        let mut g = GenerateRequest::new(r.package.to_path_buf(), r.bench.prompt_tokens.clone(), r.bench.gen_tokens, r.bench.runs, r.h.settings.clone());
        g.weights = Some(r.weights.to_path_buf());
        g.options = Some(opts);
        g.versus_options = Some("{}".into());
        g.warmup = r.bench.warmup;
        g.seed = Some(r.bench.seed);
        g.resamples = r.bench.resamples;
        g.workload = Some(format!("serving switch {id} against the first port"));
        let target = Target::Package { package: r.package.to_path_buf(), weights: r.weights.to_path_buf() };
        match crate::bench::run_versus(r.h, target, &g, r.fingerprint.clone(), None) {
            Ok((_, (_, Some(v)))) => {
                rec.rows = rows(&v);
                rec.receipt = Some(write_receipt(r, id, &v)?);
            }
            Ok(_) => rec.error = Some("the benchmark measured no first port to compare with".into()),
            Err(e) => rec.error = Some(format!("the side-by-side benchmark failed: {}", e.chain())),
        }
    }
    rec.decision = decide(&rec, r.objective);
    Ok(rec)
}

/// An encoder switch against the first port: sentences/s over the shipped
/// sentence and query sets, runs interleaved, and the embeddings compared.
fn measure_encoder_one(r: &Run, id: &str, change: &str, options: &Map<String, Value>) -> Result<Record> {
    let mut rec = Record::unmeasured(id, change, options, false);
    eprintln!("    side by side with the first port ...");
    let work = tempfile::Builder::new().prefix("mlxport-serving-").tempdir()?;
    let sentences = work.path().join("sentences.txt");
    std::fs::write(&sentences, format!("{}\n{}", mlxport_quality::data::SENTENCES, mlxport_quality::data::QUERIES))?;
    let req = mlxport_harness::jobs::EncoderBenchRequest {
        package: r.package.to_path_buf(),
        weights: r.weights.to_path_buf(),
        options: vec![Value::Object(options.clone()).to_string()],
        versus_options: Some("{}".into()),
        sentences,
        runs: r.bench.runs.max(3),
        warmup: r.bench.warmup,
    };
    match r.h.bench_encoder(&req).and_then(|raw| {
        serde_json::from_slice::<Value>(&raw).map_err(|e| mlxport_harness::Error::invalid(format!("the sentence-embedding benchmark's JSON: {e}")))
    }) {
        Ok(doc) => {
            let row = encoder_row(&doc, r.bench);
            match row {
                Ok(row) => rec.rows.push(row),
                Err(e) => rec.error = Some(format!("{e}")),
            }
            rec.receipt = Some(write_receipt(r, id, &doc)?);
        }
        Err(e) => rec.error = Some(format!("the side-by-side benchmark failed: {e}")),
    }
    rec.decision = decide(&rec, r.objective);
    Ok(rec)
}

/// A serving mode against the plain loop on a whole workload
/// (`bench_modes.py`): tokens/s of each side, paired run by run.
fn measure_mode_one(r: &Run, id: &str, change: &str, options: &Map<String, Value>) -> Result<Record> {
    let mut rec = Record::unmeasured(id, change, options, false);
    let draft = r.draft.map(Path::to_path_buf);
    if id == "speculative" && draft.is_none() {
        rec.error = Some(format!("no draft model: the {DRAFT} quantization of the baseline could not be made"));
    } else {
        eprintln!("    against the plain loop on the same workload ...");
        let req = mlxport_harness::jobs::ModeBenchRequest {
            package: r.package.to_path_buf(),
            weights: r.weights.to_path_buf(),
            mode: if id == "speculative" { "speculative".into() } else { "batch".into() },
            batch: options.get("batch").and_then(Value::as_u64).unwrap_or(4) as u32,
            draft,
            draft_tokens: 2,
            prompt_tokens: r.bench.prompt_tokens.iter().copied().max().unwrap_or(128),
            gen_tokens: r.bench.gen_tokens,
            runs: r.bench.runs.max(3),
            warmup: r.bench.warmup,
            seed: r.bench.seed,
        };
        match r.h.bench_modes(&req).and_then(|raw| {
            serde_json::from_slice::<Value>(&raw).map_err(|e| mlxport_harness::Error::invalid(format!("the serving-mode benchmark's JSON: {e}")))
        }) {
            Ok(doc) => {
                match mode_row(&doc, r.bench) {
                    Ok(row) => rec.rows.push(row),
                    Err(e) => rec.error = Some(format!("{e}")),
                }
                rec.speculative = doc.get("speculative").cloned();
                rec.receipt = Some(write_receipt(r, id, &doc)?);
            }
            Err(e) => rec.error = Some(format!("the serving-mode benchmark failed: {e}")),
        }
    }
    rec.decision = decide(&rec, r.objective);
    if let (Some(s), false) = (&rec.speculative, rec.decision.reason.is_empty()) {
        rec.decision.reason.push_str(&format!(
            "; draft acceptance {} ({} of {} proposed tokens)",
            s["acceptance"].as_f64().map_or("-".into(), |a| format!("{a:.3}")),
            s["accepted"],
            s["proposed"]
        ));
    }
    Ok(rec)
}

fn mode_row(doc: &Value, bench: &BenchSettings) -> Result<Row> {
    let tokens = |side: &str| doc[side]["tokens"].as_f64().with_context(|| format!("no {side} token count"));
    let prompts: Vec<String> = doc["workload"]["prompts"].as_array().into_iter().flatten().map(|x| x.to_string()).collect();
    let row = workload_row(doc, bench, (tokens("candidate")?, tokens("baseline")?), format!("prompts {}", prompts.join("/")), "tok/s")?;
    Ok(Row { equal: doc["same_tokens"] == true, ..row })
}

/// Cosine at or above which two embeddings are the same up to rounding.
pub const SAME_EMBEDDING_COSINE: f64 = 1.0 - 1e-6;

fn encoder_row(doc: &Value, bench: &BenchSettings) -> Result<Row> {
    let n = doc["sentences"].as_f64().context("no sentence count")?;
    let min_cos = doc["min_cosine"].as_f64().unwrap_or(f64::NAN);
    let row = workload_row(doc, bench, (n, n), format!("{} sentences", n as u64), "sentences/s")?;
    Ok(Row { equal: min_cos >= SAME_EMBEDDING_COSINE, min_cosine: Some(min_cos), ..row })
}

/// The row of a harness document with a candidate and a baseline side,
/// each with per-run seconds for `counts` items (candidate, baseline):
/// the paired throughput ratio, medians and peak memory; `equal` false
/// until the caller checks the outputs.
fn workload_row(doc: &Value, bench: &BenchSettings, counts: (f64, f64), workload: String, unit: &str) -> Result<Row> {
    let (c, b) = (per_second(doc, "candidate", counts.0)?, per_second(doc, "baseline", counts.1)?);
    if c.is_empty() || c.len() != b.len() {
        bail!("the benchmark returned {} and {} runs", c.len(), b.len());
    }
    let boot = mlxport_bench::stats::Bootstrap { resamples: bench.resamples, level: 0.95, seed: bench.seed };
    let cmp = mlxport_bench::compare::paired(&b, &c, mlxport_bench::compare::Better::Higher, &boot, mlxport_bench::compare::DEFAULT_MIN_EFFECT);
    Ok(Row {
        workload,
        unit: unit.into(),
        ratio: cmp.ratio,
        ci: [cmp.ratio_ci.low, cmp.ratio_ci.high],
        verdict: cmp.verdict.as_str().into(),
        prefill_ratio: None,
        prefill_ci: None,
        throughput: mlxport_bench::stats::median(&c),
        baseline_throughput: mlxport_bench::stats::median(&b),
        peak_memory_bytes: doc["candidate"]["peak_memory_bytes"].as_f64().unwrap_or(0.0),
        baseline_peak_memory_bytes: doc["baseline"]["peak_memory_bytes"].as_f64().unwrap_or(0.0),
        equal: false,
        min_cosine: None,
    })
}

fn rows(v: &Versus) -> Vec<Row> {
    let c = mlxport_bench::generate::rows(&v.candidate);
    let b = mlxport_bench::generate::rows(&v.baseline);
    v.rows
        .iter()
        .zip(c.iter().zip(&b))
        .map(|(r, (c, b))| Row {
            workload: format!("prompt {}", r.prompt_tokens),
            unit: "decode tok/s".into(),
            ratio: r.decode.ratio,
            ci: [r.decode.ratio_ci.low, r.decode.ratio_ci.high],
            verdict: r.decode.verdict.as_str().into(),
            prefill_ratio: Some(r.prefill.ratio),
            prefill_ci: Some([r.prefill.ratio_ci.low, r.prefill.ratio_ci.high]),
            throughput: c.decode_tokens_per_s,
            baseline_throughput: b.decode_tokens_per_s,
            peak_memory_bytes: c.peak_memory_bytes,
            baseline_peak_memory_bytes: b.peak_memory_bytes,
            equal: r.same_tokens == Some(true),
            min_cosine: None,
        })
        .collect()
}

fn ratio_text(rows: &[Row]) -> String {
    let parts: Vec<String> = rows
        .iter()
        .map(|x| {
            format!(
                "{}: {} {:.3}x [{:.3}, {:.3}]{}, peak memory {:.3}x",
                x.workload,
                x.unit,
                x.ratio,
                x.ci[0],
                x.ci[1],
                x.prefill_ratio.map(|p| format!(", prefill {p:.3}x")).unwrap_or_default(),
                x.peak_memory_bytes / x.baseline_peak_memory_bytes.max(1.0)
            )
        })
        .collect();
    parts.join("; ")
}

/// The rule. Correctness first: an exact switch must keep every greedy
/// token, a lossy one must pass the gate. Then the measurement: faster
/// means the paired decode ratio's interval lies above 1 at some prompt
/// length and below it at none; smaller means MLX's peak memory 1% lower
/// or more at every prompt length. Decode throughput keeps the faster
/// (peak memory no more than 5% higher), peak memory the smaller (decode
/// not slower), balanced either.
pub fn decide(r: &Record, objective: Objective) -> SwitchDecision {
    let no = |reason: String| SwitchDecision { keep: false, reason };
    if let Some(e) = &r.error {
        return no(format!("reject: {}", e.lines().next().unwrap_or_default()));
    }
    if r.rows.is_empty() {
        return no("reject: nothing was measured".into());
    }
    let measured = ratio_text(&r.rows);
    if let Some(g) = &r.gate {
        if g.verdict != "pass" {
            return no(format!("reject: fails the quality gate ({}); {measured}", g.reasons.join("; ")));
        }
    } else if let Some(x) = r.rows.iter().find(|x| !x.equal) {
        let what = match x.min_cosine {
            Some(c) => format!("changes the embeddings (min cosine {c:.9})"),
            None => "changes the greedy tokens".into(),
        };
        return no(format!("reject: {what} at {} (an exact switch must not); {measured}", x.workload));
    }
    fn verdict(x: &Row) -> &str {
        x.verdict.as_str()
    }
    let faster = r.rows.iter().any(|x| verdict(x) == Verdict::Faster.as_str()) && !r.rows.iter().any(|x| verdict(x) == Verdict::Slower.as_str());
    let slower = r.rows.iter().any(|x| verdict(x) == Verdict::Slower.as_str());
    let mem = r.rows.iter().map(|x| x.peak_memory_bytes / x.baseline_peak_memory_bytes.max(1.0)).fold(0.0f64, f64::max);
    let smaller = mem <= 0.99;
    let keep = match objective {
        Objective::DecodeThroughput => faster && mem <= 1.05,
        Objective::PeakMemory => smaller && !slower,
        Objective::Balanced => (faster && mem <= 1.05) || (smaller && !slower),
    };
    let encoder = r.rows.iter().any(|x| x.min_cosine.is_some());
    let held = if r.lossy {
        "within the quality gate"
    } else if encoder {
        "the same embeddings"
    } else {
        "identical greedy tokens"
    };
    if keep {
        SwitchDecision { keep: true, reason: format!("keep: {held}, {} ({measured})", if faster { "higher throughput" } else { "lower peak memory" }) }
    } else {
        let why = if slower { "is slower" } else { "no measurable gain for the objective" };
        no(format!("reject: {held} but {why} ({measured})"))
    }
}

/// The Markdown section of OPTIMIZATIONS.md.
pub fn to_markdown(d: &Doc) -> String {
    let mut s = String::from("\n## Serving switches\n\n");
    s.push_str(&format!(
        "Measured on `{}` through the package (Python files SHA-256 `{}`), each against the first port (`Options()`) in one process, runs interleaved; ratios are switch / first port, medians of the paired ratios with 95% bootstrap intervals.\n\n",
        d.weights,
        &d.package_sha256[..16.min(d.package_sha256.len())]
    ));
    s.push_str(
        "| switch | change | throughput ratio [95% CI] | prefill ratio | peak memory ratio | output / gate | decision |\n|---|---|---|---|---|---|---|\n",
    );
    for r in d.records.iter().chain(d.combined.iter()) {
        let dec: Vec<String> = r.rows.iter().map(|x| format!("{} ({}): {:.3} [{:.3}, {:.3}]", x.workload, x.unit, x.ratio, x.ci[0], x.ci[1])).collect();
        let pre: Vec<String> = r.rows.iter().map(|x| x.prefill_ratio.map_or("-".into(), |p| format!("{p:.3}"))).collect();
        let mem: Vec<String> = r.rows.iter().map(|x| format!("{:.3}", x.peak_memory_bytes / x.baseline_peak_memory_bytes.max(1.0))).collect();
        let held = match &r.gate {
            Some(g) => format!(
                "gate {} (KL {}, top-1 {}, greedy match {} over {} tokens)",
                g.verdict,
                g.kl_mean.map_or("-".into(), |v| format!("{v:.2e}")),
                g.top1_agreement.map_or("-".into(), |v| format!("{v:.3}")),
                g.greedy_exact_match.map_or("-".into(), |v| format!("{v:.3}")),
                g.greedy_tokens
            ),
            None if r.rows.is_empty() => "-".into(),
            None => match r.rows.iter().filter_map(|x| x.min_cosine).reduce(f64::min) {
                Some(c) => format!("embeddings min cosine {c:.9}"),
                None => (if r.rows.iter().all(|x| x.equal) { "identical tokens" } else { "tokens DIFFER" }).into(),
            },
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.id,
            r.change,
            dec.join("; "),
            pre.join("; "),
            mem.join("; "),
            held,
            if r.decision.keep { "kept" } else { "rejected" }
        ));
    }
    s.push('\n');
    for r in d.records.iter().chain(d.combined.iter()) {
        s.push_str(&format!("- **{}**: {}\n", r.id, r.decision.reason));
    }
    if d.defaults.is_empty() {
        s.push_str("\nThe package serves with its first port's options (no switch was kept).\n");
    } else {
        s.push_str(&format!("\nThe package serves with `{}` (its `serving.json`).\n", Value::Object(d.defaults.clone())));
    }
    if !d.modes.is_empty() {
        s.push_str(&format!(
            "\nServing modes that paid off (under `modes` in `serving.json`; `generate.batch_greedy`, `generate.speculative_greedy`): `{}`.\n",
            Value::Object(d.modes.clone())
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ratio: f64, verdict: &str, same: bool, mem: f64) -> Row {
        Row {
            workload: "prompt 128".into(),
            unit: "decode tok/s".into(),
            ratio,
            ci: [ratio - 0.01, ratio + 0.01],
            verdict: verdict.into(),
            prefill_ratio: Some(1.0),
            prefill_ci: Some([0.99, 1.01]),
            throughput: 10.0 * ratio,
            baseline_throughput: 10.0,
            peak_memory_bytes: mem,
            baseline_peak_memory_bytes: 100.0,
            equal: same,
            min_cosine: None,
        }
    }

    fn rec(rows: Vec<Row>, gate: Option<&str>) -> Record {
        Record {
            id: "x".into(),
            change: "x".into(),
            options: Map::new(),
            lossy: gate.is_some(),
            rows,
            gate: gate.map(|v| Gate {
                verdict: v.into(),
                reasons: vec!["kl_mean 0.1 > 0.05".into()],
                kl_mean: Some(0.1),
                top1_agreement: None,
                perplexity_ratio: None,
                greedy_exact_match: None,
                greedy_tokens: 64,
                report: String::new(),
            }),
            error: None,
            decision: SwitchDecision { keep: false, reason: String::new() },
            receipt: None,
            speculative: None,
        }
    }

    #[test]
    fn exact_switch_rules() {
        let d = decide(&rec(vec![row(1.2, "faster", true, 100.0)], None), Objective::DecodeThroughput);
        assert!(d.keep, "{d:?}");
        let d = decide(&rec(vec![row(1.2, "faster", false, 100.0)], None), Objective::DecodeThroughput);
        assert!(!d.keep && d.reason.contains("changes the greedy tokens"), "{d:?}");
        let d = decide(&rec(vec![row(1.0, "no difference beyond noise", true, 100.0)], None), Objective::DecodeThroughput);
        assert!(!d.keep && d.reason.contains("no measurable gain"), "{d:?}");
        let d = decide(&rec(vec![row(1.2, "faster", true, 100.0), row(0.8, "slower", true, 100.0)], None), Objective::DecodeThroughput);
        assert!(!d.keep && d.reason.contains("slower"), "{d:?}");
        // Faster but 10% more memory: not for decode throughput.
        assert!(!decide(&rec(vec![row(1.2, "faster", true, 110.0)], None), Objective::DecodeThroughput).keep);
        // Smaller, not slower: peak memory keeps it, decode throughput does not.
        let r = rec(vec![row(1.0, "no difference beyond noise", true, 80.0)], None);
        assert!(decide(&r, Objective::PeakMemory).keep);
        assert!(!decide(&r, Objective::DecodeThroughput).keep);
        assert!(decide(&r, Objective::Balanced).keep);
    }

    #[test]
    fn lossy_switch_needs_the_gate() {
        // Different tokens are allowed for a lossy switch; the gate decides.
        let d = decide(&rec(vec![row(1.2, "faster", false, 100.0)], Some("fail")), Objective::DecodeThroughput);
        assert!(!d.keep && d.reason.contains("quality gate") && d.reason.contains("kl_mean"), "{d:?}");
        assert!(decide(&rec(vec![row(1.0, "no difference beyond noise", false, 50.0)], Some("pass")), Objective::PeakMemory).keep);
    }

    #[test]
    fn lists_and_defaults() {
        let b = BenchSettings { prompt_tokens: vec![32, 512], ..BenchSettings::default() };
        assert_eq!(chunk_for(&b), 256);
        let ids: Vec<String> = defaults(&json!({"sliding_window": null}), &b).into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["compile", "fuse", "rope-tables", "cache-step", "pipeline", "prefill-chunk", "kv8", "kv4", "batch4", "speculative"]);
        assert!(defaults(&json!({"sliding_window": 4096}), &b).iter().any(|c| c.id == "rotating"));
        assert!(Candidate::parse_list("none", 16).unwrap().is_empty());
        assert_eq!(Candidate::parse_list("kv8,compile", 16).unwrap()[0].options["kv_bits"], 8);
        assert!(Candidate::parse_list("compile,compile", 16).unwrap_err().to_string().contains("twice"));
        assert!(Candidate::parse_list("turbo", 16).unwrap_err().to_string().contains("unknown serving switch"));
    }
}
