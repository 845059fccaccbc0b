//! Recommendations (`mlxport recommend`): which techniques of the registry
//! apply to an inspected model, sorted into five buckets and ordered by the
//! optimization ladder.
//!
//! | bucket | rule |
//! |---|---|
//! | validated locally | a passing local benchmark receipt for this technique and this model fingerprint |
//! | validated by source and theory | an established technique whose effect on the chosen objective follows from its sources (`assured_for`) |
//! | benchmark required | an established technique whose gain must be measured here |
//! | experimental | a research candidate: explicit opt-in, never executed automatically |
//! | rejected | known to hurt; listed so nobody tries it |
//!
//! A technique applies when it serves the model's family (or every family),
//! the model has the traits it requires, and it serves the objective.
//! Numbers appear only when a receipt backs them; the memory-fit analysis is
//! always given.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::budget::{self, Budget, Target};
use crate::data::{Kb, Technique};
use crate::view::InspectionView;

/// Version of the recommendation JSON layout.
pub const RECOMMEND_SCHEMA: &str = "mlxport.recommendation/v1";
/// Receipt schemas accepted start with this.
pub const RECEIPT_SCHEMA_PREFIX: &str = "mlxport.receipt/";

/// The buckets, in output order: (id, title).
pub const BUCKETS: [(&str, &str); 5] = [
    ("validated-locally", "Validated locally (a passing local benchmark receipt exists)"),
    ("validated-by-source", "Validated by source and theory"),
    ("benchmark-required", "Benchmark required"),
    ("experimental", "Experimental (explicit opt-in, never executed automatically)"),
    ("rejected", "Rejected (known to hurt)"),
];

/// One measured number of a receipt.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Measurement {
    pub metric: String,
    #[serde(default)]
    pub unit: String,
    pub baseline: f64,
    pub candidate: f64,
}

/// The minimal benchmark receipt this crate reads: a JSON file whose
/// `schema` starts with `mlxport.receipt/`, naming the technique, the
/// model fingerprint, whether it passed (promotion and quality gate), the
/// hardware and the measurements.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Receipt {
    pub schema: String,
    pub technique: String,
    pub model_fingerprint: String,
    pub passed: bool,
    #[serde(default)]
    pub quality_gate: Option<String>,
    #[serde(default)]
    pub hardware: Option<String>,
    #[serde(default)]
    pub objective: Option<String>,
    #[serde(default)]
    pub measurements: Vec<Measurement>,
    /// File the receipt was read from.
    #[serde(skip_deserializing, default)]
    pub file: String,
}

impl Receipt {
    /// Counts as validation: passed, quality gate not failed.
    pub fn passing(&self) -> bool {
        self.passed && self.quality_gate.as_deref() != Some("fail")
    }
}

/// Receipts read from a directory, and the files that were not receipts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Receipts {
    pub receipts: Vec<Receipt>,
    pub skipped: Vec<String>,
}

/// Read every `*.json` file of `dir` (not recursive). Files that are not
/// receipts are listed in `skipped` with the reason, never fatal.
pub fn read_receipts(dir: &Path) -> crate::Result<Receipts> {
    let rd = std::fs::read_dir(dir).map_err(|e| crate::Error::io(dir, "cannot read receipts directory", e))?;
    let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file()).collect();
    paths.sort();
    let mut out = Receipts::default();
    for p in paths.into_iter().take(10_000) {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = match std::fs::metadata(&p) {
            Ok(m) if m.len() > 16 << 20 => {
                out.skipped.push(format!("{name}: larger than 16 MiB"));
                continue;
            }
            _ => std::fs::read_to_string(&p),
        };
        match text.map_err(|e| e.to_string()).and_then(|t| serde_json::from_str::<Receipt>(&t).map_err(|e| e.to_string())) {
            Ok(mut r) if r.schema.starts_with(RECEIPT_SCHEMA_PREFIX) => {
                r.file = name;
                out.receipts.push(r);
            }
            Ok(r) => out.skipped.push(format!("{name}: schema '{}' is not a receipt", r.schema)),
            Err(e) => out.skipped.push(format!("{name}: {e}")),
        }
    }
    Ok(out)
}

