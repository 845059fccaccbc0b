//! Mixture-of-experts decoders end to end: for mixtral, qwen2_moe and
//! qwen3_moe, a tiny random checkpoint built by transformers from the spec
//! in `python/matrix/<type>.json` (seed 0, float32: several experts, top-k
//! of at least 2, Qwen2-MoE's gated shared expert, Qwen3-MoE's QK-norm and
//! renormalized top-k) goes through inspect, map draft, map validate,
//! convert, scaffold and `mlxport parity` with the scaffolded package and
//! with mlx-lm's own implementation as targets. transformers is the
//! reference: every rung must pass (blocks at cosine >= 0.9999), the 16
//! greedy tokens must be the source's, and cached decoding must equal full
//! recomputation; an independent ladder check confirms the verdict. The
//! package's dispatch is checked to be sparse: each expert projection
//! multiplies tokens x top-k rows, never tokens x experts.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::*;

const IDS: &str = "5,17,300,42,9,77,123,250,401,18,66,3,211,90,7,333";

fn os<P: AsRef<OsStr> + ?Sized>(p: &P) -> &OsStr {
    p.as_ref()
}

/// The builder recipe of the parity matrix: seed 0, AutoConfig.for_model,
/// AutoModelForCausalLM.from_config, float32, safetensors.
const BUILD: &str = r#"
import json, sys, torch
from transformers import AutoConfig, AutoModelForCausalLM
spec = json.load(open(sys.argv[1]))
cfg = dict(spec["config"])
torch.manual_seed(0)
config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
model.save_pretrained(sys.argv[2], safe_serialization=True)
"#;

/// Runs the package on the prompt with `mx.gather_mm` wrapped: prints the
/// number of rows each expert projection multiplied, the tokens, top-k and
/// the expert count.
const SPARSE: &str = r#"
import importlib, os, sys
import mlx.core as mx
pkg_dir, weights = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(pkg_dir))
pkg = importlib.import_module(os.path.basename(pkg_dir))
model, args = pkg.load(weights)
rows = []
real = mx.gather_mm
def counting(a, b, *r, **k):
    rows.append(int(k["rhs_indices"].size))
    return real(a, b, *r, **k)
mx.gather_mm = counting
ids = [int(x) for x in sys.argv[3].split(",")]
mx.eval(model(mx.array([ids])))
print(sorted(set(rows)), len(rows), len(ids), args.moe.num_experts_per_tok, args.moe.num_experts)
"#;

/// A quantized checkpoint loaded packed and dequantized: the number of
/// quantized expert modules and the largest logit difference.
const QUANTIZED: &str = r#"
import importlib, json, os, sys
import mlx.core as mx
pkg_dir, weights, ids = sys.argv[1], sys.argv[2], [int(t) for t in sys.argv[3].split(",")]
sys.path.insert(0, os.path.dirname(pkg_dir))
pkg = importlib.import_module(os.path.basename(pkg_dir))
packed, _ = pkg.load(weights)
plain, _ = pkg.load(weights, dequantized=True)
n = sum(type(m).__name__ == "QuantizedSwitchLinear" for _, m in packed.named_modules())
assert not any(type(m).__name__.startswith("Quantized") for _, m in plain.named_modules())
a, b = packed(mx.array([ids])), plain(mx.array([ids]))
print(json.dumps({"quantized_experts": n, "max_abs": mx.abs(a - b).max().item(), "scale": mx.abs(b).max().item()}))
"#;

fn assert_all_pass(report: &serde_json::Value, layers: usize, what: &str) {
    assert_rungs_pass(report, layers, &["config", "weights", "embeddings", "final_norm", "logits", "ids", "cache_decode", "cache_vs_full"], what);
    assert_eq!(report["status"], "pass");
    let cap = PathBuf::from(report["capture"].as_str().unwrap());
    let ids = mlxport_tensor::open_file(&cap).unwrap().info("generated.ids").unwrap().shape.clone();
    assert_eq!(ids, vec![1, 16], "{what}: 16 greedy tokens");
    // The same verdict, reached independently of mlxport's compare code.
    let oracle = PathBuf::from(report["oracle"].as_str().unwrap());
    let rs = ladder(&oracle, &cap, &Tol { atol: None, rel: 1e-4, cos: 0.99999 });
    assert_eq!(first_failure(&rs), None, "{what}");
    let (rel, cos) = ladder_pair(&cap, "cache_decode.logits", "full_decode.logits");
    assert!(rel <= 1e-4 && cos >= 0.99999, "{what}: cache vs full: {rel} {cos}");
}

