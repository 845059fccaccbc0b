//! The GGUF structure parser: header, key/values and tensor infos, checked
//! against the real size of the file before anything is allocated.
//!
//! Every count read from the file is multiplied by the fewest bytes one
//! item can occupy and compared with the bytes that remain, so a file can
//! never make the parser reserve more than a small multiple of its own
//! size. Every tensor's extent is checked against the file, its alignment
//! and its neighbours.

use std::collections::HashMap;
use std::path::Path;

use super::types::{ggml_type, GgmlType};
use super::value::{Array, Value, ValueType};
use crate::error::{Error, Result};

const FORMAT: &str = "GGUF";
/// Magic, version, tensor count, KV count.
pub const HEADER_BYTES: u64 = 4 + 4 + 8 + 8;
/// Key length, value type, and the smallest value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Name length, n_dims, type, offset (a scalar tensor has no dims).
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;
/// Deepest nesting of arrays inside arrays.
pub const MAX_ARRAY_DEPTH: usize = 8;
/// Most dimensions a tensor may have (ggml itself uses 4).
pub const MAX_DIMS: u32 = 8;
/// Longest tensor name in bytes (ggml itself stops at 63).
pub const MAX_NAME_BYTES: u64 = 1024;
/// Longest metadata key in bytes.
pub const MAX_KEY_BYTES: u64 = 65536;
/// Alignment used when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// One validated tensor.
#[derive(Clone, Debug)]
pub struct RawTensor {
    pub name: String,
    /// Dimensions as stored: fastest-varying first.
    pub dims: Vec<u64>,
    pub ggml: GgmlType,
    /// Offset relative to the data section, as stored.
    pub offset: u64,
    /// Absolute offset of the first byte in the file.
    pub start: u64,
    pub nbytes: u64,
}

/// Everything the header describes, validated.
#[derive(Debug)]
pub struct Layout {
    pub version: u32,
    pub kvs: Vec<(String, Value)>,
    pub tensors: Vec<RawTensor>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_start: u64,
}

/// A bounds-checked reader over the file's bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> u64 {
        self.buf.len().saturating_sub(self.pos) as u64
    }

    fn invalid(&self, rule: impl Into<String>) -> Error {
        Error::invalid(self.path, FORMAT, rule)
    }

    /// The next `n` bytes, or an error naming `what` was cut short.
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.invalid(format!(
                "file ends inside {} at byte {}: needs {n} bytes, {} remain (truncated file?)",
                what(),
                self.pos,
                self.remaining()
            )));
        }
        let start = self.pos;
        let end = start + n as usize;
        self.pos = end;
        Ok(&self.buf[start..end])
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N]> {
        let b = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A u64 length followed by that many bytes of UTF-8, the length first
    /// checked against `max` and the bytes that remain.
    fn string(&mut self, max: u64, what: &dyn Fn() -> String) -> Result<String> {
        let len = self.u64(&|| format!("the length of {}", what()))?;
        if len > max {
            return Err(self.invalid(format!("{} is {len} bytes long, more than the limit of {max}", what())));
        }
        if len > self.remaining() {
            return Err(self.invalid(format!("{} claims {len} bytes at byte {} but only {} remain in the file", what(), self.pos, self.remaining())));
        }
        let at = self.pos;
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(self.invalid(format!("{} at byte {at} is not valid UTF-8 (bad byte at position {} of the string)", what(), e.valid_up_to()))),
        }
    }
}

/// Parse and validate the structure of a whole GGUF file held in `buf`.
pub fn parse(path: &Path, buf: &[u8]) -> Result<Layout> {
    let mut c = Cursor { buf, pos: 0, path };
    let version = read_preamble(&mut c)?;
    let tensor_count = c.u64(&|| "the header's tensor count".into())?;
    let kv_count = c.u64(&|| "the header's key/value count".into())?;
    check_counts(&c, tensor_count, kv_count)?;
    let kvs = read_kvs(&mut c, kv_count)?;
    let alignment = alignment_of(&c, &kvs)?;
    let mut tensors = read_tensor_infos(&mut c, tensor_count)?;
    let data_start = align_up(c.pos as u64, alignment).ok_or_else(|| c.invalid("data section offset overflows"))?;
    place_tensors(&c, &mut tensors, data_start, alignment)?;
    check_no_overlap(&c, &tensors)?;
    Ok(Layout { version, kvs, tensors, alignment, data_start })
}

