//! [`ShardedSafetensors`]: a checkpoint split over several safetensors files
//! and described by a `*.safetensors.index.json` index.
//!
//! The index is JSON: `{"metadata": {"total_size": N, ...}, "weight_map":
//! {tensor name: shard file name}}`. Opening checks the index against the
//! shards in both directions, so that a tensor cannot be missing, listed in
//! the wrong shard, or present in two shards.

use foldhash::{HashMap, HashMapExt};
use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::reader::SafetensorsFile;
use crate::error::{Error, Result};
use crate::source::{Format, TensorInfo, TensorSource};

const INDEX_FORMAT: &str = "safetensors index";

/// Largest index file accepted (real indexes are a few megabytes).
pub const MAX_INDEX_LEN: u64 = 100_000_000;

/// A parsed index file.
#[derive(Debug, Default)]
pub struct Index {
    /// `metadata` entries in file order (values as JSON).
    pub metadata: Vec<(String, serde_json::Value)>,
    /// `weight_map` entries in file order.
    pub weight_map: Vec<(String, String)>,
}

impl Index {
    /// `metadata.total_size`, if present.
    pub fn total_size(&self) -> Option<&serde_json::Value> {
        self.metadata.iter().find(|(k, _)| k == "total_size").map(|(_, v)| v)
    }
}

/// A sharded safetensors checkpoint, read as one source.
pub struct ShardedSafetensors {
    path: PathBuf,
    index: Index,
    shards: Vec<SafetensorsFile>,
    infos: Vec<TensorInfo>,
    /// name -> shard position in `shards`.
    by_name: HashMap<String, usize>,
}

impl std::fmt::Debug for ShardedSafetensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedSafetensors").field("path", &self.path).field("shards", &self.shards.len()).field("tensors", &self.infos.len()).finish()
    }
}

impl ShardedSafetensors {
    /// Open an index and every shard it names, and cross-check them.
    pub fn open(index_path: &Path) -> Result<Self> {
        let index = read_index(index_path)?;
        let dir = index_path.parent().unwrap_or(Path::new("."));
        let invalid = |rule: String| Error::invalid(index_path, INDEX_FORMAT, rule);

        // Distinct shard names, sorted; each opened once.
        let mut shard_names: Vec<&str> = index.weight_map.iter().map(|(_, s)| s.as_str()).collect();
        shard_names.sort_unstable();
        shard_names.dedup();
        for s in &shard_names {
            check_shard_name(s).map_err(invalid)?;
        }
        for s in &shard_names {
            if !dir.join(s).is_file() {
                return Err(invalid(format!("weight_map names shard {s}, which is not a file in the index's directory")));
            }
        }
        // Shards are independent: validate them in parallel, keep the order.
        // The first failing shard in name order is reported, whatever the
        // thread timing.
        let shards = shard_names.par_iter().map(|s| SafetensorsFile::open(&dir.join(s))).collect::<Vec<_>>().into_iter().collect::<Result<Vec<_>>>()?;
        let shard_of: HashMap<&str, usize> = shard_names.iter().enumerate().map(|(i, s)| (*s, i)).collect();

        let by_name = cross_check(&index, &shard_names, &shard_of, &shards).map_err(invalid)?;
        check_total_size(&index, &shards).map_err(invalid)?;

        let infos = shards.iter().flat_map(|s| s.tensors().iter().cloned()).collect();
        Ok(ShardedSafetensors { path: index_path.to_path_buf(), index, shards, infos, by_name })
    }

    /// The parsed index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The opened shards, sorted by file name.
    pub fn shards(&self) -> &[SafetensorsFile] {
        &self.shards
    }

    fn shard_for(&self, name: &str) -> Result<&SafetensorsFile> {
        self.by_name.get(name).and_then(|&i| self.shards.get(i)).ok_or_else(|| Error::not_found(&self.path, name))
    }
}

impl TensorSource for ShardedSafetensors {
    fn format(&self) -> Format {
        Format::Safetensors
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.infos
    }
    /// The index's `metadata` (strings as-is, other values as JSON text),
    /// then each distinct `__metadata__` pair of the shards.
    fn metadata(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .index
            .metadata
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k.clone(), s.clone()),
                other => (k.clone(), other.to_string()),
            })
            .collect();
        for s in &self.shards {
            for (k, v) in s.metadata() {
                if !out.iter().any(|(k2, v2)| k2 == k && v2 == v) {
                    out.push((k.clone(), v.clone()));
                }
            }
        }
        out
    }
    fn raw(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        self.shard_for(name)?.raw(name)
    }
    fn chunks(&self, name: &str) -> Result<Box<dyn crate::stream::ChunkRead + '_>> {
        self.shard_for(name)?.chunks(name)
    }
    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.shard_for(name)?.info(name)
    }
}

/// A shard name must be one plain file name: no directories, no `..`, not
/// absolute, no backslashes or NUL.
fn check_shard_name(name: &str) -> std::result::Result<(), String> {
    let mut comps = Path::new(name).components();
    let plain = matches!((comps.next(), comps.next()), (Some(Component::Normal(c)), None) if c == name) && !name.contains(['\\', '/', '\0']);
    if plain {
        Ok(())
    } else {
        Err(format!(
            "shard file name {name:?} must be a plain file name in the index's directory \
             (no '..', no path separators, not absolute)"
        ))
    }
}