fn draft_validate_convert(ck: &Path, d: &Path, target: &str, py_: &Path) -> PathBuf {
    let map = d.join(format!("map-{target}.json"));
    ok(bin!().args(["map", "draft"]).arg(ck).args(["--target", target]).arg("-o").arg(&map), py_);
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&map).unwrap()).unwrap();
    let text = m.to_string();
    assert!(text.contains(".switch_mlp.") && text.contains("\"stack\""), "{target}: experts stacked");
    assert!(m["unresolved"].as_array().is_none_or(|u| u.is_empty()), "{target}: nothing unresolved: {}", m["unresolved"]);
    ok(bin!().args(["map", "validate", "--source"]).arg(ck).arg("--map").arg(&map), py_);
    let out = d.join(format!("weights-{target}"));
    ok(bin!().arg("convert").arg(ck).arg("--map").arg(&map).arg("--out").arg(&out), py_);
    out
}

fn moe_type_passes(name: &str) {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ck = d.join("ckpt");
    let spec_path = matrix_spec_path(name);
    py(&py_, BUILD, &[spec_path.to_str().unwrap(), ck.to_str().unwrap()]);
    let s = matrix_spec(name);
    let layers = s["config"]["num_hidden_layers"].as_u64().unwrap() as usize;

    let insp = d.join("inspection.json");
    ok(bin!().arg("inspect").arg(&ck).arg("-o").arg(&insp), &py_);
    let iv: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&insp).unwrap()).unwrap();
    assert_eq!(iv["routing"]["family"], "moe-decoder");

    // Converted weights: experts stacked to [E, out, in] for both targets.
    let w_pkg = draft_validate_convert(&ck, d, "scaffold", &py_);
    let w_lm = draft_validate_convert(&ck, d, "mlx-lm", &py_);
    let experts = s["config"]["num_local_experts"].as_u64().or(s["config"]["num_experts"].as_u64()).unwrap();
    let conv = mlxport_tensor::open_file(&w_pkg.join("model.safetensors")).unwrap();
    let ffn = if name == "mixtral" { "block_sparse_moe" } else { "mlp" };
    let gate = conv.info(&format!("model.layers.0.{ffn}.switch_mlp.gate_proj.weight")).unwrap();
    assert_eq!(gate.shape[0], experts);
    assert!(conv.info(&format!("model.layers.0.{ffn}.gate.weight")).is_ok(), "the router is kept");

    let pkg = d.join(format!("{name}_mlx"));
    ok(bin!().arg("scaffold").arg(&insp).arg("-o").arg(&pkg), &py_);
    assert!(pkg.join("moe.py").is_file());

    // Sparse dispatch: every expert projection multiplies tokens x top-k rows.
    let out = py(&py_, SPARSE, &[pkg.to_str().unwrap(), w_pkg.to_str().unwrap(), IDS]);
    let tokens = IDS.split(',').count();
    let k = s["config"]["num_experts_per_tok"].as_u64().unwrap() as usize;
    assert!(k >= 2 && (k as u64) < experts);
    assert_eq!(out, format!("[{}] {} {tokens} {k} {experts}", tokens * k, 3 * layers), "rows per gather_mm, calls, tokens, top-k, experts");

    let (code, r) = parity(
        &py_,
        &d.join("p-scaffold"),
        &[
            os("--source"),
            os(&ck),
            os("--target"),
            os("scaffold"),
            os("--package"),
            os(&pkg),
            os("--weights"),
            os(&w_pkg),
            os("--token-ids"),
            os(IDS),
            os("--generate"),
            os("16"),
            os("--threads"),
            os("2"),
        ],
    );
    assert_eq!(code, 0);
    assert_all_pass(&r, layers, &format!("{name} scaffold"));
    // The package's serving switches keep its tokens, and its quantized
    // form (experts through `mx.gather_qmm`) computes what the same
    // weights dequantized compute through `mx.gather_mm`.
    serving_tests(&py_, &pkg, &w_pkg, IDS);
    let q = d.join("q4");
    let o = run(bin!().arg("quantize").arg(&w_pkg).args(["--bits", "4", "--group-size", "32", "-o"]).arg(&q), &py_);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = py(&py_, QUANTIZED, &[pkg.to_str().unwrap(), q.to_str().unwrap(), IDS]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["quantized_experts"].as_u64().unwrap() > 0, "{name}: {v}");
    assert!(v["max_abs"].as_f64().unwrap() <= 1e-4 * v["scale"].as_f64().unwrap().max(1.0), "{name}: {v}");
    let oracle = PathBuf::from(r["oracle"].as_str().unwrap());
    let (code, r) = parity(
        &py_,
        &d.join("p-mlx-lm"),
        &[os("--source"), os(&ck), os("--target"), os("mlx-lm"), os("--weights"), os(&w_lm), os("--oracle"), os(&oracle), os("--threads"), os("2")],
    );
    assert_eq!(code, 0);
    assert_all_pass(&r, layers, &format!("{name} mlx-lm"));
}

#[test]
fn mixtral_parity_passes_on_both_targets() {
    moe_type_passes("mixtral");
}

#[test]
fn qwen2_moe_parity_passes_on_both_targets() {
    moe_type_passes("qwen2_moe");
}

#[test]
fn qwen3_moe_parity_passes_on_both_targets() {
    moe_type_passes("qwen3_moe");
}
