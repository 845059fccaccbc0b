//! Family-aware draft maps: `mlxport map draft`.
//!
//! What a draft knows, by family and target (see `docs/weight-map.md`):
//! - Hugging Face dense and MoE decoders -> mlx-lm: names kept (mlx-lm uses
//!   the Hugging Face module tree), `rotary_emb.inv_freq` categorized
//!   generated, `lm_head.weight` categorized shared when the embeddings are
//!   tied, per-expert MoE weights stacked to `[E, out, in]` under
//!   `switch_mlp` (Mixtral's `w1/w2/w3` become `gate/down/up_proj`).
//! - Encoders (BERT, MiniLM, ...) -> scaffold: names kept as Hugging Face
//!   spells them (the scaffold mirrors the transformers module tree),
//!   `position_ids` / `token_type_ids` buffers categorized generated.
//! - Every family: convolution weights from PyTorch layout (`[out, in, k]`,
//!   `[out, in, kh, kw]`) to MLX layout (`[out, k, in]`, `[out, kh, kw, in]`):
//!   rank-3 weights of `conv` modules, and every rank-4 weight.
//! - Image models -> scaffold: the backbone prefix of a task model
//!   (`vit.`, `dinov2.`: the config's model type) dropped.
//! - GGUF llama-family files: llama.cpp names -> Hugging Face / mlx-lm
//!   names, the Q/K RoPE permutation undone.
//!
//! Anything the drafter does not recognise is listed as unresolved, never
//! guessed. Shapes and dtypes are filled in from the source, through the
//! transforms, wherever every layer agrees.

use std::collections::BTreeMap;

use mlxport_intake::routing::{self, RoutingInput};
use mlxport_tensor::{Format, TensorInfo, TensorSource};
use serde_json::Value;

use crate::gguf_names;
use crate::map::{Category, OneOrMany, Rule, SourceDesc, TargetDesc, Unmapped, Unresolved, WeightMap};
use crate::pattern::{generalize, Pattern};
use crate::plan::plan;
use crate::transform::Transform;
use crate::{Error, Result};

/// Options for [`draft`].
#[derive(Clone, Debug, Default)]
pub struct DraftOptions {
    /// Family id (`dense-decoder`, `moe-decoder`, `encoder`, ...); default:
    /// the routing of the source.
    pub family: Option<String>,
    /// `mlx-lm` or `scaffold`; default: `mlx-lm` when mlx-lm implements the
    /// model type, else `scaffold`.
    pub target: Option<String>,
    /// The model's `config.json`, if it has one.
    pub config: Option<Value>,
}

/// A draft and how it was decided.
#[derive(Clone, Debug)]
pub struct Draft {
    pub map: WeightMap,
    pub family: String,
    pub target: String,
    /// The family came from routing (not from the caller).
    pub routed: bool,
}

/// A drafted rule before shapes are filled in.
struct Proto {
    source: String,
    target: String,
    transforms: Vec<Transform>,
    note: Option<String>,
}

