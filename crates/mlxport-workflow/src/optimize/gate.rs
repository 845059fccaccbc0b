//! The quality gate of one candidate against its reference: the harness
//! computes logits (language models) or sentence embeddings (encoders),
//! `mlxport-quality` computes the metrics and the verdict. Shared by
//! `mlxport quality` and the optimization loop.

use std::path::{Path, PathBuf};

use crate::error::{bail, Context, Result};
use mlxport_harness::jobs::Harness;
use mlxport_harness::quality::{EncoderRequest, LmRequest, VisionRequest};
use mlxport_quality::report::Measured;
use mlxport_quality::{data, encoder, greedy, lm, vision, QualityReport, Thresholds};
use serde_json::{json, Value};

/// Encoder-decoder model types: the language-model gate runs them only
/// through a scaffolded package (teacher-forced).
pub const SEQ2SEQ_TYPES: &[&str] = &["t5", "bart"];

/// Model types routed to the encoder gate.
pub const ENCODER_TYPES: &[&str] = &["bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra", "modernbert", "mpnet"];

/// Model types routed to the image gate (the vision template's).
pub const VISION_TYPES: &[&str] = mlxport_harness::vision::VISION_TYPES;

/// Whether a model directory goes through the image gate (image and
/// vision-language models).
pub fn is_vision(dir: &Path) -> Result<bool> {
    let mt = model_type(dir)?;
    Ok(VISION_TYPES.contains(&mt.as_str()) || mlxport_contract::vlm::PORTABLE.contains(&mt.as_str()))
}

/// What the image gate scores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VisionSettings {
    /// Image files or folders (empty: every photograph scikit-image ships).
    pub images: Vec<PathBuf>,
    /// The scaffolded package both weight sets run through (default:
    /// scaffolded from the reference).
    pub package: Option<PathBuf>,
    /// Greedy tokens per image of a vision-language model (`None`: 16).
    pub generate: Option<u32>,
}

/// The `model_type` of a model directory's config.json (lower case; empty
/// when absent).
pub fn model_type(dir: &Path) -> Result<String> {
    let p = dir.join("config.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", p.display()))?;
    Ok(v["model_type"].as_str().unwrap_or_default().to_ascii_lowercase())
}

/// Whether a model directory goes through the encoder gate.
pub fn is_encoder(dir: &Path) -> Result<bool> {
    Ok(ENCODER_TYPES.contains(&model_type(dir)?.as_str()))
}

/// What the language-model gate scores.
#[derive(Clone, Debug, PartialEq)]
pub struct LmSettings {
    /// Held-out text (default: the shipped corpus).
    pub text: Option<PathBuf>,
    /// Prompts for greedy continuations (default: the shipped prompts).
    pub prompts: Option<PathBuf>,
    /// Score at most this many tokens (0: all).
    pub max_tokens: usize,
    pub window: usize,
    pub stride: usize,
    /// Greedy tokens per prompt.
    pub generate: usize,
    /// A scaffolded decoder package to run the models with (`None`: mlx-lm).
    pub package: Option<PathBuf>,
    /// Cast floating parameters to float32 at load (`false`: compute in
    /// the checkpoints' own dtypes).
    pub compute_f32: bool,
    /// With stored dtypes: quantized layers become float layers holding
    /// their dequantized values in their scales' dtype (a plain product in
    /// that dtype instead of the packed one).
    pub dequantize: bool,
    /// With a package: the candidates' serving options (JSON), e.g. a
    /// quantized KV cache.
    pub candidate_options: Option<String>,
}

impl Default for LmSettings {
    fn default() -> Self {
        LmSettings {
            text: None,
            prompts: None,
            max_tokens: 0,
            window: 512,
            stride: 256,
            generate: 32,
            package: None,
            compute_f32: true,
            dequantize: false,
            candidate_options: None,
        }
    }
}

/// What the encoder gate embeds.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderSettings {
    pub sentences: Option<PathBuf>,
    pub queries: Option<PathBuf>,
    /// Neighbours compared per query (overlap@k).
    pub retrieval_k: usize,
    /// The scaffolded package both weight sets run through (default:
    /// scaffolded from the reference).
    pub package: Option<PathBuf>,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings { sentences: None, queries: None, retrieval_k: 5, package: None }
    }
}

