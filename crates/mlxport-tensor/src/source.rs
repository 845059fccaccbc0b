//! One abstraction over every tensor format: [`TensorSource`].
//!
//! [`open`] takes a file or a model directory, recognises the format from
//! the file's first bytes (never from its name alone), validates it, and
//! returns named tensors with dtype, shape and their bytes or decoded f32
//! values.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::dtype::{decode_f32, DType};
use crate::error::{Error, Result};
use crate::stream::{ChunkRead, SliceChunks};

/// The container format of a tensor file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Safetensors,
    Npy,
    Npz,
    Gguf,
    #[serde(rename = "pytorch")]
    PyTorch,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Gguf => "gguf",
            Format::PyTorch => "pytorch",
        }
    }
}

/// How a tensor's stored bytes encode its values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Plain little-endian elements of one dtype, row-major (C order).
    Dense(DType),
    /// ggml block-quantized data: the ggml type's name (`"Q4_1"`) and id.
    Ggml { name: &'static str, id: u32 },
}

impl Encoding {
    pub fn dtype(&self) -> Option<DType> {
        match self {
            Encoding::Dense(d) => Some(*d),
            Encoding::Ggml { .. } => None,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            Encoding::Dense(d) => d.name(),
            Encoding::Ggml { name, .. } => name,
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Description of one tensor in a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub encoding: Encoding,
    /// Logical shape, row-major (GGUF dims are reversed into this order).
    pub shape: Vec<u64>,
    /// Bytes as stored in the file.
    pub nbytes: u64,
    /// The file that holds this tensor.
    pub file: PathBuf,
}

impl TensorInfo {
    /// Number of elements (logical parameters). Shapes are validated by the
    /// readers, so this cannot overflow for a tensor they returned.
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }
    pub fn dtype(&self) -> Option<DType> {
        self.encoding.dtype()
    }
}

/// Named tensors from one file or from several files read as one model.
pub trait TensorSource: Send + Sync {
    /// The container format.
    fn format(&self) -> Format;
    /// The file or directory this source was opened from.
    fn path(&self) -> &Path;
    /// Every tensor, in the file's order.
    fn tensors(&self) -> &[TensorInfo];
    /// File-level metadata as key/value text (safetensors `__metadata__`,
    /// GGUF key/values rendered as JSON text, ...).
    fn metadata(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The tensor's bytes as stored: little-endian, row-major. Borrowed from
    /// a memory map where the format allows it.
    fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>>;
    /// The tensor's bytes, as [`TensorSource::raw`] gives them, read front
    /// to back in pieces (see [`crate::stream`]). Memory-mapped formats and
    /// npz members are read without holding the whole tensor in memory.
    fn chunks(&self, name: &str) -> Result<Box<dyn ChunkRead + '_>> {
        Ok(Box::new(SliceChunks::new(self.raw(name)?)))
    }
    /// The tensor's values as f32 (converted with round-to-nearest-even, or
    /// dequantized for block-quantized encodings).
    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let info = self.info(name)?;
        let dtype = match &info.encoding {
            Encoding::Dense(d) => *d,
            other => return Err(Error::unsupported(&info.file, format!("tensor '{name}': cannot decode {other}"))),
        };
        let raw = self.raw(name)?;
        let n = info.numel() as usize;
        let mut out = vec![0f32; n];
        decode_f32(dtype, &raw, &mut out).map_err(|e| Error::tensor(&info.file, name, e.to_string()))?;
        Ok(out)
    }
    /// Look a tensor up by name.
    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors().iter().find(|t| t.name == name).ok_or_else(|| Error::not_found(self.path(), name))
    }
}

/// Detect a file's format from its first bytes.
pub fn sniff(path: &Path) -> Result<Option<Format>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, "read", e)),
        }
    }
    let head = &head[..n];
    if head.starts_with(b"GGUF") {
        return Ok(Some(Format::Gguf));
    }
    if head.starts_with(b"\x93NUMPY") {
        return Ok(Some(Format::Npy));
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        // npz and PyTorch checkpoints are both zips; a PyTorch zip holds a
        // `*/data.pkl` member. Decided by the zip readers themselves.
        return Ok(Some(if crate::pytorch::is_torch_zip(path)? { Format::PyTorch } else { Format::Npz }));
    }
    if head.len() >= 9 && head[8] == b'{' {
        return Ok(Some(Format::Safetensors));
    }
    if head.first() == Some(&0x80) {
        // A bare pickle: the legacy (pre-1.6) torch.save format.
        return Ok(Some(Format::PyTorch));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    Ok(match ext {
        "safetensors" => Some(Format::Safetensors),
        "gguf" => Some(Format::Gguf),
        "npy" => Some(Format::Npy),
        "npz" => Some(Format::Npz),
        "bin" | "pt" | "pth" | "ckpt" => Some(Format::PyTorch),
        _ => None,
    })
}