/// Build a draft map for `src`.
pub fn draft(src: &dyn TensorSource, opts: &DraftOptions) -> Result<Draft> {
    let tensors = src.tensors();
    let meta: BTreeMap<String, String> = if src.format() == Format::Gguf { src.metadata().into_iter().collect() } else { BTreeMap::new() };
    let gguf_arch = meta.get("general.architecture").map(|s| s.trim_matches('"').to_string());
    let config = opts.config.clone().unwrap_or(Value::Null);

    let mut input = if config.is_object() { RoutingInput::from_config(&config) } else { RoutingInput::default() };
    input.tensor_names = tensors.iter().map(|t| t.name.clone()).collect();
    input.gguf_architecture = gguf_arch.clone();
    let routed = routing::route(&input);
    let (family, was_routed) = match (&opts.family, &routed.family) {
        (Some(f), _) => (f.clone(), false),
        (None, Some(f)) => (f.clone(), true),
        (None, None) => {
            return Err(Error::Usage(
                "the source's family could not be determined from its files; pass --family (dense-decoder, moe-decoder, encoder, ...)".into(),
            ))
        }
    };
    if routing::families().iter().all(|f| f.id != family) {
        let ids: Vec<&str> = routing::families().iter().map(|f| f.id.as_str()).collect();
        return Err(Error::Usage(format!("unknown family '{family}'; known: {}", ids.join(", "))));
    }
    let model_type = config.get("model_type").and_then(Value::as_str).map(str::to_string).or_else(|| gguf_arch.as_deref().map(gguf_model_type));
    let mlx_lm_ok = model_type.as_deref().is_some_and(routing::mlx_lm_implements);
    let target = match opts.target.as_deref() {
        Some(t @ ("mlx-lm" | "scaffold" | "mlx-vlm")) => t.to_string(),
        Some(t) => return Err(Error::Usage(format!("unknown target '{t}'; use mlx-lm, scaffold or mlx-vlm"))),
        None if mlx_lm_ok => "mlx-lm".into(),
        None => "scaffold".into(),
    };
    if target == "mlx-vlm" && family != "vision-language" {
        return Err(Error::Usage(format!("--target mlx-vlm drafts vision-language models; this one is a {family}")));
    }
    if target == "mlx-lm" && !mlx_lm_ok {
        return Err(Error::Usage(format!(
            "mlx-lm has no model for model_type '{}'; draft for --target scaffold instead",
            model_type.as_deref().unwrap_or("unknown")
        )));
    }

    let mut map = WeightMap::new(&target);
    map.source = SourceDesc {
        format: Some(src.format().name().into()),
        family: Some(family.clone()),
        model_type: config.get("model_type").and_then(Value::as_str).map(str::to_string),
        gguf_architecture: gguf_arch.clone(),
        tensors: Some(tensors.len() as u64),
        parameters: Some(tensors.iter().map(|t| t.numel()).sum()),
    };
    map.target = TargetDesc { layout: target.clone(), model_type: model_type.clone() };

    let mut protos: Vec<Proto> = Vec::new();
    if let Some(arch) = &gguf_arch {
        draft_gguf(arch, tensors, &meta, &mut map, &mut protos);
    } else {
        draft_hf(&family, &target, tensors, &config, &mut map, &mut protos);
    }
    // Conv weights: PyTorch layout -> MLX layout. A pattern whose tensors
    // mix convolution kernels and other weights (ConvNeXt's
    // `downsampling_layer.{i}.weight`: a LayerNorm, then a convolution) is
    // split into one rule per tensor.
    if gguf_arch.is_none() {
        let mut split: Vec<Proto> = Vec::new();
        for p in protos {
            let Ok(pat) = Pattern::new(&p.source) else {
                split.push(p);
                continue;
            };
            let matched: Vec<&TensorInfo> = tensors.iter().filter(|t| pat.matches(&t.name).is_some()).collect();
            let conv = |t: &TensorInfo| is_conv_weight(&t.name, &t.shape);
            let renames = p.transforms.iter().all(|t| matches!(t, Transform::Rename));
            if !renames || matched.is_empty() || !matched.iter().any(|t| conv(t)) {
                split.push(p);
            } else if matched.iter().all(|t| conv(t)) {
                split.push(conv_proto(p, matched[0].shape.len()));
            } else {
                for t in matched {
                    let target = match (pat.matches(&t.name), Pattern::new(&p.target)) {
                        (Some(b), Ok(tp)) => tp.fill(&b).unwrap_or_else(|| t.name.clone()),
                        _ => t.name.clone(),
                    };
                    let one = Proto { source: t.name.clone(), target, transforms: p.transforms.clone(), note: p.note.clone() };
                    split.push(if conv(t) { conv_proto(one, t.shape.len()) } else { one });
                }
            }
        }
        protos = split;
    }
    map.rules = protos
        .into_iter()
        .map(|p| Rule {
            source: OneOrMany::One(p.source),
            target: OneOrMany::One(p.target),
            source_shapes: None,
            target_shapes: None,
            source_dtype: None,
            target_dtype: None,
            transforms: p.transforms,
            note: p.note,
        })
        .collect();
    if target == "scaffold" && gguf_arch.is_none() {
        split_fused(&config, &mut map);
    }
    fill_shapes(&mut map, tensors);
    Ok(Draft { map, family, target, routed: was_routed })
}

