//! Routing: which of the 17 architecture families a model belongs to, from
//! static signals only.
//!
//! The knowledge lives in data (`data/families.toml`, `data/profiles.toml`,
//! `data/references.toml`), embedded in the binary and parsed once. [`route`]
//! weighs every signal it is given:
//!
//! | signal | strength |
//! |---|---|
//! | exact `model_type`, GGUF `general.architecture`, exact `architectures` class, diffusers `_class_name` | decisive |
//! | nested `text_config.model_type`, trait config keys, trait tensor-name patterns | medium |
//! | whole CamelCase tokens of class names (`For Causal LM`, `DiT`), `library_name`, sentence-transformers | weak |
//!
//! Nothing is matched by substring: model types and class names are looked
//! up exactly, class-name hints compare whole tokens, and tensor and config
//! patterns compare whole dotted segments. A model is given a family only
//! when the evidence supports it; two unrelated families with comparable
//! support leave the result ambiguous, and signals that disagree with the
//! chosen family are reported as conflicts.
//!
//! ```
//! use mlxport_intake::routing::{route, RoutingInput};
//!
//! let input = RoutingInput {
//!     model_type: Some("bert".into()),
//!     architectures: vec!["BertModel".into()],
//!     ..Default::default()
//! };
//! let r = route(&input);
//! assert_eq!(r.family.as_deref(), Some("encoder"));
//! assert_eq!(r.runbook.as_deref(), Some("runbook/encoder"));
//! ```

mod data;
mod patterns;
mod tokens;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub use data::{ClassToken, Family, PackageModules, Profile, ReferenceData, TraitDef};
pub use tokens::class_tokens;

use data::{kb, Kb, Strength};

/// Everything routing looks at. Build it from the files of a model; every
/// field may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingInput {
    /// `config.json` `model_type`.
    pub model_type: Option<String>,
    /// `config.json` `architectures`.
    pub architectures: Vec<String>,
    /// Dotted paths of the config keys present (`vision_config`,
    /// `text_config.num_local_experts`).
    pub config_keys: Vec<String>,
    /// Nested text model type (`text_config.model_type`).
    pub text_model_type: Option<String>,
    /// Tensor names from any weights file (may be tens of thousands).
    pub tensor_names: Vec<String>,
    /// GGUF `general.architecture`.
    pub gguf_architecture: Option<String>,
    /// diffusers `_class_name` values (model_index.json and components).
    pub diffusers_classes: Vec<String>,
    /// A sentence-transformers layout (modules.json) was found.
    pub sentence_transformers: bool,
    /// Hub `library_name` (README front matter).
    pub library_name: Option<String>,
}

/// How far to trust a routing result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    None,
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::None => "none",
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// One signal that pointed to a family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Which signal: `model_type`, `text_config.model_type`,
    /// `gguf.general.architecture`, `architectures`, `architectures.tokens`,
    /// `config_key`, `tensor_names`, `diffusers._class_name`,
    /// `library_name`, `sentence_transformers`.
    pub signal: String,
    /// The value seen (for tensors: the pattern, a count and an example).
    pub value: String,
    pub family: String,
    pub weight: u32,
    /// The trait the signal revealed, for config-key and tensor signals.
    #[serde(rename = "trait", skip_serializing_if = "Option::is_none")]
    pub trait_id: Option<String>,
    /// An exact model_type, GGUF, class-name or diffusers match.
    pub decisive: bool,
}

/// The reference MLX implementations for the model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct References {
    /// mlx-lm module that loads this model_type (after mlx-lm's remapping).
    pub mlx_lm: Option<String>,
    /// mlx-vlm module that loads this model_type.
    pub mlx_vlm: Option<String>,
    /// mlx-audio module folder (`stt/whisper`).
    pub mlx_audio: Option<String>,
    /// The family's nearest proven MLX implementation (`package:module`).
    pub closest: Option<String>,
}

