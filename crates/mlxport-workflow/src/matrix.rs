//! `mlxport parity matrix`: the parity matrix — for every spec entry
//! (`python/matrix/*.json`, embedded at build time), a tiny random-weight
//! checkpoint built by transformers from the entry's config with a fixed
//! seed, then inspect -> scaffold plan -> map draft + validate -> convert
//! -> parity through every rung, against the generated package and against
//! mlx-lm where mlx-lm implements the model type. Entries expected to fail
//! closed pass when the scaffold refuses them with the expected message.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use mlxport_convert::plan::DtypePolicy;
use mlxport_harness::jobs::{Harness, Inputs, Settings as HarnessSettings, Target as MlxSide};
use mlxport_harness::scaffold;

use crate::parity::{pipeline, ParityRequest};
use mlxport_contract::Target;
use mlxport_util::fs::write_atomic;

include!(concat!(env!("OUT_DIR"), "/matrix_specs.rs"));

/// Version of the matrix report.
pub const SCHEMA: &str = "mlxport.parity-matrix/v1";
/// Greedy new tokens per prompt for generative entries.
pub const GENERATE: u32 = 16;
/// Token-id sequence lengths of the input batch (right-padded), unless an
/// entry gives its own `lengths`.
pub const LENGTHS: &[usize] = &[24, 15];
/// The command that regenerates the matrix section of docs/parity-matrix.md.
pub const REGENERATE: &str = "mlxport parity matrix --target both --markdown docs/parity-matrix.md";
/// Markers of the generated section inside a larger Markdown file.
pub const BEGIN: &str = "<!-- parity-matrix:begin -->";
pub const END: &str = "<!-- parity-matrix:end -->";

/// The file `--markdown` writes: the section alone, or — when the file
/// exists and holds the [`BEGIN`]/[`END`] markers — the file with the text
/// between them replaced.
pub fn splice(existing: Option<&str>, section: &str) -> String {
    if let Some(old) = existing {
        if let (Some(b), Some(e)) = (old.find(BEGIN), old.find(END)) {
            if b < e {
                return format!("{}{BEGIN}\n{section}{}", &old[..b], &old[e..]);
            }
        }
    }
    section.to_string()
}

/// One spec file.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Spec {
    pub name: String,
    pub model_type: String,
    pub family: String,
    #[serde(default)]
    pub auto_class: Option<String>,
    pub config: Value,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub generative: bool,
    pub expect: String,
    /// Token-id sequence lengths (default [`LENGTHS`]).
    #[serde(default)]
    pub lengths: Option<Vec<usize>>,
    /// A known divergence of mlx-lm's own implementation from the source
    /// (`fail: WHY`): the mlx-lm target is then expected to fail, and the
    /// reason is shown beside its result. `pass`: mlx-lm is asked, and
    /// expected to pass, even where the scaffold is expected to fail closed
    /// (a model type only mlx-lm implements).
    #[serde(default)]
    pub expect_mlx_lm: Option<String>,
    /// Image models: the Hugging Face image processor saved beside the
    /// checkpoint (`{"class": "ViTImageProcessor", "kwargs": {...}}`); the
    /// entry then runs on the built-in photographs.
    #[serde(default)]
    pub image_processor: Option<Value>,
    /// Vision-language models: the Hugging Face processor built over the
    /// image processor and the tokenizer (`{"class": "LlavaProcessor",
    /// "kwargs": {...}}`; the image token is added to the tokenizer at the
    /// config's `image_token_index`).
    #[serde(default)]
    pub processor: Option<Value>,
}

impl Spec {
    /// The refusal substring when the entry is expected to fail closed.
    pub fn fail_closed(&self) -> Option<&str> {
        self.expect.strip_prefix("fail-closed:").map(str::trim)
    }
    /// The reason, when the scaffold is known to miss the parity gate on
    /// this entry (a recorded gap, shown in the table, never hidden).
    pub fn known_divergence(&self) -> Option<&str> {
        self.expect.strip_prefix("known-divergence:").map(str::trim)
    }
}

/// Parse and check every embedded spec file.
pub fn specs() -> Result<Vec<Spec>> {
    let mut out: Vec<Spec> = Vec::new();
    for (file, text) in SPECS {
        out.push(parse_spec(file, text)?);
    }
    Ok(out)
}

