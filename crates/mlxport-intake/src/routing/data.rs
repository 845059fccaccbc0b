//! The routing knowledge as data: families, traits, hybrid profiles,
//! class-name tokens and reference implementations, embedded from
//! `data/*.toml` and parsed once into lookup tables.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::patterns::SegmentMatcher;
use super::tokens;

const FAMILIES_TOML: &str = include_str!("../../data/families.toml");
const PROFILES_TOML: &str = include_str!("../../data/profiles.toml");
const REFERENCES_TOML: &str = include_str!("../../data/references.toml");

/// One architecture family: what it is, how to recognise it, and what a
/// port of it must carry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Runbook id, `runbook/<family>`.
    pub runbook: String,
    /// Traits every model of the family has.
    pub traits: Vec<String>,
    /// Traits whose signals the family accounts for without owning them.
    #[serde(default)]
    pub explains: Vec<String>,
    /// State and cache contract in one paragraph.
    pub state: String,
    /// Families that may appear beside this one as secondary parts.
    #[serde(default)]
    pub secondary_ok: Vec<String>,
    /// Nearest proven MLX implementation, `package:module`, or empty.
    pub closest: String,
    #[serde(default)]
    pub model_types: Vec<String>,
    /// Exact class names from `architectures`.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// GGUF `general.architecture` values.
    #[serde(default)]
    pub gguf: Vec<String>,
    /// diffusers `_class_name` values (pipelines and components).
    #[serde(default)]
    pub diffusers: Vec<String>,
    /// Hub `library_name` values.
    #[serde(default)]
    pub library_names: Vec<String>,
}

/// A run-time trait and the config keys and tensor-name patterns that
/// reveal it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TraitDef {
    pub id: String,
    pub description: String,
    /// The family this trait's signals point to, if any.
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub config_keys: Vec<String>,
    #[serde(default)]
    pub weak_config_keys: Vec<String>,
    #[serde(default)]
    pub tensors: Vec<String>,
    #[serde(default)]
    pub weak_tensors: Vec<String>,
}

/// A hybrid profile: a model that is several families at once.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub primary: String,
    pub secondary: Vec<String>,
    pub traits: Vec<String>,
    #[serde(default)]
    pub model_types: Vec<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub gguf: Vec<String>,
    /// At least one of these traits must be detected for an identity match.
    #[serde(default)]
    pub requires_traits: Vec<String>,
    /// Combination profile: primary family first, then required secondaries.
    #[serde(default)]
    pub when_families: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A weak hint from whole CamelCase tokens of a class name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClassToken {
    /// Space-separated token sequence, e.g. `For Causal LM`.
    pub tokens: String,
    #[serde(default)]
    pub at_end: bool,
    pub families: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FamiliesFile {
    schema: u32,
    family: Vec<Family>,
    #[serde(rename = "trait")]
    traits: Vec<TraitDef>,
    class_token: Vec<ClassToken>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    schema: u32,
    profile: Vec<Profile>,
}

/// Snapshot of a reference package's model modules.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageModules {
    pub version: String,
    pub modules: Vec<String>,
    /// Non-model modules in the same folder (mlx-lm only).
    #[serde(default)]
    pub helpers: Vec<String>,
    /// The package's own model_type remapping table.
    #[serde(default)]
    pub remap: BTreeMap<String, String>,
    /// Explicit model_type -> module table (mlx-audio only).
    #[serde(default)]
    pub models: BTreeMap<String, String>,
}

/// The reference implementations the routing result names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceData {
    pub mlx_lm: PackageModules,
    pub mlx_vlm: PackageModules,
    pub mlx_audio: PackageModules,
    /// GGUF `general.architecture` -> Hugging Face model_type.
    pub gguf_model_types: BTreeMap<String, String>,
}

/// Signal strength, fixed by the kind of signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strength {
    Medium,
    Weak,
}

/// One config-key or tensor pattern of a trait.
#[derive(Debug, Clone)]
pub(crate) struct TraitPattern {
    pub trait_idx: usize,
    pub strength: Strength,
    pub text: String,
}