/// A user's file, or the shipped default written into the work directory.
fn data_file(given: &Option<PathBuf>, work: &Path, name: &str, text: &str) -> Result<PathBuf> {
    match given {
        Some(p) => {
            let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
            if !meta.is_file() {
                bail!("{}: not a file", p.display());
            }
            std::fs::read_to_string(p).with_context(|| format!("{}: not UTF-8 text", p.display()))?;
            Ok(p.clone())
        }
        None => {
            let p = work.join(name);
            std::fs::write(&p, text)?;
            Ok(p)
        }
    }
}

fn source_name(given: &Option<PathBuf>, default: &str) -> String {
    given.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| format!("mlxport:{default}"))
}

/// The language-model gate: perplexity, KL, top-k agreement on the text;
/// greedy match and degeneration on the prompts. `work` is scratch space.
pub fn lm_gate(h: &Harness, reference: &Path, candidate: &Path, s: &LmSettings, work: &Path, th: Thresholds) -> Result<QualityReport> {
    let mut reports = lm_gate_many(h, reference, &[candidate.to_path_buf()], s, work, th)?;
    Ok(reports.remove(0))
}

/// The language-model gate of several candidates against one reference,
/// in one Python process: the reference's logits are computed once per
/// window. One report per candidate, in order.
pub fn lm_gate_many(h: &Harness, reference: &Path, candidates: &[PathBuf], s: &LmSettings, work: &Path, th: Thresholds) -> Result<Vec<QualityReport>> {
    if s.window < 2 || s.stride == 0 || s.stride > s.window {
        bail!("--window {} --stride {}: need window >= 2 and 1 <= stride <= window", s.window, s.stride);
    }
    if candidates.is_empty() {
        bail!("the quality gate needs at least one candidate");
    }
    if s.candidate_options.is_some() && s.package.is_none() {
        bail!("--candidate-options are a package's serving options: give --package");
    }
    let text = data_file(&s.text, work, "corpus.txt", data::CORPUS)?;
    let prompts = data_file(&s.prompts, work, "prompts.txt", data::PROMPTS)?;
    let out = work.join("lm");
    let compute_dtype = match (s.compute_f32, s.dequantize) {
        (true, _) => "float32",
        (false, true) => "stored-dequantized",
        (false, false) => "stored",
    };
    let req = LmRequest {
        reference: reference.to_path_buf(),
        candidates: candidates.to_vec(),
        package: s.package.clone(),
        compute_dtype: compute_dtype.into(),
        candidate_options: s.candidate_options.clone(),
        text,
        prompts,
        max_tokens: s.max_tokens,
        window: s.window,
        stride: s.stride,
        generate: s.generate,
        out: out.clone(),
    };
    h.quality_lm(&req)?;
    let man_path = out.join("quality_lm.json");
    let man: Value = serde_json::from_slice(&std::fs::read(&man_path).with_context(|| format!("cannot read {}", man_path.display()))?)
        .with_context(|| format!("{}: not valid JSON", man_path.display()))?;
    for w in man["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        eprintln!("warning: {w}");
    }
    let chunks = man["chunks"].as_array().cloned().unwrap_or_default();
    let mut accs: Vec<lm::LmAccumulator> = candidates.iter().map(|_| lm::LmAccumulator::new()).collect();
    for c in &chunks {
        let f = out.join(c["file"].as_str().unwrap_or_default());
        let src = mlxport_tensor::open_file(&f)?;
        let shape = &src.info("reference")?.shape;
        let targets: Vec<i64> = src.read_f32("targets")?.into_iter().map(|x| x as i64).collect();
        if shape.len() != 2 || shape[0] as usize != targets.len() {
            bail!("{}: logits of shape {:?} for {} targets", f.display(), shape, targets.len());
        }
        let reference_logits = src.read_f32("reference")?;
        for (i, acc) in accs.iter_mut().enumerate() {
            acc.add(&reference_logits, &src.read_f32(&format!("candidate_{i}"))?, &targets).with_context(|| format!("{}", f.display()))?;
        }
        drop(src);
        std::fs::remove_file(&f).ok();
    }
    let g = mlxport_tensor::open_file(&out.join("greedy.npz"))?;
    let n_prompts = g.info("reference")?.shape.first().copied().unwrap_or(0) as usize;
    let ids = |name: &str| -> Result<Vec<i64>> { Ok(g.read_f32(name)?.into_iter().map(|x| x as i64).collect()) };
    let mut reports = Vec::new();
    for (i, (candidate, acc)) in candidates.iter().zip(accs).enumerate() {
        let metrics = acc.finish()?;
        let greedy =
            if n_prompts > 0 && s.generate > 0 { Some(greedy::compare(&ids("reference")?, &ids(&format!("candidate_{i}"))?, n_prompts)?) } else { None };
        let same_tokenizer = &man["same_tokenizer"][i];
        let run = json!({
            "text": source_name(&s.text, "corpus"),
            "prompts": source_name(&s.prompts, "prompts"),
            "tokens": man["tokens"],
            "max_tokens": s.max_tokens,
            "window": s.window,
            "stride": s.stride,
            "generate": s.generate,
            "same_tokenizer": same_tokenizer,
            "prompt_texts": man["prompts"],
            "continuations": {"reference": man["continuations"]["reference"], "candidate": man["continuations"][format!("candidate_{i}")]},
            "implementation": man["implementation"],
            "compute_dtype": man["compute_dtype"],
            "warnings": man["warnings"],
            "candidate_options": man["candidate_options"],
            "candidates_in_process": candidates.len(),
            "seconds": man["seconds"],
            "libraries": man["libraries"],
        });
        if *same_tokenizer == false {
            eprintln!("note: {}'s tokenizer encodes the text differently; both models are scored on the reference's token ids", candidate.display());
        }
        reports.push(QualityReport::new(
            "language-model",
            reference.display().to_string(),
            candidate.display().to_string(),
            run,
            th.clone(),
            Measured { lm: Some(metrics), greedy, ..Default::default() },
        ));
    }
    Ok(reports)
}

