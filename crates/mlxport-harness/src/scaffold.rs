//! `scaffold`: render an MLX Python package for a model from its inspection.
//!
//! The templates (`python/templates/`) are plain Python with `{{NAME}}`
//! placeholders; rendering is literal substitution, and a placeholder left
//! unfilled is an error. Everything the package cannot implement is found
//! from the inspection before any file is written ([`plan`]), and the
//! package is written to a temporary directory and renamed into place.

use std::path::Path;

use crate::error::{Error, Result};
use serde_json::Value;

#[cfg(test)]
use crate::scripts::VLM_TEMPLATES;
use crate::scripts::{COMMON_TEMPLATES, DECODER_TEMPLATES, ENCODER_TEMPLATES, MOE_TEMPLATES, SEQ2SEQ_TEMPLATES, VISION_TEMPLATES};

pub const SCHEMA: &str = "mlxport.scaffold/v1";

/// Dense-decoder model types the decoder template implements.
pub const DECODER_TYPES: &[&str] = &["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo2", "starcoder2"];
/// Feed-forward activations the decoder template implements.
const DECODER_ACTS: &[&str] = &["silu", "swish", "gelu", "gelu_pytorch_tanh", "gelu_new"];
/// Mixture-of-experts decoder types the decoder template implements (with
/// `moe.py`: top-k routing, sparse expert dispatch, shared experts).
pub const MOE_TYPES: &[&str] = &["mixtral", "qwen2_moe", "qwen3_moe"];
/// Encoder model types the encoder template implements.
pub const ENCODER_TYPES: &[&str] = &["bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra", "modernbert"];
/// Encoder types the template does not implement, with the feature that
/// keeps them out (named in the refusal).
const ENCODER_REFUSED: &[(&str, &str)] = &[
    ("deberta", "disentangled attention (content-to-position and position-to-content scores over relative position embeddings)"),
    ("deberta-v2", "disentangled attention (content-to-position and position-to-content scores over relative position embeddings)"),
    ("mpnet", "relative position bias (bucketed, shared across blocks)"),
    ("albert", "cross-layer parameter sharing (one block group reused for every layer)"),
];
/// Encoder-decoder model types the encoder-decoder template implements.
pub const SEQ2SEQ_TYPES: &[&str] = &["t5", "bart"];
const ROPE_TYPES: &[&str] = &["default", "linear", "dynamic", "llama3", "yarn"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Decoder,
    Encoder,
    EncoderDecoder,
    /// Image models (classifiers and feature extractors).
    Vision,
    /// Vision-language models (an image tower feeding a decoder).
    VisionLanguage,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Decoder => "decoder",
            Family::Encoder => "encoder",
            Family::EncoderDecoder => "encoder-decoder",
            Family::Vision => "vision",
            Family::VisionLanguage => "vision-language",
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
    insp["configs"].as_array().and_then(|cs| cs.iter().find(|c| c["path"] == "config.json")).map(|c| c["value"].clone()).unwrap_or(Value::Null)
}

