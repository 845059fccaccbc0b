//! `scaffold`: render an MLX Python package for a model from its inspection.
//!
//! The templates (`python/templates/`) are plain Python with `{{NAME}}`
//! placeholders; rendering is literal substitution, and a placeholder left
//! unfilled is an error. Everything the package cannot implement is found
//! from the inspection before any file is written ([`plan`]), and the
//! package is written to a temporary directory and renamed into place.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::manifest::hex;
use crate::scripts::{COMMON_TEMPLATES, DECODER_TEMPLATES, ENCODER_TEMPLATES};

pub const SCHEMA: &str = "mlxport.scaffold/v1";

/// Dense-decoder model types the decoder template implements.
pub const DECODER_TYPES: &[&str] = &["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo2", "starcoder2"];
/// Feed-forward activations the decoder template implements.
const DECODER_ACTS: &[&str] = &["silu", "swish", "gelu", "gelu_pytorch_tanh", "gelu_new"];
/// Encoder model types the encoder template implements.
pub const ENCODER_TYPES: &[&str] = &["bert", "roberta", "xlm-roberta", "camembert"];
const ROPE_TYPES: &[&str] = &["default", "linear", "dynamic", "llama3", "yarn"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Decoder,
    Encoder,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Decoder => "decoder",
            Family::Encoder => "encoder",
        }
    }
}

/// The package to write: every file rendered, nothing on disk yet.
#[derive(Debug)]
pub struct Plan {
    pub package: String,
    pub family: Family,
    pub model_type: String,
    pub features: Vec<String>,
    pub files: Vec<(String, String)>,
}

/// Everything the inspection says the templates cannot do, as one error
/// naming each unsupported item.
#[derive(Debug)]
pub struct Unsupported(pub Vec<String>);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot scaffold this model; unsupported: {}", self.0.join("; "))
    }
}

impl std::error::Error for Unsupported {}

/// The model's config.json as the inspection recorded it (empty for a GGUF).
fn model_config(insp: &Value) -> Value {
    insp["configs"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["path"] == "config.json"))
        .map(|c| c["value"].clone())
        .unwrap_or(Value::Null)
}

