//! [`inspect`]: the whole static classification of one model path.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use mlxport_tensor::{Format, TensorInfo, TensorSource};
use serde::Serialize;
use serde_json::Value;

use crate::configs::{self, ConfigFile, ConfigKind, ModelFacts};
use crate::digest::{self, DigestCache, Digests};
use crate::fit::{self, SizeFit};
use crate::license::{self, LicenseInput, LicenseVerdict};
use crate::quant::{self, Quantization};
use crate::risks::{self, Finding, Severity};
use crate::routing::{self, Routing, RoutingInput};
use crate::tensor_cache::{self, TensorCache};
use crate::walk::{self, EntryKind, Inventory, Limits};

/// Version of the inspection JSON layout.
pub const SCHEMA: &str = "mlxport.inspection/v1";
/// Bytes of a license or README file read for license detection.
const MAX_TEXT_BYTES: u64 = 256 << 10;

/// Options of an inspection.
#[derive(Clone, Debug)]
pub struct Options {
    /// Context length for the KV-cache estimate.
    pub context: u64,
    /// Target machine memory in bytes, for the fit verdict.
    pub target_memory: Option<u64>,
    /// Put the model's absolute path in the report.
    pub absolute_paths: bool,
    /// Digest cache file (`None`: no persistent cache).
    pub digest_cache: Option<PathBuf>,
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options { context: 4096, target_memory: None, absolute_paths: false, digest_cache: DigestCache::default_path(), limits: Limits::default() }
    }
}

/// Where the model came from.
#[derive(Clone, Debug, Serialize)]
pub struct ModelIdentity {
    /// The model directory's (or file's) name.
    pub name: String,
    /// `directory`, `file` or `hf-cache-snapshot`.
    pub kind: String,
    /// Absolute path, only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// SHA-256 over every file's path, size and digest.
    pub fingerprint: String,
    pub files: usize,
    pub bytes: u64,
    /// Bytes read and hashed by this run (0 when every digest came from
    /// the digest cache).
    pub bytes_hashed: u64,
    /// Files whose digest came from the digest cache.
    pub cache_hits: usize,
}

/// One file of the inventory.
#[derive(Clone, Debug, Serialize)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `file`, `cache_link`, `symlink`, `fifo`, ...
    pub kind: String,
    /// `weights`, `config`, `tokenizer`, `code`, `pickle`, `license`,
    /// `readme`, `install-hook`, `other`.
    pub role: String,
}

/// One tensor file that was read.
#[derive(Clone, Debug, Serialize)]
pub struct WeightFile {
    pub path: String,
    pub format: String,
    /// Counted in the model's totals (false for alternates, e.g. a
    /// `pytorch_model.bin` beside safetensors).
    pub primary: bool,
    pub tensors: usize,
    pub parameters: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Tied and shared weights.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tying {
    /// `tie_word_embeddings` from the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tie_word_embeddings: Option<bool>,
    /// An embedding exists but no output head: the head reuses it.
    pub lm_head_missing: bool,
    /// The embedding tensor name found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<String>,
    /// The output head and the embedding are one stored tensor (PyTorch
    /// shared storage).
    pub shared_storage: bool,
    /// Whether the output head is tied to the embedding.
    pub tied: bool,
    pub evidence: Vec<String>,
}

/// The tensors of the model.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TensorSummary {
    pub files: Vec<WeightFile>,
    pub tensors: usize,
    /// Stored elements.
    pub stored_elements: u64,
    /// Parameters of the model (packed quantized weights counted as the
    /// weights they encode; quantization scales and zeros not counted).
    pub parameters: u64,
    pub bytes: u64,
    /// Bytes per dtype or ggml type.
    pub bytes_by_dtype: BTreeMap<String, u64>,
    /// Groups of tensor names that are one stored tensor (PyTorch
    /// checkpoints saving tied weights once, as identical views of one
    /// storage); parameters count each group once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_storage: Vec<Vec<String>>,
    pub tying: Tying,
}