/// Every weight_map entry is in its named shard; every shard tensor is in
/// the weight_map under that shard; no tensor is in two shards. Returns
/// name -> shard position.
fn cross_check(
    index: &Index,
    shard_names: &[&str],
    shard_of: &HashMap<&str, usize>,
    shards: &[SafetensorsFile],
) -> std::result::Result<HashMap<String, usize>, String> {
    let mut found: HashMap<&str, usize> = HashMap::with_capacity(shards.iter().map(|s| s.tensors().len()).sum());
    for (i, shard) in shards.iter().enumerate() {
        for t in shard.tensors() {
            if let Some(prev) = found.insert(&t.name, i) {
                return Err(format!(
                    "tensor '{}' is stored in two shards, {} and {}",
                    t.name,
                    shard_names.get(prev).unwrap_or(&""),
                    shard_names.get(i).unwrap_or(&"")
                ));
            }
        }
    }
    let mut by_name = HashMap::with_capacity(index.weight_map.len());
    for (name, shard) in &index.weight_map {
        let want = shard_of.get(shard.as_str()).copied().unwrap_or(usize::MAX);
        match found.get(name.as_str()) {
            Some(&i) if i == want => {}
            Some(&i) => return Err(format!("weight_map puts tensor '{name}' in shard {shard}, but it is stored in {}", shard_names.get(i).unwrap_or(&""))),
            None => return Err(format!("weight_map lists tensor '{name}' in shard {shard}, but that shard has no such tensor")),
        }
        by_name.insert(name.clone(), want);
    }
    if by_name.len() != found.len() {
        let mut extra: Vec<(&str, usize)> = found.iter().filter(|(n, _)| !by_name.contains_key(**n)).map(|(n, i)| (*n, *i)).collect();
        extra.sort_unstable();
        if let Some((name, i)) = extra.first() {
            return Err(format!("tensor '{name}' in shard {} is not listed in the index's weight_map", shard_names.get(*i).unwrap_or(&"")));
        }
    }
    Ok(by_name)
}

/// `metadata.total_size`, when present, must equal the tensors' byte total.
fn check_total_size(index: &Index, shards: &[SafetensorsFile]) -> std::result::Result<(), String> {
    let Some(v) = index.total_size() else {
        return Ok(());
    };
    let declared = match v {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19).map(|f| f as u64)),
        _ => None,
    }
    .ok_or_else(|| format!("metadata.total_size {v} is not a non-negative integer"))?;
    let mut actual = 0u64;
    for t in shards.iter().flat_map(|s| s.tensors()) {
        actual = actual.checked_add(t.nbytes).ok_or("the tensors' total size overflows u64")?;
    }
    if declared != actual {
        return Err(format!("metadata.total_size is {declared} but the shards' tensors hold {actual} bytes"));
    }
    Ok(())
}

/// Read and parse an index file (bounded by [`MAX_INDEX_LEN`]).
pub fn read_index(path: &Path) -> Result<Index> {
    let invalid = |rule: String| Error::invalid(path, INDEX_FORMAT, rule);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let len = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
    if len > MAX_INDEX_LEN {
        return Err(invalid(format!("index is {len} bytes, over the limit of {MAX_INDEX_LEN}")));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_INDEX_LEN + 1).read_to_end(&mut bytes).map_err(|e| Error::io(path, "read", e))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid("index is not valid UTF-8".into()))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let index = de.deserialize_map(IndexVisitor).map_err(|e| invalid(format!("index JSON: {e}")))?;
    de.end().map_err(|e| invalid(format!("index JSON: {e}")))?;
    Ok(index)
}

struct IndexVisitor;

impl<'de> Visitor<'de> for IndexVisitor {
    type Value = Index;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an index object with \"weight_map\" and optional \"metadata\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Index, A::Error> {
        let mut metadata = None;
        let mut weight_map = None;
        let mut seen = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("duplicate key '{key}'")));
            }
            match key.as_str() {
                "metadata" => metadata = Some(map.next_value_seed(UniqueMap::<serde_json::Value>::new("metadata"))?),
                "weight_map" => weight_map = Some(map.next_value_seed(UniqueMap::<String>::new("weight_map"))?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            seen.push(key);
        }
        let weight_map = weight_map.ok_or_else(|| de::Error::custom("missing key 'weight_map'"))?;
        Ok(Index { metadata: metadata.unwrap_or_default(), weight_map })
    }
}

/// A JSON object whose keys must be unique, kept in file order.
struct UniqueMap<V> {
    what: &'static str,
    _v: std::marker::PhantomData<V>,
}

impl<V> UniqueMap<V> {
    fn new(what: &'static str) -> Self {
        UniqueMap { what, _v: std::marker::PhantomData }
    }
}

impl<'de, V: serde::Deserialize<'de>> DeserializeSeed<'de> for UniqueMap<V> {
    type Value = Vec<(String, V)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, V: serde::Deserialize<'de>> Visitor<'de> for UniqueMap<V> {
    type Value = Vec<(String, V)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "\"{}\" as a JSON object", self.what)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key '{key}' in {}", self.what)));
            }
            out.push((key, map.next_value()?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        assert!(check_shard_name("model-00001-of-00002.safetensors").is_ok());
        for bad in ["", ".", "..", "../x", "/etc/passwd", "a/b", "a\\b", "x\0y", "./a"] {
            assert!(check_shard_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn index_duplicates_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors.index.json");
        std::fs::write(&p, r#"{"weight_map":{"a":"x.safetensors","a":"y.safetensors"}}"#).unwrap();
        let e = read_index(&p).unwrap_err().to_string();
        assert!(e.contains("duplicate key 'a' in weight_map"), "{e}");
        std::fs::write(&p, r#"{"metadata":{},"metadata":{},"weight_map":{"a":"x"}}"#).unwrap();
        assert!(read_index(&p).unwrap_err().to_string().contains("duplicate key 'metadata'"));
    }
}
