//! The parity matrix end to end: every entry of python/matrix/ built by
//! transformers from its config (seed 0, float32), ported and climbed
//! through every rung against the generated package and against mlx-lm's
//! implementation where mlx-lm has the model type (mlx-vlm's for a
//! vision-language model). transformers is the
//! reference: the verdicts are re-checked here directly on the oracle and
//! capture tensors, independently of mlxport's compare code, and every
//! refusal must name the unsupported feature.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Entries the scaffold must refuse, and the words its message must hold:
/// the feature, as a user would search for it.
const FAIL_CLOSED: &[(&str, &[&str])] = &[
    ("llama-remote-code", &["remote-code", "auto_map"]),
    ("llama-longrope", &["RoPE scaling", "longrope"]),
    ("gpt-neox-parallel-residual", &["parallel residual", "use_parallel_residual"]),
    ("bloom-alibi", &["ALiBi"]),
    ("bert-relative-key", &["position_embedding_type", "relative_key"]),
    ("gpt2-no-template", &["model_type 'gpt2'"]),
    ("vit-masked-image-modeling", &["ViTForMaskedImageModeling head"]),
    ("swin", &["shifted-window attention", "model_type 'swin'"]),
    ("beit", &["relative position biases", "model_type 'beit'"]),
];

/// Entries the scaffold refuses but mlx-lm implements: mlx-lm is still
/// asked, and passes (GPT-2's Conv1D weights mapped to mlx-lm's names).
const MLX_LM_ONLY: &[&str] = &["gpt2-no-template"];

/// Model types mlx-lm implements among the entries (its own code is the
/// second target for them).
const MLX_LM_TYPES: &[&str] = &["llama", "mistral", "qwen2", "qwen3"];

fn entry<'a>(r: &'a Value, name: &str, target: &str) -> &'a Value {
    r["entries"].as_array().unwrap().iter().find(|e| e["name"] == name && e["target"] == target).unwrap_or_else(|| panic!("no entry {name} -> {target}"))
}