/// The encoder gate: embedding cosine and retrieval agreement of both
/// weight sets run through one scaffolded package.
/// The image gate: the candidate's class predictions (classifiers) and
/// image features against the reference's, on real photographs.
pub fn vision_gate(h: &Harness, reference: &Path, candidate: &Path, s: &VisionSettings, work: &Path, th: Thresholds) -> Result<QualityReport> {
    let package = match &s.package {
        Some(p) => p.clone(),
        None => {
            let insp = serde_json::to_value(mlxport_intake::inspect(reference, &mlxport_intake::Options::default())?)?;
            let plan = mlxport_harness::scaffold::plan(&insp, "mlxport_quality_vision", concat!("mlxport ", env!("CARGO_PKG_VERSION")))
                .with_context(|| format!("cannot scaffold a package for {}", reference.display()))?;
            let dir = work.join("mlxport_quality_vision");
            mlxport_harness::scaffold::write(&plan, &dir)?;
            dir
        }
    };
    for i in &s.images {
        if !i.exists() {
            bail!("--image {}: no such file or folder", i.display());
        }
    }
    let out = work.join("images.npz");
    h.quality_vision(&VisionRequest {
        package,
        reference: reference.to_path_buf(),
        candidate: candidate.to_path_buf(),
        images: s.images.clone(),
        out: out.clone(),
        generate: s.generate,
    })?;
    let src = mlxport_tensor::open_file(&out)?;
    let meta: Value = std::fs::read(work.join("images.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    let images = if s.images.is_empty() {
        json!("mlxport:scikit-image photographs")
    } else {
        json!(s.images.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect::<Vec<_>>())
    };
    let package = s.package.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "scaffolded from the reference".into());
    if src.info("reference_ids").is_ok() {
        // A vision-language model: the language-model gate on its captions.
        let shape = src.info("reference_ids")?.shape.clone();
        let targets: Vec<i64> = src.read_f32("targets")?.into_iter().map(|x| x as i64).collect();
        let mut acc = lm::LmAccumulator::new();
        acc.add(&src.read_f32("reference_logits")?, &src.read_f32("candidate_logits")?, &targets).with_context(|| format!("{}", out.display()))?;
        let ids = |name: &str| -> Result<Vec<i64>> { Ok(src.read_f32(name)?.into_iter().map(|x| x as i64).collect()) };
        let g = greedy::compare(&ids("reference_ids")?, &ids("candidate_ids")?, shape.first().copied().unwrap_or(0) as usize)?;
        let run = json!({
            "images": images, "files": meta["images"], "variants": meta["variants"], "inputs": meta["inputs"],
            "pixel_values_shape": meta["pixel_values_shape"], "question": meta["question"], "prompt_tokens": meta["prompt_tokens"],
            "generate": meta["generate"], "continuations": meta["continuations"], "package": package,
            "quantization": meta["quantization"], "libraries": meta["libraries"], "seconds": meta["seconds"],
        });
        return Ok(QualityReport::new(
            "vision-language",
            reference.display().to_string(),
            candidate.display().to_string(),
            run,
            th,
            Measured { lm: Some(acc.finish()?), greedy: Some(g), ..Default::default() },
        ));
    }
    let shape = src.info("reference_features")?.shape.clone();
    if shape.len() != 2 {
        bail!("{}: features of shape {:?}, expected [N, H]", out.display(), shape);
    }
    let logits = match src.info("reference_logits") {
        Ok(i) => Some((src.read_f32("reference_logits")?, src.read_f32("candidate_logits")?, i.shape.get(1).copied().unwrap_or(0) as usize)),
        Err(_) => None,
    };
    let m = vision::compute(
        &src.read_f32("reference_features")?,
        &src.read_f32("candidate_features")?,
        shape[1] as usize,
        logits.as_ref().map(|(a, b, c)| (a.as_slice(), b.as_slice(), *c)),
    )?;
    let run = json!({
        // Named, not located: the report of a port must hold no local paths.
        "images": images,
        "files": meta["images"],
        "variants": meta["variants"],
        "inputs": meta["inputs"],
        "pixel_values_shape": meta["pixel_values_shape"],
        "package": package,
        "quantization": meta["quantization"],
        "libraries": meta["libraries"],
        "seconds": meta["seconds"],
    });
    Ok(QualityReport::new(
        "vision",
        reference.display().to_string(),
        candidate.display().to_string(),
        run,
        th,
        Measured { vision: Some(m), ..Default::default() },
    ))
}