/// The full inspection report.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub schema: &'static str,
    pub tool: String,
    pub model: ModelIdentity,
    pub routing: Routing,
    pub facts: ModelFacts,
    pub tensors: TensorSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    pub license: LicenseVerdict,
    pub size: SizeFit,
    pub configs: Vec<ConfigFile>,
    pub files: Vec<FileRecord>,
    pub blockers: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub notes: Vec<Finding>,
    /// Set when a file could not be hashed; the fingerprint then covers
    /// only what was read.
    pub complete: bool,
}

fn role_of(rel: &str, kind: Option<ConfigKind>) -> &'static str {
    let name = rel.rsplit('/').next().unwrap_or(rel).to_ascii_lowercase();
    if kind.is_some() {
        "config"
    } else if is_weight_name(&name) {
        "weights"
    } else if risks::is_install_hook(rel) {
        "install-hook"
    } else if risks::is_python_code(rel) {
        "code"
    } else if risks::pickle_extension(&name) {
        "pickle"
    } else if name.starts_with("license") || name.starts_with("licence") || name.starts_with("copying") || name == "notice" || name == "use_policy.md" {
        "license"
    } else if name == "readme.md" {
        "readme"
    } else if name.starts_with("tokenizer")
        || name == "vocab.txt"
        || name == "vocab.json"
        || name == "merges.txt"
        || name.ends_with(".model")
        || name.ends_with(".tiktoken")
    {
        "tokenizer"
    } else {
        "other"
    }
}

fn is_weight_name(name: &str) -> bool {
    name.ends_with(".safetensors")
        || name.ends_with(".gguf")
        || name.ends_with(".npz")
        || name.ends_with(".pth")
        || name.ends_with(".pt")
        || name.ends_with(".ckpt")
        || (name.ends_with(".bin")
            && (name.contains("model") || name.starts_with("pytorch_") || name.contains("adapter"))
            && !name.starts_with("training_args"))
        || name.ends_with(".safetensors.index.json")
}

/// Read at most `max` bytes of a file as (lossy) text.
fn read_text(path: &Path, max: u64) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn head_bytes(path: &Path) -> Vec<u8> {
    let mut buf = vec![0u8; 8];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut buf)).unwrap_or(0);
    buf.truncate(n);
    buf
}

/// GGUF metadata values are rendered as JSON text; take a string back.
fn meta_str(meta: &[(String, String)], key: &str) -> Option<String> {
    let (_, v) = meta.iter().find(|(k, _)| k == key)?;
    match serde_json::from_str::<Value>(v) {
        Ok(Value::String(s)) => Some(s),
        Ok(Value::Number(n)) => Some(n.to_string()),
        Ok(Value::Bool(b)) => Some(b.to_string()),
        _ => Some(v.trim_matches('"').to_string()),
    }
}

fn meta_u64(meta: &[(String, String)], key: &str) -> Option<u64> {
    meta_str(meta, key)?.parse().ok()
}

