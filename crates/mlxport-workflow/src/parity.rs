//! `mlxport parity`: the whole parity ladder of a port in one command —
//! the configuration each side reads, the weights the MLX side loads, the
//! source oracle, the MLX capture, the tensor ladder (preprocessing,
//! embeddings, every block, final norm, logits, greedy tokens, cached
//! decoding), and cached decoding against full recomputation on the MLX
//! side — stopping at the first divergence and explaining it.
//!
//! [`pipeline`] is the entry: `mlxport parity`, the port's parity step and
//! the parity matrix call it with a [`ParityRequest`] and read the
//! [`ParityOutcome`].

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use mlxport_harness::jobs::{CaptureRequest, Harness, Inputs, OracleRequest, Settings as HarnessSettings, Target};
use mlxport_harness::Manifest;
use mlxport_parity::compare::{compare_pair, Settings};
use mlxport_parity::ladder::{self, Kind};
use mlxport_parity::render;
use mlxport_parity::report::{FirstDivergence, Hint, LadderChoice, LadderReport, RunOptions, RungReport, RungStatus, Symptom};
use mlxport_parity::tolerance::Rule;
use mlxport_parity::{atlas, Status};
use serde_json::Value;

pub use mlxport_parity::parity_report::{
    markdown_of, ConfigField, ConfigStatus, ParityReport, TargetInfo, TargetKind, WeightCheck, CAPTURE_FILE, ORACLE_FILE, REPORT_JSON, REPORT_MD, REPORT_SVG,
    SCHEMA,
};

/// What to prove.
#[derive(Clone, Debug)]
pub struct ParityRequest {
    /// The source model: a Hugging Face directory or a GGUF file.
    pub source: PathBuf,
    /// The MLX side: a scaffolded package with its weights, or mlx-lm's
    /// own implementation of a model directory.
    pub target: Target,
    /// The inputs both sides run on (texts or token ids; `generate` for
    /// greedy tokens and cached decoding).
    pub inputs: Inputs,
    /// Directory for the oracle, the capture and the reports (created).
    pub out: PathBuf,
    /// Climb every rung instead of stopping at the first divergence.
    pub all: bool,
    /// Source compute dtype: `float32` or `checkpoint`.
    pub dtype: String,
    pub seed: u64,
    /// Reuse this oracle (npz with its manifest beside it) instead of
    /// running the source again; its inputs replace `inputs`.
    pub oracle: Option<PathBuf>,
    /// Reuse this capture of the target on the oracle's inputs (npz with
    /// its manifest beside it, made with generation for decoders) instead
    /// of running the MLX side again.
    pub capture: Option<PathBuf>,
    pub harness: HarnessSettings,
    /// Check once that the preloaded BLAS changes no MLX result.
    pub blas_check: bool,
    /// Extra per-tensor tolerance rules (`REGEX=atol:..,rtol:..`).
    pub tol: Vec<String>,
}

impl ParityRequest {
    /// A request with the defaults: float32, seed 0, stop at the first
    /// divergence, BLAS checked, no extra rules.
    pub fn new(source: PathBuf, target: Target, inputs: Inputs, out: PathBuf) -> ParityRequest {
        ParityRequest {
            source,
            target,
            inputs,
            out,
            all: false,
            dtype: "float32".into(),
            seed: 0,
            oracle: None,
            capture: None,
            harness: HarnessSettings::default(),
            blas_check: true,
            tol: Vec::new(),
        }
    }
}

/// What a parity run found, and where it wrote it.
#[derive(Clone, Debug)]
pub struct ParityOutcome {
    pub report: ParityReport,
    pub json: PathBuf,
    pub markdown: PathBuf,
    pub svg: PathBuf,
    pub oracle: Option<PathBuf>,
    pub capture: Option<PathBuf>,
}

impl ParityOutcome {
    pub fn passed(&self) -> bool {
        self.report.status == Status::Pass
    }
}

/// The per-rung gate for float tensors: normwise relative errors within
/// `rtol = eps^(2/3)` of the dtype (`||a-b||_2 <= rtol ||b||_2` and
/// `max|a-b| <= rtol max|b|`, see `mlxport_parity::tolerance`), and the
/// cosine at least `1 - rtol^2 / 2`. Cosine is quadratic in the error — a relative RMS
/// error `e` gives `1 - cos ~= e^2 / 2` — so this bound is the one that
/// matches a relative error of `rtol`; `1 - rtol` would let a relative
/// error of `sqrt(2 rtol)` (0.7% in float32) through.
pub fn cosine_gate(rtol: f64) -> f64 {
    1.0 - rtol * rtol / 2.0
}

