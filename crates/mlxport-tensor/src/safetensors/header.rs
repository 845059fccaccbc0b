//! Parsing and validating a safetensors header.
//!
//! The header is parsed with strict serde visitors rather than into a
//! generic JSON value, because a generic map silently keeps the last of two
//! duplicate keys. Parsing gives [`RawHeader`]; [`validate`] then checks
//! every entry against the data buffer and returns the tensors in the order
//! of their data offsets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::dtype::{DType, ALL_DTYPES};
use crate::{Error, Result};

use super::FORMAT;

/// Largest header the reference reader accepts.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Largest rank accepted for a tensor (NumPy's limit). Bounds the memory a
/// header can make us spend on one shape.
pub const MAX_RANK: usize = 64;

/// Key under which safetensors stores free-form string metadata.
pub const METADATA_KEY: &str = "__metadata__";

/// One header entry as written in the file, before semantic checks.
#[derive(Debug)]
pub struct RawEntry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub offsets: [u64; 2],
}

/// The parsed header.
#[derive(Debug, Default)]
pub struct RawHeader {
    pub metadata: BTreeMap<String, String>,
    pub entries: Vec<RawEntry>,
}

/// A validated tensor: a whole-byte span of the data buffer.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub begin: u64,
    pub end: u64,
}

/// Parse the header bytes of the file at `path` (already bounded by
/// [`MAX_HEADER_LEN`]); a broken rule is an [`Error::Invalid`] naming `path`.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<RawHeader> {
    parse_rule(bytes).map_err(|rule| Error::invalid(path, FORMAT, rule))
}

fn parse_rule(bytes: &[u8]) -> std::result::Result<RawHeader, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the header is not valid UTF-8 (bad byte at header offset {})", e.valid_up_to()))?;
    if !text.starts_with('{') {
        return Err("the header must be a JSON object starting with '{'".into());
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let header = de.deserialize_map(HeaderVisitor).map_err(|e| format!("header JSON: {e}"))?;
    de.end().map_err(|e| format!("header JSON: {e}"))?;
    Ok(header)
}

/// Check every entry against a data buffer of `buffer_len` bytes: known
/// dtype, sizes that match shapes, spans exactly tiling the buffer. Returns
/// the entries sorted by data offset. A broken rule is an
/// [`Error::Invalid`] naming `path`.
pub fn validate(path: &Path, raw: RawHeader, buffer_len: u64) -> Result<Vec<Entry>> {
    validate_rule(raw, buffer_len).map_err(|rule| Error::invalid(path, FORMAT, rule))
}

fn validate_rule(raw: RawHeader, buffer_len: u64) -> std::result::Result<Vec<Entry>, String> {
    let mut entries = Vec::with_capacity(raw.entries.len());
    for e in raw.entries {
        entries.push(check_entry(e, buffer_len)?);
    }
    entries.sort_by(|a, b| (a.begin, a.end, &a.name).cmp(&(b.begin, b.end, &b.name)));
    check_tiling(&entries, buffer_len)?;
    Ok(entries)
}

fn known_dtypes() -> String {
    let names: Vec<&str> = ALL_DTYPES.iter().filter(|d| d.in_safetensors()).map(|d| d.name()).collect();
    names.join(", ")
}

/// Product of a shape's dimensions, or `None` on u64 overflow (checked in
/// order, as the reference reader does).
pub fn checked_numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

fn check_entry(e: RawEntry, buffer_len: u64) -> std::result::Result<Entry, String> {
    let name = &e.name;
    let dtype = DType::from_name(&e.dtype)
        .filter(|d| d.in_safetensors())
        .ok_or_else(|| format!("tensor '{name}': unknown dtype '{}' (known: {})", e.dtype, known_dtypes()))?;
    let numel = checked_numel(&e.shape).ok_or_else(|| format!("tensor '{name}': shape {:?} overflows: its element count exceeds 2^64", e.shape))?;
    let nbytes = match numel.checked_mul(dtype.bits()) {
        None => return Err(format!("tensor '{name}': shape {:?} of {dtype} overflows: its bit size exceeds 2^64", e.shape)),
        Some(bits) if bits % 8 != 0 => return Err(format!("tensor '{name}': {numel} elements of {dtype} are not a whole number of bytes")),
        Some(bits) => bits / 8,
    };
    let [begin, end] = e.offsets;
    if begin > end {
        return Err(format!("tensor '{name}': data_offsets [{begin}, {end}] end before they begin"));
    }
    if end > buffer_len {
        return Err(format!(
            "tensor '{name}': data_offsets [{begin}, {end}] run past the end of the file \
             (the data buffer holds {buffer_len} bytes)"
        ));
    }
    if end - begin != nbytes {
        return Err(format!(
            "tensor '{name}': size mismatch: data_offsets [{begin}, {end}] span {} bytes but \
             {dtype} shape {:?} needs {nbytes}",
            end - begin,
            e.shape
        ));
    }
    Ok(Entry { name: e.name, dtype, shape: e.shape, begin, end })
}