/// Parsed class-token hint.
#[derive(Debug, Clone)]
pub(crate) struct TokenHint {
    pub tokens: Vec<String>,
    pub at_end: bool,
    pub families: Vec<usize>,
}

/// Everything routing needs, parsed and indexed once.
pub(crate) struct Kb {
    pub families: Vec<Family>,
    pub traits: Vec<TraitDef>,
    pub profiles: Vec<Profile>,
    pub class_tokens: Vec<ClassToken>,
    pub references: ReferenceData,
    pub family_idx: HashMap<String, usize>,
    pub trait_idx: HashMap<String, usize>,
    pub by_model_type: HashMap<String, usize>,
    pub by_architecture: HashMap<String, usize>,
    pub by_gguf: HashMap<String, usize>,
    pub by_diffusers: HashMap<String, usize>,
    pub by_library: HashMap<String, usize>,
    pub token_hints: Vec<TokenHint>,
    pub config_patterns: Vec<TraitPattern>,
    pub config_matcher: SegmentMatcher,
    pub tensor_patterns: Vec<TraitPattern>,
    pub tensor_matcher: SegmentMatcher,
    pub lm_modules: HashSet<String>,
    pub vlm_modules: HashSet<String>,
}

static KB: OnceLock<Kb> = OnceLock::new();

/// The parsed knowledge base. The data is compiled in and checked by the
/// tests, so a parse failure is a build defect, not an input error.
pub(crate) fn kb() -> &'static Kb {
    KB.get_or_init(|| build().unwrap_or_else(|e| panic!("embedded routing data is invalid: {e}")))
}

fn index(map: &mut HashMap<String, usize>, key: &str, fam: usize, what: &str) -> Result<(), String> {
    if let Some(prev) = map.insert(key.to_string(), fam) {
        if prev != fam {
            return Err(format!("{what} {key:?} is listed in two families"));
        }
    }
    Ok(())
}

