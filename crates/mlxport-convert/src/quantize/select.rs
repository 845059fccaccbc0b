//! Which tensors are quantized, and how: mlx-lm's conventions applied to
//! target tensor names and shapes.
//!
//! mlx-lm quantizes the modules that have `to_quantized` — `Linear`,
//! `Embedding` and the stacked expert `SwitchLinear` — whose weight's last
//! dimension divides by the global group size; everything else (norms,
//! biases, convolutions, other parameters) stays in floating point. Here a
//! module is a target `PATH.weight` that is 2-D (a linear or embedding
//! weight; a name ending in `norm` excepted) or 3-D under `switch_mlp` or
//! `experts` (stacked experts). Then, in order: the first matching
//! `--rule`; else the mixed recipe's choice, or when no recipe is given the
//! model's own predicate (MoE router gates at 8 bits, layers some models
//! keep in float); else the global parameters. Per-layer dictionaries are
//! recorded in the `quantization` block exactly as mlx-lm records them.

use serde_json::{json, Map, Value};

use super::options::{QuantOptions, RuleAction, Spec};
use crate::plan::PlannedTarget;
use crate::{Error, Result};

/// How one target tensor is written.
#[derive(Clone, Debug, PartialEq)]
pub enum Choice {
    /// As it is. `why` says why a weight-like tensor stays float.
    Float { why: Option<String> },
    /// Quantized with `spec`; `entry` is the per-layer dictionary written
    /// into the `quantization` block, if any; `by` names the deciding
    /// rule (`default`, `recipe`, `model`, `rule N`, `budget`).
    Quantize { spec: Spec, entry: Option<Map<String, Value>>, by: String },
    /// A GGUF affine block tensor repacked losslessly (group size 32).
    KeepGguf { bits: u8 },
}

/// What a model predicate says about one module path.
enum Pred {
    Yes,
    No,
    Eight,
}

/// mlx-lm's per-model `quant_predicate`s (mlx-lm 0.32), by `model_type`.
/// Each returns the predicate's answer for a module path.
/// A per-model predicate over module paths.
type Predicate = Box<dyn Fn(&str) -> Pred>;

fn model_predicate(model_type: &str, config: &Value) -> Option<Predicate> {
    let ends = |suffixes: &'static [&'static str]| -> Predicate {
        Box::new(move |p: &str| if suffixes.iter().any(|s| p.ends_with(s)) { Pred::Eight } else { Pred::Yes })
    };
    let experts = |c: &Value| c.get("num_experts").and_then(Value::as_i64).unwrap_or(0) > 0;
    Some(match model_type {
        "Klear" | "kimi_linear" | "mellum" | "qwen3_moe" => ends(&["mlp.gate"]),
        "afmoe" => Box::new(|p: &str| if p.contains("router.gate") { Pred::Eight } else { Pred::Yes }),
        "bailing_moe" | "bailing_moe_linear" => ends(&["mlp.gate.gate_proj"]),
        "bailing_hybrid" => Box::new(|p: &str| {
            if p.ends_with("mlp.gate.gate_proj") {
                Pred::Eight
            } else if p.ends_with("attention.embed_q") || p.ends_with("attention.unembed_out") {
                Pred::No
            } else {
                Pred::Yes
            }
        }),
        "gemma4" | "gemma4_text" => ends(&["router.proj"]),
        "gpt_oss" | "jamba" => ends(&["router"]),
        "granite" => {
            Box::new(|p: &str| if p.ends_with("self_attn.o_proj") || p.ends_with("mlp.down_proj") || p == "lm_head" { Pred::Eight } else { Pred::Yes })
        }
        "granitemoe" => Box::new(|p: &str| {
            if p.ends_with("block_sparse_moe.router.layer") || p.ends_with("self_attn.o_proj") || p.ends_with("mlp.down_proj") || p == "lm_head" {
                Pred::Eight
            } else {
                Pred::Yes
            }
        }),
        "granitemoehybrid" if config.get("use_moe").and_then(Value::as_bool).unwrap_or(false) => ends(&["router.layer"]),
        "kimi_k3" => Box::new(|p: &str| {
            if p.ends_with("mlp.gate") {
                Pred::Eight
            } else if p.ends_with("res_proj") {
                Pred::No
            } else {
                Pred::Yes
            }
        }),
        "laguna" => ends(&["mlp.gate.proj"]),
        "lfm2_moe" => ends(&["feed_forward.gate"]),
        "longcat_flash" | "longcat_flash_ngram" => ends(&["classifier"]),
        "minimax" | "minimax_m3_vl" => ends(&["block_sparse_moe.gate"]),
        "qwen3_next" | "qwen3_vl_moe" => ends(&["mlp.gate", "shared_expert_gate"]),
        "qwen3_5" | "qwen3_5_moe" if experts(config) || config.get("text_config").is_some_and(experts) => ends(&["mlp.gate", "shared_expert_gate"]),
        "spark2_5" => Box::new(|p: &str| if p.ends_with("self_attn.g_proj") { Pred::No } else { Pred::Yes }),
        "step3p5" => Box::new(|p: &str| if p.contains("mlp.gate.gate") { Pred::Eight } else { Pred::Yes }),
        _ => return None,
    })
}

