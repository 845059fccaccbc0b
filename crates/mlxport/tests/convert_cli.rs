//! `mlxport map draft`, `map validate` and `convert` through the real
//! binary: exit codes, reports, refusal to overwrite.

use std::path::Path;
use std::process::Output;

use mlxport_tensor::safetensors::{write_safetensors, TensorRef};
use mlxport_tensor::DType;
use mlxport_testkit::{bin, text};

fn run(args: &[&str]) -> Output {
    bin!().args(args).output().unwrap()
}

/// A two-layer llama-shaped checkpoint with a config.
fn tiny(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let specs = mlxport_testkit::shapes::Llama { vocab: 16, hidden: 8, kv: 4, intermediate: 12, layers: 2 }.tensors();
    let data: Vec<Vec<u8>> = specs.iter().map(|(_, s)| (0..s.iter().product::<u64>()).flat_map(|k| (k as f32 * 0.01).to_le_bytes()).collect()).collect();
    let refs: Vec<TensorRef> = specs.iter().zip(&data).map(|((n, s), d)| TensorRef { name: n, dtype: DType::F32, shape: s, data: d }).collect();
    write_safetensors(&dir.join("model.safetensors"), &refs, None).unwrap();
    let cfg = r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 2, "intermediate_size": 12, "vocab_size": 16, "tie_word_embeddings": true, "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}}"#;
    std::fs::write(dir.join("config.json"), cfg).unwrap();
}

#[test]
fn draft_validate_convert_and_refuse_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("model");
    tiny(&model);
    let map = d.path().join("map.json");
    let o = run(&["map", "draft", model.to_str().unwrap(), "-o", map.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("dense-decoder family by routing, target mlx-lm"), "{}", text(&o));
    let m = std::fs::read_to_string(&map).unwrap();
    assert!(m.contains("\"source_shapes\": [[8, 8]]"), "shapes stay on one line:\n{m}");

    let o = run(&["map", "validate", "--source", model.to_str().unwrap(), "--map", map.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("valid: 0 errors"));

    let out = d.path().join("out");
    let o = run(&["convert", model.to_str().unwrap(), "--map", map.to_str().unwrap(), "--out", out.to_str().unwrap(), "--dtype", "bf16"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("rope_theta"), "{}", text(&o));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("mlxport-conversion.json")).unwrap()).unwrap();
    let cmd: Vec<&str> = manifest["command"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(&cmd[cmd.len() - 4..], ["--out", "DIR", "--dtype", "bf16"]);

    // The converted checkpoint validates as the map's target.
    let o =
        run(&["map", "validate", "--source", model.to_str().unwrap(), "--converted", out.to_str().unwrap(), "--map", map.to_str().unwrap(), "--dtype", "bf16"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // ... but not at another dtype: exit 1, dtype conflicts in the JSON.
    let o = run(&["map", "validate", "--source", model.to_str().unwrap(), "--converted", out.to_str().unwrap(), "--map", map.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["schema"], "mlxport.map_validation/v1");
    assert_eq!(report["summary"]["by_code"]["dtype_conflict"], 20);

    // Converting again onto the output is refused (exit 2), nothing changed.
    let before = std::fs::read(out.join("model.safetensors")).unwrap();
    let o = run(&["convert", model.to_str().unwrap(), "--map", map.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), before);
}

#[test]
fn a_broken_map_fails_validation_and_conversion() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("model");
    tiny(&model);
    let map = d.path().join("map.json");
    let m = r#"{"schema": "mlxport.weight_map/v1", "rules": [
        {"source": "model.layers.{i}.self_attn.q_proj.weight", "target": "q.{i}"},
        {"source": "model.layers.{i}.self_attn.k_proj.weight", "target": "k.{i}", "target_shapes": [[8, 8]]},
        {"source": "model.norm.weight", "target": "q.0"}
    ]}"#;
    std::fs::write(&map, m).unwrap();
    let o = run(&["map", "validate", "--source", model.to_str().unwrap(), "--map", map.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    for code in ["unmapped_source", "shape_mismatch", "double_mapped_target", "INVALID"] {
        assert!(t.contains(code), "{code} missing from:\n{t}");
    }
    let out = d.path().join("out");
    let o = run(&["convert", model.to_str().unwrap(), "--map", map.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!out.exists());
    // Not a map at all: a clear error, exit 2.
    std::fs::write(&map, "{}").unwrap();
    let o = run(&["map", "validate", "--source", model.to_str().unwrap(), "--map", map.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not a valid weight map"), "{}", text(&o));
}