/// One spec file, checked: the name is the file stem, the family is one
/// of the four, `expect` is `pass` or `fail-closed: MESSAGE`.
pub fn parse_spec(file: &str, text: &str) -> Result<Spec> {
    let s: Spec = serde_json::from_str(text)
        .with_context(|| format!("{file}: not a matrix spec (keys: name, model_type, family, auto_class, config, features, generative, expect)"))?;
    let stem = file.strip_suffix(".json").unwrap_or(file);
    if s.name != stem {
        bail!("{file}: name '{}' must be the file stem '{stem}'", s.name);
    }
    if !["dense-decoder", "moe-decoder", "encoder", "encoder-decoder", "vision", "vision-language"].contains(&s.family.as_str()) {
        bail!("{file}: family '{}' is not one of dense-decoder, moe-decoder, encoder, encoder-decoder, vision, vision-language", s.family);
    }
    let vision = s.family == "vision" || s.family == "vision-language";
    if vision && s.image_processor.as_ref().is_none_or(|p| !p["class"].is_string()) {
        bail!("{file}: an image model needs image_processor {{\"class\": ..., \"kwargs\": {{...}}}}");
    }
    if s.family == "vision-language" && (s.processor.as_ref().is_none_or(|p| !p["class"].is_string()) || !s.config["image_token_index"].is_u64()) {
        bail!("{file}: a vision-language model needs processor {{\"class\": ..., \"kwargs\": {{...}}}} and config.image_token_index");
    }
    if s.expect != "pass" && s.fail_closed().is_none_or(str::is_empty) && s.known_divergence().is_none_or(str::is_empty) {
        bail!("{file}: expect must be \"pass\", \"fail-closed: <part of the refusal message>\" or \"known-divergence: <why>\", not {:?}", s.expect);
    }
    if s.expect_mlx_lm.as_deref().is_some_and(|x| x != "pass" && (!x.starts_with("fail:") || x.len() < 7)) {
        bail!("{file}: expect_mlx_lm must be \"pass\" or \"fail: <why mlx-lm diverges>\"");
    }
    if !s.config.is_object() || (!vision && s.config["vocab_size"].as_u64().is_none_or(|v| v < 8)) {
        bail!("{file}: config must be an object with vocab_size >= 8 (image models: an object)");
    }
    if s.name.is_empty() || !s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("{file}: name '{}' must be letters, digits, '-' and '_'", s.name);
    }
    Ok(s)
}

/// Greedy decoding on both sides, and how clear-cut the source's choices are.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Greedy {
    /// Tokens the target chose exactly as the source, of all new tokens.
    pub agree: usize,
    pub total: usize,
    /// The first (prompt, step) where they differ.
    pub first_mismatch: Option<(usize, usize)>,
    /// The source's top-1 minus top-2 logit at every step, per prompt
    /// (cached decoding's logits).
    pub margins: Vec<Vec<f64>>,
    pub min_margin: Option<f64>,
}

/// The outcome of one (entry, target).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EntryResult {
    pub name: String,
    pub model_type: String,
    pub family: String,
    /// `scaffold` or `mlx-lm`.
    pub target: String,
    pub features: Vec<String>,
    pub expect: String,
    /// `pass`, `fail`, `fail-closed` or `skipped`.
    pub status: String,
    /// The outcome is what the spec expects (skipped entries count as
    /// expected).
    pub as_expected: bool,
    pub rungs_passed: usize,
    pub rungs_runnable: usize,
    pub worst_cosine: Option<f64>,
    pub greedy: Option<Greedy>,
    /// The first divergence, the refusal, the skip reason or the error.
    pub message: Option<String>,
    pub seconds: f64,
}

/// The whole matrix (`"schema": "mlxport.parity-matrix/v1"`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MatrixReport {
    pub schema: &'static str,
    pub targets: Vec<String>,
    pub generate: u32,
    pub entries: Vec<EntryResult>,
    pub summary: Summary,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub entries: usize,
    pub passed: usize,
    pub failed: usize,
    pub fail_closed: usize,
    pub skipped: usize,
    pub unexpected: usize,
    /// Model types with at least one passing target.
    pub model_types_passing: Vec<String>,
    pub families_passing: Vec<String>,
}

impl MatrixReport {
    pub fn new(targets: Vec<String>, entries: Vec<EntryResult>) -> MatrixReport {
        let mut s = Summary { entries: entries.len(), ..Summary::default() };
        let (mut types, mut fams) = (BTreeSet::new(), BTreeSet::new());
        for e in &entries {
            match e.status.as_str() {
                "pass" => {
                    s.passed += 1;
                    types.insert(e.model_type.clone());
                    fams.insert(e.family.clone());
                }
                "fail-closed" => s.fail_closed += 1,
                "skipped" => s.skipped += 1,
                _ => s.failed += 1,
            }
            if !e.as_expected {
                s.unexpected += 1;
            }
        }
        s.model_types_passing = types.into_iter().collect();
        s.families_passing = fams.into_iter().collect();
        MatrixReport { schema: SCHEMA, targets, generate: GENERATE, entries, summary: s }
    }

    /// The report as pretty JSON with a trailing newline (what `-o` writes).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the matrix report serializes") + "\n"
    }
}

/// Deterministic token ids for an entry: a fixed-seed generator over
/// `[4, vocab)` (ids 0-3 are the special tokens of the built tokenizer).
pub fn token_ids(vocab: u64, lengths: &[usize]) -> Vec<Vec<u32>> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let span = vocab.saturating_sub(4).max(1);
    lengths
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    // splitmix64
                    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    z ^= z >> 31;
                    (4 + z % span) as u32
                })
                .collect()
        })
        .collect()
}

