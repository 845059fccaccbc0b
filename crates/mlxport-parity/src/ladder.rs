//! Parity ladders: an ordered list of rungs (inputs, embeddings, each
//! layer, final norm, logits, generated ids, cache-decode outputs), climbed
//! until the first rung that diverges.
//!
//! A ladder comes from a ladder file, from a capture manifest, or is
//! inferred from tensor names.
//!
//! Ladder file (`"schema": "mlxport.ladder/v1"`): rungs in order, each with
//! a name, the tensors it holds (names on side A), optionally its kind and
//! tolerances:
//!
//! ```json
//! {"schema": "mlxport.ladder/v1",
//!  "rungs": [
//!    {"name": "embeddings", "tensors": ["embeddings"]},
//!    {"name": "layer 0", "tensors": ["layers.0.out"], "rtol": 1e-4, "atol": 1e-5},
//!    {"name": "logits", "tensors": ["logits"], "kind": "logits", "cosine": 0.999}
//!  ]}
//! ```
//!
//! Capture manifest (`"schema": "mlxport.capture/v1"`): the tensors in the
//! order they were captured (`"tensors": ["name", ...]` or objects with a
//! `"name"`). Rungs follow that order, one per stage and layer.
//!
//! Inferred (`--ladder auto`): A's tensors classified by name and ordered
//! by stage, then layer number, then file order.
//!
//! Names are classified by their components (split at `.`, `/`, `_` is kept):
//! `inputs`/`input_ids`/`attention_mask`/`position_ids`/`pixel_values` as the
//! first component are inputs; `cache`/`decode` components are cache-decode;
//! `generated`/`output_ids`/`tokens`/`ids`/`sampled` are ids; `logits`/
//! `lm_head` logits; `final_norm`/`norm_f`/`ln_f`/`final_layernorm`/`norm` as
//! the last model-level component the final norm; `layers.N`/`layer.N`/
//! `blocks.N`/`block.N`/`h.N` layer N; `embed*`/`wte`/`tok_embeddings`
//! embeddings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tolerance::Overrides;

/// Where in the model a rung sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Inputs,
    Embeddings,
    Layer,
    FinalNorm,
    Logits,
    Ids,
    CacheDecode,
    Other,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Inputs => "inputs",
            Kind::Embeddings => "embeddings",
            Kind::Layer => "layer",
            Kind::FinalNorm => "final_norm",
            Kind::Logits => "logits",
            Kind::Ids => "ids",
            Kind::CacheDecode => "cache_decode",
            Kind::Other => "other",
        }
    }
}

/// Classify a tensor name: its kind and, for layers and decode steps, its
/// number.
pub fn classify(name: &str) -> (Kind, Option<u64>) {
    let lower = name.to_ascii_lowercase();
    let comps: Vec<&str> = lower.split(['.', '/']).filter(|c| !c.is_empty()).collect();
    let number_after = |keys: &[&str]| -> Option<u64> { comps.windows(2).find(|w| keys.contains(&w[0])).and_then(|w| w[1].parse().ok()) };
    let first = comps.first().copied().unwrap_or("");
    if matches!(first, "inputs" | "input" | "input_ids" | "attention_mask" | "position_ids" | "pixel_values" | "input_features") {
        return (Kind::Inputs, None);
    }
    if comps.iter().any(|c| c.contains("cache") || *c == "decode" || c.starts_with("decode_")) {
        let step = comps.iter().rev().find_map(|c| c.parse().ok());
        return (Kind::CacheDecode, step);
    }
    if comps.iter().any(|c| matches!(*c, "generated" | "generated_ids" | "output_ids" | "tokens" | "ids" | "sampled" | "sequences")) {
        return (Kind::Ids, None);
    }
    if comps.iter().any(|c| c.contains("logits") || *c == "lm_head") {
        return (Kind::Logits, None);
    }
    if let Some(n) = number_after(&["layers", "layer", "blocks", "block", "h"]) {
        return (Kind::Layer, Some(n));
    }
    if comps.iter().any(|c| matches!(*c, "final_norm" | "norm_f" | "ln_f" | "final_layernorm" | "final_layer_norm")) || comps.last() == Some(&"norm") {
        return (Kind::FinalNorm, None);
    }
    if comps.iter().any(|c| c.starts_with("embed") || *c == "wte" || *c == "tok_embeddings") {
        return (Kind::Embeddings, None);
    }
    (Kind::Other, None)
}

