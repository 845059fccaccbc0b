//! Deterministic safetensors writers: one file, or a sharded checkpoint with
//! its index.
//!
//! Layout of a written file: the header's keys are sorted (`__metadata__`
//! first, then tensor names in byte order), each entry is written as
//! `{"dtype":..,"shape":[..],"data_offsets":[b,e]}`, and the data offsets
//! follow the sorted-name order. With [`WriteOptions::pad_header`] (the
//! default, as the Python `safetensors` writer does) the header is padded
//! with spaces to a multiple of 8 bytes; MLX's own writer does not pad. The
//! same input always gives the same bytes.
//!
//! Tensor bytes can be streamed: the `*_with` functions take a producer
//! called once per tensor, in file order, so a converter never needs the
//! whole model in memory. Files are written to a temporary name in the
//! destination directory and renamed into place when complete.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::header::{checked_numel, METADATA_KEY};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Name, dtype and shape of a tensor to write; its bytes come separately.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
}

impl TensorSpec {
    pub fn new(name: impl Into<String>, dtype: DType, shape: impl Into<Vec<u64>>) -> Self {
        TensorSpec { name: name.into(), dtype, shape: shape.into() }
    }

    /// Bytes the tensor takes, or `None` if the shape overflows or the
    /// total is not a whole number of bytes.
    pub fn nbytes(&self) -> Option<u64> {
        checked_numel(&self.shape).and_then(|n| self.dtype.byte_len(n))
    }

    /// Number of elements, or `None` on overflow.
    pub fn numel(&self) -> Option<u64> {
        checked_numel(&self.shape)
    }
}

/// A tensor held in memory.
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: &'a [u64],
    /// Little-endian, row-major bytes.
    pub data: &'a [u8],
}

/// How a file is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Pad the header with spaces to a multiple of 8 bytes (as the Python
    /// `safetensors` writer does). `false` matches MLX's writer.
    pub pad_header: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { pad_header: true }
    }
}

impl WriteOptions {
    /// The layout MLX's `save_safetensors` uses: no header padding.
    pub fn mlx() -> Self {
        WriteOptions { pad_header: false }
    }
}