/// The second target of a vision-language entry: mlx-vlm's implementation
/// (mlx-lm's module for such a type runs its decoder alone).
pub const VLM_SECOND_TARGET: &str = "mlx-vlm";

/// Whether mlx-lm (in the Python environment) implements a model type:
/// a module `mlx_lm/models/<type>.py`, directly or through mlx-lm's
/// `MODEL_REMAPPING` (mistral is its llama), read from its source.
fn mlx_lm_has(model_type: &str) -> bool {
    let Ok(env) = mlxport_harness::env::PythonEnv::locate() else { return false };
    let Ok(dir) = env.package_dir("mlx_lm") else { return false };
    let utils = std::fs::read_to_string(dir.join("utils.py")).unwrap_or_default();
    let module = remapped(&utils, model_type).unwrap_or_else(|| model_type.to_string());
    dir.join("models").join(format!("{}.py", module.replace('-', "_"))).is_file()
}

/// `model_type`'s entry in the `MODEL_REMAPPING = { "a": "b", ... }` dict
/// of mlx-lm's `utils.py` source.
pub fn remapped(utils_py: &str, model_type: &str) -> Option<String> {
    let start = utils_py.find("MODEL_REMAPPING = {")?;
    let body = &utils_py[start..];
    let body = &body[..body.find('}')?];
    let re = regex::Regex::new(r#""([^"]+)"\s*:\s*"([^"]+)""#).ok()?;
    let found = re.captures_iter(body).find(|c| &c[1] == model_type).map(|c| c[2].to_string());
    found
}

/// The target an entry runs on in a target's slot: a vision-language
/// entry's second target is mlx-vlm.
fn slot<'a>(spec: &Spec, target: &'a str) -> &'a str {
    if spec.family == "vision-language" && target != "scaffold" {
        VLM_SECOND_TARGET
    } else {
        target
    }
}

fn entry(spec: &Spec, target: &str) -> EntryResult {
    EntryResult {
        name: spec.name.clone(),
        model_type: spec.model_type.clone(),
        family: spec.family.clone(),
        target: target.to_string(),
        features: spec.features.clone(),
        expect: spec.expect.clone(),
        status: "skipped".into(),
        as_expected: true,
        rungs_passed: 0,
        rungs_runnable: 0,
        worst_cosine: None,
        greedy: None,
        message: None,
        seconds: 0.0,
    }
}

/// Set the verdict of a finished (entry, target) against its expectation.
fn verdict(e: &mut EntryResult, spec: &Spec, status: &str, message: Option<String>) {
    e.status = status.to_string();
    e.message = message;
    // A vision-language entry's second target is mlx-vlm, judged the same way.
    let mlx_lm_expect = if e.target == "mlx-lm" || e.target == VLM_SECOND_TARGET { spec.expect_mlx_lm.as_deref() } else { None };
    if mlx_lm_expect == Some("pass") {
        e.as_expected = status == "pass" || (status == "skipped" && e.target == "mlx-lm" && !mlx_lm_has(&spec.model_type));
        return;
    }
    if let Some(why) = mlx_lm_expect {
        e.as_expected = status == "fail" || status == "skipped";
        let got = e.message.take().unwrap_or_default();
        let who = e.target.clone();
        e.message = Some(if status == "fail" {
            format!("known {who} divergence ({}); {got}", why.trim_start_matches("fail:").trim())
        } else {
            format!("expected {who} to diverge ({}), but it did not; {got}", why.trim_start_matches("fail:").trim())
        });
        return;
    }
    if let (Some(why), "scaffold") = (spec.known_divergence(), e.target.as_str()) {
        e.as_expected = status == "fail" || status == "pass";
        if status == "fail" {
            e.message = Some(format!("known divergence ({why}); {}", e.message.as_deref().unwrap_or("")));
        }
        return;
    }
    e.as_expected = match (status, spec.fail_closed()) {
        ("skipped", _) => true,
        ("pass", None) => true,
        ("fail-closed", Some(want)) => e.message.as_deref().is_some_and(|m| m.contains(want)),
        _ => false,
    };
    if status == "fail-closed" && !e.as_expected {
        let want = spec.fail_closed().map(|w| format!("a refusal naming '{w}'")).unwrap_or_else(|| "parity".into());
        e.message = Some(format!("{} (expected {want})", e.message.as_deref().unwrap_or("")));
    }
}

struct Runner {
    work: PathBuf,
    harness: HarnessSettings,
    blas_checked: bool,
}

impl Runner {
    fn inspect(&self, src: &Path) -> Result<Value> {
        let r = mlxport_intake::inspect(src, &mlxport_intake::Options::default()).with_context(|| format!("inspecting {}", src.display()))?;
        Ok(serde_json::to_value(&r)?)
    }