/// One rung as written in a ladder file (unknown keys are refused, so a
/// misspelt tolerance is an error rather than ignored).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RungSpec {
    pub name: String,
    pub tensors: Vec<String>,
    #[serde(default)]
    pub kind: Option<Kind>,
    #[serde(default)]
    pub layer: Option<u64>,
    #[serde(default)]
    pub atol: Option<f64>,
    #[serde(default)]
    pub rtol: Option<f64>,
    #[serde(default, alias = "cosine")]
    pub cosine_min: Option<f64>,
    #[serde(default)]
    pub ulp: Option<u64>,
    #[serde(default)]
    pub equal_nan: Option<bool>,
    #[serde(default, alias = "kl")]
    pub kl_max: Option<f64>,
    #[serde(default, alias = "top1")]
    pub top1_min: Option<f64>,
    #[serde(default, alias = "norm")]
    pub normwise: Option<bool>,
}

impl RungSpec {
    fn tolerance(&self) -> Overrides {
        Overrides {
            atol: self.atol,
            rtol: self.rtol,
            cosine_min: self.cosine_min,
            ulp: self.ulp,
            equal_nan: self.equal_nan,
            kl_max: self.kl_max,
            top1_min: self.top1_min,
            normwise: self.normwise,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LadderFile {
    schema: String,
    rungs: Vec<RungSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ManifestTensor {
    Name(String),
    Entry { name: String },
}

#[derive(Debug, Deserialize)]
struct Manifest {
    schema: String,
    tensors: Vec<ManifestTensor>,
}

/// A rung ready to climb.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rung {
    pub name: String,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<u64>,
    pub tensors: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    pub tolerance: Overrides,
}

fn is_default(o: &Overrides) -> bool {
    *o == Overrides::default()
}

/// The stack a tensor belongs to: an encoder-decoder's `encoder` or
/// `decoder`, a two-tower model's `vision` or `text`, as the first of
/// several name components (`encoder.layers.0`, `text.layers.0`), else none.
pub fn stack(name: &str) -> Option<&'static str> {
    let (head, rest) = name.split_once('.')?;
    if rest.is_empty() {
        return None;
    }
    match head {
        "encoder" => Some("encoder"),
        "decoder" => Some("decoder"),
        "vision" => Some("vision"),
        "text" => Some("text"),
        _ => None,
    }
}

/// Prefix of the isolated rung's outputs: `isolated.layers.3` is block 3
/// called on the source's input to it, compared with the source's
/// `layers.3`.
pub const ISOLATED: &str = "isolated.";

/// Prefix of the source inputs the isolated rung feeds to blocks (stored by
/// the oracle where a block's input is not the previous ladder tensor).
pub const BLOCK_INPUTS: &str = "block_inputs.";

/// Prefix of rung 8's tensors: `edges.<case>.<what>` (a batch, the long
/// input, one token, special tokens only), the same name on both sides.
pub const EDGES: &str = "edges.";

/// Whether a name belongs to the isolated rung (its outputs or its inputs)
/// or to the edges rung rather than to the full forward pass.
pub fn is_isolated(name: &str) -> bool {
    name.starts_with(ISOLATED) || name.starts_with(BLOCK_INPUTS) || name.starts_with(EDGES)
}

/// Rung 8's rungs, one per case in name order (`edge batch3` holding
/// `edges.batch3.hidden` and `edges.batch3.logits_last`).
pub fn edge_rungs(names: &[String]) -> Vec<Rung> {
    let mut out: Vec<Rung> = Vec::new();
    for n in names {
        let Some(rest) = n.strip_prefix(EDGES) else { continue };
        let case = rest.split('.').next().unwrap_or(rest);
        let name = format!("edge {case}");
        match out.iter_mut().find(|r| r.name == name) {
            Some(r) => r.tensors.push(n.clone()),
            None => out.push(Rung { name, kind: Kind::Other, layer: None, tensors: vec![n.clone()], tolerance: Overrides::default() }),
        }
    }
    out
}

/// The isolated rungs of a capture's names, one per block in name order:
/// `isolated layer 3` (`encoder isolated layer 3` for a stack) holding
/// `isolated.layers.3`, whose reference is `layers.3`.
pub fn isolated_rungs(names: &[String]) -> Vec<Rung> {
    names
        .iter()
        .filter_map(|n| {
            let block = n.strip_prefix(ISOLATED)?;
            let (Kind::Layer, Some(layer)) = classify(block) else { return None };
            let name = match stack(block) {
                Some(st) => format!("{st} isolated layer {layer}"),
                None => format!("isolated layer {layer}"),
            };
            Some(Rung { name, kind: Kind::Layer, layer: Some(layer), tensors: vec![n.clone()], tolerance: Overrides::default() })
        })
        .collect()
}

/// Rungs of consecutive-by-group tensor names: one per (stack, kind,
/// number), in the order the groups first appear. An encoder-decoder's
/// stacks get their own rungs (`encoder layer 0`, `decoder layer 0`).
/// The isolated rung's names ([`is_isolated`]) are left out: they are
/// compared under other names ([`isolated_rungs`]).
pub fn group(names: &[String]) -> Vec<Rung> {
    type Key = (Option<&'static str>, Kind, Option<u64>);
    let mut order: Vec<Key> = Vec::new();
    let mut members: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for n in names.iter().filter(|n| !is_isolated(n)) {
        let (k, num) = classify(n);
        let key = (stack(n), k, num);
        if !members.contains_key(&key) {
            order.push(key);
        }
        members.entry(key).or_default().push(n.clone());
    }
    order
        .into_iter()
        .map(|key| {
            let tensors = members.remove(&key).unwrap_or_default();
            let (st, kind, num) = key;
            let name = match (kind, num) {
                (Kind::Layer, Some(n)) => format!("layer {n}"),
                (Kind::CacheDecode, Some(n)) => format!("cache_decode {n}"),
                (Kind::Other, _) => tensors.first().cloned().unwrap_or_else(|| "other".into()),
                (k, _) => k.name().to_string(),
            };
            let name = match st {
                Some(s) if kind != Kind::Other => format!("{s} {name}"),
                _ => name,
            };
            Rung { name, kind, layer: num, tensors, tolerance: Overrides::default() }
        })
        .collect()
}

/// Infer a ladder from names in file order: classified, then ordered by
/// stage, number, and file order.
pub fn infer(names: &[String]) -> Vec<Rung> {
    let mut sorted: Vec<(usize, &String)> = names.iter().enumerate().collect();
    sorted.sort_by_key(|(i, n)| {
        let (k, num) = classify(n);
        (k, num.unwrap_or(0), *i)
    });
    let ordered: Vec<String> = sorted.into_iter().map(|(_, n)| n.clone()).collect();
    group(&ordered)
}

/// Read a ladder file or a capture manifest (told apart by `schema`); the
/// error is the rule the text breaks.
pub fn parse(text: &str) -> Result<Vec<Rung>, crate::Error> {
    parse_text(text).map_err(crate::Error::InvalidInput)
}

fn parse_text(text: &str) -> Result<Vec<Rung>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let schema = v.get("schema").and_then(|s| s.as_str()).unwrap_or("");
    match schema {
        "mlxport.ladder/v1" => {
            let f: LadderFile = serde_json::from_value(v).map_err(|e| format!("ladder: {e}"))?;
            if f.schema != "mlxport.ladder/v1" || f.rungs.is_empty() {
                return Err("ladder: no rungs".into());
            }
            let mut seen = std::collections::BTreeSet::new();
            f.rungs
                .into_iter()
                .map(|r| {
                    if r.tensors.is_empty() {
                        return Err(format!("ladder: rung '{}' names no tensors", r.name));
                    }
                    if !seen.insert(r.name.clone()) {
                        return Err(format!("ladder: rung '{}' appears twice", r.name));
                    }
                    let tolerance = r.tolerance();
                    tolerance.validate().map_err(|e| format!("ladder: rung '{}': {e}", r.name))?;
                    let (k, n) = classify(&r.tensors[0]);
                    Ok(Rung { kind: r.kind.unwrap_or(k), layer: r.layer.or(n), name: r.name, tensors: r.tensors, tolerance })
                })
                .collect()
        }
        "mlxport.capture/v1" => {
            let m: Manifest = serde_json::from_value(v).map_err(|e| format!("capture manifest: {e}"))?;
            let _ = m.schema;
            let names: Vec<String> = m
                .tensors
                .into_iter()
                .map(|t| match t {
                    ManifestTensor::Name(n) | ManifestTensor::Entry { name: n } => n,
                })
                .collect();
            if names.is_empty() {
                return Err("capture manifest: no tensors".into());
            }
            Ok(group(&names))
        }
        other => Err(format!("unknown schema '{other}': expected \"mlxport.ladder/v1\" or \"mlxport.capture/v1\"")),
    }
}

/// The atlas stage of a rung: the embeddings rung and the first layer rung
/// are the first layer; other layers are later layers; an isolated rung is
/// one block.
pub fn stage(rung: &Rung, first_layer: Option<u64>) -> &'static str {
    if rung.tensors.iter().any(|t| t.starts_with(ISOLATED)) {
        return "isolated_block";
    }
    if rung.tensors.iter().any(|t| t.starts_with(EDGES)) {
        return "edges";
    }
    match rung.kind {
        Kind::Inputs => "inputs",
        Kind::Embeddings => "first_layer",
        Kind::Layer if rung.layer == first_layer => "first_layer",
        Kind::Layer => "later_layer",
        Kind::FinalNorm => "final_norm",
        Kind::Logits => "logits",
        Kind::Ids => "ids",
        Kind::CacheDecode => "cache_decode",
        Kind::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_decoder_stacks_get_their_own_rungs() {
        let names: Vec<String> = [
            "inputs.input_ids",
            "inputs.decoder_input_ids",
            "encoder.embeddings",
            "encoder.layers.0",
            "encoder.layers.1",
            "encoder.last_hidden_state",
            "decoder.embeddings",
            "decoder.layers.0",
            "decoder.final_norm",
            "logits",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let rungs = group(&names);
        let got: Vec<&str> = rungs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            got,
            [
                "inputs",
                "encoder embeddings",
                "encoder layer 0",
                "encoder layer 1",
                "encoder.last_hidden_state",
                "decoder embeddings",
                "decoder layer 0",
                "decoder final_norm",
                "logits"
            ]
        );
        assert_eq!(rungs[6].tensors, ["decoder.layers.0"]);
        assert_eq!((rungs[6].kind, rungs[6].layer), (Kind::Layer, Some(0)));
        assert_eq!(stack("decoder"), None);
        assert_eq!(stack("layers.0"), None);
    }

    #[test]
    fn isolated_names_are_their_own_rungs() {
        let names: Vec<String> =
            ["embeddings", "layers.0", "block_inputs.layers.0", "layers.1", "isolated.layers.0", "isolated.layers.1", "isolated.decoder.layers.0"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let full: Vec<String> = group(&names).into_iter().map(|r| r.name).collect();
        assert_eq!(full, ["embeddings", "layer 0", "layer 1"]);
        assert_eq!(infer(&names).len(), 3);
        let iso = isolated_rungs(&names);
        let got: Vec<(&str, Option<u64>, &str)> = iso.iter().map(|r| (r.name.as_str(), r.layer, r.tensors[0].as_str())).collect();
        assert_eq!(
            got,
            [
                ("isolated layer 0", Some(0), "isolated.layers.0"),
                ("isolated layer 1", Some(1), "isolated.layers.1"),
                ("decoder isolated layer 0", Some(0), "isolated.decoder.layers.0")
            ]
        );
        assert_eq!(stage(&iso[1], Some(0)), "isolated_block");
        let edges: Vec<String> = ["layers.0", "edges.batch3.hidden", "edges.batch3.logits_last", "edges.long.generated.ids", "edges.long.cache_decode.logits"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(group(&edges).len(), 1);
        let e = edge_rungs(&edges);
        let got: Vec<(&str, usize)> = e.iter().map(|r| (r.name.as_str(), r.tensors.len())).collect();
        assert_eq!(got, [("edge batch3", 2), ("edge long", 2)]);
        assert_eq!(stage(&e[1], Some(0)), "edges");
    }

    #[test]
    fn names_classify() {
        for (n, k, num) in [
            ("inputs/input_ids", Kind::Inputs, None),
            ("input_ids", Kind::Inputs, None),
            ("embeddings", Kind::Embeddings, None),
            ("model.embed_tokens", Kind::Embeddings, None),
            ("layers.3", Kind::Layer, Some(3)),
            ("model.layers.12.mlp.out", Kind::Layer, Some(12)),
            ("blocks/7/attn", Kind::Layer, Some(7)),
            ("transformer.h.2.out", Kind::Layer, Some(2)),
            ("layers.0.input_layernorm", Kind::Layer, Some(0)),
            ("final_norm", Kind::FinalNorm, None),
            ("model.norm", Kind::FinalNorm, None),
            ("logits", Kind::Logits, None),
            ("lm_head", Kind::Logits, None),
            ("generated/ids", Kind::Ids, None),
            ("tokens", Kind::Ids, None),
            ("cache_decode.1.logits", Kind::CacheDecode, Some(1)),
            ("decode/step.2", Kind::CacheDecode, Some(2)),
            ("something_else", Kind::Other, None),
        ] {
            assert_eq!(classify(n), (k, num), "{n}");
        }
    }

    #[test]
    fn inferred_order_is_stage_then_layer() {
        let names: Vec<String> =
            ["logits", "layers.10", "layers.2", "embeddings", "ids", "final_norm", "inputs/input_ids", "layers.2.attn"].iter().map(|s| s.to_string()).collect();
        let rungs = infer(&names);
        let got: Vec<&str> = rungs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(got, ["inputs", "embeddings", "layer 2", "layer 10", "final_norm", "logits", "ids"]);
        assert_eq!(rungs[2].tensors, ["layers.2", "layers.2.attn"]);
    }

    #[test]
    fn ladder_and_manifest_files() {
        let l = parse(
            r#"{"schema":"mlxport.ladder/v1","rungs":[{"name":"e","tensors":["embeddings"]},{"name":"x","tensors":["blocks.4"],"rtol":1e-3,"cosine":0.99}]}"#,
        )
        .unwrap();
        assert_eq!((l[1].kind, l[1].layer, l[1].tolerance.rtol, l[1].tolerance.cosine_min), (Kind::Layer, Some(4), Some(1e-3), Some(0.99)));
        let m = parse(r#"{"schema":"mlxport.capture/v1","tensors":["embeddings",{"name":"layers.1"},"layers.0","logits"]}"#).unwrap();
        let got: Vec<&str> = m.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(got, ["embeddings", "layer 1", "layer 0", "logits"]);
        for bad in [
            "[]",
            r#"{"schema":"x"}"#,
            r#"{"schema":"mlxport.ladder/v1","rungs":[]}"#,
            r#"{"schema":"mlxport.ladder/v1","rungs":[{"name":"a","tensors":[]}]}"#,
            r#"{"schema":"mlxport.ladder/v1","rungs":[{"name":"a","tensors":["x"],"rtool":1}]}"#,
            r#"{"schema":"mlxport.ladder/v1","rungs":[{"name":"a","tensors":["x"],"atol":-1}]}"#,
            r#"{"schema":"mlxport.ladder/v1","rungs":[{"name":"a","tensors":["x"]},{"name":"a","tensors":["y"]}]}"#,
            r#"{"schema":"mlxport.capture/v1","tensors":[]}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
