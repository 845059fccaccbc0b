//! `mlxport convert`: a source checkpoint through a weight map into an MLX
//! model directory.
//!
//! The map is expanded against the source first ([`crate::plan::plan`]);
//! any error stops the conversion before a byte is written. Tensors are
//! then produced one at a time in file order — read (borrowed from the
//! file mapping where possible), transformed, cast by the dtype policy,
//! encoded by the [`Stage`] — and handed to a writer thread that writes and
//! hashes them, so memory stays bounded by the tensors in flight, not by
//! the model. Pages of the source mapping are released once a tensor is
//! written. Casts run in parallel over chunks; input files are hashed on
//! another thread meanwhile.
//!
//! Everything is written into a temporary directory beside the output,
//! which is renamed into place only when complete: a crash leaves no
//! directory under the output's name. An existing output is never
//! overwritten. Output bytes depend only on the inputs, the map and the
//! options.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mlxport_tensor::safetensors::TensorSpec;
use mlxport_tensor::{DType, Encoding, Format, TensorSource};
use serde_json::Value;

use crate::config::{for_target, to_python_json};
use crate::manifest::{card_license, hash_file, model_card, record_bytes, FileRecord, Manifest, MapRecord, SourceRecord, TargetRecord, MANIFEST_FILE, SCHEMA};
use crate::map::WeightMap;
use crate::plan::{plan, DtypePolicy, Issue, Job, Plan, PlannedTarget, Severity};
use crate::stage::{Plain, Stage};
use crate::transform::{apply_all, cast_with, Buf, ChunkDone};
use crate::writer::{release_mapped, write_checkpoint, Produced};
use crate::{Error, Result};

/// mlx-lm's shard size: 5 GiB.
pub const DEFAULT_SHARD_BYTES: u64 = 5 << 30;

/// Files carried over from a Hugging Face directory when present:
/// tokenizer, chat template, generation config, license, and the
/// sentence-transformers layout.
pub const SIDE_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "tiktoken.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "LICENSE",
    "LICENSE.txt",
    "LICENSE.md",
    "NOTICE",
    "NOTICE.txt",
    "USE_POLICY.md",
];

/// Options for [`convert`].
pub struct ConvertOptions {
    /// Overrides the map's dtype policy.
    pub dtype: Option<DtypePolicy>,
    /// Shard size limit (mlx-lm: 5 GiB).
    pub shard_bytes: u64,
    /// The command line, for the manifest.
    pub command: Vec<String>,
    /// How targets are encoded (default: as they are).
    pub stage: Box<dyn Stage>,
    /// The digest cache shared with `mlxport inspect` (keyed by device,
    /// inode, size and mtime): input files already hashed are not read
    /// again. `None`: hash every input.
    pub digest_cache: Option<PathBuf>,
    /// Told the size of each output tensor as it is written, with the total
    /// of all outputs (for a progress bar).
    pub progress: Option<ProgressFn>,
}

/// A progress callback: `(bytes just written, total bytes to write)`.
pub type ProgressFn = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions { dtype: None, shard_bytes: DEFAULT_SHARD_BYTES, command: Vec::new(), stage: Box::new(Plain), digest_cache: None, progress: None }
    }
}

/// What a conversion did.
#[derive(Clone, Debug)]
pub struct Converted {
    pub out: PathBuf,
    pub manifest: Manifest,
    /// Warnings from the plan (errors stop the conversion).
    pub warnings: Vec<Issue>,
}

/// A temporary directory removed on drop unless renamed into place.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn make_temp_dir(out: &Path) -> Result<TempDir> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = out.file_name().map(|s| s.to_string_lossy().into_owned()).ok_or_else(|| Error::Usage(format!("{}: not a directory name", out.display())))?;
    for n in 0..1000u32 {
        let path = parent.join(format!(".{base}.partial-{}-{n}", std::process::id()));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(TempDir { path, keep: false }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&path, "create directory", e)),
        }
    }
    Err(Error::Convert(format!("{}: could not create a temporary directory beside it", out.display())))
}

