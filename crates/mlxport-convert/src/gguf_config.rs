//! A Hugging Face `config.json` rebuilt from GGUF metadata.
//!
//! A GGUF file carries no `config.json`: its metadata is the config, under
//! llama.cpp's key names (`llama.embedding_length`, `llama.block_count`,
//! ...). [`config_from_gguf`] translates those keys into the config that
//! transformers derives when it loads the same file
//! (`AutoConfig.from_pretrained(dir, gguf_file=...)`), and that mlx-lm reads:
//!
//! - `rope_theta` is written at the top level. mlx-lm 0.32 reads it only
//!   there (default 10000); transformers 5 accepts it there too and moves it
//!   into `rope_parameters` itself.
//! - `tie_word_embeddings` is true exactly when the file has no
//!   `output.weight` tensor: llama.cpp writes the output projection only when
//!   it differs from the token embedding.
//! - `vocab_size` is `{arch}.vocab_size` when stated, else the length of
//!   `tokenizer.ggml.tokens`.
//! - `head_dim` is `{arch}.attention.key_length`, else (llama, mistral)
//!   `{arch}.rope.dimension_count`, else `hidden_size / num_attention_heads`
//!   — llama.cpp's own default. It is written for llama, mistral and qwen3
//!   even when it is the default, because Qwen3's config class defaults it
//!   to one checkpoint's value (128), which transformers' GGUF loader then
//!   keeps whatever the file says. Qwen2 and Phi-3 configs have no
//!   `head_dim`; a file whose head dimension is not `hidden / heads` is
//!   refused for them.
//! - Phi-3: `partial_rotary_factor` from `rope.dimension_count`,
//!   `original_max_position_embeddings` and `sliding_window` from the file
//!   (transformers' loader leaves its class defaults), LongRoPE factors from
//!   the `rope_factors_long/short.weight` tensors.
//! - `rope_scaling` from `{arch}.rope.scaling.type` (linear, yarn) and its
//!   factor and original context length; transformers' loader ignores
//!   these keys, mlx-lm and transformers both read the result.
//! - Floats stored as f32 are written as the shortest decimal that reads
//!   back as the same f32 (`1e-05`, not `9.999999747378752e-06`): the same
//!   value for every reader that computes in f32, and the spelling of the
//!   original checkpoint.
//! - Token ids (`bos_token_id`, `eos_token_id`, `pad_token_id`,
//!   `unk_token_id`) are written when the file states them; absent ones are
//!   left to the config class's defaults, as transformers does.
//!
//! Architectures: `llama` (and `mistral`, which llama.cpp files as `llama`;
//! transformers picks `mistral` only when `general.name` is exactly
//! `mistral`, and so do we), `qwen2`, `qwen3`, `phi3`. Anything else is
//! refused with an error that names the architecture. So are files whose
//! RoPE cannot be stated in a config: Llama-3-style frequency factors that
//! llama.cpp stores as a `rope_freqs.weight` tensor, whose
//! `low_freq_factor`/`high_freq_factor`/`original_max_position_embeddings`
//! are not recorded, and per-layer head counts that differ between layers.

use std::collections::BTreeMap;

use mlxport_tensor::gguf::{Array, GgufFile, Value as GgufValue};
use mlxport_tensor::{Error, TensorSource};
use serde_json::{Map, Value};

/// The GGUF architectures [`config_from_gguf`] translates.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "phi3"];

/// The Hugging Face family a GGUF architecture becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Phi3,
}

impl Family {
    fn model_type(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Phi3 => "phi3",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Family::Llama => "LlamaForCausalLM",
            Family::Mistral => "MistralForCausalLM",
            Family::Qwen2 => "Qwen2ForCausalLM",
            Family::Qwen3 => "Qwen3ForCausalLM",
            Family::Phi3 => "Phi3ForCausalLM",
        }
    }
}

fn family(g: &GgufFile, arch: &str) -> Result<Family, Error> {
    Ok(match arch {
        // transformers' rule, exactly: llama.cpp files Mistral models as
        // `llama`, and transformers calls one `mistral` only when its name
        // is the string "mistral". The two differ in nothing a dense
        // checkpoint uses, and mlx-lm runs `mistral` as `llama`.
        "llama" if g.get_str("general.name") == Some("mistral") => Family::Mistral,
        "llama" => Family::Llama,
        "qwen2" => Family::Qwen2,
        "qwen3" => Family::Qwen3,
        "phi3" => Family::Phi3,
        other => {
            return Err(Error::unsupported(
                g.path(),
                format!(
                    "GGUF architecture '{other}': no config translation for it \
                     (supported: {})",
                    SUPPORTED_ARCHITECTURES.join(", ")
                ),
            ))
        }
    })
}