/// The `config.json` of a model directory, or beside a weights file.
pub fn config_beside(model: &std::path::Path) -> Result<Option<Value>> {
    let dir = if model.is_dir() { model.to_path_buf() } else { model.parent().map(|p| p.to_path_buf()).unwrap_or_default() };
    let path = dir.join("config.json");
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| Error::map(&path, format!("not valid JSON: {e}"))),
        Err(_) => Ok(None),
    }
}

/// mlx-lm's model_type for a GGUF architecture.
fn gguf_model_type(arch: &str) -> String {
    match arch {
        "qwen2moe" => "qwen2_moe".into(),
        "qwen3moe" => "qwen3_moe".into(),
        other => other.into(),
    }
}

/// The rule of a convolution kernel: transposed from PyTorch's layout.
fn conv_proto(mut p: Proto, rank: usize) -> Proto {
    p.transforms = vec![Transform::Transpose { perm: if rank == 3 { vec![0, 2, 1] } else { vec![0, 2, 3, 1] } }];
    p.note = Some("convolution weight: PyTorch [out, in, k...] to MLX [out, k..., in]".into());
    p
}

/// A convolution kernel: a rank-3 weight of a module named `conv...`, or
/// a rank-4 weight (2-D convolutions: a ViT's patch `projection`, a
/// ResNet's `convolution`) that is not a per-channel parameter stored for
/// broadcasting (ConvNeXt V2's `grn.weight`, `[1, 1, 1, C]`).
fn is_conv_weight(name: &str, shape: &[u64]) -> bool {
    let broadcast = shape.len() == 4 && shape[..3].iter().all(|d| *d == 1);
    name.ends_with(".weight") && (shape.len() == 4 && !broadcast || shape.len() == 3 && name.split('.').any(|seg| seg.contains("conv")))
}

/// Add a proto unless one with the same source pattern exists.
fn push_proto(protos: &mut Vec<Proto>, p: Proto) {
    if !protos.iter().any(|q| q.source == p.source) {
        protos.push(p);
    }
}

fn push_unmapped(map: &mut WeightMap, source: String, category: Category, reason: &str, shared_with: Option<String>) {
    if !map.unmapped.iter().any(|u| u.source == source) {
        map.unmapped.push(Unmapped { source, category, reason: reason.into(), shared_with });
    }
}