/// Magic and version; refuses v1 and big-endian files with a clear reason.
fn read_preamble(c: &mut Cursor) -> Result<u32> {
    let len = c.buf.len() as u64;
    if len < 4 || &c.buf[..4] != b"GGUF" {
        let head: Vec<String> = c.buf.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(c.invalid(format!("bad magic: the file must start with the bytes 'GGUF' (47 47 55 46), found [{}]", head.join(" "))));
    }
    if len < HEADER_BYTES {
        return Err(c.invalid(format!("truncated header: a GGUF header is {HEADER_BYTES} bytes, the file has {len}")));
    }
    c.pos = 4;
    let version = c.u32(&|| "the version".into())?;
    match version {
        2 | 3 => Ok(version),
        1 => Err(Error::unsupported(
            c.path,
            "GGUF version 1 (an early format with 32-bit counts); only versions 2 and 3 are read — re-convert the model with a current llama.cpp",
        )),
        v if v & 0xffff == 0 && matches!(v.swap_bytes(), 1..=3) => {
            Err(Error::unsupported(c.path, format!("big-endian GGUF (version {} stored big-endian); only little-endian GGUF is read", v.swap_bytes())))
        }
        v => Err(Error::unsupported(c.path, format!("GGUF version {v}; only versions 2 and 3 are read"))),
    }
}

/// Both counts must fit in what remains of the file.
fn check_counts(c: &Cursor, tensor_count: u64, kv_count: u64) -> Result<()> {
    let rem = c.remaining() as u128;
    let kv_need = kv_count as u128 * MIN_KV_BYTES as u128;
    if kv_need > rem {
        return Err(c.invalid(format!(
            "key/value count {kv_count} cannot fit: each key/value needs at least {MIN_KV_BYTES} bytes and only {rem} bytes follow the header"
        )));
    }
    let t_need = tensor_count as u128 * MIN_TENSOR_INFO_BYTES as u128;
    if t_need + kv_need > rem {
        return Err(c.invalid(format!(
            "tensor count {tensor_count} cannot fit: each tensor info needs at least {MIN_TENSOR_INFO_BYTES} bytes and only {} bytes follow the header and key/values",
            rem - kv_need
        )));
    }
    Ok(())
}

fn read_kvs(c: &mut Cursor, count: u64) -> Result<Vec<(String, Value)>> {
    let mut kvs: Vec<(String, Value)> = Vec::with_capacity(count as usize);
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(count as usize);
    for i in 0..count {
        let key = c.string(MAX_KEY_BYTES, &|| format!("the key of key/value #{i}"))?;
        if key.is_empty() {
            return Err(c.invalid(format!("key/value #{i} has an empty key")));
        }
        if let Some(first) = seen.get(&key) {
            return Err(c.invalid(format!("duplicate key '{key}' (key/values #{first} and #{i}); keys must be unique")));
        }
        let type_id = c.u32(&|| format!("the value type of key '{key}'"))?;
        let ty = value_type(c, type_id, &key)?;
        let value = read_value(c, ty, &key, 0)?;
        seen.insert(key.clone(), kvs.len());
        kvs.push((key, value));
    }
    Ok(kvs)
}

fn value_type(c: &Cursor, id: u32, key: &str) -> Result<ValueType> {
    ValueType::from_id(id).ok_or_else(|| c.invalid(format!("key '{key}' has unknown value type {id} (known types are 0 to 12)")))
}