pub fn encoder_gate(h: &Harness, reference: &Path, candidate: &Path, s: &EncoderSettings, work: &Path, th: Thresholds) -> Result<QualityReport> {
    let sentences = data_file(&s.sentences, work, "sentences.txt", data::SENTENCES)?;
    let queries = data_file(&s.queries, work, "queries.txt", data::QUERIES)?;
    let package = match &s.package {
        Some(p) => p.clone(),
        None => {
            let insp = serde_json::to_value(mlxport_intake::inspect(reference, &mlxport_intake::Options::default())?)?;
            let plan = mlxport_harness::scaffold::plan(&insp, "mlxport_quality_encoder", concat!("mlxport ", env!("CARGO_PKG_VERSION")))
                .with_context(|| format!("cannot scaffold a package for {}", reference.display()))?;
            let dir = work.join("mlxport_quality_encoder");
            mlxport_harness::scaffold::write(&plan, &dir)?;
            dir
        }
    };
    let out = work.join("embeddings.npz");
    h.quality_encoder(&EncoderRequest {
        package,
        reference: reference.to_path_buf(),
        candidate: candidate.to_path_buf(),
        sentences,
        queries,
        out: out.clone(),
    })?;
    let src = mlxport_tensor::open_file(&out)?;
    let shape = src.info("reference")?.shape.clone();
    if shape.len() != 2 {
        bail!("{}: embeddings of shape {:?}, expected [S, H]", out.display(), shape);
    }
    let m = encoder::compute(
        &src.read_f32("reference")?,
        &src.read_f32("candidate")?,
        &src.read_f32("query_reference")?,
        &src.read_f32("query_candidate")?,
        shape[1] as usize,
        s.retrieval_k,
    )?;
    let meta: Value = std::fs::read(work.join("embeddings.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    let run = json!({
        "sentences": source_name(&s.sentences, "sentences"),
        "queries": source_name(&s.queries, "queries"),
        "package": s.package.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "scaffolded from the reference".into()),
        "quantization": meta["quantization"],
        "libraries": meta["libraries"],
    });
    Ok(QualityReport::new(
        "encoder",
        reference.display().to_string(),
        candidate.display().to_string(),
        run,
        th,
        Measured { encoder: Some(m), ..Default::default() },
    ))
}