/// The routing result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Routing {
    /// Primary family id; `None` when unknown or ambiguous.
    pub family: Option<String>,
    /// Further families the model also is (a VLM's MoE text decoder).
    pub secondary: Vec<String>,
    /// Hybrid profile id.
    pub profile: Option<String>,
    pub confidence: Confidence,
    pub evidence: Vec<Evidence>,
    /// Several unrelated families fit about equally well.
    pub ambiguous: bool,
    /// Signals that disagree with the chosen family, or with each other.
    pub conflicts: Vec<String>,
    pub traits: Vec<String>,
    /// Runbook id of the primary family.
    pub runbook: Option<String>,
    pub references: References,
    /// Signals that matched nothing known (an unknown model_type, ...).
    pub notes: Vec<String>,
}

/// The families, in data order.
pub fn families() -> &'static [Family] {
    &kb().families
}

/// The traits, in data order.
pub fn traits() -> &'static [TraitDef] {
    &kb().traits
}

/// The hybrid profiles, in data order.
pub fn profiles() -> &'static [Profile] {
    &kb().profiles
}

/// The class-name token hints, in data order.
pub fn class_token_hints() -> &'static [ClassToken] {
    &kb().class_tokens
}

/// The reference-package snapshots.
pub fn reference_data() -> &'static ReferenceData {
    &kb().references
}

/// The family a `model_type` belongs to, if known.
pub fn family_of_model_type(model_type: &str) -> Option<&'static Family> {
    let k = kb();
    k.by_model_type.get(model_type).map(|&i| &k.families[i])
}

/// Whether mlx-lm (the pinned version) has a module for `model_type`.
pub fn mlx_lm_implements(model_type: &str) -> bool {
    kb().mlx_lm_module(model_type).is_some()
}

/// The mlx-lm module for `model_type`, after mlx-lm's remapping.
pub fn mlx_lm_module(model_type: &str) -> Option<&'static str> {
    kb().mlx_lm_module(model_type)
}

/// The mlx-vlm module for `model_type`, after mlx-vlm's remapping.
pub fn mlx_vlm_module(model_type: &str) -> Option<&'static str> {
    kb().mlx_vlm_module(model_type)
}

/// The mlx-audio module folder for `model_type`.
pub fn mlx_audio_module(model_type: &str) -> Option<&'static str> {
    kb().mlx_audio_module(model_type)
}

/// Bounds for [`RoutingInput::from_config`].
const MAX_KEY_DEPTH: usize = 4;
const MAX_KEYS: usize = 20_000;
/// Nested configs whose `model_type` names the text model, in order.
const TEXT_CONFIG_KEYS: &[&str] = &["text_config", "llm_config", "language_config", "text_model"];

impl RoutingInput {
    /// Fill `model_type`, `architectures`, `text_model_type` and
    /// `config_keys` from a parsed `config.json`. Key paths stop at depth 4
    /// and 20,000 keys; arrays are not entered.
    pub fn from_config(config: &Value) -> RoutingInput {
        let mut input = RoutingInput::default();
        input.add_config(config);
        input
    }

    /// Add the signals of a parsed `config.json` to this input.
    pub fn add_config(&mut self, config: &Value) {
        let Some(obj) = config.as_object() else { return };
        if self.model_type.is_none() {
            self.model_type = obj.get("model_type").and_then(Value::as_str).map(str::to_string);
        }
        if let Some(archs) = obj.get("architectures").and_then(Value::as_array) {
            self.architectures.extend(archs.iter().filter_map(Value::as_str).map(str::to_string));
        }
        if self.text_model_type.is_none() {
            self.text_model_type = TEXT_CONFIG_KEYS.iter().find_map(|k| obj.get(*k)?.get("model_type")?.as_str()).map(str::to_string);
        }
        let mut path = String::new();
        collect_keys(config, &mut path, 0, &mut self.config_keys);
    }
}

fn collect_keys(v: &Value, path: &mut String, depth: usize, out: &mut Vec<String>) {
    let Some(obj) = v.as_object() else { return };
    if depth >= MAX_KEY_DEPTH {
        return;
    }
    for (k, child) in obj {
        if out.len() >= MAX_KEYS {
            return;
        }
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
        out.push(path.clone());
        collect_keys(child, path, depth + 1, out);
        path.truncate(len);
    }
}

/// Weights and caps per signal kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    ModelType,
    Gguf,
    Architecture,
    Diffusers,
    TextModelType,
    Config,
    Tensor,
    ClassToken,
    Library,
}

