//! The optional steps of `mlxport port` after the parity ladder:
//! `quantize` (the converted weights re-encoded as `mlxport quantize` does,
//! into `quantized/`), `quality` (the task-level gate of the quantized
//! weights against the float ones, `quality/`) and `bench` (generation
//! receipts of both, `bench/`). A failing gate stops the port with its
//! reasons. Asked for with `-q` or any quantization option.

use std::path::Path;

use crate::error::{bail, Context, Result};
use serde_json::{json, Value};

use mlxport_contract::{Family, Step};
use mlxport_convert::convert::ConvertOptions;
use mlxport_convert::quantize::{identity_map, quantize_convert};
use mlxport_util::fs::write_atomic;
use mlxport_util::human::bytes as human_bytes;

use super::{Ctx, Flow, Outcome, PortRequest};
use crate::bench::GenerateRequest;
use crate::optimize::gate::{EncoderSettings, LmSettings, VisionSettings};
use crate::quality::QualityRequest;

/// Whether the optional steps run: `-q` or any quantization option.
pub fn wanted(a: &PortRequest) -> bool {
    a.quantize || a.quant.any()
}

/// Refuse bad options before any step runs.
pub fn check(a: &PortRequest) -> Result<()> {
    if wanted(a) {
        a.quant.options(false)?;
        check_gate_and_bench(a)?;
    } else if a.quality_thresholds.is_some() && !a.optimize {
        bail!("--quality-thresholds goes with -q/--quantize or --optimize (the quality gate judges the quantized or optimized weights)");
    }
    Ok(())
}

/// The quality-gate and bench options, which `-q` and `--optimize` share.
pub fn check_gate_and_bench(a: &PortRequest) -> Result<()> {
    if let Some(t) = &a.quality_thresholds {
        mlxport_quality::Thresholds::default().apply(t).context("--quality-thresholds")?;
    }
    if !crate::bench::valid_settings(&a.bench_prompt_tokens, a.bench_gen_tokens, a.bench_runs) {
        bail!("--bench-prompt-tokens needs positive lengths, --bench-gen-tokens at least 2 and --bench-runs at least 1");
    }
    Ok(())
}

/// The three steps not asked for: recorded as skipped, and what an
/// earlier run with them left behind removed (the package would ship it).
pub fn not_requested(ctx: &mut Ctx, reason: &str) -> Result<()> {
    for (step, dir) in [(Step::Quantize, "quantized"), (Step::Quality, "quality"), (Step::Bench, "bench")] {
        let stale = ctx.dir.join(dir);
        if stale.is_dir() {
            std::fs::remove_dir_all(&stale).with_context(|| format!("removing {}", stale.display()))?;
        }
        ctx.skip(step, reason)?;
    }
    Ok(())
}

/// The options that decide the quantized weights, for the inputs hash and
/// the conversion manifest's command line.
fn quant_inputs(a: &PortRequest) -> Value {
    let q = &a.quant;
    json!({"bits": q.bits, "group_size": q.group_size, "mode": q.mode, "recipe": q.recipe, "rules": q.rules, "target_bpw": q.target_bpw})
}

fn command_line(a: &PortRequest) -> Vec<String> {
    let mut c: Vec<String> = vec!["mlxport".into(), "port".into(), "--dtype".into(), a.dtype.to_string(), "-q".into()];
    c.extend(a.quant.flags());
    c
}