/// Inspect a model directory, a single weights file, or a Hugging Face
/// cache snapshot.
/// Only a path that cannot be walked stops it ([`Error::Io`]); every other
/// problem is a finding in the report.
pub fn inspect(path: &Path, opts: &Options) -> crate::Result<Inspection> {
    let io = |source| crate::Error::io(path, "cannot inspect", source);
    let inv: Inventory = walk::walk(path, &opts.limits).map_err(io)?;
    let mut blockers = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut push = |f: Finding| match f.severity {
        Severity::Blocker => blockers.push(f),
        Severity::Warning => warnings.push(f),
        Severity::Info => notes.push(f),
    };

    // Walk problems.
    for issue in &inv.issues {
        push(Finding::new("walk", Severity::Warning, Some(&issue.path), issue.problem.clone(), None));
    }
    if inv.truncated {
        push(Finding::new(
            "too-many-files",
            Severity::Blocker,
            None,
            format!("more than {} files: the inventory is incomplete", opts.limits.max_entries),
            Some("point mlxport at the model's own directory, not a parent of many models"),
        ));
    }
    for e in &inv.entries {
        match &e.kind {
            EntryKind::Symlink { target, reason } => push(Finding::new(
                "symlink",
                Severity::Warning,
                Some(&e.path),
                format!("symlink to '{}' not followed: {reason}", shown_link_target(target, path, opts.absolute_paths)),
                Some("copy the real file into the model directory if it belongs to the model"),
            )),
            EntryKind::Fifo | EntryKind::Socket | EntryKind::Device => push(Finding::new(
                "special-file",
                Severity::Warning,
                Some(&e.path),
                "not a regular file (FIFO, socket or device); not read",
                Some("remove it from the model directory"),
            )),
            _ => {}
        }
    }

    // Identity.
    let mut cache = match &opts.digest_cache {
        Some(p) => DigestCache::load(p),
        None => DigestCache::in_memory(),
    };
    let mut tcache = match &opts.digest_cache {
        Some(p) => TensorCache::load(&TensorCache::beside(p)),
        None => TensorCache::in_memory(),
    };
    if let Some(why) = &tcache.problem {
        eprintln!("warning: the tensor cache was ignored ({why}); it will be rebuilt");
    }
    // Hashing and reading the tensor headers overlap; the tensor findings
    // are reported below, in their usual place.
    let mut tensor_findings = Vec::new();
    let (digests, tensors_read): (Digests, _) =
        rayon::join(|| digest::digest(&inv.entries, &mut cache), || read_tensors(&inv, &mut tcache, &mut |f| tensor_findings.push(f)));
    let _ = cache.save();
    let _ = tcache.save();
    for f in &digests.failures {
        push(Finding::new(
            "unreadable-file",
            Severity::Blocker,
            Some(&f.path),
            f.problem.clone(),
            Some("make sure nothing is writing to the model while it is inspected, then re-run"),
        ));
    }
    let sha_of: BTreeMap<&str, &str> = digests.files.iter().map(|f| (f.path.as_str(), f.sha256.as_str())).collect();

    // Configs.
    let configs = configs::read_configs(&inv.entries);
    for c in &configs {
        if let Some(err) = &c.error {
            let sev = if c.kind == ConfigKind::Model && !c.path.contains('/') { Severity::Blocker } else { Severity::Warning };
            push(Finding::new("invalid-config", sev, Some(&c.path), err.clone(), Some("fix or replace the file; it was not used")));
        }
        if let Some(v) = &c.value {
            if v.get("auto_map").is_some() || v.get("text_config").and_then(|t| t.get("auto_map")).is_some() {
                push(Finding::new(
                    "remote-code",
                    Severity::Blocker,
                    Some(&c.path),
                    "`auto_map` asks transformers to import code shipped with the model (trust_remote_code)",
                    Some(risks::REMEDIATION_REMOTE_CODE),
                ));
            }
            if !c.redacted.is_empty() {
                push(Finding::new(
                    "credential",
                    Severity::Warning,
                    Some(&c.path),
                    format!("credentials found and redacted at {}", c.redacted.join(", ")),
                    Some("revoke these credentials and remove them from the file"),
                ));
            }
        }
    }
    let model_cfg = configs::top_level(&configs, ConfigKind::Model).and_then(|c| c.value.clone());
    let quant_cfg = configs::top_level(&configs, ConfigKind::Quantization).and_then(|c| c.value.clone());

    // Files: roles, code, hooks, pickles.
    let mut files = Vec::new();
    let has_safetensors = inv.entries.iter().any(|e| e.path.ends_with(".safetensors"));
    for e in &inv.entries {
        let kind = configs::config_kind(&e.path);
        let mut role = role_of(&e.path, kind);
        if e.is_readable_file()
            && role != "config"
            && (risks::pickle_extension(&e.path) || role == "other")
            && risks::sniff_pickle_or_zip(&head_bytes(&e.real))
            && !e.path.ends_with(".npz")
        {
            // Torch zip or bare pickle: scan statically, never load.
            role = if role == "weights" { "weights" } else { "pickle" };
            classify_pickle(&e.path, &e.real, has_safetensors, &mut push);
        }
        if role == "code" {
            push(Finding::new(
                "custom-code",
                Severity::Warning,
                Some(&e.path),
                "Python code shipped with the model (never run by mlxport)",
                Some("review it: the model may depend on custom layers that need a hand port"),
            ));
        }
        if role == "install-hook" {
            push(Finding::new(
                "install-hook",
                Severity::Warning,
                Some(&e.path),
                "an install or environment file that runs code or pulls packages when used",
                Some("do not install it; mlxport needs none of it"),
            ));
        }
        let kind_name = match &e.kind {
            EntryKind::File => "file",
            EntryKind::CacheLink => "cache_link",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
            EntryKind::Device => "device",
        };
        files.push(FileRecord {
            path: e.path.clone(),
            size: e.size,
            sha256: sha_of.get(e.path.as_str()).map(|s| s.to_string()),
            kind: kind_name.into(),
            role: role.into(),
        });
    }

    // Tensors.
    tensor_findings.into_iter().for_each(&mut push);
    let (tensor_summary, all_tensors, gguf_meta) = tensors_read;
    let quantization = quant::detect(model_cfg.as_ref(), quant_cfg.as_ref(), &all_tensors);
    // Only a quantized layout needs the name set (packed weights beside
    // their scales).
    let names: foldhash::HashSet<&str> = if quantization.is_some() { all_tensors.iter().map(|t| t.name.as_str()).collect() } else { Default::default() };
    let mut tensor_summary = tensor_summary;
    // A tensor saved as an identical view of another's storage is the same
    // parameter (tied weights): count it once.
    let aliases: foldhash::HashSet<&str> = tensor_summary.shared_storage.iter().flat_map(|g| g.iter().skip(1).map(String::as_str)).collect();
    let logical = |t: &TensorInfo| if aliases.contains(t.name.as_str()) { 0 } else { quant::logical_params(t, quantization.as_ref(), &names) };
    tensor_summary.parameters = all_tensors.iter().map(logical).sum();

    // Facts (config, else GGUF metadata).
    let mut facts = model_cfg.as_ref().map(configs::model_facts).unwrap_or_default();
    let gguf_arch = meta_str(&gguf_meta, "general.architecture");
    if model_cfg.is_none() {
        if let Some(arch) = &gguf_arch {
            facts.num_hidden_layers = meta_u64(&gguf_meta, &format!("{arch}.block_count"));
            facts.hidden_size = meta_u64(&gguf_meta, &format!("{arch}.embedding_length"));
            facts.num_attention_heads = meta_u64(&gguf_meta, &format!("{arch}.attention.head_count"));
            facts.num_key_value_heads = meta_u64(&gguf_meta, &format!("{arch}.attention.head_count_kv"));
            facts.max_position_embeddings = meta_u64(&gguf_meta, &format!("{arch}.context_length"));
            facts.head_dim = meta_u64(&gguf_meta, &format!("{arch}.attention.key_length"));
            facts.num_experts = meta_u64(&gguf_meta, &format!("{arch}.expert_count"));
            facts.vocab_size =
                gguf_meta.iter().find(|(k, _)| k == "tokenizer.ggml.tokens").and_then(|(_, v)| v.split_whitespace().find_map(|w| w.parse().ok()));
        }
    }
    tensor_summary.tying = tying(&facts, &all_tensors, &tensor_summary.shared_storage);

    // Adapters.
    if let Some(a) = configs::top_level(&configs, ConfigKind::Adapter).and_then(|c| c.value.as_ref()) {
        let base = a.get("base_model_name_or_path").and_then(Value::as_str).unwrap_or("an unnamed base model");
        push(Finding::new(
            "adapter-only",
            Severity::Blocker,
            Some("adapter_config.json"),
            format!("a PEFT adapter for {base}: it holds only adapter weights"),
            Some("merge the adapter into its base model (or give mlxport the base model and convert the adapter separately)"),
        ));
    }

    // License.
    let readme = inv.entries.iter().find(|e| e.path.eq_ignore_ascii_case("README.md") && e.is_readable_file());
    let card = readme.and_then(|e| read_text(&e.real, MAX_TEXT_BYTES));
    let license_files: Vec<(String, String)> = inv
        .entries
        .iter()
        .filter(|e| e.is_readable_file() && !e.path.contains('/') && role_of(&e.path, None) == "license")
        .filter_map(|e| read_text(&e.real, MAX_TEXT_BYTES).map(|t| (e.path.clone(), t)))
        .collect();
    let license = license::assess(&LicenseInput {
        config_license: model_cfg.as_ref().and_then(|c| c.get("license")).and_then(Value::as_str).map(str::to_string),
        card_front_matter: card.as_deref().and_then(license::front_matter).map(str::to_string),
        license_files,
        gguf_license: meta_str(&gguf_meta, "general.license"),
        gguf_license_link: meta_str(&gguf_meta, "general.license.link"),
    });

    // Routing.
    let diffusers_classes = configs::top_level(&configs, ConfigKind::DiffusersIndex)
        .and_then(|c| c.value.as_ref())
        .map(|v| {
            let mut out: Vec<String> = v.get("_class_name").and_then(Value::as_str).map(|s| vec![s.to_string()]).unwrap_or_default();
            out.extend(configs::diffusers_components(v).into_values().map(|(_, class)| class));
            out
        })
        .unwrap_or_default();
    let routing = routing::route(&RoutingInput {
        model_type: facts.model_type.clone(),
        architectures: facts.architectures.clone(),
        config_keys: facts.key_paths.clone(),
        text_model_type: facts.text_model_type.clone(),
        tensor_names: all_tensors.iter().map(|t| t.name.clone()).collect(),
        gguf_architecture: gguf_arch.clone(),
        diffusers_classes,
        sentence_transformers: configs.iter().any(|c| c.kind == ConfigKind::SentenceTransformers),
        library_name: card
            .as_deref()
            .and_then(license::front_matter)
            .and_then(|fm| fm.lines().find_map(|l| l.strip_prefix("library_name:")).map(|s| s.trim().to_string())),
    });
    if routing.family.is_none() {
        push(Finding::new(
            "unknown-family",
            Severity::Blocker,
            None,
            if routing.ambiguous {
                "the architecture family is ambiguous: the signals disagree (see routing evidence)".to_string()
            } else {
                "no architecture family matched the model's config, tensor names or metadata".to_string()
            },
            Some("name the family explicitly (--family) after checking the evidence, or add the model_type to the knowledge base"),
        ));
    }
    for c in &routing.conflicts {
        push(Finding::new("routing-conflict", Severity::Warning, None, c.clone(), None));
    }
    if tensor_summary.files.iter().filter(|f| f.primary).count() == 0 {
        push(Finding::new(
            "no-weights",
            Severity::Blocker,
            None,
            "no readable weights (safetensors, GGUF, PyTorch zip or npz) were found",
            Some("point mlxport at the directory or file that holds the weights"),
        ));
    }
    match license.class.as_str() {
        "restricted" => push(Finding::new(
            "license-restricted",
            Severity::Warning,
            None,
            format!("license terms restrict use: {}", license.reason),
            Some("read the terms; packaging requires --accept-license"),
        )),
        "unknown" => push(Finding::new(
            "license-unknown",
            Severity::Warning,
            None,
            license.reason.clone(),
            Some("find the model's license before redistributing converted weights"),
        )),
        _ => {}
    }

    let has_kv = routing.traits.iter().any(|t| t == "kv_cache");
    let size = fit::size_fit(&all_tensors, logical, Some(&facts), has_kv, opts.context, opts.target_memory);

    let name = path.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| path.display().to_string());
    let kind = if inv.hf_cache_snapshot {
        "hf-cache-snapshot"
    } else if path.is_dir() {
        "directory"
    } else {
        "file"
    };
    let complete = digests.failures.is_empty() && !inv.truncated;
    Ok(Inspection {
        schema: SCHEMA,
        tool: format!("mlxport {}", env!("CARGO_PKG_VERSION")),
        model: ModelIdentity {
            name,
            kind: kind.into(),
            path: opts.absolute_paths.then(|| path.canonicalize().unwrap_or_else(|_| path.to_path_buf()).display().to_string()),
            fingerprint: digests.tree_fingerprint.clone(),
            files: inv.entries.len(),
            bytes: inv.entries.iter().map(|e| e.size).sum(),
            bytes_hashed: digests.bytes_hashed,
            cache_hits: digests.cache_hits,
        },
        routing,
        facts,
        tensors: tensor_summary,
        quantization,
        license,
        size,
        configs,
        files,
        blockers,
        warnings,
        notes,
        complete,
    })
}