/// A plan's errors as one message.
pub fn plan_error(p: &Plan) -> Error {
    let errs: Vec<&Issue> = p.issues.iter().filter(|i| i.severity == Severity::Error).collect();
    let mut msg = format!("the weight map does not fit the source: {} errors (run `mlxport map validate` for the full report)", errs.len());
    for i in errs.iter().take(8) {
        msg.push_str(&format!("\n  {}: {}", i.code, i.message));
    }
    if errs.len() > 8 {
        msg.push_str(&format!("\n  ... and {} more", errs.len() - 8));
    }
    Error::Convert(msg)
}

/// The directory a model's side files live in.
fn model_dir(model: &Path) -> PathBuf {
    if model.is_dir() {
        model.to_path_buf()
    } else {
        model.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
    }
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).to_string_lossy().into_owned()
}

/// Convert `model` through `map` into a new directory `out`.
pub fn convert(model: &Path, map: &WeightMap, out: &Path, opts: &ConvertOptions) -> Result<Converted> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::Usage(format!("{} already exists; refusing to overwrite it (choose a new --out)", out.display())));
    }
    let src = mlxport_tensor::open(model)?;
    let p = plan(map, src.tensors(), opts.dtype);
    if p.errors() > 0 {
        return Err(plan_error(&p));
    }
    let policy = opts.dtype.or_else(|| DtypePolicy::parse(&map.dtype)).unwrap_or(DtypePolicy::Keep);
    let dir = model_dir(model);
    let tmp = make_temp_dir(out)?;

    // Input files: the tensor files (and index), hashed on the side.
    let mut input_files: Vec<PathBuf> = Vec::new();
    for t in src.tensors() {
        if !input_files.contains(&t.file) {
            input_files.push(t.file.clone());
        }
    }
    if model.is_dir() {
        if let Ok(rd) = std::fs::read_dir(model) {
            let mut idx: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".safetensors.index.json")).collect();
            idx.sort();
            input_files.extend(idx);
        }
    } else if model.to_string_lossy().ends_with(".safetensors.index.json") {
        input_files.push(model.to_path_buf());
    }

    let targets = p.targets();
    let stage = opts.stage.as_ref();

    let (written, input_records) = std::thread::scope(|s| -> Result<(Weights, Vec<FileRecord>)> {
        let files = input_files.clone();
        let cache = opts.digest_cache.clone();
        let hasher = s.spawn(move || hash_inputs(&files, cache.as_deref()));
        let written = write_weights(src.as_ref(), map, &p, &tmp.path, opts)?;
        let hashed = hasher.join().map_err(|_| Error::Convert("the hashing thread panicked".into()))??;
        Ok((written, hashed.into_iter().map(|(f, n, h)| FileRecord { path: rel(&dir, &f), size: n, sha256: h }).collect()))
    })?;
    let Weights { files: weights, tensors: n_tensors, parameters, total_size } = written;

    let mut outputs = weights;
    let mut inputs = input_records;
    let mut config_changes = Vec::new();
    let write = |name: &str, bytes: &[u8], outputs: &mut Vec<FileRecord>| -> Result<()> {
        let path = tmp.path.join(name);
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, "write", e))?;
        outputs.push(record_bytes(name, bytes));
        Ok(())
    };

    // config.json and tokenizer files.
    let keep_vision = targets.iter().any(|t| holds_vision_tower(&t.name));
    let mut license: Option<String> = None;
    let config: Option<Value> = if src.format() == Format::Gguf {
        let gguf = mlxport_tensor::gguf::GgufFile::open(model)?;
        license = gguf.get_str("general.license").map(str::to_string);
        for (name, bytes) in crate::gguf_meta::tokenizer_files(&gguf)? {
            write(&name, &bytes, &mut outputs)?;
        }
        Some(crate::gguf_meta::config(&gguf)?)
    } else {
        let cfg_path = dir.join("config.json");
        match std::fs::read(&cfg_path) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Convert(format!("{}: not valid JSON: {e}", cfg_path.display())))?;
                inputs.push(record_bytes("config.json", &bytes));
                Some(v)
            }
            Err(_) => None,
        }
    };
    if let Some(cfg) = config {
        let (mut cfg, ch) = for_target(&cfg, &map.target.layout, keep_vision);
        config_changes = ch.changes;
        stage.patch_config(&mut cfg);
        write("config.json", to_python_json(&cfg, 4).as_bytes(), &mut outputs)?;
    }
    if src.format() != Format::Gguf {
        let mut side: Vec<PathBuf> = SIDE_FILES.iter().map(|f| dir.join(f)).collect();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            let mut extra: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "tiktoken") || p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_Pooling")))
                .collect();
            extra.sort();
            for e in extra {
                if e.is_dir() {
                    side.push(e.join("config.json"));
                } else {
                    side.push(e);
                }
            }
        }
        for f in side {
            if !f.is_file() {
                continue;
            }
            let bytes = std::fs::read(&f).map_err(|e| Error::io(&f, "read", e))?;
            let name = rel(&dir, &f);
            if let Some(parent) = Path::new(&name).parent().filter(|p| !p.as_os_str().is_empty()) {
                let d = tmp.path.join(parent);
                std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, "create directory", e))?;
            }
            inputs.push(record_bytes(&name, &bytes));
            write(&name, &bytes, &mut outputs)?;
        }
        if let Ok(card) = std::fs::read_to_string(dir.join("README.md")) {
            license = card_license(&card);
            inputs.push(record_bytes("README.md", card.as_bytes()));
        }
    }

    let source_name = model.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| model.display().to_string());
    let mut manifest = Manifest {
        schema: SCHEMA,
        tool: format!("mlxport {}", env!("CARGO_PKG_VERSION")),
        command: opts.command.clone(),
        map: MapRecord { sha256: map.hash(), schema: map.schema.clone(), rules: map.rules.len() },
        source: SourceRecord { name: source_name.clone(), format: src.format().name().into(), tensors: src.tensors().len(), categorized: p.categorized.len() },
        target: TargetRecord {
            layout: map.target.layout.clone(),
            dtype: policy.name().into(),
            stage: stage.name(),
            tensors: n_tensors,
            parameters,
            total_size,
        },
        config_changes,
        inputs,
        outputs: Vec::new(),
    };
    let card = model_card(&source_name, license.as_deref(), Some(&source_name), &manifest);
    write("README.md", card.as_bytes(), &mut outputs)?;
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    manifest.inputs.sort_by(|a, b| a.path.cmp(&b.path));
    manifest.outputs = outputs;
    let mut text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    text.push('\n');
    std::fs::write(tmp.path.join(MANIFEST_FILE), text.as_bytes()).map_err(|e| Error::io(&tmp.path, "write", e))?;

    // Move the complete directory into place. Files are not fsynced (as
    // mlx-lm does not): the rename makes a crashed process leave nothing
    // under the output's name; durability across power loss is left to the
    // filesystem.
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::Usage(format!("{} appeared while converting; refusing to overwrite it", out.display())));
    }
    std::fs::rename(&tmp.path, out).map_err(|e| Error::io(out, "rename into place", e))?;
    let mut tmp = tmp;
    tmp.keep = true;
    if let Some(cache_path) = &opts.digest_cache {
        remember_outputs(cache_path, out, &manifest.outputs);
    }
    let warnings = p.issues.iter().filter(|i| i.severity == Severity::Warning).cloned().collect();
    Ok(Converted { out: out.to_path_buf(), manifest, warnings })
}