/// Sorted spans must cover `[0, buffer_len)` exactly once.
fn check_tiling(entries: &[Entry], buffer_len: u64) -> std::result::Result<(), String> {
    let mut covered = 0u64;
    let mut prev: Option<&Entry> = None;
    for e in entries {
        if e.begin > covered {
            return Err(format!("gap in the data buffer: no tensor covers bytes [{covered}, {}) before tensor '{}'", e.begin, e.name));
        }
        if e.begin < covered {
            let rule = "each byte of the data buffer must belong to exactly one tensor";
            return Err(match prev {
                Some(p) if p.begin == e.begin && p.end == e.end => {
                    format!("tensors '{}' and '{}' alias the same bytes [{}, {}): {rule}", p.name, e.name, e.begin, e.end)
                }
                Some(p) => format!("tensor '{}' [{}, {}) overlaps tensor '{}' [{}, {}): {rule}", e.name, e.begin, e.end, p.name, p.begin, p.end),
                None => format!("tensor '{}' [{}, {}) overlaps another tensor: {rule}", e.name, e.begin, e.end),
            });
        }
        covered = e.end;
        if e.end > e.begin {
            prev = Some(e);
        }
    }
    if covered != buffer_len {
        return Err(format!(
            "{} trailing bytes after the last tensor: the data buffer holds {buffer_len} bytes \
             but tensors cover only {covered}",
            buffer_len - covered
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Strict visitors
// ---------------------------------------------------------------------------

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = RawHeader;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object mapping tensor names to {dtype, shape, data_offsets}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        let mut header = RawHeader::default();
        let mut seen_metadata = false;
        let mut names = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == METADATA_KEY {
                if seen_metadata {
                    return Err(de::Error::custom(format!("duplicate key '{METADATA_KEY}'")));
                }
                seen_metadata = true;
                header.metadata = map.next_value_seed(MetadataSeed)?;
                continue;
            }
            if key.contains('\0') {
                return Err(de::Error::custom(format!("tensor name {key:?} contains a NUL byte (it would hide the tensor from C tools)")));
            }
            if !names.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate tensor name '{key}' (each name may appear once)")));
            }
            let entry = map.next_value_seed(EntrySeed(&key))?;
            header.entries.push(entry);
        }
        Ok(header)
    }
}

/// `__metadata__`: an object of string values, keys unique; `null` is
/// accepted as no metadata (as the reference reader does; MLX writes it).
struct MetadataSeed;

impl<'de> DeserializeSeed<'de> for MetadataSeed {
    type Value = BTreeMap<String, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(MetadataVisitor)
    }
}

struct MetadataVisitor;

const METADATA_EXPECTED: &str = "'__metadata__' to be an object of string values (a tensor may not be named '__metadata__')";

impl<'de> Visitor<'de> for MetadataVisitor {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(METADATA_EXPECTED)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(MetadataValueSeed)?;
            if out.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("duplicate key '{key}' in '__metadata__'")));
            }
        }
        Ok(out)
    }
}

struct MetadataValueSeed;

impl<'de> DeserializeSeed<'de> for MetadataValueSeed {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_string(MetadataValueVisitor)
    }
}

struct MetadataValueVisitor;

impl Visitor<'_> for MetadataValueVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(METADATA_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