/// The Hugging Face `config.json` for a GGUF file, as a JSON object with
/// sorted keys. See the module documentation for the rules.
pub fn config_from_gguf(g: &GgufFile) -> Result<Value, Error> {
    let arch = g.get_str("general.architecture").ok_or_else(|| missing(g, "general.architecture", "every GGUF model states it"))?;
    let fam = family(g, arch)?;
    let key = |name: &str| format!("{arch}.{name}");

    let hidden = required_u64(g, &key("embedding_length"))?;
    let layers = required_u64(g, &key("block_count"))?;
    let intermediate = required_u64(g, &key("feed_forward_length"))?;
    let heads = required_u64(g, &key("attention.head_count"))?;
    if heads == 0 {
        return Err(invalid(g, format!("'{}' is 0", key("attention.head_count"))));
    }
    let kv_heads = match g.get(&key("attention.head_count_kv")) {
        None => heads,
        Some(v) => per_layer_constant(g, &key("attention.head_count_kv"), v)?,
    };
    let eps = required_f32(g, &key("attention.layer_norm_rms_epsilon"))?;

    let mut c: BTreeMap<&'static str, Value> = BTreeMap::new();
    c.insert("model_type", fam.model_type().into());
    c.insert("architectures", Value::Array(vec![fam.class().into()]));
    c.insert("hidden_size", hidden.into());
    c.insert("intermediate_size", intermediate.into());
    c.insert("num_hidden_layers", layers.into());
    c.insert("num_attention_heads", heads.into());
    c.insert("num_key_value_heads", kv_heads.into());
    c.insert("rms_norm_eps", f32_json(g, "rms_norm_eps", eps)?);
    c.insert("hidden_act", "silu".into());
    c.insert("torch_dtype", "float32".into());
    c.insert("tie_word_embeddings", g.tensor("output.weight").is_err().into());
    if let Some(n) = optional_u64(g, &key("context_length"))? {
        c.insert("max_position_embeddings", n.into());
    }

    let head_dim = match optional_u64(g, &key("attention.key_length"))? {
        Some(d) => d,
        None => match (fam, optional_u64(g, &key("rope.dimension_count"))?) {
            (Family::Llama | Family::Mistral, Some(d)) => d,
            _ => hidden / heads,
        },
    };
    match fam {
        Family::Llama | Family::Mistral | Family::Qwen3 => {
            c.insert("head_dim", head_dim.into());
        }
        // These config classes have no head_dim: it is hidden / heads.
        Family::Qwen2 | Family::Phi3 if head_dim != hidden / heads => {
            return Err(Error::unsupported(
                g.path(),
                format!(
                    "{arch}: head dimension {head_dim} differs from hidden_size / \
                     num_attention_heads = {}, which a {} config cannot state",
                    hidden / heads,
                    fam.model_type()
                ),
            ))
        }
        Family::Qwen2 | Family::Phi3 => {}
    }

    // The RoPE base: llama.cpp's default is 10000, as is every config
    // class's, but it is written anyway: mlx-lm reads it only here.
    let theta = match g.get(&key("rope.freq_base")) {
        Some(v) => v.as_f32().ok_or_else(|| wrong_type(g, &key("rope.freq_base"), v, "a float"))?,
        None => 10000.0,
    };
    c.insert("rope_theta", f32_json(g, "rope_theta", theta)?);
    if let Some(scaling) = rope_scaling(g, arch, fam)? {
        c.insert("rope_scaling", scaling);
    }

    let rope_dims = optional_u64(g, &key("rope.dimension_count"))?;
    match fam {
        Family::Llama => {
            // Biases are not stated in the metadata; the tensors say it.
            c.insert("attention_bias", g.tensor("blk.0.attn_q.bias").is_ok().into());
            c.insert("mlp_bias", g.tensor("blk.0.ffn_up.bias").is_ok().into());
            partial_rope_unsupported(g, arch, rope_dims, head_dim)?;
        }
        Family::Mistral => partial_rope_unsupported(g, arch, rope_dims, head_dim)?,
        Family::Phi3 => {
            if let Some(d) = rope_dims {
                if d != head_dim {
                    let factor = d as f64 / head_dim as f64;
                    c.insert("partial_rotary_factor", factor.into());
                }
            }
            if let Some(n) = optional_u64(g, &key("rope.scaling.original_context_length"))? {
                c.insert("original_max_position_embeddings", n.into());
            }
            if let Some(n) = optional_u64(g, &key("attention.sliding_window"))? {
                c.insert("sliding_window", n.into());
            }
        }
        Family::Qwen2 | Family::Qwen3 => {}
    }

    let vocab = match optional_u64(g, &key("vocab_size"))? {
        Some(n) => n,
        None => match g.get_array("tokenizer.ggml.tokens") {
            Some(a) => array_len(a) as u64,
            None => return Err(missing(g, "tokenizer.ggml.tokens", &format!("the vocabulary size comes from it when '{}' is absent", key("vocab_size")))),
        },
    };
    c.insert("vocab_size", vocab.into());

    for (gguf_key, hf_key) in [
        ("tokenizer.ggml.bos_token_id", "bos_token_id"),
        ("tokenizer.ggml.eos_token_id", "eos_token_id"),
        ("tokenizer.ggml.padding_token_id", "pad_token_id"),
        ("tokenizer.ggml.unknown_token_id", "unk_token_id"),
    ] {
        if let Some(id) = optional_u64(g, gguf_key)? {
            c.insert(hf_key, id.into());
        }
    }

    Ok(Value::Object(c.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>()))
}

