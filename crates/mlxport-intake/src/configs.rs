//! Configuration files: which ones a model carries, parsed strictly
//! (malformed or duplicate-key JSON is reported, never dropped), with real
//! credentials redacted — and never a `*_token_id` or `bos_token`.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::json::parse_strict;
use crate::walk::Entry;

/// Largest config file parsed (bigger ones are reported, not read).
pub const MAX_CONFIG_BYTES: u64 = 32 << 20;

/// What a config file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    Model,
    Generation,
    Tokenizer,
    SpecialTokens,
    Processor,
    Preprocessor,
    FeatureExtractor,
    DiffusersIndex,
    Adapter,
    SentenceTransformers,
    Quantization,
    ChatTemplate,
}

/// Classify a file (by its path relative to the model root) as a config.
pub fn config_kind(rel: &str) -> Option<ConfigKind> {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    Some(match name {
        "config.json" => ConfigKind::Model,
        "generation_config.json" => ConfigKind::Generation,
        "tokenizer_config.json" => ConfigKind::Tokenizer,
        "special_tokens_map.json" => ConfigKind::SpecialTokens,
        "processor_config.json" => ConfigKind::Processor,
        "preprocessor_config.json" | "video_preprocessor_config.json" => ConfigKind::Preprocessor,
        "feature_extractor_config.json" => ConfigKind::FeatureExtractor,
        "model_index.json" => ConfigKind::DiffusersIndex,
        "adapter_config.json" => ConfigKind::Adapter,
        "modules.json" | "sentence_bert_config.json" | "config_sentence_transformers.json" => ConfigKind::SentenceTransformers,
        "quantize_config.json" | "quant_config.json" | "quantization_config.json" | "hqq_config.json" => ConfigKind::Quantization,
        "chat_template.json" => ConfigKind::ChatTemplate,
        _ => return None,
    })
}

/// One parsed (or unparseable) config file.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigFile {
    pub path: String,
    pub kind: ConfigKind,
    /// The parsed value with credentials redacted (absent when invalid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Why the file could not be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// JSON pointers of values that were redacted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
}

/// Keys whose string values are credentials.
const CREDENTIAL_KEYS: &[&str] = &[
    "token",
    "hf_token",
    "use_auth_token",
    "auth_token",
    "access_token",
    "api_key",
    "apikey",
    "api_token",
    "password",
    "passwd",
    "secret",
    "secret_key",
    "client_secret",
    "private_key",
    "aws_secret_access_key",
    "aws_access_key_id",
    "authorization",
];

fn credential_value_patterns() -> &'static [Regex] {
    static P: std::sync::OnceLock<Vec<Regex>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        [
            r"\bhf_[A-Za-z0-9]{30,}\b",
            r"\bsk-[A-Za-z0-9_-]{20,}\b",
            r"\bAKIA[0-9A-Z]{16}\b",
            r"\bghp_[A-Za-z0-9]{30,}\b",
            r"\bgithub_pat_[A-Za-z0-9_]{30,}\b",
            r"\bxox[baprs]-[A-Za-z0-9-]{10,}\b",
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        ]
        .iter()
        .map(|p| Regex::new(p).expect("valid pattern"))
        .collect()
    })
}

/// Whether a key names a credential (exact, case-insensitive). Token ids
/// and special-token strings (`bos_token`, `pad_token_id`) are not.
pub fn is_credential_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    CREDENTIAL_KEYS.contains(&k.as_str())
}

/// Whether a string value looks like a real credential.
pub fn looks_like_credential(s: &str) -> bool {
    credential_value_patterns().iter().any(|r| r.is_match(s))
}

/// Redact credentials in place; returns the JSON pointers redacted.
pub fn redact(v: &mut Value) -> Vec<String> {
    let mut out = Vec::new();
    redact_at(v, String::new(), &mut out);
    out
}

fn redact_at(v: &mut Value, ptr: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let p = format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1"));
                if is_credential_key(k) && matches!(child, Value::String(s) if !s.is_empty()) {
                    *child = Value::String("[redacted]".into());
                    out.push(p);
                } else {
                    redact_at(child, p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter_mut().enumerate() {
                redact_at(child, format!("{ptr}/{i}"), out);
            }
        }
        Value::String(s) if looks_like_credential(s) => {
            *s = "[redacted]".into();
            out.push(ptr);
        }
        _ => {}
    }
}

/// Read and parse every config file of an inventory.
pub fn read_configs(entries: &[Entry]) -> Vec<ConfigFile> {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.is_readable_file()) {
        let Some(kind) = config_kind(&e.path) else { continue };
        let mut cf = ConfigFile { path: e.path.clone(), kind, value: None, error: None, redacted: Vec::new() };
        if e.size > MAX_CONFIG_BYTES {
            cf.error = Some(format!("{} bytes is larger than the {} MiB a config may be; not read", e.size, MAX_CONFIG_BYTES >> 20));
        } else {
            match std::fs::read(&e.real) {
                Err(err) => cf.error = Some(format!("cannot read: {err}")),
                Ok(bytes) => match parse_strict(&bytes) {
                    Err(err) => cf.error = Some(format!("invalid JSON: {err}")),
                    Ok(mut v) => {
                        cf.redacted = redact(&mut v);
                        cf.value = Some(v);
                    }
                },
            }
        }
        out.push(cf);
    }
    out
}

