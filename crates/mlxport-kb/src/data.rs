//! The knowledge base as typed data, parsed from the embedded TOML files.
//!
//! [`KbText`] holds the raw text of every file (the embedded one by default;
//! tests substitute broken copies); [`Kb::parse`] turns it into typed
//! tables. Parsing checks syntax and field names only — cross-references are
//! the job of [`crate::check`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Objectives a plan or a recommendation can optimise for.
pub const OBJECTIVES: [&str; 5] = ["decode-throughput", "prefill-throughput", "ttft", "peak-memory", "quality"];

/// Technique statuses, from most to least established.
pub const STATUSES: [&str; 5] = ["native-mlx", "official-mlx-project", "proven-mlx-port", "research-candidate", "rejected"];

/// Technique categories.
pub const CATEGORIES: [&str; 13] =
    ["runtime", "compile", "attention", "kernels", "quantization", "memory", "caches", "serving", "decoding", "moe", "audio", "diffusion", "training"];

/// Workloads a technique can serve.
pub const WORKLOADS: [&str; 9] = ["decode", "prefill", "single-pass", "denoising-loop", "streaming", "serving", "long-context", "batch", "fine-tuning"];

/// The raw text of every knowledge-base file.
#[derive(Debug, Clone)]
pub struct KbText {
    pub runbooks: String,
    pub methods: String,
    pub sources: String,
    /// (file name, text) of each techniques file.
    pub techniques: Vec<(String, String)>,
}

impl Default for KbText {
    /// The files embedded in the binary.
    fn default() -> Self {
        let t = |name: &str, text: &str| (name.to_string(), text.to_string());
        KbText {
            runbooks: include_str!("../data/runbooks.toml").into(),
            methods: include_str!("../data/methods.toml").into(),
            sources: include_str!("../data/sources.toml").into(),
            techniques: vec![
                t("runtime.toml", include_str!("../data/techniques/runtime.toml")),
                t("attention.toml", include_str!("../data/techniques/attention.toml")),
                t("quantization.toml", include_str!("../data/techniques/quantization.toml")),
                t("decoding.toml", include_str!("../data/techniques/decoding.toml")),
                t("moe.toml", include_str!("../data/techniques/moe.toml")),
                t("media.toml", include_str!("../data/techniques/media.toml")),
                t("training.toml", include_str!("../data/techniques/training.toml")),
            ],
        }
    }
}

/// The three parity fixtures a plan asks to capture.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    pub minimal: String,
    pub ordinary: String,
    pub boundary: String,
}

/// How to port one family.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// `runbook/<family>`.
    pub id: String,
    /// The intake family id.
    pub family: String,
    pub task: String,
    pub domain: String,
    /// Routing signals in one sentence.
    pub signals: String,
    /// Signals that must route to this family (`model_type:llama`,
    /// `arch:Class`, `gguf:arch`, `diffusers:Class`).
    pub examples: Vec<String>,
    pub default_objective: String,
    pub port_first: Vec<String>,
    pub layout_traps: Vec<String>,
    pub parity_boundaries: Vec<String>,
    pub transforms: Vec<String>,
    pub quality_metric: String,
    pub stop_conditions: Vec<String>,
    pub fixtures: Fixtures,
}

/// One section of a method page.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub heading: String,
    pub body: String,
}

/// A method page (`mlxport docs <id>`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub id: String,
    pub title: String,
    pub summary: String,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub see_also: Vec<String>,
    #[serde(default, rename = "section")]
    pub sections: Vec<Section>,
}

/// One rung of the parity ladder.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    pub id: String,
    pub number: u32,
    pub name: String,
    pub checks: String,
}

/// One failure-atlas entry: a symptom, its likely causes, and the rung
/// that localises it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub id: String,
    pub symptom: String,
    pub causes: Vec<String>,
    pub rung: String,
}

/// One step of the optimization ladder.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LadderStep {
    pub id: String,
    pub name: String,
}

/// A pinned evidence source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub id: String,
    pub title: String,
    pub url: String,
    /// How the source is pinned: `repository`, `package`, `docs`, `paper`
    /// or `spec` (rules in `mlxport sources validate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The day a live page was read (`YYYY-MM-DD`), for `docs` sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Package or document version (`mlx-lm 0.32.2`, `arXiv v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Git commit (40 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Python dotted name the source documents (checked against the
    /// reference environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// A file inside the installed package (checked likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

impl Source {
    /// `version` or `commit`, whichever pins the source.
    pub fn pin(&self) -> String {
        match (&self.version, &self.commit) {
            (Some(v), Some(c)) => format!("{v}, commit {c}"),
            (Some(v), None) => v.clone(),
            (None, Some(c)) => format!("commit {c}"),
            (None, None) => "unpinned".into(),
        }
    }
}

