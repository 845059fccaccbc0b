//! File identity: SHA-256 of every file (in parallel, with the CPU's SHA
//! extensions when present), a tree fingerprint, and a digest cache keyed by
//! (device, inode, size, mtime) so a re-run re-hashes nothing unchanged.
//!
//! A file that changes while it is read (size or mtime differ before and
//! after, or fewer bytes arrive than its size) is reported, not hashed.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mlxport_util::hash::hex;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::walk::{same_file_state, Entry, EntryKind};
use crate::{Error, Result};

/// One cached digest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Cached {
    size: u64,
    mtime_ns: i128,
    sha256: String,
}

/// A persistent map from file identity to SHA-256.
#[derive(Debug, Default)]
pub struct DigestCache {
    path: Option<PathBuf>,
    map: BTreeMap<String, Cached>,
    dirty: bool,
}

const CACHE_SCHEMA: &str = "mlxport.digest-cache/v1";
/// Entries kept at most; the oldest-keyed are dropped beyond it.
const CACHE_MAX_ENTRIES: usize = 2_000_000;

#[derive(Serialize, Deserialize)]
struct CacheFile {
    schema: String,
    entries: BTreeMap<String, Cached>,
}

impl DigestCache {
    /// A cache that is not persisted.
    pub fn in_memory() -> Self {
        DigestCache::default()
    }

    /// Load the cache file (a missing or unreadable one starts empty).
    pub fn load(path: &Path) -> Self {
        let map = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
            .filter(|c| c.schema == CACHE_SCHEMA)
            .map(|c| c.entries)
            .unwrap_or_default();
        DigestCache { path: Some(path.to_path_buf()), map, dirty: false }
    }

    /// The default location: `$MLXPORT_CACHE`, `$XDG_CACHE_HOME/mlxport` or
    /// `~/.cache/mlxport`, file `digests-v1.json`.
    pub fn default_path() -> Option<PathBuf> {
        let dir = std::env::var_os("MLXPORT_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("mlxport")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mlxport")))?;
        Some(dir.join("digests-v1.json"))
    }

    /// Write the cache back atomically if it changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        while self.map.len() > CACHE_MAX_ENTRIES {
            let k = self.map.keys().next().cloned().unwrap_or_default();
            self.map.remove(&k);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let body = serde_json::to_vec(&CacheFile { schema: CACHE_SCHEMA.into(), entries: self.map.clone() })?;
        mlxport_util::fs::write_atomic(path, &body)?;
        self.dirty = false;
        Ok(())
    }

    /// Record the SHA-256 of a file just written by this process (its
    /// bytes were hashed as they were written), so it is not read again.
    pub fn record(&mut self, path: &Path, sha256: &str) -> std::io::Result<()> {
        let m = std::fs::metadata(path)?;
        self.insert(&m, sha256);
        Ok(())
    }

    fn key(m: &std::fs::Metadata) -> String {
        format!("{}:{}", m.dev(), m.ino())
    }

    fn lookup(&self, m: &std::fs::Metadata) -> Option<String> {
        let c = self.map.get(&Self::key(m))?;
        (c.size == m.len() && c.mtime_ns == mtime_ns(m)).then(|| c.sha256.clone())
    }

    fn insert(&mut self, m: &std::fs::Metadata, sha256: &str) {
        self.map.insert(Self::key(m), Cached { size: m.len(), mtime_ns: mtime_ns(m), sha256: sha256.to_string() });
        self.dirty = true;
    }
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128
}

/// The digest of one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileDigest {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Taken from the digest cache rather than computed.
    #[serde(skip)]
    pub cached: bool,
}

/// A file whose digest could not be computed.
#[derive(Clone, Debug, Serialize)]
pub struct DigestFailure {
    pub path: String,
    pub problem: String,
}

/// Digests of an inventory.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Digests {
    pub files: Vec<FileDigest>,
    pub failures: Vec<DigestFailure>,
    /// SHA-256 over the sorted `path\tsize\tsha256` lines of every file (and
    /// `path\tkind` for entries that are not read).
    pub tree_fingerprint: String,
    pub bytes_hashed: u64,
    pub cache_hits: usize,
}