    /// Map draft + validate + convert for one target layout.
    fn convert(&self, src: &Path, target: &str, out: &Path) -> Result<()> {
        let opts = mlxport_convert::convert::ConvertOptions {
            dtype: DtypePolicy::parse("f32"),
            command: vec!["mlxport".into(), "parity".into(), "matrix".into()],
            ..Default::default()
        };
        crate::weights::draft_validate_convert(src, target, out, &opts)?;
        Ok(())
    }

    /// Everything for one (entry, target) after the checkpoint is built.
    fn run_target(&mut self, spec: &Spec, target: &str, src: &Path, insp: &Value, oracle: &mut Option<PathBuf>) -> Result<EntryResult> {
        let mut e = entry(spec, target);
        let dir = self.work.join(&spec.name).join(slot(spec, target));
        std::fs::create_dir_all(&dir)?;
        let weights = dir.join("weights");
        let t = match target {
            "scaffold" => {
                let pkg_name = format!("{}_mlx", spec.name.replace('-', "_"));
                let plan = match scaffold::plan(insp, &pkg_name, concat!("mlxport ", env!("CARGO_PKG_VERSION"))) {
                    Ok(p) => p,
                    Err(err @ mlxport_harness::Error::Unsupported(_)) => {
                        verdict(&mut e, spec, "fail-closed", Some(err.to_string()));
                        return Ok(e);
                    }
                    Err(err) => return Err(err.into()),
                };
                if spec.fail_closed().is_some() {
                    verdict(&mut e, spec, "fail", Some("the scaffold accepted a model it is expected to refuse".into()));
                    return Ok(e);
                }
                self.convert(src, "scaffold", &weights)?;
                let pkg = dir.join(&pkg_name);
                if pkg.exists() {
                    std::fs::remove_dir_all(&pkg)?;
                }
                scaffold::write(&plan, &pkg)?;
                MlxSide::Package { package: pkg, weights: weights.clone() }
            }
            _ if spec.family == "vision-language" => {
                e.target = VLM_SECOND_TARGET.into();
                if spec.fail_closed().is_some() && spec.expect_mlx_lm.as_deref() != Some("pass") {
                    verdict(&mut e, spec, "skipped", Some("expected to fail closed in the scaffold; mlx-vlm is not asked".into()));
                    return Ok(e);
                }
                if mlxport_intake::routing::mlx_vlm_module(&spec.model_type).is_none() {
                    verdict(&mut e, spec, "skipped", Some(format!("mlx-vlm has no implementation of model_type '{}'", spec.model_type)));
                    return Ok(e);
                }
                self.convert(src, VLM_SECOND_TARGET, &weights)?;
                MlxSide::MlxVlm { model: weights.clone() }
            }
            _ => {
                if spec.fail_closed().is_some() && spec.expect_mlx_lm.as_deref() != Some("pass") {
                    verdict(&mut e, spec, "skipped", Some("expected to fail closed in the scaffold; mlx-lm is not asked".into()));
                    return Ok(e);
                }
                if !mlx_lm_has(&spec.model_type) {
                    verdict(&mut e, spec, "skipped", Some(format!("mlx-lm has no implementation of model_type '{}'", spec.model_type)));
                    return Ok(e);
                }
                self.convert(src, "mlx-lm", &weights)?;
                MlxSide::MlxLm { model: weights.clone() }
            }
        };
        let vocab = spec.config["vocab_size"].as_u64().unwrap_or(8);
        let inputs = if spec.family == "vision-language" {
            // The built-in photographs, the oracle's question, greedy decoding.
            Inputs { images: Some(Vec::new()), generate: Some(GENERATE), ..Inputs::default() }
        } else if spec.family == "vision" {
            // The built-in photographs; two-tower models also read token ids.
            let text_vocab = spec.config["text_config"]["vocab_size"].as_u64();
            Inputs { images: Some(Vec::new()), token_ids: text_vocab.map(|v| token_ids(v, spec.lengths.as_deref().unwrap_or(LENGTHS))), ..Inputs::default() }
        } else {
            Inputs {
                token_ids: Some(token_ids(vocab, spec.lengths.as_deref().unwrap_or(LENGTHS))),
                generate: spec.generative.then_some(GENERATE),
                ..Inputs::default()
            }
        };
        let mut req = ParityRequest::new(src.to_path_buf(), t, inputs, dir.join("parity"));
        req.all = true;
        req.harness = self.harness.clone();
        req.blas_check = !self.blas_checked;
        req.oracle = oracle.clone();
        let out = pipeline(&req)?;
        self.blas_checked = true;
        if oracle.is_none() {
            *oracle = out.oracle.clone();
        }
        let r = &out.report;
        let rungs = &r.ladder.rungs;
        e.rungs_runnable = rungs.iter().filter(|x| x.status != "skipped").count();
        e.rungs_passed = rungs.iter().filter(|x| x.status == "pass").count();
        e.worst_cosine = rungs.iter().filter_map(|x| x.cosine).fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.min(c))));
        if spec.generative {
            if let (Some(o), Some(c)) = (&out.oracle, &out.capture) {
                e.greedy = Some(greedy(o, c)?);
            }
        }
        let msg = r.first_divergence.as_ref().map(|f| {
            let fails = rungs.get(f.rung).map(|x| x.failures.iter().take(2).cloned().collect::<Vec<_>>().join("; ")).unwrap_or_default();
            format!("first divergence at rung {} '{}' ({}): {fails}", f.rung, f.name, f.stage)
        });
        let passed = out.passed() && e.greedy.as_ref().is_none_or(|g| g.agree == g.total && g.total > 0);
        verdict(&mut e, spec, if passed { "pass" } else { "fail" }, msg);
        Ok(e)
    }
}