impl Kind {
    fn cap(self) -> u32 {
        match self {
            Kind::ModelType | Kind::Gguf | Kind::Diffusers => 10,
            Kind::Architecture => 9,
            Kind::TextModelType | Kind::Config | Kind::Tensor => MEDIUM,
            Kind::ClassToken | Kind::Library => 4,
        }
    }
    fn decisive(self) -> bool {
        matches!(self, Kind::ModelType | Kind::Gguf | Kind::Architecture | Kind::Diffusers)
    }
}

const MEDIUM: u32 = 6;
const WEAK: u32 = 2;
/// A family needs at least this much support to be chosen.
const THRESHOLD: u32 = MEDIUM;
/// Scores this close count as a tie between unrelated families.
const CLOSE: u32 = 3;
/// A trait counts as detected from this much trait evidence.
const TRAIT_DETECTED: u32 = 4;

struct Item {
    kind: Kind,
    ev: Evidence,
    fam: usize,
    trait_idx: Option<usize>,
}

/// Route a model to a family. Never panics on any input; work is linear in
/// the number of tensor names and config keys.
pub fn route(input: &RoutingInput) -> Routing {
    let k = kb();
    let mut notes = Vec::new();
    let mut c = Collector { k, items: Vec::new() };
    collect_exact(&mut c, input, &mut notes);
    collect_patterns(&mut c, input);
    let items = c.items;

    // Per-family score: the sum over signal kinds, each kind capped.
    let nf = k.families.len();
    let mut per_kind: BTreeMap<(usize, Kind), u32> = BTreeMap::new();
    for it in &items {
        *per_kind.entry((it.fam, it.kind)).or_default() += it.ev.weight;
    }
    let mut score = vec![0u32; nf];
    let mut decisive = vec![0u32; nf];
    let mut kinds = vec![0u32; nf];
    for (&(f, kind), &w) in &per_kind {
        let w = w.min(kind.cap());
        score[f] += w;
        kinds[f] += 1;
        if kind.decisive() {
            decisive[f] += w;
        }
    }

    // Detected traits: enough config/tensor evidence.
    let mut trait_weight = vec![0u32; k.traits.len()];
    for it in &items {
        if let Some(t) = it.trait_idx {
            trait_weight[t] += it.ev.weight;
        }
    }
    let detected: Vec<usize> = (0..k.traits.len()).filter(|&t| trait_weight[t] >= TRAIT_DETECTED).collect();

    let compatible = |a: usize, b: usize| {
        let (fa, fb) = (&k.families[a], &k.families[b]);
        fa.secondary_ok.contains(&fb.id) || fb.secondary_ok.contains(&fa.id)
    };
    let lists = |a: usize, b: usize| k.families[a].secondary_ok.contains(&k.families[b].id);

    let mut conflicts = Vec::new();
    let mut ambiguous = false;
    let mut profile: Option<&Profile> = None;
    let mut primary: Option<usize> = None;
    let mut had_decisive = false;

    // 1. An identity profile (with its required traits) decides.
    if let Some(p) = identity_profile(k, input, &detected) {
        primary = k.family_idx.get(&p.primary).copied();
        profile = Some(p);
        had_decisive = true;
    }

    // 2. Decisive signals.
    if primary.is_none() {
        let mut dec: Vec<usize> = (0..nf).filter(|&f| decisive[f] > 0).collect();
        dec.sort_by(|&a, &b| decisive[b].cmp(&decisive[a]).then(score[b].cmp(&score[a])).then(a.cmp(&b)));
        if let Some(&top) = dec.first() {
            had_decisive = true;
            // Prefer the container: a decisive family that lists the others.
            let container = dec.iter().copied().find(|&c| dec.iter().all(|&o| o == c || lists(c, o)));
            let top = container.unwrap_or(top);
            let clash: Vec<usize> = dec.iter().copied().filter(|&o| o != top && !compatible(top, o)).collect();
            if clash.is_empty() {
                primary = Some(top);
            } else {
                ambiguous = true;
                for o in std::iter::once(top).chain(clash) {
                    conflicts.push(format!("{} says {}", describe_decisive(&items, o), k.families[o].id));
                }
            }
        }
    }

    // 3. Otherwise the best supported family, if clearly ahead.
    if primary.is_none() && !ambiguous {
        let mut cand: Vec<usize> = (0..nf).filter(|&f| score[f] >= THRESHOLD).collect();
        cand.sort_by(|&a, &b| score[b].cmp(&score[a]).then(a.cmp(&b)));
        if let Some(&top) = cand.first() {
            let mut p = top;
            if let Some(&c) = cand.iter().find(|&&c| c != top && lists(c, top) && score[c] + CLOSE >= score[top]) {
                p = c;
            }
            let best = score[top];
            let rivals: Vec<usize> = cand.iter().copied().filter(|&o| o != p && !compatible(p, o) && score[o] + CLOSE >= best).collect();
            if rivals.is_empty() {
                primary = Some(p);
            } else {
                ambiguous = true;
                let mut names: Vec<String> = std::iter::once(p).chain(rivals).map(|f| format!("{} (score {})", k.families[f].id, score[f])).collect();
                names.sort();
                conflicts.push(format!("no decisive signal; comparable support for {}", names.join(", ")));
            }
        }
    }

    // Secondary families, explained traits and conflicts.
    let mut secondary: Vec<usize> = Vec::new();
    let mut traits_out: Vec<usize> = Vec::new();
    if let Some(p) = primary {
        let explained = |t: usize, secondary: &[usize], profile: Option<&Profile>| {
            let id = &k.traits[t].id;
            let fam_has = |f: usize| k.families[f].traits.contains(id) || k.families[f].explains.contains(id);
            fam_has(p) || secondary.iter().any(|&s| fam_has(s)) || profile.is_some_and(|pr| pr.traits.contains(id))
        };
        if let Some(pr) = profile {
            secondary.extend(pr.secondary.iter().filter_map(|s| k.family_idx.get(s).copied()));
        }
        for (f, &sc) in score.iter().enumerate() {
            if f != p && sc >= THRESHOLD && compatible(p, f) && !secondary.contains(&f) {
                secondary.push(f);
            }
        }
        // Combination profile when no identity profile matched.
        if profile.is_none() {
            // The most specific matching combination wins; ties go to file order.
            let mut best: Option<&Profile> = None;
            for pr in &k.profiles {
                let hit = pr.when_families.first() == Some(&k.families[p].id)
                    && pr.when_families[1..].iter().all(|w| secondary.iter().any(|&s| &k.families[s].id == w));
                if hit && best.is_none_or(|b| pr.when_families.len() > b.when_families.len()) {
                    best = Some(pr);
                }
            }
            profile = best;
        }
        for f in 0..nf {
            if f == p || secondary.contains(&f) {
                continue;
            }
            // Unexplained support for an unrelated family.
            let relevant: Vec<&Item> = items.iter().filter(|it| it.fam == f && it.trait_idx.is_none_or(|t| !explained(t, &secondary, profile))).collect();
            let support: u32 = {
                let mut by_kind: BTreeMap<Kind, u32> = BTreeMap::new();
                for it in &relevant {
                    *by_kind.entry(it.kind).or_default() += it.ev.weight;
                }
                by_kind.iter().map(|(kind, w)| (*w).min(kind.cap())).sum()
            };
            if support >= THRESHOLD {
                let what: Vec<String> =
                    relevant.iter().filter(|it| it.ev.weight >= MEDIUM || it.kind.decisive()).map(|it| format!("{} {}", it.ev.signal, it.ev.value)).collect();
                conflicts.push(format!(
                    "routed to {} but {} point to {}",
                    k.families[p].id,
                    if what.is_empty() { "weaker signals".to_string() } else { what.join("; ") },
                    k.families[f].id
                ));
            }
        }
        traits_out.extend(k.families[p].traits.iter().filter_map(|t| k.trait_idx.get(t).copied()));
        if let Some(pr) = profile {
            traits_out.extend(pr.traits.iter().filter_map(|t| k.trait_idx.get(t).copied()));
        }
    }
    traits_out.extend(detected.iter().copied());
    if input.sentence_transformers {
        traits_out.extend(k.trait_idx.get("sentence_embedding").copied());
    }
    traits_out.sort_unstable();
    traits_out.dedup();
    secondary.sort_unstable();
    secondary.dedup();

    let confidence = match primary {
        None => Confidence::None,
        Some(_) if !conflicts.is_empty() => Confidence::Low,
        Some(_) if had_decisive => Confidence::High,
        Some(p) if score[p] >= 2 * MEDIUM && kinds[p] >= 2 => Confidence::Medium,
        Some(_) => Confidence::Low,
    };

    let references = references(k, input, primary);
    if primary.is_none() && !ambiguous {
        if let Some(m) = &references.mlx_lm {
            notes.push(format!("no family is known for this model, but mlx-lm has a module {m:?} for its model_type"));
        }
    }
    let mut evidence: Vec<Evidence> = items.into_iter().map(|it| it.ev).collect();
    evidence.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.signal.cmp(&b.signal)).then_with(|| a.value.cmp(&b.value)));

    Routing {
        family: primary.map(|p| k.families[p].id.clone()),
        secondary: secondary.iter().map(|&s| k.families[s].id.clone()).collect(),
        profile: primary.and(profile).map(|p| p.id.clone()),
        confidence,
        evidence,
        ambiguous,
        conflicts,
        traits: traits_out.iter().map(|&t| k.traits[t].id.clone()).collect(),
        runbook: primary.map(|p| k.families[p].runbook.clone()),
        references,
        notes,
    }
}

