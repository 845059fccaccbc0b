//! Conversion against the reference libraries on real models: mlx-lm's
//! own conversion, transformers' GGUF loader, torch checkpoints, and
//! generation through `mlx_lm.load`.

mod common;

use std::path::Path;

use common::*;
use mlxport_convert::convert::{convert, write_weights, ConvertOptions};
use mlxport_convert::draft::{config_beside, draft, DraftOptions};
use mlxport_convert::plan::{plan, DtypePolicy};
use mlxport_convert::WeightMap;
use mlxport_tensor::DType;

fn draft_for(model: &Path, family: Option<&str>) -> mlxport_convert::draft::Draft {
    let src = mlxport_tensor::open(model).unwrap();
    let config = if src.format() == mlxport_tensor::Format::Gguf { None } else { config_beside(model).unwrap() };
    draft(src.as_ref(), &DraftOptions { family: family.map(str::to_string), target: None, config }).unwrap()
}

fn convert_to(model: &Path, map: &WeightMap, out: &Path, dtype: Option<DtypePolicy>) {
    let opts = ConvertOptions { dtype, command: vec!["test".into()], ..Default::default() };
    convert(model, map, out, &opts).unwrap();
}

#[test]
fn smollm2_hf_equals_mlx_lm_convert_bit_for_bit() {
    let Some(py) = python() else { return };
    let hf = smollm2_hf(&py);
    let d = tempdir();
    let dr = draft_for(&hf, None);
    assert_eq!((dr.family.as_str(), dr.target.as_str()), ("dense-decoder", "mlx-lm"));
    for (dtype, mx_name) in [(DType::BF16, "bfloat16"), (DType::F16, "float16")] {
        let ours = d.path().join(format!("ours-{mx_name}"));
        let theirs = d.path().join(format!("mlx-{mx_name}"));
        convert_to(&hf, &dr.map, &ours, Some(DtypePolicy::To(dtype)));
        run_py(
            &py,
            "import sys; from mlx_lm.convert import convert; convert(sys.argv[1], sys.argv[2], dtype=sys.argv[3])",
            &[hf.to_str().unwrap(), theirs.to_str().unwrap(), mx_name],
        );
        let n = run_py(&py, SAME_TENSORS, &[ours.to_str().unwrap(), theirs.to_str().unwrap()]);
        assert_eq!(n.trim(), "272", "tensor count");
        // Same index metadata and weight map.
        let idx = |d: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(d.join("model.safetensors.index.json")).unwrap()).unwrap() };
        assert_eq!(idx(&ours), idx(&theirs));
        // Same config, plus the lifted rope_theta mlx-lm needs.
        let cfg = |d: &Path| -> serde_json::Map<String, serde_json::Value> { serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap() };
        let (mut a, b) = (cfg(&ours), cfg(&theirs));
        assert_eq!(a.remove("rope_theta"), Some(serde_json::json!(100000.0)));
        assert_eq!(a, b);
        assert_eq!(std::fs::read(ours.join("tokenizer.json")).unwrap(), std::fs::read(hf.join("tokenizer.json")).unwrap());
    }
}

/// Greedy continuations (token ids) from transformers and from mlx-lm.
const GENERATE: &str = r#"
import json, sys
mode, model, prompts, n = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
out = []
if mode == "mlx":
    import mlx.core as mx
    from mlx_lm import load
    from mlx_lm.generate import generate_step
    from mlx_lm.sample_utils import make_sampler
    m, tok = load(model)
    for p in prompts:
        ids = tok.encode(p)
        toks = []
        for t, _ in generate_step(mx.array(ids), m, max_tokens=n, sampler=make_sampler(temp=0.0)):
            toks.append(int(t))
        out.append({"prompt_ids": ids, "new": toks})
else:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    kw = {"gguf_file": sys.argv[5]} if len(sys.argv) > 5 else {}
    m = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, **kw)
    tok = AutoTokenizer.from_pretrained(model, **kw)
    for p in prompts:
        ids = tok(p)["input_ids"]
        with torch.no_grad():
            g = m.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, min_new_tokens=n)
        out.append({"prompt_ids": ids, "new": g[0, len(ids):].tolist()})
