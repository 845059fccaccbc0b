//! The tensor-summary cache: what reading a directory's weight files found
//! (the files, their tensors' names, encodings, shapes and sizes, shared
//! storage and GGUF metadata), keyed by the identity of every weight file
//! of that directory, so a re-run over unchanged files parses no header.
//!
//! The identity is the digest cache's: (device, inode, size, mtime) of each
//! file, with its path. Any change to any file of the group gives another
//! key, so an entry is never used for a file that changed.
//!
//! The file is a compact binary layout (`tensors-v1.bin`, beside the digest
//! cache) protected by a SHA-256 of its body: a damaged or foreign file is
//! ignored with a warning, never trusted.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mlxport_tensor::{DType, Encoding, TensorInfo};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"MLXPTS01";
/// Groups kept at most (most recently stored first).
const MAX_GROUPS: usize = 64;
/// Bytes of cached bodies kept at most.
const MAX_BYTES: usize = 64 << 20;
/// Largest cache file read.
const MAX_FILE: u64 = 128 << 20;

/// One weight file of a group, as the inspection reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedFile {
    pub path: String,
    pub format: String,
    pub primary: bool,
    pub tensors: u64,
    pub parameters: u64,
    pub bytes: u64,
    pub error: Option<String>,
}

/// What reading one directory's weight files found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub files: Vec<CachedFile>,
    /// Tensors counted in the model (from primary files), `file` set to the
    /// path (relative to the model) of the weight file that listed them.
    pub tensors: Vec<TensorInfo>,
    pub shared_storage: Vec<Vec<String>>,
    pub gguf_meta: Vec<(String, String)>,
}

/// The persistent cache.
#[derive(Debug, Default)]
pub struct TensorCache {
    path: Option<PathBuf>,
    /// (key, encoded group), most recently stored first.
    entries: Entries,
    dirty: bool,
    /// Why the file on disk was ignored, if it was.
    pub problem: Option<String>,
}

impl TensorCache {
    /// A cache that is not persisted.
    pub fn in_memory() -> Self {
        TensorCache::default()
    }

    /// The cache file that goes with a digest cache file.
    pub fn beside(digest_cache: &Path) -> PathBuf {
        digest_cache.with_file_name("tensors-v1.bin")
    }

    /// Load the cache file. A missing file starts empty; a damaged one
    /// starts empty and says why in `problem`.
    pub fn load(path: &Path) -> Self {
        let mut c = TensorCache { path: Some(path.to_path_buf()), ..Default::default() };
        let bytes = match std::fs::metadata(path) {
            Err(_) => return c,
            Ok(m) if m.len() > MAX_FILE => {
                c.problem = Some(format!("{} bytes, over the limit of {MAX_FILE}", m.len()));
                return c;
            }
            Ok(_) => match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => {
                    c.problem = Some(format!("cannot read: {e}"));
                    return c;
                }
            },
        };
        match parse_file(&bytes) {
            Ok(entries) => c.entries = entries,
            Err(why) => c.problem = Some(why.into()),
        }
        c
    }

    /// The group stored under `key`, if any and if it decodes.
    pub fn get(&self, key: &[u8; 32]) -> Option<Group> {
        let (_, body) = self.entries.iter().find(|(k, _)| k == key)?;
        decode_group(body)
    }

    /// Store a group under `key`.
    pub fn put(&mut self, key: [u8; 32], group: &Group) {
        let body = encode_group(group);
        if body.len() > MAX_BYTES {
            return; // too large to be worth keeping
        }
        self.entries.retain(|(k, _)| *k != key);
        self.entries.insert(0, (key, body));
        let mut total = 0usize;
        let keep = self
            .entries
            .iter()
            .take(MAX_GROUPS)
            .take_while(|(_, b)| {
                total += b.len();
                total <= MAX_BYTES
            })
            .count();
        self.entries.truncate(keep);
        self.dirty = true;
    }

    /// Write the cache back atomically if it changed.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        let mut body = Vec::new();
        put_u64(&mut body, self.entries.len() as u64);
        for (k, b) in &self.entries {
            body.extend_from_slice(k);
            put_bytes(&mut body, b);
        }
        let mut out = Vec::with_capacity(body.len() + 48);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&Sha256::digest(&body));
        put_u64(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        mlxport_util::fs::write_atomic(path, &out)?;
        self.dirty = false;
        Ok(())
    }
}