/// Open one tensor file, whatever its format.
pub fn open_file(path: &Path) -> Result<Box<dyn TensorSource>> {
    if path.to_string_lossy().ends_with(".safetensors.index.json") {
        return Ok(Box::new(crate::safetensors::ShardedSafetensors::open(path)?));
    }
    match sniff(path)? {
        Some(Format::Safetensors) => Ok(Box::new(crate::safetensors::SafetensorsFile::open(path)?)),
        Some(Format::Npy) => Ok(Box::new(crate::npy::NpyFile::open(path)?)),
        Some(Format::Npz) => Ok(Box::new(crate::npz::NpzFile::open(path)?)),
        Some(Format::Gguf) => Ok(Box::new(crate::gguf::GgufFile::open(path)?)),
        Some(Format::PyTorch) => Ok(Box::new(crate::pytorch::TorchFile::open(path)?)),
        None => Err(Error::unsupported(path, "not a recognised tensor file (safetensors, npy, npz, GGUF or PyTorch zip)")),
    }
}

/// File names that hold tensors, by extension.
fn is_tensor_file_name(name: &str) -> bool {
    [".safetensors", ".gguf", ".npy", ".npz", ".bin", ".pt", ".pth"].iter().any(|e| name.ends_with(e))
}

/// Open a file or a model directory.
///
/// A directory is read as one model: a `*.safetensors.index.json` index if
/// present (its shards are cross-checked), otherwise every `*.safetensors`
/// file; failing those, every other tensor file in the directory. Names must
/// be unique across the files read.
pub fn open(path: &Path) -> Result<Box<dyn TensorSource>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "stat", e))?;
    if !meta.is_dir() {
        return open_file(path);
    }
    let mut names = Vec::new();
    let rd = std::fs::read_dir(path).map_err(|e| Error::io(path, "read directory", e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(path, "read directory", e))?;
        let ft = entry.file_type().map_err(|e| Error::io(entry.path(), "stat", e))?;
        if ft.is_file() || ft.is_symlink() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let indexes: Vec<&String> = names.iter().filter(|n| n.ends_with(".safetensors.index.json")).collect();
    if indexes.len() > 1 {
        return Err(Error::invalid(
            path,
            "model directory",
            format!("more than one safetensors index: {}", indexes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
        ));
    }
    if let Some(index) = indexes.first() {
        return Ok(Box::new(crate::safetensors::ShardedSafetensors::open(&path.join(index))?));
    }
    let st: Vec<PathBuf> = names.iter().filter(|n| n.ends_with(".safetensors")).map(|n| path.join(n)).collect();
    let files = if !st.is_empty() { st } else { names.iter().filter(|n| is_tensor_file_name(n)).map(|n| path.join(n)).collect() };
    if files.is_empty() {
        return Err(Error::unsupported(path, "the directory holds no tensor files"));
    }
    if files.len() == 1 {
        return open_file(&files[0]);
    }
    let sources = files.iter().map(|f| open_file(f)).collect::<Result<Vec<_>>>()?;
    Ok(Box::new(MultiSource::new(path, sources)?))
}

/// Several sources read as one, with names unique across them.
pub struct MultiSource {
    path: PathBuf,
    sources: Vec<Box<dyn TensorSource>>,
    infos: Vec<TensorInfo>,
    index: BTreeMap<String, usize>,
}

impl MultiSource {
    pub fn new(path: &Path, sources: Vec<Box<dyn TensorSource>>) -> Result<Self> {
        let mut infos = Vec::new();
        let mut index = BTreeMap::new();
        for (i, s) in sources.iter().enumerate() {
            for t in s.tensors() {
                if let Some(prev) = index.insert(t.name.clone(), i) {
                    return Err(Error::invalid(
                        path,
                        "model directory",
                        format!("tensor '{}' appears in both {} and {}", t.name, sources[prev].path().display(), t.file.display()),
                    ));
                }
                infos.push(t.clone());
            }
        }
        Ok(MultiSource { path: path.to_path_buf(), sources, infos, index })
    }
    fn source_of(&self, name: &str) -> Result<&dyn TensorSource> {
        self.index.get(name).map(|&i| self.sources[i].as_ref()).ok_or_else(|| Error::not_found(&self.path, name))
    }
}

impl TensorSource for MultiSource {
    fn format(&self) -> Format {
        self.sources[0].format()
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.infos
    }
    fn metadata(&self) -> Vec<(String, String)> {
        self.sources.iter().flat_map(|s| s.metadata()).collect()
    }
    fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        self.source_of(name)?.raw(name)
    }
    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        self.source_of(name)?.read_f32(name)
    }
    fn chunks(&self, name: &str) -> Result<Box<dyn ChunkRead + '_>> {
        self.source_of(name)?.chunks(name)
    }
}