fn read_value(c: &mut Cursor, ty: ValueType, key: &str, depth: usize) -> Result<Value> {
    let what = || format!("the value of key '{key}'");
    Ok(match ty {
        ValueType::U8 => Value::U8(u8::from_le_bytes(c.array(&what)?)),
        ValueType::I8 => Value::I8(i8::from_le_bytes(c.array(&what)?)),
        ValueType::U16 => Value::U16(u16::from_le_bytes(c.array(&what)?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(c.array(&what)?)),
        ValueType::U32 => Value::U32(u32::from_le_bytes(c.array(&what)?)),
        ValueType::I32 => Value::I32(i32::from_le_bytes(c.array(&what)?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(c.array(&what)?)),
        ValueType::U64 => Value::U64(u64::from_le_bytes(c.array(&what)?)),
        ValueType::I64 => Value::I64(i64::from_le_bytes(c.array(&what)?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(c.array(&what)?)),
        ValueType::Bool => {
            let [b] = c.array(&what)?;
            Value::Bool(bool_of(c, b, key)?)
        }
        ValueType::String => Value::String(c.string(u64::MAX, &|| format!("the string value of key '{key}'"))?),
        ValueType::Array => Value::Array(read_array(c, key, depth + 1)?),
    })
}

fn bool_of(c: &Cursor, b: u8, key: &str) -> Result<bool> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(c.invalid(format!("invalid bool {b} in key '{key}': a bool must be 0 or 1"))),
    }
}

/// An array header (element type, count) and its elements.
fn read_array(c: &mut Cursor, key: &str, depth: usize) -> Result<Array> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(c.invalid(format!("key '{key}' nests arrays more than {MAX_ARRAY_DEPTH} deep (array nesting limit)")));
    }
    let type_id = c.u32(&|| format!("the element type of array '{key}'"))?;
    let ty = value_type(c, type_id, key)?;
    let count = c.u64(&|| format!("the element count of array '{key}'"))?;
    let need = count as u128 * ty.min_size() as u128;
    if need > c.remaining() as u128 {
        return Err(c.invalid(format!(
            "array '{key}' declares {count} {} elements (at least {need} bytes) but only {} bytes remain in the file",
            ty.name(),
            c.remaining()
        )));
    }
    let n = count as usize;
    let what = || format!("the elements of array '{key}'");
    Ok(match ty {
        ValueType::U8 => Array::U8(c.take(count, &what)?.to_vec()),
        ValueType::I8 => Array::I8(c.take(count, &what)?.iter().map(|&b| b as i8).collect()),
        ValueType::U16 => Array::U16(fixed(c, n, &what, u16::from_le_bytes)?),
        ValueType::I16 => Array::I16(fixed(c, n, &what, i16::from_le_bytes)?),
        ValueType::U32 => Array::U32(fixed(c, n, &what, u32::from_le_bytes)?),
        ValueType::I32 => Array::I32(fixed(c, n, &what, i32::from_le_bytes)?),
        ValueType::F32 => Array::F32(fixed(c, n, &what, f32::from_le_bytes)?),
        ValueType::U64 => Array::U64(fixed(c, n, &what, u64::from_le_bytes)?),
        ValueType::I64 => Array::I64(fixed(c, n, &what, i64::from_le_bytes)?),
        ValueType::F64 => Array::F64(fixed(c, n, &what, f64::from_le_bytes)?),
        ValueType::Bool => {
            let bytes = c.take(count, &what)?;
            Array::Bool(bytes.iter().map(|&b| bool_of(c, b, key)).collect::<Result<_>>()?)
        }
        ValueType::String => {
            let mut v = Vec::with_capacity(n);
            for i in 0..count {
                v.push(c.string(u64::MAX, &|| format!("string #{i} of array '{key}'"))?);
            }
            Array::String(v)
        }
        ValueType::Array => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..count {
                v.push(read_array(c, key, depth + 1)?);
            }
            Array::Array(v)
        }
    })
}

/// `n` fixed-size little-endian elements (the count was already checked
/// against the remaining bytes).
fn fixed<T, const N: usize>(c: &mut Cursor, n: usize, what: &dyn Fn() -> String, decode: fn([u8; N]) -> T) -> Result<Vec<T>> {
    let len = (n as u64).checked_mul(N as u64).ok_or_else(|| c.invalid(format!("{} overflow", what())))?;
    let bytes = c.take(len, what)?;
    Ok(bytes
        .chunks_exact(N)
        .map(|ch| {
            let mut a = [0u8; N];
            a.copy_from_slice(ch);
            decode(a)
        })
        .collect())
}

