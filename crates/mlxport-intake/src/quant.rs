//! Quantized checkpoints: detect and name the scheme (MLX, GPTQ, AWQ,
//! bitsandbytes, FP8, compressed-tensors, MXFP4, GGUF types) from configs
//! and tensor names/dtypes, and count logical parameters of packed weights.

use std::collections::BTreeMap;

use mlxport_tensor::{DType, Encoding, TensorInfo};
use serde::Serialize;
use serde_json::Value;

/// A detected quantization scheme.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Quantization {
    /// `mlx`, `gptq`, `awq`, `bitsandbytes`, `fp8`, `compressed-tensors`,
    /// `mxfp4`, `gguf`, or the config's own `quant_method`.
    pub scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// For GGUF: tensor count per ggml type.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub types: BTreeMap<String, u64>,
    /// MLX per-layer settings that differ from the defaults (mixed-precision
    /// recipes): module path to bits.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub layer_bits: BTreeMap<String, u64>,
    /// What the detection rests on.
    pub evidence: Vec<String>,
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

/// Detect quantization from the model config and the tensors.
pub fn detect(config: Option<&Value>, quant_config: Option<&Value>, tensors: &[TensorInfo]) -> Option<Quantization> {
    let mut q: Option<Quantization> = None;
    let mut set = |scheme: &str, bits: Option<u64>, group: Option<u64>, mode: Option<String>, ev: String| {
        if q.is_none() {
            q = Some(Quantization {
                scheme: scheme.into(),
                bits,
                group_size: group,
                mode,
                types: BTreeMap::new(),
                layer_bits: BTreeMap::new(),
                evidence: vec![],
            });
        }
        if let Some(q) = q.as_mut() {
            q.evidence.push(ev);
        }
    };
    if let Some(c) = config {
        if let Some(mq) = c.get("quantization").filter(|v| v.is_object()) {
            let mode = mq.get("mode").and_then(Value::as_str).map(str::to_string);
            set("mlx", u(mq, "bits"), u(mq, "group_size"), mode, "config.json has an MLX `quantization` block".into());
        }
        if let Some(qc) = c.get("quantization_config").filter(|v| v.is_object()) {
            let method = qc.get("quant_method").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
            let bits = u(qc, "bits").or_else(|| {
                if qc.get("load_in_4bit").and_then(Value::as_bool) == Some(true) {
                    Some(4)
                } else if qc.get("load_in_8bit").and_then(Value::as_bool) == Some(true) {
                    Some(8)
                } else {
                    None
                }
            });
            let group = u(qc, "group_size").or_else(|| qc.get("weight_block_size").and_then(|b| b.get(1)).and_then(Value::as_u64));
            let scheme = match method.as_str() {
                "" if c.get("quantization").is_some() => "mlx",
                "" => "unknown",
                "bitsandbytes" | "bitsandbytes_4bit" | "bitsandbytes_8bit" => "bitsandbytes",
                "compressed-tensors" | "compressed_tensors" => "compressed-tensors",
                m => m,
            };
            let fmt = qc.get("fmt").or_else(|| qc.get("format")).and_then(Value::as_str).map(str::to_string);
            set(scheme, bits, group, fmt, format!("config.json quantization_config.quant_method = {method:?}"));
        }
    }
    if let Some(qc) = quant_config {
        let method = qc.get("quant_method").and_then(Value::as_str).unwrap_or("gptq").to_ascii_lowercase();
        set(&method, u(qc, "bits"), u(qc, "group_size"), None, "quantize_config.json present".into());
    }
    // Tensor evidence.
    // One pass over the names for every suffix asked about below.
    const SUFFIXES: [&str; 9] = [".qweight", ".qzeros", ".g_idx", ".SCB", ".absmax", ".quant_map", ".weight_packed", "_blocks", "_scales"];
    let mut seen = [false; SUFFIXES.len()];
    let mut bnb_state = false;
    let mut packed_u32 = false;
    for t in tensors {
        let last = t.name.as_bytes().last();
        for (i, s) in SUFFIXES.iter().enumerate() {
            seen[i] |= s.as_bytes().last() == last && t.name.ends_with(s);
        }
        bnb_state |= t.name.contains("quant_state.bitsandbytes");
        packed_u32 |= t.dtype() == Some(DType::U32) && t.name.ends_with(".weight");
    }
    let has_suffix = |s: &str| SUFFIXES.iter().position(|x| *x == s).is_some_and(|i| seen[i]);
    // The name set is only needed when uint32 `.weight` tensors exist.
    let names: foldhash::HashSet<&str> = if packed_u32 { tensors.iter().map(|t| t.name.as_str()).collect() } else { Default::default() };
    if packed_u32
        && tensors.iter().any(|t| {
            t.name.ends_with(".weight") && t.dtype() == Some(DType::U32) && names.contains(format!("{}.scales", t.name.trim_end_matches(".weight")).as_str())
        })
    {
        set("mlx", None, None, None, "uint32 `.weight` tensors with `.scales` siblings (MLX packed layout)".into());
    }
    if has_suffix(".qweight") && has_suffix(".qzeros") {
        let scheme = if has_suffix(".g_idx") { "gptq" } else { "awq" };
        set(scheme, None, None, None, format!("`.qweight`/`.qzeros` tensors ({scheme} packed layout)"));
    }
    if has_suffix(".SCB") || has_suffix(".absmax") || has_suffix(".quant_map") || bnb_state {
        set("bitsandbytes", None, None, None, "bitsandbytes state tensors (`.SCB` / `.absmax` / `quant_state`)".into());
    }
    if has_suffix(".weight_packed") {
        set("compressed-tensors", None, None, None, "`.weight_packed` tensors (compressed-tensors layout)".into());
    }
    if has_suffix("_blocks") && has_suffix("_scales") {
        set("mxfp4", Some(4), Some(32), None, "`_blocks`/`_scales` uint8 tensor pairs (MXFP4 layout)".into());
    }
    let fp8 = tensors.iter().filter(|t| matches!(t.dtype(), Some(DType::F8E4M3 | DType::F8E5M2 | DType::F8E4M3Fnuz | DType::F8E5M2Fnuz))).count();
    if fp8 > 0 {
        set("fp8", Some(8), None, None, format!("{fp8} tensors stored as 8-bit floats"));
    }
    let mut ggml: BTreeMap<String, u64> = BTreeMap::new();
    for t in tensors {
        if let Encoding::Ggml { name, .. } = &t.encoding {
            *ggml.entry(name.to_string()).or_default() += 1;
        }
    }
    if !ggml.is_empty() {
        let main = ggml.iter().max_by_key(|(_, n)| **n).map(|(k, _)| k.clone()).unwrap_or_default();
        set("gguf", None, None, Some(main.clone()), format!("GGUF block-quantized tensors, mostly {main}"));
        if let Some(q) = q.as_mut() {
            q.types = ggml;
            for t in tensors {
                if let Some(d) = t.dtype() {
                    *q.types.entry(d.name().to_string()).or_default() += 1;
                }
            }
        }
    }
    if let (Some(q), Some(m)) = (q.as_mut(), config.and_then(|c| c.get("quantization")).and_then(Value::as_object)) {
        if q.scheme == "mlx" {
            q.layer_bits = m.iter().filter_map(|(k, v)| u(v, "bits").map(|b| (k.clone(), b))).collect();
        }
    }
    q
}