/// Seed the digest cache with the files just written (hashed while they
/// were written), so a later command reading this output (`mlxport
/// quantize`, `inspect`) does not hash them again. Best effort: a cache
/// that cannot be updated only costs that later command time.
fn remember_outputs(cache_path: &Path, out: &Path, outputs: &[FileRecord]) {
    let mut cache = mlxport_intake::digest::DigestCache::load(cache_path);
    for r in outputs {
        let _ = cache.record(&out.join(&r.path), &r.sha256);
    }
    let _ = cache.save();
}

/// SHA-256 of the input files, through the digest cache when given.
fn hash_inputs(files: &[PathBuf], cache: Option<&Path>) -> Result<Vec<(PathBuf, u64, String)>> {
    use mlxport_intake::digest::{digest, DigestCache};
    use mlxport_intake::walk::{Entry, EntryKind};
    let Some(cache_path) = cache else {
        return files.iter().map(|f| hash_file(f).map(|(n, h)| (f.clone(), n, h))).collect();
    };
    let mut entries = Vec::with_capacity(files.len());
    for f in files {
        let size = std::fs::metadata(f).map_err(|e| Error::io(f, "stat", e))?.len();
        entries.push(Entry { path: f.to_string_lossy().into_owned(), kind: EntryKind::File, size, real: f.clone() });
    }
    let mut cache = DigestCache::load(cache_path);
    let d = digest(&entries, &mut cache);
    if let Some(fail) = d.failures.first() {
        return Err(Error::Convert(format!("{}: {}", fail.path, fail.problem)));
    }
    // A cache that cannot be written only costs the next run time.
    let _ = cache.save();
    Ok(d.files.into_iter().map(|f| (PathBuf::from(&f.path), f.size, f.sha256)).collect())
}

