//! Quantization against mlx-lm and MLX on the real SmolLM2: `convert -q`
//! and `quantize` equal `mlx_lm.convert -q` bit for bit, the result loads
//! and generates in mlx-lm, GGUF blocks kept as MLX affine equal `mx.load`
//! of the GGUF, the error report matches numpy on `mx.dequantize`, and a
//! bits-per-weight budget is met with less error than uniform bits.

mod common;

use std::path::Path;

use common::*;
use mlxport_convert::convert::{convert, ConvertOptions};
use mlxport_convert::draft::{config_beside, draft, DraftOptions};
use mlxport_convert::plan::DtypePolicy;
use mlxport_convert::quantize::{identity_map, quantize_convert, QuantOptions};
use mlxport_convert::WeightMap;
use mlxport_tensor::DType;
use serde_json::Value;

fn map_for(model: &Path) -> WeightMap {
    let src = mlxport_tensor::open(model).unwrap();
    let config = if src.format() == mlxport_tensor::Format::Gguf { None } else { config_beside(model).unwrap() };
    draft(src.as_ref(), &DraftOptions { family: None, target: None, config }).unwrap().map
}

fn bf16() -> ConvertOptions {
    ConvertOptions { dtype: Some(DtypePolicy::To(DType::BF16)), command: vec!["test".into()], ..Default::default() }
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// mlx-lm's own quantized conversions: (out, bits, recipe) per line.
const MLX_CONVERT: &str = r#"
import json, sys
from mlx_lm.convert import convert
for out, bits, recipe in json.loads(sys.argv[2]):
    convert(sys.argv[1], out, quantize=True, q_bits=bits, q_group_size=64, dtype="bfloat16", quant_predicate=recipe)
"#;

/// Greedy token ids from mlx-lm for each model directory given.
const GENERATE: &str = r#"
import json, sys
import mlx.core as mx
from mlx_lm import load
from mlx_lm.generate import generate_step
from mlx_lm.sample_utils import make_sampler
prompts = ["The capital of France is", "def fibonacci(n):", "Once upon a time,"]
out = []
for d in sys.argv[1:]:
    m, tok = load(d)
    rows = []
    for p in prompts:
        toks = [int(t) for t, _ in generate_step(mx.array(tok.encode(p)), m, max_tokens=12, sampler=make_sampler(temp=0.0))]
        rows.append(toks)
    out.append(rows)
print(json.dumps(out))
"#;

/// The report's metrics recomputed with numpy from `mx.dequantize` of the
/// written tensors against the float weights. Prints the worst relative
/// difference over every metric.
const CHECK_REPORT: &str = r#"
import glob, json, sys, math
import numpy as np
import mlx.core as mx
def load(d):
    out = {}
    for f in sorted(glob.glob(d + "/*.safetensors")):
        out.update(mx.load(f))
    return out
q, ref = load(sys.argv[1]), load(sys.argv[2])
report = json.load(open(sys.argv[3]))
worst = 0.0
for l in report["layers"]:
    p = l["name"][: -len(".weight")]
    w = mx.dequantize(q[p + ".weight"], q[p + ".scales"], q.get(p + ".biases"), group_size=l["group_size"], bits=l["bits"], mode=l["mode"])
    a = np.array(w.astype(mx.float32), dtype=np.float64)
    b = np.array(ref[l["name"]].astype(mx.float32), dtype=np.float64)
    d = a - b
    sse, ssw = float((d * d).sum()), float((b * b).sum())
    got = {"rmse": math.sqrt(sse / d.size), "max_abs": float(np.abs(d).max()), "rel_frobenius": math.sqrt(sse / ssw), "sqnr_db": 10 * math.log10(ssw / sse)}
    for k, v in got.items():
        worst = max(worst, abs(l[k] - v) / max(abs(v), 1e-30))
    assert l["elements"] == d.size
ranks = [l["rel_frobenius"] for l in report["layers"]]
assert ranks == sorted(ranks, reverse=True)
print(worst)
"#;

#[test]
fn smollm2_quantized_equals_mlx_lm_convert_and_generates_alike() {
    let Some(py) = python() else { return };
    let hf = smollm2_hf(&py);
    let map = map_for(&hf);
    let d = tempdir();
    let p = |s: &str| d.path().join(s);
    // Ours: convert -q at 4 bits (with the error report) and mixed_3_6;
    // quantize (from our float conversion) at 8 bits.
    let mut q4 = QuantOptions::new(None, Some(4), Some(64), None, &[], None).unwrap();
    q4.report = true;
    let done = quantize_convert(&hf, &map, &p("ours-q4"), bf16(), Some(&q4), false).unwrap();
    assert_eq!(done.report.quantized, 211);
    assert!(done.report.skipped.is_empty());
    std::fs::write(p("report.json"), serde_json::to_string(&done.report).unwrap()).unwrap();
    let mixed = QuantOptions::new(None, None, Some(64), Some("mixed_3_6"), &[], None).unwrap();
    quantize_convert(&hf, &map, &p("ours-mixed"), bf16(), Some(&mixed), false).unwrap();
    convert(&hf, &map, &p("ours-float"), &bf16()).unwrap();
    let src = mlxport_tensor::open(&p("ours-float")).unwrap();
    let id = identity_map(src.as_ref(), &p("ours-float")).unwrap();
    let q8 = QuantOptions::new(None, Some(8), Some(64), None, &[], None).unwrap();
    quantize_convert(&p("ours-float"), &id, &p("ours-q8"), ConvertOptions::default(), Some(&q8), false).unwrap();
    // An already quantized checkpoint is refused.
    let again = identity_map(mlxport_tensor::open(&p("ours-q8")).unwrap().as_ref(), &p("ours-q8")).unwrap_err().to_string();
    assert!(again.contains("already quantized"), "{again}");

    let jobs = serde_json::json!([[p("mlx-q4"), 4, null], [p("mlx-q8"), 8, null], [p("mlx-mixed"), null, "mixed_3_6"]]).to_string();
    run_py(&py, MLX_CONVERT, &[hf.to_str().unwrap(), &jobs]);
    for (ours, theirs) in [("ours-q4", "mlx-q4"), ("ours-q8", "mlx-q8"), ("ours-mixed", "mlx-mixed")] {
        let n = run_py(&py, SAME_TENSORS, &[p(ours).to_str().unwrap(), p(theirs).to_str().unwrap()]);
        assert_eq!(n.trim(), "694", "{ours}: tensor count");
        assert_eq!(json(&p(ours).join("model.safetensors.index.json")), json(&p(theirs).join("model.safetensors.index.json")), "{ours}: index");
        let (mut a, b) = (json(&p(ours).join("config.json")), json(&p(theirs).join("config.json")));
        a.as_object_mut().unwrap().remove("rope_theta");
        assert_eq!(a["quantization"], b["quantization"], "{ours}");
        assert_eq!(a["quantization_config"], b["quantization_config"], "{ours}");
        assert_eq!(a, b, "{ours}: config");
    }
    let mixed_cfg = json(&p("ours-mixed").join("config.json"));
    assert_eq!(mixed_cfg["quantization"]["model.layers.0.mlp.down_proj"], serde_json::json!({"group_size": 64, "bits": 6, "mode": "affine"}));
    assert_eq!(mixed_cfg["quantization"]["model.layers.4.mlp.down_proj"], serde_json::json!({"group_size": 64, "bits": 3, "mode": "affine"}));

    // The error report agrees with numpy on mx.dequantize.
    let worst: f64 = run_py(&py, CHECK_REPORT, &[p("ours-q4").to_str().unwrap(), p("ours-float").to_str().unwrap(), p("report.json").to_str().unwrap()])
        .trim()
        .parse()
        .unwrap();
    assert!(worst < 1e-6, "report metrics differ from numpy by {worst:e} (relative)");

    // Ours loads in mlx-lm and generates exactly what mlx-lm's own
    // quantized conversion generates, once that is given the RoPE base
    // mlx-lm's conversion loses (it reads rope_theta only at the top level).
    for theirs in ["mlx-q4", "mlx-mixed"] {
        let mut c = json(&p(theirs).join("config.json"));
        c["rope_theta"] = json(&p("ours-q4").join("config.json"))["rope_theta"].clone();
        std::fs::write(p(theirs).join("config.json"), serde_json::to_string(&c).unwrap()).unwrap();
    }
    let gen: Value = serde_json::from_str(
        run_py(
            &py,
            GENERATE,
            &[p("ours-q4").to_str().unwrap(), p("mlx-q4").to_str().unwrap(), p("ours-mixed").to_str().unwrap(), p("mlx-mixed").to_str().unwrap()],
        )
        .trim()
        .lines()
        .last()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(gen[0], gen[1]);
    assert_eq!(gen[2], gen[3]);
    assert_eq!(gen[0][0].as_array().unwrap().len(), 12);
}

/// `mx.load` of the GGUF against our kept blocks, after the reference
/// renaming and transformers' reverse permutation of Q/K rows.
const GGUF_KEPT: &str = r#"
import glob, json, sys
import numpy as np
import mlx.core as mx
g = mx.load(sys.argv[1])
ours = {}
for f in sorted(glob.glob(sys.argv[2] + "/*.safetensors")):
    ours.update(mx.load(f))
names = json.loads(sys.argv[3])
heads, kv = int(sys.argv[4]), int(sys.argv[5])
def unpermute(w, n):
    w = np.array(w)
    return w.reshape(n, w.shape[0] // n // 2, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)
n = 0
for ours_name, gguf_name in names.items():
    for part in ["weight", "scales", "biases"]:
        a = ours[ours_name + "." + part]
        b = g[gguf_name + "." + part]
        assert a.dtype == b.dtype and a.shape == b.shape, (ours_name, part, a.dtype, b.dtype, a.shape, b.shape)
        u = {2: mx.uint16, 4: mx.uint32}[a.itemsize]
        bb = np.array(b.view(u))
        if gguf_name.endswith("attn_q"):
            bb = unpermute(bb, heads)
        elif gguf_name.endswith("attn_k"):
            bb = unpermute(bb, kv)
        assert np.array_equal(np.array(a.view(u)), bb), (ours_name, part)
        n += 1
print(n)
"#;

#[test]
fn smollm2_gguf_blocks_kept_equal_mx_load() {
    let Some(py) = python() else { return };
    let gguf = smollm2_gguf(&py);
    let map = map_for(&gguf);
    let d = tempdir();
    let out = d.path().join("kept");
    let done = quantize_convert(&gguf, &map, &out, ConvertOptions::default(), None, true).unwrap();
    assert_eq!(done.report.kept_gguf, 211);
    // Target name -> GGUF name for every kept tensor, from the plan.
    let src = mlxport_tensor::open(&gguf).unwrap();
    let p = mlxport_convert::plan::plan(&map, src.tensors(), None);
    let mut names = serde_json::Map::new();
    for j in &p.jobs {
        let t = &j.targets[0];
        if let Some(path) = t.strip_suffix(".weight") {
            if out.join("model.safetensors").exists() && src.info(&j.inputs[0]).unwrap().encoding.dtype().is_none() {
                names.insert(path.into(), j.inputs[0].strip_suffix(".weight").unwrap().into());
            }
        }
    }
    assert_eq!(names.len(), 211);
    let n = run_py(&py, GGUF_KEPT, &[gguf.to_str().unwrap(), out.to_str().unwrap(), &Value::Object(names).to_string(), "9", "3"]);
    assert_eq!(n.trim(), "633");
    let cfg = json(&out.join("config.json"));
    assert_eq!(cfg["quantization"]["group_size"], 32);
    assert_eq!(cfg["quantization"]["bits"], 4);
    assert_eq!(cfg["quantization"]["model.embed_tokens"], serde_json::json!({"group_size": 32, "bits": 8, "mode": "affine"}));
    // mlx-lm loads it and generates.
    let gen: Value = serde_json::from_str(run_py(&py, GENERATE, &[out.to_str().unwrap()]).trim().lines().last().unwrap()).unwrap();
    assert_eq!(gen[0][0].as_array().unwrap().len(), 12);
}

/// Squared error of our budgeted model and of uniform 4-bit quantization
/// (mx.quantize) over the same layers, against the float weights; and the
/// bits per weight of both from their bytes and mlx-lm's parameter count.
const BUDGET_CHECK: &str = r#"
import glob, json, sys
import numpy as np
import mlx.core as mx
def load(d):
    out = {}
    for f in sorted(glob.glob(d + "/*.safetensors")):
        out.update(mx.load(f))
    return out
def sse(a, b):
    d = np.array(a.astype(mx.float32), dtype=np.float64) - np.array(b.astype(mx.float32), dtype=np.float64)
    return float((d * d).sum())
q, ref = load(sys.argv[1]), load(sys.argv[2])
cfg = json.load(open(sys.argv[1] + "/config.json"))["quantization"]
idx = json.load(open(sys.argv[1] + "/model.safetensors.index.json"))["metadata"]
ours_sse = uni_sse = 0.0
uni_bytes = 0
for k, w in ref.items():
    p = k[: -len(".weight")]
    if p + ".scales" not in q:
        uni_bytes += w.nbytes
        continue
    e = cfg.get(p, cfg)
    dq = mx.dequantize(q[p + ".weight"], q[p + ".scales"], q[p + ".biases"], group_size=e["group_size"], bits=e["bits"])
    ours_sse += sse(dq, w)
    wq, s, b = mx.quantize(w, group_size=64, bits=4)
    uni_bytes += wq.nbytes + s.nbytes + b.nbytes
    dq = mx.dequantize(wq, s, b, group_size=64, bits=4)
    uni_sse += sse(dq, w)
print(json.dumps({"bpw": idx["total_size"] * 8 / idx["total_parameters"], "uniform_bpw": uni_bytes * 8 / idx["total_parameters"], "sse": ours_sse, "uniform_sse": uni_sse, "bits": sorted({v["bits"] for k, v in cfg.items() if isinstance(v, dict)})}))
"#;

#[test]
fn smollm2_target_bpw_meets_the_budget_with_less_error_than_uniform() {
    let Some(py) = python() else { return };
    let hf = smollm2_hf(&py);
    let map = map_for(&hf);
    let d = tempdir();
    let float = d.path().join("float");
    convert(&hf, &map, &float, &bf16()).unwrap();
    let id = identity_map(mlxport_tensor::open(&float).unwrap().as_ref(), &float).unwrap();
    let target = 4.75;
    let q = QuantOptions::new(None, None, Some(64), None, &[], Some(target)).unwrap();
    let out = d.path().join("budget");
    let done = quantize_convert(&float, &id, &out, ConvertOptions::default(), Some(&q), false).unwrap();
    let a = done.report.target_bpw.clone().unwrap();
    let v: Value = serde_json::from_str(run_py(&py, BUDGET_CHECK, &[out.to_str().unwrap(), float.to_str().unwrap()]).trim()).unwrap();
    let bpw = v["bpw"].as_f64().unwrap();
    assert!(bpw <= target && bpw >= target - 0.05, "bpw {bpw} for a budget of {target}");
    assert!((bpw - a.bpw).abs() < 1e-9, "predicted {} vs written {bpw}", a.bpw);
    // Uniform 4-bit is the best uniform choice at or below the budget.
    let ubpw = v["uniform_bpw"].as_f64().unwrap();
    assert!(ubpw <= bpw, "uniform 4-bit {ubpw} vs {bpw}");
    let (sse, usse) = (v["sse"].as_f64().unwrap(), v["uniform_sse"].as_f64().unwrap());
    assert!(sse < usse, "total squared error {sse} is not below uniform 4-bit's {usse}");
    assert!((sse - a.total_sse).abs() / sse < 1e-3, "predicted error {} vs measured {sse}", a.total_sse);
    assert!(v["bits"].as_array().unwrap().len() >= 2, "{v}");
}