/// The family and what the package implements, or every reason it cannot.
pub fn plan(insp: &Value, package: &str, tool: &str) -> Result<Plan> {
    if insp["schema"] != mlxport_intake::inspect::SCHEMA {
        return Err(Error::invalid(format!("not an inspection report (schema {}, expected {})", insp["schema"], mlxport_intake::inspect::SCHEMA)));
    }
    if !is_identifier(package) {
        return Err(Error::invalid(format!("package name '{package}' is not a Python identifier (letters, digits, underscores; not starting with a digit)")));
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
        "dense-decoder" | "moe-decoder" => Some(Family::Decoder),
        "encoder" => Some(Family::Encoder),
        "encoder-decoder" => Some(Family::EncoderDecoder),
        "vision" => Some(Family::Vision),
        "vision-language" => Some(Family::VisionLanguage),
        other => {
            why.push(format!("family '{other}' (scaffold implements dense-decoder, moe-decoder, encoder, encoder-decoder, vision and vision-language)"));
            None
        }
    };
    let mut model_type = insp["facts"]["model_type"].as_str().or(cfg["model_type"].as_str()).map(str::to_string);
    if model_type.is_none() {
        // A GGUF names its architecture in the routing evidence.
        let known: Vec<&str> = DECODER_TYPES.iter().chain(MOE_TYPES).chain(ENCODER_TYPES).chain(SEQ2SEQ_TYPES).copied().collect();
        model_type =
            insp["routing"]["evidence"].as_array().into_iter().flatten().filter_map(|e| e["value"].as_str()).find(|v| known.contains(v)).map(str::to_string);
    }
    let model_type = model_type.unwrap_or_else(|| "unknown".into());
    let mut features = Vec::new();
    let experts = insp["facts"]["num_experts"].as_u64().filter(|n| *n > 0);
    let moe = experts.is_some() || routing_family == "moe-decoder";
    if moe {
        if !MOE_TYPES.contains(&model_type.as_str()) {
            why.push(format!(
                "mixture of experts ({} experts) in model_type '{model_type}' (MoE template: {})",
                experts.map_or("?".into(), |n| n.to_string()),
                MOE_TYPES.join(", ")
            ));
        }
        moe_checks(&cfg, &model_type, &mut why, &mut features);
    }
    if cfg.get("quantization_config").is_some() {
        why.push("quantized weights (quantization_config): the first port takes float weights".into());
    }
    why.extend(architecture_refusals(&model_type, &cfg));
    match family {
        Some(Family::Decoder) => {
            let tied = insp["tensors"]["tying"]["tied"].as_bool() == Some(true);
            let (kv, heads) = (insp["facts"]["num_key_value_heads"].as_u64(), insp["facts"]["num_attention_heads"].as_u64());
            decoder_checks(&cfg, &model_type, kv, heads, tied, &mut why, &mut features);
        }
        Some(Family::Encoder) => {
            if let Some((_, feature)) = ENCODER_REFUSED.iter().find(|(t, _)| *t == model_type) {
                why.push(format!("{feature} of model_type '{model_type}'"));
            } else if !ENCODER_TYPES.contains(&model_type.as_str()) {
                why.push(format!("model_type '{model_type}' (encoder template: {})", ENCODER_TYPES.join(", ")));
            }
            if let Some(p) = cfg["position_embedding_type"].as_str() {
                if p != "absolute" {
                    why.push(format!("position_embedding_type '{p}' (absolute only)"));
                }
            }
            for key in ["hidden_act", "activation", "hidden_activation"] {
                if let Some(act) = cfg[key].as_str() {
                    if !["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"].contains(&act) {
                        why.push(format!("{key} '{act}'"));
                    }
                }
            }
            encoder_features(&model_type, &cfg, &mut features, &mut why);
            if cfg["is_decoder"].as_bool() == Some(true) || cfg["add_cross_attention"].as_bool() == Some(true) {
                why.push("BERT used as a decoder / cross-attention".into());
            }
            let st = insp["routing"]["traits"].as_array().is_some_and(|t| t.iter().any(|x| x == "sentence_embedding"));
            if st {
                features.push("sentence-embedding".into());
            }
        }
        Some(Family::EncoderDecoder) => crate::seq2seq::check(&cfg, &model_type, insp, &mut why, &mut features),
        Some(Family::Vision) => crate::vision::check(&cfg, &model_type, &mut why, &mut features),
        Some(Family::VisionLanguage) => crate::vlm::check(&cfg, &model_type, &mut why, &mut features),
        None => {}
    }
    if !why.is_empty() {
        return Err(Error::Unsupported(Unsupported(why)));
    }
    let family = family.expect("checked");
    let fingerprint = insp["model"]["fingerprint"].as_str().unwrap_or("");
    let source = insp["model"]["name"].as_str().unwrap_or("model");
    let (pooling, normalize) = sentence_pooling(insp);
    let ladder = match family {
        Family::Decoder => "`inputs.input_ids`, `inputs.attention_mask`, `embeddings`, `layers.0` ... `layers.N-1`, `final_norm`, `logits`, `generated.ids`, `cache_decode.logits`, `full_decode.logits`",
        Family::Encoder => "`inputs.input_ids`, `inputs.attention_mask`, `inputs.token_type_ids`, `embeddings`, `layers.0` ... `layers.N-1`, `last_hidden_state`, `pooler_output`, `pooled`, `sentence_embedding`",
        Family::EncoderDecoder => crate::seq2seq::LADDER,
        Family::Vision => crate::vision::LADDER,
        Family::VisionLanguage => crate::vlm::LADDER,
    };
    let (family_templates, family_text, atol, cosine) = match family {
        Family::Decoder if moe => {
            (DECODER_TEMPLATES, "mixture-of-experts decoder: top-k routing with sparse expert dispatch, GQA, RoPE, explicit KV cache", "1e-3", "0.9999")
        }
        Family::Decoder => (DECODER_TEMPLATES, "dense decoder: GQA, RoPE, explicit KV cache", "1e-3", "0.9999"),
        Family::Encoder => (ENCODER_TEMPLATES, "encoder: BERT-style, DistilBERT or ModernBERT blocks, pooling", "1e-4", "0.99999"),
        Family::EncoderDecoder => (SEQ2SEQ_TEMPLATES, crate::seq2seq::family_text(&model_type), "1e-4", "0.9999"),
        Family::Vision => (VISION_TEMPLATES, crate::vision::family_text(&model_type), "1e-4", "0.9999"),
        Family::VisionLanguage => (&[][..], crate::vlm::FAMILY_TEXT, "1e-3", "0.9999"),
    };
    // A runnable call of the family's entry point, for the README.
    let usage = match family {
        Family::Decoder => format!(
            "from {package} import load, greedy\n\nmodel, args = load(\"<converted weights directory>\")\n\
# Greedy continuation with the KV cache; a long prompt is prefilled\n# 512 tokens per call (memory bounded by the chunk).\n\
new, step_logits = greedy(model, prompt_ids, 24, prefill_chunk=512)"
        ),
        Family::Encoder => format!(
            "import mlx.core as mx\nfrom {package} import load\n\nmodel, args = load(\"<converted weights directory>\")\n\
# One sentence's token ids -> its embedding [1, hidden] (the source's pooling).\n\
embedding = model.sentence_embedding(mx.array([input_ids]))"
        ),
        Family::EncoderDecoder => format!(
            "from {package} import load, greedy\n\nmodel, args = load(\"<converted weights directory>\")\n\
# The encoder reads input_ids; the decoder generates greedily with its cache.\n\
new, step_logits = greedy(model, input_ids, 32)"
        ),
        Family::Vision => crate::vision::usage(package),
        Family::VisionLanguage => crate::vlm::usage(package),
    };
    // What makes it fast, where the family has serving switches.
    let serving = match family {
        Family::Decoder => format!(
            "## Serving\n\n\
`options.py` holds the serving switches; `Options()` is the first port as\n\
the parity ladder proved it, and every call takes `options=`:\n\n\
```python\n\
from {package} import Options, batch_greedy, greedy, load, speculative_greedy, stream\n\n\
fast = Options(cache=\"step\", pipeline=True, fuse=True, rope_tables=True, prefill_chunk=512)\n\
for token in stream(model, prompt_ids, 64, options=fast):  # the serving loop\n\
    ...\n\
rows = batch_greedy(model, [ids_a, ids_b], 32, options=fast)  # left-padded batch\n\
draft, _ = load(\"<a 4-bit quantization of the same weights>\")\n\
tokens, stats = speculative_greedy(model, draft, prompt_ids, 64, draft_tokens=2, options=fast)\n\
```\n\n\
Exact switches (same greedy tokens as the first port): `cache=\"step\"`\n\
(buffers grown in steps, written in place), `rotating=True` (sliding-window\n\
blocks keep only their window), `compile=True`, `fuse=True` (one matrix\n\
product for queries, keys and values, one for gate and up),\n\
`rope_tables=True` (rotary tables once per pass, not per block),\n\
`pipeline=True` (asynchronous decoding), `prefill_chunk=N`; batches and\n\
speculative decoding\n\
give every row the tokens it gets alone. Lossy: `kv_bits=4|8` (a quantized\n\
KV cache, mlx-lm's layout), to be judged by `mlxport quality`.\n\
`tests/test_serving.py` proves each against the first port:\n\n\
```sh\n\
MLXPORT_WEIGHTS=CONVERTED python -m unittest {package}.tests.test_serving\n\
```\n\n\
`serving.json` beside `options.py`, when present, holds the defaults that\n\
a call without `options=` uses (`mlxport optimize` writes it with the\n\
switches it measured and kept).\n"
        ),
        Family::Encoder => format!(
            "## Serving\n\n\
`serving.py` embeds many sentences at once; `Options()` is the first port\n\
(one sentence per call, fused attention):\n\n\
```python\n\
from {package}.serving import Options, embed\n\n\
vectors = embed(model, [ids_a, ids_b, ids_c], Options(batch_size=32, bucket=True))\n\
```\n\n\
Batches are right-padded with an attention mask (the embeddings equal the\n\
unbatched ones up to rounding); `bucket=True` sorts by length first (less\n\
padding); `attention=\"explicit\"` replaces `mx.fast.scaled_dot_product_attention`\n\
with matrix products. `mlxport bench encoder` measures sentences/s by batch\n\
size; `serving.json` beside `serving.py`, when present (written by\n\
`mlxport optimize`), holds the defaults a call without options uses.\n"
        ),
        Family::EncoderDecoder | Family::Vision | Family::VisionLanguage => String::new(),
    };
    let extra_templates: &[(&str, &str)] = if moe { MOE_TEMPLATES } else { &[] };
    // Every file of the package: a vision-language package holds the
    // decoder and the image tower as subpackages.
    let sources: Vec<(String, &str)> = if family == Family::VisionLanguage {
        crate::vlm::templates().into_iter().chain(COMMON_TEMPLATES.iter().map(|(p, t)| (p.to_string(), *t))).collect()
    } else {
        family_templates.iter().chain(extra_templates).chain(COMMON_TEMPLATES).map(|(p, t)| (p.to_string(), *t)).collect()
    };
    let table: String = sources
        .iter()
        .filter(|(p, _)| !p.contains('/') || p.starts_with("tests/"))
        .map(|(p, _)| format!("| `{p}` | {} |", describe(p)))
        .chain((family == Family::VisionLanguage).then(|| {
            "| `language/` | the decoder (the decoder template: model, KV caches, rotary embeddings, serving options, generation) |\n\
| `vision/` | the image tower and the image processor (the vision template) |"
                .to_string()
        }))
        .collect::<Vec<_>>()
        .join("\n");
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
        ("USAGE", usage),
        ("SERVING", serving),
    ];
    let mut files = Vec::new();
    for (path, tpl) in &sources {
        files.push((path.clone(), render(tpl, &vars).map_err(|e| Error::invalid_because(format!("template {path}"), e))?));
    }
    let stamp = serde_json::json!({
        "schema": SCHEMA,
        "tool": tool,
        "package": package,
        "family": family.name(),
        "model_type": model_type,
        "features": features,
        "source": {"name": source, "fingerprint": fingerprint},
        "files": files.iter().map(|(p, t)| serde_json::json!({"path": p, "sha256": mlxport_util::hash::sha256_hex(t.as_bytes())})).collect::<Vec<_>>(),
    });
    files.push((
        "mlxport_scaffold.json".into(),
        serde_json::to_string_pretty(&stamp).map_err(|e| Error::invalid_because("the scaffold stamp does not serialize as JSON", e))? + "\n",
    ));
    Ok(Plan { package: package.to_string(), family, model_type, features, files })
}

