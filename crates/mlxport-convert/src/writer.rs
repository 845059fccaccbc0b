//! Streaming shard writer: mlx-lm's layout (greedy shards in parameter
//! order, names sorted within a shard, unpadded headers, `{"format":
//! "mlx"}` metadata, an index with `total_size` and `total_parameters`),
//! written by one thread that also hashes every byte, while the caller
//! produces the next tensor.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use mlxport_tensor::safetensors::{header_bytes, index_json, plan_shards, shard_file_names, TensorSpec, WriteOptions, INDEX_FILE};
use sha2::{Digest, Sha256};

use crate::{Error, Result};
use mlxport_util::hash::{hex, sha256_hex};

/// A file written, with its size and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

enum Msg<'a> {
    Begin(PathBuf, Vec<u8>),
    Data(Cow<'a, [u8]>, bool),
    End,
}

/// Tell the kernel the pages behind a tensor borrowed from a read-only
/// file mapping are no longer needed, so resident memory stays bounded by
/// the tensors in flight rather than by the model. Only whole pages inside
/// the slice are released; the mapping stays valid and re-reads the file if
/// touched again. Never call this on heap memory.
pub fn release_mapped(bytes: &[u8]) {
    #[cfg(unix)]
    {
        const PAGE: usize = 4096;
        let start = bytes.as_ptr() as usize;
        let end = start + bytes.len();
        let a = start.div_ceil(PAGE) * PAGE;
        let b = end / PAGE * PAGE;
        if b > a {
            // SAFETY: [a, b) lies inside a live read-only file mapping (the
            // caller's contract); MADV_DONTNEED on such a mapping only drops
            // resident pages, which are re-read from the file on access.
            unsafe {
                libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = bytes;
}

/// Tensors at least this large are written and hashed in parallel.
const PARALLEL_HASH_MIN: usize = 1 << 20;

fn write_loop(rx: Receiver<Msg<'_>>) -> Result<Vec<FileRecord>> {
    let mut records = Vec::new();
    let mut cur: Option<(PathBuf, BufWriter<File>, Sha256, u64)> = None;
    for msg in rx {
        match msg {
            Msg::Begin(path, header) => {
                let f = File::options().write(true).create_new(true).open(&path).map_err(|e| Error::io(&path, "create", e))?;
                let mut w = BufWriter::with_capacity(4 << 20, f);
                let mut h = Sha256::new();
                let len = (header.len() as u64).to_le_bytes();
                for part in [&len[..], &header[..]] {
                    w.write_all(part).map_err(|e| Error::io(&path, "write", e))?;
                    h.update(part);
                }
                cur = Some((path, w, h, 8 + header.len() as u64));
            }
            Msg::Data(bytes, release) => {
                let Some((path, w, h, n)) = cur.as_mut() else { continue };
                // Writing (a copy into the page cache) and hashing are
                // independent passes over the same bytes: run them side by
                // side, while the producer prepares the next tensor.
                let (written, ()) = if bytes.len() >= PARALLEL_HASH_MIN {
                    rayon::join(|| w.write_all(&bytes), || h.update(&bytes))
                } else {
                    (w.write_all(&bytes), h.update(&bytes))
                };
                written.map_err(|e| Error::io(path, "write", e))?;
                *n += bytes.len() as u64;
                if release {
                    release_mapped(&bytes);
                }
            }
            Msg::End => {
                if let Some((path, w, h, n)) = cur.take() {
                    w.into_inner().map_err(|e| Error::io(&path, "write", e.into_error()))?;
                    let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    records.push(FileRecord { path: name, size: n, sha256: hex(&h.finalize()) });
                }
            }
        }
    }
    Ok(records)
}

/// What a producer hands back for one tensor: its bytes, and whether they
/// are borrowed from a file mapping that may be released once written.
pub struct Produced<'a> {
    pub data: Cow<'a, [u8]>,
    pub mapped: bool,
}

/// Write `specs` (in parameter order) as mlx-lm shards plus the index into
/// `dir`. `produce` is called once per tensor in file order. Returns the
/// shard records followed by the index's.
pub fn write_checkpoint<'a, F>(dir: &Path, specs: &[TensorSpec], max_shard_bytes: u64, total_parameters: u64, mut produce: F) -> Result<Vec<FileRecord>>
where
    F: FnMut(&TensorSpec) -> Result<Produced<'a>>,
{
    let meta: BTreeMap<String, String> = [("format".to_string(), "mlx".to_string())].into();
    let plan = if specs.is_empty() { std::iter::once(0..0).collect() } else { plan_shards(specs, max_shard_bytes) };
    let files = shard_file_names(plan.len());
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0u64;
    let (tx, rx) = sync_channel::<Msg<'a>>(1);
    let records = std::thread::scope(|s| -> Result<Vec<FileRecord>> {
        let writer = s.spawn(move || write_loop(rx));
        let mut send_err = None;
        'shards: for (range, file) in plan.iter().zip(&files) {
            let mut shard: Vec<&TensorSpec> = specs[range.clone()].iter().collect();
            shard.sort_by(|a, b| a.name.cmp(&b.name));
            let owned: Vec<TensorSpec> = shard.iter().map(|s| (*s).clone()).collect();
            let header = match header_bytes(&owned, Some(&meta), &WriteOptions::mlx()) {
                Ok(h) => h,
                Err(e) => {
                    send_err = Some(Error::from(e));
                    break;
                }
            };
            if tx.send(Msg::Begin(dir.join(file), header)).is_err() {
                break;
            }
            for spec in shard {
                let p = match produce(spec) {
                    Ok(p) => p,
                    Err(e) => {
                        send_err = Some(e);
                        break 'shards;
                    }
                };
                let want = spec.nbytes().unwrap_or(0);
                if p.data.len() as u64 != want {
                    send_err =
                        Some(Error::Convert(format!("tensor '{}': {} bytes produced, {} {:?} needs {want}", spec.name, p.data.len(), spec.dtype, spec.shape)));
                    break 'shards;
                }
                total_size += want;
                weight_map.insert(spec.name.clone(), file.clone());
                if tx.send(Msg::Data(p.data, p.mapped)).is_err() {
                    break 'shards;
                }
            }
            if tx.send(Msg::End).is_err() {
                break;
            }
        }
        drop(tx);
        let written = writer.join().map_err(|_| Error::Convert("the writer thread panicked".into()))?;
        match send_err {
            Some(e) => Err(e),
            None => written,
        }
    })?;
    let mut records = records;
    let text = index_json(total_size, &[("total_parameters".into(), total_parameters.into())], &weight_map);
    let index_path = dir.join(INDEX_FILE);
    std::fs::write(&index_path, text.as_bytes()).map_err(|e| Error::io(&index_path, "write", e))?;
    records.push(FileRecord { path: INDEX_FILE.into(), size: text.len() as u64, sha256: sha256_hex(text.as_bytes()) });
    Ok(records)
}
