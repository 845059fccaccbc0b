//! MLX quantization as a conversion stage, with mlx-lm's conventions.
//!
//! [`quantize_convert`] runs a conversion (see [`crate::convert`]) whose
//! output stage quantizes: [`select`] decides per target tensor (mlx-lm's
//! quantizable modules, per-model predicates, mixed recipes, `--rule`s),
//! [`budget`] optionally chooses bits per layer for a bits-per-weight
//! budget, [`stage`] writes the packed weights, scales and biases (or
//! repacks GGUF Q4_0/Q4_1/Q8_0 blocks losslessly) and adds the
//! `quantization` / `quantization_config` blocks to `config.json`, and
//! [`report`] ranks the per-layer errors. `mlxport quantize` reads an MLX
//! checkpoint through [`identity_map`]; `mlxport convert -q` uses the
//! source's own map. The kernels are `mlxport-quant`'s, bit-exact with
//! `mx.quantize`.

pub mod budget;
pub mod options;
pub mod report;
pub mod select;
pub mod stage;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use mlxport_tensor::gguf::GgufFile;
use mlxport_tensor::{Encoding, Format, TensorSource};
use rayon::prelude::*;
use serde_json::{json, Value};

pub use options::{QuantOptions, Spec};
pub use report::Report;

use crate::convert::{convert, for_each_target, plan_error, ConvertOptions, Converted};
use crate::map::WeightMap;
use crate::plan::{plan, Plan, PlannedTarget};
use crate::stage::Stage;
use crate::transform::Transform;
use crate::{Error, Result};
use budget::{allocate, Candidate};
use options::AFFINE_BITS;
use report::{rank, Skipped};
use select::{config_block, select, Choice};
use stage::{params, QuantStage};

/// What a quantizing conversion did.
pub struct QuantizeResult {
    pub converted: Converted,
    pub report: Report,
}

/// A map that carries every tensor of an MLX (mlx-lm layout) checkpoint
/// as it is, for re-encoding it. Refuses a checkpoint that is already
/// quantized.
pub fn identity_map(src: &dyn TensorSource, model: &Path) -> Result<WeightMap> {
    let mut rules = Vec::new();
    for t in src.tensors() {
        if t.name.ends_with(".scales") || matches!(t.encoding, Encoding::Ggml { .. }) {
            return Err(Error::Usage(format!(
                "{}: '{}' shows the checkpoint is already quantized; quantize a floating-point MLX checkpoint (mlxport convert without -q)",
                model.display(),
                t.name
            )));
        }
        rules.push(json!({"source": t.name, "target": t.name}));
    }
    let v = json!({"schema": crate::map::SCHEMA, "target": {"layout": "mlx-lm"}, "dtype": "keep", "rules": rules});
    serde_json::from_value(v).map_err(|e| Error::Convert(format!("identity map: {e}")))
}

/// The config a conversion of `model` writes (before mlx-lm's cleanup).
fn source_config(model: &Path, format: Format) -> Result<Option<Value>> {
    if format == Format::Gguf {
        let g = GgufFile::open(model)?;
        return crate::gguf_meta::config(&g).map(Some);
    }
    crate::draft::config_beside(model)
}

/// GGUF block types kept as MLX affine, with their bits.
fn kept_bits(ggml: &str) -> Option<u8> {
    match ggml {
        "Q4_0" | "Q4_1" => Some(4),
        "Q8_0" => Some(8),
        _ => None,
    }
}

/// Targets whose source is a GGUF Q4_0/Q4_1/Q8_0 tensor carried through
/// row moves only: their bits and row transforms.
fn keepable(src: &dyn TensorSource, map: &WeightMap, p: &Plan) -> HashMap<String, (u8, Vec<Transform>)> {
    let mut out = HashMap::new();
    for j in &p.jobs {
        if j.inputs.len() != 1 || j.targets.len() != 1 {
            continue;
        }
        let Ok(info) = src.info(&j.inputs[0]) else { continue };
        let Encoding::Ggml { name, .. } = &info.encoding else { continue };
        let Some(bits) = kept_bits(name) else { continue };
        let ts = &map.rules[j.rule].transforms;
        if ts.iter().all(|t| matches!(t, Transform::Rename | Transform::UnpermuteRope { .. } | Transform::PermuteRope { .. })) && j.shapes[0].len() == 2 {
            out.insert(j.targets[0].clone(), (bits, ts.clone()));
        }
    }
    for t in &p.ties {
        if let Some(v) = out.get(&t.from).cloned() {
            out.insert(t.target.clone(), v);
        }
    }
    out
}

