//! Conversion on synthetic checkpoints: values through every transform,
//! inverse maps, determinism, sharding, refusal to overwrite, atomicity.
//! No Python.

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use mlxport_convert::convert::{convert, ConvertOptions};
use mlxport_convert::draft::{draft, DraftOptions};
use mlxport_convert::plan::{DtypePolicy, PlannedTarget};
use mlxport_convert::stage::{Output, Plain, Stage};
use mlxport_convert::transform::Buf;
use mlxport_convert::{Error, WeightMap};
use mlxport_tensor::DType;

fn map_json(v: serde_json::Value) -> WeightMap {
    let mut v = v;
    v["schema"] = "mlxport.weight_map/v1".into();
    WeightMap::from_json(&v.to_string(), "<test>".as_ref()).unwrap()
}

fn opts() -> ConvertOptions {
    ConvertOptions { command: vec!["mlxport".into(), "convert".into()], ..Default::default() }
}

fn read_all(dir: &Path) -> BTreeMap<String, (DType, Vec<u64>, Vec<u8>)> {
    let src = mlxport_tensor::open(dir).unwrap();
    src.tensors().iter().map(|t| (t.name.clone(), (t.dtype().unwrap(), t.shape.clone(), src.raw(&t.name).unwrap().into_owned()))).collect()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[test]
fn values_move_exactly_through_transforms() {
    let d = tempdir();
    let src_dir = d.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    let conv = t("conv1d.weight", &[4, 3, 5]);
    let qkv = t("attn.qkv.weight", &[12, 4]);
    let experts: Vec<T> = (0..3).map(|e| t(&format!("layers.0.experts.{e}.w1.weight"), &[6, 4])).collect();
    let mut all = vec![conv, qkv];
    all.extend(experts);
    write_st(&src_dir.join("model.safetensors"), &all);
    let map = map_json(serde_json::json!({
        "target": {"layout": "scaffold"},
        "rules": [
            {"source": "conv1d.weight", "target": "conv1d.weight", "transforms": [{"op": "transpose", "perm": [0, 2, 1]}], "source_shapes": [[4, 3, 5]], "source_dtype": "F32"},
            {"source": "attn.qkv.weight", "target": ["attn.q.weight", "attn.k.weight", "attn.v.weight"], "transforms": [{"op": "split", "axis": 0, "sizes": [8, 2, 2]}], "source_shapes": [[12, 4]]},
            {"source": "layers.{i}.experts.{e}.w1.weight", "target": "layers.{i}.switch_mlp.gate_proj.weight", "transforms": [{"op": "stack", "axis": 0}], "source_shapes": [[6, 4]]}
        ]
    }));
    let out = d.path().join("out");
    convert(&src_dir, &map, &out, &opts()).unwrap();
    let got = read_all(&out);
    // Transpose: out[o][k][i] = in[o][i][k].
    let cin = f32s(&all[0].data);
    let (_, shape, bytes) = &got["conv1d.weight"];
    assert_eq!(shape, &[4, 5, 3]);
    let cout = f32s(bytes);
    for o in 0..4 {
        for k in 0..5 {
            for i in 0..3 {
                assert_eq!(cout[o * 15 + k * 3 + i].to_bits(), cin[o * 15 + i * 5 + k].to_bits());
            }
        }
    }
    // Split rows.
    let q = &got["attn.q.weight"];
    assert_eq!(q.1, [8, 4]);
    assert_eq!(q.2, all[1].data[..8 * 16]);
    assert_eq!(got["attn.v.weight"].2, all[1].data[10 * 16..]);
    // Stack experts in index order.
    let s = &got["layers.0.switch_mlp.gate_proj.weight"];
    assert_eq!(s.1, [3, 6, 4]);
    assert_eq!(s.2, [all[2].data.clone(), all[3].data.clone(), all[4].data.clone()].concat());

    // The inverse map takes the output back to the source bit for bit.
    let inv = map.invert().unwrap();
    let back = d.path().join("back");
    convert(&out, &inv, &back, &opts()).unwrap();
    let orig = read_all(&src_dir);
    assert_eq!(read_all(&back), orig);
}

#[test]
fn rope_unpermutation_inverts_llama_cpp_permutation() {
    // llama.cpp: w.reshape(heads, 2, half, in).swapaxes(1, 2).reshape(...)
    let (heads, half, cols) = (3usize, 4usize, 5usize);
    let rows = heads * 2 * half;
    let orig: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
    let mut permuted = vec![0f32; orig.len()];
    for h in 0..heads {
        for s in 0..2 {
            for d in 0..half {
                // permuted[h, d, s] = orig[h, s, d]
                let src = (h * 2 * half + s * half + d) * cols;
                let dst = (h * 2 * half + d * 2 + s) * cols;
                permuted[dst..dst + cols].copy_from_slice(&orig[src..src + cols]);
            }
        }
    }
    let un = mlxport_convert::Transform::UnpermuteRope { heads: heads as u64 };
    let buf = Buf { dtype: DType::F32, shape: vec![rows as u64, cols as u64], data: Cow::Owned(f32_bytes(&permuted)) };
    let out = un.apply(vec![buf]).unwrap();
    assert_eq!(f32s(&out[0].data), orig);
    let re = mlxport_convert::Transform::PermuteRope { heads: heads as u64 }.apply(out).unwrap();
    assert_eq!(f32s(&re[0].data), permuted);
    // Rows that do not divide into heads x 2 are refused.
    let bad = Buf { dtype: DType::F32, shape: vec![10, 1], data: Cow::Owned(vec![0; 40]) };
    assert!(un.apply(vec![bad]).is_err());
}

#[test]
fn output_is_deterministic_and_laid_out_like_mlx_lm() {
    let d = tempdir();
    let src_dir = d.path().join("src");
    tiny_llama(&src_dir, true);
    let src = mlxport_tensor::open(&src_dir).unwrap();
    let config = serde_json::from_str(&std::fs::read_to_string(src_dir.join("config.json")).unwrap()).unwrap();
    let map = draft(src.as_ref(), &DraftOptions { config: Some(config), ..Default::default() }).unwrap().map;
    let mut o = opts();
    o.dtype = Some(DtypePolicy::To(DType::BF16));
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    let done = convert(&src_dir, &map, &a, &o).unwrap();
    convert(&src_dir, &map, &b, &o).unwrap();
    let files = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()).map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())).collect()
    };
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        ["README.md", "config.json", "mlxport-conversion.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json"]
    );
    assert_eq!(fa, fb, "two runs differ");
    // No temporary directory is left beside the outputs.
    let names: Vec<String> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 3, "{names:?}");

    // The index: total_size, total_parameters, sorted weight_map.
    let index: serde_json::Value = serde_json::from_slice(&fa["model.safetensors.index.json"]).unwrap();
    let got = read_all(&a);
    assert_eq!(got.len(), 2 + 2 * 9, "inv_freq and lm_head are dropped");
    assert!(!got.contains_key("lm_head.weight"));
    let params: u64 = got.values().map(|(_, s, _)| s.iter().product::<u64>()).sum();
    assert_eq!(index["metadata"]["total_parameters"], params);
    assert_eq!(index["metadata"]["total_size"], params * 2);
    assert!(got.values().all(|(d, _, _)| *d == DType::BF16));
    let header = mlxport_tensor::safetensors::SafetensorsFile::open(&a.join("model.safetensors")).unwrap();
    assert_eq!(header.metadata().get("format").map(String::as_str), Some("mlx"));
    // config.json: mlx-lm's form, rope_theta lifted.
    let cfg = String::from_utf8(fa["config.json"].clone()).unwrap();
    assert!(cfg.starts_with("{\n    \"architectures\": [\n        \"LlamaForCausalLM\"\n    ],"), "{cfg}");
    assert!(cfg.contains("\"rope_theta\": 500000.0") && cfg.contains("\"rms_norm_eps\": 1e-05") && !cfg.contains("_name_or_path"), "{cfg}");
    // The manifest names every output with its hash.
    let manifest: serde_json::Value = serde_json::from_slice(&fa["mlxport-conversion.json"]).unwrap();
    assert_eq!(manifest["schema"], "mlxport.conversion/v1");
    assert_eq!(manifest["map"]["sha256"], map.hash());
    let outs: Vec<&str> = manifest["outputs"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert_eq!(outs, ["README.md", "config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json"]);
    for o in manifest["outputs"].as_array().unwrap() {
        let (n, h) = mlxport_convert::manifest::hash_file(&a.join(o["path"].as_str().unwrap())).unwrap();
        assert_eq!((o["size"].as_u64().unwrap(), o["sha256"].as_str().unwrap()), (n, h.as_str()));
    }
    let ins: Vec<&str> = manifest["inputs"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert_eq!(ins, ["config.json", "model.safetensors", "tokenizer.json"]);
    assert_eq!(done.manifest.target.parameters, params);
}

#[test]
fn shards_follow_mlx_lm_naming_and_read_back() {
    let d = tempdir();
    let src_dir = d.path().join("src");
    let names = tiny_llama(&src_dir, false);
    let src = mlxport_tensor::open(&src_dir).unwrap();
    let map = draft(src.as_ref(), &DraftOptions { family: Some("dense-decoder".into()), ..Default::default() }).unwrap().map;
    let mut o = opts();
    o.shard_bytes = 600; // a few tensors per shard
    let out = d.path().join("out");
    convert(&src_dir, &map, &out, &o).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("model.safetensors.index.json")).unwrap()).unwrap();
    let wm = index["weight_map"].as_object().unwrap();
    let shards: std::collections::BTreeSet<&str> = wm.values().map(|v| v.as_str().unwrap()).collect();
    let n = shards.len();
    assert!(n > 3, "{n} shards");
    assert_eq!(*shards.iter().next().unwrap(), format!("model-00001-of-{n:05}.safetensors"));
    let keys: Vec<&String> = wm.keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // Every value round-trips, read as one model.
    let got = read_all(&out);
    let orig = read_all(&src_dir);
    for n in names.iter().filter(|n| !n.contains("inv_freq")) {
        assert_eq!(got[n], orig[n], "{n}");
    }
}