/// A symlink's target as a report may show it: an absolute target is a
/// local path, so unless absolute paths were asked for it is shown relative
/// to the model (`<model>/x`) or not at all.
fn shown_link_target(target: &str, root: &Path, absolute_paths: bool) -> String {
    let t = Path::new(target);
    if absolute_paths || !t.is_absolute() {
        return target.to_string();
    }
    let roots = [Some(root.to_path_buf()), std::path::absolute(root).ok(), root.canonicalize().ok()];
    for r in roots.iter().flatten() {
        if let Ok(rel) = t.strip_prefix(r) {
            return format!("<model>/{}", rel.display());
        }
    }
    "<an absolute path outside the model>".to_string()
}

/// Scan a pickle (bare or inside a torch zip) without loading it.
fn classify_pickle(rel: &str, real: &Path, has_safetensors: bool, push: &mut impl FnMut(Finding)) {
    use mlxport_tensor::pytorch::scan::{scan_file, Verdict};
    let name = rel.rsplit('/').next().unwrap_or(rel);
    match scan_file(real) {
        Err(e) => push(Finding::new("unreadable-pickle", Severity::Warning, Some(rel), format!("not scanned: {e}"), None)),
        Ok(scan) => match &scan.verdict {
            Verdict::TensorOnly => push(Finding::new(
                "pickle-weights",
                Severity::Info,
                Some(rel),
                "pickle holds only tensors (allowlisted rebuild globals); read through the restricted unpickler",
                Some("prefer safetensors where available"),
            )),
            Verdict::Dangerous(globals) => push(Finding::new(
                "executable-pickle",
                Severity::Blocker,
                Some(rel),
                format!("pickle would execute code when loaded: references {}", globals.join(", ")),
                Some(risks::REMEDIATION_EXEC_PICKLE),
            )),
            Verdict::Unknown(globals) => {
                let stray = has_safetensors
                    || name == "training_args.bin"
                    || name.starts_with("optimizer")
                    || name.starts_with("scheduler")
                    || name.starts_with("rng_state");
                if stray {
                    push(Finding::new(
                        "stray-pickle",
                        Severity::Warning,
                        Some(rel),
                        format!(
                            "a pickle beside the weights that references non-tensor globals ({}); not needed for a port and never loaded",
                            globals.join(", ")
                        ),
                        Some("delete it from anything you redistribute"),
                    ))
                } else {
                    push(Finding::new(
                        "unsafe-pickle",
                        Severity::Blocker,
                        Some(rel),
                        format!("pickle references globals outside the tensor allowlist: {}", globals.join(", ")),
                        Some(risks::REMEDIATION_UNKNOWN_PICKLE),
                    ))
                }
            }
        },
    }
}