/// The decoder template's checks on a decoder's config (a VLM's
/// `text_config` too): model type, activation, variants, RoPE, attention.
/// `kv` and `heads` are the key-value and attention head counts, `tied`
/// whether the head shares the embeddings.
pub(crate) fn decoder_checks(
    cfg: &Value,
    model_type: &str,
    kv: Option<u64>,
    heads: Option<u64>,
    tied: bool,
    why: &mut Vec<String>,
    features: &mut Vec<String>,
) {
    if !DECODER_TYPES.contains(&model_type) && !MOE_TYPES.contains(&model_type) {
        why.push(format!("model_type '{model_type}' (decoder template: {}; with experts: {})", DECODER_TYPES.join(", "), MOE_TYPES.join(", ")));
    }
    // gemma2 reads `hidden_activation`, every other type `hidden_act`.
    let act = if model_type == "gemma2" { cfg["hidden_activation"].as_str().or(cfg["hidden_act"].as_str()) } else { cfg["hidden_act"].as_str() };
    if let Some(act) = act {
        if !DECODER_ACTS.contains(&act) {
            why.push(format!("hidden_act '{act}' (supported: {})", DECODER_ACTS.join(", ")));
        }
    }
    decoder_variants(model_type, cfg, features, why);
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
    if let (Some(kv), Some(h)) = (kv, heads) {
        if kv != h {
            features.push(format!("gqa:{h}/{kv}"));
        }
    }
    if model_type == "qwen3" || model_type == "qwen3_moe" {
        features.push("qk-norm".into());
    }
    if model_type == "olmo2" {
        features.push("qk-norm:full-projection".into());
    }
    if tied {
        features.push("tied-head".into());
    }
}

