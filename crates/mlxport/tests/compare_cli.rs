//! `mlxport compare` through the real binary: every format against every
//! other (written by the reference libraries), exit codes, name mapping,
//! tolerances, reports, ladders, and bounded memory on two 4 GB inputs.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mlxport_testkit::{bin, python, text, workspace_root, Py};

fn compare(args: &[&str]) -> Output {
    bin!().arg("compare").args(args).output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

const WRITE_ALL_FORMATS: &str = r#"
import json, sys, numpy as np, torch
from pathlib import Path
from safetensors.numpy import save_file
import gguf
out = Path(sys.argv[1])
r = np.random.default_rng(3)
w = r.standard_normal((4, 64)).astype(np.float32)
ids = np.arange(10, dtype=np.int32)
np.savez(out / "m.npz", w=w, ids=ids)
np.savez_compressed(out / "mc.npz", w=w, ids=ids)
np.save(out / "w.npy", w)
save_file({"w": w, "ids": ids}, str(out / "m.safetensors"))
sh = out / "sharded"; sh.mkdir()
save_file({"w": w}, str(sh / "model-00001-of-00002.safetensors"))
save_file({"ids": ids}, str(sh / "model-00002-of-00002.safetensors"))
(sh / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": w.nbytes + ids.nbytes},
    "weight_map": {"w": "model-00001-of-00002.safetensors", "ids": "model-00002-of-00002.safetensors"}}))
g = gguf.GGUFWriter(str(out / "m.gguf"), "llama")
g.add_tensor("w", w)
g.add_tensor("ids", ids)
q = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)
g.add_tensor("wq", q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
g.write_header_to_file(); g.write_kv_data_to_file(); g.write_tensors_to_file(); g.close()
deq = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0).astype(np.float32)
np.savez(out / "wq_ref.npz", wq=deq)
torch.save({"w": torch.from_numpy(w), "ids": torch.from_numpy(ids)}, out / "m.pt")
"#;