/// Logical parameter count of one tensor: packed quantized weights count the
/// weights they encode; quantization side tensors (scales, zeros, indices)
/// count zero.
pub fn logical_params(t: &TensorInfo, q: Option<&Quantization>, all: &foldhash::HashSet<&str>) -> u64 {
    let numel = t.numel();
    let Some(q) = q else { return numel };
    let base = |suffix: &str| t.name.strip_suffix(suffix).map(str::to_string);
    match q.scheme.as_str() {
        "mlx" => {
            if let Some(stem) = base(".weight") {
                if t.dtype() == Some(DType::U32) && all.contains(format!("{stem}.scales").as_str()) {
                    let bits = q.layer_bits.get(stem.as_str()).copied().or(q.bits).unwrap_or(4).max(1);
                    return numel.saturating_mul(32) / bits;
                }
            }
            if (t.name.ends_with(".scales") || t.name.ends_with(".biases"))
                && all.contains(format!("{}.weight", t.name.rsplit_once('.').map(|x| x.0).unwrap_or("")).as_str())
            {
                return 0;
            }
            numel
        }
        "gptq" | "awq" => {
            if t.name.ends_with(".qweight") {
                return numel.saturating_mul(32) / q.bits.unwrap_or(4).max(1);
            }
            if [".qzeros", ".scales", ".g_idx"].iter().any(|s| t.name.ends_with(s)) {
                return 0;
            }
            numel
        }
        "mxfp4" => {
            if t.name.ends_with("_blocks") {
                return numel.saturating_mul(2);
            }
            if t.name.ends_with("_scales") {
                return 0;
            }
            numel
        }
        "compressed-tensors" => {
            if t.name.ends_with(".weight_packed") {
                return numel.saturating_mul(32) / q.bits.unwrap_or(4).max(1);
            }
            if [".weight_scale", ".weight_zero_point", ".weight_shape", ".weight_g_idx"].iter().any(|s| t.name.ends_with(s)) {
                return 0;
            }
            numel
        }
        "fp8" => {
            if t.name.ends_with("_scale_inv") || t.name.ends_with(".weight_scale") || t.name.ends_with(".input_scale") {
                return 0;
            }
            numel
        }
        "bitsandbytes" => {
            if t.name.contains("quant_state")
                || t.name.ends_with(".absmax")
                || t.name.ends_with(".quant_map")
                || t.name.ends_with(".SCB")
                || t.name.ends_with(".nested_absmax")
                || t.name.ends_with(".nested_quant_map")
            {
                return 0;
            }
            if q.bits == Some(4) && t.dtype() == Some(DType::U8) {
                return numel.saturating_mul(2);
            }
            numel
        }
        _ => numel,
    }
}