fn build() -> Result<Kb, String> {
    let ff: FamiliesFile = toml::from_str(FAMILIES_TOML).map_err(|e| format!("families.toml: {e}"))?;
    let pf: ProfilesFile = toml::from_str(PROFILES_TOML).map_err(|e| format!("profiles.toml: {e}"))?;
    let references: ReferenceData = toml::from_str(REFERENCES_TOML).map_err(|e| format!("references.toml: {e}"))?;
    if ff.schema != 1 || pf.schema != 1 {
        return Err("unsupported routing data schema".into());
    }

    let mut family_idx = HashMap::new();
    for (i, f) in ff.family.iter().enumerate() {
        if family_idx.insert(f.id.clone(), i).is_some() {
            return Err(format!("family id {:?} is duplicated", f.id));
        }
    }
    let mut trait_idx = HashMap::new();
    for (i, t) in ff.traits.iter().enumerate() {
        if trait_idx.insert(t.id.clone(), i).is_some() {
            return Err(format!("trait id {:?} is duplicated", t.id));
        }
        if let Some(fam) = &t.family {
            if !family_idx.contains_key(fam) {
                return Err(format!("trait {:?} points to unknown family {fam:?}", t.id));
            }
        }
    }

    let (mut by_model_type, mut by_architecture, mut by_gguf, mut by_diffusers, mut by_library) =
        (HashMap::new(), HashMap::new(), HashMap::new(), HashMap::new(), HashMap::new());
    for (i, f) in ff.family.iter().enumerate() {
        for v in &f.model_types {
            index(&mut by_model_type, v, i, "model_type")?;
        }
        for v in &f.architectures {
            index(&mut by_architecture, v, i, "architecture")?;
        }
        for v in &f.gguf {
            index(&mut by_gguf, v, i, "GGUF architecture")?;
        }
        for v in &f.diffusers {
            index(&mut by_diffusers, v, i, "diffusers class")?;
        }
        for v in &f.library_names {
            index(&mut by_library, v, i, "library name")?;
        }
        for t in f.traits.iter().chain(&f.explains) {
            if !trait_idx.contains_key(t) {
                return Err(format!("family {:?} names unknown trait {t:?}", f.id));
            }
        }
        for s in &f.secondary_ok {
            if !family_idx.contains_key(s) {
                return Err(format!("family {:?} names unknown family {s:?}", f.id));
            }
        }
    }

    for p in &pf.profile {
        for fam in std::iter::once(&p.primary).chain(&p.secondary).chain(&p.when_families) {
            if !family_idx.contains_key(fam) {
                return Err(format!("profile {:?} names unknown family {fam:?}", p.id));
            }
        }
        for t in p.traits.iter().chain(&p.requires_traits) {
            if !trait_idx.contains_key(t) {
                return Err(format!("profile {:?} names unknown trait {t:?}", p.id));
            }
        }
    }

    let mut token_hints = Vec::new();
    for ct in &ff.class_token {
        let toks: Vec<String> = ct.tokens.split_whitespace().map(str::to_string).collect();
        if toks.is_empty() {
            return Err("empty class_token".into());
        }
        let families = ct
            .families
            .iter()
            .map(|f| family_idx.get(f).copied().ok_or_else(|| format!("class_token names unknown family {f:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        token_hints.push(TokenHint { tokens: toks, at_end: ct.at_end, families });
    }

    let mut config_patterns = Vec::new();
    let mut tensor_patterns = Vec::new();
    for (i, t) in ff.traits.iter().enumerate() {
        let push = |out: &mut Vec<TraitPattern>, list: &[String], strength| {
            out.extend(list.iter().map(|p| TraitPattern { trait_idx: i, strength, text: p.clone() }));
        };
        push(&mut config_patterns, &t.config_keys, Strength::Medium);
        push(&mut config_patterns, &t.weak_config_keys, Strength::Weak);
        push(&mut tensor_patterns, &t.tensors, Strength::Medium);
        push(&mut tensor_patterns, &t.weak_tensors, Strength::Weak);
    }
    let config_matcher = SegmentMatcher::new(config_patterns.iter().map(|p| p.text.as_str()))?;
    let tensor_matcher = SegmentMatcher::new(tensor_patterns.iter().map(|p| p.text.as_str()))?;

    // Class names in the tables must tokenize; catch typos such as spaces.
    for name in by_architecture.keys().chain(by_diffusers.keys()) {
        if tokens::class_tokens(name).is_empty() {
            return Err(format!("class name {name:?} has no tokens"));
        }
    }

    let lm_modules = references.mlx_lm.modules.iter().cloned().collect();
    let vlm_modules = references.mlx_vlm.modules.iter().cloned().collect();
    Ok(Kb {
        families: ff.family,
        traits: ff.traits,
        profiles: pf.profile,
        class_tokens: ff.class_token,
        references,
        family_idx,
        trait_idx,
        by_model_type,
        by_architecture,
        by_gguf,
        by_diffusers,
        by_library,
        token_hints,
        config_patterns,
        config_matcher,
        tensor_patterns,
        tensor_matcher,
        lm_modules,
        vlm_modules,
    })
}

impl Kb {
    /// The mlx-lm module that loads `model_type`, after mlx-lm's remapping.
    pub fn mlx_lm_module(&self, model_type: &str) -> Option<&str> {
        let m = self.references.mlx_lm.remap.get(model_type).map(String::as_str).unwrap_or(model_type);
        self.lm_modules.get(m).map(String::as_str)
    }

    /// The mlx-vlm module that loads `model_type`, after mlx-vlm's remapping.
    pub fn mlx_vlm_module(&self, model_type: &str) -> Option<&str> {
        let m = self.references.mlx_vlm.remap.get(model_type).map(String::as_str).unwrap_or(model_type);
        self.vlm_modules.get(m).map(String::as_str)
    }

    /// The mlx-audio module folder for `model_type` (`stt/whisper`).
    pub fn mlx_audio_module(&self, model_type: &str) -> Option<&str> {
        self.references.mlx_audio.models.get(model_type).map(String::as_str)
    }
}
