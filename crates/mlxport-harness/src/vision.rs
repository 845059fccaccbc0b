//! What the image-model template (`python/templates/vision/`) implements,
//! checked from the inspection before a package is written: ViT (CLS token,
//! learned positions for the configured size, optional pooler and
//! classifier) and DINOv2 (layer scale, optional SwiGLU, register tokens,
//! positions resampled bicubically to the image's grid, CLS + mean-patch
//! classifier). Other image architectures are refused naming what they
//! need.

use serde_json::Value;

/// Image model types the vision template implements.
pub const VISION_TYPES: &[&str] = mlxport_contract::vision::PORTABLE;

/// Activations the template computes as transformers' `ACT2FN` does.
const ACTIVATIONS: &[&str] = &["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "relu", "silu", "swish"];

/// The ladder names the package's capture writes (shared with the oracle).
pub const LADDER: &str = "`pixel_values`, `embeddings`, `layers.0` ... `layers.N-1`, `last_hidden_state` (after the final norm), `pooler_output`, `logits`; \
two-tower models (CLIP, SigLIP): `pixel_values`, `inputs.input_ids`, `vision.embeddings`, `vision.layers.N`, `vision.pooler_output`, `image_embeds`, \
`text.embeddings`, `text.layers.N`, `text.last_hidden_state`, `text.pooler_output`, `text_embeds`, `logits_per_image`";

pub fn family_text(model_type: &str) -> &'static str {
    match model_type {
        "vit" => "image model: ViT (patches, CLS token, learned positions, pre-norm blocks, classifier over CLS)",
        "deit" => "image model: DeiT (ViT blocks, CLS and distillation tokens, the two heads averaged)",
        "resnet" => "image model: ResNet (convolutional stem and residual stages with batch normalisation; no attention)",
        "convnext" | "convnextv2" => "image model: ConvNeXt (depthwise convolutions, channels-last LayerNorm, stages with downsampling; no attention)",
        "clip" => "image-text model: CLIP (image and causal text towers, projections, logit scale)",
        "siglip" => "image-text model: SigLIP (image tower with attention pooling, text tower, logit scale and bias)",
        _ => "image model: DINOv2 (layer scale, bicubic position resampling, registers, CLS + mean-patch classifier)",
    }
}

/// The README's runnable example.
pub fn usage(package: &str) -> String {
    format!(
        "from {package} import ImageProcessor, load, load_image\n\nmodel, args = load(\"<converted weights directory>\")\n\
processor = ImageProcessor.from_dir(\"<converted weights directory>\")  # preprocessor_config.json\n\
# Image files -> pixel_values [B, 3, H, W], exactly as transformers' processor.\n\
out = model(mx.array(processor([load_image(\"photo.jpg\")])))\n\
out[\"logits\"]  # or out[\"last_hidden_state\"], out[\"pooler_output\"]"
    )
}

/// Push every unsupported item of an image model's config into `why`, and
/// what the package will implement into `features`.
pub fn check(cfg: &Value, model_type: &str, why: &mut Vec<String>, features: &mut Vec<String>) {
    if let Some(missing) = mlxport_contract::vision::missing_feature(model_type) {
        why.push(missing);
        return;
    }
    if model_type == "clip" || model_type == "siglip" {
        return dual_checks(cfg, model_type, why, features);
    }
    if model_type == "convnext" || model_type == "convnextv2" || model_type == "resnet" {
        return convnext_checks(cfg, model_type, why, features);
    }
    for a in cfg["architectures"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if a.contains("MaskedImageModeling") || a.ends_with("Backbone") {
            why.push(format!("the {a} head (the template has image classification and the bare model)"));
        }
    }
    let act = cfg["hidden_act"].as_str().unwrap_or("gelu");
    if !ACTIVATIONS.contains(&act) {
        why.push(format!("hidden_act '{act}' (supported: {})", ACTIVATIONS.join(", ")));
    }
    if !cfg["patch_size"].is_null() && !cfg["patch_size"].is_u64() {
        why.push(format!("patch_size {} (one square patch side)", cfg["patch_size"]));
    }
    let (hidden, heads) = (cfg["hidden_size"].as_u64(), cfg["num_attention_heads"].as_u64());
    match (hidden, heads) {
        (Some(h), Some(n)) if n > 0 && h % n == 0 => {}
        _ => why
            .push(format!("hidden_size {} and num_attention_heads {}: the heads must split the width evenly", cfg["hidden_size"], cfg["num_attention_heads"])),
    }
    if model_type == "vit" || model_type == "deit" {
        let pooler_act = cfg["pooler_act"].as_str().unwrap_or("tanh");
        if pooler_act != "tanh" && !ACTIVATIONS.contains(&pooler_act) {
            why.push(format!("pooler_act '{pooler_act}'"));
        }
        features.push("positions:fixed-size".into());
    } else {
        features.push("layer-scale".into());
        features.push("positions:bicubic-resampled".into());
        if cfg["use_swiglu_ffn"].as_bool() == Some(true) {
            features.push("swiglu".into());
        }
        if let Some(n) = cfg["num_register_tokens"].as_u64().filter(|n| *n > 0 && model_type == "dinov2_with_registers") {
            features.push(format!("registers:{n}"));
        }
    }
    if cfg["architectures"].to_string().contains("ForImageClassification") {
        features.push("classifier".into());
    }
}

