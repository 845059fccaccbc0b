//! `mlxport inspect` through the real binary: the summary, the JSON and
//! Markdown reports, `--fail-on-blockers`, the digest cache and local paths.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::write_st;
use mlxport_testkit::{bin, describe, python, write_json};
use serde_json::{json, Value};

/// `mlxport` with its digest cache in `cache` (never the user's).
fn bin(cache: &Path) -> Command {
    let mut c = bin!();
    c.env("MLXPORT_CACHE", cache);
    c
}

fn out(cmd: &mut Command) -> Output {
    cmd.output().expect("run mlxport")
}

fn llama(dir: &Path) {
    write_json(
        &dir.join("config.json"),
        &json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}),
    );
    write_st(&dir.join("model.safetensors"), &["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight"]);
    std::fs::write(dir.join("README.md"), "---\nlicense: apache-2.0\n---\n").unwrap();
}

#[test]
fn builtin_model_summary() {
    let Some(p) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let venv = p.parent().unwrap().parent().unwrap();
    let o = out(bin(tmp.path()).args(["inspect", "--fail-on-blockers", "--target-memory", "16GB"]).env("MLXPORT_VENV", venv));
    assert!(o.status.success(), "{}", describe(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    for want in ["family        encoder", "apache-2.0 (permissive), redistribution yes", "no blockers", "fits"] {
        assert!(s.contains(want), "summary lacks {want:?}:\n{s}");
    }
}

#[test]
fn reports_written_schema_and_no_local_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("tiny-llama");
    llama(&model);
    let js = tmp.path().join("out/inspection.json");
    let md = tmp.path().join("out/inspection.md");
    let o = out(bin(&tmp.path().join("cache")).arg("inspect").arg(&model).arg("-o").arg(&js).arg("--markdown").arg(&md).args(["--context", "1024"]));
    assert!(o.status.success(), "{}", describe(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("tiny-llama (directory, 3 files") && stdout.contains("dense-decoder"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&js).unwrap()).unwrap();
    assert_eq!(report["schema"], "mlxport.inspection/v1");
    assert_eq!(report["routing"]["family"], "dense-decoder");
    assert_eq!(report["size"]["kv_cache"]["context"], 1024);
    assert_eq!(report["model"]["files"], 3);
    let markdown = std::fs::read_to_string(&md).unwrap();
    for section in ["# Inspection: tiny-llama", "## License", "## Size and fit", "## Routing evidence", "## Files"] {
        assert!(markdown.contains(section), "{section}:\n{markdown}");
    }
    let local = tmp.path().canonicalize().unwrap();
    let js_text = std::fs::read_to_string(&js).unwrap();
    for s in [&js_text, &markdown, &stdout.to_string()] {
        assert!(!s.contains(local.to_str().unwrap()) && !s.contains(tmp.path().to_str().unwrap()), "local path leaked:\n{s}");
    }

    // --json prints the same report; --absolute-paths adds the path.
    let o = out(bin(&tmp.path().join("cache")).arg("inspect").arg(&model).args(["--json", "--absolute-paths"]));
    assert!(o.status.success(), "{}", describe(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["model"]["path"], model.canonicalize().unwrap().to_str().unwrap());
    assert_eq!(v["model"]["fingerprint"], report["model"]["fingerprint"]);
}

#[test]
fn digest_cache_and_no_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    llama(&model);
    let cache = tmp.path().join("cache");
    let json_of = |extra: &[&str]| -> Value {
        let o = out(bin(&cache).arg("inspect").arg(&model).arg("--json").args(extra));
        assert!(o.status.success(), "{}", describe(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let cold = json_of(&[]);
    assert!(cold["model"]["bytes_hashed"].as_u64().unwrap() > 0);
    assert!(cache.join("digests-v1.json").exists());
    let warm = json_of(&[]);
    assert_eq!(warm["model"]["bytes_hashed"], 0, "{}", warm["model"]);
    assert_eq!(warm["model"]["cache_hits"], 3);
    assert_eq!(warm["model"]["fingerprint"], cold["model"]["fingerprint"]);
    let forced = json_of(&["--no-cache"]);
    assert_eq!(forced["model"]["bytes_hashed"], cold["model"]["bytes_hashed"]);
}

#[test]
fn tensor_cache_is_keyed_by_file_identity_and_survives_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m");
    llama(&model);
    let cache = tmp.path().join("cache");
    let run = |extra: &[&str]| -> (Value, String) {
        let o = out(bin(&cache).arg("inspect").arg(&model).arg("--json").args(extra));
        assert!(o.status.success(), "{}", describe(&o));
        (serde_json::from_slice(&o.stdout).unwrap(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (cold, _) = run(&[]);
    let file = cache.join("tensors-v1.bin");
    assert!(file.exists());
    let (warm, err) = run(&[]);
    assert!(err.is_empty(), "{err}");
    assert_eq!(warm["tensors"], cold["tensors"]);
    assert_eq!(warm["tensors"]["tensors"], 3);
    assert_eq!(warm["routing"], cold["routing"]);

    // A changed weights file is read again, never answered from the cache.
    write_st(&model.join("model.safetensors"), &["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight", "lm_head.weight"]);
    let (changed, _) = run(&[]);
    assert_eq!(changed["tensors"]["tensors"], 4);
    assert_eq!(changed["tensors"], run(&["--no-cache"]).0["tensors"]);

    // A damaged cache file is ignored with a warning, then rebuilt.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let (after, err) = run(&[]);
    assert!(err.contains("tensor cache was ignored"), "{err}");
    assert_eq!(after["tensors"], changed["tensors"]);
    let (_, err) = run(&[]);
    assert!(err.is_empty(), "{err}");
    std::fs::write(&file, b"not a cache").unwrap();
    let (after, err) = run(&[]);
    assert!(err.contains("tensor cache was ignored"), "{err}");
    assert_eq!(after["tensors"], changed["tensors"]);
}

#[test]
fn fail_on_blockers_exits_1_with_remediations() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    type Build = fn(&Path);
    let cases: &[(&str, Build)] = &[
        ("no-weights", |d| write_json(&d.join("config.json"), &json!({"model_type": "llama"}))),
        ("remote-code", |d| {
            llama(d);
            write_json(&d.join("config.json"), &json!({"model_type": "llama", "auto_map": {"AutoModelForCausalLM": "modeling_x.X"}}));
        }),
        ("invalid-config", |d| {
            llama(d);
            std::fs::write(d.join("config.json"), "{\"model_type\": \"llama\", \"model_type\": \"bert\"}").unwrap();
        }),
        ("unknown-family", |d| {
            write_json(&d.join("config.json"), &json!({"model_type": "frobnicator"}));
            write_st(&d.join("model.safetensors"), &["frob.weight"]);
        }),
        ("adapter-only", |d| {
            write_json(&d.join("adapter_config.json"), &json!({"peft_type": "LORA", "base_model_name_or_path": "acme/base"}));
            write_st(&d.join("adapter_model.safetensors"), &["base_model.model.lora_A.weight"]);
        }),
        ("invalid-weights", |d| {
            llama(d);
            std::fs::write(d.join("model.safetensors"), b"\xff\xff\xff\xff\xff\xff\xff\xff{").unwrap();
        }),
    ];
    for (id, build) in cases {
        let d = tmp.path().join(id);
        std::fs::create_dir_all(&d).unwrap();
        build(&d);
        let o = out(bin(&cache).arg("inspect").arg(&d).arg("--fail-on-blockers"));
        assert_eq!(o.status.code(), Some(1), "{id}: {}", describe(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains(&format!("BLOCKER {id}:")), "{id}: {s}");
        assert!(s.contains("  fix: "), "{id}: no remediation printed: {s}");
        // Without the flag a blocked model is still a successful inspection.
        let o = out(bin(&cache).arg("inspect").arg(&d).arg("--json"));
        assert_eq!(o.status.code(), Some(0), "{id}: {}", describe(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let b = v["blockers"].as_array().unwrap().iter().find(|b| b["id"] == *id).unwrap_or_else(|| panic!("{id}: {v}"));
        assert!(b["remediation"].as_str().is_some_and(|r| !r.is_empty()), "{id}");
    }
    // A clean model passes the gate.
    let d = tmp.path().join("clean");
    llama(&d);
    let o = out(bin(&cache).arg("inspect").arg(&d).arg("--fail-on-blockers"));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
}

#[test]
fn bad_arguments_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-model");
    let o = out(bin(tmp.path()).arg("inspect").arg(&missing));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no-such-model") && !err.contains("panicked"), "{err}");
    let d = tmp.path().join("m");
    llama(&d);
    let o = out(bin(tmp.path()).arg("inspect").arg(&d).args(["--target-memory", "lots"]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("target-memory"), "{}", describe(&o));
}