/// A source as printed with a recommendation.
#[derive(Debug, Clone, Serialize)]
pub struct SourceRef {
    pub id: String,
    pub url: String,
    pub pin: String,
}

/// One recommended (or rejected) technique.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub category: String,
    pub status: String,
    pub ladder: String,
    pub ladder_step: usize,
    pub api: String,
    /// May a tool apply it without an explicit opt-in?
    pub executable: bool,
    pub requires_opt_in: bool,
    pub why: String,
    pub prerequisites: Vec<String>,
    pub risks: Vec<String>,
    pub sources: Vec<SourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub id: String,
    pub title: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub schema: &'static str,
    /// The workload asked for, or `inference` (every workload but fine-tuning).
    pub workload: String,
    pub model: String,
    pub fingerprint: String,
    pub family: Option<String>,
    pub traits: Vec<String>,
    pub objective: String,
    pub objective_from: String,
    pub fit: Budget,
    pub buckets: Vec<Bucket>,
    /// Techniques of the registry that do not apply (family, traits or
    /// objective), by count.
    pub not_applicable: usize,
    pub notes: Vec<String>,
}

impl Recommendation {
    pub fn bucket(&self, id: &str) -> &[Item] {
        self.buckets.iter().find(|b| b.id == id).map(|b| b.items.as_slice()).unwrap_or(&[])
    }
    /// Every listed item, all buckets.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.buckets.iter().flat_map(|b| b.items.iter())
    }
}

/// Options of a recommendation.
#[derive(Debug, Clone)]
pub struct RecommendOptions {
    pub target: Target,
    pub objective: Option<String>,
    /// Only techniques serving this workload; `None`: every inference
    /// workload (fine-tuning techniques need `fine-tuning` asked for).
    pub workload: Option<String>,
    pub receipts: Vec<Receipt>,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        RecommendOptions { target: Target::FromInspection, objective: None, workload: None, receipts: Vec::new() }
    }
}

/// Facts a technique can require, besides the `config-key:<key>` (a key of
/// config.json or its text_config) and `model_type:<type>` forms.
pub const FACTS: [&str; 8] = ["tied", "gguf-source", "gguf-affine-blocks", "float-source", "sliding-window", "gqa", "exceeds-target", "adapter"];

const ROPE_KEYS: [&str; 8] =
    ["rope_theta", "rope_scaling", "rope_parameters", "rotary_dim", "rotary_pct", "partial_rotary_factor", "rotary_emb_base", "global_rope_theta"];

/// Whether a fact holds for the inspection; `None` for an unknown fact
/// name. `fit` answers `exceeds-target`.
pub fn fact(name: &str, i: &InspectionView, fit: Option<&Budget>) -> Option<bool> {
    let config = i.config("model").and_then(|c| c.value.as_ref());
    let has_key = |k: &str| config.is_some_and(|v| v.get(k).is_some() || v.get("text_config").and_then(|t| t.get(k)).is_some());
    let gguf = i.tensors.files.iter().any(|f| f.primary && f.format == "gguf");
    Some(match name {
        "tied" => i.tensors.tying.tied,
        "gguf-source" => gguf,
        "gguf-affine-blocks" => {
            gguf && i.quantization.as_ref().is_some_and(|q| q.types.keys().all(|t| matches!(t.as_str(), "F32" | "F16" | "BF16" | "Q4_0" | "Q4_1" | "Q8_0")))
        }
        "float-source" => i.quantization.is_none(),
        "sliding-window" => i.facts.sliding_window.is_some(),
        "adapter" => i.configs.iter().any(|c| c.kind == "adapter"),
        "gqa" => matches!((i.facts.num_key_value_heads, i.facts.num_attention_heads), (Some(k), Some(h)) if k < h),
        "exceeds-target" => fit.is_some_and(|b| !matches!(b.best_fit.as_deref(), Some("f32") | Some("bf16"))),
        // Rotary positions: stated by the config, or a GGUF decoder (whose
        // hyperparameters live in metadata the report does not carry).
        "rope" => ROPE_KEYS.iter().any(|k| has_key(k)) || (config.is_none() && gguf && i.has_trait("causal_attention")),
        _ => {
            if let Some(k) = name.strip_prefix("config-key:") {
                has_key(k)
            } else if let Some(t) = name.strip_prefix("model_type:") {
                i.facts.model_type.as_deref() == Some(t)
            } else {
                return None;
            }
        }
    })
}