/// SHA-256 of a file, streaming; fails ([`Error::Invalid`]) if the file
/// changes while read.
pub fn sha256_file(path: &Path) -> Result<(String, std::fs::Metadata)> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let before = f.metadata().map_err(|e| Error::io(path, "cannot stat", e))?;
    let mut h = Sha256::new();
    // One buffer per thread, reused across files (a fresh one per file
    // costs the kernel a page clearing each time), small enough to stay in
    // the core's L2 cache between the copy and the hash.
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 << 10]);
    }
    BUF.with(|b| hash_into(path, &mut f, &mut h, &mut b.borrow_mut(), before.len()))?;
    let after = std::fs::metadata(path).map_err(|e| Error::io(path, "cannot stat", e))?;
    if !same_file_state(&before, &after) {
        return Err(Error::invalid(path, "the file changed while it was being read"));
    }
    Ok((hex(&h.finalize()), before))
}

/// Stream `f` into `h`; exactly `len` bytes must come.
fn hash_into(path: &Path, f: &mut std::fs::File, h: &mut Sha256, buf: &mut [u8], len: u64) -> Result<()> {
    let mut total: u64 = 0;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, "read failed", e)),
        };
        total += n as u64;
        if total > len {
            return Err(Error::invalid(path, "the file changed while it was being read (it grew)"));
        }
        h.update(&buf[..n]);
    }
    if total != len {
        return Err(Error::invalid(path, "the file changed while it was being read"));
    }
    Ok(())
}

/// Hash every readable file of an inventory, in parallel, using and
/// updating the cache.
pub fn digest(entries: &[Entry], cache: &mut DigestCache) -> Digests {
    let lookup: &DigestCache = cache;
    type Outcome = Result<(String, bool, Option<std::fs::Metadata>), String>;
    // Largest files first, one file per task: SHA-256 is sequential within
    // a file, so this keeps both cores busy until the end.
    let mut order: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].is_readable_file()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(entries[i].size));
    let mut results: Vec<(usize, Outcome)> = order
        .par_iter()
        .with_max_len(1)
        .map(|&i| {
            let e = &entries[i];
            let r = match std::fs::metadata(&e.real).ok().and_then(|m| lookup.lookup(&m)) {
                Some(hit) => Ok((hit, true, None)),
                // The failure record names the file: keep only the rule.
                None => sha256_file(&e.real).map(|(h, m)| (h, false, Some(m))).map_err(|e| e.rule()),
            };
            (i, r)
        })
        .collect();
    results.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Digests::default();
    for (i, r) in results {
        let e = &entries[i];
        match r {
            Ok((sha, cached, meta)) => {
                if let Some(m) = meta {
                    cache.insert(&m, &sha);
                    out.bytes_hashed += e.size;
                }
                out.cache_hits += cached as usize;
                out.files.push(FileDigest { path: e.path.clone(), size: e.size, sha256: sha, cached });
            }
            Err(problem) => out.failures.push(DigestFailure { path: e.path.clone(), problem }),
        }
    }
    out.tree_fingerprint = fingerprint(entries, &out.files);
    out
}

fn fingerprint(entries: &[Entry], files: &[FileDigest]) -> String {
    let by_path: BTreeMap<&str, &FileDigest> = files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut h = Sha256::new();
    for e in entries {
        match by_path.get(e.path.as_str()) {
            Some(f) => h.update(format!("{}\t{}\t{}\n", f.path, f.size, f.sha256)),
            None => {
                let kind = match &e.kind {
                    EntryKind::File | EntryKind::CacheLink => "unreadable".to_string(),
                    EntryKind::Symlink { target, .. } => format!("symlink:{target}"),
                    EntryKind::Fifo => "fifo".into(),
                    EntryKind::Socket => "socket".into(),
                    EntryKind::Device => "device".into(),
                };
                h.update(format!("{}\t{}\n", e.path, kind));
            }
        }
    }
    hex(&h.finalize())
}
