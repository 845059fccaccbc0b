//! `mlxport quality`: the task-level quality gate of a candidate model
//! against its reference. The harness computes logits or embeddings; the
//! metrics and the verdict come from `mlxport-quality`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mlxport_harness::jobs::Harness;
use mlxport_harness::quality::{EncoderRequest, LmRequest};
use mlxport_quality::report::Measured;
use mlxport_quality::{data, encoder, greedy, lm, QualityReport, Thresholds};
use serde_json::{json, Value};

use crate::cli::QualityArgs;
use crate::output::{write_atomic, Progress, Table};

/// Model types routed to the encoder gate.
const ENCODER_TYPES: &[&str] = &["bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra"];

pub fn run(args: QualityArgs) -> Result<u8> {
    let report = gate(&args)?;
    if let Some(p) = &args.output {
        write_atomic(p, report.to_json().as_bytes()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = &args.markdown {
        write_atomic(p, report.to_markdown().as_bytes()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if args.json {
        print!("{}", report.to_json());
    } else {
        print_table(&report);
    }
    Ok(if report.passed() { crate::exit::OK } else { crate::exit::CHECK_FAILED })
}

/// Run the gate `args` describe (language model or encoder, by the
/// reference's model type) and return its report; writes nothing.
pub fn gate(args: &QualityArgs) -> Result<QualityReport> {
    let mut th = Thresholds::default();
    if let Some(spec) = &args.thresholds {
        th.apply(spec).context("--thresholds")?;
    }
    for (flag, p) in [("--reference", &args.reference), ("--candidate", &args.candidate)] {
        if !p.join("config.json").is_file() {
            bail!("{flag} {}: not a model directory (no config.json)", p.display());
        }
    }
    let model_type = model_type(&args.reference)?;
    let mut h = Harness::new(super::oracle::settings(&args.harness))?;
    if h.blas.path().is_some() {
        let c = h.check_blas()?;
        if !c.ok {
            eprintln!("note: OpenBLAS changed MLX results (max relative change {:.1e}); running without it", c.max_rel_error);
        }
    }
    let work = tempfile::Builder::new().prefix("mlxport-quality-").tempdir()?;
    let report = if is_encoder(&model_type) { encoder_gate(args, &h, work.path(), th)? } else { lm_gate(args, &h, work.path(), th)? };
    drop(work);
    Ok(report)
}

/// Whether a model type goes to the encoder gate.
pub fn is_encoder(model_type: &str) -> bool {
    ENCODER_TYPES.contains(&model_type.to_ascii_lowercase().as_str())
}

fn model_type(dir: &Path) -> Result<String> {
    let p = dir.join("config.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", p.display()))?;
    Ok(v["model_type"].as_str().unwrap_or_default().to_ascii_lowercase())
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

fn lm_gate(args: &QualityArgs, h: &Harness, work: &Path, th: Thresholds) -> Result<QualityReport> {
    if args.window < 2 || args.stride == 0 || args.stride > args.window {
        bail!("--window {} --stride {}: need window >= 2 and 1 <= stride <= window", args.window, args.stride);
    }
    let text = data_file(&args.text, work, "corpus.txt", data::CORPUS)?;
    let prompts = data_file(&args.prompts, work, "prompts.txt", data::PROMPTS)?;
    let out = work.join("lm");
    let req = LmRequest { reference: args.reference.clone(), candidate: args.candidate.clone(), text, prompts, max_tokens: args.max_tokens, window: args.window, stride: args.stride, generate: args.generate, out: out.clone() };
    h.quality_lm(&req)?;
    let man_path = out.join("quality_lm.json");
    let man: Value = serde_json::from_slice(&std::fs::read(&man_path).with_context(|| format!("cannot read {}", man_path.display()))?)?;
    let chunks = man["chunks"].as_array().cloned().unwrap_or_default();
    let mut acc = lm::LmAccumulator::new();
    let progress = Progress::bytes(chunks.len() as u64 * (64 << 20), "metrics");
    for c in &chunks {
        let f = out.join(c["file"].as_str().unwrap_or_default());
        let src = mlxport_tensor::open_file(&f)?;
        let shape = &src.info("reference")?.shape;
        let targets: Vec<i64> = src.read_f32("targets")?.into_iter().map(|x| x as i64).collect();
        if shape.len() != 2 || shape[0] as usize != targets.len() {
            bail!("{}: logits of shape {:?} for {} targets", f.display(), shape, targets.len());
        }
        acc.add(&src.read_f32("reference")?, &src.read_f32("candidate")?, &targets).with_context(|| format!("{}", f.display()))?;
        drop(src);
        std::fs::remove_file(&f).ok();
        progress.inc(64 << 20);
    }
    progress.finish();
    let metrics = acc.finish()?;
    let g = mlxport_tensor::open_file(&out.join("greedy.npz"))?;
    let n_prompts = g.info("reference")?.shape.first().copied().unwrap_or(0) as usize;
    let ids = |name: &str| -> Result<Vec<i64>> { Ok(g.read_f32(name)?.into_iter().map(|x| x as i64).collect()) };
    let greedy = if n_prompts > 0 && args.generate > 0 { Some(greedy::compare(&ids("reference")?, &ids("candidate")?, n_prompts)?) } else { None };
    let run = json!({
        "text": source_name(&args.text, "corpus"),
        "prompts": source_name(&args.prompts, "prompts"),
        "tokens": man["tokens"],
        "max_tokens": args.max_tokens,
        "window": args.window,
        "stride": args.stride,
        "generate": args.generate,
        "same_tokenizer": man["same_tokenizer"],
        "prompt_texts": man["prompts"],
        "continuations": man["continuations"],
        "libraries": man["libraries"],
    });
    if man["same_tokenizer"] == false {
        eprintln!("note: the candidate's tokenizer encodes the text differently; both models are scored on the reference's token ids");
    }
    Ok(QualityReport::new("language-model", args.reference.display().to_string(), args.candidate.display().to_string(), run, th, Measured { lm: Some(metrics), greedy, encoder: None }))
}

fn encoder_gate(args: &QualityArgs, h: &Harness, work: &Path, th: Thresholds) -> Result<QualityReport> {
    let sentences = data_file(&args.sentences, work, "sentences.txt", data::SENTENCES)?;
    let queries = data_file(&args.queries, work, "queries.txt", data::QUERIES)?;
    let package = match &args.package {
        Some(p) => p.clone(),
        None => {
            let insp = serde_json::to_value(mlxport_intake::inspect(&args.reference, &mlxport_intake::Options::default())?)?;
            let plan = mlxport_harness::scaffold::plan(&insp, "mlxport_quality_encoder", concat!("mlxport ", env!("CARGO_PKG_VERSION"))).with_context(|| format!("cannot scaffold a package for {}", args.reference.display()))?;
            let dir = work.join("mlxport_quality_encoder");
            mlxport_harness::scaffold::write(&plan, &dir)?;
            dir
        }
    };
    let out = work.join("embeddings.npz");
    h.quality_encoder(&EncoderRequest { package, reference: args.reference.clone(), candidate: args.candidate.clone(), sentences, queries, out: out.clone() })?;
    let src = mlxport_tensor::open_file(&out)?;
    let shape = src.info("reference")?.shape.clone();
    if shape.len() != 2 {
        bail!("{}: embeddings of shape {:?}, expected [S, H]", out.display(), shape);
    }
    let m = encoder::compute(&src.read_f32("reference")?, &src.read_f32("candidate")?, &src.read_f32("query_reference")?, &src.read_f32("query_candidate")?, shape[1] as usize, args.retrieval_k)?;
    let meta: Value = std::fs::read(work.join("embeddings.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    let run = json!({
        "sentences": source_name(&args.sentences, "sentences"),
        "queries": source_name(&args.queries, "queries"),
        "package": args.package.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "scaffolded from the reference".into()),
        "quantization": meta["quantization"],
        "libraries": meta["libraries"],
    });
    Ok(QualityReport::new("encoder", args.reference.display().to_string(), args.candidate.display().to_string(), run, th, Measured { encoder: Some(m), ..Default::default() }))
}

fn print_table(r: &QualityReport) {
    println!("quality: {} ({}) — candidate {} vs reference {}", r.verdict.to_uppercase(), r.kind, r.candidate, r.reference);
    if let Some(m) = &r.lm {
        println!("  {} positions; perplexity {} (reference) -> {} (candidate)", m.positions, mlxport_quality::report::fmt(m.perplexity_reference), mlxport_quality::report::fmt(m.perplexity_candidate));
    }
    if let Some(g) = &r.greedy {
        println!("  greedy: {} prompts x {} tokens, exact match {}, first divergence at {}", g.prompts, g.tokens, mlxport_quality::report::fmt(g.exact_match_rate), g.min_first_divergence.map(|d| d.to_string()).unwrap_or_else(|| "none".into()));
    }
    let mut t = Table::new(&["check", "value", "limit", "result"]);
    t.right_align(&[1, 2]);
    for c in &r.checks {
        t.row(vec![c.name.clone(), mlxport_quality::report::fmt(c.value), format!("{} {}", c.op, mlxport_quality::report::fmt(c.limit)), if c.pass { "pass".into() } else { "FAIL".into() }]);
    }
    t.print();
    for reason in &r.reasons {
        println!("  fail: {reason}");
    }
}