/// Convert `model` through `map` into `out`, quantizing as `q` says
/// (`None`: only GGUF blocks kept, with `keep_gguf`). GGUF Q4_0, Q4_1 and
/// Q8_0 tensors are repacked losslessly when `keep_gguf`.
pub fn quantize_convert(
    model: &Path,
    map: &WeightMap,
    out: &Path,
    mut copts: ConvertOptions,
    q: Option<&QuantOptions>,
    keep_gguf: bool,
) -> Result<QuantizeResult> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::Usage(format!("{} already exists; refusing to overwrite it (choose a new --out)", out.display())));
    }
    let src = mlxport_tensor::open(model)?;
    let p = plan(map, src.tensors(), copts.dtype);
    if p.errors() > 0 {
        return Err(plan_error(&p));
    }
    let targets = p.targets();
    let config = source_config(model, src.format())?;
    if let Some(c) = &config {
        if c.get("quantization").is_some() {
            return Err(Error::Usage(format!("{}: config.json already has a `quantization` block; quantize a floating-point checkpoint", model.display())));
        }
    }
    let keep = if keep_gguf {
        if src.format() != Format::Gguf {
            return Err(Error::Usage(format!("{}: keeping GGUF blocks needs a GGUF source", model.display())));
        }
        keepable(src.as_ref(), map, &p)
    } else {
        HashMap::new()
    };
    let default_opts;
    let qo = match q {
        Some(q) => q,
        None => {
            let bits = if keep.values().any(|(b, _)| *b == 4) { 4 } else { 8 };
            default_opts = QuantOptions {
                spec: Spec { mode: "affine", bits, group_size: 32 },
                group_size_given: true,
                recipe: None,
                rules: Vec::new(),
                target_bpw: None,
                report: false,
            };
            &default_opts
        }
    };
    let mut choices = match q {
        Some(q) => select(&targets, config.as_ref(), q)?,
        None => vec![Choice::Float { why: None }; targets.len()],
    };
    let mut transforms = HashMap::new();
    for (t, c) in targets.iter().zip(choices.iter_mut()) {
        if let Some((bits, ts)) = keep.get(&t.name) {
            *c = Choice::KeepGguf { bits: *bits };
            transforms.insert(t.name.clone(), ts.clone());
        }
    }
    let gguf = if keep.is_empty() { None } else { Some(GgufFile::open(model)?) };
    let bys = |cs: &[Choice]| -> HashMap<String, (Choice, String)> {
        targets
            .iter()
            .zip(cs)
            .map(|(t, c)| {
                let by = match c {
                    Choice::Quantize { by, .. } => by.clone(),
                    _ => String::new(),
                };
                (t.name.clone(), (c.clone(), by))
            })
            .collect()
    };
    let make_stage = |cs: &[Choice], errors: bool, gguf: Option<GgufFile>| QuantStage {
        name: stage_name(qo),
        choices: bys(cs),
        block: config_block(qo, &targets, cs),
        gguf,
        transforms: transforms.clone(),
        errors: errors.then(|| Arc::new(Mutex::new(Vec::new()))),
    };

    let allocation = match q.and_then(|q| q.target_bpw) {
        Some(target) => {
            let probe = make_stage(&choices, false, None);
            let a = choose_bits(src.as_ref(), map, &p, &targets, &mut choices, qo, target, &probe)?;
            Some(a)
        }
        None => None,
    };

    let qstage = make_stage(&choices, q.is_some_and(|q| q.report), gguf);
    let sink = qstage.errors.clone();
    copts.stage = Box::new(qstage);
    let converted = convert(model, map, out, &copts)?;
    let errors = sink.map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner())));
    let m = &converted.manifest.target;
    let mut skipped = Vec::new();
    let (mut quantized, mut kept) = (0, 0);
    for (t, c) in targets.iter().zip(&choices) {
        match c {
            Choice::Float { why: Some(w) } => skipped.push(Skipped { name: t.name.clone(), reason: w.clone() }),
            Choice::Quantize { .. } => quantized += 1,
            Choice::KeepGguf { .. } => kept += 1,
            _ => {}
        }
    }
    let mut layers = errors.unwrap_or_default();
    rank(&mut layers);
    let total_sse = (!layers.is_empty()).then(|| layers.iter().map(|l| l.rmse * l.rmse * l.elements as f64).sum());
    let report = Report {
        schema: report::SCHEMA,
        mode: qo.spec.mode.into(),
        bits: qo.spec.bits,
        group_size: qo.spec.group_size,
        recipe: qo.recipe.clone(),
        bpw: if m.parameters > 0 { m.total_size as f64 * 8.0 / m.parameters as f64 } else { 0.0 },
        parameters: m.parameters,
        quantized,
        kept_gguf: kept,
        skipped,
        layers,
        total_sse,
        target_bpw: allocation,
    };
    Ok(QuantizeResult { converted, report })
}

