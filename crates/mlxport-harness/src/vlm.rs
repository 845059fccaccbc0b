//! What the vision-language template (`python/templates/vlm/`) implements,
//! checked from the inspection before a package is written: LLaVA — a CLIP
//! or SigLIP image tower (the vision template's), the two-layer projector,
//! and a decoder the decoder template implements, with the image tokens
//! expanded in the prompt and decoded with the image in the KV cache.
//! Everything else is refused naming what it needs.

use serde_json::Value;

use crate::scripts::{DECODER_TEMPLATES, VISION_TEMPLATES, VLM_TEMPLATES};

/// The ladder names the package's capture writes (shared with the oracle).
pub const LADDER: &str = "`pixel_values`, `inputs.input_ids` (image tokens expanded), `inputs.attention_mask`, `vision.embeddings`, \
`vision.layers.N` (the image tower's blocks the features need), `image_features` (the projector's output), `embeddings` (the decoder's input, \
image features merged in), `layers.0` ... `layers.N-1`, `final_norm`, `logits`, `generated.ids`, `cache_decode.logits`, `full_decode.logits`";

pub const FAMILY_TEXT: &str =
    "vision-language model: LLaVA (CLIP or SigLIP image tower, two-layer projector, decoder with explicit KV cache; image tokens expanded in the prompt)";