/// The family and what the package implements, or every reason it cannot.
pub fn plan(insp: &Value, package: &str, tool: &str) -> Result<Plan> {
    if insp["schema"] != mlxport_intake::inspect::SCHEMA {
        bail!("not an inspection report (schema {}, expected {})", insp["schema"], mlxport_intake::inspect::SCHEMA);
    }
    if !is_identifier(package) {
        bail!("package name '{package}' is not a Python identifier (letters, digits, underscores; not starting with a digit)");
    }
    let mut why: Vec<String> = Vec::new();
    for b in insp["blockers"].as_array().into_iter().flatten() {
        let code = b["code"].as_str().or(b["id"].as_str()).unwrap_or("blocker");
        let msg = b["message"].as_str().unwrap_or("");
        why.push(format!("inspection blocker {code}: {msg}"));
    }
    let cfg = model_config(insp);
    let routing_family = insp["routing"]["family"].as_str().unwrap_or("unknown");
    let family = match routing_family {
        "dense-decoder" => Some(Family::Decoder),
        "encoder" => Some(Family::Encoder),
        other => {
            why.push(format!("family '{other}' (scaffold implements dense-decoder and encoder)"));
            None
        }
    };
    let mut model_type = insp["facts"]["model_type"].as_str().or(cfg["model_type"].as_str()).map(str::to_string);
    if model_type.is_none() {
        // A GGUF names its architecture in the routing evidence.
        let known: Vec<&str> = DECODER_TYPES.iter().chain(ENCODER_TYPES).copied().collect();
        model_type = insp["routing"]["evidence"].as_array().into_iter().flatten().filter_map(|e| e["value"].as_str()).find(|v| known.contains(v)).map(str::to_string);
    }
    let model_type = model_type.unwrap_or_else(|| "unknown".into());
    let mut features = Vec::new();
    if let Some(n) = insp["facts"]["num_experts"].as_u64() {
        if n > 0 {
            why.push(format!("mixture of experts ({n} experts)"));
        }
    }
    if cfg.get("quantization_config").is_some() {
        why.push("quantized weights (quantization_config): the first port takes float weights".into());
    }
    match family {
        Some(Family::Decoder) => {
            if !DECODER_TYPES.contains(&model_type.as_str()) {
                why.push(format!("model_type '{model_type}' (decoder template: {})", DECODER_TYPES.join(", ")));
            }
            // gemma2 reads `hidden_activation`, every other type `hidden_act`.
            let act = if model_type == "gemma2" { cfg["hidden_activation"].as_str().or(cfg["hidden_act"].as_str()) } else { cfg["hidden_act"].as_str() };
            if let Some(act) = act {
                if !DECODER_ACTS.contains(&act) {
                    why.push(format!("hidden_act '{act}' (supported: {})", DECODER_ACTS.join(", ")));
                }
            }
            decoder_variants(&model_type, &cfg, &mut features, &mut why);
            let params = &cfg["rope_parameters"];
            let scaling = if params.is_object() { params } else { &cfg["rope_scaling"] };
            let rope = scaling["rope_type"].as_str().or(scaling["type"].as_str()).unwrap_or("default");
            if !ROPE_TYPES.contains(&rope) {
                why.push(format!("RoPE scaling '{rope}' (supported: {})", ROPE_TYPES.join(", ")));
            }
            features.push(format!("rope:{rope}"));
            if let Some(f) = cfg["partial_rotary_factor"].as_f64().or(params["partial_rotary_factor"].as_f64()) {
                if f != 1.0 {
                    why.push(format!("partial_rotary_factor {f}"));
                }
            }
            if cfg["use_sliding_window"].as_bool() == Some(true) {
                why.push("sliding-window attention (use_sliding_window = true, qwen2-style max_window_layers)".into());
            }
            let kv = insp["facts"]["num_key_value_heads"].as_u64();
            let heads = insp["facts"]["num_attention_heads"].as_u64();
            if let (Some(kv), Some(h)) = (kv, heads) {
                if kv != h {
                    features.push(format!("gqa:{h}/{kv}"));
                }
            }
            if model_type == "qwen3" {
                features.push("qk-norm".into());
            }
            if model_type == "olmo2" {
                features.push("qk-norm:full-projection".into());
            }
            if insp["tensors"]["tying"]["tied"].as_bool() == Some(true) {
                features.push("tied-head".into());
            }
        }
        Some(Family::Encoder) => {
            if !ENCODER_TYPES.contains(&model_type.as_str()) {
                why.push(format!("model_type '{model_type}' (encoder template: {})", ENCODER_TYPES.join(", ")));
            }
            if let Some(p) = cfg["position_embedding_type"].as_str() {
                if p != "absolute" {
                    why.push(format!("position_embedding_type '{p}' (absolute only)"));
                }
            }
            if let Some(act) = cfg["hidden_act"].as_str() {
                if !["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"].contains(&act) {
                    why.push(format!("hidden_act '{act}'"));
                }
            }
            if cfg["is_decoder"].as_bool() == Some(true) || cfg["add_cross_attention"].as_bool() == Some(true) {
                why.push("BERT used as a decoder / cross-attention".into());
            }
            let st = insp["routing"]["traits"].as_array().is_some_and(|t| t.iter().any(|x| x == "sentence_embedding"));
            if st {
                features.push("sentence-embedding".into());
            }
        }
        None => {}
    }
    if !why.is_empty() {
        return Err(Unsupported(why).into());
    }
    let family = family.expect("checked");
    let fingerprint = insp["model"]["fingerprint"].as_str().unwrap_or("");
    let source = insp["model"]["name"].as_str().unwrap_or("model");
    let (pooling, normalize) = sentence_pooling(insp);
    let ladder = match family {
        Family::Decoder => "`inputs.input_ids`, `inputs.attention_mask`, `embeddings`, `layers.0` ... `layers.N-1`, `final_norm`, `logits`, `generated.ids`, `cache_decode.logits`, `full_decode.logits`",
        Family::Encoder => "`inputs.input_ids`, `inputs.attention_mask`, `inputs.token_type_ids`, `embeddings`, `layers.0` ... `layers.N-1`, `last_hidden_state`, `pooler_output`, `pooled`, `sentence_embedding`",
    };
    let (family_templates, family_text, atol, cosine) = match family {
        Family::Decoder => (DECODER_TEMPLATES, "dense decoder: GQA, RoPE, explicit KV cache", "1e-3", "0.9999"),
        Family::Encoder => (ENCODER_TEMPLATES, "encoder: absolute positions, token types, post-norm, pooling", "1e-4", "0.99999"),
    };
    let table: String = family_templates.iter().chain(COMMON_TEMPLATES).map(|(p, _)| format!("| `{p}` | {} |", describe(p))).collect::<Vec<_>>().join("\n");
    let vars: Vec<(&str, String)> = vec![
        ("PACKAGE", package.to_string()),
        ("MODEL_TYPE", model_type.clone()),
        ("TOOL", tool.to_string()),
        ("SOURCE", source.to_string()),
        ("FINGERPRINT_SHORT", fingerprint.chars().take(16).collect()),
        ("FAMILY_TEXT", family_text.to_string()),
        ("ROPE_TRADITIONAL", "False".into()),
        ("POOLING", pooling.into()),
        ("NORMALIZE", if normalize { "True" } else { "False" }.into()),
        ("ATOL", atol.into()),
        ("COSINE", cosine.into()),
        ("FILE_TABLE", table),
        ("LADDER_NAMES", ladder.into()),
    ];
    let mut files = Vec::new();
    for (path, tpl) in family_templates.iter().chain(COMMON_TEMPLATES) {
        files.push((path.to_string(), render(tpl, &vars).with_context(|| format!("template {path}"))?));
    }
    let stamp = serde_json::json!({
        "schema": SCHEMA,
        "tool": tool,
        "package": package,
        "family": family.name(),
        "model_type": model_type,
        "features": features,
        "source": {"name": source, "fingerprint": fingerprint},
        "files": files.iter().map(|(p, t)| serde_json::json!({"path": p, "sha256": hex(&Sha256::digest(t.as_bytes()))})).collect::<Vec<_>>(),
    });
    files.push(("mlxport_scaffold.json".into(), serde_json::to_string_pretty(&stamp)? + "\n"));
    Ok(Plan { package: package.to_string(), family, model_type, features, files })
}