fn describe_decisive(items: &[Item], fam: usize) -> String {
    let v: Vec<String> = items.iter().filter(|it| it.fam == fam && it.kind.decisive()).map(|it| format!("{} {:?}", it.ev.signal, it.ev.value)).collect();
    v.join(" and ")
}

/// Gathers evidence items.
struct Collector<'k> {
    k: &'k Kb,
    items: Vec<Item>,
}

impl Collector<'_> {
    fn add(&mut self, kind: Kind, signal: &str, value: &str, fam: usize, weight: u32, trait_idx: Option<usize>) {
        let k = self.k;
        self.items.push(Item {
            kind,
            fam,
            trait_idx,
            ev: Evidence {
                signal: signal.to_string(),
                value: value.to_string(),
                family: k.families[fam].id.clone(),
                weight,
                trait_id: trait_idx.map(|t| k.traits[t].id.clone()),
                decisive: kind.decisive(),
            },
        });
    }
}

/// Exact lookups: model types, GGUF, class names, diffusers, library.
fn collect_exact(c: &mut Collector, input: &RoutingInput, notes: &mut Vec<String>) {
    let k = c.k;
    if let Some(mt) = input.model_type.as_deref() {
        match k.by_model_type.get(mt) {
            Some(&f) => c.add(Kind::ModelType, "model_type", mt, f, Kind::ModelType.cap(), None),
            None => notes.push(format!("model_type {mt:?} is not a known model type")),
        }
    }
    if let Some(mt) = input.text_model_type.as_deref() {
        match k.by_model_type.get(mt) {
            Some(&f) => c.add(Kind::TextModelType, "text_config.model_type", mt, f, MEDIUM, None),
            None => notes.push(format!("text_config.model_type {mt:?} is not a known model type")),
        }
    }
    if let Some(g) = input.gguf_architecture.as_deref() {
        match k.by_gguf.get(g) {
            Some(&f) => c.add(Kind::Gguf, "gguf.general.architecture", g, f, Kind::Gguf.cap(), None),
            None => notes.push(format!("GGUF general.architecture {g:?} is not a known architecture")),
        }
    }
    for a in dedup(&input.architectures) {
        if let Some(&f) = k.by_architecture.get(a) {
            c.add(Kind::Architecture, "architectures", a, f, Kind::Architecture.cap(), None);
            continue;
        }
        let toks = tokens::class_tokens(a);
        let mut any = false;
        for hint in &k.token_hints {
            if tokens::contains_tokens(&toks, &hint.tokens, hint.at_end) {
                any = true;
                let value = format!("{a} (tokens {:?})", hint.tokens.join(" "));
                for &f in &hint.families {
                    c.add(Kind::ClassToken, "architectures.tokens", &value, f, WEAK, None);
                }
            }
        }
        if !any {
            notes.push(format!("architectures entry {a:?} is not a known class"));
        }
    }
    for class in dedup(&input.diffusers_classes) {
        match k.by_diffusers.get(class) {
            Some(&f) => c.add(Kind::Diffusers, "diffusers._class_name", class, f, Kind::Diffusers.cap(), None),
            None => notes.push(format!("diffusers class {class:?} is not known")),
        }
    }
    if let Some(lib) = input.library_name.as_deref() {
        if let Some(&f) = k.by_library.get(lib) {
            c.add(Kind::Library, "library_name", lib, f, 4, None);
        }
    }
    if input.sentence_transformers {
        if let Some(&f) = k.family_idx.get("encoder") {
            c.add(Kind::Library, "sentence_transformers", "modules.json", f, 4, None);
        }
    }
}

