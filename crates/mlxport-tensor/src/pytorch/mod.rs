//! PyTorch zip checkpoints read through a restricted pickle machine.
//!
//! A `torch.save` file (torch >= 1.6) is a zip holding `<root>/data.pkl`, a
//! pickle of the saved object whose tensors point by persistent id at
//! storage members `<root>/data/<key>`, plus `<root>/byteorder` and
//! `<root>/version`. [`TorchFile::open`] runs `data.pkl` through
//! [`pickle`], a pickle machine that never imports or calls anything:
//! globals resolve only against the allowlist in [`globals`] and any other
//! global is refused at its opcode, naming it. Tensors become checked views
//! of their storages ([`rebuild`]); [`TensorSource::raw`] borrows a stored,
//! contiguous, little-endian tensor straight from the memory-mapped zip and
//! copies otherwise (strided views, big-endian files, compressed members).
//!
//! Legacy (pre-1.6) pickle files and TorchScript archives are refused with
//! a message saying what to do instead. [`scan_file`] / [`scan_pickle`]
//! list the globals a file references without executing anything.

pub mod archive;
pub mod globals;
pub mod pickle;
pub mod rebuild;
pub mod scan;

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use archive::{has_zip_signature, Archive, Member};
use pickle::{FaultKind, Limits, PickleError};
use rebuild::{TorchHost, View};

pub use scan::{scan_file, scan_pickle, FileKind, FileScan, MemberScan, PickleScan, Verdict};

use crate::dtype::{DType, Kind};
use crate::error::{Error, Result};
use crate::source::{Encoding, Format, TensorInfo, TensorSource};

const FORMAT: &str = "PyTorch zip";

/// The sentence every refusal of a legacy file carries.
pub const LEGACY_MESSAGE: &str = "legacy (pre-1.6) torch.save format is not supported; re-save with torch>=1.6 or convert to safetensors";

/// A broadcast view may expand its storage at most this many times...
const MAX_EXPANSION: u64 = 16;
/// ...unless the tensor stays below this size.
const EXPANSION_FREE_BYTES: u64 = 16 << 20;

/// Where one tensor's values live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchTensor {
    pub name: String,
    /// The storage's key (its member is `<root>/data/<key>`).
    pub storage_key: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    /// In elements.
    pub stride: Vec<u64>,
    /// In elements.
    pub offset: u64,
    pub requires_grad: bool,
    /// Saved as an `nn.Parameter`.
    pub parameter: bool,
}

/// Tensors that view one storage (tied weights, or views of one tensor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedStorage {
    pub storage_key: String,
    pub tensors: Vec<String>,
    /// Whether every tensor of the group is the same view (same dtype,
    /// offset, shape and stride): tied weights rather than distinct views.
    pub identical_views: bool,
}

/// A storage member in use.
struct StorageMember {
    member: Member,
    /// Bytes the storage declares (a prefix of the member).
    nbytes: u64,
}

/// A PyTorch zip checkpoint, validated at open.
pub struct TorchFile {
    path: PathBuf,
    archive: Archive,
    infos: Vec<TensorInfo>,
    tensors: Vec<TorchTensor>,
    views: Vec<View>,
    /// Storage member of each view.
    view_storage: Vec<usize>,
    storages: Vec<StorageMember>,
    index: HashMap<String, usize>,
    metadata: Vec<(String, String)>,
    big_endian: bool,
}

