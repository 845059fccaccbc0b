//! `mlxport quantize` and `mlxport convert -q` through the real binary:
//! rules, recipes, layers left float, the report, and clear errors for bad
//! options and inputs. (Bit-exactness against mlx-lm on SmolLM2 is tested
//! in crates/mlxport-convert/tests/quantize.rs.)

use std::path::Path;
use std::process::Output;

use mlxport_tensor::safetensors::{write_safetensors, TensorRef};
use mlxport_tensor::DType;
use mlxport_testkit::{bin, text};
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    bin!().args(args).output().unwrap()
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// A two-layer llama-shaped checkpoint: hidden 64, MLP 96 (so down_proj's
/// last dimension does not divide by 64), vocab 32, tied embeddings.
fn tiny(dir: &Path, nan: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let specs = mlxport_testkit::shapes::Llama { vocab: 32, hidden: 64, kv: 32, intermediate: 96, layers: 2 }.tensors();
    let data: Vec<Vec<u8>> = specs
        .iter()
        .enumerate()
        .map(|(t, (n, s))| {
            (0..s.iter().product::<u64>())
                .flat_map(|k| {
                    let v = if nan && k == 5 && n.ends_with("q_proj.weight") { f32::NAN } else { ((k * 7919 + t as u64 * 31) % 1000) as f32 / 500.0 - 1.0 };
                    v.to_le_bytes()
                })
                .collect()
        })
        .collect();
    let refs: Vec<TensorRef> = specs.iter().zip(&data).map(|((n, s), d)| TensorRef { name: n, dtype: DType::F32, shape: s, data: d }).collect();
    write_safetensors(&dir.join("model.safetensors"), &refs, None).unwrap();
    let cfg = r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 32, "tie_word_embeddings": true, "rope_theta": 10000.0}"#;
    std::fs::write(dir.join("config.json"), cfg).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let idx = json(&dir.join("model.safetensors.index.json"));
    idx["weight_map"].as_object().unwrap().keys().cloned().collect()
}

