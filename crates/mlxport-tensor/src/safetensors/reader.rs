//! [`SafetensorsFile`]: one memory-mapped, fully validated safetensors file.

use std::borrow::Cow;
use std::collections::BTreeMap;

// Names are hashed tens of thousands of times per sharded checkpoint:
// foldhash (seeded per process) instead of SipHash.
use foldhash::{HashMap, HashMapExt};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::header::{self, Entry, MAX_HEADER_LEN};
use super::FORMAT;
use crate::error::{Error, Result};
use crate::source::{Encoding, Format, TensorInfo, TensorSource};
use crate::stream::{ChunkRead, MappedChunks};

/// A safetensors file, memory-mapped. Opening validates the whole header
/// against the file; afterwards [`TensorSource::raw`] borrows each tensor's
/// bytes straight from the map (no copy, no alignment requirement).
///
/// As with any memory map, the file must not be truncated or rewritten by
/// another process while it is open.
pub struct SafetensorsFile {
    path: PathBuf,
    map: Mmap,
    /// Offset of the data buffer in the file (`8 + header length`).
    data_start: usize,
    infos: Vec<TensorInfo>,
    /// Byte spans in the data buffer, parallel to `infos`.
    spans: Vec<(usize, usize)>,
    by_name: HashMap<String, usize>,
    metadata: BTreeMap<String, String>,
    header_len: u64,
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile").field("path", &self.path).field("tensors", &self.infos.len()).finish()
    }
}

impl SafetensorsFile {
    /// Open and validate a safetensors file.
    pub fn open(path: &Path) -> Result<Self> {
        let invalid = |rule: String| Error::invalid(path, FORMAT, rule);
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
        if file_len < 8 {
            return Err(invalid(format!("the file is {file_len} bytes, too short for the 8-byte header length")));
        }
        let file_len_usize = usize::try_from(file_len).map_err(|_| Error::unsupported(path, "file larger than this machine's address space"))?;
        // SAFETY: the map is read-only; callers are told not to modify the
        // file while it is open (the usual contract of memory-mapped I/O).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, "memory-map", e))?;
        if map.len() != file_len_usize {
            return Err(invalid("the file changed size while being opened".into()));
        }
        let header_len = read_header_len(&map);
        if header_len > MAX_HEADER_LEN {
            return Err(invalid(format!("header length {header_len} exceeds the limit of {MAX_HEADER_LEN} bytes")));
        }
        if header_len > file_len - 8 {
            return Err(invalid(format!("header length {header_len} runs past the end of the file ({file_len} bytes)")));
        }
        // Both fit: header_len <= file_len - 8 and file_len fits usize.
        let data_start = 8 + header_len as usize;
        let header_bytes = map.get(8..data_start).unwrap_or_default();
        let raw = header::parse(path, header_bytes)?;
        let buffer_len = file_len - 8 - header_len;
        let metadata = raw.metadata.clone();
        let entries = header::validate(path, raw, buffer_len)?;
        Ok(Self::from_entries(path, map, data_start, header_len, entries, metadata))
    }

    fn from_entries(path: &Path, map: Mmap, data_start: usize, header_len: u64, entries: Vec<Entry>, metadata: BTreeMap<String, String>) -> Self {
        let mut infos = Vec::with_capacity(entries.len());
        let mut spans = Vec::with_capacity(entries.len());
        let mut by_name = HashMap::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            // Validated: end <= buffer length <= file length, which fits usize.
            spans.push((e.begin as usize, e.end as usize));
            by_name.insert(e.name.clone(), i);
            infos.push(TensorInfo { name: e.name, encoding: Encoding::Dense(e.dtype), shape: e.shape, nbytes: e.end - e.begin, file: path.to_path_buf() });
        }
        SafetensorsFile { path: path.to_path_buf(), map, data_start, infos, spans, by_name, metadata, header_len }
    }

    /// The `__metadata__` map of the header (empty if absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Length of the JSON header in bytes (including any padding).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// Borrow a tensor's bytes from the memory map.
    pub fn bytes(&self, name: &str) -> Result<&[u8]> {
        let &i = self.by_name.get(name).ok_or_else(|| Error::not_found(&self.path, name))?;
        let (b, e) = self.spans.get(i).copied().unwrap_or_default();
        let data = self.map.get(self.data_start..).unwrap_or_default();
        data.get(b..e).ok_or_else(|| Error::tensor(&self.path, name, "span outside the mapped file (the file changed?)"))
    }

    /// Whether the file holds a tensor of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
}

fn read_header_len(map: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    if let Some(head) = map.get(..8) {
        b.copy_from_slice(head);
    }
    u64::from_le_bytes(b)
}

impl TensorSource for SafetensorsFile {
    fn format(&self) -> Format {
        Format::Safetensors
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.infos
    }
    fn metadata(&self) -> Vec<(String, String)> {
        self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
    fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        self.bytes(name).map(Cow::Borrowed)
    }
    fn chunks(&self, name: &str) -> Result<Box<dyn ChunkRead + '_>> {
        let &i = self.by_name.get(name).ok_or_else(|| Error::not_found(&self.path, name))?;
        let (b, e) = self.spans.get(i).copied().unwrap_or_default();
        Ok(Box::new(MappedChunks::new(&self.map, self.data_start + b, self.data_start + e)))
    }
    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.by_name.get(name).and_then(|&i| self.infos.get(i)).ok_or_else(|| Error::not_found(&self.path, name))
    }
}