/// One tensor entry; the seed carries the name for error messages.
struct EntrySeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = RawEntry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawEntry, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = RawEntry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "tensor '{}' to be an object with dtype, shape and data_offsets", self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntry, A::Error> {
        let name = self.0;
        let mut dtype: Option<String> = None;
        let mut shape: Option<Vec<u64>> = None;
        let mut offsets: Option<Vec<u64>> = None;
        while let Some(key) = map.next_key::<String>()? {
            let dup = match key.as_str() {
                "dtype" => dtype.replace(map.next_value()?).is_some(),
                "shape" => shape.replace(map.next_value_seed(DimsSeed { name, field: "shape", max: MAX_RANK })?).is_some(),
                "data_offsets" => offsets.replace(map.next_value_seed(DimsSeed { name, field: "data_offsets", max: 2 })?).is_some(),
                other => return Err(de::Error::custom(format!("tensor '{name}': unknown field '{other}' (expected exactly dtype, shape, data_offsets)"))),
            };
            if dup {
                return Err(de::Error::custom(format!("tensor '{name}': duplicate field '{key}'")));
            }
        }
        let missing = |f: &str| de::Error::custom(format!("tensor '{name}': missing field '{f}'"));
        let dtype = dtype.ok_or_else(|| missing("dtype"))?;
        let shape = shape.ok_or_else(|| missing("shape"))?;
        let offsets = offsets.ok_or_else(|| missing("data_offsets"))?;
        let offsets: [u64; 2] =
            offsets.try_into().map_err(|_| de::Error::custom(format!("tensor '{name}': data_offsets must hold exactly two integers [begin, end]")))?;
        Ok(RawEntry { name: name.to_owned(), dtype, shape, offsets })
    }
}

/// An array of at most `max` non-negative integers.
struct DimsSeed<'a> {
    name: &'a str,
    field: &'static str,
    max: usize,
}

impl<'de> DeserializeSeed<'de> for DimsSeed<'_> {
    type Value = Vec<u64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<u64>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DimsSeed<'_> {
    type Value = Vec<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "tensor '{}': {} as an array of non-negative integers", self.name, self.field)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u64>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(DimSeed { name: self.name, field: self.field })? {
            if out.len() == self.max {
                return Err(de::Error::custom(format!("tensor '{}': {} has more than {} elements", self.name, self.field, self.max)));
            }
            out.push(v);
        }
        Ok(out)
    }
}

struct DimSeed<'a> {
    name: &'a str,
    field: &'static str,
}

impl<'de> DeserializeSeed<'de> for DimSeed<'_> {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_u64(self)
    }
}