#[test]
fn refuses_to_overwrite() {
    let d = tempdir();
    let src_dir = d.path().join("src");
    tiny_llama(&src_dir, false);
    let src = mlxport_tensor::open(&src_dir).unwrap();
    let config = mlxport_convert::draft::config_beside(&src_dir).unwrap();
    let map = draft(src.as_ref(), &DraftOptions { config, ..Default::default() }).unwrap().map;
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = convert(&src_dir, &map, &out, &opts()).unwrap_err();
    assert!(matches!(err, Error::Usage(_)) && err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
    // An empty directory is not overwritten either.
    std::fs::remove_file(out.join("keep.txt")).unwrap();
    assert!(convert(&src_dir, &map, &out, &opts()).is_err());
}

/// A stage that fails on its third tensor, as a crash mid-way would.
struct FailingStage(std::sync::atomic::AtomicUsize);

impl Stage for FailingStage {
    fn name(&self) -> String {
        "failing".into()
    }
    fn outputs(&self, t: &PlannedTarget) -> mlxport_convert::Result<Vec<Output>> {
        Plain.outputs(t)
    }
    fn encode<'a>(&self, t: &PlannedTarget, tensor: Buf<'a>) -> mlxport_convert::Result<Vec<Cow<'a, [u8]>>> {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 2 {
            return Err(Error::Convert(format!("injected failure at {}", t.name)));
        }
        Plain.encode(t, tensor)
    }
}