/// Whether a fact name is known (for the integrity checker).
pub fn known_fact(name: &str) -> bool {
    FACTS.contains(&name)
        || name == "rope"
        || name.strip_prefix("config-key:").is_some_and(|k| !k.is_empty())
        || name.strip_prefix("model_type:").is_some_and(|k| !k.is_empty())
}

/// Whether a technique serves this model: family, traits and facts.
pub fn applies_with_fit(t: &Technique, i: &InspectionView, fit: Option<&Budget>) -> bool {
    applies(t, i) && t.requires_facts.iter().all(|f| fact(f, i, fit) == Some(true))
}

/// Whether a technique serves this model (family and traits only).
pub fn applies(t: &Technique, i: &InspectionView) -> bool {
    let fams: Vec<&str> = i.routing.family.iter().map(String::as_str).chain(i.routing.secondary.iter().map(String::as_str)).collect();
    let family_ok = t.families.iter().any(|f| f == "*" || fams.contains(&f.as_str()));
    family_ok
        && t.requires_traits.iter().all(|r| i.has_trait(r))
        && (t.requires_any.is_empty() || t.requires_any.iter().any(|r| i.has_trait(r)))
        && !t.excludes_traits.iter().any(|r| i.has_trait(r))
}

/// The objective used when none is given.
pub fn default_objective(kb: &Kb, i: &InspectionView) -> (String, String) {
    if let Some(rb) = i.routing.family.as_deref().and_then(|f| kb.runbook_for_family(f)) {
        return (rb.default_objective.clone(), format!("default for {}", rb.id));
    }
    let generative = i.has_trait("kv_cache") || i.has_trait("recurrent_state");
    ((if generative { "decode-throughput" } else { "prefill-throughput" }).to_string(), "default".into())
}