/// CLIP and SigLIP: both towers' settings (transformers' defaults where
/// the config leaves one out) and the two-tower head.
fn dual_checks(cfg: &Value, model_type: &str, why: &mut Vec<String>, features: &mut Vec<String>) {
    let head = if model_type == "clip" { "CLIPModel" } else { "SiglipModel" };
    for a in cfg["architectures"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if a != head {
            why.push(format!("the {a} head (the template has the two-tower {head})"));
        }
    }
    let default_act = if model_type == "clip" { "quick_gelu" } else { "gelu_pytorch_tanh" };
    for side in ["text_config", "vision_config"] {
        let t = &cfg[side];
        let act = t["hidden_act"].as_str().unwrap_or(default_act);
        if !ACTIVATIONS.contains(&act) {
            why.push(format!("{side}.hidden_act '{act}' (supported: {})", ACTIVATIONS.join(", ")));
        }
        if let (Some(h), Some(n)) = (t["hidden_size"].as_u64(), t["num_attention_heads"].as_u64()) {
            if n == 0 || h % n != 0 {
                why.push(format!("{side}: hidden_size {h} does not split into {n} heads"));
            }
        }
    }
    let v = &cfg["vision_config"];
    for key in ["image_size", "patch_size"] {
        if !v[key].is_null() && !v[key].is_u64() {
            why.push(format!("vision_config.{key} {} (one square side)", v[key]));
        }
    }
    features.push("two-towers".into());
    if model_type == "clip" {
        features.push("causal-text".into());
        features.push("eos-pooling".into());
    } else {
        features.push("last-token-pooling".into());
        if v["vision_use_head"].as_bool() != Some(false) {
            features.push("attention-pooling-head".into());
        }
        features.push("logit-bias".into());
    }
}

/// ConvNeXt (V1: layer scale; V2: global response normalisation) and
/// ResNet: stage channels and depths must agree, one square patch, a known
/// activation, a known residual layer.
fn convnext_checks(cfg: &Value, model_type: &str, why: &mut Vec<String>, features: &mut Vec<String>) {
    for a in cfg["architectures"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if a.ends_with("Backbone") {
            why.push(format!("the {a} head (feature maps of chosen stages; the template has image classification and the bare model)"));
        }
    }
    let act = cfg["hidden_act"].as_str().unwrap_or("gelu");
    if !ACTIVATIONS.contains(&act) {
        why.push(format!("hidden_act '{act}' (supported: {})", ACTIVATIONS.join(", ")));
    }
    if !cfg["patch_size"].is_null() && !cfg["patch_size"].is_u64() {
        why.push(format!("patch_size {} (one square patch side)", cfg["patch_size"]));
    }
    let (sizes, depths) = (cfg["hidden_sizes"].as_array().map(Vec::len), cfg["depths"].as_array().map(Vec::len));
    let stages = cfg["num_stages"].as_u64().map(|n| n as usize);
    if let (Some(s), Some(d)) = (sizes, depths) {
        if s != d || stages.is_some_and(|n| n != s) {
            why.push(format!("hidden_sizes ({s}), depths ({d}) and num_stages ({}) must agree", cfg["num_stages"]));
        }
    }
    if model_type == "resnet" {
        let kind = cfg["layer_type"].as_str().unwrap_or("bottleneck");
        if kind != "bottleneck" && kind != "basic" {
            why.push(format!("layer_type '{kind}' (bottleneck or basic residual layers)"));
        }
        features.push(format!("residual:{kind}"));
        features.push("batch-norm".into());
    } else {
        features.push("depthwise-convolutions".into());
        features.push(if model_type == "convnextv2" { "global-response-norm".into() } else { "layer-scale".into() });
    }
    if cfg["architectures"].to_string().contains("ForImageClassification") {
        features.push("classifier".into());
    }
}