print(json.dumps(out))
"#;

const PROMPTS: &[&str] = &["The capital of France is", "def fibonacci(n):", "Water boils at a temperature of", "Once upon a time, in a small village,"];

fn generate(py: &Path, mode: &str, model: &Path, gguf_file: Option<&str>) -> serde_json::Value {
    let prompts = serde_json::to_string(PROMPTS).unwrap();
    let mut args = vec![mode, model.to_str().unwrap(), prompts.as_str(), "16"];
    args.extend(gguf_file);
    serde_json::from_str(run_py(py, GENERATE, &args).trim().lines().last().unwrap()).unwrap()
}

fn assert_same_generations(ours: &serde_json::Value, reference: &serde_json::Value) {
    for (k, (a, b)) in ours.as_array().unwrap().iter().zip(reference.as_array().unwrap()).enumerate() {
        assert_eq!(a["prompt_ids"], b["prompt_ids"], "prompt {k} tokenizes differently");
        assert_eq!(a["new"].as_array().unwrap().len(), 16);
        assert_eq!(a["new"], b["new"], "prompt {k} ({}) continues differently", PROMPTS[k]);
    }
}

#[test]
fn converted_smollm2_hf_generates_like_transformers() {
    // The rope_theta trap: mlx-lm reads it only at the top level.
    let Some(py) = python() else { return };
    let hf = smollm2_hf(&py);
    let d = tempdir();
    let out = d.path().join("mlx");
    convert_to(&hf, &draft_for(&hf, None).map, &out, None);
    let ours = generate(&py, "mlx", &out, None);
    let reference = generate(&py, "hf", &hf, None);
    assert_same_generations(&ours, &reference);
}

/// The GGUF's tensors through our map (dequantized, Q/K un-permuted) equal
/// transformers' loading of the same GGUF, bit for bit.
#[test]
fn smollm2_gguf_tensors_equal_transformers_gguf_loading() {
    let Some(py) = python() else { return };
    let gguf = smollm2_gguf(&py);
    let hf = smollm2_hf(&py);
    let dr = draft_for(&gguf, None);
    assert_eq!(dr.family, "dense-decoder");
    assert!(dr.map.unresolved.is_empty(), "{:?}", dr.map.unresolved);
    let q = dr.map.rules.iter().find(|r| r.source.to_vec() == ["blk.{i}.attn_q.weight"]).unwrap();
    assert_eq!(q.transforms, [mlxport_convert::Transform::UnpermuteRope { heads: 9 }]);
    let k = dr.map.rules.iter().find(|r| r.source.to_vec() == ["blk.{i}.attn_k.weight"]).unwrap();
    assert_eq!(k.transforms, [mlxport_convert::Transform::UnpermuteRope { heads: 3 }]);
    let src = mlxport_tensor::open(&gguf).unwrap();
    let p = plan(&dr.map, src.tensors(), None);
    assert_eq!(p.errors(), 0, "{:#?}", p.issues);
    let d = tempdir();
    write_weights(src.as_ref(), &dr.map, &p, d.path(), &ConvertOptions::default()).unwrap();
    let n = run_py(&py, SAME_TENSORS, &[d.path().to_str().unwrap(), hf.to_str().unwrap()]);
    assert_eq!(n.trim(), "272");
}

#[test]
fn smollm2_gguf_converts_and_generates_like_transformers_on_the_gguf() {
    let Some(py) = python() else { return };
    let gguf = smollm2_gguf(&py);
    let d = tempdir();
    let out = d.path().join("mlx");
    convert_to(&gguf, &draft_for(&gguf, None).map, &out, None);
    let ours = generate(&py, "mlx", &out, None);
    let dir = gguf.parent().unwrap();
    let reference = generate(&py, "hf", dir, Some(gguf.file_name().unwrap().to_str().unwrap()));
    assert_same_generations(&ours, &reference);
}