/// The facts of a model config that later steps use.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelFacts {
    pub model_type: Option<String>,
    pub architectures: Vec<String>,
    /// model_type of a nested text config (`text_config`), if any.
    pub text_model_type: Option<String>,
    pub torch_dtype: Option<String>,
    pub tie_word_embeddings: Option<bool>,
    pub num_hidden_layers: Option<u64>,
    pub hidden_size: Option<u64>,
    pub num_attention_heads: Option<u64>,
    pub num_key_value_heads: Option<u64>,
    pub head_dim: Option<u64>,
    pub vocab_size: Option<u64>,
    pub max_position_embeddings: Option<u64>,
    pub sliding_window: Option<u64>,
    pub num_experts: Option<u64>,
    pub num_experts_per_tok: Option<u64>,
    pub is_encoder_decoder: Option<bool>,
    /// Every key path present (`a`, `a.b`), for routing signals.
    #[serde(skip)]
    pub key_paths: Vec<String>,
}

fn get_u64(v: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| v.get(k).and_then(Value::as_u64))
}

/// Extract facts from a parsed `config.json` (looking into `text_config`
/// for multimodal models).
pub fn model_facts(v: &Value) -> ModelFacts {
    let text = v.get("text_config").filter(|t| t.is_object());
    let pick = |keys: &[&str]| get_u64(v, keys).or_else(|| text.and_then(|t| get_u64(t, keys)));
    let mut key_paths = Vec::new();
    collect_keys(v, "", 0, &mut key_paths);
    ModelFacts {
        model_type: v.get("model_type").and_then(Value::as_str).map(str::to_string),
        architectures: v
            .get("architectures")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        text_model_type: text.and_then(|t| t.get("model_type")).and_then(Value::as_str).map(str::to_string),
        torch_dtype: v.get("torch_dtype").or_else(|| v.get("dtype")).and_then(Value::as_str).map(str::to_string),
        tie_word_embeddings: v.get("tie_word_embeddings").or_else(|| text.and_then(|t| t.get("tie_word_embeddings"))).and_then(Value::as_bool),
        num_hidden_layers: pick(&["num_hidden_layers", "n_layer", "num_layers", "n_layers"]),
        hidden_size: pick(&["hidden_size", "n_embd", "d_model", "dim"]),
        num_attention_heads: pick(&["num_attention_heads", "n_head", "num_heads", "n_heads"]),
        num_key_value_heads: pick(&["num_key_value_heads", "num_kv_heads", "n_kv_heads", "multi_query_group_num"]),
        head_dim: pick(&["head_dim"]),
        vocab_size: pick(&["vocab_size", "n_vocab"]),
        max_position_embeddings: pick(&["max_position_embeddings", "n_positions", "max_seq_len", "seq_length"]),
        sliding_window: pick(&["sliding_window"]),
        num_experts: pick(&["num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"]),
        num_experts_per_tok: pick(&["num_experts_per_tok", "moe_top_k", "top_k"]),
        is_encoder_decoder: v.get("is_encoder_decoder").and_then(Value::as_bool),
        key_paths,
    }
}

fn collect_keys(v: &Value, prefix: &str, depth: usize, out: &mut Vec<String>) {
    if depth > 3 || out.len() > 10_000 {
        return;
    }
    if let Value::Object(m) = v {
        for (k, child) in m {
            let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            out.push(p.clone());
            collect_keys(child, &p, depth + 1, out);
        }
    }
}

/// The first parsed config of a kind at the model's top level (or, failing
/// that, anywhere).
pub fn top_level(configs: &[ConfigFile], kind: ConfigKind) -> Option<&ConfigFile> {
    let mut of_kind = configs.iter().filter(|c| c.kind == kind && c.value.is_some());
    let all: Vec<&ConfigFile> = of_kind.by_ref().collect();
    all.iter().find(|c| !c.path.contains('/')).or_else(|| all.first()).copied()
}

/// Diffusers pipeline components from `model_index.json`: component name to
/// (library, class).
pub fn diffusers_components(v: &Value) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    if let Some(m) = v.as_object() {
        for (k, c) in m {
            if let Some([lib, class]) = c.as_array().map(|a| a.as_slice()) {
                if let (Some(lib), Some(class)) = (lib.as_str(), class.as_str()) {
                    out.insert(k.clone(), (lib.to_string(), class.to_string()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_credentials_not_token_ids() {
        let mut v = json!({
            "bos_token": "<s>", "eos_token_id": 2, "pad_token": "<pad>", "token": "hf_abcdefghijklmnopqrstuvwxyz0123456789",
            "nested": {"api_key": "k-123", "note": "sk-ABCDEFGHIJKLMNOPQRSTUVWX"},
            "use_auth_token": true, "added_tokens": [{"content": "<|endoftext|>"}]
        });
        let r = redact(&mut v);
        assert_eq!(v["bos_token"], "<s>");
        assert_eq!(v["eos_token_id"], 2);
        assert_eq!(v["pad_token"], "<pad>");
        assert_eq!(v["use_auth_token"], true);
        assert_eq!(v["token"], "[redacted]");
        assert_eq!(v["nested"]["api_key"], "[redacted]");
        assert_eq!(v["nested"]["note"], "[redacted]");
        let mut r = r;
        r.sort();
        assert_eq!(r, ["/nested/api_key", "/nested/note", "/token"]);
    }

    #[test]
    fn facts_from_nested_text_config() {
        let v = json!({"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"],
            "text_config": {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "num_key_value_heads": 8},
            "vision_config": {"model_type": "clip_vision_model"}});
        let f = model_facts(&v);
        assert_eq!(f.model_type.as_deref(), Some("llava"));
        assert_eq!(f.text_model_type.as_deref(), Some("llama"));
        assert_eq!((f.num_hidden_layers, f.hidden_size, f.num_key_value_heads), (Some(32), Some(4096), Some(8)));
        assert!(f.key_paths.contains(&"vision_config.model_type".to_string()));
    }
}