/// Which weight files count: per directory, safetensors (via an index when
/// present) over GGUF over PyTorch over npz; the others are alternates.
///
/// What one directory's weight files hold is taken from the tensor cache
/// when none of them changed (same path, device, inode, size, mtime).
fn read_tensors(inv: &Inventory, cache: &mut TensorCache, push: &mut impl FnMut(Finding)) -> (TensorSummary, Vec<TensorInfo>, Vec<(String, String)>) {
    let mut by_dir: BTreeMap<String, Vec<&walk::Entry>> = BTreeMap::new();
    for e in inv.entries.iter().filter(|e| e.is_readable_file()) {
        let name = e.path.rsplit('/').next().unwrap_or(&e.path).to_ascii_lowercase();
        if is_weight_name(&name) && !name.ends_with(".npy") {
            let dir = e.path.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
            by_dir.entry(dir).or_default().push(e);
        }
    }
    let mut summary = TensorSummary::default();
    let mut all = Vec::new();
    let mut gguf_meta = Vec::new();
    for (_dir, entries) in by_dir {
        let ids: Vec<(&str, &Path)> = entries.iter().map(|e| (e.path.as_str(), e.real.as_path())).collect();
        let key = tensor_cache::group_key(&ids);
        let group = match key.as_ref().and_then(|k| cache.get(k)) {
            Some(g) => g,
            None => {
                let mut findings = Vec::new();
                let (g, self_contained) = read_group(entries, &mut |f| findings.push(f));
                // Only clean reads of files the key covers are remembered;
                // problems are found afresh.
                if let (Some(k), true, true) = (key, findings.is_empty(), self_contained) {
                    cache.put(k, &g);
                }
                findings.into_iter().for_each(&mut *push);
                g
            }
        };
        let mut group = group;
        for f in group.files {
            summary.files.push(WeightFile {
                path: f.path,
                format: f.format,
                primary: f.primary,
                tensors: f.tensors as usize,
                parameters: f.parameters,
                bytes: f.bytes,
                error: f.error,
            });
        }
        summary.shared_storage.append(&mut group.shared_storage);
        gguf_meta.append(&mut group.gguf_meta);
        for t in &group.tensors {
            summary.stored_elements += t.numel();
            summary.bytes += t.nbytes;
            match summary.bytes_by_dtype.get_mut(t.encoding.name()) {
                Some(b) => *b += t.nbytes,
                None => {
                    summary.bytes_by_dtype.insert(t.encoding.to_string(), t.nbytes);
                }
            }
        }
        all.append(&mut group.tensors);
    }
    summary.tensors = all.len();
    (summary, all, gguf_meta)
}