/// The module path of a quantizable weight, or why it is not one.
pub fn module_of(t: &PlannedTarget) -> Option<&str> {
    let path = t.name.strip_suffix(".weight")?;
    if !t.dtype.is_float() {
        return None;
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    match t.shape.len() {
        2 => (!last.ends_with("norm") && !last.contains("layernorm")).then_some(path),
        3 => (path.contains("switch_mlp") || path.contains(".experts")).then_some(path),
        _ => None,
    }
}

/// The mixed recipe's layer geometry: where the layer index sits in a path
/// and how many layers there are.
struct Recipe {
    low: u8,
    high: u8,
    group_size: Option<usize>,
    location: usize,
    layers: i64,
}

impl Recipe {
    fn new(name: &str, targets: &[PlannedTarget], config: Option<&Value>, group_size: Option<usize>) -> Result<Recipe> {
        let (low, high) = match name {
            "mixed_2_6" => (2, 6),
            "mixed_3_4" => (3, 4),
            "mixed_3_6" => (3, 6),
            "mixed_4_6" => (4, 6),
            _ => return Err(Error::Usage(format!("unknown recipe '{name}'"))),
        };
        let paths: Vec<&str> = targets.iter().filter_map(module_of).collect();
        let down = paths
            .iter()
            .find(|p| p.contains("down_proj"))
            .ok_or_else(|| Error::Usage(format!("recipe {name} needs `down_proj` layers to place its extra bits, and this model has none")))?;
        let parts: Vec<&str> = down.split('.').collect();
        let location = parts.iter().position(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())).unwrap_or(parts.len() - 1);
        let from_config =
            config.and_then(|c| c.get("num_hidden_layers").or_else(|| c.get("text_config").and_then(|t| t.get("num_hidden_layers")))).and_then(Value::as_i64);
        let layers = match from_config {
            Some(n) => n,
            None => {
                let mut idx: Vec<&str> = paths.iter().filter_map(|p| p.split('.').nth(location)).filter(|k| k.bytes().all(|b| b.is_ascii_digit())).collect();
                idx.sort();
                idx.dedup();
                idx.len() as i64
            }
        };
        Ok(Recipe { low, high, group_size, location, layers })
    }

    fn bits(&self, path: &str) -> u8 {
        let parts: Vec<&str> = path.split('.').collect();
        let index: i64 = if parts.len() > self.location { parts[self.location].parse().unwrap_or(0) } else { 0 };
        let n = self.layers;
        let more = index < n / 8 || index >= 7 * n / 8 || (index - n / 8).rem_euclid(3) == 2;
        if (path.contains("v_proj") || path.contains("v_a_proj") || path.contains("v_b_proj")) && more {
            return self.high;
        }
        if path.contains("down_proj") && more {
            return self.high;
        }
        if path.contains("lm_head") {
            return self.high;
        }
        self.low
    }

    fn entry(&self, bits: u8) -> Map<String, Value> {
        let g = self.group_size.map(Value::from).unwrap_or(Value::Null);
        json!({"group_size": g, "bits": bits, "mode": "affine"}).as_object().cloned().unwrap_or_default()
    }
}

/// The model type from a config (a VLM's text config as fallback).
pub fn model_type(config: Option<&Value>) -> Option<&str> {
    config.and_then(|c| c.get("model_type")).and_then(Value::as_str)
}