fn settings(req: &ParityRequest, float_rtol: f64) -> Result<Settings> {
    let mut rules = vec![Rule::parse(&format!(".=norm:true,cosine:{}", cosine_gate(float_rtol)))?];
    for t in &req.tol {
        rules.push(Rule::parse(t)?);
    }
    Ok(Settings { rules, top_k: 5, ..Settings::default() })
}

fn rung(index: usize, name: &str, kind: Kind, stage: &str) -> RungReport {
    RungReport::skipped(index, name, kind, None, stage, Vec::new())
}

fn hint(stage: &str) -> Option<Hint> {
    atlas::for_stage(stage).map(|e| Hint { id: e.id.clone(), title: e.title.clone(), causes: e.causes.clone(), checks: e.checks.clone(), symptoms: Vec::new() })
}

/// Numbers are the same when they agree to float32 precision (a GGUF
/// stores its hyperparameters as float32, and MLX computes in it:
/// 9.99999974e-6 and 1e-5 are one value).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= f32::EPSILON as f64 * x.abs().max(y.abs()),
        _ => a == b,
    }
}

/// The config rung from the probe: every key either side reads.
fn config_fields(probe: &Value) -> Vec<ConfigField> {
    let empty = serde_json::Map::new();
    let s = probe["source_config"].as_object().unwrap_or(&empty);
    let t = probe["target_config"].as_object().unwrap_or(&empty);
    let keys: std::collections::BTreeSet<&String> = s.keys().chain(t.keys()).collect();
    keys.into_iter()
        .map(|k| {
            let (a, b) = (s.get(k).cloned().unwrap_or(Value::Null), t.get(k).cloned().unwrap_or(Value::Null));
            let status = match (a.is_null(), b.is_null()) {
                (false, true) => ConfigStatus::SourceOnly,
                (true, false) => ConfigStatus::TargetOnly,
                _ if same_value(&a, &b) => ConfigStatus::Same,
                _ => ConfigStatus::Differs,
            };
            ConfigField { key: k.clone(), source: a, target: b, status }
        })
        .collect()
}

fn shape_dtype(v: &Value) -> (Vec<u64>, String) {
    let shape = v[0].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
    (shape, v[1].as_str().unwrap_or("").to_string())
}