/// What [`write_weights`] wrote.
#[derive(Clone, Debug)]
pub struct Weights {
    /// The shards, then the index, with sizes and SHA-256.
    pub files: Vec<FileRecord>,
    pub tensors: usize,
    /// As the index's `total_parameters`.
    pub parameters: u64,
    /// As the index's `total_size`.
    pub total_size: u64,
}

/// Write only the weights of a planned conversion (shards and index) into
/// an existing directory `dir`. `p` must be `plan(map, src.tensors(), ..)`
/// without errors.
pub fn write_weights(src: &dyn TensorSource, map: &WeightMap, p: &Plan, dir: &Path, opts: &ConvertOptions) -> Result<Weights> {
    if p.errors() > 0 {
        return Err(plan_error(p));
    }
    let targets = p.targets();
    let stage = opts.stage.as_ref();
    let (specs, lookup, parameters) = output_specs(&targets, stage)?;
    let target_index = targets.iter().enumerate().map(|(i, t)| (t.name.as_str(), i)).collect();
    let mut producer = Producer { src, rules: &map.rules, plan: p, targets: &targets, target_index, lookup: &lookup, stage, cache: HashMap::new() };
    let total_size = specs.iter().map(|s| s.nbytes().unwrap_or(0)).sum();
    let files = write_checkpoint(dir, &specs, opts.shard_bytes, parameters, |spec| {
        let made = producer.produce(spec);
        if let (Ok(_), Some(tell)) = (&made, &opts.progress) {
            tell(spec.nbytes().unwrap_or(0), total_size);
        }
        made
    })?;
    Ok(Weights { files, tensors: specs.len(), parameters, total_size })
}

/// The config.json a conversion of `model` with `map` writes (`None` when
/// the source has no config): the GGUF's metadata rebuilt, or the
/// directory's config.json, as the map's target layout reads it
/// (quantization stages may add to it afterwards).
pub fn target_config(model: &Path, src: &dyn TensorSource, map: &WeightMap, p: &Plan) -> Result<Option<Value>> {
    let config = if src.format() == Format::Gguf {
        Some(crate::gguf_meta::config(&mlxport_tensor::gguf::GgufFile::open(model)?)?)
    } else {
        let dir = model_dir(model);
        let cfg_path = dir.join("config.json");
        match std::fs::read(&cfg_path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| Error::Convert(format!("{}: not valid JSON: {e}", cfg_path.display())))?),
            Err(_) => None,
        }
    };
    let keep_vision = p.targets().iter().any(|t| holds_vision_tower(&t.name));
    Ok(config.map(|c| for_target(&c, &map.target.layout, keep_vision).0))
}