fn dedup(v: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s.as_str()) {
            out.push(s);
        }
    }
    out
}

/// Trait patterns over config keys and tensor names.
fn collect_patterns(c: &mut Collector, input: &RoutingInput) {
    let k = c.k;
    let (mut segs, mut seen) = (Vec::new(), Vec::new());

    let mut cfg_first: Vec<Option<&str>> = vec![None; k.config_patterns.len()];
    for key in &input.config_keys {
        k.config_matcher.scan(key, &mut segs, &mut seen, |p| {
            cfg_first[p].get_or_insert(key.as_str());
        });
    }
    for (p, first) in cfg_first.iter().enumerate() {
        let Some(key) = first else { continue };
        let pat = &k.config_patterns[p];
        let Some(fam) = trait_family(k, pat.trait_idx) else {
            continue;
        };
        let w = if pat.strength == Strength::Medium { MEDIUM } else { WEAK };
        c.add(Kind::Config, "config_key", key, fam, w, Some(pat.trait_idx));
    }

    let mut counts = vec![0usize; k.tensor_patterns.len()];
    let mut example: Vec<Option<&str>> = vec![None; k.tensor_patterns.len()];
    for name in &input.tensor_names {
        k.tensor_matcher.scan(name, &mut segs, &mut seen, |p| {
            counts[p] += 1;
            example[p].get_or_insert(name.as_str());
        });
    }
    for (p, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let pat = &k.tensor_patterns[p];
        let Some(fam) = trait_family(k, pat.trait_idx) else {
            continue;
        };
        let w = if pat.strength == Strength::Medium { MEDIUM } else { WEAK };
        let value = format!("{} ({n} tensor{}, e.g. {})", pat.text, if n == 1 { "" } else { "s" }, example[p].unwrap_or(""));
        c.add(Kind::Tensor, "tensor_names", &value, fam, w, Some(pat.trait_idx));
    }
}