/// Image towers the template runs (`vision_config.model_type`).
const TOWERS: &[&str] = &["clip_vision_model", "siglip_vision_model"];
/// Activations of the image tower and the projector.
const ACTIVATIONS: &[&str] = &["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "relu", "silu", "swish"];
/// Decoder types whose transformers embedding is a plain table: the image
/// features are merged into its output as LLaVA merges them.
const TEXT_TYPES: &[&str] = &["llama", "mistral", "qwen2", "qwen3", "phi3", "olmo2", "starcoder2"];
/// Keys a text_config must give (the template has no per-type defaults).
const TEXT_KEYS: &[&str] = &["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"];

/// The README's runnable example.
pub fn usage(package: &str) -> String {
    format!(
        "import mlx.core as mx\nfrom {package} import Processor, greedy, load, load_image\n\n\
model, settings = load(\"<converted weights directory>\")\n\
processor = Processor.from_dir(\"<converted weights directory>\", settings)\n\
# prompt_ids: the tokenized prompt with one image token per image.\n\
pixel_values, ids = processor([load_image(\"photo.jpg\")], prompt_ids)\n\
new, step_logits = greedy(model, ids, mx.array(pixel_values), 32)"
    )
}

/// The package's files: the template's own at the top, the decoder under
/// `language/` and the image tower under `vision/` (their own capture
/// hooks, conversion and serving tests left out), each with a `quant.py`
/// that is the package's.
pub fn templates() -> Vec<(String, &'static str)> {
    const SHIM: &str = "\"\"\"The package's quantized-checkpoint helpers (`../quant.py`).\"\"\"\n\nfrom ..quant import cast, dequantize, is_quantized, quantize_like  # noqa: F401\n";
    let mut out: Vec<(String, &'static str)> = VLM_TEMPLATES.iter().map(|(p, t)| (p.to_string(), *t)).collect();
    let skip = ["capture.py", "convert.py", "tests/test_serving.py"];
    for (dir, set) in [("language", DECODER_TEMPLATES), ("vision", VISION_TEMPLATES)] {
        out.extend(set.iter().filter(|(p, _)| !skip.contains(p)).map(|(p, t)| (format!("{dir}/{p}"), *t)));
        out.push((format!("{dir}/quant.py"), SHIM));
    }
    out
}

fn act_ok(act: &str) -> bool {
    ACTIVATIONS.contains(&act)
}

/// Push every unsupported item of a vision-language config into `why`,
/// and what the package implements into `features`.
pub fn check(cfg: &Value, model_type: &str, why: &mut Vec<String>, features: &mut Vec<String>) {
    if let Some(missing) = mlxport_contract::vlm::missing_feature(model_type) {
        why.push(missing);
        return;
    }
    for a in cfg["architectures"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if a != "LlavaForConditionalGeneration" {
            why.push(format!("the {a} head (the template has LlavaForConditionalGeneration)"));
        }
    }
    // The decoder.
    let t = &cfg["text_config"];
    let text_type = t["model_type"].as_str().unwrap_or("llama");
    if !TEXT_TYPES.contains(&text_type) {
        why.push(format!("text_config.model_type '{text_type}' (LLaVA's decoder: {})", TEXT_TYPES.join(", ")));
    } else {
        let missing: Vec<&str> = TEXT_KEYS.iter().copied().filter(|k| t[*k].is_null()).collect();
        if !missing.is_empty() {
            why.push(format!("text_config without {} (transformers' per-type defaults are not implemented: give them in config.json)", missing.join(", ")));
        }
        let mut text_why = Vec::new();
        let tied = t["tie_word_embeddings"].as_bool().or(cfg["tie_word_embeddings"].as_bool()) == Some(true);
        let heads = t["num_attention_heads"].as_u64();
        let kv = t["num_key_value_heads"].as_u64().or(heads);
        crate::scaffold::decoder_checks(t, text_type, kv, heads, tied, &mut text_why, features);
        why.extend(crate::scaffold::architecture_refusals(text_type, t));
        why.extend(text_why.into_iter().map(|w| format!("text_config: {w}")));
    }
    // The image tower.
    let v = &cfg["vision_config"];
    let tower = v["model_type"].as_str().unwrap_or("clip_vision_model");
    if !TOWERS.contains(&tower) {
        why.push(format!("vision_config.model_type '{tower}' (image towers: {})", TOWERS.join(", ")));
        return;
    }
    let act = v["hidden_act"].as_str().unwrap_or(if tower == "clip_vision_model" { "quick_gelu" } else { "gelu_pytorch_tanh" });
    if !act_ok(act) {
        why.push(format!("vision_config.hidden_act '{act}' (supported: {})", ACTIVATIONS.join(", ")));
    }
    for key in ["image_size", "patch_size"] {
        if !v[key].is_null() && !v[key].is_u64() {
            why.push(format!("vision_config.{key} {} (one square side)", v[key]));
        }
    }
    if let (Some(h), Some(n)) = (v["hidden_size"].as_u64(), v["num_attention_heads"].as_u64()) {
        if n == 0 || h % n != 0 {
            why.push(format!("vision_config: hidden_size {h} does not split into {n} heads"));
        }
    }
    // Which states feed the projector, and how.
    let depth = v["num_hidden_layers"].as_i64().unwrap_or(12);
    let layers: Vec<&Value> = match &cfg["vision_feature_layer"] {
        Value::Null => vec![],
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    for l in &layers {
        match l.as_i64() {
            Some(i) if -(depth + 1) <= i && i <= depth => {}
            _ => why.push(format!("vision_feature_layer {l}: not an index of the tower's {} hidden states", depth + 1)),
        }
    }
    if layers.len() > 1 {
        features.push(format!("vision-features:{} layers joined", layers.len()));
    }
    match cfg["vision_feature_select_strategy"].as_str().unwrap_or("default") {
        "default" if tower != "clip_vision_model" => {
            why.push("vision_feature_select_strategy 'default' drops a class token the SigLIP tower does not have".into());
        }
        "default" | "full" => {}
        other => why.push(format!("vision_feature_select_strategy '{other}' (default or full)")),
    }
    let pact = cfg["projector_hidden_act"].as_str().unwrap_or("gelu");
    if !act_ok(pact) {
        why.push(format!("projector_hidden_act '{pact}' (supported: {})", ACTIVATIONS.join(", ")));
    }
    if !cfg["image_grid_pinpoints"].is_null() || !cfg["image_newline"].is_null() {
        why.push("any-resolution tiling (image_grid_pinpoints / image_newline)".into());
    }
    features.push(format!("image-tower:{tower}"));
    features.push("image-tokens:expanded".into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(cfg: Value) -> (Vec<String>, Vec<String>) {
        let (mut why, mut features) = (Vec::new(), Vec::new());
        check(&cfg, cfg["model_type"].as_str().unwrap(), &mut why, &mut features);
        (why, features)
    }

    fn llava() -> Value {
        json!({"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"],
            "text_config": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512},
            "vision_config": {"model_type": "clip_vision_model", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 3, "image_size": 32, "patch_size": 8},
            "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "projector_hidden_act": "gelu"})
    }

    #[test]
    fn a_llava_is_planned_and_what_it_lacks_is_named() {
        let (why, features) = run(llava());
        assert!(why.is_empty(), "{why:?}");
        assert!(features.contains(&"gqa:4/2".to_string()) && features.contains(&"image-tower:clip_vision_model".to_string()), "{features:?}");
        let mut c = llava();
        c["vision_config"]["model_type"] = json!("siglip_vision_model");
        c["text_config"]["model_type"] = json!("gemma");
        c["vision_feature_layer"] = json!([-2, 7]);
        c["image_grid_pinpoints"] = json!([[336, 672]]);
        c["text_config"].as_object_mut().unwrap().remove("vocab_size");
        let (why, _) = run(c);
        let all = why.join(" | ");
        for part in ["text_config.model_type 'gemma'", "drops a class token", "vision_feature_layer 7", "any-resolution tiling"] {
            assert!(all.contains(part), "{part}: {all}");
        }
        let (why, _) = run(json!({"model_type": "qwen2_vl"}));
        assert!(why[0].contains("M-RoPE"), "{why:?}");
    }

    #[test]
    fn the_package_holds_the_decoder_and_the_image_tower_as_subpackages() {
        let files = templates();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        for p in ["llava.py", "capture.py", "language/model.py", "language/quant.py", "vision/clip.py", "vision/image.py", "vision/quant.py"] {
            assert!(paths.contains(&p), "{p}: {paths:?}");
        }
        assert!(!paths.contains(&"language/capture.py") && !paths.contains(&"vision/capture.py"));
    }
}
