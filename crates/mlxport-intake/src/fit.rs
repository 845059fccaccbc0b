//! Size and fit: weight memory at f32 / bf16 / 8 / 6 / 4 bits, KV-cache
//! bytes per token and for a context length, and whether the result fits a
//! target machine's memory.
//!
//! Quantized sizes follow MLX's affine layout: 2-D weights whose last dim
//! divides by the group size (64) are stored at `bits` per weight plus a
//! bf16 scale and bias per group (+0.5 bit per weight); every other tensor
//! stays bf16. A port is said to fit when weights plus the KV cache for the
//! context take at most 75% of the target memory (the share macOS lets the
//! GPU wire by default); the rest is left to activations, the OS and other
//! programs.

use mlxport_tensor::TensorInfo;
use serde::Serialize;

use crate::configs::ModelFacts;

/// Share of the target memory a model may use.
pub const USABLE_SHARE: f64 = 0.75;
const GROUP: u64 = 64;

#[derive(Clone, Debug, Serialize)]
pub struct WeightSize {
    /// `f32`, `bf16`, `q8`, `q6`, `q4`.
    pub precision: String,
    pub bits_per_weight: f64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fits: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KvCache {
    /// bf16 K and V for every layer, per token.
    pub bytes_per_token: u64,
    pub formula: String,
    pub context: u64,
    pub bytes_for_context: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SizeFit {
    pub parameters: u64,
    /// Parameters in 2-D weights an MLX quantizer would pack.
    pub quantizable_parameters: u64,
    pub weights: Vec<WeightSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache: Option<KvCache>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_memory_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable_bytes: Option<u64>,
    pub notes: Vec<String>,
}

/// Parse `16GB`, `16GiB`, `512MB`, `1.5T`, or plain bytes; anything else is
/// an [`Error::InvalidInput`](crate::Error::InvalidInput) quoting `s`.
pub fn parse_size(s: &str) -> crate::Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| crate::Error::InvalidInput(format!("'{s}' is not a size (try 16GB)")))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1048576.0,
        "g" | "gb" => 1e9,
        "gib" => 1073741824.0,
        "t" | "tb" => 1e12,
        "tib" => 1099511627776.0,
        u => return Err(crate::Error::InvalidInput(format!("unknown size unit '{u}' in '{s}'"))),
    };
    Ok((n * mult) as u64)
}

/// Compute sizes. `logical` gives the logical parameter count of a tensor;
/// `has_kv_cache` says whether the family keeps a KV cache.
pub fn size_fit(
    tensors: &[TensorInfo],
    logical: impl Fn(&TensorInfo) -> u64,
    facts: Option<&ModelFacts>,
    has_kv_cache: bool,
    context: u64,
    target: Option<u64>,
) -> SizeFit {
    let mut params = 0u64;
    let mut quantizable = 0u64;
    for t in tensors {
        let n = logical(t);
        params += n;
        // Packed quantized weights: the last dim of the matrix they encode.
        let stored = t.numel();
        let mut last = t.shape.last().copied().unwrap_or(0);
        if n != stored && stored > 0 {
            last = (last as u128 * n as u128 / stored as u128) as u64;
        }
        if t.shape.len() >= 2 && t.name.ends_with("weight") && last % GROUP == 0 && last > 0 {
            quantizable += n;
        }
    }
    let rest = params - quantizable.min(params);
    let kv = facts.filter(|_| has_kv_cache).and_then(|f| kv_cache(f, context));
    let kv_bytes = kv.as_ref().map(|k| k.bytes_for_context).unwrap_or(0);
    let usable = target.map(|t| (t as f64 * USABLE_SHARE) as u64);
    let mut weights = Vec::new();
    for (name, bits) in [("f32", 32u64), ("bf16", 16), ("q8", 8), ("q6", 6), ("q4", 4)] {
        let bytes = if bits >= 16 {
            params * bits / 8
        } else {
            // packed weights + bf16 scale and bias per group + the rest in bf16
            quantizable * bits / 8 + quantizable / GROUP * 4 + rest * 2
        };
        let bpw = if params == 0 { 0.0 } else { bytes as f64 * 8.0 / params as f64 };
        weights.push(WeightSize { precision: name.into(), bits_per_weight: (bpw * 100.0).round() / 100.0, bytes, fits: usable.map(|u| bytes + kv_bytes <= u) });
    }
    let mut notes = vec!["quantized sizes assume MLX affine quantization, group size 64, bf16 scales and biases".to_string()];
    if has_kv_cache && kv.is_none() {
        notes.push("KV-cache size unknown: the config lacks layer count, heads or head size".into());
    }
    if let Some(f) = facts {
        if f.sliding_window.is_some() {
            notes.push("sliding-window layers need less KV cache than estimated (estimate assumes every layer keeps the full context)".into());
        }
    }
    SizeFit { parameters: params, quantizable_parameters: quantizable, weights, kv_cache: kv, target_memory_bytes: target, usable_bytes: usable, notes }
}

fn kv_cache(f: &ModelFacts, context: u64) -> Option<KvCache> {
    let layers = f.num_hidden_layers?;
    let heads = f.num_attention_heads?;
    let kv_heads = f.num_key_value_heads.unwrap_or(heads);
    let head_dim = f.head_dim.or_else(|| f.hidden_size.filter(|_| heads > 0).map(|h| h / heads))?;
    let per_token = 2 * layers * kv_heads * head_dim * 2;
    Some(KvCache {
        bytes_per_token: per_token,
        formula: format!("2 (K,V) x {layers} layers x {kv_heads} KV heads x {head_dim} head dim x 2 bytes (bf16)"),
        context,
        bytes_for_context: per_token.saturating_mul(context),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("16GB").unwrap(), 16_000_000_000);
        assert_eq!(parse_size("16GiB").unwrap(), 17_179_869_184);
        assert_eq!(parse_size("1.5 gb").unwrap(), 1_500_000_000);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn a_bad_size_is_invalid_input_quoting_it() {
        match parse_size("3 parsecs") {
            Err(crate::Error::InvalidInput(m)) => assert_eq!(m, "unknown size unit 'parsecs' in '3 parsecs'"),
            other => panic!("expected Error::InvalidInput, got {other:?}"),
        }
    }
}