pub fn quantize(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({"upstream": ctx.upstream(&[Step::Convert]), "options": quant_inputs(ctx.req)});
    ctx.step(Step::Quantize, inputs, &["quantized"], |ctx, st| {
        let q = ctx.req.quant.options(false)?;
        let weights = ctx.dir.join("weights");
        let src = mlxport_tensor::open(&weights)?;
        let map = identity_map(src.as_ref(), Path::new("weights"))?;
        drop(src);
        let copts =
            ConvertOptions { command: command_line(ctx.req), digest_cache: mlxport_intake::digest::DigestCache::default_path(), ..ConvertOptions::default() };
        let done = quantize_convert(&weights, &map, &st.join("quantized"), copts, Some(&q), false)?;
        let r = &done.report;
        let float_bytes = std::fs::read(weights.join("mlxport-conversion.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["target"]["total_size"].as_u64());
        let m = &done.converted.manifest.target;
        Ok(Outcome::Done(format!(
            "{} {}-bit group {}{}: {} tensors quantized, {} left float, {:.3} bits per weight, {}{}",
            r.mode,
            r.bits,
            r.group_size,
            r.recipe.as_ref().map(|x| format!(" ({x})")).unwrap_or_default(),
            r.quantized,
            r.skipped.len(),
            r.bpw,
            human_bytes(m.total_size),
            float_bytes.map(|f| format!(" (float {})", human_bytes(f))).unwrap_or_default()
        )))
    })
}

fn model_type(dir: &Path) -> String {
    std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["model_type"].as_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

/// Whether the port's family generates tokens (its package has a greedy
/// loop the language-model gate and the generation benchmark run).
fn generates(ctx: &Ctx) -> bool {
    matches!(ctx.state.family, Some(Family::DenseDecoder | Family::MoeDecoder | Family::EncoderDecoder | Family::VisionLanguage))
}

pub fn quality(ctx: &mut Ctx) -> Result<Flow> {
    let inputs = json!({
        "upstream": ctx.upstream(&[Step::Convert, Step::Scaffold, Step::Quantize]),
        "thresholds": ctx.req.quality_thresholds,
        "max_tokens": ctx.req.quality_max_tokens,
        "images": ctx.req.images,
    });
    ctx.step(Step::Quality, inputs, &["quality"], |ctx, st| {
        let (reference, candidate) = (ctx.dir.join("weights"), ctx.dir.join("quantized"));
        let encoder = crate::quality::is_encoder(&model_type(&reference));
        // The proven package is the one gated: the encoder's, the
        // decoder's or the encoder-decoder's (target scaffold); mlx-lm runs
        // the mlx-lm target.
        let package = ctx.dir.join("scaffold");
        let package = package.join("__init__.py").is_file().then_some(package);
        let decoder_package = package.clone().filter(|_| generates(ctx));
        let vision_package = package.clone().filter(|_| matches!(ctx.state.family, Some(Family::Vision | Family::VisionLanguage)));
        let package = package.filter(|_| encoder);
        let through_package = package.is_some() || decoder_package.is_some() || vision_package.is_some();
        let req = QualityRequest {
            reference,
            candidates: vec![candidate],
            lm: LmSettings { max_tokens: ctx.req.quality_max_tokens, package: decoder_package, ..LmSettings::default() },
            encoder: EncoderSettings { package, ..EncoderSettings::default() },
            vision: VisionSettings { images: ctx.req.images.clone(), package: vision_package, generate: None },
            thresholds: ctx.req.quality_thresholds.clone(),
            harness: ctx.req.harness.clone(),
        };
        let mut r = crate::quality::gate(&req)?.remove(0);
        // The report names PORT_DIR's folders, not this machine's paths.
        r.reference = "weights".into();
        r.candidate = "quantized".into();
        if through_package {
            if let Some(p) = r.run.get_mut("package").filter(|p| p.is_string()) {
                *p = json!("scaffold");
            }
            if let Some(p) = r.run.get_mut("implementation").filter(|p| p.as_str().is_some_and(|s| s.starts_with("package "))) {
                *p = json!("package scaffold");
            }
        }
        let out = st.join("quality");
        std::fs::create_dir_all(&out)?;
        write_atomic(&out.join("quality.json"), r.to_json().as_bytes())?;
        write_atomic(&out.join("quality.md"), r.to_markdown().as_bytes())?;
        let key: Vec<String> = r.checks.iter().map(|c| format!("{} {}", c.name, mlxport_quality::report::fmt(c.value))).collect();
        let summary = format!("{} gate {}: {}", r.kind, r.verdict, key.join(", "));
        if r.passed() {
            return Ok(Outcome::Done(summary));
        }
        let mut rem: Vec<String> = r.reasons.iter().map(|x| format!("quality gate: {x}")).collect();
        rem.push("the quantized weights lose too much against the float ones (quality/quality.md has every check): quantize with more bits (--bits 8), a mixed recipe (--recipe mixed_4_6), sensitive layers kept float with --rule 'REGEX=skip', or a higher --target-bpw, and re-run the same command (earlier steps are kept)".into());
        rem.push("or, if this loss is acceptable for your use, relax the failing limits with --quality-thresholds K=V,...".into());
        Ok(Outcome::Failed { summary, remediation: rem })
    })
}

pub fn bench(ctx: &mut Ctx) -> Result<Flow> {
    if ctx.state.family == Some(Family::Encoder) {
        return bench_encoder(ctx);
    }
    if ctx.state.family == Some(Family::Vision) {
        return bench_vision(ctx);
    }
    let a = ctx.req;
    let inputs = json!({
        "upstream": ctx.upstream(&[Step::Convert, Step::Quantize, Step::Quality]),
        "prompt_tokens": a.bench_prompt_tokens, "gen_tokens": a.bench_gen_tokens, "runs": a.bench_runs,
    });
    ctx.step(Step::Bench, inputs, &["bench"], |ctx, st| {
        let out = st.join("bench");
        std::fs::create_dir_all(&out)?;
        let mut lines = Vec::new();
        // Float first, then quantized, each with one warmup per length;
        // the quantized receipt carries the quality gate's result.
        for (name, dir, gate) in [("float", "weights", None), ("quantized", "quantized", Some(ctx.dir.join("quality/quality.json")))] {
            let mut g = GenerateRequest::new(
                ctx.dir.join(dir),
                ctx.req.bench_prompt_tokens.clone(),
                ctx.req.bench_gen_tokens,
                ctx.req.bench_runs,
                ctx.req.harness.clone(),
            );
            g.workload = Some(if ctx.state.family == Some(Family::VisionLanguage) {
                format!("generate after one photograph and a prompt, {name} weights")
            } else {
                format!("generate, {name} weights")
            });
            g.quality_gate = gate;
            // The proven package is the one measured (target scaffold).
            let package = ctx.dir.join("scaffold");
            if package.join("__init__.py").is_file() && generates(ctx) {
                g.weights = Some(g.model.clone());
                g.model = package;
            }
            let m = crate::bench::measure(&g).with_context(|| format!("benchmarking the {name} weights ({dir}/)"))?;
            let r = &m.receipt;
            write_atomic(&out.join(format!("{name}.json")), crate::bench::receipt_json(r).as_bytes())?;
            let rows = mlxport_bench::generate::rows(r);
            let decode: Vec<String> = rows.iter().map(|x| format!("{}: {:.1}", x.prompt_tokens, x.decode_tokens_per_s)).collect();
            lines.push(format!("{name} decode tok/s {}", decode.join(", ")));
        }
        Ok(Outcome::Done(lines.join("; ")))
    })
}

/// The encoder's bench step: sentence embeddings through the port's
/// package, float then quantized weights, sentences/s at batch sizes 1, 8
/// and 32 (sorted by length), each a receipt (`embed` workload).
fn bench_encoder(ctx: &mut Ctx) -> Result<Flow> {
    let a = ctx.req;
    let inputs = json!({
        "upstream": ctx.upstream(&[Step::Convert, Step::Scaffold, Step::Quantize, Step::Quality]),
        "runs": a.bench_runs, "batch_sizes": ENCODER_BATCHES,
    });
    ctx.step(Step::Bench, inputs, &["bench"], |ctx, st| {
        let out = st.join("bench");
        std::fs::create_dir_all(&out)?;
        let mut lines = Vec::new();
        for (name, dir, gate) in [("float", "weights", None), ("quantized", "quantized", Some(ctx.dir.join("quality/quality.json")))] {
            let req = crate::bench::EmbedRequest {
                package: ctx.dir.join("scaffold"),
                weights: ctx.dir.join(dir),
                batch_sizes: ENCODER_BATCHES.to_vec(),
                bucket: true,
                sentences: None,
                runs: ctx.req.bench_runs.max(1),
                warmup: 1,
                seed: None,
                resamples: 10_000,
                workload: Some(format!("embed, {name} weights")),
                quality_gate: gate,
                harness: ctx.req.harness.clone(),
            };
            let r = crate::bench::embed(&req).with_context(|| format!("benchmarking the {name} weights ({dir}/)"))?;
            write_atomic(&out.join(format!("{name}.json")), crate::bench::receipt_json(&r).as_bytes())?;
            let per: Vec<String> = r.benchmarks.iter().map(|b| format!("{}: {:.1}", b.label, b.stats.median)).collect();
            lines.push(format!("{name} sentences/s {}", per.join(", ")));
        }
        Ok(Outcome::Done(lines.join("; ")))
    })
}

/// The image model's bench step: its photographs through the port's
/// package, float then quantized weights, images/s at batch sizes 1 and 8,
/// each a receipt (`images` workload).
fn bench_vision(ctx: &mut Ctx) -> Result<Flow> {
    let a = ctx.req;
    let inputs = json!({
        "upstream": ctx.upstream(&[Step::Convert, Step::Scaffold, Step::Quantize, Step::Quality]),
        "runs": a.bench_runs, "batch_sizes": VISION_BATCHES, "images": a.images,
    });
    ctx.step(Step::Bench, inputs, &["bench"], |ctx, st| {
        let out = st.join("bench");
        std::fs::create_dir_all(&out)?;
        let mut lines = Vec::new();
        for (name, dir, gate) in [("float", "weights", None), ("quantized", "quantized", Some(ctx.dir.join("quality/quality.json")))] {
            let req = crate::bench::ImagesRequest {
                package: ctx.dir.join("scaffold"),
                weights: ctx.dir.join(dir),
                batch_sizes: VISION_BATCHES.to_vec(),
                images: ctx.req.images.clone(),
                inputs: 16,
                runs: ctx.req.bench_runs.max(1),
                warmup: 1,
                seed: None,
                resamples: 10_000,
                workload: Some(format!("images, {name} weights")),
                quality_gate: gate,
                harness: ctx.req.harness.clone(),
            };
            let r = crate::bench::images(&req).with_context(|| format!("benchmarking the {name} weights ({dir}/)"))?;
            write_atomic(&out.join(format!("{name}.json")), crate::bench::receipt_json(&r).as_bytes())?;
            let per: Vec<String> = r.benchmarks.iter().map(|b| format!("{}: {:.1}", b.label, b.stats.median)).collect();
            lines.push(format!("{name} images/s {}", per.join(", ")));
        }
        Ok(Outcome::Done(lines.join("; ")))
    })
}

/// The batch sizes an image-model port is benchmarked at.
const VISION_BATCHES: [u32; 2] = [1, 8];

/// The batch sizes an encoder port is benchmarked at.
const ENCODER_BATCHES: [u32; 3] = [1, 8, 32];