/// Greedy agreement between the source's and the target's new tokens, and
/// the source's top-2 logit margin at every step.
pub fn greedy(oracle: &Path, capture: &Path) -> Result<Greedy> {
    let (o, c) = (mlxport_tensor::open(oracle)?, mlxport_tensor::open(capture)?);
    let shape = o.info("generated.ids")?.shape.clone();
    let (a, b) = (o.read_f32("generated.ids")?, c.read_f32("generated.ids")?);
    if c.info("generated.ids")?.shape != shape {
        bail!("{}: generated.ids has shape {:?}, the oracle's {:?}", capture.display(), c.info("generated.ids")?.shape, shape);
    }
    let steps = shape.get(1).copied().unwrap_or(1).max(1) as usize;
    let mut g = Greedy { total: a.len(), ..Greedy::default() };
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x == y {
            g.agree += 1;
        } else if g.first_mismatch.is_none() {
            g.first_mismatch = Some((i / steps, i % steps));
        }
    }
    let li = o.info("cache_decode.logits")?.shape.clone();
    let vocab = li.last().copied().unwrap_or(1).max(1) as usize;
    let logits = o.read_f32("cache_decode.logits")?;
    let rows: Vec<f64> = logits
        .chunks(vocab)
        .map(|row| {
            let (mut t1, mut t2) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
            for &v in row {
                if v > t1 {
                    t2 = t1;
                    t1 = v;
                } else if v > t2 {
                    t2 = v;
                }
            }
            // Rounded so the report's bytes do not depend on the last ulp.
            ((t1 - t2) as f64 * 1e4).round() / 1e4
        })
        .collect();
    g.margins = rows.chunks(steps).map(<[f64]>::to_vec).collect();
    g.min_margin = rows.iter().copied().reduce(f64::min);
    Ok(g)
}