/// One choice per target, in target order.
pub fn select(targets: &[PlannedTarget], config: Option<&Value>, opts: &QuantOptions) -> Result<Vec<Choice>> {
    let spec = opts.spec;
    let recipe = match &opts.recipe {
        Some(r) => Some(Recipe::new(r, targets, config, opts.group_size_given.then_some(spec.group_size))?),
        None => None,
    };
    let null = Value::Null;
    let predicate = if recipe.is_none() { model_type(config).and_then(|m| model_predicate(m, config.unwrap_or(&null))) } else { None };
    let global = |s: Spec| json!({"group_size": s.group_size, "bits": s.bits, "mode": s.mode}).as_object().cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let Some(path) = module_of(t) else {
            out.push(Choice::Float { why: None });
            continue;
        };
        let last = *t.shape.last().unwrap_or(&0) as usize;
        if !last.is_multiple_of(spec.group_size) {
            out.push(Choice::Float { why: Some(format!("last dimension {last} does not divide by the group size {}", spec.group_size)) });
            continue;
        }
        let mut choice = None;
        for (k, r) in opts.rules.iter().enumerate() {
            if !r.regex.is_match(path) {
                continue;
            }
            choice = Some(match &r.action {
                RuleAction::Skip => Choice::Float { why: Some(format!("--rule '{}'", r.text)) },
                RuleAction::Set { mode, bits, group_size } => {
                    let m = mode.as_deref().unwrap_or(spec.mode);
                    let (b, g) = if m == spec.mode { (bits.or(Some(spec.bits)), group_size.or(Some(spec.group_size))) } else { (*bits, *group_size) };
                    let s = Spec::new(m, b, g).map_err(|e| Error::Usage(format!("--rule '{}': {e}", r.text)))?;
                    Choice::Quantize { spec: s, entry: Some(global(s)), by: format!("rule {}", k + 1) }
                }
            });
            break;
        }
        let choice = match choice {
            Some(c) => c,
            None => match (&recipe, &predicate) {
                (Some(r), _) => {
                    let b = r.bits(path);
                    Choice::Quantize { spec: Spec { mode: "affine", bits: b, group_size: spec.group_size }, entry: Some(r.entry(b)), by: "recipe".into() }
                }
                (None, Some(p)) => match p(path) {
                    Pred::Yes => Choice::Quantize { spec, entry: None, by: "default".into() },
                    Pred::No => Choice::Float { why: Some("the model's own quantization predicate".into()) },
                    Pred::Eight => {
                        let s = Spec { mode: "affine", bits: 8, group_size: 64 };
                        let entry = json!({"group_size": 64, "bits": 8}).as_object().cloned().unwrap_or_default();
                        Choice::Quantize { spec: s, entry: Some(entry), by: "model".into() }
                    }
                },
                (None, None) => Choice::Quantize { spec, entry: None, by: "default".into() },
            },
        };
        if let Choice::Quantize { spec: s, .. } = &choice {
            if !last.is_multiple_of(s.group_size) {
                return Err(Error::Usage(format!("'{}': last dimension {last} does not divide by the group size {} chosen for it", t.name, s.group_size)));
            }
        }
        out.push(choice);
    }
    Ok(out)
}

/// The `quantization` block mlx-lm writes: the global parameters, then one
/// entry per layer with its own dictionary, in layer order.
pub fn config_block(opts: &QuantOptions, targets: &[PlannedTarget], choices: &[Choice]) -> Map<String, Value> {
    let s = opts.spec;
    let mut block = Map::new();
    block.insert("group_size".into(), s.group_size.into());
    block.insert("bits".into(), s.bits.into());
    block.insert("mode".into(), s.mode.into());
    for (t, c) in targets.iter().zip(choices) {
        let path = t.name.strip_suffix(".weight").unwrap_or(&t.name);
        match c {
            Choice::Quantize { entry: Some(e), .. } => {
                block.insert(path.into(), Value::Object(e.clone()));
            }
            Choice::KeepGguf { bits } if *bits != s.bits || s.group_size != 32 || s.mode != "affine" => {
                block.insert(path.into(), json!({"group_size": 32, "bits": bits, "mode": "affine"}));
            }
            _ => {}
        }
    }
    block
}