#[test]
fn rules_recipes_report_and_float_layers() {
    let d = tempfile::tempdir().unwrap();
    let p = |s: &str| d.path().join(s).to_str().unwrap().to_string();
    tiny(&d.path().join("model"), false);
    let o = run(&["map", "draft", &p("model"), "-o", &p("map.json")]);
    assert!(o.status.success(), "{}", text(&o));

    // convert -q with rules: first match wins; skip leaves float.
    let o = run(&[
        "convert",
        &p("model"),
        "--map",
        &p("map.json"),
        "--out",
        &p("q"),
        "--dtype",
        "bf16",
        "-q",
        "--bits",
        "8",
        "--rule",
        r"layers\.0\.mlp=skip",
        "--rule",
        r"mlp|v_proj=bits:4,group:32",
        "--report",
        &p("report.json"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("left float"), "{out}");
    assert!(out.contains("model.layers.1.mlp.down_proj.weight"), "the float layer is named:\n{out}");
    let cfg = json(&d.path().join("q/config.json"));
    let q = &cfg["quantization"];
    assert_eq!(q["bits"], 8);
    assert_eq!(q["group_size"], 64);
    assert_eq!(q["model.layers.1.mlp.up_proj"], serde_json::json!({"group_size": 32, "bits": 4, "mode": "affine"}));
    assert_eq!(q["model.layers.0.self_attn.v_proj"], serde_json::json!({"group_size": 32, "bits": 4, "mode": "affine"}));
    assert!(q.get("model.layers.0.mlp.up_proj").is_none());
    assert_eq!(cfg["quantization_config"], *q);
    let n = names(&d.path().join("q"));
    assert!(n.contains(&"model.layers.0.mlp.up_proj.weight".to_string()) && !n.contains(&"model.layers.0.mlp.up_proj.scales".to_string()));
    // down_proj (last dim 96) stays float at the global group 64: mlx-lm
    // decides quantizability on the global group size before any rule.
    assert!(!n.contains(&"model.layers.1.mlp.down_proj.scales".to_string()));
    assert!(n.contains(&"model.layers.1.self_attn.q_proj.biases".to_string()));
    assert!(!n.iter().any(|x| x.contains("norm.scales")));
    let r = json(&d.path().join("report.json"));
    assert_eq!(r["schema"], "mlxport.quantize-report/v1");
    let layers = r["layers"].as_array().unwrap();
    assert_eq!(layers.len(), r["quantized"].as_u64().unwrap() as usize);
    let rel: Vec<f64> = layers.iter().map(|l| l["rel_frobenius"].as_f64().unwrap()).collect();
    assert!(rel.windows(2).all(|w| w[0] >= w[1]), "ranked worst first: {rel:?}");
    assert_eq!(layers[0]["rank"], 1);

    // quantize a float MLX checkpoint with a recipe; JSON report on stdout.
    let o = run(&["convert", &p("model"), "--map", &p("map.json"), "--out", &p("float"), "--dtype", "bf16"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["quantize", &p("float"), "--out", &p("mixed"), "--recipe", "mixed_2_6", "--group-size", "32", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["recipe"], "mixed_2_6");
    let q = &json(&d.path().join("mixed/config.json"))["quantization"];
    // 2 layers: n/8 = 0, 7n/8 = 1: layer 1 gets the high bits, layer 0 not.
    assert_eq!(q["model.layers.1.mlp.down_proj"]["bits"], 6);
    assert_eq!(q["model.layers.0.mlp.down_proj"]["bits"], 2);
    assert_eq!(q["model.layers.1.self_attn.v_proj"]["bits"], 6);
    assert_eq!(q["model.embed_tokens"]["bits"], 2);

    // Same input, same bytes.
    let o = run(&["quantize", &p("float"), "--out", &p("mixed2"), "--recipe", "mixed_2_6", "--group-size", "32"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(d.path().join("mixed/model.safetensors")).unwrap(), std::fs::read(d.path().join("mixed2/model.safetensors")).unwrap());

    // Quantizing a quantized checkpoint is refused.
    let o = run(&["quantize", &p("mixed"), "--out", &p("again")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already quantized"), "{}", text(&o));
}

#[test]
fn bad_options_and_inputs_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let p = |s: &str| d.path().join(s).to_str().unwrap().to_string();
    tiny(&d.path().join("model"), false);
    tiny(&d.path().join("nan"), true);
    assert!(run(&["map", "draft", &p("model"), "-o", &p("map.json")]).status.success());
    let o = run(&["convert", &p("model"), "--map", &p("map.json"), "--out", &p("float")]);
    assert!(o.status.success(), "{}", text(&o));
    let q = |extra: &[&str]| {
        let mut a = vec!["quantize".to_string(), p("float"), "--out".into(), p("out")];
        a.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(&refs);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
        assert!(!d.path().join("out").exists());
        text(&o)
    };
    assert!(q(&["--bits", "7"]).contains("bits 2, 3, 4, 5, 6 or 8"));
    assert!(q(&["--group-size", "48"]).contains("group sizes 32, 64 or 128"));
    assert!(q(&["--mode", "mxfp4", "--bits", "8"]).contains("mxfp4 quantization is bits 4 with group size 32 only"));
    assert!(q(&["--mode", "nvfp4", "--recipe", "mixed_3_6"]).contains("affine mode only"));
    assert!(q(&["--recipe", "mixed_3_6", "--bits", "4"]).contains("drop --bits"));
    assert!(q(&["--rule", "no-equals"]).contains("--rule 'no-equals'"));
    assert!(q(&["--rule", "q_proj=bits:9"]).contains("--rule 'q_proj=bits:9'"));
    assert!(q(&["--rule", "down_proj=group:128", "--group-size", "32"])
        .contains("'model.layers.0.mlp.down_proj.weight': last dimension 96 does not divide by the group size 128"));
    assert!(q(&["--target-bpw", "1"]).contains("between 2 and 32"));
    assert!(q(&["--target-bpw", "2.05"]).contains("below what this model can reach"));
    assert!(q(&["--target-bpw", "4", "--mode", "mxfp8"]).contains("does not apply to mode mxfp8"));
    // Quantization options on convert need -q.
    let o = run(&["convert", &p("model"), "--map", &p("map.json"), "--out", &p("out"), "--bits", "4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("need -q"), "{}", text(&o));
    // Keeping GGUF blocks needs a GGUF source.
    let o = run(&["convert", &p("model"), "--map", &p("map.json"), "--out", &p("out"), "--keep-gguf-quant"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("needs a GGUF source"), "{}", text(&o));
    // A NaN weight: the tensor is named, nothing is left behind.
    let o = run(&["convert", &p("nan"), "--map", &p("map.json"), "--out", &p("out"), "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("q_proj.weight': cannot quantize") && t.contains("NaN"), "{t}");
    assert!(!d.path().join("out").exists());
    assert!(std::fs::read_dir(d.path()).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().contains("partial")));
}