/// Run the matrix. `types` selects entries by name or model_type (empty:
/// all); `targets` is `scaffold`, `mlx-lm` or both.
pub fn run_matrix(specs: &[Spec], types: &[String], targets: &[&str], work: &Path, harness: HarnessSettings) -> Result<MatrixReport> {
    let chosen: Vec<&Spec> = specs.iter().filter(|s| types.is_empty() || types.iter().any(|t| *t == s.name || *t == s.model_type)).collect();
    if chosen.is_empty() {
        bail!(
            "--types {}: no matrix entry has that name or model_type (entries: {})",
            types.join(","),
            specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let ckpts = work.join("checkpoints");
    let list = work.join("specs.json");
    let list_json: Vec<Value> = chosen
        .iter()
        .map(|s| {
            json!({"name": s.name, "model_type": s.model_type, "auto_class": s.auto_class, "config": s.config, "image_processor": s.image_processor, "processor": s.processor})
        })
        .collect();
    std::fs::write(&list, serde_json::to_vec_pretty(&list_json)?)?;
    eprintln!("matrix: building {} checkpoints with transformers (seed 0, float32)", chosen.len());
    let t0 = Instant::now();
    let built = Harness::new(harness.clone())?.build_checkpoints(&list, &ckpts)?;
    eprintln!("matrix: built in {:.1} s", t0.elapsed().as_secs_f64());
    let mut runner = Runner { work: work.to_path_buf(), harness, blas_checked: false };
    let mut entries = Vec::new();
    let n = chosen.len() * targets.len();
    let mut k = 0;
    for spec in chosen {
        let b = built.as_array().and_then(|a| a.iter().find(|x| x["name"] == spec.name.as_str())).cloned().unwrap_or(Value::Null);
        let src = ckpts.join(&spec.name);
        let mut oracle: Option<PathBuf> = None;
        let mut insp: Option<Value> = None;
        for &target in targets {
            k += 1;
            let t = Instant::now();
            eprintln!("matrix: [{k}/{n}] {} -> {}", spec.name, slot(spec, target));
            let res = if b["status"] != "built" {
                let mut e = entry(spec, slot(spec, target));
                verdict(&mut e, spec, "fail", Some(format!("transformers could not build the checkpoint: {}", b["error"].as_str().unwrap_or("no result"))));
                Ok(e)
            } else {
                let i = match &insp {
                    Some(i) => Ok(i.clone()),
                    None => runner.inspect(&src),
                };
                i.and_then(|i| {
                    insp = Some(i.clone());
                    runner.run_target(spec, target, &src, &i, &mut oracle)
                })
            };
            let mut e = res.unwrap_or_else(|err| {
                let mut e = entry(spec, slot(spec, target));
                verdict(&mut e, spec, "fail", Some(err.chain()));
                e
            });
            e.seconds = (t.elapsed().as_secs_f64() * 10.0).round() / 10.0;
            eprintln!(
                "matrix: [{k}/{n}] {} -> {}: {}{} ({:.1} s){}",
                spec.name,
                e.target,
                e.status,
                if e.as_expected { "" } else { " UNEXPECTED" },
                e.seconds,
                e.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            );
            entries.push(e);
        }
    }
    Ok(MatrixReport::new(targets.iter().map(|t| t.to_string()).collect(), entries))
}

fn cosine_cell(c: Option<f64>) -> String {
    c.map(|c| format!("{c:.7}")).unwrap_or_else(|| "-".into())
}

fn greedy_cell(g: &Option<Greedy>) -> String {
    match g {
        Some(g) => format!("{}/{}", g.agree, g.total),
        None => "-".into(),
    }
}

fn rungs_cell(e: &EntryResult) -> String {
    if e.rungs_runnable == 0 {
        "-".into()
    } else {
        format!("{}/{}", e.rungs_passed, e.rungs_runnable)
    }
}

fn status_cell(e: &EntryResult) -> String {
    let s = if e.as_expected { e.status.clone() } else { format!("{} (UNEXPECTED)", e.status) };
    s
}

/// Column headers shared by the table and the Markdown.
pub const HEADER: [&str; 10] = ["entry", "model_type", "family", "target", "features", "rungs", "worst cosine", "greedy", "status", "s"];

/// The cells of one row.
pub fn cells(e: &EntryResult) -> Vec<String> {
    vec![
        e.name.clone(),
        e.model_type.clone(),
        e.family.clone(),
        e.target.clone(),
        e.features.join(", "),
        rungs_cell(e),
        cosine_cell(e.worst_cosine),
        greedy_cell(&e.greedy),
        status_cell(e),
        format!("{:.1}", e.seconds),
    ]
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The matrix in Markdown (the section of docs/parity-matrix.md): the table, then the
/// refusals and the reasons for skips and failures.
pub fn markdown(r: &MatrixReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let sm = &r.summary;
    let _ = writeln!(s, "<!-- generated by `{REGENERATE}`; do not edit by hand -->\n");
    let _ = writeln!(
        s,
        "{} model types pass every runnable rung ({}) across {} families ({}); {} entries fail closed as expected; {} outcomes differ from their expectation.\n",
        sm.model_types_passing.len(),
        sm.model_types_passing.join(", "),
        sm.families_passing.len(),
        sm.families_passing.join(", "),
        sm.fail_closed,
        sm.unexpected
    );
    let _ = writeln!(s, "| {} |", HEADER.join(" | "));
    let _ = writeln!(s, "|{}", HEADER.iter().enumerate().map(|(i, _)| if [5, 6, 7, 9].contains(&i) { "---:|" } else { "---|" }).collect::<String>());
    for e in &r.entries {
        let _ = writeln!(s, "| {} |", cells(e).iter().map(|c| md_escape(c)).collect::<Vec<_>>().join(" | "));
    }
    let notes: Vec<&EntryResult> = r.entries.iter().filter(|e| e.message.is_some()).collect();
    if !notes.is_empty() {
        let _ = writeln!(s);
        for e in notes {
            let _ = writeln!(s, "- `{}` -> {}: {}", e.name, e.target, md_escape(e.message.as_deref().unwrap_or("")));
        }
    }
    s
}

/// The spec files of a directory (`*.json`, sorted by name).
pub fn specs_in(dir: &Path) -> Result<Vec<Spec>> {
    let rd = std::fs::read_dir(dir).with_context(|| format!("--specs {}: cannot read the directory", dir.display()))?;
    let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    if files.is_empty() {
        bail!("--specs {}: no *.json spec files", dir.display());
    }
    let mut out = Vec::new();
    for f in files {
        let meta = std::fs::metadata(&f)?;
        if meta.len() > 1 << 20 {
            bail!("{}: {} bytes; a matrix spec is a small JSON file (at most 1 MiB)", f.display(), meta.len());
        }
        let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push(parse_spec(&name, &text).with_context(|| format!("{}", f.display()))?);
    }
    Ok(out)
}

/// What `mlxport parity matrix` is asked to do.
#[derive(Clone, Debug)]
pub struct MatrixRequest {
    /// A directory of spec files instead of the embedded ones.
    pub specs: Option<PathBuf>,
    /// Entries by name or model_type (empty: all).
    pub types: Vec<String>,
    /// The targets each entry is proven on.
    pub targets: Vec<Target>,
    /// Where checkpoints and per-entry outputs go (`None`: a temporary
    /// directory, removed afterwards).
    pub work_dir: Option<PathBuf>,
    pub harness: HarnessSettings,
    /// Write the report (`mlxport.parity-matrix/v1`) here.
    pub output: Option<PathBuf>,
    /// Write the Markdown section here (spliced between the markers when
    /// the file has them).
    pub markdown: Option<PathBuf>,
}

/// Run the matrix a request describes, write the files it asks for, and
/// return the report.
pub fn run(req: &MatrixRequest) -> Result<MatrixReport> {
    let all = match &req.specs {
        Some(d) => specs_in(d)?,
        None => specs()?,
    };
    let types: Vec<String> = req.types.iter().flat_map(|t| t.split(',')).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect();
    let targets: Vec<&str> = req.targets.iter().map(|t| t.as_str()).collect();
    let tmp;
    let work = match &req.work_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::Builder::new().prefix("mlxport-matrix-").tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let report = run_matrix(&all, &types, &targets, &work, req.harness.clone())?;
    if let Some(o) = &req.output {
        write_atomic(o, report.to_json().as_bytes()).with_context(|| format!("writing {}", o.display()))?;
    }
    if let Some(m) = &req.markdown {
        let old = std::fs::read_to_string(m).ok();
        write_atomic(m, splice(old.as_deref(), &markdown(&report)).as_bytes()).with_context(|| format!("writing {}", m.display()))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(expect: &str) -> Spec {
        parse_spec(
            "x.json",
            &json!({"name": "x", "model_type": "llama", "family": "dense-decoder", "config": {"vocab_size": 64}, "expect": expect, "generative": true})
                .to_string(),
        )
        .unwrap()
    }

    fn result(name: &str, status: &str, expected: bool) -> EntryResult {
        let s = spec("pass");
        let mut e = entry(&s, "scaffold");
        e.name = name.into();
        e.status = status.into();
        e.as_expected = expected;
        e.features = vec!["gqa:4/2".into(), "a|b".into()];
        e.rungs_passed = 7;
        e.rungs_runnable = 8;
        e.worst_cosine = Some(0.99999123456);
        e.greedy = Some(Greedy { agree: 31, total: 32, first_mismatch: Some((1, 4)), margins: vec![vec![0.5]], min_margin: Some(0.5) });
        e.message = Some("first divergence at rung 5 'ids' (ids): x".into());
        e.seconds = 3.25;
        e
    }

    #[test]
    fn specs_embedded_parse_and_are_unique() {
        let all = specs().unwrap();
        assert!(!all.is_empty());
        let names: BTreeSet<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn bad_specs_are_refused_with_the_rule() {
        let e = parse_spec(
            "y.json",
            &json!({"name": "x", "model_type": "llama", "family": "dense-decoder", "config": {"vocab_size": 64}, "expect": "pass"}).to_string(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("y.json") && e.contains("file stem"), "{e}");
        let e = parse_spec("x.json", &json!({"name": "x", "model_type": "llama", "family": "rnn", "config": {"vocab_size": 64}, "expect": "pass"}).to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("family 'rnn'"), "{e}");
        let e = parse_spec(
            "x.json",
            &json!({"name": "x", "model_type": "llama", "family": "encoder", "config": {"vocab_size": 64}, "expect": "fail-closed:"}).to_string(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("expect"), "{e}");
        assert!(parse_spec("x.json", "{").unwrap_err().to_string().contains("x.json"));
    }

    #[test]
    fn verdicts_follow_the_expectation() {
        let (p, f) = (spec("pass"), spec("fail-closed: RoPE scaling 'longrope'"));
        let mut e = entry(&p, "scaffold");
        verdict(&mut e, &p, "pass", None);
        assert!(e.as_expected);
        verdict(&mut e, &p, "fail", Some("x".into()));
        assert!(!e.as_expected);
        verdict(&mut e, &p, "fail-closed", Some("cannot scaffold".into()));
        assert!(!e.as_expected);
        let mut e = entry(&f, "scaffold");
        verdict(&mut e, &f, "fail-closed", Some("cannot scaffold this model; unsupported: RoPE scaling 'longrope' (supported: default)".into()));
        assert!(e.as_expected);
        verdict(&mut e, &f, "fail-closed", Some("cannot scaffold this model; unsupported: hidden_act 'gelu'".into()));
        assert!(!e.as_expected);
        assert!(e.message.as_deref().unwrap().contains("expected a refusal naming 'RoPE scaling 'longrope''"));
        verdict(&mut e, &f, "pass", None);
        assert!(!e.as_expected, "a model expected to be refused must not pass");
        verdict(&mut e, &f, "skipped", Some("no".into()));
        assert!(e.as_expected);
        // A known mlx-lm divergence: failing there is expected, passing is not;
        // the scaffold target is judged as usual.
        let mut k = spec("pass");
        k.expect_mlx_lm = Some("fail: no sliding window".into());
        let mut e = entry(&k, "mlx-lm");
        verdict(&mut e, &k, "fail", Some("first divergence at rung 3".into()));
        assert!(e.as_expected);
        assert!(e.message.as_deref().unwrap().starts_with("known mlx-lm divergence (no sliding window)"));
        verdict(&mut e, &k, "pass", None);
        assert!(!e.as_expected);
        let mut e = entry(&k, "scaffold");
        verdict(&mut e, &k, "fail", None);
        assert!(!e.as_expected);
        // A recorded scaffold gap: its failure is expected and says why.
        let g = spec("known-divergence: normwise 3.8e-5 over the f32 gate");
        let mut e = entry(&g, "scaffold");
        verdict(&mut e, &g, "fail", Some("first divergence".into()));
        assert!(e.as_expected && e.message.as_deref().unwrap().starts_with("known divergence (normwise"));
        verdict(&mut e, &g, "fail-closed", Some("cannot scaffold".into()));
        assert!(!e.as_expected);
    }

    #[test]
    fn mlx_lm_remapping_is_read_from_its_source() {
        let src = "X = 1\nMODEL_REMAPPING = {\n    \"mistral\": \"llama\",\n    \"llava\": \"mistral3\",  # note\n}\nOTHER = {\"qwen\": \"no\"}\n";
        assert_eq!(remapped(src, "mistral").as_deref(), Some("llama"));
        assert_eq!(remapped(src, "llava").as_deref(), Some("mistral3"));
        assert_eq!(remapped(src, "qwen"), None);
        assert_eq!(remapped("", "mistral"), None);
    }

    #[test]
    fn token_ids_are_deterministic_and_in_range() {
        let a = token_ids(100, &[24, 15]);
        assert_eq!(a, token_ids(100, &[24, 15]));
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![24, 15]);
        assert!(a.iter().flatten().all(|&t| (4..100).contains(&t)));
        let distinct: BTreeSet<u32> = a.iter().flatten().copied().collect();
        assert!(distinct.len() > 20, "ids vary: {distinct:?}");
    }

    #[test]
    fn summary_table_markdown_and_json() {
        let entries =
            vec![result("llama", "pass", true), result("qwen2", "fail", false), result("bloom", "fail-closed", true), result("bert", "skipped", true)];
        let mut entries = entries;
        entries[1].model_type = "qwen2".into();
        entries[3].family = "encoder".into();
        let r = MatrixReport::new(vec!["scaffold".into()], entries);
        let s = &r.summary;
        assert_eq!((s.entries, s.passed, s.failed, s.fail_closed, s.skipped, s.unexpected), (4, 1, 1, 1, 1, 1));
        assert_eq!(s.model_types_passing, vec!["llama".to_string()]);
        assert_eq!(s.families_passing, vec!["dense-decoder".to_string()]);
        let c = cells(&r.entries[0]);
        assert_eq!(c, vec!["llama", "llama", "dense-decoder", "scaffold", "gqa:4/2, a|b", "7/8", "0.9999912", "31/32", "pass", "3.2"]);
        assert_eq!(cells(&r.entries[1])[8], "fail (UNEXPECTED)");
        let md = markdown(&r);
        let lines: Vec<&str> = md.lines().collect();
        let head = lines.iter().position(|l| l.starts_with("| entry |")).unwrap();
        assert_eq!(lines[head + 1], "|---|---|---|---|---|---:|---:|---:|---|---:|");
        assert_eq!(lines[head + 2], "| llama | llama | dense-decoder | scaffold | gqa:4/2, a\\|b | 7/8 | 0.9999912 | 31/32 | pass | 3.2 |");
        // Every row has as many cells as the header (escaped pipes).
        for l in &lines[head..head + 6] {
            assert_eq!(l.replace("\\|", "").matches('|').count(), HEADER.len() + 1, "{l}");
        }
        assert!(md.contains("1 model types pass every runnable rung (llama) across 1 families"));
        assert!(md.contains("- `qwen2` -> scaffold: first divergence"));
        assert!(md.contains(REGENERATE));
        let v: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["generate"], 16);
        assert_eq!(v["entries"][0]["greedy"]["margins"], json!([[0.5]]));
        assert_eq!(v["entries"][0]["greedy"]["first_mismatch"], json!([1, 4]));
        assert_eq!(v["entries"][1]["as_expected"], false);
        assert_eq!(markdown(&r), md, "deterministic");
        let readme = format!("# T\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n");
        let new = splice(Some(&readme), "NEW\n");
        assert_eq!(new, format!("# T\n\nbefore\n{BEGIN}\nNEW\n{END}\nafter\n"));
        assert_eq!(splice(Some(&new), "NEW\n"), new, "regenerating is idempotent");
        assert_eq!(splice(Some("no markers"), "S"), "S");
    }
}
