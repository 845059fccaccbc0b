//! What the encoder-decoder template (`python/templates/seq2seq/`)
//! implements, checked from the inspection before a package is written:
//! t5 (relative position buckets, T5 LayerNorm, plain or gated
//! feed-forward, tied or untied head) and bart (learned positions offset by
//! 2, post-norm, embedding LayerNorm and scale, final logits bias).
//! Anything else is named in the refusal.

use serde_json::Value;

use crate::scaffold::SEQ2SEQ_TYPES;

/// The ladder names the package's capture writes (shared with the oracle).
pub const LADDER: &str = "`inputs.input_ids`, `inputs.attention_mask`, `inputs.decoder_input_ids`, `encoder.embeddings`, `encoder.layers.0` ... `encoder.layers.N-1`, `encoder.last_hidden_state`, `decoder.embeddings`, `decoder.layers.0` ... `decoder.layers.M-1`, `decoder.final_norm` (t5), `logits`, `generated.ids`, `cache_decode.logits`, `full_decode.logits`";

/// Activations the template computes exactly as transformers' `ACT2FN`.
const ACTIVATIONS: &[&str] = &["relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "silu", "swish"];

pub fn family_text(model_type: &str) -> &'static str {
    match model_type {
        "t5" => "encoder-decoder: relative position buckets, T5 LayerNorm, cross-attention, cached greedy decoding",
        _ => "encoder-decoder: learned positions, post-norm, cross-attention, cached greedy decoding",
    }
}

/// Push every unsupported item of an encoder-decoder config into `why`,
/// and what the package will implement into `features`.
pub fn check(cfg: &Value, model_type: &str, insp: &Value, why: &mut Vec<String>, features: &mut Vec<String>) {
    if !SEQ2SEQ_TYPES.contains(&model_type) {
        why.push(format!("model_type '{model_type}' (encoder-decoder template: {})", SEQ2SEQ_TYPES.join(", ")));
        return;
    }
    let head_file = insp["tensors"]["tying"]["lm_head_missing"].as_bool() == Some(false);
    match model_type {
        "t5" => {
            let proj = cfg["feed_forward_proj"].as_str().unwrap_or("relu");
            let parts: Vec<&str> = proj.split('-').collect();
            let gated = parts[0] == "gated";
            let act = *parts.last().unwrap_or(&"");
            if parts.len() > 2 || (parts.len() == 2 && !gated) || !ACTIVATIONS.contains(&act) {
                why.push(format!("feed_forward_proj '{proj}' ('ACT' or 'gated-ACT', ACT one of {})", ACTIVATIONS.join(", ")));
            }
            let buckets = cfg["relative_attention_num_buckets"].as_u64().unwrap_or(32);
            let dist = cfg["relative_attention_max_distance"].as_u64().unwrap_or(128);
            if buckets < 4 {
                why.push(format!("relative_attention_num_buckets {buckets} (at least 4)"));
            }
            features.push(format!("relative-position-buckets:{buckets}/{dist}"));
            features.push(format!("ff:{proj}"));
            let scale = cfg["scale_decoder_outputs"].as_bool().unwrap_or(cfg["tie_word_embeddings"].as_bool() != Some(false));
            features.push(if head_file { "untied-head".into() } else { "tied-head".into() });
            if scale {
                features.push("decoder-output-rescale".into());
            }
        }
        _ => {
            let act = cfg["activation_function"].as_str().unwrap_or("gelu");
            if !ACTIVATIONS.contains(&act) {
                why.push(format!("activation_function '{act}' (one of {})", ACTIVATIONS.join(", ")));
            }
            for key in ["normalize_before", "add_final_layer_norm", "add_bias_logits"] {
                if cfg[key].as_bool() == Some(true) {
                    why.push(format!("{key} = true (bart layout: post-norm, no final LayerNorm, no logits bias layer)"));
                }
            }
            let (eh, dh) = (cfg["encoder_attention_heads"].as_u64(), cfg["decoder_attention_heads"].as_u64());
            if eh != dh {
                why.push(format!(
                    "encoder_attention_heads {} != decoder_attention_heads {}",
                    eh.map(|v| v.to_string()).unwrap_or("-".into()),
                    dh.map(|v| v.to_string()).unwrap_or("-".into())
                ));
            }
            features.push("learned-positions:offset-2".into());
            features.push("post-norm".into());
            features.push("layernorm-embedding".into());
            if cfg["scale_embedding"].as_bool() == Some(true) {
                features.push("scale-embedding".into());
            }
            features.push("final-logits-bias".into());
            features.push(if head_file { "untied-head".into() } else { "tied-head".into() });
        }
    }
    if cfg["decoder_start_token_id"].is_null() && cfg["pad_token_id"].is_null() {
        why.push("no decoder_start_token_id (nor pad_token_id): greedy decoding cannot start".into());
    }
    features.push("cross-attention".into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(cfg: Value, mt: &str) -> (Vec<String>, Vec<String>) {
        let (mut why, mut f) = (Vec::new(), Vec::new());
        check(&cfg, mt, &json!({}), &mut why, &mut f);
        (why, f)
    }

    #[test]
    fn refusals_name_the_feature() {
        assert!(run(json!({"feed_forward_proj": "gated-tanh", "decoder_start_token_id": 0}), "t5").0[0].contains("feed_forward_proj 'gated-tanh'"));
        assert!(run(json!({"activation_function": "quick_gelu", "decoder_start_token_id": 2}), "bart").0[0].contains("activation_function 'quick_gelu'"));
        assert!(run(json!({"normalize_before": true, "decoder_start_token_id": 2}), "bart").0[0].contains("normalize_before"));
        assert!(run(json!({}), "mbart").0[0].contains("model_type 'mbart'"));
        assert!(run(json!({"feed_forward_proj": "relu"}), "t5").0[0].contains("decoder_start_token_id"));
    }

    #[test]
    fn features() {
        let (why, f) = run(json!({"feed_forward_proj": "gated-gelu", "tie_word_embeddings": false, "decoder_start_token_id": 0}), "t5");
        assert!(why.is_empty(), "{why:?}");
        assert!(f.contains(&"ff:gated-gelu".to_string()) && !f.contains(&"decoder-output-rescale".to_string()));
        let (_, f) = run(json!({"decoder_start_token_id": 0}), "t5");
        assert!(f.contains(&"decoder-output-rescale".to_string()));
    }
}