#[test]
fn every_format_against_every_other() {
    let Some(p) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    py(&p, WRITE_ALL_FORMATS, &[dir.path().to_str().unwrap()]);
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let sources = [d("m.npz"), d("mc.npz"), d("m.safetensors"), d("sharded"), d("m.pt")];
    for a in &sources {
        for b in &sources {
            let o = compare(&["--json", a, b]);
            assert_eq!(code(&o), 0, "{a} vs {b}: {}", text(&o));
            let r = json(&o);
            assert_eq!(r["schema"], "mlxport.compare/v1");
            assert_eq!(r["summary"]["passed"], 2, "{a} vs {b}");
            let w = r["pairs"].as_array().unwrap().iter().find(|p| p["name"] == "w").unwrap();
            assert_eq!(w["float"]["max_abs"], 0.0);
            assert_eq!(w["float"]["cosine"], 1.0);
            assert_eq!(w["float"]["max_ulp"], 0);
            let ids = r["pairs"].as_array().unwrap().iter().find(|p| p["name"] == "ids").unwrap();
            assert_eq!(ids["exact"]["mismatches"], 0);
        }
    }
    // npy holds one tensor named after the file; GGUF (F32 and I32 as
    // stored, Q8_0 dequantized) against numpy and gguf's own dequantizer.
    let o = compare(&["--json", "--include", "^w$", "--allow-unmatched", &d("w.npy"), &d("m.gguf")]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(json(&o)["pairs"][0]["float"]["max_abs"], 0.0);
    let o = compare(&["--json", "--include", "^w", "--rename", "^w$=wq", &d("m.npz"), &d("m.gguf")]);
    let r = json(&o);
    assert_eq!(r["pairs"][0]["name_b"], "wq");
    assert!(r["pairs"][0]["float"]["max_rel"].as_f64().unwrap() < 1.0 / 64.0, "Q8_0 is close to the original");
    let o = compare(&["--json", "--include", "wq", &d("m.gguf"), &d("wq_ref.npz")]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let r = json(&o);
    assert_eq!(r["pairs"][0]["dtype_a"], "Q8_0");
    assert_eq!(r["pairs"][0]["float"]["max_abs"], 0.0, "dequantized exactly as gguf does");
}

const WRITE_PAIR: &str = r#"
import json, sys, numpy as np
from pathlib import Path
out = Path(sys.argv[1])
r = np.random.default_rng(5)
x = r.standard_normal((8, 300)).astype(np.float32)
y = x.copy(); y[3, 7] += 0.5
np.savez(out / "a.npz", **{"model.h": x, "model.logits": x, "model.ids": np.arange(8), "only_a": x[:1]})
np.savez(out / "b.npz", **{"h": y, "logits": x, "ids": np.arange(8), "only_b": x[:1], "shape": x[:2]})
np.savez(out / "c.npz", **{"model.h": x, "shape": x[:3]})
(out / "names.json").write_text(json.dumps({"model.h": "h", "model.logits": "logits", "model.ids": "ids"}))
"#;

#[test]
fn exit_codes_names_tolerances_and_reports() {
    let Some(p) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    py(&p, WRITE_PAIR, &[dir.path().to_str().unwrap()]);
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let (a, b) = (d("a.npz"), d("b.npz"));

    // A perturbed element fails allclose: exit 1, located exactly.
    let o = compare(&["--json", "--map", &d("names.json"), &a, &b]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let r = json(&o);
    let h = &r["pairs"][0];
    assert_eq!((h["name"].as_str(), h["name_b"].as_str(), h["status"].as_str()), (Some("model.h"), Some("h"), Some("fail")));
    assert_eq!(h["float"]["max_abs_at"]["index"], serde_json::json!([3, 7]));
    assert_eq!(h["float"]["allclose"]["violations"], 1);
    assert_eq!(r["unmatched_a"], serde_json::json!(["only_a"]));
    assert_eq!(r["unmatched_b"], serde_json::json!(["only_b", "shape"]));
    // Logits named like logits get softmax metrics.
    let lg = r["pairs"].as_array().unwrap().iter().find(|p| p["name"] == "model.logits").unwrap();
    assert_eq!(lg["logits"]["positions"], 8);
    assert_eq!(lg["logits"]["top1_agreement"], 1.0);
    assert_eq!(lg["logits"]["kl_ab_mean"], 0.0);

    // A per-tensor rule loosens just that tensor; with unmatched names
    // allowed, everything passes. Rename instead of a map gives the same.
    let o = compare(&["--json", "--rename", "^model\\.=", "--tol", "^model\\.h$=atol:1,rtol:0,cosine:0.99", "--exclude", "only_|shape", &a, &b]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(json(&o)["pairs"][0]["tolerance"]["atol"], 1.0);
    // Global flags and --ulp.
    let o = compare(&["--json", "--rename", "^model\\.=", "--include", "^model\\.h$", "--atol", "1", "--ulp", "3", &a, &b]);
    assert_eq!(code(&o), 1);
    let r = json(&o);
    let fails = r["pairs"][0]["failures"].as_array().unwrap();
    assert!(fails.iter().any(|f| f.as_str().unwrap().contains("max ULP distance 4194304 above 3")), "{}", text(&o));

    // Shapes must match exactly; both are shown.
    let o = compare(&["--include", "shape", &d("c.npz"), &b]);
    assert_eq!(code(&o), 1);
    assert!(text(&o).contains("shape mismatch: A [3, 300], B [2, 300]"), "{}", text(&o));

    // Markdown and SVG are written; a table is printed.
    let (md, svg) = (d("r.md"), d("r.svg"));
    let o = compare(&["--map", &d("names.json"), "--ladder", "auto", "--all", "--markdown", &md, "--svg", &svg, &a, &b]);
    assert_eq!(code(&o), 1);
    let t = text(&o);
    assert!(t.contains("first divergence") && t.contains("hint ["), "{t}");
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("# Tensor comparison") && md.contains("## Parity ladder") && md.contains("![error and cosine by rung](r.svg)"), "{md}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));

    // Usage and input errors: exit 2, naming the flag or the file.
    for (args, want) in [
        (vec!["--include", "(", a.as_str(), b.as_str()], "--include"),
        (vec!["--tol", "x=atol:oops", a.as_str(), b.as_str()], "--tol"),
        (vec!["--rtol=-1", a.as_str(), b.as_str()], "rtol"),
        (vec![a.as_str(), "/nonexistent/b.npz"], "/nonexistent/b.npz"),
        (vec!["--ladder", "/nonexistent/l.json", a.as_str(), b.as_str()], "l.json"),
        (vec!["--map", a.as_str(), a.as_str(), b.as_str()], "--map"),
    ] {
        let o = compare(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
    }
    // A corrupt member: exit 2 naming the file and member.
    let mut bytes = std::fs::read(&b).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    let bad = d("bad.npz");
    std::fs::write(&bad, bytes).unwrap();
    let o = compare(&["--rename", "^model\\.=", &a, &bad]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("bad.npz") && text(&o).contains("CRC-32"), "{}", text(&o));
}

#[test]
fn ladder_from_a_capture_manifest() {
    let Some(p) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = workspace_root().join("crates/mlxport-parity/tests/reference/ladder_capture.py");
    let out = Command::new(&p).arg(&script).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let o = compare(&["--ladder", &d("manifest.json"), &d("port_clean.npz"), &d("ref.npz")]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("no divergence: all 12 rungs"), "{}", text(&o));
    let o = compare(&["--json", "--ladder", &d("manifest.json"), &d("port_nan_layer4.npz"), &d("ref.npz")]);
    assert_eq!(code(&o), 1);
    let r = json(&o);
    assert_eq!(r["ladder"]["first_divergence"]["name"], "layer 4");
    assert_eq!(r["ladder"]["first_divergence"]["hint"], "later-layer");
    assert_eq!(r["ladder"]["rungs"][11]["status"], "skipped");
    // The same JSON bytes on a second run.
    let again = compare(&["--json", "--ladder", &d("manifest.json"), &d("port_nan_layer4.npz"), &d("ref.npz")]);
    assert_eq!(o.stdout, again.stdout);
}

// ---------------------------------------------------------------------------
// Bounded memory on two 4 GB inputs.
// ---------------------------------------------------------------------------

/// Values of the non-zero stretches: A and B differ slightly.
fn stretch(start: u64, len: usize, side_b: bool) -> Vec<u8> {
    (0..len as u64 / 4)
        .flat_map(|i| {
            let v = (((start / 4 + i) % 1000) as f32 - 500.0) * 1e-3;
            let v = if side_b && i % 7 == 0 { v + 1e-6 } else { v };
            v.to_le_bytes()
        })
        .collect()
}

/// Byte offsets (in the data) of the non-zero stretches: 1 MiB every 256 MiB.
fn stretches(data_len: u64) -> Vec<u64> {
    (0..data_len).step_by(256 << 20).collect()
}

/// A sparse safetensors file with one F32 tensor of `numel` elements.
fn sparse_safetensors(path: &Path, numel: u64, side_b: bool) {
    let mut h = format!(r#"{{"x":{{"dtype":"F32","shape":[{numel}],"data_offsets":[0,{}]}}}}"#, numel * 4).into_bytes();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&(h.len() as u64).to_le_bytes()).unwrap();
    f.write_all(&h).unwrap();
    let base = 8 + h.len() as u64;
    f.set_len(base + numel * 4).unwrap();
    for s in stretches(numel * 4) {
        f.seek(SeekFrom::Start(base + s)).unwrap();
        f.write_all(&stretch(s, 1 << 20, side_b)).unwrap();
    }
}

/// A sparse npz (stored, ZIP64) holding `x.npy` with `numel` f32 values,
/// as numpy's `np.savez` lays it out.
fn sparse_npz(path: &Path, numel: u64, side_b: bool) {
    let name = b"x.npy";
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({numel},), }}");
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut body = dict.into_bytes();
    while (10 + body.len() + 1) % 64 != 0 {
        body.push(b' ');
    }
    body.push(b'\n');
    npy.extend_from_slice(&(body.len() as u16).to_le_bytes());
    npy.extend_from_slice(&body);
    let data_len = numel * 4;
    let size = npy.len() as u64 + data_len;
    // CRC-32 of the member: header, zeros, and the stretches.
    let mut crc = crc32fast::Hasher::new();
    crc.update(&npy);
    let zeros = vec![0u8; 1 << 20];
    let marks = stretches(data_len);
    let mut at = 0u64;
    while at < data_len {
        let n = (1u64 << 20).min(data_len - at) as usize;
        if marks.contains(&at) {
            crc.update(&stretch(at, n, side_b));
        } else {
            crc.update(&zeros[..n]);
        }
        at += n as u64;
    }
    let crc = crc.finalize();
    let mut local = Vec::new();
    local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    local.extend_from_slice(&45u16.to_le_bytes()); // version needed
    local.extend_from_slice(&0u16.to_le_bytes()); // flags
    local.extend_from_slice(&0u16.to_le_bytes()); // stored
    local.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
    local.extend_from_slice(&crc.to_le_bytes());
    local.extend_from_slice(&u32::MAX.to_le_bytes());
    local.extend_from_slice(&u32::MAX.to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&20u16.to_le_bytes());
    local.extend_from_slice(name);
    local.extend_from_slice(&1u16.to_le_bytes());
    local.extend_from_slice(&16u16.to_le_bytes());
    local.extend_from_slice(&size.to_le_bytes());
    local.extend_from_slice(&size.to_le_bytes());
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&local).unwrap();
    f.write_all(&npy).unwrap();
    let data_at = (local.len() + npy.len()) as u64;
    for s in &marks {
        f.seek(SeekFrom::Start(data_at + s)).unwrap();
        f.write_all(&stretch(*s, 1 << 20, side_b)).unwrap();
    }
    let dir_at = data_at + data_len;
    f.seek(SeekFrom::Start(dir_at)).unwrap();
    let mut cd = Vec::new();
    cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    cd.extend_from_slice(&45u16.to_le_bytes());
    cd.extend_from_slice(&45u16.to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    cd.extend_from_slice(&[0, 0, 0x21, 0]);
    cd.extend_from_slice(&crc.to_le_bytes());
    cd.extend_from_slice(&u32::MAX.to_le_bytes());
    cd.extend_from_slice(&u32::MAX.to_le_bytes());
    cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
    cd.extend_from_slice(&20u16.to_le_bytes()); // extra
    cd.extend_from_slice(&0u16.to_le_bytes()); // comment
    cd.extend_from_slice(&0u16.to_le_bytes()); // disk
    cd.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
    cd.extend_from_slice(&0u32.to_le_bytes()); // external attrs
    cd.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    cd.extend_from_slice(name);
    cd.extend_from_slice(&1u16.to_le_bytes());
    cd.extend_from_slice(&16u16.to_le_bytes());
    cd.extend_from_slice(&size.to_le_bytes());
    cd.extend_from_slice(&size.to_le_bytes());
    let z64_at = dir_at + cd.len() as u64;
    let mut tail = Vec::new();
    tail.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
    tail.extend_from_slice(&44u64.to_le_bytes());
    tail.extend_from_slice(&45u16.to_le_bytes());
    tail.extend_from_slice(&45u16.to_le_bytes());
    tail.extend_from_slice(&0u32.to_le_bytes());
    tail.extend_from_slice(&0u32.to_le_bytes());
    tail.extend_from_slice(&1u64.to_le_bytes());
    tail.extend_from_slice(&1u64.to_le_bytes());
    tail.extend_from_slice(&(cd.len() as u64).to_le_bytes());
    tail.extend_from_slice(&dir_at.to_le_bytes());
    tail.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    tail.extend_from_slice(&0u32.to_le_bytes());
    tail.extend_from_slice(&z64_at.to_le_bytes());
    tail.extend_from_slice(&1u32.to_le_bytes());
    tail.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    tail.extend_from_slice(&[0; 4]);
    tail.extend_from_slice(&u16::MAX.to_le_bytes());
    tail.extend_from_slice(&u16::MAX.to_le_bytes());
    tail.extend_from_slice(&u32::MAX.to_le_bytes());
    tail.extend_from_slice(&u32::MAX.to_le_bytes());
    tail.extend_from_slice(&0u16.to_le_bytes());
    f.write_all(&cd).unwrap();
    f.write_all(&tail).unwrap();
}

/// Run the binary, returning its output and peak resident set (bytes),
/// read from this child's own resource usage (`wait4`).
fn run_measured(args: &[&str]) -> (i32, String, u64) {
    // Reaped below with wait4, which also returns the child's own peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = bin!().arg("compare").args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let out_pipe = child.stdout;
    let err_pipe = child.stderr;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = out_pipe {
            let _ = std::io::Read::read_to_string(&mut o, &mut s);
        }
        if let Some(mut e) = err_pipe {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `usage` is a valid out-pointer.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    (code, reader.join().unwrap(), usage.ru_maxrss as u64 * 1024)
}

fn bounded_memory(gib: u64, limit: u64) {
    let dir = tempfile::tempdir().unwrap();
    let numel = (gib << 30) / 4;
    let files: Vec<(PathBuf, PathBuf)> = ["safetensors", "npz"]
        .iter()
        .map(|ext| {
            let (a, b) = (dir.path().join(format!("a.{ext}")), dir.path().join(format!("b.{ext}")));
            if *ext == "npz" {
                sparse_npz(&a, numel, false);
                sparse_npz(&b, numel, true);
            } else {
                sparse_safetensors(&a, numel, false);
                sparse_safetensors(&b, numel, true);
            }
            (a, b)
        })
        .collect();
    for (a, b) in &files {
        let t = std::time::Instant::now();
        let (code, out, rss) = run_measured(&["--json", a.to_str().unwrap(), b.to_str().unwrap()]);
        let secs = t.elapsed().as_secs_f64();
        eprintln!("{} vs {}: {gib} GiB each, peak RSS {:.1} MiB, {secs:.1} s", a.display(), b.display(), rss as f64 / (1 << 20) as f64);
        assert_eq!(code, 1, "the inputs differ by more than the tolerance: {out}");
        let r: serde_json::Value = serde_json::from_str(out.lines().take_while(|l| !l.starts_with("error")).collect::<Vec<_>>().join("\n").as_str())
            .unwrap_or_else(|e| panic!("{e}: {out}"));
        let f = &r["pairs"][0]["float"];
        assert_eq!(f["count"], numel);
        assert!((f["max_abs"].as_f64().unwrap() - 1e-6).abs() < 1e-7, "{f}");
        assert!(rss < limit, "peak RSS {rss} bytes comparing two {gib} GiB inputs; limit {limit}");
    }
}

/// Two 4 GiB inputs (safetensors, then npz) under 512 MiB of peak RSS.
#[test]
fn two_4gib_inputs_in_bounded_memory() {
    bounded_memory(4, 512 << 20);
}

/// A Python snippet with arguments; its stdout.
fn py(py: &Path, code: &str, args: &[&str]) -> String {
    Py::code(py, code).args(args).stdout()
}
