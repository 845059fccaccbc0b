//! Port plans (`mlxport plan`): what a port of one inspected model must do,
//! what it must prove, and what is still unknown.
//!
//! [`plan`] joins an inspection report with the family's runbook and the
//! parity ladder. Everything it states comes from the report or the
//! knowledge base; what neither says is listed under uncertainties rather
//! than guessed. A report with blockers yields a remediation-only plan:
//! one concrete remediation per blocker and nothing else to act on.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::budget::{self, Budget, Target};
use crate::data::{Fixtures, Kb, OBJECTIVES};
use crate::verify::Verification;
use crate::view::InspectionView;

/// Version of the plan JSON layout.
pub const PLAN_SCHEMA: &str = "mlxport.port-plan/v1";

/// Options of a plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub target: Target,
    /// One of [`OBJECTIVES`]; `None`: the runbook's default.
    pub objective: Option<String>,
    /// The result of re-verifying the report against the files, when done.
    pub verification: Option<Verification>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { target: Target::FromInspection, objective: None, verification: None }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanModel {
    pub name: String,
    pub kind: String,
    pub fingerprint: String,
    /// `verified against the files`, or why not.
    pub identity: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanFamily {
    pub id: String,
    pub name: String,
    pub runbook: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub secondary: Vec<String>,
    pub confidence: String,
    pub traits: Vec<String>,
    /// The family's state and cache contract.
    pub state: String,
    /// Whether the model carries state between steps, and what.
    pub carried_state: String,
    /// MLX implementations that load this model, or the closest reference.
    pub reference: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanSource {
    /// `Hugging Face / PyTorch (safetensors)`, `llama.cpp GGUF`, ...
    pub framework: String,
    pub formats: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    /// Custom code and remote-code findings (files never run).
    pub custom_ops: Vec<String>,
    pub weight_files: Vec<String>,
    pub shards: usize,
    pub adapters: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanWeights {
    pub parameters: u64,
    pub tensors: u64,
    pub bytes_by_dtype: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    pub tied: bool,
    pub tied_evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanLicense {
    pub spdx: Option<String>,
    pub class: String,
    pub redistribution: String,
    pub reason: String,
    pub requires_acceptance: bool,
    pub conditions: Vec<String>,
    /// Remote code, custom code, install hooks, pickles.
    pub code_risks: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanObjective {
    pub primary: String,
    pub chosen_by: String,
    pub meaning: String,
    pub quality_gate: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanRung {
    pub number: u32,
    pub id: String,
    pub name: String,
    pub checks: String,
    pub applies: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One blocker and the one thing to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Remediation {
    pub blocker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub problem: String,
    pub remediation: String,
}

/// A port plan. A blocked plan carries only the model and remediations.
#[derive(Debug, Clone, Serialize)]
pub struct PortPlan {
    pub schema: &'static str,
    /// `ready` (`mlxport port` can run it end to end), `manual` (the plan
    /// holds, but the port cannot finish this family: port it by hand) or
    /// `blocked`.
    pub status: String,
    pub model: PlanModel,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remediations: Vec<Remediation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<PlanFamily>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PlanSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<PlanWeights>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preprocessing: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<PlanLicense>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Budget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<PlanObjective>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uncertainties: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_first: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layout_traps: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixtures: Option<Fixtures>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parity_boundaries: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rungs: Vec<PlanRung>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_conditions: Vec<String>,
    /// Warnings from the inspection, kept in view.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A concrete remediation for a blocker the report left without one.
pub fn default_remediation(id: &str) -> &'static str {
    match id {
        "remote-code" => "remove auto_map from the configs and port the custom layers by hand from the source code (mlxport never runs model code)",
        "executable-pickle" | "unsafe-pickle" => "get the weights as safetensors from the publisher, or convert the pickle in an isolated sandbox with weights_only loading, then inspect the safetensors",
        "adapter-only" => "merge the adapter into its base model, or inspect the base model and port the adapter separately",
        "unknown-family" => "check the routing evidence and add the model_type to the routing data, or name the family explicitly",
        "no-weights" => "point mlxport at the directory or file that holds the weights",
        "invalid-weights" => "download the weights file again and compare its SHA-256 with the publisher's",
        "invalid-config" => "fix config.json so it is strict JSON with no duplicate keys, then inspect again",
        "unreadable-file" => "make sure nothing writes to the model while it is inspected, then inspect again",
        "too-many-files" => "point mlxport at the model's own directory, not a parent of many models",
        _ => "resolve the finding named by the inspection, then inspect again",
    }
}

fn meaning(objective: &str) -> &'static str {
    match objective {
        "decode-throughput" => "tokens (or frames) per second after the first, at batch one unless stated; bandwidth-bound on Apple silicon",
        "prefill-throughput" => "input tokens, samples or images processed per second in one pass; compute-bound",
        "ttft" => "time from request to the first output token, frame or image; prefill plus setup",
        "peak-memory" => "the highest resident memory during a request, weights and caches included",
        "quality" => "the task metric of the float port kept, at the cost of speed or memory if need be",
        _ => "",
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn framework_of(formats: &[String]) -> String {
    let names: Vec<&str> = formats
        .iter()
        .map(|f| match f.as_str() {
            "safetensors" => "Hugging Face / PyTorch (safetensors)",
            "gguf" => "llama.cpp (GGUF)",
            "pytorch" => "PyTorch checkpoint (pickle, read by the restricted unpickler)",
            "npz" | "npy" => "NumPy arrays",
            _ => "unknown",
        })
        .collect();
    if names.is_empty() {
        "unknown (no readable weights)".into()
    } else {
        names.join(" + ")
    }
}

/// Build the plan.
pub fn plan(kb: &Kb, i: &InspectionView, opts: &PlanOptions) -> PortPlan {
    let identity = match &opts.verification {
        Some(v) if v.ok() => "verified against the files (fingerprint recomputed, family and blockers re-derived)".to_string(),
        Some(v) => format!("NOT verified: {}", v.mismatches.join("; ")),
        None => "not re-verified (give --artifact-root to check the report against the files)".to_string(),
    };
    let model = PlanModel { name: i.model.name.clone(), kind: i.model.kind.clone(), fingerprint: i.model.fingerprint.clone(), identity };
    let mut p = PortPlan {
        schema: PLAN_SCHEMA,
        status: "ready".into(),
        model,
        remediations: Vec::new(),
        task: None,
        domain: None,
        family: None,
        source: None,
        weights: None,
        preprocessing: Vec::new(),
        license: None,
        target: None,
        objective: None,
        uncertainties: Vec::new(),
        port_first: Vec::new(),
        layout_traps: Vec::new(),
        fixtures: None,
        parity_boundaries: Vec::new(),
        transforms: Vec::new(),
        rungs: Vec::new(),
        stop_conditions: Vec::new(),
        warnings: Vec::new(),
    };
    if !i.blockers.is_empty() {
        p.status = "blocked".into();
        p.remediations = i
            .blockers
            .iter()
            .map(|b| Remediation {
                blocker: b.id.clone(),
                path: b.path.clone(),
                problem: b.message.clone(),
                remediation: b.remediation.clone().filter(|r| !r.trim().is_empty()).unwrap_or_else(|| default_remediation(&b.id).to_string()),
            })
            .collect();
        return p;
    }

    let family_id = i.routing.family.clone().unwrap_or_default();
    let family = mlxport_intake::routing::families().iter().find(|f| f.id == family_id);
    if !family_id.parse::<mlxport_contract::Family>().is_ok_and(|f| f.port_proves()) {
        p.status = "manual".into();
        p.remediations.push(Remediation {
            blocker: "family-not-automated".into(),
            path: None,
            problem: format!(
                "`mlxport port` proves {} models end to end; this model routes to {}",
                mlxport_contract::Family::proven_names().join(", "),
                if family_id.is_empty() { "no family" } else { family_id.as_str() }
            ),
            remediation: "port it by hand with this plan (its rungs, traps and stop conditions), convert the weights with `mlxport map draft` and `mlxport convert`, and prove each rung with `mlxport compare` on tensors captured from both sides".into(),
        });
    } else if family_id == "vision" || family_id == "vision-language" {
        // Image and vision-language models: only the types the templates implement.
        let mt = i.facts.model_type.clone().unwrap_or_default();
        let (missing, what, template) = if family_id == "vision" {
            (mlxport_contract::vision::missing_feature(&mt), "image models", "vision")
        } else {
            (mlxport_contract::vlm::missing_feature(&mt), "vision-language models", "vlm")
        };
        if let Some(missing) = missing {
            p.status = "manual".into();
            p.remediations.push(Remediation {
                blocker: "model-type-not-automated".into(),
                path: Some("config.json".into()),
                problem: format!("`mlxport port` proves {what} of the types the {template} template implements; this one needs {missing}"),
                remediation: format!("port it by hand with this plan, or add the feature to the {template} template (python/templates/{template}/)"),
            });
        }
    }
    let runbook = kb.runbook_for_family(&family_id);
    let mut unc = Vec::new();

    // Task and domain.
    let archs = &i.facts.architectures;
    let head_task = [
        ("ForSequenceClassification", "sequence classification"),
        ("ForTokenClassification", "token classification"),
        ("ForMaskedLM", "masked language modelling"),
        ("ForQuestionAnswering", "extractive question answering"),
        ("ForImageClassification", "image classification"),
        ("ForCTC", "speech recognition with a CTC head"),
    ]
    .iter()
    .find(|(suffix, _)| archs.iter().any(|a| a.ends_with(suffix)))
    .map(|(_, t)| t.to_string());
    p.task = Some(if i.has_trait("sentence_embedding") {
        "sentence embeddings (sentence-transformers pooling)".to_string()
    } else if let Some(t) = head_task {
        t
    } else {
        runbook.map(|r| r.task.clone()).unwrap_or_else(|| "unknown".into())
    });
    p.domain = runbook.map(|r| r.domain.clone());

    // Family, state, reference.
    if let (Some(f), Some(rb)) = (family, runbook) {
        let refs = &i.routing.references;
        let implemented: Vec<String> = [("mlx-lm", &refs.mlx_lm), ("mlx-vlm", &refs.mlx_vlm), ("mlx-audio", &refs.mlx_audio)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|m| format!("{k} {m}")))
            .collect();
        let reference = if !implemented.is_empty() {
            format!("implemented by {} (pinned reference versions); port or prove against it", implemented.join(", "))
        } else if !f.closest.is_empty() {
            format!("no MLX implementation of this model; closest proven reference: {}", f.closest)
        } else {
            "no MLX reference exists for this family: scaffold from the source code".to_string()
        };
        let mut carried = Vec::new();
        for (t, what) in [
            ("kv_cache", "a KV cache per attention layer"),
            ("recurrent_state", "a fixed-size recurrent (SSM / linear-attention) state"),
            ("streaming_state", "streaming state across chunks"),
            ("cross_attention", "a cross-attention cache computed once per input"),
        ] {
            if i.has_trait(t) {
                carried.push(what);
            }
        }
        p.family = Some(PlanFamily {
            id: f.id.clone(),
            name: f.name.clone(),
            runbook: rb.id.clone(),
            profile: i.routing.profile.clone(),
            secondary: i.routing.secondary.clone(),
            confidence: i.routing.confidence.clone(),
            traits: i.routing.traits.clone(),
            state: f.state.clone(),
            carried_state: if carried.is_empty() { "none: stateless per input".into() } else { carried.join("; ") },
            reference,
        });
        if f.closest.is_empty() && implemented.is_empty() {
            unc.push("no MLX reference implementation to compare against: every layer is ported from the source code".into());
        }
    }
    if i.routing.confidence != "high" {
        unc.push(format!("routing confidence is {}: confirm the family from the evidence before porting", i.routing.confidence));
    }
    for c in &i.routing.conflicts {
        unc.push(format!("routing conflict: {c}"));
    }

    // Source.
    let primary: Vec<&crate::view::WeightFileView> = i.tensors.files.iter().filter(|f| f.primary && f.error.is_none()).collect();
    let mut formats: Vec<String> = primary.iter().map(|f| f.format.clone()).collect();
    formats.sort();
    formats.dedup();
    let custom_ops: Vec<String> = i
        .warnings
        .iter()
        .chain(&i.notes)
        .filter(|w| w.id == "custom-code")
        .map(|w| format!("{} (custom Python shipped with the model; never run)", w.path.as_deref().unwrap_or("?")))
        .collect();
    let quantization = i.quantization.as_ref().map(|q| {
        let mut s = q.scheme.clone();
        if let Some(m) = &q.mode {
            s.push_str(&format!(" {m}"));
        }
        if let Some(b) = q.bits {
            s.push_str(&format!(", {b} bits"));
        }
        if let Some(g) = q.group_size {
            s.push_str(&format!(", group {g}"));
        }
        s
    });
    let adapter = i.configs.iter().any(|c| c.kind == "adapter");
    let shard_count = if primary.iter().any(|f| f.path.ends_with(".index.json")) {
        i.files.iter().filter(|f| f.role == "weights" && f.path.ends_with(".safetensors")).count()
    } else {
        primary.len()
    };
    p.source = Some(PlanSource {
        framework: framework_of(&formats),
        formats: formats.clone(),
        quantization: quantization.clone(),
        custom_ops: custom_ops.clone(),
        weight_files: primary.iter().map(|f| f.path.clone()).collect(),
        shards: shard_count,
        adapters: if adapter { "an adapter config is present beside full weights: decide whether to merge it".into() } else { "none found".into() },
    });
    if let Some(cfg) = i.config("model").and_then(|c| c.value.as_ref()) {
        let nested = cfg.get("rope_parameters").and_then(|r| r.get("rope_theta"));
        if let (Some(theta), None) = (nested, cfg.get("rope_theta")) {
            unc.push(format!(
                "config.json nests rope_theta ({theta}) in rope_parameters (transformers 5 layout) with none at the top level: mlx-lm 0.32 reads only the top level and would fall back to its default base; the converted config must carry rope_theta at the top level, and rung 1 must check it"
            ));
        }
    }
    if i.facts.model_type.is_none() && formats.iter().any(|f| f == "gguf") {
        unc.push("no config.json: hyperparameters come from GGUF metadata; write the target's config from them and check it at rung 1".into());
    }

    // Weights.
    p.weights = Some(PlanWeights {
        parameters: i.tensors.parameters,
        tensors: i.tensors.tensors,
        bytes_by_dtype: i.tensors.bytes_by_dtype.clone(),
        torch_dtype: i.facts.torch_dtype.clone(),
        tied: i.tensors.tying.tied,
        tied_evidence: i.tensors.tying.evidence.clone(),
    });
    if i.facts.torch_dtype.is_none() {
        unc.push(
            "the training dtype is not recorded (no torch_dtype): capture the source in float32 and serve in bfloat16 unless parity says otherwise".into(),
        );
    }
    if i.tensors.tying.tied && i.tensors.tying.tie_word_embeddings.is_none() {
        unc.push("tying is inferred from a missing head tensor, not stated by a config: confirm at rung 5 (logits)".into());
    }
    if let Some(q) = &i.quantization {
        unc.push(format!(
            "the source is already quantized ({}): the float reference is its dequantized weights, so parity is to the quantized model, not to the original float checkpoint",
            q.mode.clone().unwrap_or_else(|| q.scheme.clone())
        ));
    }

    // Preprocessing, tokenization, sampling.
    let mut pre = Vec::new();
    let tokenizer_files: Vec<&str> = i.files.iter().filter(|f| f.role == "tokenizer").map(|f| f.path.as_str()).collect();
    if !tokenizer_files.is_empty() {
        pre.push(format!("tokenizer files: {}", tokenizer_files.join(", ")));
    }
    for (kind, what) in [
        ("tokenizer", "tokenizer config"),
        ("special_tokens", "special tokens map"),
        ("chat_template", "chat template"),
        ("processor", "processor config"),
        ("preprocessor", "image/video preprocessor config"),
        ("feature_extractor", "audio feature extractor config"),
        ("sentence_transformers", "sentence-transformers modules (pooling, normalisation)"),
    ] {
        let paths: Vec<&str> = i.configs.iter().filter(|c| c.kind == kind).map(|c| c.path.as_str()).collect();
        if !paths.is_empty() {
            pre.push(format!("{what}: {}", paths.join(", ")));
        }
    }
    let generative = i.has_trait("kv_cache") || i.has_trait("recurrent_state");
    match i.config("generation") {
        Some(g) => {
            let keys: Vec<String> = ["do_sample", "temperature", "top_p", "top_k", "repetition_penalty", "eos_token_id"]
                .iter()
                .filter_map(|k| g.value.as_ref()?.get(*k).map(|v| format!("{k}={v}")))
                .collect();
            pre.push(format!("sampling from generation_config.json: {}", if keys.is_empty() { "no sampling keys".into() } else { keys.join(", ") }));
        }
        None if generative => {
            unc.push("no generation_config.json: default sampling is unknown; parity uses greedy decoding and the user's settings later".into())
        }
        None => {}
    }
    let text_family = p.domain.as_deref() == Some("text") || p.domain.as_deref() == Some("multimodal");
    if tokenizer_files.is_empty() && text_family {
        if formats.iter().any(|f| f == "gguf") {
            unc.push("no tokenizer files: a GGUF normally carries its tokenizer in metadata (tokenizer.ggml.*); rebuild it and compare ids with the source at rung 1".into());
        } else {
            unc.push("no tokenizer files found: the tokenizer must come from the base model; identify it before rung 1".into());
        }
    }
    p.preprocessing = pre;

    // License and code risks.
    let code_risks: Vec<String> = i
        .warnings
        .iter()
        .filter(|w| matches!(w.id.as_str(), "custom-code" | "install-hook" | "stray-pickle" | "remote-code" | "credential"))
        .map(|w| format!("{}: {}{}", w.id, w.path.as_ref().map(|p| format!("{p}: ")).unwrap_or_default(), w.message))
        .collect();
    p.license = Some(PlanLicense {
        spdx: i.license.spdx.clone(),
        class: i.license.class.clone(),
        redistribution: i.license.redistribution.clone(),
        reason: i.license.reason.clone(),
        requires_acceptance: i.license.requires_acceptance,
        conditions: i.license.conditions.clone(),
        code_risks: if code_risks.is_empty() { vec!["none: no remote code, custom code, install hooks or stray pickles".into()] } else { code_risks },
    });
    if i.license.class == "unknown" || i.license.class.is_empty() {
        unc.push("license unknown: converted weights must not be redistributed until it is found".into());
    }

    // Target and budget.
    let b = budget::budget(i, &opts.target);
    if b.target_from == "default" {
        unc.push(format!("no target machine given: fit computed for the default {} (pass --target-memory)", budget::DEFAULT_TARGET));
    }
    if generative && i.size.kv_cache.is_none() && i.has_trait("kv_cache") {
        unc.push("KV-cache size unknown (layer, head or head-size counts missing): the fit counts weights only".into());
    }
    for n in &i.size.notes {
        if n.contains("sliding") {
            unc.push(n.clone());
        }
    }
    if !i.complete {
        unc.push("the inspection is incomplete (a file could not be hashed or the inventory was cut): re-inspect before trusting the fingerprint".into());
    }
    p.target = Some(b);

    // Objective.
    let (primary_obj, chosen_by) = match &opts.objective {
        Some(o) => (o.clone(), "--objective".to_string()),
        None => match runbook {
            Some(rb) => (rb.default_objective.clone(), format!("default for {}", rb.id)),
            None => (if generative { "decode-throughput" } else { "prefill-throughput" }.to_string(), "default".to_string()),
        },
    };
    debug_assert!(OBJECTIVES.contains(&primary_obj.as_str()));
    p.objective = Some(PlanObjective {
        meaning: meaning(&primary_obj).to_string(),
        primary: primary_obj,
        chosen_by,
        quality_gate: runbook.map(|r| r.quality_metric.clone()).unwrap_or_else(|| "task metric of the float port".into()),
    });

    // Runbook content.
    if let Some(rb) = runbook {
        p.port_first = rb.port_first.clone();
        p.layout_traps = rb.layout_traps.clone();
        p.fixtures = Some(rb.fixtures.clone());
        p.parity_boundaries = rb.parity_boundaries.clone();
        p.stop_conditions = rb.stop_conditions.clone();
        p.transforms = rb.transforms.clone();
    }
    p.transforms.extend(format_transforms(i, &formats, quantization.as_deref(), shard_count));
    p.stop_conditions.push("Stop at the first failing rung and fix it before climbing further (see mlxport docs failure-atlas).".into());
    p.stop_conditions.push("Stop optimising when a change fails the quality gate at rung 8; revert it.".into());
    p.stop_conditions.push("Stop and re-plan if a re-inspection finds a blocker or a different fingerprint.".into());

    // Rungs.
    let stateful = i.has_trait("kv_cache") || i.has_trait("recurrent_state") || i.has_trait("streaming_state");
    p.rungs = kb
        .rungs
        .iter()
        .map(|r| {
            let (applies, note) = match r.id.as_str() {
                "cache" if !stateful => (false, Some("stateless family: nothing is carried between steps".to_string())),
                "tokens" if !generative => (true, Some("compare task outputs (labels, embeddings, transcripts) instead of generated tokens".to_string())),
                "quality" => (true, p.objective.as_ref().map(|o| o.quality_gate.clone())),
                _ => (true, None),
            };
            PlanRung { number: r.number, id: r.id.clone(), name: r.name.clone(), checks: r.checks.clone(), applies, note }
        })
        .collect();

    p.warnings = i.warnings.iter().map(|w| format!("{}: {}{}", w.id, w.path.as_ref().map(|p| format!("{p}: ")).unwrap_or_default(), w.message)).collect();
    p.uncertainties = unc;
    p
}

fn format_transforms(i: &InspectionView, formats: &[String], quantization: Option<&str>, shards: usize) -> Vec<String> {
    let mut t = Vec::new();
    if formats.iter().any(|f| f == "gguf") {
        t.push("rename GGUF tensors (token_embd, blk.N.attn_q, output_norm, ...) to the target's names".into());
        t.push("reverse GGUF dimension order to row-major [out, in]".into());
        if i.routing.family.as_deref() == Some("dense-decoder") || i.routing.family.as_deref() == Some("moe-decoder") {
            t.push("undo llama.cpp's Q/K row permutation for rotate-half RoPE".into());
        }
    }
    if let Some(q) = quantization {
        if q.starts_with("gguf") {
            t.push(format!("dequantize GGUF blocks ({q}) to float, or carry Q4_0/Q4_1/Q8_0 over losslessly as MLX affine group 32"));
        } else if q.starts_with("mlx") {
            t.push("weights are already MLX-quantized: copy packed weights, scales and biases as they are".into());
        } else {
            t.push(format!("dequantize {q} weights to float before any MLX quantization"));
        }
    }
    if i.tensors.tying.tied {
        let e = i.tensors.tying.embedding.clone().unwrap_or_else(|| "the embedding".into());
        t.push(format!("write no separate head tensor: the head reuses {e}"));
    }
    if formats.iter().any(|f| f == "pytorch") {
        t.push("read the pickle checkpoint through the restricted unpickler and write safetensors".into());
    }
    if shards > 1 {
        t.push(format!("read {shards} shards through the index; write the target's own sharding"));
    }
    t
}

/// Markdown for a plan.
pub fn to_markdown(p: &PortPlan) -> String {
    let mut s = String::new();
    let push = |s: &mut String, line: &str| {
        s.push_str(line);
        s.push('\n');
    };
    push(&mut s, &format!("# Port plan: {}", p.model.name));
    push(&mut s, "");
    push(&mut s, &format!("- status: **{}**", p.status));
    push(&mut s, &format!("- fingerprint: `{}` ({})", p.model.fingerprint, p.model.kind));
    push(&mut s, &format!("- identity: {}", p.model.identity));
    push(&mut s, "");
    if p.status == "manual" {
        push(&mut s, "## Manual port: `mlxport port` stops after this plan");
        push(&mut s, "");
        for r in &p.remediations {
            push(&mut s, &format!("- **{}**: {}", r.blocker, r.problem));
            push(&mut s, &format!("  - what to do: {}", r.remediation));
        }
        push(&mut s, "");
    }
    if p.status == "blocked" {
        push(&mut s, "## Blocked: remediation only");
        push(&mut s, "");
        push(&mut s, "No port work can start until every blocker below is resolved; then inspect again and re-plan.");
        push(&mut s, "");
        for (n, r) in p.remediations.iter().enumerate() {
            push(&mut s, &format!("{}. **{}**{}: {}", n + 1, r.blocker, r.path.as_ref().map(|p| format!(" (`{p}`)")).unwrap_or_default(), r.problem));
            push(&mut s, &format!("   - remediation: {}", r.remediation));
        }
        return s;
    }
    push(&mut s, "## Task and family");
    push(&mut s, "");
    push(&mut s, &format!("- task: {}", p.task.as_deref().unwrap_or("unknown")));
    push(&mut s, &format!("- domain: {}", p.domain.as_deref().unwrap_or("unknown")));
    if let Some(f) = &p.family {
        push(&mut s, &format!("- family: **{}** ({}), confidence {}", f.id, f.name, f.confidence));
        push(&mut s, &format!("- runbook: `{}` (mlxport docs {})", f.runbook, f.runbook));
        if let Some(pr) = &f.profile {
            push(&mut s, &format!("- hybrid profile: {pr} (also {})", f.secondary.join(", ")));
        }
        push(&mut s, &format!("- traits: {}", f.traits.join(", ")));
        push(&mut s, &format!("- state and cache: {}", f.carried_state));
        push(&mut s, &format!("- contract: {}", f.state));
        push(&mut s, &format!("- MLX reference: {}", f.reference));
    }
    push(&mut s, "");
    if let Some(src) = &p.source {
        push(&mut s, "## Source");
        push(&mut s, "");
        push(&mut s, &format!("- framework: {}", src.framework));
        push(&mut s, &format!("- weight files: {} ({} shard{})", src.weight_files.join(", "), src.shards, if src.shards == 1 { "" } else { "s" }));
        push(&mut s, &format!("- quantization: {}", src.quantization.as_deref().unwrap_or("none (float weights)")));
        push(&mut s, &format!("- custom ops: {}", if src.custom_ops.is_empty() { "none found".to_string() } else { src.custom_ops.join("; ") }));
        push(&mut s, &format!("- adapters: {}", src.adapters));
        push(&mut s, "");
    }
    if let Some(w) = &p.weights {
        push(&mut s, "## Weights");
        push(&mut s, "");
        push(&mut s, &format!("- parameters: {} ({} tensors)", thousands(w.parameters), w.tensors));
        let dt: Vec<String> = w.bytes_by_dtype.iter().map(|(d, b)| format!("{d} {}", budget::gb(*b))).collect();
        push(&mut s, &format!("- dtypes: {}{}", dt.join(", "), w.torch_dtype.as_ref().map(|t| format!(" (config torch_dtype {t})")).unwrap_or_default()));
        push(
            &mut s,
            &format!(
                "- tied weights: {}{}",
                if w.tied { "yes" } else { "no" },
                if w.tied_evidence.is_empty() { String::new() } else { format!(" ({})", w.tied_evidence.join("; ")) }
            ),
        );
        push(&mut s, "");
    }
    if !p.preprocessing.is_empty() {
        push(&mut s, "## Preprocessing, tokenization and sampling");
        push(&mut s, "");
        for x in &p.preprocessing {
            push(&mut s, &format!("- {x}"));
        }
        push(&mut s, "");
    }
    if let Some(l) = &p.license {
        push(&mut s, "## License and code risk");
        push(&mut s, "");
        push(&mut s, &format!("- license: {} ({})", l.spdx.as_deref().unwrap_or("unknown"), l.class));
        push(&mut s, &format!("- may converted weights be redistributed: **{}**: {}", l.redistribution, l.reason));
        if l.requires_acceptance {
            push(&mut s, "- the terms require explicit acceptance before packaging");
        }
        for c in &l.conditions {
            push(&mut s, &format!("- condition: {c}"));
        }
        for r in &l.code_risks {
            push(&mut s, &format!("- code risk: {r}"));
        }
        push(&mut s, "");
    }
    if let Some(b) = &p.target {
        push(&mut s, "## Target machine and memory budget");
        push(&mut s, "");
        push(
            &mut s,
            &format!(
                "- target: {}{} (from {}), usable {} ({:.0}%)",
                b.target_name.as_deref().map(|n| format!("{n}, ")).unwrap_or_default(),
                budget::gb(b.memory_bytes),
                b.target_from,
                budget::gb(b.usable_bytes),
                b.usable_share * 100.0
            ),
        );
        if let Some(c) = b.context {
            push(&mut s, &format!("- KV cache at {c} tokens: {}", budget::gb(b.kv_cache_bytes)));
        }
        push(&mut s, "");
        push(&mut s, "| precision | weights | with cache | fits |");
        push(&mut s, "|---|---:|---:|---|");
        for f in &b.precisions {
            push(
                &mut s,
                &format!("| {} | {} | {} | {} |", f.precision, budget::gb(f.weight_bytes), budget::gb(f.total_bytes), if f.fits { "yes" } else { "no" }),
            );
        }
        push(&mut s, "");
        let yn = |p: &str| match b.fits(p) {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        push(&mut s, &format!("Fits at 8 bits: **{}**; at 4 bits: **{}**.", yn("q8"), yn("q4")));
        push(&mut s, &format!("Verdict: {}.", b.verdict));
        push(&mut s, "");
    }
    if let Some(o) = &p.objective {
        push(&mut s, "## Objectives");
        push(&mut s, "");
        push(&mut s, &format!("- primary: **{}** ({}): {}", o.primary, o.chosen_by, o.meaning));
        push(&mut s, &format!("- quality gate: {}", o.quality_gate));
        push(&mut s, "");
    }
    let list = |s: &mut String, title: &str, items: &[String], numbered: bool| {
        if items.is_empty() {
            return;
        }
        s.push_str(&format!("## {title}\n\n"));
        for (n, x) in items.iter().enumerate() {
            if numbered {
                s.push_str(&format!("{}. {x}\n", n + 1));
            } else {
                s.push_str(&format!("- {x}\n"));
            }
        }
        s.push('\n');
    };
    list(&mut s, "Uncertainties (recorded, not guessed)", &p.uncertainties, false);
    list(&mut s, "Port first", &p.port_first, true);
    list(&mut s, "Layout traps", &p.layout_traps, false);
    if let Some(f) = &p.fixtures {
        push(&mut s, "## Parity fixtures to capture");
        push(&mut s, "");
        push(&mut s, &format!("- minimal: {}", f.minimal));
        push(&mut s, &format!("- ordinary: {}", f.ordinary));
        push(&mut s, &format!("- boundary: {}", f.boundary));
        push(&mut s, &format!("- capture at: {}", p.parity_boundaries.join(", ")));
        push(&mut s, "");
    }
    list(&mut s, "Expected weight-map transforms", &p.transforms, false);
    if !p.rungs.is_empty() {
        push(&mut s, "## Parity ladder");
        push(&mut s, "");
        for r in &p.rungs {
            push(
                &mut s,
                &format!(
                    "{}. **{}**{}: {}{}",
                    r.number,
                    r.name,
                    if r.applies { "" } else { " (not applicable)" },
                    r.checks,
                    r.note.as_ref().map(|n| format!(" — {n}")).unwrap_or_default()
                ),
            );
        }
        push(&mut s, "");
    }
    list(&mut s, "Stop conditions", &p.stop_conditions, false);
    list(&mut s, "Inspection warnings", &p.warnings, false);
    s
}