/// The key of a group: every file's relative path and identity.
pub fn group_key(files: &[(&str, &Path)]) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(MAGIC);
    for (rel, real) in files {
        let m = std::fs::metadata(real).ok()?;
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        for v in [m.dev(), m.ino(), m.len(), m.mtime() as u64, m.mtime_nsec() as u64] {
            h.update(v.to_le_bytes());
        }
    }
    Some(h.finalize().into())
}

/// (key, encoded group) pairs.
type Entries = Vec<([u8; 32], Vec<u8>)>;

fn parse_file(bytes: &[u8]) -> Result<Entries, &'static str> {
    let mut r = Reader(bytes);
    if r.take(8) != Some(MAGIC) {
        return Err("not a tensor cache of this version");
    }
    let sum = r.take(32).ok_or("truncated")?;
    let len = r.u64().ok_or("truncated")?;
    let body = r.take(usize::try_from(len).map_err(|_| "bad length")?).ok_or("truncated")?;
    if !r.0.is_empty() {
        return Err("trailing bytes");
    }
    if Sha256::digest(body).as_slice() != sum {
        return Err("checksum mismatch (the file is damaged)");
    }
    let mut r = Reader(body);
    let n = r.u64().ok_or("truncated")?;
    let mut out = Vec::new();
    for _ in 0..n {
        let k: [u8; 32] = r.take(32).and_then(|k| k.try_into().ok()).ok_or("truncated")?;
        let b = r.bytes().ok_or("truncated")?;
        out.push((k, b.to_vec()));
    }
    if !r.0.is_empty() {
        return Err("trailing bytes in the body");
    }
    Ok(out)
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn encode_group(g: &Group) -> Vec<u8> {
    let mut o = Vec::with_capacity(64 + g.tensors.len() * 64);
    put_u64(&mut o, g.files.len() as u64);
    for f in &g.files {
        put_str(&mut o, &f.path);
        put_str(&mut o, &f.format);
        o.push(f.primary as u8);
        put_u64(&mut o, f.tensors);
        put_u64(&mut o, f.parameters);
        put_u64(&mut o, f.bytes);
        match &f.error {
            None => o.push(0),
            Some(e) => {
                o.push(1);
                put_str(&mut o, e);
            }
        }
    }
    put_u64(&mut o, g.tensors.len() as u64);
    let mut last = 0usize;
    for t in &g.tensors {
        // Tensors come in file order: try the previous file first.
        let is = |i: &usize| g.files.get(*i).is_some_and(|f| Path::new(&f.path) == t.file);
        if !is(&last) {
            last = (0..g.files.len()).find(is).unwrap_or(usize::MAX);
        }
        let file = last;
        put_u64(&mut o, file as u64);
        put_str(&mut o, &t.name);
        match &t.encoding {
            Encoding::Dense(d) => {
                o.push(0);
                put_str(&mut o, d.name());
            }
            Encoding::Ggml { id, .. } => {
                o.push(1);
                put_u64(&mut o, *id as u64);
            }
        }
        put_u64(&mut o, t.shape.len() as u64);
        for d in &t.shape {
            put_u64(&mut o, *d);
        }
        put_u64(&mut o, t.nbytes);
    }
    put_u64(&mut o, g.shared_storage.len() as u64);
    for grp in &g.shared_storage {
        put_u64(&mut o, grp.len() as u64);
        for n in grp {
            put_str(&mut o, n);
        }
    }
    put_u64(&mut o, g.gguf_meta.len() as u64);
    for (k, v) in &g.gguf_meta {
        put_str(&mut o, k);
        put_str(&mut o, v);
    }
    o
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }
    /// A count of items each at least `min` bytes long: bounded by what is left.
    fn count(&mut self, min: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n.checked_mul(min)? <= self.0.len()).then_some(n)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_string)
    }
}

