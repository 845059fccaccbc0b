//! `port -q` and `port --optimize` on encoder-decoders (t5, bart): tiny
//! checkpoints transformers builds from the matrix specs, each with a
//! byte-level BPE tokenizer trained on the shipped corpus (the quality
//! gate reads text). The proven package is the one gated, benchmarked and
//! shipped: the gate scores each window teacher-forced through it, the
//! benchmark runs its streaming loop, and a quantized checkpoint it loads
//! must hold exactly the values MLX's own `nn.quantize` gives the float
//! model.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// The package's quantized load against MLX's own quantization of the
/// float model: teacher-forced logits through both, max |difference|.
const SAME_AS_MLX: &str = r#"
import sys, importlib
import mlx.core as mx, mlx.nn as nn
sys.path.insert(0, sys.argv[1])
pkg = importlib.import_module(sys.argv[2])
gen = importlib.import_module(sys.argv[2] + ".generate")
ours, _ = pkg.load(sys.argv[4], dequantized=True)
ref, _ = pkg.load(sys.argv[3])
nn.quantize(ref, group_size=64, bits=8, class_predicate=lambda p, m: hasattr(m, "to_quantized") and m.weight.shape[-1] % 64 == 0)
src, tgt = [5, 17, 33, 99, 140, 7, 1], [300, 12, 9, 450, 42, 7]
a, b = gen.teacher_forced(ours, src, tgt), gen.teacher_forced(ref, src, tgt)
print(float(mx.abs(a - b).max()), float(mx.abs(b).max()))
"#;

fn step(port: &serde_json::Value, name: &str) -> serde_json::Value {
    port["steps"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step {name}: {port:#}")).clone()
}

/// The port of SRC into DIR with token-id inputs (the ladder's own) and
/// short quality and bench settings.
fn port(py_: &Path, src: &Path, dir: &Path, inputs: &str, extra: &[&str]) -> serde_json::Value {
    let inp = dir.with_extension("inputs.json");
    std::fs::write(&inp, inputs).unwrap();
    let o = run(
        bin!()
            .arg("port")
            .arg(src)
            .arg("--out")
            .arg(dir)
            .arg("--inputs")
            .arg(&inp)
            .args([
                "--threads",
                "2",
                "--accept-license",
                "--quality-max-tokens",
                "256",
                "--bench-prompt-tokens",
                "32",
                "--bench-runs",
                "2",
                "--bench-gen-tokens",
                "8",
            ])
            .args(extra),
        py_,
    );
    let p = read_json(&dir.join("port.json"));
    assert_eq!(o.status.code(), Some(0), "{p:#}");
    assert_eq!(p["status"], "complete", "{p:#}");
    p
}

fn package_of(dir: &Path) -> (PathBuf, String) {
    let stamp = read_json(&dir.join("scaffold/mlxport_scaffold.json"));
    (dir.join("package"), stamp["package"].as_str().unwrap().to_string())
}

#[test]
fn t5_port_quantized_is_gated_and_benchmarked_through_its_package() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("t5");
    // A smaller initialisation than the default keeps the random model's
    // logits in a range where 8-bit weights are a fair candidate.
    build_with_tokenizer(&py_, "t5", &src, r#"{"initializer_factor": 0.3}"#);
    let dir = tmp.path().join("port");
    let p = port(&py_, &src, &dir, r#"{"token_ids": [[5,17,33,2,99,140,7,1],[300,12,9,450,1]], "generate": 16}"#, &["-q", "--bits", "8"]);
    for s in ["parity", "quantize", "quality", "bench", "package"] {
        assert_eq!(step(&p, s)["status"], "done", "{s}: {:#}", step(&p, s));
    }
    let q = read_json(&dir.join("quality/quality.json"));
    assert_eq!(q["kind"], "language-model");
    assert_eq!(q["run"]["implementation"], "package scaffold", "{:#}", q["run"]);
    assert_eq!(q["verdict"], "pass", "{q:#}");
    assert!(q["lm"]["positions"].as_u64().unwrap() > 100, "{q:#}");
    assert!(step(&p, "bench")["summary"].as_str().unwrap().contains("quantized decode tok/s"), "{:#}", step(&p, "bench"));
    // `mlxport quality` by hand: mlx-lm cannot run a t5, so it names the
    // flag that can; through the package it gives the port's verdict.
    let q_args = |pkg: bool| {
        let mut c = bin!();
        c.arg("quality").arg("--reference").arg(dir.join("weights")).arg("--candidate").arg(dir.join("quantized")).args(["--max-tokens", "256"]);
        if pkg {
            c.arg("--package").arg(dir.join("scaffold"));
        }
        c
    };
    let o = run(&mut q_args(false), &py_);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give --package"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&mut q_args(true), &py_);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    // The shipped package loads the quantized weights; its values are MLX's.
    let (pkg_dir, name) = package_of(&dir);
    assert!(pkg_dir.join(&name).join("quant.py").is_file());
    let out = py(&py_, SAME_AS_MLX, &[pkg_dir.to_str().unwrap(), &name, dir.join("weights").to_str().unwrap(), dir.join("quantized").to_str().unwrap()]);
    let v: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(v[0] <= 1e-4 * v[1].max(1.0), "quantized logits differ from nn.quantize's: {out}");
}

#[test]
fn bart_optimized_port_gates_every_candidate_through_its_package() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("bart");
    build_with_tokenizer(&py_, "bart", &src, "{}");
    let dir = tmp.path().join("port");
    let p = port(
        &py_,
        &src,
        &dir,
        r#"{"token_ids": [[0,5,17,33,99,140,7,2],[0,300,12,9,450,2]], "generate": 16}"#,
        &["--optimize", "--optimize-candidates", "q8g64,q2g64"],
    );
    assert_eq!(step(&p, "optimize")["status"], "done", "{:#}", step(&p, "optimize"));
    let doc = read_json(&dir.join("optimize/optimize.json"));
    assert_eq!(doc["settings"]["package"].as_str().map(str::len), Some(64), "the package's digest is part of the reuse key: {:#}", doc["settings"]);
    for r in doc["records"].as_array().unwrap() {
        assert!(r["correctness"]["quality_verdict"].is_string(), "every candidate gated: {r:#}");
        assert!(r["decision"]["reason"].is_string(), "{r:#}");
        let q = read_json(&dir.join("optimize").join(r["quality_report"].as_str().unwrap()));
        assert_eq!(q["run"]["implementation"].as_str().map(|s| s.starts_with("package ")), Some(true), "{:#}", q["run"]);
        assert!(dir.join("optimize").join(r["receipt"].as_str().unwrap()).is_file(), "{r:#}");
    }
    assert!(doc["serving"].is_null(), "an encoder-decoder package has no serving switches");
    let md = std::fs::read_to_string(dir.join("optimize/OPTIMIZATIONS.md")).unwrap();
    assert!(md.contains("the package's own generation"), "{md}");
}