/// Architecture features no template implements, named from the config
/// whatever the model type: each is a refusal of its own, so the message
/// says what is missing rather than only that the model type is unknown.
pub fn architecture_refusals(model_type: &str, cfg: &Value) -> Vec<String> {
    let mut why = Vec::new();
    let on = |v: &Value| v.as_bool() == Some(true);
    if model_type == "bloom" || on(&cfg["alibi"]) || on(&cfg["attn_config"]["alibi"]) || cfg["position_embedding_type"] == "alibi" {
        why.push("ALiBi attention biases (positions as linear biases on the attention scores; the templates implement rotary and absolute positions)".into());
    }
    for key in ["use_parallel_residual", "parallel_attn", "parallel_residual"] {
        if on(&cfg[key]) {
            why.push(format!("parallel residual ({key} = true: attention and MLP read the same input; the templates are sequential)"));
            break;
        }
    }
    if let Some(p) = cfg["rotary_pct"].as_f64().filter(|p| *p != 1.0) {
        why.push(format!("partial rotary embeddings (rotary_pct {p})"));
    }
    why
}

/// The mixture-of-experts settings `moe.py` implements (softmax top-k
/// routing, optional renormalization, Qwen2-MoE's gated shared expert,
/// dense layers by `mlp_only_layers` / `decoder_sparse_step`), and a named
/// refusal for every routing scheme it does not.
fn moe_checks(cfg: &Value, model_type: &str, why: &mut Vec<String>, features: &mut Vec<String>) {
    let num = |k: &str| cfg[k].as_u64();
    let experts = num("num_local_experts").or(num("num_experts")).or(num("n_routed_experts"));
    let top_k = num("num_experts_per_tok");
    match (experts, top_k) {
        (Some(e), Some(k)) if k >= 1 && k <= e => features.push(format!("moe:{e}/top-{k}")),
        (e, k) => why.push(format!(
            "expert count / top-k (num_experts {}, num_experts_per_tok {}): need 1 <= top-k <= experts",
            e.map_or("missing".into(), |v| v.to_string()),
            k.map_or("missing".into(), |v| v.to_string())
        )),
    }
    let routing = ["router_type", "routing_type", "moe_routing", "router"].iter().find_map(|k| cfg[*k].as_str());
    if routing.is_some_and(|r| r.contains("expert_choice") || r.contains("expert-choice")) || cfg["expert_choice"].as_bool() == Some(true) {
        why.push("expert-choice routing (experts pick tokens; the template routes tokens to their top-k experts)".into());
    }
    if num("n_group").is_some_and(|g| g > 1) || num("topk_group").is_some() || matches!(cfg["topk_method"].as_str(), Some("group_limited_greedy" | "noaux_tc"))
    {
        why.push(format!(
            "grouped top-k routing (n_group {}, topk_group {}, topk_method {}: DeepSeek-style expert groups)",
            cfg["n_group"], cfg["topk_group"], cfg["topk_method"]
        ));
    }
    for k in ["expert_capacity", "capacity_factor", "train_capacity", "eval_capacity", "moe_capacity_factor"] {
        if !cfg[k].is_null() {
            why.push(format!("capacity-factor token dropping ({k} = {}): the template never drops tokens", cfg[k]));
            break;
        }
    }
    if let Some(f) = cfg["scoring_func"].as_str() {
        if f != "softmax" {
            why.push(format!("router scoring_func '{f}' (softmax only)"));
        }
    }
    if cfg["routed_scaling_factor"].as_f64().is_some_and(|f| f != 1.0) {
        why.push(format!("routed_scaling_factor {}", cfg["routed_scaling_factor"]));
    }
    if num("n_shared_experts").is_some_and(|n| n > 0) {
        why.push(format!("ungated shared experts (n_shared_experts = {})", cfg["n_shared_experts"]));
    }
    if num("first_k_dense_replace").is_some_and(|n| n > 0) {
        why.push(format!("leading dense layers (first_k_dense_replace = {})", cfg["first_k_dense_replace"]));
    }
    if cfg["router_bias"].as_bool() == Some(true) || cfg["moe_router_bias"].as_bool() == Some(true) {
        why.push("router bias".into());
    }
    if model_type == "mixtral" {
        features.push("topk-renorm".into());
        if let Some(w) = num("sliding_window") {
            why.push(format!("sliding-window attention (sliding_window = {w})"));
        }
    } else if cfg["norm_topk_prob"].as_bool() == Some(true) {
        features.push("topk-renorm".into());
    }
    if num("shared_expert_intermediate_size").is_some_and(|n| n > 0) {
        features.push("shared-expert".into());
    }
    if num("decoder_sparse_step").is_some_and(|n| n == 0) {
        why.push("decoder_sparse_step = 0".into());
    }
    let dense_layers = cfg["mlp_only_layers"].as_array().is_some_and(|a| !a.is_empty()) || num("decoder_sparse_step").is_some_and(|n| n > 1);
    if dense_layers {
        features.push("dense-layers".into());
    }
    features.push("sparse-dispatch".into());
}