/// The decoder variants beyond llama's block a model type uses (features),
/// and the settings of those types the template does not implement (why).
fn decoder_variants(model_type: &str, cfg: &Value, features: &mut Vec<String>, why: &mut Vec<String>) {
    let num = |k: &str| cfg[k].as_f64().filter(|_| !cfg[k].is_null());
    match model_type {
        "gemma" => features.extend(["embedding-scale:sqrt(hidden)", "rmsnorm:(1+w)"].map(String::from)),
        "gemma2" => {
            features.extend(["embedding-scale:sqrt(hidden)", "rmsnorm:(1+w)", "sandwich-norms"].map(String::from));
            if let Some(c) = num("attn_logit_softcapping") {
                features.push(format!("attn-softcap:{c}"));
            }
            if let Some(c) = num("final_logit_softcapping") {
                features.push(format!("final-softcap:{c}"));
            }
            if let Some(q) = num("query_pre_attn_scalar") {
                features.push(format!("query-pre-attn-scalar:{q}"));
            }
        }
        "olmo2" => features.push("post-norms".into()),
        "starcoder2" => features.extend(["layernorm", "plain-mlp"].map(String::from)),
        "phi3" => features.push("fused-qkv-gate-up:split-by-map".into()),
        _ => {}
    }
    if model_type.starts_with("gemma") && cfg["use_bidirectional_attention"].as_bool() == Some(true) {
        why.push("bidirectional attention (use_bidirectional_attention = true)".into());
    }
    let window = cfg["sliding_window"].as_u64().filter(|_| cfg["use_sliding_window"].as_bool() != Some(false) && model_type != "llama");
    if let Some(w) = window {
        let types: Vec<&str> = cfg["layer_types"].as_array().map(|a| a.iter().map(|t| t.as_str().unwrap_or("?")).collect()).unwrap_or_default();
        if let Some(bad) = types.iter().find(|t| !["full_attention", "sliding_attention"].contains(t)) {
            why.push(format!("layer type '{bad}' (supported: full_attention, sliding_attention)"));
        }
        let sliding = if types.is_empty() { cfg["num_hidden_layers"].as_u64().unwrap_or(0) as usize } else { types.iter().filter(|t| **t == "sliding_attention").count() };
        features.push(format!("sliding-window:{w} ({sliding} of {} blocks)", cfg["num_hidden_layers"]));
    }
    for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
        if model_type != "gemma2" && num(key).is_some() {
            why.push(format!("{key} on model_type '{model_type}' (soft-capping is implemented for gemma2)"));
        }
    }
}

fn sentence_pooling(insp: &Value) -> (&'static str, bool) {
    let mut pooling = "mean";
    let mut normalize = false;
    for c in insp["configs"].as_array().into_iter().flatten() {
        let v = &c["value"];
        if v["pooling_mode_cls_token"].as_bool() == Some(true) {
            pooling = "cls";
        }
        if let Some(mods) = v.as_array() {
            if mods.iter().any(|m| m["type"].as_str().is_some_and(|t| t.ends_with("Normalize"))) {
                normalize = true;
            }
        }
    }
    (pooling, normalize)
}

fn describe(path: &str) -> &'static str {
    match path {
        "__init__.py" => "the package's public names",
        "config.py" => "`ModelArgs`: every configuration value the model uses, read from config.json",
        "rope.py" => "rotary embeddings (default, linear, dynamic, llama3, yarn) on `mx.fast.rope`",
        "cache.py" => "the explicit KV cache, one per block",
        "model.py" => "the model, with capture points at every ladder boundary",
        "load.py" => "strict loading of converted weights",
        "convert.py" => "a minimal Hugging Face -> package conversion (`mlxport convert` is the full one)",
        "generate.py" => "greedy generation with the cache, and full recomputation",
        "capture.py" => "the tensors the parity ladder compares, under the oracle's names",
        "README.md" => "this file",
        "tests/__init__.py" => "test package",
        "tests/test_parity.py" => "parity against an oracle capture with numpy alone",
        _ => "",
    }
}