/// Add `quantization` and `quantization_config` to a config, keeping the
/// top level sorted as mlx-lm's `save_config` does.
pub fn patch_config(config: &mut Value, block: &Map<String, Value>) {
    let Some(obj) = config.as_object_mut() else { return };
    obj.insert("quantization".into(), Value::Object(block.clone()));
    obj.insert("quantization_config".into(), Value::Object(block.clone()));
    let mut sorted: Vec<(String, Value)> = std::mem::take(obj).into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    *obj = sorted.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlxport_tensor::DType;

    fn t(name: &str, shape: &[u64]) -> PlannedTarget {
        PlannedTarget { name: name.into(), shape: shape.to_vec(), dtype: DType::BF16 }
    }

    fn llama(layers: usize) -> Vec<PlannedTarget> {
        let mut v = vec![t("model.embed_tokens.weight", &[256, 128]), t("model.norm.weight", &[128])];
        for i in 0..layers {
            for m in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"] {
                v.push(t(&format!("model.layers.{i}.{m}.weight"), &[128, 128]));
            }
            v.push(t(&format!("model.layers.{i}.input_layernorm.weight"), &[128]));
        }
        v.push(t("lm_head.weight", &[256, 128]));
        v
    }

    fn bits(c: &Choice) -> Option<u8> {
        match c {
            Choice::Quantize { spec, .. } => Some(spec.bits),
            _ => None,
        }
    }

    #[test]
    fn recipe_places_high_bits_like_mlx_lm() {
        // 16 layers: more bits for index < 2, >= 14, and (i - 2) % 3 == 2.
        let ts = llama(16);
        let o = QuantOptions::new(None, None, Some(64), Some("mixed_3_6"), &[], None).unwrap();
        let cs = select(&ts, Some(&json!({"num_hidden_layers": 16})), &o).unwrap();
        let get = |n: &str| bits(&cs[ts.iter().position(|t| t.name == n).unwrap()]);
        for (i, want) in [(0, 6), (1, 6), (2, 3), (4, 6), (5, 3), (7, 6), (13, 6), (14, 6), (15, 6)] {
            assert_eq!(get(&format!("model.layers.{i}.mlp.down_proj.weight")), Some(want), "layer {i}");
            assert_eq!(get(&format!("model.layers.{i}.self_attn.v_proj.weight")), Some(want), "layer {i}");
            assert_eq!(get(&format!("model.layers.{i}.self_attn.q_proj.weight")), Some(3));
        }
        assert_eq!(get("lm_head.weight"), Some(6));
        assert_eq!(get("model.embed_tokens.weight"), Some(3));
        assert_eq!(get("model.norm.weight"), None);
        let block = config_block(&o, &ts, &cs);
        assert_eq!(block["model.layers.0.mlp.down_proj"], json!({"group_size": 64, "bits": 6, "mode": "affine"}));
        // Without a group size mlx-lm records null in the entries.
        let o = QuantOptions::new(None, None, None, Some("mixed_3_6"), &[], None).unwrap();
        let cs = select(&ts, None, &o).unwrap();
        assert_eq!(config_block(&o, &ts, &cs)["lm_head"], json!({"group_size": null, "bits": 6, "mode": "affine"}));
    }

    #[test]
    fn rules_first_match_wins_and_shapes_are_checked() {
        let ts = llama(2);
        let rules = vec![r"layers\.0\.mlp=skip".to_string(), r"mlp=bits:8".to_string(), r"lm_head$=bits:6,group:32".to_string()];
        let o = QuantOptions::new(None, None, None, None, &rules, None).unwrap();
        let cs = select(&ts, None, &o).unwrap();
        let get = |n: &str| &cs[ts.iter().position(|t| t.name == n).unwrap()];
        assert!(matches!(get("model.layers.0.mlp.up_proj.weight"), Choice::Float { why: Some(_) }));
        assert_eq!(bits(get("model.layers.1.mlp.up_proj.weight")), Some(8));
        assert_eq!(bits(get("model.layers.1.self_attn.q_proj.weight")), Some(4));
        assert!(matches!(get("lm_head.weight"), Choice::Quantize { spec: Spec { bits: 6, group_size: 32, .. }, .. }));
        // Not divisible by the global group size: left float, as mlx-lm does.
        let odd = vec![t("a.weight", &[8, 96]), t("b.conv.weight", &[8, 3, 64])];
        let cs = select(&odd, None, &QuantOptions::new(None, None, None, None, &[], None).unwrap()).unwrap();
        assert!(matches!(&cs[0], Choice::Float { why: Some(w) } if w.contains("does not divide")));
        assert_eq!(cs[1], Choice::Float { why: None });
        // A rule asking for a group the layer cannot take is an error.
        let o = QuantOptions::new(Some("affine"), None, Some(32), None, &["a=group:128".into()], None).unwrap();
        assert!(select(&odd, None, &o).unwrap_err().to_string().contains("'a.weight': last dimension 96"));
        // A recipe on a model without down_proj.
        let o = QuantOptions::new(None, None, None, Some("mixed_4_6"), &[], None).unwrap();
        assert!(select(&odd, None, &o).unwrap_err().to_string().contains("down_proj"));
    }

    #[test]
    fn moe_router_gates_at_eight_bits() {
        let ts = vec![t("model.layers.0.mlp.gate.weight", &[64, 128]), t("model.layers.0.mlp.switch_mlp.up_proj.weight", &[64, 256, 128])];
        let o = QuantOptions::new(None, None, None, None, &[], None).unwrap();
        let cs = select(&ts, Some(&json!({"model_type": "qwen3_moe"})), &o).unwrap();
        assert_eq!(bits(&cs[0]), Some(8));
        assert_eq!(bits(&cs[1]), Some(4));
        let block = config_block(&o, &ts, &cs);
        assert_eq!(Value::Object(block), json!({"group_size": 64, "bits": 4, "mode": "affine", "model.layers.0.mlp.gate": {"group_size": 64, "bits": 8}}));
    }
}