impl TorchFile {
    /// Open and validate a checkpoint; no tensor data is read.
    pub fn open(path: &Path) -> Result<Self> {
        let head = read_prefix(path, 16)?;
        if !has_zip_signature(&head) {
            return Err(not_a_zip(path, &head));
        }
        let archive = Archive::open(path)?;
        let root = find_root(path, &archive)?;
        let big_endian = read_byteorder(path, &archive, &root)?;
        let version = read_version(path, &archive, &root)?;
        let pkl_name = format!("{root}data.pkl");
        let pkl_member = archive.find(&pkl_name).cloned().ok_or_else(|| Error::invalid(path, FORMAT, "no data.pkl member"))?;
        let limits = Limits::default();
        let pkl = archive.read_small(&pkl_member, limits.max_input as u64)?;
        let mut host = TorchHost::default();
        let u = pickle::run(&pkl, 0, &mut host, &limits).map_err(|e| pickle_error(path, &pkl_name, e))?;
        let flat = rebuild::flatten(path, &pkl_name, &u.heap, u.value)?;
        drop(u);
        drop(pkl);

        let mut storages: Vec<StorageMember> = Vec::new();
        let mut storage_of: HashMap<usize, usize> = HashMap::new();
        let mut me = TorchFile {
            path: path.to_path_buf(),
            archive,
            infos: Vec::with_capacity(flat.tensors.len()),
            tensors: Vec::with_capacity(flat.tensors.len()),
            views: Vec::with_capacity(flat.tensors.len()),
            view_storage: Vec::with_capacity(flat.tensors.len()),
            storages: Vec::new(),
            index: HashMap::new(),
            metadata: Vec::new(),
            big_endian,
        };
        for (name, vi) in flat.tensors {
            let view = host.views.get(vi).cloned().ok_or_else(|| Error::invalid(path, FORMAT, "internal: unknown view"))?;
            let sref = host.storages.get(view.storage).ok_or_else(|| Error::invalid(path, FORMAT, "internal: unknown storage"))?;
            let si = match storage_of.get(&view.storage) {
                Some(&si) => si,
                None => {
                    let sm = storage_member(path, &me.archive, &root, sref, &name)?;
                    storages.push(sm);
                    storage_of.insert(view.storage, storages.len() - 1);
                    storages.len() - 1
                }
            };
            let nbytes = check_materialized(path, &name, &view, storages[si].nbytes)?;
            me.index.insert(name.clone(), me.infos.len());
            me.infos.push(TensorInfo {
                name: name.clone(),
                encoding: Encoding::Dense(view.dtype),
                shape: view.shape.clone(),
                nbytes,
                file: path.to_path_buf(),
            });
            me.tensors.push(TorchTensor {
                name,
                storage_key: sref.key.clone(),
                dtype: view.dtype,
                shape: view.shape.clone(),
                stride: view.stride.clone(),
                offset: view.offset,
                requires_grad: view.requires_grad,
                parameter: view.parameter,
            });
            me.views.push(view);
            me.view_storage.push(si);
        }
        me.storages = storages;
        me.metadata.push(("pytorch.version".into(), version));
        me.metadata.push(("pytorch.byteorder".into(), if big_endian { "big" } else { "little" }.into()));
        me.metadata.extend(flat.metadata);
        Ok(me)
    }

    /// Every tensor with its storage, offset, stride and flags.
    pub fn torch_tensors(&self) -> &[TorchTensor] {
        &self.tensors
    }

    /// Groups of two or more tensors that view the same storage, in file
    /// order: tied weights (`identical_views`) or views of one tensor.
    pub fn shared_storage_groups(&self) -> Vec<SharedStorage> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (ti, &si) in self.view_storage.iter().enumerate() {
            let key = &self.tensors[ti].storage_key;
            match groups.iter_mut().find(|(s, _)| self.tensors[*s].storage_key == *key && self.view_storage[*s] == si) {
                Some((_, members)) => members.push(ti),
                None => groups.push((ti, vec![ti])),
            }
        }
        groups
            .into_iter()
            .filter(|(_, m)| m.len() > 1)
            .map(|(first, m)| {
                let v0 = &self.views[first];
                let identical = m.iter().all(|&i| {
                    let v = &self.views[i];
                    v.dtype == v0.dtype && v.offset == v0.offset && v.shape == v0.shape && v.stride == v0.stride
                });
                SharedStorage {
                    storage_key: self.tensors[first].storage_key.clone(),
                    tensors: m.iter().map(|&i| self.tensors[i].name.clone()).collect(),
                    identical_views: identical,
                }
            })
            .collect()
    }

    fn lookup(&self, name: &str) -> Result<usize> {
        self.index.get(name).copied().ok_or_else(|| Error::not_found(&self.path, name))
    }
}