/// `general.alignment`: a u32, nonzero power of two; 32 when absent.
fn alignment_of(c: &Cursor, kvs: &[(String, Value)]) -> Result<u64> {
    let Some((_, v)) = kvs.iter().find(|(k, _)| k == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match v {
        Value::U32(a) if a.is_power_of_two() => Ok(u64::from(*a)),
        Value::U32(a) => Err(c.invalid(format!("general.alignment is {a}: the alignment must be a nonzero power of two"))),
        other => Err(c.invalid(format!("general.alignment has type {}: the alignment must be a u32", other.value_type().name()))),
    }
}

fn read_tensor_infos(c: &mut Cursor, count: u64) -> Result<Vec<RawTensor>> {
    let mut out = Vec::with_capacity(count as usize);
    let mut seen: HashMap<String, u64> = HashMap::with_capacity(count as usize);
    for i in 0..count {
        let t = read_tensor_info(c, i)?;
        if let Some(first) = seen.get(&t.name) {
            return Err(c.invalid(format!("duplicate tensor name '{}' (tensor infos #{first} and #{i}); names must be unique", t.name)));
        }
        seen.insert(t.name.clone(), i);
        out.push(t);
    }
    Ok(out)
}

fn read_tensor_info(c: &mut Cursor, i: u64) -> Result<RawTensor> {
    let name = c.string(MAX_NAME_BYTES, &|| format!("the name of tensor info #{i}"))?;
    if name.is_empty() {
        return Err(c.invalid(format!("tensor info #{i} has an empty name")));
    }
    let n_dims = c.u32(&|| format!("n_dims of tensor '{name}'"))?;
    if n_dims > MAX_DIMS {
        return Err(c.invalid(format!("tensor '{name}' has n_dims {n_dims}, more than the limit of {MAX_DIMS}")));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64(&|| format!("the dims of tensor '{name}'"))?);
    }
    let type_id = c.u32(&|| format!("the ggml type of tensor '{name}'"))?;
    let offset = c.u64(&|| format!("the data offset of tensor '{name}'"))?;
    let ggml =
        ggml_type(type_id).ok_or_else(|| c.invalid(format!("tensor '{name}' has unknown ggml type {type_id} (known ids: {})", super::types::known_ids())))?;
    let numel = numel_of(c, &name, &dims)?;
    let row = dims.first().copied().unwrap_or(1);
    if row % ggml.block_size != 0 {
        return Err(
            c.invalid(format!("tensor '{name}': row length {row} (first dimension) is not a multiple of the {} block size {}", ggml.name, ggml.block_size))
        );
    }
    let nbytes = ggml.byte_len(numel).ok_or_else(|| c.invalid(format!("tensor '{name}': byte size of {numel} {} elements overflows", ggml.name)))?;
    Ok(RawTensor { name, dims, ggml, offset, start: 0, nbytes })
}

/// Product of the dims, which must not overflow a signed 64-bit count.
fn numel_of(c: &Cursor, name: &str, dims: &[u64]) -> Result<u64> {
    let mut n: u64 = 1;
    for &d in dims {
        n = n.checked_mul(d).filter(|&n| n <= i64::MAX as u64).ok_or_else(|| c.invalid(format!("tensor '{name}': dims {dims:?} product overflows")))?;
    }
    Ok(n)
}

fn align_up(x: u64, alignment: u64) -> Option<u64> {
    let rem = x % alignment;
    if rem == 0 {
        Some(x)
    } else {
        x.checked_add(alignment - rem)
    }
}

/// Absolute extents: aligned offsets that lie within the file.
fn place_tensors(c: &Cursor, tensors: &mut [RawTensor], data_start: u64, alignment: u64) -> Result<()> {
    let file_len = c.buf.len() as u64;
    for t in tensors.iter_mut() {
        if t.offset % alignment != 0 {
            return Err(c.invalid(format!("tensor '{}': data offset {} is misaligned: it must be a multiple of the alignment {alignment}", t.name, t.offset)));
        }
        let start = data_start.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.nbytes));
        match (start, end) {
            (Some(s), Some(e)) if e <= file_len => t.start = s,
            _ => {
                return Err(c.invalid(format!(
                "tensor '{}': its {} bytes at data offset {} (the data section starts at byte {data_start}) extend past the end of the file ({file_len} bytes)",
                t.name, t.nbytes, t.offset
            )))
            }
        }
    }
    Ok(())
}

/// Tensors must not share bytes.
fn check_no_overlap(c: &Cursor, tensors: &[RawTensor]) -> Result<()> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by_key(|&i| (tensors[i].start, tensors[i].nbytes));
    for w in order.windows(2) {
        let (a, b) = (&tensors[w[0]], &tensors[w[1]]);
        if a.nbytes > 0 && b.nbytes > 0 && a.start + a.nbytes > b.start {
            return Err(c.invalid(format!(
                "tensors '{}' and '{}' overlap (data offsets {} and {}, {} and {} bytes)",
                a.name, b.name, a.offset, b.offset, a.nbytes, b.nbytes
            )));
        }
    }
    Ok(())
}