fn draft_hf(family: &str, target: &str, tensors: &[TensorInfo], config: &Value, map: &mut WeightMap, protos: &mut Vec<Proto>) {
    let names: std::collections::HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let embed = ["model.embed_tokens.weight", "transformer.wte.weight", "model.decoder.embed_tokens.weight", "embed_tokens.weight"]
        .into_iter()
        .find(|n| names.contains(n));
    let decoder = matches!(family, "dense-decoder" | "moe-decoder" | "vision-language" | "ssm-hybrid");
    let tied = match config.get("tie_word_embeddings").and_then(Value::as_bool) {
        Some(t) => t,
        None => decoder && !names.contains("lm_head.weight"),
    };
    // Both targets load the experts stacked (mlx-lm's SwitchGLU and the
    // scaffold's moe.py share the layout).
    let stack_experts = family == "moe-decoder";
    for t in tensors {
        let name = t.name.as_str();
        let pat = generalize(name);
        if name.ends_with("rotary_emb.inv_freq") {
            push_unmapped(map, pat, Category::Generated, "rotary frequencies; recomputed from rope_theta at load", None);
            continue;
        }
        if family == "encoder" && (name.ends_with("embeddings.position_ids") || name.ends_with("embeddings.token_type_ids")) {
            push_unmapped(map, pat, Category::Generated, "index buffer (arange); recomputed by the model", None);
            continue;
        }
        if name.ends_with(".num_batches_tracked") {
            push_unmapped(map, pat, Category::Generated, "batch norm's training counter; not used at inference", None);
            continue;
        }
        if name.ends_with(".attn.masked_bias") || (name.ends_with(".attn.bias") && t.shape.len() == 4) {
            push_unmapped(map, pat, Category::Generated, "causal-mask buffer; recomputed by the model", None);
            continue;
        }
        // Vision-language models -> scaffold or mlx-vlm: both trees are the
        // llava checkpoints' own (`vision_tower.vision_model.`,
        // `multi_modal_projector.`, `language_model.model.`,
        // `language_model.lm_head`), whichever of transformers' layouts the
        // source was saved in.
        if family == "vision-language" && (target == "scaffold" || target == "mlx-vlm") {
            if let Some((to, note)) = llava_name(&pat) {
                push_proto(protos, Proto { source: pat.clone(), target: to, transforms: vec![Transform::Rename], note: note.map(str::to_string) });
                continue;
            }
        }
        if name == "lm_head.weight" && tied && decoder {
            match embed {
                Some(e) => push_unmapped(map, pat, Category::Shared, "the output head is tied to the input embeddings (tie_word_embeddings)", Some(e.into())),
                None => push_proto(
                    protos,
                    Proto {
                        source: pat,
                        target: "model.embed_tokens.weight".into(),
                        transforms: vec![Transform::Rename],
                        note: Some("tied embeddings stored under the head's name only".into()),
                    },
                ),
            }
            continue;
        }
        if stack_experts && name.contains(".experts.") {
            match expert_stack(name) {
                Some(p) => push_proto(protos, p),
                // Fused expert tensors (`experts.gate_up_proj`) and unknown
                // expert projections: their layout is not known here.
                None => map.unresolved.push(Unresolved {
                    source: name.into(),
                    shape: Some(t.shape.clone()),
                    dtype: Some(t.encoding.name().into()),
                    reason: "expert tensor of an unknown layout (fused or unfamiliar projection); mlx-lm expects per-projection [E, out, in] stacks".into(),
                }),
            }
            continue;
        }
        if target == "mlx-lm" {
            if let Some((to, transforms, note)) = mlx_lm_name(config.get("model_type").and_then(Value::as_str).unwrap_or(""), &pat, t.shape.len()) {
                push_proto(protos, Proto { source: pat, target: to, transforms, note: Some(note.into()) });
                continue;
            }
        }
        // Image models -> scaffold: a task model keeps its backbone under
        // the model type (`vit.`, `dinov2.`); the package's tree starts at
        // the backbone, its heads (`classifier`) at the top.
        if family == "vision" && target == "scaffold" {
            let prefix = format!("{}.", config.get("model_type").and_then(Value::as_str).unwrap_or(""));
            if let Some(rest) = pat.strip_prefix(prefix.as_str()).filter(|_| prefix.len() > 1) {
                let note = Some(format!("the task model's backbone prefix '{prefix}' dropped: the package's tree starts at the backbone"));
                push_proto(protos, Proto { source: pat.clone(), target: rest.to_string(), transforms: vec![Transform::Rename], note });
                continue;
            }
        }
        push_proto(protos, Proto { source: pat.clone(), target: pat, transforms: vec![Transform::Rename], note: None });
    }
    if !tied && decoder && embed.is_some() && !names.contains("lm_head.weight") && target == "mlx-lm" {
        map.notes.push("config.json says the embeddings are not tied but the source has no lm_head.weight".into());
    }
}