#[test]
fn minilm_converts_to_its_source_values() {
    let Some(py) = python() else { return };
    let model = minilm(&py);
    let dr = draft_for(&model, None);
    assert_eq!((dr.family.as_str(), dr.target.as_str()), ("encoder", "scaffold"));
    let cats: Vec<&str> = dr.map.unmapped.iter().map(|u| u.source.as_str()).collect();
    assert_eq!(cats, ["embeddings.position_ids"]);
    let d = tempdir();
    let (keep, bf16) = (d.path().join("keep"), d.path().join("bf16"));
    convert_to(&model, &dr.map, &keep, None);
    convert_to(&model, &dr.map, &bf16, Some(DtypePolicy::To(DType::BF16)));
    // Names kept, values equal to the source; bf16 equal to torch's cast.
    let check = r#"
import sys, torch
from safetensors.torch import load_file
src = load_file(sys.argv[1] + "/model.safetensors")
src.pop("embeddings.position_ids")
keep = load_file(sys.argv[2] + "/model.safetensors")
bf = load_file(sys.argv[3] + "/model.safetensors")
assert sorted(src) == sorted(keep) == sorted(bf)
for k, v in src.items():
    assert torch.equal(v.view(torch.int32), keep[k].view(torch.int32)), k
    assert bf[k].dtype == torch.bfloat16
    assert torch.equal(v.to(torch.bfloat16).view(torch.int16), bf[k].view(torch.int16)), k
print(len(src))
"#;
    let n = run_py(&py, check, &[model.to_str().unwrap(), keep.to_str().unwrap(), bf16.to_str().unwrap()]);
    assert_eq!(n.trim(), "103");
    // The sentence-transformers layout and tokenizer come along.
    for f in ["tokenizer.json", "vocab.txt", "modules.json", "1_Pooling/config.json", "README.md", "config.json"] {
        assert!(keep.join(f).is_file(), "{f}");
    }
    let card = std::fs::read_to_string(keep.join("README.md")).unwrap();
    assert!(card.contains("license: apache-2.0"), "{card}");
}

#[test]
fn pytorch_bin_converts_like_its_safetensors_twin() {
    let Some(py) = python() else { return };
    let d = tempdir();
    let (bin, st) = (d.path().join("bin"), d.path().join("st"));
    // A small llama made with torch, saved both ways by transformers (the
    // .bin keeps the tied lm_head as a second name on the same storage).
    let make = r#"
import sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
m = LlamaForCausalLM(cfg).to(torch.bfloat16)
m.save_pretrained(sys.argv[2], safe_serialization=True)
sd = m.state_dict()
m.config.save_pretrained(sys.argv[1])
torch.save(sd, sys.argv[1] + "/pytorch_model.bin")
print(sorted(sd)[:3])
"#;
    run_py(&py, make, &[bin.to_str().unwrap(), st.to_str().unwrap()]);
    let (db, ds) = (draft_for(&bin, None), draft_for(&st, None));
    assert!(
        db.map.unmapped.iter().any(|u| u.source == "lm_head.weight" && u.shared_with.as_deref() == Some("model.embed_tokens.weight")),
        "{:?}",
        db.map.unmapped
    );
    let (ob, os) = (d.path().join("out-bin"), d.path().join("out-st"));
    for policy in [None, Some(DtypePolicy::To(DType::F32))] {
        let _ = std::fs::remove_dir_all(&ob);
        let _ = std::fs::remove_dir_all(&os);
        convert_to(&bin, &db.map, &ob, policy);
        convert_to(&st, &ds.map, &os, policy);
        let a = std::fs::read(ob.join("model.safetensors")).unwrap();
        let b = std::fs::read(os.join("model.safetensors")).unwrap();
        assert!(a == b, "the .bin and the safetensors twin convert to different bytes");
        let n = run_py(&py, SAME_TENSORS, &[ob.to_str().unwrap(), os.to_str().unwrap()]);
        assert_eq!(n.trim(), "20");
    }
}