/// Read the weight files of one directory. The flag says whether only
/// those files were read (an index may name a shard the inventory does not
/// list as a regular file, e.g. a link).
fn read_group(entries: Vec<&walk::Entry>, push: &mut impl FnMut(Finding)) -> (tensor_cache::Group, bool) {
    let mut group = tensor_cache::Group::default();
    let rank = |p: &str| {
        if p.ends_with(".safetensors") || p.ends_with(".safetensors.index.json") {
            0
        } else if p.ends_with(".gguf") {
            1
        } else if p.ends_with(".npz") {
            3
        } else {
            2
        }
    };
    let best = entries.iter().map(|e| rank(&e.path)).min().unwrap_or(9);
    // Open the index first: its shards are read through it, not again.
    let mut entries = entries;
    entries.sort_by_key(|e| !e.path.ends_with(".safetensors.index.json"));
    // Shard file names (all in this directory).
    let mut index_shards: HashSet<String> = HashSet::new();
    for e in &entries {
        if index_shards.contains(e.path.rsplit('/').next().unwrap_or(&e.path)) {
            continue; // read through the index
        }
        let primary = rank(&e.path) == best;
        let mut shared = Vec::new();
        let src: Result<Box<dyn TensorSource>, String> = if e.path.ends_with(".safetensors.index.json") {
            mlxport_tensor::safetensors::ShardedSafetensors::open(&e.real)
                .map(|s| {
                    index_shards.extend(s.shards().iter().filter_map(|sh| sh.path().file_name()).map(|n| n.to_string_lossy().into_owned()));
                    Box::new(s) as Box<dyn TensorSource>
                })
                .map_err(|e| e.to_string())
        } else if matches!(mlxport_tensor::source::sniff(&e.real), Ok(Some(Format::PyTorch))) {
            // Opened as a TorchFile to see which tensors share storage.
            mlxport_tensor::pytorch::TorchFile::open(&e.real)
                .map(|t| {
                    shared = t.shared_storage_groups().into_iter().filter(|g| g.identical_views).map(|g| g.tensors).collect();
                    Box::new(t) as Box<dyn TensorSource>
                })
                .map_err(|e| e.to_string())
        } else {
            mlxport_tensor::open_file(&e.real).map_err(|e| e.to_string())
        };
        let mut wf = tensor_cache::CachedFile { path: e.path.clone(), format: String::new(), primary, tensors: 0, parameters: 0, bytes: 0, error: None };
        match src {
            Err(err) => {
                let err = err.replace(&e.real.display().to_string(), &e.path);
                if primary {
                    push(Finding::new(
                        "invalid-weights",
                        Severity::Blocker,
                        Some(&e.path),
                        err.clone(),
                        Some("the weights file is malformed or truncated: download it again and compare its SHA-256 with the publisher's"),
                    ));
                }
                wf.error = Some(err);
            }
            Ok(src) => {
                wf.format = src.format().name().into();
                wf.tensors = src.tensors().len() as u64;
                wf.parameters = src.tensors().iter().map(|t| t.numel()).sum();
                wf.bytes = src.tensors().iter().map(|t| t.nbytes).sum();
                if primary {
                    if src.format() == Format::Gguf {
                        group.gguf_meta.extend(src.metadata());
                    }
                    group.shared_storage.append(&mut shared);
                    let file = PathBuf::from(&e.path);
                    group.tensors.extend(src.tensors().iter().map(|t| TensorInfo {
                        name: t.name.clone(),
                        encoding: t.encoding.clone(),
                        shape: t.shape.clone(),
                        nbytes: t.nbytes,
                        file: file.clone(),
                    }));
                }
            }
        }
        group.files.push(wf);
    }
    let listed: HashSet<&str> = entries.iter().map(|e| e.path.rsplit('/').next().unwrap_or(&e.path)).collect();
    let self_contained = index_shards.iter().all(|s| listed.contains(s.as_str()));
    (group, self_contained)
}