/// A llava weight's name in the package's tree (the original llava
/// layout), and a note where it was renamed; `None` for names outside the
/// three parts.
fn llava_name(pattern: &str) -> Option<(String, Option<&'static str>)> {
    let renamed = Some("renamed from transformers' in-memory layout to the llava checkpoint layout the package loads");
    let p = pattern
        .strip_prefix("model.")
        .filter(|r| r.starts_with("vision_tower.") || r.starts_with("language_model.") || r.starts_with("multi_modal_projector."));
    let (rest, moved) = match p {
        Some(r) => (r, true),
        None if pattern == "lm_head.weight" => return Some(("language_model.lm_head.weight".into(), renamed)),
        None => (pattern, false),
    };
    if let Some(t) = rest.strip_prefix("vision_tower.") {
        if t.starts_with("vision_model.") {
            return Some((rest.to_string(), if moved { renamed } else { None }));
        }
        return Some((format!("vision_tower.vision_model.{t}"), Some("the image tower's module under vision_model., as the package (and mlx-vlm) load it")));
    }
    if let Some(t) = rest.strip_prefix("language_model.").filter(|_| moved) {
        return Some((format!("language_model.model.{t}"), renamed));
    }
    (rest.starts_with("language_model.") || rest.starts_with("multi_modal_projector.")).then(|| (rest.to_string(), if moved { renamed } else { None }))
}

/// The mlx-lm name of a weight for the model types whose mlx-lm module
/// tree is not the Hugging Face one: the name (and layout) mlx-lm's model
/// holds after its own `sanitize`, so that sanitize has nothing left to
/// do. `None`: the Hugging Face name is mlx-lm's.
fn mlx_lm_name(model_type: &str, pattern: &str, rank: usize) -> Option<(String, Vec<Transform>, &'static str)> {
    match model_type {
        // mlx-lm's gpt2 keeps its blocks under `model.` (not
        // `transformer.`) and its projections as Linear ([out, in]), where
        // the checkpoint holds GPT-2's Conv1D ([in, out]).
        "gpt2" => {
            let rest = pattern.strip_prefix("transformer.").unwrap_or(pattern);
            let conv1d =
                rank == 2 && [".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"].iter().any(|s| rest.ends_with(s));
            let (transforms, note) = if conv1d {
                (vec![Transform::Transpose { perm: vec![1, 0] }], "GPT-2's Conv1D weight [in, out] as mlx-lm's Linear [out, in], under mlx-lm's model.")
            } else {
                (vec![Transform::Rename], "under mlx-lm's model. (GPT-2's transformer.)")
            };
            Some((format!("model.{rest}"), transforms, note))
        }
        _ => None,
    }
}

/// `P.experts.{e}.N.weight` -> `P.switch_mlp.N'.weight`, stacked.
fn expert_stack(name: &str) -> Option<Proto> {
    let (prefix, rest) = name.split_once(".experts.")?;
    let (idx, tail) = rest.split_once('.')?;
    if idx.parse::<u64>().is_err() || !tail.ends_with(".weight") && !tail.ends_with(".bias") && !tail.ends_with(".scales") && !tail.ends_with(".biases") {
        return None;
    }
    let (proj, kind) = tail.split_once('.')?;
    let new = match proj {
        "w1" => "gate_proj",
        "w2" => "down_proj",
        "w3" => "up_proj",
        "gate_proj" | "up_proj" | "down_proj" => proj,
        _ => return None,
    };
    let gp = generalize(prefix);
    Some(Proto {
        source: format!("{gp}.experts.{{e}}.{proj}.{kind}"),
        target: format!("{gp}.switch_mlp.{new}.{kind}"),
        transforms: vec![Transform::Stack { axis: 0 }],
        note: Some("experts stacked to [E, out, in] (mlx-lm's SwitchGLU layout, also the scaffold's)".into()),
    })
}