#[test]
fn a_failed_conversion_leaves_nothing() {
    let d = tempdir();
    let src_dir = d.path().join("src");
    tiny_llama(&src_dir, false);
    let src = mlxport_tensor::open(&src_dir).unwrap();
    let config = mlxport_convert::draft::config_beside(&src_dir).unwrap();
    let map = draft(src.as_ref(), &DraftOptions { config, ..Default::default() }).unwrap().map;
    let out = d.path().join("out");
    let o = ConvertOptions { stage: Box::new(FailingStage(Default::default())), ..opts() };
    let err = convert(&src_dir, &map, &out, &o).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let names: Vec<String> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["src"], "the output and its temporary directory are gone");
    // A map that does not fit the source writes nothing either.
    let bad = map_json(serde_json::json!({"rules": [{"source": "nope", "target": "x"}]}));
    let err = convert(&src_dir, &bad, &out, &opts()).unwrap_err();
    assert!(err.to_string().contains("map validate"), "{err}");
    assert!(!out.exists());
}

#[test]
fn pytorch_layouts_become_mlx_layouts_in_drafts() {
    // A conv weight in a scaffold draft gets the PyTorch -> MLX transpose.
    let d = tempdir();
    write_st(
        &d.path().join("model.safetensors"),
        &[t("encoder.conv1.weight", &[8, 4, 3]), t("encoder.conv1.bias", &[8]), t("encoder.conv2d.weight", &[8, 4, 3, 3])],
    );
    let src = mlxport_tensor::open(d.path()).unwrap();
    let dr = draft(src.as_ref(), &DraftOptions { family: Some("asr".into()), ..Default::default() }).unwrap();
    assert_eq!(dr.target, "scaffold");
    let p = mlxport_convert::plan::plan(&dr.map, src.tensors(), None);
    assert_eq!(p.errors(), 0);
    let shapes: BTreeMap<String, Vec<u64>> = p.targets().into_iter().map(|t| (t.name, t.shape)).collect();
    assert_eq!(shapes["encoder.conv1.weight"], [8, 3, 4]);
    assert_eq!(shapes["encoder.conv2d.weight"], [8, 3, 3, 4]);
    assert_eq!(shapes["encoder.conv1.bias"], [8]);
}
