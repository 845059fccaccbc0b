//! Dense-decoder breadth: every spec in `python/matrix/` this test lists is
//! built by transformers from its tiny config (seed 0, float32), then taken
//! through `inspect`, `map draft`, `map validate`, `convert`, `scaffold` and
//! `parity` (16 greedy tokens, cache decoding against recomputation).
//! transformers is the reference on every rung. The scaffold must pass every
//! rung of every type; mlx-lm, the second target, must pass where it
//! implements the architecture (phi3 with its fused projections kept, olmo2)
//! and must diverge at the first block where it lacks a feature the
//! checkpoint uses (mistral's sliding window), which proves the window is
//! really exercised by the inputs.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::*;

/// Types proven here (spec file stems).
const SPECS: &[&str] = &["mistral-sliding-window", "gemma", "gemma2", "phi3", "olmo2", "starcoder2"];
/// Types whose mlx-lm implementation must pass too.
const MLX_LM_PASS: &[&str] = &["phi3", "olmo2"];
/// mlx-lm lacks the sliding window: first divergence at the first block.
const MLX_LM_FAILS: &[&str] = &["mistral-sliding-window"];

/// The matrix recipe: seed 0, AutoConfig.for_model(**config), the Auto
/// class's from_config in float32, safetensors.
const BUILD: &str = r#"
import json, os, sys
import torch, transformers
from transformers import AutoConfig
out = sys.argv[1]
for path in sys.argv[2:]:
    spec = json.load(open(path))
    cfg = dict(spec["config"])
    mt = cfg.pop("model_type")
    torch.manual_seed(0)
    config = AutoConfig.for_model(mt, **cfg)
    model = getattr(transformers, spec["auto_class"]).from_config(config, dtype=torch.float32)
    model.save_pretrained(os.path.join(out, spec["name"]), safe_serialization=True)
"#;

/// Prompts longer than the specs' sliding window (8), plus 16 new tokens.
const IDS: &[&str] = &["5,17,42,99,3,250,7,311,64,128,9,77", "200,13,400,21,8,150"];

/// map draft + map validate + convert for one target: the weights directory.
fn convert(py_: &Path, ck: &Path, d: &Path, target: &str) -> PathBuf {
    let map = d.join(format!("map-{target}.json"));
    ok(bin!().args(["map", "draft"]).arg(ck).args(["--target", target, "-o"]).arg(&map), py_);
    ok(bin!().args(["map", "validate", "--source"]).arg(ck).arg("--map").arg(&map), py_);
    let out = d.join(format!("weights-{target}"));
    ok(bin!().arg("convert").arg(ck).arg("--map").arg(&map).arg("--out").arg(&out), py_);
    out
}

fn assert_all_pass(report: &serde_json::Value, layers: usize, what: &str) {
    assert_rungs_pass(report, layers, &["config", "weights", "embeddings", "final_norm", "logits", "ids", "cache_decode", "cache_vs_full"], what);
    assert_eq!(report["status"], "pass", "{what}");
    let cap = mlxport_tensor::open_file(Path::new(report["capture"].as_str().unwrap())).unwrap();
    assert_eq!(cap.info("generated.ids").unwrap().shape, vec![IDS.len() as u64, 16], "{what}: 16 new tokens per prompt");
}

#[test]
fn dense_decoders_scaffold_and_mlx_lm_parity() {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ck_root = d.join("checkpoints");
    let paths: Vec<String> = SPECS.iter().map(|s| matrix_spec_path(s).display().to_string()).collect();
    let mut args: Vec<&str> = vec![ck_root.to_str().unwrap()];
    args.extend(paths.iter().map(String::as_str));
    py(&py_, BUILD, &args);

    for name in SPECS {
        let spec = matrix_spec(name);
        let layers = spec["config"]["num_hidden_layers"].as_u64().unwrap() as usize;
        let ck = ck_root.join(name);
        let w = d.join(format!("work-{name}"));
        std::fs::create_dir_all(&w).unwrap();
        let insp = w.join("inspection.json");
        ok(bin!().arg("inspect").arg(&ck).arg("-o").arg(&insp), &py_);

        let weights = convert(&py_, &ck, &w, "scaffold");
        if *name == "phi3" {
            // The scaffold declares separate projections: the map splits the fused ones.
            let map = std::fs::read_to_string(w.join("map-scaffold.json")).unwrap();
            assert!(map.contains("self_attn.q_proj") && map.contains("mlp.gate_proj") && map.contains("split"), "{map}");
        }
        let pkg = w.join(format!("{}_mlx", name.replace('-', "_")));
        ok(bin!().arg("scaffold").arg(&insp).arg("-o").arg(&pkg), &py_);
        let stamp: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pkg.join("mlxport_scaffold.json")).unwrap()).unwrap();
        assert_eq!(stamp["model_type"], spec["model_type"]);

        let oracle_dir = w.join("parity-scaffold");
        let mut a: Vec<OsString> = vec![
            "--source".into(),
            ck.clone().into(),
            "--target".into(),
            "scaffold".into(),
            "--package".into(),
            pkg.into(),
            "--weights".into(),
            weights.into(),
        ];
        for ids in IDS {
            a.extend(["--token-ids".into(), (*ids).into()]);
        }
        a.extend(["--generate".into(), "16".into(), "--threads".into(), "2".into()]);
        let refs: Vec<&std::ffi::OsStr> = a.iter().map(|s| s.as_os_str()).collect();
        let (code, report) = parity(&py_, &oracle_dir, &refs);
        assert_eq!(code, 0, "{name}: scaffold parity");
        assert_all_pass(&report, layers, &format!("{name} scaffold"));

        let mlx_pass = MLX_LM_PASS.contains(name);
        if mlx_pass || MLX_LM_FAILS.contains(name) {
            let weights = convert(&py_, &ck, &w, "mlx-lm");
            let oracle = oracle_dir.join("oracle.npz");
            let a: Vec<OsString> = vec![
                "--source".into(),
                ck.clone().into(),
                "--target".into(),
                "mlx-lm".into(),
                "--weights".into(),
                weights.into(),
                "--oracle".into(),
                oracle.into(),
                "--threads".into(),
                "2".into(),
            ];
            let refs: Vec<&std::ffi::OsStr> = a.iter().map(|s| s.as_os_str()).collect();
            let (code, report) = parity(&py_, &w.join("parity-mlx-lm"), &refs);
            if mlx_pass {
                assert_eq!(code, 0, "{name}: mlx-lm parity");
                assert_all_pass(&report, layers, &format!("{name} mlx-lm"));
            } else {
                assert_eq!(code, 1, "{name}: mlx-lm has no sliding window and must diverge");
                assert_eq!(first_failed(&report).as_deref(), Some("layer 0"), "{name}: mlx-lm diverges at the first block");
            }
        }
    }
}