fn stage_name(q: &QuantOptions) -> String {
    match (&q.recipe, q.target_bpw) {
        (Some(r), _) => format!("{r} g{}", q.spec.group_size),
        (None, Some(t)) => format!("affine g{} target {t} bpw", q.spec.group_size),
        _ => q.spec.describe(),
    }
}

/// Measure every default-quantized affine layer at every bit width and
/// choose bits for the budget; updates `choices`.
#[allow(clippy::too_many_arguments)]
fn choose_bits(
    src: &dyn TensorSource,
    map: &WeightMap,
    p: &Plan,
    targets: &[PlannedTarget],
    choices: &mut [Choice],
    q: &QuantOptions,
    target: f64,
    probe: &QuantStage,
) -> Result<budget::Allocation> {
    let is_cand = |c: &Choice| matches!(c, Choice::Quantize { by, spec, .. } if by == "default" && spec.mode == "affine");
    let cand_idx: Vec<usize> = (0..targets.len()).filter(|&i| is_cand(&choices[i])).collect();
    let index: HashMap<&str, usize> = cand_idx.iter().map(|&i| (targets[i].name.as_str(), i)).collect();
    // Everything else is fixed: its bits, and every parameter.
    let (mut fixed_bits, mut parameters) = (0f64, 0u64);
    for t in targets {
        for o in probe.outputs(t)? {
            parameters += o.parameters;
            if !index.contains_key(t.name.as_str()) {
                fixed_bits += o.spec.nbytes().unwrap_or(0) as f64 * 8.0;
            }
        }
    }
    let g = q.spec.group_size;
    let mut measured: HashMap<usize, Candidate> = HashMap::new();
    let mut weight_sq = 0f64;
    for_each_target(src, map, p, &|name| index.contains_key(name), &mut |name, buf| {
        let i = index[name];
        let shape: Vec<usize> = buf.shape.iter().map(|&d| d as usize).collect();
        let stats: Vec<(f64, f64)> = AFFINE_BITS
            .par_iter()
            .map(|&b| -> Result<(f64, f64)> {
                let spec = Spec { mode: "affine", bits: b, group_size: g };
                let pr = params(&spec)?;
                let qt = mlxport_quant::quantize(&buf.data, buf.dtype, &shape, &pr).map_err(|e| Error::Convert(format!("'{name}': cannot quantize: {e}")))?;
                let st = mlxport_quant::error_stats(&buf.data, buf.dtype, &qt, &pr).map_err(|e| Error::Convert(format!("'{name}': {e}")))?;
                let sse = st.rmse * st.rmse * st.elements as f64;
                let norm = if st.rel_frobenius > 0.0 { sse / (st.rel_frobenius * st.rel_frobenius) } else { 0.0 };
                Ok((sse, norm))
            })
            .collect::<Result<_>>()?;
        weight_sq += stats.iter().map(|s| s.1).fold(0.0, f64::max);
        let elements: u64 = buf.shape.iter().product();
        let scale_bytes = buf.dtype.size().unwrap_or(2) as u64;
        let mut sse = [0f64; 6];
        for (k, s) in stats.iter().enumerate() {
            sse[k] = s.0;
        }
        measured.insert(i, Candidate { name: name.to_string(), elements, group_size: g, scale_bytes, sse });
        Ok(())
    })?;
    let cands: Vec<Candidate> = cand_idx.iter().filter_map(|i| measured.remove(i)).collect();
    if cands.len() != cand_idx.len() {
        return Err(Error::Convert("--target-bpw: not every layer could be measured".into()));
    }
    let a = allocate(&cands, fixed_bits, parameters, target, weight_sq)?;
    for (&i, &b) in cand_idx.iter().zip(&a.bits) {
        let spec = Spec { mode: "affine", bits: b, group_size: g };
        let entry = (b != q.spec.bits).then(|| json!({"group_size": g, "bits": b, "mode": "affine"}).as_object().cloned().unwrap_or_default());
        choices[i] = Choice::Quantize { spec, entry, by: "budget".into() };
    }
    Ok(a)
}