/// Write in-memory tensors to one file with the default options. Returns
/// the file's size in bytes.
pub fn write_safetensors(path: &Path, tensors: &[TensorRef<'_>], metadata: Option<&BTreeMap<String, String>>) -> Result<u64> {
    write_safetensors_opts(path, tensors, metadata, &WriteOptions::default())
}

/// [`write_safetensors`] with explicit options.
pub fn write_safetensors_opts(path: &Path, tensors: &[TensorRef<'_>], metadata: Option<&BTreeMap<String, String>>, opts: &WriteOptions) -> Result<u64> {
    let specs: Vec<TensorSpec> = tensors.iter().map(|t| TensorSpec::new(t.name, t.dtype, t.shape)).collect();
    let data: HashMap<&str, &[u8]> = tensors.iter().map(|t| (t.name, t.data)).collect();
    write_safetensors_with(path, &specs, metadata, opts, |spec| {
        data.get(spec.name.as_str()).map(|d| Cow::Borrowed(*d)).ok_or_else(|| Error::not_found(path, &spec.name))
    })
}

/// Write one file, asking `produce` for each tensor's bytes in file order
/// (sorted names). Each produced buffer must have exactly the tensor's
/// size. Returns the file's size in bytes.
pub fn write_safetensors_with<'a, F>(
    path: &Path,
    specs: &[TensorSpec],
    metadata: Option<&BTreeMap<String, String>>,
    opts: &WriteOptions,
    mut produce: F,
) -> Result<u64>
where
    F: FnMut(&TensorSpec) -> Result<Cow<'a, [u8]>>,
{
    let layout = Layout::plan(path, specs, metadata, opts)?;
    let mut out = AtomicFile::create(path)?;
    out.write(&(layout.header.len() as u64).to_le_bytes())?;
    out.write(&layout.header)?;
    for &i in &layout.order {
        let spec = &specs[i];
        let bytes = produce(spec)?;
        let want = spec.nbytes().unwrap_or(0);
        if bytes.len() as u64 != want {
            return Err(Error::tensor(path, &spec.name, format!("{} bytes were supplied but {} shape {:?} needs {want}", bytes.len(), spec.dtype, spec.shape)));
        }
        out.write(&bytes)?;
    }
    out.commit()?;
    Ok(8 + layout.header.len() as u64 + layout.buffer_len)
}

/// The header of a file, as [`write_safetensors_with`] would write it
/// (without the 8-byte length prefix).
pub fn header_bytes(specs: &[TensorSpec], metadata: Option<&BTreeMap<String, String>>, opts: &WriteOptions) -> Result<Vec<u8>> {
    Layout::plan(Path::new("<header>"), specs, metadata, opts).map(|l| l.header)
}

/// A planned file: header text, and tensor positions in data order.
struct Layout {
    header: Vec<u8>,
    order: Vec<usize>,
    buffer_len: u64,
}

impl Layout {
    fn plan(path: &Path, specs: &[TensorSpec], metadata: Option<&BTreeMap<String, String>>, opts: &WriteOptions) -> Result<Layout> {
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by(|&a, &b| specs[a].name.cmp(&specs[b].name));
        for pair in order.windows(2) {
            if specs[pair[0]].name == specs[pair[1]].name {
                return Err(Error::tensor(path, &specs[pair[0]].name, "the name is given twice"));
            }
        }
        let mut header = String::from("{");
        if let Some(meta) = metadata {
            header.push_str(&json_str(METADATA_KEY));
            header.push_str(":{");
            for (i, (k, v)) in meta.iter().enumerate() {
                if i > 0 {
                    header.push(',');
                }
                header.push_str(&json_str(k));
                header.push(':');
                header.push_str(&json_str(v));
            }
            header.push('}');
        }
        let mut offset = 0u64;
        for &i in &order {
            let spec = &specs[i];
            let nbytes = check_spec(path, spec)?;
            let end = offset.checked_add(nbytes).ok_or_else(|| Error::tensor(path, &spec.name, "total size overflows u64"))?;
            if header.len() > 1 {
                header.push(',');
            }
            let shape: Vec<String> = spec.shape.iter().map(|d| d.to_string()).collect();
            header.push_str(&format!(
                "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
                json_str(&spec.name),
                spec.dtype.name(),
                shape.join(",")
            ));
            offset = end;
        }
        header.push('}');
        if opts.pad_header {
            while header.len() % 8 != 0 {
                header.push(' ');
            }
        }
        if header.len() as u64 > super::header::MAX_HEADER_LEN {
            return Err(Error::invalid(path, super::FORMAT, "the header would exceed 100,000,000 bytes"));
        }
        Ok(Layout { header: header.into_bytes(), order, buffer_len: offset })
    }
}

/// Check that a tensor can be written; returns its byte size.
fn check_spec(path: &Path, spec: &TensorSpec) -> Result<u64> {
    let bad = |rule: String| Error::tensor(path, &spec.name, rule);
    if spec.name == METADATA_KEY {
        return Err(bad(format!("a tensor may not be named '{METADATA_KEY}'")));
    }
    if spec.name.contains('\0') {
        return Err(bad("tensor names may not contain NUL bytes".into()));
    }
    if !spec.dtype.in_safetensors() {
        return Err(bad(format!("dtype {} cannot be stored in safetensors", spec.dtype)));
    }
    if spec.shape.len() > super::header::MAX_RANK {
        return Err(bad(format!("rank {} exceeds {}", spec.shape.len(), super::header::MAX_RANK)));
    }
    spec.nbytes().ok_or_else(|| bad(format!("shape {:?} of {} overflows or is not a whole number of bytes", spec.shape, spec.dtype)))
}

fn json_str(s: &str) -> String {
    // Serialising a str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Sharded checkpoints
// ---------------------------------------------------------------------------

/// Name of the index file written beside the shards.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// Options for [`write_sharded_with`].
#[derive(Clone, Debug)]
pub struct ShardOptions {
    /// A new shard starts when the next tensor would take the current one
    /// past this many bytes (mlx-lm uses 5 GiB).
    pub max_shard_bytes: u64,
    /// `__metadata__` written into every shard (mlx-lm: `{"format": "mlx"}`).
    pub metadata: Option<BTreeMap<String, String>>,
    /// Extra keys for the index's `metadata`, written after `total_size`
    /// in this order (mlx-lm adds `total_parameters`).
    pub index_metadata: Vec<(String, serde_json::Value)>,
    pub write: WriteOptions,
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions { max_shard_bytes: 5 << 30, metadata: None, index_metadata: Vec::new(), write: WriteOptions::default() }
    }
}

/// What [`write_sharded_with`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardedOutput {
    /// Shard file names, in order.
    pub files: Vec<String>,
    /// The index file.
    pub index_path: PathBuf,
    /// Sum of the tensors' byte sizes.
    pub total_size: u64,
}

