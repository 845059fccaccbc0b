//! GGUF v2/v3: a bounded, validating reader and ggml dequantization.
//!
//! [`GgufFile::open`] memory-maps a file, parses its header, metadata and
//! tensor infos with every count and extent checked against the file's real
//! size, and then hands out tensors without copying ([`GgufFile::bytes`])
//! or dequantized to f32 ([`TensorSource::read_f32`]). Metadata is kept as
//! typed [`Value`]s with accessors for what a model port needs
//! (`general.architecture`, tokenizer arrays, hyperparameters).
//!
//! GGUF stores dimensions fastest-varying first; [`TensorInfo::shape`] is
//! the reverse, the usual row-major shape.
//!
//! Submodules: [`types`] (the table of ggml types), [`value`] (metadata
//! values), [`dequant`] (block decoding), and the parser itself.

// `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.

pub mod dequant;
mod reader;
pub mod types;
pub mod value;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::source::{Encoding, Format, TensorInfo, TensorSource};

pub use dequant::{AffineBlocks, DequantError};
pub use reader::{DEFAULT_ALIGNMENT, MAX_ARRAY_DEPTH, MAX_DIMS, MAX_NAME_BYTES};
pub use types::{ggml_type, ggml_type_by_name, GgmlType, GGML_TYPES};
pub use value::{Array, Value, ValueType};

/// Arrays longer than this are abbreviated in [`TensorSource::metadata`].
pub const METADATA_MAX_ITEMS: usize = 16;

/// Where one tensor lives and how it is encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufTensor {
    pub name: String,
    /// Dimensions as stored: fastest-varying first.
    pub dims: Vec<u64>,
    pub ggml: GgmlType,
    /// Offset relative to the data section, as stored.
    pub offset: u64,
    /// Absolute offset of the tensor's first byte in the file.
    pub start: u64,
    pub nbytes: u64,
}

/// An open, validated GGUF file.
pub struct GgufFile {
    path: PathBuf,
    map: memmap2::Mmap,
    version: u32,
    alignment: u64,
    data_start: u64,
    kvs: Vec<(String, Value)>,
    kv_index: HashMap<String, usize>,
    infos: Vec<TensorInfo>,
    tensors: Vec<GgufTensor>,
    index: HashMap<String, usize>,
}

impl GgufFile {
    /// Open and validate a GGUF file.
    pub fn open(path: &Path) -> Result<Self> {
        let map = map_file(path)?;
        let layout = reader::parse(path, &map)?;
        let kv_index = layout.kvs.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        let mut infos = Vec::with_capacity(layout.tensors.len());
        let mut tensors = Vec::with_capacity(layout.tensors.len());
        let mut index = HashMap::with_capacity(layout.tensors.len());
        for (i, t) in layout.tensors.into_iter().enumerate() {
            infos.push(tensor_info(path, &t));
            index.insert(t.name.clone(), i);
            tensors.push(GgufTensor { name: t.name, dims: t.dims, ggml: t.ggml, offset: t.offset, start: t.start, nbytes: t.nbytes });
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            map,
            version: layout.version,
            alignment: layout.alignment,
            data_start: layout.data_start,
            kvs: layout.kvs,
            kv_index,
            infos,
            tensors,
            index,
        })
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The data alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset of the data section.
    pub fn data_offset(&self) -> u64 {
        self.data_start
    }

    /// Every key/value, in file order.
    pub fn kvs(&self) -> &[(String, Value)] {
        &self.kvs
    }