fn partial_rope_unsupported(g: &GgufFile, arch: &str, rope_dims: Option<u64>, head_dim: u64) -> Result<(), Error> {
    match rope_dims {
        Some(d) if d != head_dim => {
            Err(Error::unsupported(g.path(), format!("{arch}: RoPE over {d} of {head_dim} head dimensions (partial rotary) is not a llama config")))
        }
        _ => Ok(()),
    }
}

/// `rope_scaling` from `{arch}.rope.scaling.*`, or a refusal where the
/// scaling lives in tensors this translation cannot turn into a config.
fn rope_scaling(g: &GgufFile, arch: &str, fam: Family) -> Result<Option<Value>, Error> {
    let key = |name: &str| format!("{arch}.rope.scaling.{name}");
    let has_long = g.tensor("rope_factors_long.weight").is_ok();
    let has_short = g.tensor("rope_factors_short.weight").is_ok();
    if fam == Family::Phi3 && (has_long || has_short) {
        if !(has_long && has_short) {
            return Err(invalid(g, "phi3 LongRoPE needs both rope_factors_long.weight and rope_factors_short.weight"));
        }
        let mut m = Map::new();
        m.insert("long_factor".into(), f32_tensor_json(g, "rope_factors_long.weight")?);
        m.insert("short_factor".into(), f32_tensor_json(g, "rope_factors_short.weight")?);
        if let Some(n) = optional_u64(g, &key("original_context_length"))? {
            // mlx-lm's LongRoPE reads it here.
            m.insert("original_max_position_embeddings".into(), n.into());
        }
        m.insert("rope_type".into(), "longrope".into());
        m.insert("type".into(), "longrope".into());
        return Ok(Some(Value::Object(m)));
    }
    if g.tensor("rope_freqs.weight").is_ok() {
        return Err(Error::unsupported(
            g.path(),
            "RoPE frequency factors stored as tensor 'rope_freqs.weight' (Llama-3-style \
             scaling): the file does not record the factor, low/high frequency factors and \
             original context length a config needs",
        ));
    }

    let kind = match g.get(&key("type")) {
        Some(v) => Some(v.as_str().ok_or_else(|| wrong_type(g, &key("type"), v, "a string"))?.to_string()),
        None => None,
    };
    // Older files state linear scaling as `{arch}.rope.scale_linear`.
    let legacy_linear = match g.get(&format!("{arch}.rope.scale_linear")) {
        Some(v) => Some(v.as_f32().ok_or_else(|| wrong_type(g, &format!("{arch}.rope.scale_linear"), v, "a float"))?),
        None => None,
    };
    let (kind, factor) = match (kind.as_deref(), legacy_linear) {
        (Some("none"), _) | (None, None) => return Ok(None),
        (None, Some(f)) => ("linear".to_string(), f),
        (Some(k), _) => {
            let factor = match g.get(&key("factor")) {
                Some(v) => v.as_f32().ok_or_else(|| wrong_type(g, &key("factor"), v, "a float"))?,
                None => legacy_linear.ok_or_else(|| missing(g, &key("factor"), &format!("RoPE scaling '{k}' needs its factor")))?,
            };
            (k.to_string(), factor)
        }
    };
    if kind != "linear" && kind != "yarn" {
        return Err(Error::unsupported(g.path(), format!("RoPE scaling type '{kind}' (supported: linear, yarn)")));
    }
    if factor == 1.0 && kind == "linear" {
        return Ok(None);
    }
    let mut m = Map::new();
    m.insert("factor".into(), f32_json(g, "rope_scaling.factor", factor)?);
    if let Some(n) = optional_u64(g, &key("original_context_length"))? {
        m.insert("original_max_position_embeddings".into(), n.into());
    }
    if kind == "yarn" {
        for (gguf, hf) in [("yarn_beta_fast", "beta_fast"), ("yarn_beta_slow", "beta_slow"), ("attn_factor", "attention_factor")] {
            if let Some(v) = g.get(&key(gguf)) {
                let x = v.as_f32().ok_or_else(|| wrong_type(g, &key(gguf), v, "a float"))?;
                m.insert(hf.into(), f32_json(g, hf, x)?);
            }
        }
    }
    m.insert("rope_type".into(), kind.clone().into());
    m.insert("type".into(), kind.into());
    Ok(Some(Value::Object(m)))
}

