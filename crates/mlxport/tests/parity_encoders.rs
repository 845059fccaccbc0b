//! Encoder breadth: DistilBERT (learned and sinusoidal positions), ELECTRA
//! (embedding projection) and ModernBERT (RoPE with a base per attention
//! kind, alternating global and local attention with the local window
//! shorter than the inputs, GeGLU, pre-norm, final norm, no biases), each
//! built by transformers from its spec in `python/matrix/` (seed 0,
//! float32, random weights), then `inspect` -> `map draft` -> `map
//! validate` -> `convert` -> `scaffold` -> `parity` with token ids: every
//! rung must pass against transformers. A seeded fault (the local window
//! widened in the generated package) must stop the ladder at the first
//! local block. The types and features the encoder template cannot
//! implement (disentangled attention, relative position bias, shared
//! layers, RoPE scaling on ModernBERT, an unsupported activation) must be
//! refused by `scaffold` with the feature named and nothing written.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::*;

const PASSING: &[&str] = &["distilbert", "distilbert-sinusoidal", "electra", "modernbert"];
const REFUSED: &[&str] = &["deberta-v2", "mpnet", "albert", "modernbert-rope-linear", "electra-silu"];

/// Two sequences, one padded in the oracle's batch; both longer than
/// ModernBERT's local window (8), ids below every spec's vocabulary.
const IDS: [&str; 2] = ["5,17,33,250,9,41,77,300,12,8,99,150,61,7,420,3", "11,29,480,6,57,140,88,19,230,4,71"];

/// The recipe of the parity matrix: seed 0, the spec's config through
/// AutoConfig.for_model, the Auto class's from_config in float32,
/// save_pretrained as safetensors; every spec named on the command line.
const BUILD: &str = r#"
import json, os, sys
import torch, transformers
out = sys.argv[1]
for path in sys.argv[2:]:
    spec = json.load(open(path))
    cfg = dict(spec["config"])
    mt = cfg.pop("model_type")
    assert mt == spec["model_type"], path
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(mt, **cfg)
    model = getattr(transformers, spec["auto_class"]).from_config(config, dtype=torch.float32)
    model.save_pretrained(os.path.join(out, spec["name"]), safe_serialization=True)
"#;

fn os<P: AsRef<OsStr> + ?Sized>(p: &P) -> &OsStr {
    p.as_ref()
}

fn spec(name: &str) -> (PathBuf, serde_json::Value) {
    let p = matrix_spec_path(name);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(v["name"], name, "{}: name is the file stem", p.display());
    assert_eq!(v["family"], "encoder");
    assert_eq!(v["generative"], false);
    (p, v)
}

fn build(py_: &Path, out: &Path, names: &[&str]) {
    let paths: Vec<String> = names.iter().map(|n| spec(n).0.to_string_lossy().into_owned()).collect();
    let mut args = vec![out.to_str().unwrap()];
    args.extend(paths.iter().map(String::as_str));
    py(py_, BUILD, &args);
}

/// inspect -> map draft -> map validate -> convert -> scaffold: (package, weights).
fn port(py_: &Path, ckpt: &Path, d: &Path, package: &str) -> (PathBuf, PathBuf) {
    let insp = d.join("inspection.json");
    ok(bin!().arg("inspect").arg(ckpt).arg("-o").arg(&insp), py_);
    let map = d.join("map.json");
    ok(bin!().args(["map", "draft"]).arg(ckpt).arg("-o").arg(&map), py_);
    ok(bin!().args(["map", "validate", "--source"]).arg(ckpt).arg("--map").arg(&map), py_);
    let weights = d.join("converted");
    ok(bin!().arg("convert").arg(ckpt).arg("--map").arg(&map).arg("--out").arg(&weights), py_);
    let pkg = d.join(package);
    ok(bin!().arg("scaffold").arg(&insp).arg("-o").arg(&pkg), py_);
    (pkg, weights)
}

fn assert_all_pass(report: &serde_json::Value, what: &str, layers: usize) {
    assert_rungs_pass(report, layers, &["config", "weights", "embeddings", "last_hidden_state", "pooled"], what);
    assert_eq!(report["status"], "pass", "{what}");
}