/// Greedy sharding in the given order, as mlx-lm does: a new shard starts
/// when there is none yet or when the next tensor would take the current
/// shard past `max_shard_bytes`. A tensor larger than the limit gets a
/// shard of its own. Returns ranges of `specs`.
pub fn plan_shards(specs: &[TensorSpec], max_shard_bytes: u64) -> Vec<Range<usize>> {
    let mut shards: Vec<Range<usize>> = Vec::new();
    let mut size = 0u64;
    for (i, spec) in specs.iter().enumerate() {
        let n = spec.nbytes().unwrap_or(u64::MAX);
        match shards.last_mut() {
            Some(last) if size.saturating_add(n) <= max_shard_bytes => {
                last.end = i + 1;
                size = size.saturating_add(n);
            }
            _ => {
                shards.push(i..i + 1);
                size = n;
            }
        }
    }
    shards
}

/// Shard file names for `count` shards: `model.safetensors` for one,
/// `model-00001-of-00003.safetensors` otherwise.
pub fn shard_file_names(count: usize) -> Vec<String> {
    if count == 1 {
        return vec!["model.safetensors".into()];
    }
    (1..=count).map(|i| format!("model-{i:05}-of-{count:05}.safetensors")).collect()
}

/// Write in-memory tensors as a sharded checkpoint into `dir`.
pub fn write_sharded(dir: &Path, tensors: &[TensorRef<'_>], opts: &ShardOptions) -> Result<ShardedOutput> {
    let specs: Vec<TensorSpec> = tensors.iter().map(|t| TensorSpec::new(t.name, t.dtype, t.shape)).collect();
    let data: HashMap<&str, &[u8]> = tensors.iter().map(|t| (t.name, t.data)).collect();
    write_sharded_with(dir, &specs, opts, |spec| data.get(spec.name.as_str()).map(|d| Cow::Borrowed(*d)).ok_or_else(|| Error::not_found(dir, &spec.name)))
}

/// Write a sharded checkpoint into `dir`: the shards (see [`plan_shards`],
/// [`shard_file_names`]) and then [`INDEX_FILE`], always, as mlx-lm does.
/// `produce` is called once per tensor, shard by shard, in each shard's
/// file order. Each file is written atomically; the index comes last, so a
/// failed run never leaves an index pointing at missing shards.
pub fn write_sharded_with<'a, F>(dir: &Path, specs: &[TensorSpec], opts: &ShardOptions, mut produce: F) -> Result<ShardedOutput>
where
    F: FnMut(&TensorSpec) -> Result<Cow<'a, [u8]>>,
{
    let index_path = dir.join(INDEX_FILE);
    let mut names = HashSet::new();
    let mut total_size = 0u64;
    for spec in specs {
        let n = check_spec(&index_path, spec)?;
        if !names.insert(spec.name.as_str()) {
            return Err(Error::tensor(&index_path, &spec.name, "the name is given twice"));
        }
        total_size = total_size.checked_add(n).ok_or_else(|| Error::tensor(&index_path, &spec.name, "total size overflows u64"))?;
    }
    if opts.index_metadata.iter().any(|(k, _)| k == "total_size") {
        return Err(Error::invalid(&index_path, "safetensors index", "total_size is computed, not given"));
    }
    let plan = if specs.is_empty() { vec![Range { start: 0, end: 0 }] } else { plan_shards(specs, opts.max_shard_bytes) };
    let files = shard_file_names(plan.len());
    let mut weight_map = BTreeMap::new();
    for (range, file) in plan.iter().zip(&files) {
        let shard = specs.get(range.clone()).unwrap_or_default();
        write_safetensors_with(&dir.join(file), shard, opts.metadata.as_ref(), &opts.write, &mut produce)?;
        for spec in shard {
            weight_map.insert(spec.name.clone(), file.clone());
        }
    }
    let json = index_json(total_size, &opts.index_metadata, &weight_map);
    let mut out = AtomicFile::create(&index_path)?;
    out.write(json.as_bytes())?;
    out.commit()?;
    Ok(ShardedOutput { files, index_path, total_size })
}

/// The index text, formatted exactly as Python's `json.dump(obj, f,
/// indent=4)` formats it (mlx-lm's writer): 4-space indent, `": "` and
/// `","` separators, non-ASCII escaped as `\uXXXX`, no final newline.
/// (Float values in `extra` may be spelled differently from Python.)
pub fn index_json(total_size: u64, extra: &[(String, serde_json::Value)], weight_map: &BTreeMap<String, String>) -> String {
    use serde_json::Value;
    let mut meta = serde_json::Map::new();
    meta.insert("total_size".into(), Value::from(total_size));
    for (k, v) in extra {
        meta.insert(k.clone(), v.clone());
    }
    let wm: serde_json::Map<String, Value> = weight_map.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let mut root = serde_json::Map::new();
    root.insert("metadata".into(), Value::Object(meta));
    root.insert("weight_map".into(), Value::Object(wm));
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serialising a Value into memory cannot fail.
    let _ = serde::Serialize::serialize(&Value::Object(root), &mut ser);
    ascii_escape(&String::from_utf8_lossy(&buf))
}

/// Escape what Python's `ensure_ascii` escapes and serde_json leaves raw:
/// non-ASCII characters (as UTF-16 `\uXXXX`) and DEL. Both can only occur
/// inside JSON strings, so a plain character pass is correct.
fn ascii_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() && c != '\x7f' {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Atomic files
// ---------------------------------------------------------------------------

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file written under a temporary name in the destination's directory and
/// renamed over the destination on [`AtomicFile::commit`]; removed if
/// dropped before that.
struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    committed: bool,
}

impl AtomicFile {
    fn create(dest: &Path) -> Result<AtomicFile> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{base}.{}.{n}.tmp", std::process::id()));
            match File::options().write(true).create_new(true).open(&tmp) {
                Ok(f) => return Ok(AtomicFile { dest: dest.to_path_buf(), tmp, out: Some(BufWriter::with_capacity(1 << 20, f)), committed: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < u64::MAX => continue,
                Err(e) => return Err(Error::io(&tmp, "create", e)),
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match self.out.as_mut() {
            Some(w) => w.write_all(bytes).map_err(|e| Error::io(&self.tmp, "write", e)),
            None => Ok(()),
        }
    }

    fn commit(mut self) -> Result<()> {
        let Some(w) = self.out.take() else {
            return Ok(());
        };
        let f = w.into_inner().map_err(|e| Error::io(&self.tmp, "write", e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&self.tmp, "sync", e))?;
        drop(f);
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, "rename into place", e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.out.take());
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