/// Run the jobs producing the targets `wanted` selects and hand each
/// selected target's converted tensor (transformed, cast by the dtype
/// policy) to `f`, one job at a time. Ties are not visited (they copy
/// another target).
pub fn for_each_target(
    src: &dyn TensorSource,
    map: &WeightMap,
    p: &Plan,
    wanted: &dyn Fn(&str) -> bool,
    f: &mut dyn FnMut(&str, Buf<'_>) -> Result<()>,
) -> Result<()> {
    if p.errors() > 0 {
        return Err(plan_error(p));
    }
    let producer =
        Producer { src, rules: &map.rules, plan: p, targets: &[], target_index: HashMap::new(), lookup: &HashMap::new(), stage: &Plain, cache: HashMap::new() };
    for job in &p.jobs {
        if !job.targets.iter().any(|t| wanted(t)) {
            continue;
        }
        for (name, buf) in job.targets.iter().zip(producer.run_job(job)?) {
            if wanted(name) {
                f(name, buf)?;
            }
        }
    }
    Ok(())
}

/// Where an output tensor comes from: target index and output index.
type Lookup = HashMap<String, (usize, usize)>;

/// Output specs in parameter order, their origin, and the parameter count.
fn output_specs(targets: &[PlannedTarget], stage: &dyn Stage) -> Result<(Vec<TensorSpec>, Lookup, u64)> {
    let mut specs = Vec::new();
    let mut lookup = HashMap::new();
    let mut params = 0u64;
    for (ti, t) in targets.iter().enumerate() {
        for (oi, o) in stage.outputs(t)?.into_iter().enumerate() {
            if lookup.insert(o.spec.name.clone(), (ti, oi)).is_some() {
                return Err(Error::Convert(format!("output tensor '{}' is written twice", o.spec.name)));
            }
            params += o.parameters;
            specs.push(o.spec);
        }
    }
    Ok((specs, lookup, params))
}

/// Encoded outputs per target index.
type Made<'a> = Vec<(usize, Vec<Produced<'a>>)>;

/// Produces output tensors on demand, in any order, computing each job
/// once per target (a split's other parts wait in a small cache).
struct Producer<'a> {
    src: &'a dyn TensorSource,
    rules: &'a [crate::map::Rule],
    plan: &'a Plan,
    targets: &'a [PlannedTarget],
    target_index: HashMap<&'a str, usize>,
    lookup: &'a Lookup,
    stage: &'a dyn Stage,
    cache: HashMap<String, Produced<'a>>,
}

impl<'a> Producer<'a> {
    fn mapped(&self) -> bool {
        matches!(self.src.format(), Format::Safetensors | Format::Gguf)
    }