impl TensorSource for TorchFile {
    fn format(&self) -> Format {
        Format::PyTorch
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.infos
    }
    fn metadata(&self) -> Vec<(String, String)> {
        self.metadata.clone()
    }
    fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        let i = self.lookup(name)?;
        let view = &self.views[i];
        let sm = &self.storages[self.view_storage[i]];
        let bytes = self.archive.bytes(&sm.member)?;
        let err = |rule: String| Error::tensor(&self.path, name, rule);
        let storage_len = usize::try_from(sm.nbytes).map_err(|_| err("storage too large for this platform".into()))?;
        let (start, end) = view.byte_extent().map_err(|f| err(f.message))?;
        if end > storage_len as u64 || bytes.len() < storage_len {
            return Err(err("view reaches past its storage".into()));
        }
        if view.is_contiguous() && !self.big_endian {
            let (s, e) = (start as usize, end as usize);
            return Ok(match bytes {
                Cow::Borrowed(b) => Cow::Borrowed(b.get(s..e).ok_or_else(|| err("view reaches past its storage".into()))?),
                Cow::Owned(b) => Cow::Owned(b.get(s..e).ok_or_else(|| err("view reaches past its storage".into()))?.to_vec()),
            });
        }
        let mut out = gather(view, &bytes[..storage_len]).map_err(err)?;
        if self.big_endian {
            swap_to_little(view.dtype, &mut out);
        }
        Ok(Cow::Owned(out))
    }
}