#[test]
fn encoder_types_pass_every_rung_and_a_widened_local_window_is_caught() {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build(&py_, &d.join("ckpt"), PASSING);
    let mut modernbert = None;
    for name in PASSING {
        let (_, s) = spec(name);
        assert_eq!(s["expect"], "pass");
        let ckpt = d.join("ckpt").join(name);
        let work = d.join(format!("w-{name}"));
        std::fs::create_dir_all(&work).unwrap();
        let package = format!("{}_mlx", name.replace('-', "_"));
        let (pkg, weights) = port(&py_, &ckpt, &work, &package);
        let out = work.join("parity");
        let (code, r) = parity(
            &py_,
            &out,
            &[
                os("--source"),
                os(&ckpt),
                os("--target"),
                os("scaffold"),
                os("--package"),
                os(&pkg),
                os("--weights"),
                os(&weights),
                os("--token-ids"),
                os(IDS[0]),
                os("--token-ids"),
                os(IDS[1]),
            ],
        );
        let layers = s["config"]["num_hidden_layers"].as_u64().or(s["config"]["n_layers"].as_u64()).unwrap() as usize;
        assert_eq!(code, 0, "{name}: parity exit code");
        assert_all_pass(&r, name, layers);
        // The same verdict from the tensors directly, at the matrix's bounds.
        let rs = ladder(&out.join("oracle.npz"), &out.join("capture.npz"), &Tol { atol: Some(1e-4), rel: 1e-4, cos: 0.9999 });
        assert_eq!(first_failure(&rs), None, "{name}");
        assert!(rs.iter().any(|x| x.name == format!("layers.{}", layers - 1)), "{name}: the last block is captured");
        // The scaffold stamp names what the config switched on.
        let stamp: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pkg.join("mlxport_scaffold.json")).unwrap()).unwrap();
        assert_eq!(stamp["model_type"], s["model_type"]);
        let features: Vec<&str> = stamp["features"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
        match *name {
            "distilbert" => assert!(features.contains(&"positions:learned"), "{features:?}"),
            "distilbert-sinusoidal" => assert!(features.contains(&"positions:sinusoidal"), "{features:?}"),
            "electra" => assert!(features.contains(&"embedding-projection:32->64"), "{features:?}"),
            "modernbert" => {
                assert!(features.contains(&"local-attention:8") && features.contains(&"geglu"), "{features:?}");
                // The config rung compared the RoPE base of each attention
                // kind, the layer kinds and the window, and found them equal.
                let keys = r["config"].as_array().unwrap();
                for key in ["rope_theta.full_attention", "rope_theta.sliding_attention", "layer_types", "local_attention"] {
                    let k = keys.iter().find(|k| k["key"] == key).unwrap_or_else(|| panic!("config rung lacks {key}"));
                    assert_eq!(k["status"], "same", "{key}: {k}");
                }
                modernbert = Some((pkg, weights, out));
            }
            _ => unreachable!(),
        }
    }

    // Seeded fault: the generated package's local window widened to the
    // whole local_attention span; the first local block (layer 1) diverges.
    let (pkg, weights, out) = modernbert.unwrap();
    let cfg_py = pkg.join("config.py");
    let text = std::fs::read_to_string(&cfg_py).unwrap();
    let wrong = text.replace("sliding_window=cfg.get(\"local_attention\", 128) // 2,", "sliding_window=cfg.get(\"local_attention\", 128),");
    assert_ne!(text, wrong, "the fault applies");
    std::fs::write(&cfg_py, wrong).unwrap();
    let (code, r) = parity(
        &py_,
        &d.join("p-fault"),
        &[
            os("--source"),
            os(&d.join("ckpt/modernbert")),
            os("--target"),
            os("scaffold"),
            os("--package"),
            os(&pkg),
            os("--weights"),
            os(&weights),
            os("--oracle"),
            os(&out.join("oracle.npz")),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(first_failed(&r).as_deref(), Some("isolated layer 1"), "{}", serde_json::to_string(&r["first_divergence"]).unwrap());
    // Alone on the source's input, the global block before it passes.
    assert_eq!(rung(&rungs(&r), "isolated layer 0")["status"], "pass");
}

#[test]
fn unsupported_encoder_features_fail_closed_naming_the_feature() {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build(&py_, &d.join("ckpt"), REFUSED);
    for name in REFUSED {
        let (_, s) = spec(name);
        let expect = s["expect"].as_str().unwrap();
        let needle = expect.strip_prefix("fail-closed: ").unwrap_or_else(|| panic!("{name}: expect is {expect}"));
        let pkg = d.join(format!("{}_mlx", name.replace('-', "_")));
        let o = run(bin!().arg("scaffold").arg(d.join("ckpt").join(name)).arg("-o").arg(&pkg), &py_);
        assert_eq!(o.status.code(), Some(1), "{name}: scaffold refuses");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot scaffold this model; unsupported:") && err.contains(needle), "{name}: the refusal names '{needle}': {err}");
        assert!(!pkg.exists(), "{name}: nothing written");
    }
}
