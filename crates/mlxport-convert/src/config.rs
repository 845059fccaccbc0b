//! `config.json` the way mlx-lm reads and writes it.
//!
//! mlx-lm's `save_config` drops `_name_or_path`, sorts the top-level keys
//! and writes `json.dump(config, indent=4)`. mlx-lm 0.32 reads `rope_theta`
//! only at the top level (default 10000), while transformers 5 nests it in
//! `rope_parameters`: a converter must lift it, or the model silently runs
//! with the wrong RoPE base. [`for_mlx_lm`] does both, and
//! [`to_python_json`] reproduces Python's `json.dump` text (float `repr`,
//! `ensure_ascii`) so a config round-trips byte for byte.

use serde_json::{Map, Value};

/// What [`for_mlx_lm`] changed, for the conversion manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigChanges {
    pub changes: Vec<String>,
}

/// Normalize a Hugging Face config for mlx-lm.
pub fn for_mlx_lm(config: &Value, keep_vision_config: bool) -> (Value, ConfigChanges) {
    let mut changes = ConfigChanges::default();
    let Some(obj) = config.as_object() else {
        return (config.clone(), changes);
    };
    let mut obj = obj.clone();
    drop_name_or_path(&mut obj, &mut changes);
    if !keep_vision_config && obj.remove("vision_config").is_some() {
        changes.changes.push("dropped vision_config (no vision tower in the converted weights)".into());
    }
    lift_rope(&mut obj, &mut changes, "");
    copy_expert_count(&mut obj, &mut changes);
    copy_context_length(&mut obj, &mut changes);
    // Nested text configs (VLMs) carry their own rope parameters.
    if let Some(Value::Object(text)) = obj.get_mut("text_config") {
        lift_rope(text, &mut changes, "text_config.");
    }
    let mut sorted: Vec<(String, Value)> = obj.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    (Value::Object(sorted.into_iter().collect()), changes)
}

/// The config every target writes: mlx-lm's normalization for the mlx-lm
/// layout ([`for_mlx_lm`]); for the others the source's config with only
/// `_name_or_path` dropped (transformers records the folder it loaded
/// from there, a local path that does not belong in a package), key
/// order kept.
pub fn for_target(config: &Value, layout: &str, keep_vision_config: bool) -> (Value, ConfigChanges) {
    if layout == "mlx-lm" {
        return for_mlx_lm(config, keep_vision_config);
    }
    let mut changes = ConfigChanges::default();
    let Some(obj) = config.as_object() else {
        return (config.clone(), changes);
    };
    let mut obj = obj.clone();
    drop_name_or_path(&mut obj, &mut changes);
    (Value::Object(obj), changes)
}

/// Remove `_name_or_path` from the config and from its nested configs
/// (`text_config`, `vision_config`, ...).
fn drop_name_or_path(obj: &mut Map<String, Value>, changes: &mut ConfigChanges) {
    // shift_remove: the other keys keep their order.
    if obj.shift_remove("_name_or_path").is_some() {
        changes.changes.push("dropped _name_or_path".into());
    }
    for (key, value) in obj.iter_mut() {
        if let Value::Object(sub) = value {
            if sub.shift_remove("_name_or_path").is_some() {
                changes.changes.push(format!("dropped {key}._name_or_path"));
            }
        }
    }
}

/// mlx-lm's qwen2_moe, qwen3_moe and olmoe read the expert count as
/// `num_experts` (a required field), but transformers 5 writes Qwen3-MoE's
/// as `num_local_experts` (its attribute map): copy it, or mlx-lm cannot
/// build the model.
fn copy_expert_count(obj: &mut Map<String, Value>, changes: &mut ConfigChanges) {
    let reads_num_experts = matches!(obj.get("model_type").and_then(Value::as_str), Some("qwen2_moe" | "qwen3_moe" | "olmoe"));
    if !reads_num_experts || obj.get("num_experts").is_some_and(|v| !v.is_null()) {
        return;
    }
    if let Some(n) = obj.get("num_local_experts").cloned().filter(|v| !v.is_null()) {
        obj.insert("num_experts".into(), n.clone());
        changes.changes.push(format!("num_experts = {n} copied from num_local_experts (mlx-lm reads num_experts)"));
    }
}

/// mlx-lm's gpt2 requires `n_ctx` (the context length), which
/// transformers 5 no longer writes: it is `n_positions`.
fn copy_context_length(obj: &mut Map<String, Value>, changes: &mut ConfigChanges) {
    if obj.get("model_type").and_then(Value::as_str) != Some("gpt2") || obj.get("n_ctx").is_some_and(|v| !v.is_null()) {
        return;
    }
    if let Some(n) = obj.get("n_positions").cloned().filter(|v| !v.is_null()) {
        obj.insert("n_ctx".into(), n.clone());
        changes.changes.push(format!("n_ctx = {n} copied from n_positions (mlx-lm's gpt2 requires it)"));
    }
}