fn draft_gguf(arch: &str, tensors: &[TensorInfo], meta: &BTreeMap<String, String>, map: &mut WeightMap, protos: &mut Vec<Proto>) {
    let get = |k: &str| meta.get(&format!("{arch}.{k}")).and_then(|v| v.trim().parse::<u64>().ok());
    let heads = get("attention.head_count");
    let kv_heads = get("attention.head_count_kv").or(heads);
    if !gguf_names::ARCHITECTURES.contains(&arch) {
        map.notes.push(format!("GGUF architecture '{arch}' has no name table; every tensor is unresolved"));
    }
    let table: Vec<(Pattern, gguf_names::GgufName)> = if gguf_names::ARCHITECTURES.contains(&arch) {
        gguf_names::table(arch).into_iter().filter_map(|g| Pattern::new(g.gguf).ok().map(|p| (p, g))).collect()
    } else {
        Vec::new()
    };
    let permute = gguf_names::permutes_qk(arch);
    for t in tensors {
        if let Some(reason) = gguf_names::generated(&t.name) {
            push_unmapped(map, generalize(&t.name), Category::Generated, reason, None);
            continue;
        }
        let Some((_, g)) = table.iter().find(|(p, _)| p.matches(&t.name).is_some()) else {
            map.unresolved.push(Unresolved {
                source: t.name.clone(),
                shape: Some(t.shape.clone()),
                dtype: Some(t.encoding.name().into()),
                reason: format!("no Hugging Face name known for this {arch} tensor"),
            });
            continue;
        };
        let mut transforms = vec![Transform::Rename];
        let mut note = None;
        if let (Some(rope), true) = (g.rope, permute) {
            let n = match rope {
                gguf_names::Rope::Q => heads,
                gguf_names::Rope::K => kv_heads,
            };
            match n {
                Some(n) => {
                    transforms = vec![Transform::UnpermuteRope { heads: n }];
                    note = Some(format!("undo llama.cpp's RoPE row permutation ({n} heads)"));
                }
                None => {
                    map.unresolved.push(Unresolved {
                        source: t.name.clone(),
                        shape: Some(t.shape.clone()),
                        dtype: Some(t.encoding.name().into()),
                        reason: format!("{arch}.attention.head_count is missing: the Q/K permutation cannot be undone"),
                    });
                    continue;
                }
            }
        }
        push_proto(protos, Proto { source: g.gguf.to_string(), target: g.hf.clone(), transforms, note });
    }
    if !tensors.iter().any(|t| t.name == "output.weight") {
        map.notes.push("no output.weight: the output head is tied to token_embd (tie_word_embeddings)".into());
    }
}

/// A fused projection: its name, the parts it splits into, their sizes.
type Fused = (&'static str, Vec<&'static str>, Option<Vec<u64>>);

/// Scaffold target: fused projections split into the separate ones the
/// generated package declares. Phi-3 stores `qkv_proj` (rows: queries, then
/// keys, then values) and `gate_up_proj` (rows: gate, then up); mlx-lm keeps
/// them fused, so only the scaffold layout splits them. Sizes come from the
/// config; without them the tensor is left unresolved rather than guessed.
fn split_fused(config: &Value, map: &mut WeightMap) {
    let get = |k: &str| config.get(k).and_then(Value::as_u64);
    let heads = get("num_attention_heads");
    let kv = get("num_key_value_heads").or(heads);
    let head_dim = get("head_dim").or_else(|| Some(get("hidden_size")? / heads?));
    let inter = get("intermediate_size");
    let mut rules = Vec::new();
    for rule in std::mem::take(&mut map.rules) {
        let src = match &rule.source {
            OneOrMany::One(s) => s.clone(),
            OneOrMany::Many(_) => {
                rules.push(rule);
                continue;
            }
        };
        let fused: Option<Fused> = if src.ends_with(".self_attn.qkv_proj.weight") || src.ends_with(".self_attn.qkv_proj.bias") {
            let sizes = match (heads, kv, head_dim) {
                (Some(h), Some(k), Some(d)) => Some(vec![h * d, k * d, k * d]),
                _ => None,
            };
            Some(("qkv_proj", vec!["q_proj", "k_proj", "v_proj"], sizes))
        } else if src.ends_with(".mlp.gate_up_proj.weight") || src.ends_with(".mlp.gate_up_proj.bias") {
            Some(("gate_up_proj", vec!["gate_proj", "up_proj"], inter.map(|i| vec![i, i])))
        } else {
            None
        };
        let Some((name, parts, sizes)) = fused else {
            rules.push(rule);
            continue;
        };
        let Some(sizes) = sizes else {
            map.unresolved.push(Unresolved {
                source: src.clone(),
                shape: None,
                dtype: None,
                reason: format!(
                    "fused {name}: the split sizes need num_attention_heads, num_key_value_heads, head_dim/hidden_size and intermediate_size in config.json"
                ),
            });
            continue;
        };
        let targets = parts.iter().map(|p| src.replacen(&format!(".{name}."), &format!(".{p}."), 1)).collect();
        rules.push(Rule {
            target: OneOrMany::Many(targets),
            transforms: vec![Transform::Split { axis: 0, sizes: sizes.clone() }],
            note: Some(format!("fused {name} split into {} along the output rows {sizes:?}", parts.join(", "))),
            ..rule
        });
    }
    map.rules = rules;
}