const EMBED_NAMES: &[&str] = &[
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "token_embd.weight",
    "embeddings.weight",
    "shared.weight",
    "tok_embeddings.weight",
    "embed_in.weight",
];
const HEAD_NAMES: &[&str] = &["lm_head.weight", "output.weight", "embed_out.weight"];

/// `name` is `suffix` or ends with `.suffix`.
fn is_named(name: &str, suffix: &str) -> bool {
    name.strip_suffix(suffix).is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

/// The last two dot-separated segments of a name (all of it if fewer).
fn last_two_segments(name: &str) -> &str {
    match name.rfind('.').and_then(|i| name[..i].rfind('.')) {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn tying(facts: &ModelFacts, tensors: &[TensorInfo], shared: &[Vec<String>]) -> Tying {
    // Every embedding and head name is two segments: compare the names'
    // last two segments whole instead of testing each suffix.
    debug_assert!(EMBED_NAMES.iter().chain(HEAD_NAMES).all(|n| n.matches('.').count() == 1));
    let embedding = tensors.iter().find(|t| EMBED_NAMES.contains(&last_two_segments(&t.name))).map(|t| t.name.clone());
    let head = tensors.iter().any(|t| HEAD_NAMES.contains(&last_two_segments(&t.name)));
    let generative = facts.architectures.iter().any(|a| a.ends_with("ForCausalLM") || a.ends_with("LMHeadModel") || a.ends_with("ForConditionalGeneration"))
        || tensors.iter().any(|t| t.name.starts_with("blk.") || t.name.starts_with("output_norm"));
    let lm_head_missing = embedding.is_some() && !head && generative;
    let mut evidence = Vec::new();
    if let Some(t) = facts.tie_word_embeddings {
        evidence.push(format!("config tie_word_embeddings = {t}"));
    }
    if lm_head_missing {
        evidence.push("an embedding but no output head tensor: the head reuses the embedding".into());
    }
    let is_named = |name: &str, list: &[&str]| list.iter().any(|n| is_named(name, n));
    let mut shared_head = false;
    for g in shared {
        if g.iter().any(|n| is_named(n, EMBED_NAMES)) && g.iter().any(|n| is_named(n, HEAD_NAMES)) {
            shared_head = true;
            evidence.push(format!("{} share one storage: the head is the embedding", g.join(" and ")));
        }
    }
    Tying {
        tie_word_embeddings: facts.tie_word_embeddings,
        lm_head_missing,
        tied: facts.tie_word_embeddings == Some(true) || lm_head_missing || shared_head,
        shared_storage: shared_head,
        embedding,
        evidence,
    }
}