/// One entry of the techniques registry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Technique {
    pub id: String,
    pub name: String,
    pub category: String,
    pub status: String,
    /// Optimization-ladder step.
    pub ladder: String,
    /// The MLX API or module used.
    pub api: String,
    pub summary: String,
    /// Family ids, or `*` for every family.
    pub families: Vec<String>,
    /// Traits the model must all have.
    #[serde(default)]
    pub requires_traits: Vec<String>,
    /// Traits of which the model must have at least one.
    #[serde(default)]
    pub requires_any: Vec<String>,
    /// Traits the model must not have.
    #[serde(default)]
    pub excludes_traits: Vec<String>,
    /// Facts of the inspection that must hold (see
    /// [`crate::recommend::FACTS`]): `tied`, `gguf-source`,
    /// `config-key:kv_lora_rank`, ...
    #[serde(default)]
    pub requires_facts: Vec<String>,
    pub workloads: Vec<String>,
    pub objectives: Vec<String>,
    /// Objectives for which the direction of the effect follows from the
    /// sources and first principles (no benchmark needed to know it helps).
    #[serde(default)]
    pub assured_for: Vec<String>,
    pub prerequisites: Vec<String>,
    pub risks: Vec<String>,
    pub sources: Vec<String>,
    /// File the entry came from (set at parse time).
    #[serde(skip_deserializing, default)]
    pub file: String,
}

impl Technique {
    /// Whether the technique may ever be executed automatically.
    pub fn executable(&self) -> bool {
        !matches!(self.status.as_str(), "research-candidate" | "rejected")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunbooksFile {
    #[allow(dead_code)]
    schema: u32,
    runbook: Vec<Runbook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodsFile {
    #[allow(dead_code)]
    schema: u32,
    page: Vec<Page>,
    rung: Vec<Rung>,
    failure: Vec<Failure>,
    ladder: Vec<LadderStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesFile {
    #[allow(dead_code)]
    schema: u32,
    source: Vec<Source>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TechniquesFile {
    #[allow(dead_code)]
    schema: u32,
    #[serde(default)]
    technique: Vec<Technique>,
}

/// The parsed knowledge base.
#[derive(Debug, Clone, Serialize)]
pub struct Kb {
    pub runbooks: Vec<Runbook>,
    pub pages: Vec<Page>,
    pub rungs: Vec<Rung>,
    pub failures: Vec<Failure>,
    pub ladder: Vec<LadderStep>,
    pub sources: Vec<Source>,
    pub techniques: Vec<Technique>,
}

fn parse<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> crate::Result<T> {
    toml::from_str(text).map_err(|e| crate::Error::KbFile { file: file.to_string(), message: e.to_string().trim_end().to_string() })
}

impl Kb {
    /// Parse every file. Field names are strict (`deny_unknown_fields`); a
    /// file that breaks them is an [`Error::KbFile`](crate::Error::KbFile).
    pub fn parse(text: &KbText) -> crate::Result<Kb> {
        let r: RunbooksFile = parse("runbooks.toml", &text.runbooks)?;
        let m: MethodsFile = parse("methods.toml", &text.methods)?;
        let s: SourcesFile = parse("sources.toml", &text.sources)?;
        let mut techniques = Vec::new();
        for (name, body) in &text.techniques {
            let f: TechniquesFile = parse(&format!("techniques/{name}"), body)?;
            techniques.extend(f.technique.into_iter().map(|mut t| {
                t.file = format!("techniques/{name}");
                t
            }));
        }
        Ok(Kb { runbooks: r.runbook, pages: m.page, rungs: m.rung, failures: m.failure, ladder: m.ladder, sources: s.source, techniques })
    }

    pub fn runbook(&self, id: &str) -> Option<&Runbook> {
        self.runbooks.iter().find(|r| r.id == id)
    }

    pub fn runbook_for_family(&self, family: &str) -> Option<&Runbook> {
        self.runbooks.iter().find(|r| r.family == family)
    }

    pub fn page(&self, id: &str) -> Option<&Page> {
        self.pages.iter().find(|p| p.id == id)
    }

    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.techniques.iter().find(|t| t.id == id)
    }

    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    pub fn rung(&self, id: &str) -> Option<&Rung> {
        self.rungs.iter().find(|r| r.id == id)
    }

    /// Position of a ladder step (unknown steps sort last).
    pub fn ladder_index(&self, id: &str) -> usize {
        self.ladder.iter().position(|l| l.id == id).unwrap_or(usize::MAX)
    }

    /// Techniques grouped by category, in data order.
    pub fn techniques_by_category(&self) -> BTreeMap<&str, Vec<&Technique>> {
        let mut out: BTreeMap<&str, Vec<&Technique>> = BTreeMap::new();
        for t in &self.techniques {
            out.entry(t.category.as_str()).or_default().push(t);
        }
        out
    }
}