fn trait_family(k: &Kb, t: usize) -> Option<usize> {
    k.traits[t].family.as_ref().and_then(|f| k.family_idx.get(f).copied())
}

fn identity_profile<'k>(k: &'k Kb, input: &RoutingInput, detected: &[usize]) -> Option<&'k Profile> {
    k.profiles.iter().find(|p| {
        if !p.when_families.is_empty() {
            return false;
        }
        let id = input.model_type.as_ref().is_some_and(|m| p.model_types.contains(m))
            || input.architectures.iter().any(|a| p.architectures.contains(a))
            || input.gguf_architecture.as_ref().is_some_and(|g| p.gguf.contains(g));
        let req = p.requires_traits.is_empty() || p.requires_traits.iter().any(|t| k.trait_idx.get(t).is_some_and(|i| detected.contains(i)));
        id && req
    })
}

fn references(k: &Kb, input: &RoutingInput, primary: Option<usize>) -> References {
    let gguf_mt = input.gguf_architecture.as_deref().and_then(|g| k.references.gguf_model_types.get(g)).map(String::as_str);
    let candidates: Vec<&str> = [input.model_type.as_deref(), gguf_mt, input.text_model_type.as_deref()].into_iter().flatten().collect();
    References {
        mlx_lm: candidates.iter().find_map(|m| k.mlx_lm_module(m)).map(str::to_string),
        mlx_vlm: candidates.iter().find_map(|m| k.mlx_vlm_module(m)).map(str::to_string),
        mlx_audio: candidates.iter().find_map(|m| k.mlx_audio_module(m)).map(str::to_string),
        closest: primary.map(|p| &k.families[p].closest).filter(|c| !c.is_empty()).cloned(),
    }
}