/// An F32 vector tensor as a JSON array of numbers.
fn f32_tensor_json(g: &GgufFile, name: &str) -> Result<Value, Error> {
    let values = g.read_f32(name)?;
    values.into_iter().map(|x| f32_json(g, name, x)).collect::<Result<Vec<_>, _>>().map(Value::Array)
}

/// The shortest decimal that reads back as `x` in f32, as a JSON number.
fn f32_json(g: &GgufFile, what: &str, x: f32) -> Result<Value, Error> {
    // Rust prints the shortest round-trip decimal of an f32; parsed as f64
    // it is the number a JSON reader sees, and rounds back to `x`.
    let shortest: f64 = format!("{x}").parse().unwrap_or(f64::from(x));
    serde_json::Number::from_f64(shortest).map(Value::Number).ok_or_else(|| invalid(g, format!("{what} is not a finite number ({x})")))
}

/// A head count stated once, or per layer (all layers equal).
fn per_layer_constant(g: &GgufFile, key: &str, v: &GgufValue) -> Result<u64, Error> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    let values: Vec<u64> = match v.as_array() {
        Some(Array::U32(a)) => a.iter().map(|&x| x.into()).collect(),
        Some(Array::I32(a)) => a.iter().filter_map(|&x| u64::try_from(x).ok()).collect(),
        Some(Array::U64(a)) => a.clone(),
        _ => return Err(wrong_type(g, key, v, "an integer or an array of integers")),
    };
    match values.split_first() {
        Some((&first, rest)) if rest.iter().all(|&x| x == first) => Ok(first),
        Some(_) => Err(Error::unsupported(g.path(), format!("'{key}' differs between layers ({values:?}): not a uniform decoder"))),
        None => Err(invalid(g, format!("'{key}' is an empty array"))),
    }
}

fn array_len(a: &Array) -> usize {
    match a {
        Array::U8(v) => v.len(),
        Array::I8(v) => v.len(),
        Array::U16(v) => v.len(),
        Array::I16(v) => v.len(),
        Array::U32(v) => v.len(),
        Array::I32(v) => v.len(),
        Array::F32(v) => v.len(),
        Array::Bool(v) => v.len(),
        Array::String(v) => v.len(),
        Array::Array(v) => v.len(),
        Array::U64(v) => v.len(),
        Array::I64(v) => v.len(),
        Array::F64(v) => v.len(),
    }
}

fn required_u64(g: &GgufFile, key: &str) -> Result<u64, Error> {
    optional_u64(g, key)?.ok_or_else(|| missing(g, key, "a config needs it"))
}

fn optional_u64(g: &GgufFile, key: &str) -> Result<Option<u64>, Error> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| wrong_type(g, key, v, "a non-negative integer")),
    }
}

fn required_f32(g: &GgufFile, key: &str) -> Result<f32, Error> {
    match g.get(key) {
        None => Err(missing(g, key, "a config needs it")),
        Some(v) => v.as_f32().ok_or_else(|| wrong_type(g, key, v, "a float")),
    }
}

fn missing(g: &GgufFile, key: &str, why: &str) -> Error {
    invalid(g, format!("metadata key '{key}' is missing ({why})"))
}

fn wrong_type(g: &GgufFile, key: &str, v: &GgufValue, want: &str) -> Error {
    invalid(g, format!("metadata key '{key}' holds {} {}, expected {want}", v.value_type().name(), v.render(4)))
}

fn invalid(g: &GgufFile, rule: impl Into<String>) -> Error {
    Error::invalid(g.path(), "GGUF", rule)
}