/// Copy `rope_parameters.rope_theta` to `rope_theta`, and non-default
/// `rope_parameters` to `rope_scaling`, where the top level lacks them.
fn lift_rope(obj: &mut Map<String, Value>, changes: &mut ConfigChanges, prefix: &str) {
    let Some(Value::Object(rp)) = obj.get("rope_parameters").cloned() else { return };
    if !obj.contains_key("rope_theta") {
        if let Some(theta) = rp.get("rope_theta") {
            obj.insert("rope_theta".into(), theta.clone());
            changes.changes.push(format!("{prefix}rope_theta = {theta} copied from {prefix}rope_parameters (mlx-lm reads only the top level)"));
        }
    }
    let rope_type = rp.get("rope_type").or_else(|| rp.get("type")).and_then(Value::as_str).unwrap_or("default");
    if rope_type != "default" && obj.get("rope_scaling").is_none_or(Value::is_null) {
        let mut scaling = rp.clone();
        scaling.remove("rope_theta");
        obj.insert("rope_scaling".into(), Value::Object(scaling));
        changes.changes.push(format!("{prefix}rope_scaling copied from {prefix}rope_parameters (rope_type {rope_type})"));
    }
}

/// Python's `json.dumps(value, indent=indent)` text: `", "`/`": "`
/// separators with newlines, floats as `repr`, non-ASCII escaped.
pub fn to_python_json(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_value(&mut out, value, indent, 0);
    out
}

fn write_value(out: &mut String, v: &Value, indent: usize, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&python_float_repr(n.as_f64().unwrap_or(0.0)));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_value(out, x, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Value::Object(o) => {
            if o.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_str(out, k);
                out.push_str(": ");
                write_value(out, x, indent, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
    }
}

/// Indented JSON whose small values (compact form up to `width`
/// characters) stay on one line: readable maps, with shapes as `[576, 576]`.
pub fn to_readable_json(value: &Value, indent: usize, width: usize) -> String {
    let mut out = String::new();
    write_readable(&mut out, value, indent, width, 0);
    out
}

fn compact(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(compact).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, x)| {
                    let mut s = String::new();
                    write_str(&mut s, k);
                    format!("{s}: {}", compact(x))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => {
            let mut s = String::new();
            write_value(&mut s, other, 0, 0);
            s
        }
    }
}

fn write_readable(out: &mut String, v: &Value, indent: usize, width: usize, level: usize) {
    let c = compact(v);
    if c.len() + indent * level <= width || !matches!(v, Value::Array(_) | Value::Object(_)) {
        out.push_str(&c);
        return;
    }
    match v {
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_readable(out, x, indent, width, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_str(out, k);
                out.push_str(": ");
                write_readable(out, x, indent, width, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
        _ => unreachable!(),
    }
}

fn newline(out: &mut String, indent: usize, level: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent * level));
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || !c.is_ascii() || c == '\x7f' => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest round-tripping digits, fixed
/// notation for exponents -4..16, else `d.ddde+XX`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` gives the shortest round-tripping mantissa.
    let e = format!("{:e}", x.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let s = if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            let _ = n;
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits.clone() };
        let es = if exp < 0 { "-" } else { "+" };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        for (x, want) in [
            (1e-5, "1e-05"),
            (9.999999747378752e-06, "9.999999747378752e-06"),
            (100000.0, "100000.0"),
            (0.02, "0.02"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (-2.5, "-2.5"),
            (1.0, "1.0"),
            (1e300, "1e+300"),
        ] {
            assert_eq!(python_float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn rope_theta_lifted_and_sorted() {
        let c: Value =
            serde_json::from_str(r#"{"z": 1, "_name_or_path": "x", "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"}, "a": "é"}"#).unwrap();
        let (out, ch) = for_mlx_lm(&c, false);
        assert_eq!(out["rope_theta"], 100000.0);
        assert!(out.get("_name_or_path").is_none());
        // Every other target: only the local name is dropped, order kept.
        let src: Value =
            serde_json::from_str(r#"{"z": 1, "_name_or_path": "/models/x", "text_config": {"_name_or_path": "/models/x", "a": 2}, "a": 3}"#).unwrap();
        let (kept, kept_changes) = for_target(&src, "scaffold", false);
        assert_eq!(to_python_json(&kept, 0).replace('\n', ""), r#"{"z": 1,"text_config": {"a": 2},"a": 3}"#);
        assert_eq!(kept_changes.changes, ["dropped _name_or_path", "dropped text_config._name_or_path"]);
        assert!(out.get("rope_scaling").is_none());
        assert_eq!(ch.changes.len(), 2);
        let text = to_python_json(&out, 4);
        assert_eq!(text, "{\n    \"a\": \"\\u00e9\",\n    \"rope_parameters\": {\n        \"rope_theta\": 100000.0,\n        \"rope_type\": \"default\"\n    },\n    \"rope_theta\": 100000.0,\n    \"z\": 1\n}");
    }

    #[test]
    fn expert_count_copied_where_mlx_lm_reads_num_experts() {
        let c: Value = serde_json::from_str(r#"{"model_type": "qwen3_moe", "num_local_experts": 8}"#).unwrap();
        let (out, ch) = for_mlx_lm(&c, false);
        assert_eq!(out["num_experts"], 8);
        assert!(ch.changes.iter().any(|c| c.contains("num_experts = 8")));
        // Mixtral's mlx-lm model reads num_local_experts itself.
        let c: Value = serde_json::from_str(r#"{"model_type": "mixtral", "num_local_experts": 8}"#).unwrap();
        assert!(for_mlx_lm(&c, false).0.get("num_experts").is_none());
        let c: Value = serde_json::from_str(r#"{"model_type": "qwen2_moe", "num_experts": 4, "num_local_experts": 8}"#).unwrap();
        assert_eq!(for_mlx_lm(&c, false).0["num_experts"], 4);
    }
}