impl Visitor<'_> for DimSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "tensor '{}': {} elements to be non-negative integers", self.name, self.field)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("tensor '{}': {} holds negative value {v}", self.name, self.field)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Err(E::custom(format!("tensor '{}': {} holds {v}, which is not an integer in 0..2^64", self.name, self.field)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The rules, as the messages a caller sees.
    fn parse(bytes: &[u8]) -> std::result::Result<RawHeader, String> {
        super::parse(Path::new("m.safetensors"), bytes).map_err(|e| e.to_string())
    }

    fn validate(raw: RawHeader, buffer_len: u64) -> std::result::Result<Vec<Entry>, String> {
        super::validate(Path::new("m.safetensors"), raw, buffer_len).map_err(|e| e.to_string())
    }

    #[test]
    fn a_broken_rule_is_an_invalid_error_naming_the_file() {
        let p = Path::new("dir/m.safetensors");
        match super::parse(p, b"[1]") {
            Err(Error::Invalid { path, format, rule }) => {
                assert_eq!((path.as_path(), format), (p, "safetensors"));
                assert!(rule.contains("JSON object"), "{rule}");
            }
            other => panic!("expected Error::Invalid, got {other:?}"),
        }
        let raw = RawHeader { metadata: BTreeMap::new(), entries: vec![RawEntry { name: "a".into(), dtype: "U8".into(), shape: vec![4], offsets: [1, 5] }] };
        assert!(matches!(super::validate(p, raw, 5), Err(Error::Invalid { ref path, .. }) if path == p));
    }

    fn parse_ok(s: &str) -> RawHeader {
        parse(s.as_bytes()).unwrap()
    }

    fn parse_err(s: &str) -> String {
        parse(s.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_entries_and_metadata() {
        let h = parse_ok(r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  "#);
        assert_eq!(h.metadata.get("format").map(String::as_str), Some("pt"));
        assert_eq!(h.entries.len(), 1);
        assert_eq!(h.entries[0].offsets, [0, 8]);
        let v = validate(h, 8).unwrap();
        assert_eq!(v[0].dtype, DType::F32);
    }

    #[test]
    fn rejects_duplicates_everywhere() {
        let e = r#"{"dtype":"U8","shape":[],"data_offsets":[0,1]}"#;
        assert!(parse_err(&format!(r#"{{"a":{e},"a":{e}}}"#)).contains("duplicate tensor name"));
        assert!(parse_err(&format!(r#"{{"a":{e},"\u0061":{e}}}"#)).contains("duplicate tensor name"));
        assert!(parse_err(r#"{"a":{"dtype":"U8","dtype":"U8","shape":[],"data_offsets":[0,1]}}"#).contains("duplicate field"));
        assert!(parse_err(r#"{"__metadata__":{"k":"a","k":"b"}}"#).contains("duplicate key"));
        assert!(parse_err(r#"{"__metadata__":{},"__metadata__":{}}"#).contains("duplicate key"));
        // null is no metadata (mx.save_safetensors without metadata writes it).
        let h = parse_ok(r#"{"__metadata__":null,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#);
        assert!(h.metadata.is_empty() && h.entries.len() == 1);
        assert!(parse_err(r#"{"__metadata__":"x"}"#).contains("'__metadata__' to be an object"));
    }

    #[test]
    fn rejects_bad_fields() {
        assert!(parse_err(r#"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#).contains("negative"));
        assert!(parse_err(r#"{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}"#).contains("not an integer"));
        assert!(parse_err(r#"{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1,2]}}"#).contains("more than 2"));
        assert!(parse_err(r#"{"a":{"dtype":"U8","shape":[],"data_offsets":[0]}}"#).contains("exactly two"));
        assert!(parse_err(r#"{"a":{"dtype":"U8","shape":[]}}"#).contains("missing field 'data_offsets'"));
        assert!(parse_err(r#"{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1],"x":1}}"#).contains("unknown field"));
        assert!(parse_err(r#"{"__metadata__":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}"#).contains("may not be named '__metadata__'"));
        assert!(parse_err(r#"[1]"#).contains("JSON object"));
        assert!(parse_err(r#"{"a\u0000":{}}"#).contains("NUL"));
        let deep = format!("{{\"__metadata__\":{}", "[".repeat(10_000));
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn tiling_rules() {
        let ent = |n: &str, d: &str, s: Vec<u64>, b: u64, e: u64| RawEntry { name: n.into(), dtype: d.into(), shape: s, offsets: [b, e] };
        let h = |v: Vec<RawEntry>| RawHeader { metadata: BTreeMap::new(), entries: v };
        // zero-size tensors may sit at any boundary
        let ok = validate(h(vec![ent("z", "F32", vec![0, 3], 4, 4), ent("a", "U8", vec![4], 0, 4)]), 4).unwrap();
        assert_eq!(ok[0].name, "a");
        let gap = validate(h(vec![ent("a", "U8", vec![4], 1, 5)]), 5).unwrap_err();
        assert!(gap.contains("gap"), "{gap}");
        let alias = validate(h(vec![ent("a", "U8", vec![4], 0, 4), ent("b", "U8", vec![4], 0, 4)]), 4).unwrap_err();
        assert!(alias.contains("alias"), "{alias}");
        let trailing = validate(h(vec![ent("a", "U8", vec![4], 0, 4)]), 6).unwrap_err();
        assert!(trailing.contains("trailing"), "{trailing}");
        let f4 = validate(h(vec![ent("a", "F4", vec![3], 0, 1)]), 1).unwrap_err();
        assert!(f4.contains("whole number of bytes"), "{f4}");
        let ok4 = validate(h(vec![ent("a", "F4", vec![4], 0, 2)]), 2).unwrap();
        assert_eq!(ok4[0].end, 2);
        let c128 = validate(h(vec![ent("a", "C128", vec![1], 0, 16)]), 16).unwrap_err();
        assert!(c128.contains("unknown dtype 'C128'"), "{c128}");
        let ovf = validate(h(vec![ent("a", "U8", vec![1 << 40, 1 << 40, 0], 0, 0)]), 0).unwrap_err();
        assert!(ovf.contains("overflows"), "{ovf}");
    }
}