/// The weights rung: the model's parameters against what its loader gives
/// it, and the weight files against both.
fn weight_check(probe: &Value, weights_dir: &Path) -> Result<WeightCheck> {
    let empty = serde_json::Map::new();
    let params = probe["weights"]["parameters"].as_object().unwrap_or(&empty);
    let loaded = probe["weights"]["loaded"].as_object().unwrap_or(&empty);
    let mut w = WeightCheck { parameters: params.len(), loaded: loaded.len(), ..WeightCheck::default() };
    for (k, v) in params {
        match loaded.get(k) {
            None => w.missing.push(k.clone()),
            Some(l) => {
                let ((ps, _), (ls, _)) = (shape_dtype(v), shape_dtype(l));
                if ps != ls {
                    w.shape_mismatches.push(format!("{k}: the model expects {ps:?}, the weights have {ls:?}"));
                }
            }
        }
    }
    w.unexpected = loaded.keys().filter(|k| !params.contains_key(*k)).cloned().collect();
    // The weight files themselves (the ones the loader reads).
    let files: Vec<PathBuf> =
        probe["weights"]["files"].as_array().map(|a| a.iter().filter_map(|f| f.as_str()).map(|f| weights_dir.join(f)).collect()).unwrap_or_default();
    let conv_dtype = std::fs::read_to_string(weights_dir.join("mlxport-conversion.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|m| m["target"]["dtype"].as_str().map(str::to_string));
    for f in &files {
        let src = mlxport_tensor::open_file(f).with_context(|| format!("reading the weights {}", f.display()))?;
        for t in src.tensors() {
            let dt = t.encoding.to_string();
            if t.dtype().is_some_and(|d| d.is_float()) {
                *w.dtypes.entry(dt.clone()).or_default() += 1;
                if let Some(want) = &conv_dtype {
                    if !dtype_matches(want, &dt) {
                        w.dtype_mismatches.push(format!("{}: {dt}, the conversion manifest says {want}", t.name));
                    }
                }
            }
            if !loaded.contains_key(&t.name) {
                w.unused.push(format!("{} ({})", t.name, f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
            }
        }
    }
    if conv_dtype.is_none() && w.dtypes.len() > 1 {
        w.dtype_mismatches.push(format!("the float weights mix dtypes: {:?}", w.dtypes));
    }
    Ok(w)
}

fn dtype_matches(want: &str, got: &str) -> bool {
    let norm = |s: &str| match s.to_ascii_lowercase().as_str() {
        "float32" | "f32" | "fp32" => "f32".to_string(),
        "float16" | "f16" | "fp16" => "f16".to_string(),
        "bfloat16" | "bf16" => "bf16".to_string(),
        o => o.to_string(),
    };
    let w = norm(want);
    // A policy that keeps the source's dtypes names no single dtype.
    !matches!(w.as_str(), "f32" | "f16" | "bf16") || w == norm(got)
}

fn weights_dir(t: &Target) -> &Path {
    match t {
        Target::Package { weights, .. } => weights,
        Target::MlxLm { model } | Target::MlxVlm { model } => model,
    }
}

/// Compare the failing block's weights with the source's, name by name
/// (when the source is a directory of tensors under the same names): the
/// tensors that differ beyond the target dtype's rounding.
fn block_weight_diffs(source: &Path, target_weights: &Path, layer: u64) -> Vec<Symptom> {
    let Ok(src) = mlxport_tensor::open(source) else { return Vec::new() };
    let Ok(tgt) = mlxport_tensor::open(target_weights) else { return Vec::new() };
    let needle = format!("layers.{layer}.");
    let mut out = Vec::new();
    for t in tgt.tensors().iter().filter(|t| t.name.contains(&needle) && t.dtype().is_some_and(|d| d.is_float())) {
        let Ok(s) = src.info(&t.name) else { continue };
        if s.shape != t.shape {
            continue;
        }
        let (Ok(a), Ok(b)) = (tgt.read_f32(&t.name), src.read_f32(&t.name)) else { continue };
        let eps = t.dtype().and_then(mlxport_parity::tolerance::epsilon).unwrap_or(f32::EPSILON as f64);
        let cols = t.shape.last().copied().unwrap_or(1).max(1) as usize;
        let (mut count, mut worst, mut at) = (0usize, 0f64, 0usize);
        let mut rows = std::collections::BTreeSet::new();
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            let d = (x as f64 - y as f64).abs();
            if d > eps * (y as f64).abs() || !d.is_finite() && x.to_bits() != y.to_bits() {
                count += 1;
                rows.insert(i / cols);
                if d > worst || d.is_nan() {
                    worst = d;
                    at = i;
                }
            }
        }
        if count > 0 {
            let rows_s = if rows.len() <= 3 {
                format!("row{} {}", if rows.len() == 1 { "" } else { "s" }, rows.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "))
            } else {
                format!("{} rows", rows.len())
            };
            out.push(Symptom {
                id: "weight-differs".into(),
                title: format!(
                    "weight {} differs from the source's: {count} elements in {rows_s}, max |d| {:.3e} at row {} column {}",
                    t.name,
                    worst,
                    at / cols,
                    at % cols
                ),
                causes: vec![
                    "the converted weight is not the source's: a wrong mapping, transform or rounding, or the file was changed after conversion".into()
                ],
            });
        }
    }
    out
}

/// The config rung's findings, as a note on a block's hint.
fn config_differs(failures: &[String]) -> Symptom {
    Symptom {
        id: "config-differs".into(),
        title: format!("the config rung found differences: {}", failures.join("; ")),
        causes: vec![
            "the target reads a configuration value (RoPE base, norm epsilon, head counts) different from the source's: fix the converted config.json".into(),
        ],
    }
}

/// The names of the isolated rung (its outputs and the inputs it feeds)
/// and of the edges rung, left out of the full forward's comparison.
fn isolated_names() -> regex::Regex {
    regex::Regex::new(&format!("^({}|{}|{})", regex::escape(ladder::ISOLATED), regex::escape(ladder::BLOCK_INPUTS), regex::escape(ladder::EDGES)))
        .expect("a valid pattern")
}

/// Rung 3: each `isolated.<block>` of the capture (the block called on the
/// source's input to it) against the source's `<block>`. Empty when the
/// capture has no isolated outputs.
fn isolated_rungs(a: &dyn mlxport_tensor::TensorSource, b: &dyn mlxport_tensor::TensorSource, cm: &Manifest, base: &Settings) -> Result<Vec<RungReport>> {
    let rungs = ladder::isolated_rungs(&cm.names().into_iter().map(str::to_string).collect::<Vec<_>>());
    let table = rungs.iter().map(|r| (r.tensors[0].clone(), r.tensors[0][ladder::ISOLATED.len()..].to_string())).collect();
    let settings = Settings {
        names: mlxport_parity::compare::NameMap::Table(table),
        include: Some(regex::Regex::new(r"^(isolated\.)?((encoder|decoder|vision|text)\.)?layers\.\d+$").expect("a valid pattern")),
        exclude: None,
        ..base.clone()
    };
    every_rung(a, b, rungs, &settings)
}

/// Positions up to which rung 8's long input is held to the ladder's own
/// tolerance; beyond, its relative tolerance grows in proportion to the
/// last position. A float32 rotary angle `position * frequency` carries a
/// rounding error proportional to the position: transformers' and MLX's
/// float32 RoPE each differ from a float64 one by about 1.3e-4 (absolute,
/// unit inputs) below 1024 positions and 1.2e-3 at 4096 to 8192, so two
/// correct float32 implementations drift apart as the input grows.
pub const LONG_TOLERANCE_POSITIONS: u64 = 1024;

/// Prefix of the long input's tensors (`edges.long.prefill.logits` ...).
const LONG_EDGE: &str = "edges.long.";

/// The last position of the oracle's long case (its tokens plus those
/// decoded after it; 0 without one); `inputs` is the oracle manifest's.
fn long_last_position(inputs: &Value) -> u64 {
    let long = &inputs["edges"]["long"];
    long["token_ids"][0].as_array().map_or(0, |t| t.len() as u64) + long["generate"].as_u64().unwrap_or(0)
}

/// The factor on rung 8's long-input tolerance for its last position, at
/// least 1.
fn long_tolerance_factor(last: u64) -> f64 {
    (last as f64 / LONG_TOLERANCE_POSITIONS as f64).max(1.0)
}

/// Rung 8: each case of the capture's `edges.<case>.*` against the same
/// names in the oracle; the long input's relative tolerance scaled by
/// `long_factor`.
fn edge_rungs(
    a: &dyn mlxport_tensor::TensorSource,
    b: &dyn mlxport_tensor::TensorSource,
    cm: &Manifest,
    base: &Settings,
    long_factor: f64,
) -> Result<Vec<RungReport>> {
    let rungs = ladder::edge_rungs(&cm.names().into_iter().map(str::to_string).collect::<Vec<_>>());
    let mut settings =
        Settings { include: Some(regex::Regex::new(&format!("^{}", regex::escape(ladder::EDGES))).expect("a valid pattern")), exclude: None, ..base.clone() };
    if long_factor > 1.0 {
        settings.rtol_scale.push((regex::Regex::new(&format!("^{}", regex::escape(LONG_EDGE))).expect("a valid pattern"), long_factor));
    }
    every_rung(a, b, rungs, &settings)
}

/// Compare every rung of a group (none skipped after a failure).
fn every_rung(
    a: &dyn mlxport_tensor::TensorSource,
    b: &dyn mlxport_tensor::TensorSource,
    rungs: Vec<ladder::Rung>,
    settings: &Settings,
) -> Result<Vec<RungReport>> {
    if rungs.is_empty() {
        return Ok(Vec::new());
    }
    let opts = RunOptions { ladder: LadderChoice::Given(rungs, "manifest"), all: true, allow_unmatched: true };
    let report = mlxport_parity::run(a, b, settings, &opts, &mut |_, _| {})?;
    Ok(report.ladder.map(|l| l.rungs).unwrap_or_default())
}

/// A rung of a group judged on its own (rungs 3 and 8), placed at `index`:
/// skipped when an earlier rung diverged and the ladder does not climb
/// on (`climbed` false), else passed or failed by its own figures; a
/// failing rung's hint gets the `notes` made for it.
fn judge(mut r: RungReport, index: usize, climbed: bool, first: &mut Option<FirstDivergence>, notes: impl FnOnce(&RungReport) -> Vec<Symptom>) -> RungReport {
    r.index = index;
    if !climbed {
        return RungReport::skipped(r.index, &r.name, r.kind, r.layer, &r.stage, r.tensors.clone());
    }
    if r.status != RungStatus::Fail && r.failures.is_empty() {
        r.status = RungStatus::Pass;
        return r;
    }
    if r.hint.is_none() {
        r.hint = hint(&r.stage);
    }
    let extra = notes(&r);
    if let Some(h) = r.hint.as_mut() {
        h.symptoms.extend(extra);
    }
    fail(&mut r, first);
    r
}

/// The failing block's sub-layers and their weights in the converted
/// checkpoint (`self_attn: q_proj, k_proj, ...`), for the isolated rung's hint.
fn block_sublayers(target_weights: &Path, stack: Option<&str>, layer: u64) -> Option<Symptom> {
    let tgt = mlxport_tensor::open(target_weights).ok()?;
    let pattern = format!(r"(^|\.)(layers|layer|h|block|blocks)\.{layer}\.(.+)$");
    let re = regex::Regex::new(&pattern).ok()?;
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for t in tgt.tensors() {
        if stack.is_some_and(|s| !t.name.split('.').any(|c| c == s)) {
            continue;
        }
        let Some(c) = re.captures(&t.name) else { continue };
        let rest = c.get(3).map(|m| m.as_str()).unwrap_or("");
        let parts: Vec<&str> = rest.split('.').collect();
        let (group, leaf) = match parts.len() {
            0 | 1 => (rest.to_string(), String::new()),
            2 => (parts[0].to_string(), String::new()),
            _ => (parts[0].to_string(), parts[1..parts.len() - 1].join(".")),
        };
        let leaves = groups.entry(group).or_default();
        if !leaf.is_empty() && !leaves.contains(&leaf) {
            leaves.push(leaf);
        }
    }
    if groups.is_empty() {
        return None;
    }
    let listed: Vec<String> = groups
        .into_iter()
        .map(|(g, mut l)| {
            l.sort();
            if l.is_empty() {
                g
            } else {
                format!("{g} ({})", l.join(", "))
            }
        })
        .collect();
    Some(Symptom {
        id: "block-sublayers".into(),
        title: format!("{}block {layer}'s sub-layers: {}", stack.map(|s| format!("{s} ")).unwrap_or_default(), listed.join("; ")),
        causes: vec!["one of these computes differently from the source's: compare their outputs for this block on both sides".into()],
    })
}

/// Whether the forward-pass rungs of a capture made without decoding all
/// pass (the decode rungs, absent from it, are left out).
fn forward_passes(cap: &Path, oracle: &Path, req: &ParityRequest) -> Result<bool> {
    let oman_path = mlxport_harness::manifest::manifest_path(oracle);
    let text = std::fs::read_to_string(&oman_path).with_context(|| format!("cannot read {}", oman_path.display()))?;
    let rungs: Vec<_> = ladder::parse(&text)
        .map_err(|e| crate::error::Error::msg(format!("{}: {e}", oman_path.display())))?
        .into_iter()
        .filter(|r| !matches!(r.kind, Kind::Ids | Kind::CacheDecode))
        .map(|mut r| {
            r.tensors.retain(|t| !t.starts_with("full_decode."));
            r
        })
        .filter(|r| !r.tensors.is_empty())
        .collect();
    let (a, b) = (mlxport_tensor::open(cap)?, mlxport_tensor::open(oracle)?);
    let settings = settings(req, f32_rtol())?;
    let opts = RunOptions { ladder: LadderChoice::Given(rungs, "manifest"), all: false, allow_unmatched: true };
    let report = mlxport_parity::run(a.as_ref(), b.as_ref(), &settings, &opts, &mut |_, _| {})?;
    Ok(report.status == Status::Pass)
}

fn f32_rtol() -> f64 {
    let f = mlxport_tensor::Encoding::Dense(mlxport_tensor::DType::F32);
    mlxport_parity::tolerance::Tolerance::default_for(&f, &f).rtol
}

/// Refuse missing or wrong paths before any step runs.
fn check_paths(req: &ParityRequest) -> Result<()> {
    if !req.source.exists() {
        crate::bail!("--source {}: no such file or directory", req.source.display());
    }
    mlxport_harness::jobs::check_source(&req.source).with_context(|| format!("--source {}", req.source.display()))?;
    match &req.target {
        Target::Package { package, weights } => {
            if !package.join("__init__.py").is_file() {
                crate::bail!(
                    "--target {}: not a Python package (no __init__.py); make one with `mlxport scaffold`, or give `--target mlx-lm`",
                    package.display()
                );
            }
            if !weights.join("config.json").is_file() {
                crate::bail!("--weights {}: no config.json (give the directory the package's converter or `mlxport convert` wrote)", weights.display());
            }
        }
        Target::MlxLm { model } | Target::MlxVlm { model } => {
            if !model.join("config.json").is_file() {
                crate::bail!("--weights {}: no config.json (give the model directory mlx-lm or mlx-vlm loads)", model.display());
            }
        }
    }
    if let Some(o) = &req.oracle {
        if !o.is_file() {
            crate::bail!("--oracle {}: no such file (make one with `mlxport oracle -o FILE`)", o.display());
        }
    }
    Ok(())
}

/// Progress of the pipeline's steps, on stderr.
fn step(msg: &str) {
    eprintln!("parity: {msg}");
}

/// Mark a rung failed (with its atlas hint) and record it as the first
/// divergence if none came before.
fn fail(r: &mut RungReport, first: &mut Option<FirstDivergence>) {
    r.status = RungStatus::Fail;
    if r.hint.is_none() {
        r.hint = hint(&r.stage);
    }
    if first.is_none() {
        *first = Some(FirstDivergence {
            rung: r.index,
            name: r.name.clone(),
            stage: r.stage.clone(),
            hint: r.hint.as_ref().map(|h| h.id.clone()).unwrap_or_default(),
        });
    }
}

/// Run the whole ladder. Errors are for what could not run (a missing
/// model, a crashing step); divergences are in the outcome.
pub fn pipeline(req: &ParityRequest) -> Result<ParityOutcome> {
    check_paths(req)?;
    std::fs::create_dir_all(&req.out).with_context(|| format!("cannot create {}", req.out.display()))?;
    let mut h = Harness::new(req.harness.clone())?;
    let mut notes = Vec::new();
    let mut blas = h.blas.describe();
    if req.blas_check {
        // Without the cache marker: the report's bytes do not depend on
        // whether the check ran before.
        let v = h.verify_blas()?;
        blas = match &v.check {
            Some(c) if c.ok => format!("{} (checked: max relative change {:.1e})", v.blas, c.max_rel_error),
            _ => v.summary("ran"),
        };
    }
    let wdir = weights_dir(&req.target).to_path_buf();
    let mut rungs: Vec<RungReport> = Vec::new();
    let mut first: Option<FirstDivergence> = None;

    // Rungs 1-2: the configuration each side reads, the weights it loads.
    step("reading the configuration and weights each side uses");
    let probe = h.probe(&req.source, &req.target)?;
    let config = config_fields(&probe);
    let mut r = rung(0, "config", Kind::Other, "config");
    let differs: Vec<&ConfigField> = config.iter().filter(|f| f.status == ConfigStatus::Differs).collect();
    for f in &differs {
        r.failures.push(format!("{}: the source reads {}, the target reads {}", f.key, f.source, f.target));
    }
    let target_error = probe["target_error"].as_str().map(|e| format!("the target cannot build the model from the converted config: {e}"));
    r.failures.extend(target_error.clone());
    if r.failures.is_empty() {
        r.status = RungStatus::Pass;
    } else {
        fail(&mut r, &mut first);
    }
    let config_failures = r.failures.clone();
    rungs.push(r);
    let weights = weight_check(&probe, &wdir)?;
    let mut r = rung(1, "weights", Kind::Other, "weights");
    r.failures = weights.failures();
    r.failures.extend(target_error);
    if r.failures.is_empty() {
        r.status = RungStatus::Pass;
    } else {
        fail(&mut r, &mut first);
    }
    rungs.push(r);

    let stop = first.is_some() && !req.all;
    let (mut oracle_path, mut capture_path, mut compare) = (None, None, None);
    if !stop {
        // The source oracle (or the one given), then the MLX side on its inputs.
        let oracle = match &req.oracle {
            Some(p) => {
                let m = Manifest::read(&mlxport_harness::manifest::manifest_path(p))?;
                m.verify(p)?;
                p.clone()
            }
            None => {
                step("running the source model (transformers, CPU)");
                let o = req.out.join(ORACLE_FILE);
                h.oracle(&OracleRequest { model: req.source.clone(), inputs: req.inputs.clone(), out: o.clone(), dtype: req.dtype.clone(), seed: req.seed })?;
                o
            }
        };
        let decodes = Manifest::read(&mlxport_harness::manifest::manifest_path(&oracle))?.tensors.iter().any(|t| t.name == "generated.ids");
        let (cap, cm) = match &req.capture {
            Some(p) => {
                let m = Manifest::read(&mlxport_harness::manifest::manifest_path(p))?;
                m.verify(p)?;
                (p.clone(), m)
            }
            None => {
                let cap = req.out.join(CAPTURE_FILE);
                step("running the MLX side");
                // Without --all, the forward pass first: a port that
                // diverges there is not decoded at all.
                let mut cm =
                    h.capture(&CaptureRequest { target: req.target.clone(), oracle: oracle.clone(), out: cap.clone(), generate: req.all || !decodes })?;
                if !req.all && decodes && forward_passes(&cap, &oracle, req)? {
                    step("the forward pass matches; decoding on the MLX side");
                    cm = h.capture(&CaptureRequest { target: req.target.clone(), oracle: oracle.clone(), out: cap.clone(), generate: true })?;
                }
                (cap, cm)
            }
        };
        let oman_path = mlxport_harness::manifest::manifest_path(&oracle);
        let oman_text = std::fs::read_to_string(&oman_path).with_context(|| format!("cannot read {}", oman_path.display()))?;
        let mut ladder_rungs = ladder::parse(&oman_text).map_err(|e| crate::error::Error::msg(format!("{}: {e}", oman_path.display())))?;
        // Encoder outputs (last hidden state, pooler, pooled, sentence
        // embedding) are one rung each.
        ladder_rungs = ladder_rungs
            .into_iter()
            .flat_map(|r| {
                if r.kind == Kind::Other && r.tensors.len() > 1 {
                    r.tensors.iter().map(|t| ladder::Rung { name: t.clone(), tensors: vec![t.clone()], ..r.clone() }).collect()
                } else {
                    vec![r]
                }
            })
            .collect();
        if !cm.tensors.iter().any(|t| t.name == "generated.ids") {
            // Not decoded (an earlier rung diverged): no decode rungs.
            for r in &mut ladder_rungs {
                r.tensors.retain(|t| !["generated.", "cache_decode.", "full_decode."].iter().any(|p| t.starts_with(p)));
            }
            ladder_rungs.retain(|r| !r.tensors.is_empty());
        }
        step("comparing");
        let a = mlxport_tensor::open(&cap)?;
        let b = mlxport_tensor::open(&oracle)?;
        let mut settings = settings(req, f32_rtol())?;
        let mut isolated = isolated_rungs(a.as_ref(), b.as_ref(), &cm, &settings)?;
        settings.exclude = Some(isolated_names());
        let opts = RunOptions { ladder: LadderChoice::Given(ladder_rungs, "manifest"), all: true, allow_unmatched: false };
        let report = mlxport_parity::run(a.as_ref(), b.as_ref(), &settings, &opts, &mut |_, _| {})?;
        let tok = &cm.checks;
        let mut layer_diffed = false;
        for lr in report.ladder.as_ref().map(|l| l.rungs.clone()).unwrap_or_default() {
            if lr.kind == Kind::Layer && !isolated.is_empty() {
                // Rung 3 before the full stack: every block on the source's
                // input to it, each judged on its own (a failing block does
                // not skip the next), so the first divergent block is named
                // exactly.
                let climbed = first.is_none() || req.all;
                for ir in std::mem::take(&mut isolated) {
                    // The atlas's isolated-block entry, plus this block's
                    // sub-layers and weights.
                    let judged = judge(ir, rungs.len(), climbed, &mut first, |ir| {
                        let Some(n) = ir.layer else { return Vec::new() };
                        let stack = ir.tensors.first().and_then(|t| ladder::stack(t.strip_prefix(ladder::ISOLATED).unwrap_or(t)));
                        let mut notes: Vec<Symptom> = block_sublayers(&wdir, stack, n).into_iter().collect();
                        notes.extend(block_weight_diffs(&req.source, &wdir, n));
                        if !config_failures.is_empty() {
                            notes.push(config_differs(&config_failures));
                        }
                        notes
                    });
                    rungs.push(judged);
                }
            }
            let mut lr = lr;
            lr.index = rungs.len();
            if lr.kind == Kind::Inputs {
                lr.name = "preprocessing".into();
                match (tok["tokenizer_matches"].as_bool(), tok["tokenizer_error"].as_str()) {
                    (Some(false), _) => lr
                        .failures
                        .push(format!("the target's tokenizer encodes the texts differently from the source's (lengths {})", tok["tokenizer_lengths"])),
                    (_, Some(e)) => lr.failures.push(format!("the target's tokenizer could not be used: {e}")),
                    (Some(true), _) => {}
                    (None, None) => notes.push("preprocessing: inputs given as token ids, the tokenizers were not compared".into()),
                }
            }
            let failed = lr.status == RungStatus::Fail || !lr.failures.is_empty();
            if !failed {
                lr.status = if first.is_some() && !req.all { RungStatus::Skipped } else { RungStatus::Pass };
            } else if first.is_some() && !req.all {
                lr.status = RungStatus::Skipped;
                lr.hint = None;
            } else {
                if lr.hint.is_none() {
                    lr.hint = hint(&lr.stage);
                }
                if let (Kind::Layer, Some(n), Some(h)) = (lr.kind, lr.layer, lr.hint.as_mut()) {
                    if !layer_diffed {
                        layer_diffed = true;
                        h.symptoms.extend(block_weight_diffs(&req.source, &wdir, n));
                    }
                    if !config_failures.is_empty() {
                        h.symptoms.push(config_differs(&config_failures));
                    }
                }
                fail(&mut lr, &mut first);
            }
            rungs.push(lr);
        }
        // Cached decoding against full recomputation on the MLX side.
        if cm.tensors.iter().any(|t| t.name == "cache_decode.logits") && cm.tensors.iter().any(|t| t.name == "full_decode.logits") {
            let mut r = rung(rungs.len(), "cache_vs_full", Kind::CacheDecode, "cache_decode");
            r.tensors = vec!["cache_decode.logits".into(), "full_decode.logits".into()];
            if first.is_some() && !req.all {
                rungs.push(r);
            } else {
                let p = compare_pair(a.as_ref(), a.as_ref(), "cache_decode.logits", "full_decode.logits", &settings, None, &mut |_| {})?;
                r.max_abs = p.max_abs();
                r.max_rel = p.float.as_ref().and_then(|f| f.rel_linf.or(f.max_rel));
                r.cosine = p.cosine();
                r.atol = p.tolerance.atol;
                r.violations = p.float.as_ref().map(|f| f.allclose.violations).unwrap_or(0);
                r.failures = p.failures.iter().map(|f| format!("cache_decode.logits vs full_decode.logits: {f}")).collect();
                if p.status == Status::Pass {
                    r.status = RungStatus::Pass;
                } else {
                    fail(&mut r, &mut first);
                }
                rungs.push(r);
            }
        }
        // Rung 8, the edges: every case judged on its own.
        let climbed = first.is_none() || req.all;
        let oracle_manifest = Manifest::read(&mlxport_harness::manifest::manifest_path(&oracle))?;
        let last = long_last_position(&oracle_manifest.inputs);
        let long_factor = long_tolerance_factor(last);
        if long_factor > 1.0 && cm.tensors.iter().any(|t| t.name.starts_with(LONG_EDGE)) {
            notes.push(format!(
                "edge long: relative tolerance x{long_factor:.2} for its last position {last} (float32 position encodings lose precision in proportion to the position; the ladder's own tolerance holds to {LONG_TOLERANCE_POSITIONS})"
            ));
        }
        for er in edge_rungs(a.as_ref(), b.as_ref(), &cm, &settings, long_factor)? {
            let judged = judge(er, rungs.len(), climbed, &mut first, |_| Vec::new());
            rungs.push(judged);
        }
        if let Value::String(why) = &cm.checks["edges_long"] {
            notes.push(format!("edge long: {why}"));
        }
        match &cm.checks["edges"] {
            Value::String(why) => notes.push(format!("edges: {why}")),
            _ if !cm.tensors.iter().any(|t| t.name.starts_with(ladder::EDGES)) && oracle_manifest.tensors.iter().any(|t| t.name.starts_with(ladder::EDGES)) => {
                notes.push("edges: the capture has no edge cases (decoding did not run)".into())
            }
            _ => {}
        }
        if let Some(st) = cm.checks.get("streaming") {
            let mut r = rung(rungs.len(), "edge streaming", Kind::Other, "edges");
            if !climbed {
                rungs.push(r);
            } else {
                for m in st["mismatches"].as_array().into_iter().flatten() {
                    r.failures.push(format!("prompt {}: streamed {} but decoded whole {}", m["prompt"], m["streamed"], m["whole"]));
                }
                if let Some(n) = st["note"].as_str() {
                    notes.push(format!("edge streaming: {n}"));
                }
                if r.failures.is_empty() {
                    r.status = RungStatus::Pass;
                } else {
                    fail(&mut r, &mut first);
                }
                rungs.push(r);
            }
        }
        oracle_path = Some(oracle);
        capture_path = Some(cap);
        compare = Some(report);
    }
    let ladder = LadderReport { source: "parity".into(), all: req.all, rungs, first_divergence: first.clone() };
    let status = if first.is_some() { Status::Fail } else { Status::Pass };
    let target = match &req.target {
        Target::Package { package, weights } => {
            TargetInfo { kind: TargetKind::Package, package: Some(package.display().to_string()), weights: weights.display().to_string() }
        }
        Target::MlxLm { model } => TargetInfo { kind: TargetKind::MlxLm, package: None, weights: model.display().to_string() },
        Target::MlxVlm { model } => TargetInfo { kind: TargetKind::MlxVlm, package: None, weights: model.display().to_string() },
    };
    let report = ParityReport {
        schema: SCHEMA.into(),
        status,
        source: req.source.display().to_string(),
        target,
        first_divergence: first,
        ladder,
        config,
        weights,
        compare,
        oracle: oracle_path.as_ref().map(|p| p.display().to_string()),
        capture: capture_path.as_ref().map(|p| p.display().to_string()),
        blas,
        notes,
    };
    let (json, markdown, svg) = (req.out.join(REPORT_JSON), req.out.join(REPORT_MD), req.out.join(REPORT_SVG));
    mlxport_util::fs::write_atomic(&json, report.to_json().as_bytes()).with_context(|| format!("writing {}", json.display()))?;
    mlxport_util::fs::write_atomic(&markdown, markdown_of(&report).as_bytes()).with_context(|| format!("writing {}", markdown.display()))?;
    mlxport_util::fs::write_atomic(&svg, render::svg(&report.ladder).as_bytes()).with_context(|| format!("writing {}", svg.display()))?;
    Ok(ParityOutcome { report, json, markdown, svg, oracle: oracle_path, capture: capture_path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_input_tolerance_grows_past_1024_positions_only() {
        let long = |n: usize, generate: u64| serde_json::json!({"edges": {"long": {"token_ids": [vec![7; n]], "generate": generate}}});
        assert_eq!(long_last_position(&long(8186, 4)), 8190);
        assert_eq!(long_tolerance_factor(long_last_position(&long(250, 4))), 1.0);
        assert_eq!(long_tolerance_factor(long_last_position(&long(1020, 4))), 1.0);
        assert_eq!(long_tolerance_factor(long_last_position(&long(8186, 6))), 8.0);
        assert_eq!(long_tolerance_factor(long_last_position(&long(2048, 0))), 2.0);
        assert_eq!(long_last_position(&serde_json::json!({"token_ids": [[1, 2]]})), 0);
        assert_eq!(long_tolerance_factor(0), 1.0);
        assert!(LONG_EDGE.starts_with(ladder::EDGES));
    }
}