    /// The value of a metadata key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.kv_index.get(key).and_then(|&i| self.kvs.get(i)).map(|(_, v)| v)
    }

    /// A string value (`general.architecture`, `tokenizer.chat_template`).
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// An integer value that fits in a u32.
    pub fn get_u32(&self, key: &str) -> Option<u32> {
        self.get(key)?.as_u32()
    }

    /// An integer value that fits in a u64.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// An integer value that fits in an i64.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get(key)?.as_i64()
    }

    /// A float value (f32, or f64 rounded).
    pub fn get_f32(&self, key: &str) -> Option<f32> {
        self.get(key)?.as_f32()
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }

    pub fn get_array(&self, key: &str) -> Option<&Array> {
        self.get(key)?.as_array()
    }

    /// An array of strings (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    pub fn get_strings(&self, key: &str) -> Option<&[String]> {
        self.get_array(key)?.as_strings()
    }

    /// The GGUF-level description of every tensor, in file order.
    pub fn ggml_tensors(&self) -> &[GgufTensor] {
        &self.tensors
    }

    /// One tensor's GGUF-level description.
    pub fn tensor(&self, name: &str) -> Result<&GgufTensor> {
        self.index.get(name).and_then(|&i| self.tensors.get(i)).ok_or_else(|| Error::not_found(&self.path, name))
    }

    /// A tensor's stored bytes, borrowed from the memory map.
    pub fn bytes(&self, name: &str) -> Result<&[u8]> {
        let t = self.tensor(name)?;
        let range = usize::try_from(t.start).ok().zip(usize::try_from(t.start + t.nbytes).ok());
        range.and_then(|(a, b)| self.map.get(a..b)).ok_or_else(|| Error::tensor(&self.path, name, "data lies outside the mapped file"))
    }

    /// Codes, scales and mins of a Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0 tensor,
    /// for lossless repacking into another affine format.
    pub fn affine_blocks(&self, name: &str) -> Result<AffineBlocks> {
        let t = self.tensor(name)?;
        let bytes = self.bytes(name)?;
        dequant::affine_blocks(&t.ggml, bytes).map_err(|e| self.dequant_error(name, e))
    }

    fn dequant_error(&self, name: &str, e: DequantError) -> Error {
        match e {
            DequantError::Unsupported(_) => Error::unsupported(&self.path, format!("tensor '{name}': {e}")),
            other => Error::tensor(&self.path, name, other.to_string()),
        }
    }
}

/// Memory-map a file (an empty file cannot be mapped everywhere, and is no
/// GGUF file anyway).
fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let len = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
    if len < reader::HEADER_BYTES {
        // Too short to map usefully: parse the few bytes for the right error.
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
        return Err(match reader::parse(path, &bytes) {
            Err(e) => e,
            Ok(_) => Error::invalid(path, "GGUF", format!("truncated header: the file has {len} bytes")),
        });
    }
    // SAFETY: the map is read-only; like every reader that maps a file, we
    // rely on the file not being truncated while it is open.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, "memory-map", e))
}

fn tensor_info(path: &Path, t: &reader::RawTensor) -> TensorInfo {
    let encoding = match t.ggml.dense {
        Some(d) => Encoding::Dense(d),
        None => Encoding::Ggml { name: t.ggml.name, id: t.ggml.id },
    };
    TensorInfo { name: t.name.clone(), encoding, shape: t.dims.iter().rev().copied().collect(), nbytes: t.nbytes, file: path.to_path_buf() }
}

impl TensorSource for GgufFile {
    fn format(&self) -> Format {
        Format::Gguf
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> &[TensorInfo] {
        &self.infos
    }

    /// Every key/value with its value as text; arrays longer than
    /// [`METADATA_MAX_ITEMS`] are abbreviated (`[... 49152 strings]`).
    fn metadata(&self) -> Vec<(String, String)> {
        self.kvs.iter().map(|(k, v)| (k.clone(), v.render(METADATA_MAX_ITEMS))).collect()
    }

    fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        self.bytes(name).map(Cow::Borrowed)
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.tensor(name)?;
        if !dequant::supports(&t.ggml) {
            return Err(self.dequant_error(name, DequantError::Unsupported(t.ggml.name)));
        }
        let info = self.info(name)?;
        let numel = usize::try_from(info.numel()).map_err(|_| Error::tensor(&self.path, name, "too many elements for this machine"))?;
        let bytes = self.bytes(name)?;
        let mut out = vec![0f32; numel];
        dequant::dequantize(&t.ggml, bytes, &mut out).map_err(|e| self.dequant_error(name, e))?;
        Ok(out)
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.index.get(name).and_then(|&i| self.infos.get(i)).ok_or_else(|| Error::not_found(&self.path, name))
    }
}