/// Fill declared shapes and dtypes from the source where every job of a
/// rule agrees.
fn fill_shapes(map: &mut WeightMap, tensors: &[TensorInfo]) {
    let p = plan(map, tensors, None);
    let by_name: BTreeMap<&str, &TensorInfo> = tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    for (ri, rule) in map.rules.iter_mut().enumerate() {
        let jobs: Vec<_> = p.jobs.iter().filter(|j| j.rule == ri).collect();
        let Some(first) = jobs.first() else { continue };
        let npat = rule.source.to_vec().len();
        // Source shapes per pattern: with one pattern, every input shares it.
        if npat == 1 {
            let shapes: Vec<&Vec<u64>> = jobs.iter().flat_map(|j| j.inputs.iter().map(|n| &by_name[n.as_str()].shape)).collect();
            if shapes.windows(2).all(|w| w[0] == w[1]) {
                rule.source_shapes = Some(vec![Some(shapes[0].clone())]);
            }
            let dtypes: Vec<String> = jobs.iter().flat_map(|j| j.inputs.iter().map(|n| by_name[n.as_str()].encoding.name().to_string())).collect();
            if dtypes.windows(2).all(|w| w[0] == w[1]) {
                rule.source_dtype = dtypes.first().cloned();
            }
        }
        if jobs.iter().all(|j| j.shapes == first.shapes) {
            rule.target_shapes = Some(first.shapes.iter().cloned().map(Some).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::llava_name;

    #[test]
    fn llava_names_in_every_transformers_layout_reach_the_package_tree() {
        let to = |p: &str| llava_name(p).map(|(t, _)| t);
        // transformers 5 in memory.
        assert_eq!(to("model.language_model.layers.{i}.mlp.up_proj.weight").as_deref(), Some("language_model.model.layers.{i}.mlp.up_proj.weight"));
        assert_eq!(to("lm_head.weight").as_deref(), Some("language_model.lm_head.weight"));
        assert_eq!(to("model.vision_tower.embeddings.class_embedding").as_deref(), Some("vision_tower.vision_model.embeddings.class_embedding"));
        assert_eq!(to("model.multi_modal_projector.linear_1.bias").as_deref(), Some("multi_modal_projector.linear_1.bias"));
        // The llava checkpoints' own layout, as it is.
        assert_eq!(to("language_model.model.norm.weight").as_deref(), Some("language_model.model.norm.weight"));
        assert_eq!(to("language_model.lm_head.weight").as_deref(), Some("language_model.lm_head.weight"));
        assert_eq!(to("vision_tower.vision_model.post_layernorm.bias").as_deref(), Some("vision_tower.vision_model.post_layernorm.bias"));
        // transformers 5 on disk: the tower without its vision_model.
        assert_eq!(
            to("vision_tower.encoder.layers.{i}.layer_norm1.weight").as_deref(),
            Some("vision_tower.vision_model.encoder.layers.{i}.layer_norm1.weight")
        );
        assert_eq!(to("image_newline"), None);
    }
}
