//! Dense-decoder breadth: every spec in `python/matrix/` this test lists is
//! built by transformers from its tiny config (seed 0, float32), then taken
//! through `inspect`, `map draft`, `map validate`, `convert`, `scaffold` and
//! `parity` (16 greedy tokens, cache decoding against recomputation).
//! transformers is the reference on every rung. The scaffold must pass every
//! rung of every type, and its package's serving switches
//! (`tests/test_serving.py`: cache kinds, rotating window, compile, fused
//! projections, shared rotary tables,
//! pipelined decoding, chunked prefill, batches, speculative decoding) must
//! keep its greedy tokens; mlx-lm, the second target, must pass where it
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

/// Prompts longer than the specs' sliding window (8), plus 16 new tokens.
const IDS: &[&str] = &["5,17,42,99,3,250,7,311,64,128,9,77", "200,13,400,21,8,150"];

/// map draft + map validate + convert for one target: the weights directory.
fn convert(py_: &Path, ck: &Path, d: &Path, target: &str) -> PathBuf {
    let map = d.join(format!("map-{target}.json"));
    ok(bin!().args(["map", "draft"]).arg(ck).args(["--target", target, "-o"]).arg(&map), py_);
    // Against the source, and against the parameters the target loads.
    ok(bin!().args(["map", "validate", "--source"]).arg(ck).arg("--map").arg(&map).args(["--target", target]), py_);
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
    py(&py_, BUILD_SPECS, &args);

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
        // The proven package's serving switches against it (the prompts
        // run past the sliding window, so the rotating cache wraps).
        serving_tests(&py_, &w.join(format!("{}_mlx", name.replace('-', "_"))), &w.join("weights-scaffold"), &IDS.join(";"));

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
                assert_eq!(first_failed(&report).as_deref(), Some("isolated layer 0"), "{name}: mlx-lm diverges at the first block, alone");
            }
        }
    }
}

/// GPT-2 to the mlx-lm target: mlx-lm keeps GPT-2 under `model.` with Linear
/// projections, so the map renames and transposes; `map validate --target
/// mlx-lm` checks it against the parameters mlx-lm's model holds after its
/// sanitize, and the port completes with every parity rung passing. A map
/// planted with a wrong name validates against the source but fails
/// against mlx-lm, naming both names, and stops the port at map-validate.
#[test]
fn gpt2_ports_to_mlx_lm_and_a_wrong_name_fails_at_map_validate() {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ck_root = d.join("checkpoints");
    py(&py_, BUILD_SPECS, &[ck_root.to_str().unwrap(), matrix_spec_path("gpt2-no-template").to_str().unwrap()]);
    let ck = ck_root.join("gpt2-no-template");
    std::fs::write(ck.join("README.md"), "---\nlicense: mit\n---\n# tiny gpt2\n").unwrap();
    // No tokenizer: token ids in, 8 greedy tokens each.
    let inputs = d.join("inputs.json");
    let ids: Vec<Vec<u32>> = IDS.iter().map(|s| s.split(',').map(|t| t.parse().unwrap()).collect()).collect();
    std::fs::write(&inputs, serde_json::to_vec(&serde_json::json!({"token_ids": ids, "generate": 8})).unwrap()).unwrap();
    let port = |out: &Path| {
        let mut c = bin!();
        c.arg("port").arg(&ck).arg("--out").arg(out).arg("--inputs").arg(&inputs).env("MLXPORT_CACHE", d.join("cache"));
        c
    };

    let out = d.join("port");
    let o = run(port(&out).arg("--json"), &py_);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!text.contains("Traceback"), "{text}");
    assert_eq!(o.status.code(), Some(0), "{text}");
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((p["status"].as_str(), p["target"].as_str()), (Some("complete"), Some("mlx-lm")));
    let steps = p["steps"].as_array().unwrap();
    let step = |n: &str| steps.iter().find(|s| s["name"] == n).unwrap().clone();
    assert!(step("map-validate")["summary"].as_str().unwrap().contains("checked against mlx-lm's parameters"), "{:#}", step("map-validate"));
    assert_eq!(step("parity")["status"], "done");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("parity/parity.json")).unwrap()).unwrap();
    assert_rungs_pass(&report, 2, &["config", "weights", "embeddings", "final_norm", "logits", "ids", "cache_decode", "cache_vs_full"], "gpt2 mlx-lm");

    // A wrong name: valid against the source, not against mlx-lm.
    let map_text = std::fs::read_to_string(out.join("weight_map.json")).unwrap();
    assert!(map_text.contains("\"model.h.{i}.ln_1.weight\""), "the draft names mlx-lm's parameters");
    let bad = d.join("bad-map.json");
    std::fs::write(&bad, map_text.replace("\"model.h.{i}.ln_1.weight\"", "\"model.h.{i}.ln_one.weight\"")).unwrap();
    ok(bin!().args(["map", "validate", "--source"]).arg(&ck).arg("--map").arg(&bad), &py_);
    let o = run(bin!().args(["map", "validate", "--source"]).arg(&ck).arg("--map").arg(&bad).args(["--target", "mlx-lm", "--json"]), &py_);
    assert_eq!(o.status.code(), Some(1), "{}", mlxport_testkit::describe(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let issues: Vec<(String, String)> =
        r["issues"].as_array().unwrap().iter().map(|i| (i["code"].as_str().unwrap().to_string(), i["message"].as_str().unwrap().to_string())).collect();
    for (code, name) in
        [("missing_parameter", "model.h.0.ln_1.weight"), ("missing_parameter", "model.h.1.ln_1.weight"), ("unexpected_weight", "model.h.0.ln_one.weight")]
    {
        assert!(issues.iter().any(|(c, m)| c == code && m.contains(&format!("'{name}'"))), "{code} {name}: {issues:?}");
    }
    assert_eq!(r["summary"]["implementation_checked"], "mlx-lm");
    // A map for the other layout is refused with what to do.
    let o = run(bin!().args(["map", "validate", "--source"]).arg(&ck).arg("--map").arg(&bad).args(["--target", "scaffold"]), &py_);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("mlxport map draft MODEL --target scaffold"), "{}", mlxport_testkit::describe(&o));

    // The port keeps an edited map and stops at map-validate, naming them.
    std::fs::copy(&bad, out.join("weight_map.json")).unwrap();
    let o = run(&mut port(&out), &py_);
    assert_eq!(o.status.code(), Some(1), "{}", mlxport_testkit::describe(&o));
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("port.json")).unwrap()).unwrap();
    assert_eq!(p["stopped_at"], "map-validate");
    let rem = p["remediation"].to_string();
    assert!(rem.contains("model.h.0.ln_one.weight") && rem.contains("model.h.0.ln_1.weight"), "{rem}");
}