/// Build the recommendation.
pub fn recommend(kb: &Kb, i: &InspectionView, opts: &RecommendOptions) -> Recommendation {
    let (objective, objective_from) = match &opts.objective {
        Some(o) => (o.clone(), "--objective".to_string()),
        None => default_objective(kb, i),
    };
    let fit = budget::budget(i, &opts.target);
    let mut buckets: Vec<Bucket> = BUCKETS.iter().map(|(id, title)| Bucket { id: id.to_string(), title: title.to_string(), items: Vec::new() }).collect();
    let mut not_applicable = 0;
    for t in &kb.techniques {
        let workload_ok = match &opts.workload {
            Some(w) => t.workloads.contains(w),
            None => t.workloads.iter().any(|w| w != "fine-tuning"),
        };
        if !workload_ok || !applies_with_fit(t, i, Some(&fit)) || !t.objectives.contains(&objective) {
            not_applicable += 1;
            continue;
        }
        let receipt = opts.receipts.iter().find(|r| r.technique == t.id && r.model_fingerprint == i.model.fingerprint && r.passing()).cloned();
        let (bucket, why) = match t.status.as_str() {
            "rejected" => ("rejected", format!("rejected: {}", t.summary)),
            "research-candidate" => (
                "experimental",
                "research candidate: not implemented in MLX or its official projects; try only with explicit opt-in and a quality gate".to_string(),
            ),
            _ if receipt.is_some() => {
                let r = receipt.as_ref().map(|r| r.file.clone()).unwrap_or_default();
                ("validated-locally", format!("a passing local receipt ({r}) backs it on this model"))
            }
            _ if t.assured_for.contains(&objective) => {
                ("validated-by-source", format!("its effect on {objective} follows from its sources; no benchmark needed to know the direction"))
            }
            _ => ("benchmark-required", format!("may help {objective}; measure it on this model and machine before keeping it")),
        };
        let item = Item {
            id: t.id.clone(),
            name: t.name.clone(),
            category: t.category.clone(),
            status: t.status.clone(),
            ladder: t.ladder.clone(),
            ladder_step: kb.ladder_index(&t.ladder) + 1,
            api: t.api.clone(),
            executable: t.executable(),
            requires_opt_in: t.status == "research-candidate",
            why,
            prerequisites: t.prerequisites.clone(),
            risks: t.risks.clone(),
            sources: t.sources.iter().filter_map(|s| kb.source(s)).map(|s| SourceRef { id: s.id.clone(), url: s.url.clone(), pin: s.pin() }).collect(),
            receipt,
        };
        if let Some(b) = buckets.iter_mut().find(|b| b.id == bucket) {
            b.items.push(item);
        }
    }
    for b in &mut buckets {
        // Stable: data order within a ladder step.
        b.items.sort_by_key(|it| it.ladder_step);
    }
    let mut notes = Vec::new();
    if !i.blockers.is_empty() {
        notes.push(format!("the inspection has {} blocker(s): resolve them (mlxport plan) before optimising", i.blockers.len()));
    }
    if i.routing.family.is_none() {
        notes.push("no family: only family-independent techniques are listed".into());
    }
    if opts.receipts.is_empty() {
        notes.push("no local receipts given (--receipts DIR): nothing is validated locally, and no speed numbers are quoted".into());
    }
    if let Some(best) = &fit.best_fit {
        if best.starts_with('q') {
            notes.push(format!("the model only fits the target from {best} down: weight quantization is required, not optional"));
        }
    } else if !fit.precisions.is_empty() {
        notes.push("the model does not fit the target even at 4 bits: consider sharding across machines, a smaller model, or a larger target".into());
    }
    Recommendation {
        schema: RECOMMEND_SCHEMA,
        workload: opts.workload.clone().unwrap_or_else(|| "inference".into()),
        model: i.model.name.clone(),
        fingerprint: i.model.fingerprint.clone(),
        family: i.routing.family.clone(),
        traits: i.routing.traits.clone(),
        objective,
        objective_from,
        fit,
        buckets,
        not_applicable,
        notes,
    }
}

/// Terminal text for a recommendation.
pub fn to_text(r: &Recommendation) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{} ({}), objective {} ({}), workload {}\n",
        r.model,
        r.family.as_deref().unwrap_or("no family"),
        r.objective,
        r.objective_from,
        r.workload
    ));
    s.push_str(&format!(
        "\nMemory fit: target {}{} from {}, usable {}\n",
        r.fit.target_name.as_deref().map(|n| format!("{n}, ")).unwrap_or_default(),
        budget::gb(r.fit.memory_bytes),
        r.fit.target_from,
        budget::gb(r.fit.usable_bytes)
    ));
    for p in &r.fit.precisions {
        s.push_str(&format!(
            "  {:<5} {:>10} weights, {:>10} with cache  {}\n",
            p.precision,
            budget::gb(p.weight_bytes),
            budget::gb(p.total_bytes),
            if p.fits { "fits" } else { "too big" }
        ));
    }
    s.push_str(&format!("  verdict: {}\n", r.fit.verdict));
    for b in &r.buckets {
        s.push_str(&format!("\n{} — {}\n", b.title, b.items.len()));
        for it in &b.items {
            s.push_str(&format!("  [{:>2}] {:<32} {} ({})\n", it.ladder_step, it.id, it.name, it.status));
            s.push_str(&format!("       api: {}\n       why: {}\n", it.api, it.why));
            if let Some(rc) = &it.receipt {
                for m in &rc.measurements {
                    s.push_str(&format!(
                        "       measured: {} {} -> {} {}{}\n",
                        m.metric,
                        m.baseline,
                        m.candidate,
                        m.unit,
                        rc.hardware.as_ref().map(|h| format!(" on {h}")).unwrap_or_default()
                    ));
                }
            }
            if !it.executable {
                s.push_str("       not executable automatically\n");
            }
        }
    }
    for n in &r.notes {
        s.push_str(&format!("\nnote: {n}"));
    }
    s.push('\n');
    s
}