/// Copy a strided view out of its storage into row-major order.
fn gather(view: &View, storage: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let isz = view.dtype.size().ok_or("dtype has no byte size")? as u64;
    let numel = view.numel().ok_or("element count overflows")?;
    let total = numel.checked_mul(isz).and_then(|n| usize::try_from(n).ok()).ok_or("tensor too large")?;
    let mut out = Vec::with_capacity(total);
    if numel == 0 {
        return Ok(out);
    }
    let nd = view.shape.len();
    // Copy runs along the last dimension when it is contiguous.
    let (run, outer) = match (view.shape.last(), view.stride.last()) {
        (Some(&s), Some(&1)) => (s, nd - 1),
        _ => (1, nd),
    };
    let run_bytes = (run * isz) as usize;
    let mut idx = vec![0u64; outer];
    loop {
        let elem = view.offset + idx.iter().zip(&view.stride).map(|(i, st)| i * st).sum::<u64>();
        let s = (elem * isz) as usize;
        let chunk = s.checked_add(run_bytes).and_then(|e| storage.get(s..e)).ok_or("view reaches past its storage")?;
        out.extend_from_slice(chunk);
        // Advance the odometer over the outer dimensions.
        let mut d = outer;
        loop {
            if d == 0 {
                return Ok(out);
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < view.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Byte-swap big-endian elements in place (complex numbers per part).
fn swap_to_little(dtype: DType, data: &mut [u8]) {
    let size = dtype.size().unwrap_or(1);
    let unit = if dtype.kind() == Kind::Complex { size / 2 } else { size };
    if unit > 1 {
        for c in data.chunks_exact_mut(unit) {
            c.reverse();
        }
    }
}

/// Check the bytes a view materializes to, refusing broadcast bombs.
fn check_materialized(path: &Path, name: &str, view: &View, storage_bytes: u64) -> Result<u64> {
    let isz = view.dtype.size().ok_or_else(|| Error::unsupported(path, format!("tensor '{name}': sub-byte dtype")))? as u64;
    let nbytes = view.numel().and_then(|n| n.checked_mul(isz)).ok_or_else(|| Error::tensor(path, name, "size overflows 64-bit arithmetic"))?;
    if nbytes > EXPANSION_FREE_BYTES && nbytes / MAX_EXPANSION > storage_bytes {
        return Err(Error::refused(
            path,
            format!(
                "tensor '{name}' is a broadcast (stride-0) view of {nbytes} bytes over a storage of {storage_bytes} bytes; \
                 views may expand their storage at most {MAX_EXPANSION} times"
            ),
        ));
    }
    Ok(nbytes)
}

/// Find the storage member of a storage reference and check its size.
fn storage_member(path: &Path, archive: &Archive, root: &str, sref: &rebuild::StorageRef, tensor: &str) -> Result<StorageMember> {
    let name = format!("{root}data/{}", sref.key);
    let member = archive.find(&name).cloned().ok_or_else(|| {
        Error::invalid(path, FORMAT, format!("tensor '{tensor}' refers to storage '{}' but the archive has no member '{name}'", pickle::clip(&sref.key)))
    })?;
    let nbytes = sref.nbytes().ok_or_else(|| Error::invalid(path, FORMAT, format!("storage '{}' size overflows", pickle::clip(&sref.key))))?;
    if member.size < nbytes {
        return Err(Error::invalid(
            path,
            FORMAT,
            format!(
                "storage '{}' declares {} elements ({nbytes} bytes) but member '{name}' holds only {} bytes: storage too small",
                sref.key, sref.numel, member.size
            ),
        ));
    }
    Ok(StorageMember { member, nbytes })
}

/// The archive's root folder (with a trailing `/`, or empty), from its one
/// `data.pkl`; TorchScript archives are refused.
fn find_root(path: &Path, archive: &Archive) -> Result<String> {
    let names: Vec<&str> = archive.members().iter().map(|m| m.name.as_str()).collect();
    let torchscript = names.iter().any(|n| {
        let rest = n.split_once('/').map(|(_, r)| r).unwrap_or(n);
        rest == "constants.pkl" || rest.starts_with("code/") || *n == "constants.pkl" || n.starts_with("code/")
    });
    if torchscript {
        return Err(Error::unsupported(
            path,
            "this is a TorchScript archive (torch.jit.save: it holds constants.pkl / code/), not a torch.save checkpoint; \
             load it with torch.jit.load and save its state_dict() with torch.save or safetensors",
        ));
    }
    let pkls: Vec<&str> = names.iter().copied().filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl")).collect();
    match pkls.as_slice() {
        [] => Err(Error::invalid(path, FORMAT, "no data.pkl member: not a torch.save checkpoint")),
        [one] => Ok(one[..one.len() - "data.pkl".len()].to_owned()),
        many => Err(Error::invalid(
            path,
            FORMAT,
            format!("two data.pkl roots ({}): ambiguous checkpoint", many.iter().take(4).copied().collect::<Vec<_>>().join(", ")),
        )),
    }
}

fn read_byteorder(path: &Path, archive: &Archive, root: &str) -> Result<bool> {
    let Some(m) = archive.find(&format!("{root}byteorder")) else {
        return Ok(false);
    };
    let b = archive.read_small(m, 64)?;
    match String::from_utf8_lossy(&b).trim() {
        "little" => Ok(false),
        "big" => Ok(true),
        other => Err(Error::invalid(path, FORMAT, format!("byteorder is '{}', expected 'little' or 'big'", pickle::clip(other)))),
    }
}

fn read_version(path: &Path, archive: &Archive, root: &str) -> Result<String> {
    let Some(m) = archive.find(&format!("{root}version")) else {
        return Ok("unknown".into());
    };
    let b = archive.read_small(m, 64)?;
    let v = String::from_utf8_lossy(&b).trim().to_owned();
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(path, FORMAT, format!("version member is '{}', expected a number", pickle::clip(&v))));
    }
    Ok(v)
}

fn pickle_error(path: &Path, member: &str, e: PickleError) -> Error {
    let msg = format!("{member}: {e}");
    match e.kind {
        FaultKind::Refused => Error::refused(path, msg),
        FaultKind::Unsupported => Error::unsupported(path, msg),
        FaultKind::Invalid => Error::invalid(path, "PyTorch pickle", msg),
    }
}

/// The error for a file without a zip signature: a legacy pickle, or not a
/// checkpoint at all. The file is scanned (never executed) first so that a
/// malicious pickle is refused by the name of its globals.
fn not_a_zip(path: &Path, head: &[u8]) -> Error {
    let data = match read_prefix(path, 16 << 20) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let scan = scan_pickle(&data);
    match scan.verdict {
        Verdict::Dangerous(g) | Verdict::Unknown(g) if !g.is_empty() => Error::refused(
            path,
            format!("this bare pickle references global(s) {} that are not on the allowlist; nothing was imported or run. {LEGACY_MESSAGE}", g.join(", ")),
        ),
        _ if head.first() == Some(&0x80) => Error::unsupported(path, LEGACY_MESSAGE),
        _ => Error::unsupported(path, format!("not a PyTorch zip checkpoint (no zip signature); {LEGACY_MESSAGE}")),
    }
}

fn read_prefix(path: &Path, n: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut out = Vec::new();
    f.take(n).read_to_end(&mut out).map_err(|e| Error::io(path, "read", e))?;
    Ok(out)
}

/// Whether a zip file is a PyTorch checkpoint: its central directory has a
/// member `data.pkl` or `*/data.pkl`. Reads only the central directory; a
/// zip that cannot be parsed is reported as not a checkpoint.
pub fn is_torch_zip(path: &Path) -> Result<bool> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let Ok(zip) = zip::ZipArchive::new(std::io::BufReader::new(f)) else {
        return Ok(false);
    };
    let found = zip.file_names().any(|n| n == "data.pkl" || n.ends_with("/data.pkl"));
    Ok(found)
}