/// Literal `{{NAME}}` substitution; an unknown or unfilled name is an error.
pub fn render(tpl: &str, vars: &[(&str, String)]) -> Result<String> {
    let mut out = String::with_capacity(tpl.len() + 256);
    let mut rest = tpl;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { bail!("unclosed placeholder") };
        let name = &after[..j];
        match vars.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => out.push_str(v),
            None => bail!("unknown placeholder {{{{{name}}}}}"),
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Write the package to `out` (which must not exist, or be an empty
/// directory), through a temporary directory renamed into place.
pub fn write(plan: &Plan, out: &Path) -> Result<()> {
    if out.exists() {
        let empty = out.is_dir() && std::fs::read_dir(out)?.next().is_none();
        if !empty {
            bail!("{} exists; refusing to overwrite", out.display());
        }
        std::fs::remove_dir(out)?;
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new().prefix(".scaffold-").tempdir_in(parent)?;
    for (rel, text) in &plan.files {
        let p = tmp.path().join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out).with_context(|| format!("cannot move the package into {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_and_refuses_unknown() {
        let v = vec![("A", "1".to_string())];
        assert_eq!(render("x{{A}}y{{A}}", &v).unwrap(), "x1y1");
        assert!(render("{{B}}", &v).is_err());
        assert!(render("{{A", &v).is_err());
    }

    #[test]
    fn templates_have_only_known_placeholders() {
        let names = ["PACKAGE", "MODEL_TYPE", "TOOL", "SOURCE", "FINGERPRINT_SHORT", "FAMILY_TEXT", "ROPE_TRADITIONAL", "POOLING", "NORMALIZE", "ATOL", "COSINE", "FILE_TABLE", "LADDER_NAMES"];
        let vars: Vec<(&str, String)> = names.iter().map(|n| (*n, String::new())).collect();
        for (p, t) in DECODER_TEMPLATES.iter().chain(ENCODER_TEMPLATES).chain(COMMON_TEMPLATES) {
            render(t, &vars).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    fn decoder_insp(cfg: Value) -> Value {
        serde_json::json!({
            "schema": mlxport_intake::inspect::SCHEMA,
            "routing": {"family": "dense-decoder"},
            "facts": {"model_type": cfg["model_type"]},
            "configs": [{"path": "config.json", "value": cfg}],
        })
    }

    fn refusal(cfg: Value) -> String {
        plan(&decoder_insp(cfg), "pkg", "t").unwrap_err().to_string()
    }

    #[test]
    fn decoder_variants_are_planned_with_their_features() {
        let cfg = serde_json::json!({"model_type": "gemma2", "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 8, "num_hidden_layers": 4,
            "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
            "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "query_pre_attn_scalar": 24});
        let p = plan(&decoder_insp(cfg), "pkg", "t").unwrap();
        for f in ["sandwich-norms", "attn-softcap:50", "final-softcap:30", "query-pre-attn-scalar:24", "sliding-window:8 (2 of 4 blocks)", "rmsnorm:(1+w)"] {
            assert!(p.features.iter().any(|x| x == f), "{f} in {:?}", p.features);
        }
        for mt in ["gemma", "phi3", "olmo2", "starcoder2", "mistral"] {
            assert!(plan(&decoder_insp(serde_json::json!({"model_type": mt, "sliding_window": 8})), "pkg", "t").is_ok(), "{mt}");
        }
    }

    #[test]
    fn unsupported_decoder_features_fail_closed_by_name() {
        let cases = [
            (serde_json::json!({"model_type": "llama", "attn_logit_softcapping": 50.0}), "attn_logit_softcapping"),
            (serde_json::json!({"model_type": "gemma", "use_bidirectional_attention": true}), "bidirectional attention"),
            (serde_json::json!({"model_type": "gemma2", "sliding_window": 4, "layer_types": ["chunked_attention"]}), "layer type 'chunked_attention'"),
            (serde_json::json!({"model_type": "starcoder2", "hidden_act": "relu2"}), "hidden_act 'relu2'"),
            (serde_json::json!({"model_type": "phi3", "rope_scaling": {"type": "longrope"}}), "RoPE scaling 'longrope'"),
            (serde_json::json!({"model_type": "phi3", "partial_rotary_factor": 0.5}), "partial_rotary_factor"),
            (serde_json::json!({"model_type": "qwen2", "use_sliding_window": true, "sliding_window": 8}), "use_sliding_window"),
            (serde_json::json!({"model_type": "gemma3_text"}), "model_type 'gemma3_text'"),
        ];
        for (cfg, needle) in cases {
            let msg = refusal(cfg.clone());
            assert!(msg.contains(needle), "{cfg}: {msg}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("minilm_mlx"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }
}