/// What a DistilBERT, ELECTRA or ModernBERT config switches on, and what
/// of it the template cannot do.
fn encoder_features(model_type: &str, cfg: &Value, features: &mut Vec<String>, why: &mut Vec<String>) {
    match model_type {
        "distilbert" => {
            let sinusoidal = cfg["sinusoidal_pos_embds"].as_bool() == Some(true);
            features.push(if sinusoidal { "positions:sinusoidal" } else { "positions:learned" }.into());
        }
        "electra" => {
            let (e, h) = (cfg["embedding_size"].as_u64(), cfg["hidden_size"].as_u64());
            if let (Some(e), Some(h)) = (e, h) {
                if e != h {
                    features.push(format!("embedding-projection:{e}->{h}"));
                }
            }
        }
        "modernbert" => {
            let params = &cfg["rope_parameters"];
            for kind in ["full_attention", "sliding_attention"] {
                let p = &params[kind];
                let rope = p["rope_type"].as_str().or(p["type"].as_str()).unwrap_or("default");
                if rope != "default" {
                    why.push(format!("RoPE scaling '{rope}' on {kind} layers (modernbert: default only)"));
                }
            }
            if cfg["rope_scaling"].is_object() {
                why.push("RoPE scaling (rope_scaling) on modernbert (default only)".into());
            }
            let window = cfg["local_attention"].as_u64().unwrap_or(128);
            let kinds: Vec<&str> = cfg["layer_types"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            if let Some(bad) = kinds.iter().find(|k| !["full_attention", "sliding_attention"].contains(k)) {
                why.push(format!("layer type '{bad}' (modernbert: full_attention, sliding_attention)"));
            }
            let local = if kinds.is_empty() { cfg["num_hidden_layers"].as_u64().unwrap_or(0) > 1 } else { kinds.contains(&"sliding_attention") };
            features.push("rope:default".into());
            if local {
                features.push(format!("local-attention:{window}"));
            }
            features.push("geglu".into());
            features.push("pre-norm".into());
        }
        _ => {}
    }
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
        let sliding = if types.is_empty() {
            cfg["num_hidden_layers"].as_u64().unwrap_or(0) as usize
        } else {
            types.iter().filter(|t| **t == "sliding_attention").count()
        };
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
        "cache.py" => "the explicit KV caches, one per block (decoder: concatenating, step-allocated, rotating for sliding windows, quantized; encoder-decoder: self-attention grows per token, cross-attention computed once)",
        "options.py" => "the serving switches (cache kind, quantized KV, compile, pipelined decoding, chunked prefill) and the defaults `serving.json` keeps",
        "model.py" => "the model, with capture points at every ladder boundary",
        "load.py" => "strict loading of converted weights",
        "convert.py" => "a minimal Hugging Face -> package conversion (`mlxport convert` is the full one)",
        "generate.py" => "greedy generation with the cache, and full recomputation (decoder: also left-padded batches and speculative decoding; encoder-decoder: from decoder_start_token_id)",
        "capture.py" => "the tensors the parity ladder compares, under the oracle's names",
        "llava.py" => "the vision-language model: image tower states, projector, image features merged into the prompt's embeddings, decoder",
        "processor.py" => "images and a tokenized prompt -> pixel_values and the prompt with its image tokens expanded (transformers' LlavaProcessor)",
        "moe.py" => "the mixture-of-experts feed-forward: top-k routing, sparse expert dispatch with `mx.gather_mm`, shared expert",
        "quant.py" => "quantized checkpoints (mlx-lm's layout): quantize the modules the config names, or dequantize back to float",
        "serving.py" => "the serving options of sentence embedding (batch size, length bucketing, fused or explicit attention), `embed`, and the defaults `serving.json` keeps",
        "README.md" => "this file",
        "tests/__init__.py" => "test package",
        "tests/test_parity.py" => "parity against an oracle capture with numpy alone",
        "tests/test_serving.py" => "every serving switch against the first port (same greedy tokens; batches and speculative decoding as unbatched greedy)",
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
        let Some(j) = after.find("}}") else { return Err(Error::invalid("unclosed placeholder")) };
        let name = &after[..j];
        match vars.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => out.push_str(v),
            None => return Err(Error::invalid(format!("unknown placeholder {{{{{name}}}}}"))),
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
        let empty = out.is_dir() && std::fs::read_dir(out).map_err(|e| Error::io(out, format!("cannot read {}", out.display()), e))?.next().is_none();
        if !empty {
            return Err(Error::Refused(format!("{} exists; refusing to overwrite", out.display())));
        }
        std::fs::remove_dir(out).map_err(|e| Error::io(out, format!("cannot remove {}", out.display()), e))?;
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, format!("cannot create {}", parent.display()), e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".scaffold-")
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, format!("cannot create a temporary directory in {}", parent.display()), e))?;
    for (rel, text) in &plan.files {
        let p = tmp.path().join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, format!("cannot create {}", d.display()), e))?;
        }
        std::fs::write(&p, text).map_err(|e| Error::io(&p, format!("cannot write {}", p.display()), e))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out).map_err(|e| Error::io(out, format!("cannot move the package into {}", out.display()), e))?;
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
        let names = [
            "PACKAGE",
            "MODEL_TYPE",
            "TOOL",
            "SOURCE",
            "FINGERPRINT_SHORT",
            "FAMILY_TEXT",
            "ROPE_TRADITIONAL",
            "POOLING",
            "NORMALIZE",
            "ATOL",
            "COSINE",
            "FILE_TABLE",
            "LADDER_NAMES",
            "USAGE",
            "SERVING",
        ];
        let vars: Vec<(&str, String)> = names.iter().map(|n| (*n, String::new())).collect();
        for (p, t) in
            DECODER_TEMPLATES.iter().chain(MOE_TEMPLATES).chain(ENCODER_TEMPLATES).chain(SEQ2SEQ_TEMPLATES).chain(VLM_TEMPLATES).chain(COMMON_TEMPLATES)
        {
            render(t, &vars).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    fn moe_inspection(cfg: Value) -> Value {
        let n = cfg["num_experts"].as_u64().or(cfg["num_local_experts"].as_u64()).or(cfg["n_routed_experts"].as_u64());
        serde_json::json!({
            "schema": mlxport_intake::inspect::SCHEMA,
            "routing": {"family": "moe-decoder"},
            "facts": {"model_type": cfg["model_type"], "num_experts": n},
            "configs": [{"path": "config.json", "value": cfg}],
            "model": {"name": "m", "fingerprint": "f"},
        })
    }

    fn refusal(cfg: Value) -> String {
        match plan(&moe_inspection(cfg), "p", "t") {
            Ok(_) => panic!("planned an unsupported model"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn moe_types_plan_with_the_moe_file() {
        let cfg = serde_json::json!({"model_type": "qwen2_moe", "hidden_act": "silu", "num_experts": 8, "num_experts_per_tok": 4, "shared_expert_intermediate_size": 96, "norm_topk_prob": false});
        let p = plan(&moe_inspection(cfg), "p", "t").unwrap();
        assert_eq!(p.family, Family::Decoder);
        assert!(p.files.iter().any(|(f, t)| f == "moe.py" && t.contains("gather_mm")));
        for f in ["moe:8/top-4", "shared-expert", "sparse-dispatch"] {
            assert!(p.features.iter().any(|x| x == f), "{f} in {:?}", p.features);
        }
        let cfg = serde_json::json!({"model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": null});
        let p = plan(&moe_inspection(cfg), "p", "t").unwrap();
        assert!(p.features.iter().any(|x| x == "topk-renorm"));
        // A dense decoder gets no moe.py.
        let dense = serde_json::json!({"schema": mlxport_intake::inspect::SCHEMA, "routing": {"family": "dense-decoder"}, "facts": {"model_type": "llama"}, "configs": [{"path": "config.json", "value": {"model_type": "llama"}}]});
        assert!(plan(&dense, "p", "t").unwrap().files.iter().all(|(f, _)| f != "moe.py"));
    }

    #[test]
    fn unsupported_moe_features_fail_closed_by_name() {
        let base = |extra: Value| {
            let mut c = serde_json::json!({"model_type": "qwen3_moe", "num_experts": 8, "num_experts_per_tok": 2});
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            c
        };
        let cases = [
            (base(serde_json::json!({"router_type": "expert_choice"})), "expert-choice routing"),
            (base(serde_json::json!({"n_group": 8, "topk_group": 4, "topk_method": "group_limited_greedy"})), "grouped top-k routing"),
            (base(serde_json::json!({"expert_capacity": 64})), "capacity-factor token dropping"),
            (base(serde_json::json!({"scoring_func": "sigmoid"})), "router scoring_func 'sigmoid'"),
            (base(serde_json::json!({"n_shared_experts": 2})), "ungated shared experts"),
            (base(serde_json::json!({"routed_scaling_factor": 2.5})), "routed_scaling_factor"),
            (base(serde_json::json!({"num_experts_per_tok": 9})), "need 1 <= top-k <= experts"),
            (
                serde_json::json!({"model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": 4096}),
                "sliding-window attention (sliding_window = 4096)",
            ),
            (
                serde_json::json!({"model_type": "deepseek_v3", "n_routed_experts": 8, "num_experts_per_tok": 2, "n_group": 4, "topk_group": 2}),
                "mixture of experts (8 experts) in model_type 'deepseek_v3'",
            ),
        ];
        for (cfg, want) in cases {
            let msg = refusal(cfg);
            assert!(msg.contains(want), "{want} not in: {msg}");
        }
    }

    #[test]
    fn encoder_features_and_refusals() {
        let (mut f, mut why) = (Vec::new(), Vec::new());
        let cfg = serde_json::json!({"layer_types": ["full_attention", "sliding_attention"], "local_attention": 8,
            "rope_parameters": {"full_attention": {"rope_type": "yarn"}, "sliding_attention": {"rope_type": "default"}}});
        encoder_features("modernbert", &cfg, &mut f, &mut why);
        assert!(f.contains(&"local-attention:8".to_string()), "{f:?}");
        assert_eq!(why, vec!["RoPE scaling 'yarn' on full_attention layers (modernbert: default only)".to_string()]);
        let (mut f, mut why) = (Vec::new(), Vec::new());
        encoder_features("electra", &serde_json::json!({"embedding_size": 128, "hidden_size": 256}), &mut f, &mut why);
        assert_eq!((f, why.is_empty()), (vec!["embedding-projection:128->256".to_string()], true));
        assert!(ENCODER_REFUSED.iter().any(|(t, why)| *t == "deberta-v2" && why.starts_with("disentangled attention")));
    }

    #[test]
    fn architecture_refusals_name_the_feature() {
        let none = architecture_refusals("llama", &serde_json::json!({"rope_theta": 10000.0}));
        assert!(none.is_empty(), "{none:?}");
        let r = architecture_refusals("bloom", &serde_json::json!({}));
        assert!(r.len() == 1 && r[0].starts_with("ALiBi"), "{r:?}");
        let r = architecture_refusals("mpt", &serde_json::json!({"attn_config": {"alibi": true}}));
        assert!(r[0].starts_with("ALiBi"), "{r:?}");
        let r = architecture_refusals("gpt_neox", &serde_json::json!({"use_parallel_residual": true, "rotary_pct": 0.25}));
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].starts_with("parallel residual (use_parallel_residual = true"), "{r:?}");
        assert!(r[1].contains("partial rotary embeddings (rotary_pct 0.25)"), "{r:?}");
        let r = architecture_refusals("falcon", &serde_json::json!({"parallel_attn": true, "alibi": false}));
        assert!(r.len() == 1 && r[0].contains("parallel_attn"), "{r:?}");
        assert!(architecture_refusals("stablelm", &serde_json::json!({"use_parallel_residual": false})).is_empty());
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("minilm_mlx"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }

    fn decoder_insp(cfg: Value) -> Value {
        serde_json::json!({
            "schema": mlxport_intake::inspect::SCHEMA,
            "routing": {"family": "dense-decoder"},
            "facts": {"model_type": cfg["model_type"]},
            "configs": [{"path": "config.json", "value": cfg}],
        })
    }

    fn decoder_refusal(cfg: Value) -> String {
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
            let msg = decoder_refusal(cfg.clone());
            assert!(msg.contains(needle), "{cfg}: {msg}");
        }
    }
}