#[test]
fn parity_matrix_every_expectation_holds() {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (json, md) = (d.join("matrix.json"), d.join("matrix.md"));
    let work = d.join("work");
    let t0 = std::time::Instant::now();
    let o = run(
        bin!()
            .args(["parity", "matrix", "--target", "both", "--threads", "2", "--json"])
            .arg("--work-dir")
            .arg(&work)
            .arg("-o")
            .arg(&json)
            .arg("--markdown")
            .arg(&md),
        &py_,
    );
    eprintln!("matrix ran in {:.1} s", t0.elapsed().as_secs_f64());
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&o.stdout).unwrap(), r, "--json prints the report -o writes");
    assert_eq!(r["schema"], "mlxport.parity-matrix/v1");
    let entries = r["entries"].as_array().unwrap();
    for e in entries {
        assert_eq!(e["as_expected"], true, "{} -> {}: {} ({})", e["name"], e["target"], e["status"], e["message"]);
    }
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(r["summary"]["unexpected"], 0);

    // Every entry expected to pass: every rung, both targets where mlx-lm
    // has the type, and independently re-checked on the tensors.
    let mut passing_types = std::collections::BTreeSet::new();
    for e in entries.iter().filter(|e| e["expect"] == "pass") {
        let (name, target, mt) = (e["name"].as_str().unwrap(), e["target"].as_str().unwrap(), e["model_type"].as_str().unwrap());
        if target == "mlx-lm" && e["status"] == "skipped" {
            assert!(!MLX_LM_TYPES.contains(&mt), "{name}: mlx-lm implements {mt}");
            assert!(e["message"].as_str().unwrap().contains("mlx-lm has no implementation"));
            continue;
        }
        if e["message"].as_str().is_some_and(|m| m.starts_with(&format!("known {target} divergence"))) {
            // mlx-lm's (or, for a vision-language model, mlx-vlm's) own
            // implementation misses a feature of the source (recorded in
            // the spec's expect_mlx_lm); the scaffold passes.
            assert_eq!(e["status"], "fail", "{name}");
            assert_eq!(entry(&r, name, "scaffold")["status"], "pass", "{name}");
            continue;
        }
        assert_eq!(e["status"], "pass", "{name} -> {target}: {}", e["message"]);
        passing_types.insert(mt.to_string());
        let (p, n) = (e["rungs_passed"].as_u64().unwrap(), e["rungs_runnable"].as_u64().unwrap());
        assert!(n >= 6 && p == n, "{name} -> {target}: {p}/{n} rungs");
        assert!(e["worst_cosine"].as_f64().unwrap() >= 0.9999, "{name} -> {target}: worst cosine {}", e["worst_cosine"]);
        let parity = work.join(name).join(target).join("parity");
        let report: Value = serde_json::from_slice(&std::fs::read(parity.join("parity.json")).unwrap()).unwrap();
        let layers = report["ladder"]["rungs"].as_array().unwrap().iter().filter(|x| x["kind"] == "layer").count();
        assert!(layers >= 2, "{name}: every block is a rung ({layers})");
        // The oracle is made once per entry (first target) and reused.
        let oracle = Path::new(report["oracle"].as_str().unwrap()).to_path_buf();
        let capture = Path::new(report["capture"].as_str().unwrap()).to_path_buf();
        let rs = ladder(&oracle, &capture, &Tol { atol: None, rel: 1e-4, cos: 0.9999 });
        assert_eq!(first_failure(&rs), None, "{name} -> {target}: independent ladder check");
        if ["dense-decoder", "moe-decoder", "encoder-decoder", "vision-language"].contains(&e["family"].as_str().unwrap()) {
            // Two prompts; a vision-language model's: one question per built-in photograph.
            let prompts = if e["family"] == "vision-language" { 6 } else { 2 };
            let g = &e["greedy"];
            assert_eq!(g["agree"], g["total"], "{name} -> {target}: greedy tokens");
            assert_eq!(g["total"], prompts * 16, "{name}: 16 new tokens on every prompt");
            let margins = g["margins"].as_array().unwrap();
            assert_eq!(margins.len(), prompts);
            assert!(margins.iter().all(|m| m.as_array().unwrap().len() == 16));
            // Not decided by near-ties: every step's top-2 margin is in the
            // report; the smallest seen (bart 3e-4, qwen3_moe 9e-4) still
            // sit well above the float32 differences of the logits.
            assert!(g["min_margin"].as_f64().unwrap() > 1e-4, "{name}: top-2 margin {}", g["min_margin"]);
            assert!(rs.iter().any(|x| x.name == "generated.ids" && x.pass));
            let (rel, cos) = ladder_pair(&capture, "cache_decode.logits", "full_decode.logits");
            assert!(rel <= 1e-4 && cos >= 0.9999, "{name} -> {target}: cache vs full {rel} {cos}");
        } else {
            assert!(e["greedy"].is_null());
        }
    }
    for t in MLX_LM_TYPES {
        assert_eq!(entry(&r, t, "mlx-lm")["status"], "pass", "mlx-lm's {t} is a second target");
    }
    for t in [
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "bert",
        "roberta",
        "xlm-roberta",
        "camembert",
        "vit",
        "deit",
        "dinov2",
        "dinov2_with_registers",
        "clip",
        "siglip",
        "convnext",
        "convnextv2",
        "resnet",
        "llava",
    ] {
        assert!(passing_types.contains(t), "{t} passes");
    }
    assert_eq!(entry(&r, "llava", "mlx-vlm")["status"], "pass", "mlx-vlm's llava is a second target");
    // Image models: rung 0 is the package's own preprocessing, equal to
    // the Hugging Face processor's; DINOv2 also climbs the non-square edge.
    for v in [
        "vit",
        "vit-pooler",
        "deit",
        "deit-distilled",
        "dinov2",
        "dinov2-swiglu-classifier",
        "dinov2-registers",
        "clip",
        "clip-eos",
        "siglip",
        "convnext",
        "convnextv2",
        "resnet",
        "resnet-basic",
        "llava",
        "llava-siglip-layers",
    ] {
        let e = entry(&r, v, "scaffold");
        assert_eq!(e["status"], "pass", "{v}");
        let report: Value = serde_json::from_slice(&std::fs::read(work.join(v).join("scaffold/parity/parity.json")).unwrap()).unwrap();
        let rs = rungs(&report);
        let pre = rung(&rs, "preprocessing");
        assert_eq!(pre["status"], "pass", "{v}: preprocessing");
        assert_eq!(pre["max_abs"].as_f64(), Some(0.0), "{v}: pixel_values equal the processor's exactly");
        if v.starts_with("dinov2") {
            assert_eq!(rung(&rs, "edge size")["status"], "pass", "{v}: positions resampled to a non-square grid");
        }
    }
    for v in ["llama-llama3-rope", "llama-yarn-rope"] {
        assert_eq!(entry(&r, v, "scaffold")["status"], "pass", "{v}");
    }

    // Fail closed, naming the feature.
    for (name, words) in FAIL_CLOSED {
        let e = entry(&r, name, "scaffold");
        assert_eq!(e["status"], "fail-closed", "{name}: {}", e["message"]);
        let m = e["message"].as_str().unwrap();
        assert!(m.starts_with("cannot scaffold this model; unsupported:"), "{name}: {m}");
        for w in *words {
            assert!(m.contains(w), "{name}: the refusal must name '{w}': {m}");
        }
        let mlx_lm = if MLX_LM_ONLY.contains(name) { "pass" } else { "skipped" };
        assert_eq!(entry(&r, name, "mlx-lm")["status"], mlx_lm, "{name} -> mlx-lm");
        assert!(!work.join(name).join("scaffold").join("weights").exists(), "{name}: nothing converted for a refused model");
    }
    assert!(r["summary"]["fail_closed"].as_u64().unwrap() >= 5);

    // The builder is deterministic: the spec files rebuilt in another
    // process give the same bytes.
    let again = d.join("again");
    let list = work.join("specs.json");
    let o = std::process::Command::new(&py_)
        .arg(workspace_root().join("python/harness/matrix_build.py"))
        .arg("--specs")
        .arg(&list)
        .arg("--out")
        .arg(&again)
        .arg("--result")
        .arg(d.join("built.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for e in entries.iter().filter(|e| e["target"] == "scaffold") {
        let name = e["name"].as_str().unwrap();
        let (a, b) = (work.join("checkpoints").join(name), again.join(name));
        let mut files: Vec<_> = std::fs::read_dir(&a).unwrap().flatten().map(|x| x.file_name()).collect();
        files.sort();
        assert!(files.len() >= 3, "{name}: config, weights, tokenizer or image processor: {files:?}");
        for f in files {
            assert!(std::fs::read(a.join(&f)).unwrap() == std::fs::read(b.join(&f)).unwrap(), "{name}/{f:?} differs between two builds");
        }
    }

    // The Markdown holds one row per (entry, target) and the regeneration command.
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("mlxport parity matrix --target both --markdown docs/parity-matrix.md"));
    let rows = text.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| entry")).count();
    assert_eq!(rows, entries.len());
}

#[test]
fn malformed_specs_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.json"), r#"{"name": "bad", "model_type": "llama", "family": "dense-decoder", "config": {"vocab_size": 64}, "expect": "maybe"}"#)
        .unwrap();
    let o = bin!().args(["parity", "matrix", "--specs"]).arg(d).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.json") && err.contains("expect must be"), "{err}");
    std::fs::write(d.join("bad.json"), "[1, 2").unwrap();
    let o = bin!().args(["parity", "matrix", "--specs"]).arg(d).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.json"));
    std::fs::write(d.join("bad.json"), r#"{"name": "bad", "model_type": "llama", "family": "dense-decoder", "config": {"vocab_size": 64}, "expect": "pass"}"#)
        .unwrap();
    let o = bin!().args(["parity", "matrix", "--types", "nope", "--specs"]).arg(d).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--types nope"), "{}", String::from_utf8_lossy(&o.stderr));
}