    fn produce(&mut self, spec: &TensorSpec) -> Result<Produced<'a>> {
        if let Some(p) = self.cache.remove(&spec.name) {
            return Ok(p);
        }
        let &(ti, _) = self.lookup.get(&spec.name).ok_or_else(|| Error::Convert(format!("no plan for output '{}'", spec.name)))?;
        let target = &self.targets[ti];
        let tie = self.plan.ties.iter().find(|t| t.target == target.name);
        let origin = tie.map(|t| t.from.as_str()).unwrap_or(&target.name);
        let (job, k) = self
            .plan
            .jobs
            .iter()
            .find_map(|j| j.targets.iter().position(|t| t == origin).map(|k| (j, k)))
            .ok_or_else(|| Error::Convert(format!("no job produces '{origin}'")))?;
        // Per target: its encoded outputs.
        let mut made: Made<'a> = Vec::new();
        if let Some(direct) = self.stage.direct_from_source(job, target, self.src) {
            made.push((ti, direct?.into_iter().map(|b| Produced { data: Cow::Owned(b), mapped: false }).collect()));
        } else {
            let outs = self.run_job(job)?;
            let mapped = self.mapped();
            for (j, buf) in outs.into_iter().enumerate() {
                // A tie takes only its origin; a job gives all its targets.
                let tk = match tie {
                    Some(_) if j == k => ti,
                    Some(_) => continue,
                    None => match self.target_index.get(job.targets[j].as_str()) {
                        Some(&tk) => tk,
                        None => continue,
                    },
                };
                // A tensor borrowed from the file mapping and re-encoded into
                // new buffers (quantized) can leave memory now.
                let source = match &buf.data {
                    Cow::Borrowed(b) if mapped => Some(*b),
                    _ => None,
                };
                let enc = self.stage.encode(&self.targets[tk], buf)?;
                if let Some(b) = source {
                    if enc.iter().all(|d| matches!(d, Cow::Owned(_))) {
                        release_mapped(b);
                    }
                }
                made.push((tk, enc.into_iter().map(|d| Produced { mapped: mapped && matches!(d, Cow::Borrowed(_)), data: d }).collect()));
            }
        }
        let mut result = None;
        for (tk, outs) in made {
            let specs = self.stage.outputs(&self.targets[tk])?;
            for (o, prod) in specs.into_iter().zip(outs) {
                if o.spec.name == spec.name {
                    result = Some(prod);
                } else {
                    self.cache.insert(o.spec.name, prod);
                }
            }
        }
        result.ok_or_else(|| Error::Convert(format!("output '{}' was not produced", spec.name)))
    }

    /// Read a job's inputs, apply its transforms and the dtype policy.
    fn run_job(&self, job: &'a Job) -> Result<Vec<Buf<'a>>> {
        let mut ins = Vec::with_capacity(job.inputs.len());
        for name in &job.inputs {
            let info = self.src.info(name)?;
            let buf = match &info.encoding {
                Encoding::Dense(d) => Buf { dtype: *d, shape: info.shape.clone(), data: self.src.raw(name)? },
                Encoding::Ggml { .. } => {
                    // Block-quantized GGUF: dequantized to f32.
                    let v = self.src.read_f32(name)?;
                    let mut bytes = Vec::with_capacity(v.len() * 4);
                    for x in v {
                        bytes.extend_from_slice(&x.to_le_bytes());
                    }
                    Buf { dtype: DType::F32, shape: info.shape.clone(), data: Cow::Owned(bytes) }
                }
            };
            ins.push(buf);
        }
        let borrowed: Vec<&'a [u8]> = ins.iter().filter_map(|b| if let Cow::Borrowed(s) = b.data { Some(s) } else { None }).collect();
        let transforms = &self.rules[job.rule].transforms;
        let outs = apply_all(transforms, ins).map_err(|e| Error::Convert(format!("rule {} on '{}': {e}", job.rule, job.inputs[0])))?;
        let mut result = Vec::with_capacity(outs.len());
        for (k, b) in outs.into_iter().enumerate() {
            let to = job.dtypes[k];
            let release: Option<ChunkDone> = if self.mapped() && matches!(b.data, Cow::Borrowed(_)) { Some(&release_mapped) } else { None };
            let data = cast_with(b.data, b.dtype, to, release).map_err(|e| Error::Convert(format!("'{}': {e}", job.targets[k])))?;
            result.push(Buf { dtype: to, shape: b.shape, data });
        }
        // Inputs fully copied into new buffers can leave memory now.
        if self.mapped() && result.iter().all(|b| matches!(b.data, Cow::Owned(_))) {
            for s in borrowed {
                release_mapped(s);
            }
        }
        Ok(result)
    }
}

/// Whether a converted tensor belongs to an image tower (a VLM's
/// `vision_tower`, CLIP's and SigLIP's `vision_model`): config.json then
/// keeps its `vision_config`.
fn holds_vision_tower(name: &str) -> bool {
    name.contains("vision_tower") || name.starts_with("vision_model.") || name.contains(".vision_model.")
}