fn decode_group(body: &[u8]) -> Option<Group> {
    let mut r = Reader(body);
    let mut g = Group::default();
    let nfiles = r.count(8 + 8 + 1 + 24 + 1)?;
    let mut paths = Vec::with_capacity(nfiles);
    for _ in 0..nfiles {
        let path = r.string()?;
        let format = r.string()?;
        let primary = match r.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let (tensors, parameters, bytes) = (r.u64()?, r.u64()?, r.u64()?);
        let error = match r.u8()? {
            0 => None,
            1 => Some(r.string()?),
            _ => return None,
        };
        paths.push(PathBuf::from(&path));
        g.files.push(CachedFile { path, format, primary, tensors, parameters, bytes, error });
    }
    let ntensors = r.count(8 + 8 + 1 + 8 + 8)?;
    g.tensors.reserve_exact(ntensors);
    for _ in 0..ntensors {
        let file = paths.get(usize::try_from(r.u64()?).ok()?)?.clone();
        let name = r.string()?;
        let encoding = match r.u8()? {
            0 => Encoding::Dense(DType::from_name(std::str::from_utf8(r.bytes()?).ok()?)?),
            1 => {
                let id = u32::try_from(r.u64()?).ok()?;
                let t = mlxport_tensor::gguf::ggml_type(id)?;
                Encoding::Ggml { name: t.name, id }
            }
            _ => return None,
        };
        let rank = r.count(8)?;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u64()?);
        }
        let nbytes = r.u64()?;
        g.tensors.push(TensorInfo { name, encoding, shape, nbytes, file });
    }
    let nshared = r.count(8)?;
    for _ in 0..nshared {
        let n = r.count(8)?;
        g.shared_storage.push((0..n).map(|_| r.string()).collect::<Option<Vec<_>>>()?);
    }
    let nmeta = r.count(16)?;
    for _ in 0..nmeta {
        g.gguf_meta.push((r.string()?, r.string()?));
    }
    r.0.is_empty().then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Group {
        Group {
            files: vec![
                CachedFile {
                    path: "a/m.safetensors.index.json".into(),
                    format: "safetensors".into(),
                    primary: true,
                    tensors: 2,
                    parameters: 12,
                    bytes: 40,
                    error: None,
                },
                CachedFile {
                    path: "a/pytorch_model.bin".into(),
                    format: String::new(),
                    primary: false,
                    tensors: 0,
                    parameters: 0,
                    bytes: 0,
                    error: Some("bad".into()),
                },
            ],
            tensors: vec![
                TensorInfo {
                    name: "x.weight".into(),
                    encoding: Encoding::Dense(DType::F32),
                    shape: vec![2, 3],
                    nbytes: 24,
                    file: "a/m.safetensors.index.json".into(),
                },
                TensorInfo {
                    name: "y".into(),
                    encoding: Encoding::Ggml { name: "Q4_1", id: 3 },
                    shape: vec![],
                    nbytes: 16,
                    file: "a/m.safetensors.index.json".into(),
                },
            ],
            shared_storage: vec![vec!["x.weight".into(), "z".into()]],
            gguf_meta: vec![("general.architecture".into(), "\"llama\"".into())],
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tensors-v1.bin");
        let mut c = TensorCache::load(&p);
        assert!(c.problem.is_none());
        c.put([7; 32], &sample());
        c.save().unwrap();
        let c = TensorCache::load(&p);
        assert!(c.problem.is_none());
        assert_eq!(c.get(&[7; 32]), Some(sample()));
        assert_eq!(c.get(&[8; 32]), None);
        // Every single-byte change and every truncation is refused.
        let good = std::fs::read(&p).unwrap();
        for i in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            std::fs::write(&p, &bad).unwrap();
            let c = TensorCache::load(&p);
            assert!(c.problem.is_some() && c.get(&[7; 32]).is_none(), "byte {i}");
            std::fs::write(&p, &good[..i]).unwrap();
            assert!(TensorCache::load(&p).problem.is_some(), "cut at {i}");
        }
        // A decoder fed garbage bodies returns None, never panics.
        let body = encode_group(&sample());
        for i in 0..body.len() {
            let _ = decode_group(&body[..i]);
            let mut b = body.clone();
            b[i] = 0xff;
            let _ = decode_group(&b);
        }
    }

    #[test]
    fn key_follows_identity() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        std::fs::write(&p, b"12345678").unwrap();
        let k1 = group_key(&[("w.safetensors", &p)]).unwrap();
        assert_eq!(group_key(&[("w.safetensors", &p)]).unwrap(), k1);
        assert_ne!(group_key(&[("v.safetensors", &p)]).unwrap(), k1);
        std::fs::write(&p, b"123456789").unwrap();
        assert_ne!(group_key(&[("w.safetensors", &p)]).unwrap(), k1);
        assert!(group_key(&[("x", &dir.path().join("missing"))]).is_none());
    }
}
