//! `mlxport optimize --package`: a decoder package's serving switches,
//! each measured side by side with the first port on a tiny llama built by
//! transformers (with a tokenizer trained on the shipped corpus). Exact
//! switches must keep every greedy token: a pipelined loop planted to
//! change one token is rejected for that, whatever its speed. The 8-bit KV
//! cache goes through the quality gate with 64 greedy tokens per prompt
//! and its KL in the record. Only kept switches reach serving.json.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn serving_switches_are_measured_gated_and_a_token_changing_one_is_rejected() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let src = d.join("llama");
    // Head dimension 32: the quantized KV cache groups by 32.
    build_with_tokenizer(&py_, "llama", &src, r#"{"head_dim": 32}"#);
    let map = d.join("map.json");
    ok(bin!().args(["map", "draft", "--target", "scaffold"]).arg(&src).arg("-o").arg(&map), &py_);
    let weights = d.join("weights");
    ok(bin!().arg("convert").arg(&src).arg("--map").arg(&map).arg("--out").arg(&weights), &py_);
    let pkg = d.join("tiny_llama_mlx");
    ok(bin!().arg("scaffold").arg(&src).arg("-o").arg(&pkg), &py_);
    // The planted bug: the pipelined loop reports token 3 off by one.
    let gen = pkg.join("generate.py");
    let text = std::fs::read_to_string(&gen).unwrap();
    assert!(text.contains("        t = int(y.item())\n"));
    std::fs::write(&gen, text.replace("        t = int(y.item())\n", "        t = int(y.item()) + (1 if i == 3 else 0)\n")).unwrap();

    let work = d.join("opt");
    let o = run(
        bin!()
            .arg("optimize")
            .arg(&weights)
            .arg("--package")
            .arg(&pkg)
            .args([
                "--candidates",
                "bf16",
                "--serving",
                "compile,fuse,rope-tables,pipeline,kv8,batch4,speculative",
                "--max-tokens",
                "128",
                "--prompt-tokens",
                "16",
            ])
            .args(["--gen-tokens", "8", "--runs", "3", "--no-store", "--threads", "2", "-o"])
            .arg(&work),
        &py_,
    );
    assert_eq!(o.status.code(), Some(0));
    let doc = read(&work.join("optimize.json"));
    let serving = &doc["serving"];
    let rec = |id: &str| serving["records"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no {id}: {serving:#}")).clone();

    let p = rec("pipeline");
    assert_eq!(p["rows"][0]["equal"], false, "{p:#}");
    assert_eq!(p["decision"]["keep"], false, "{p:#}");
    assert!(p["decision"]["reason"].as_str().unwrap().contains("changes the greedy tokens"), "{p:#}");

    let c = rec("compile");
    assert_eq!(c["rows"][0]["equal"], true, "compile keeps the tokens: {c:#}");
    let ci = c["rows"][0]["ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() <= c["rows"][0]["ratio"].as_f64().unwrap() && c["rows"][0]["ratio"].as_f64().unwrap() <= ci[1].as_f64().unwrap(), "{c:#}");
    assert!(work.join(c["receipt"].as_str().unwrap()).is_file());

    // Fused projections and shared rotary tables: the same tokens.
    for id in ["fuse", "rope-tables"] {
        let f = rec(id);
        assert_eq!((f["rows"][0]["equal"].as_bool(), f["error"].as_str(), f["lossy"].as_bool()), (Some(true), None, Some(false)), "{f:#}");
    }

    let k = rec("kv8");
    assert_eq!(k["lossy"], true);
    let g = &k["gate"];
    assert_eq!(g["greedy_tokens"], 64, "{k:#}");
    assert!(g["kl_mean"].as_f64().is_some_and(|v| v.is_finite() && v >= 0.0), "{k:#}");
    assert!(["pass", "fail"].contains(&g["verdict"].as_str().unwrap()), "{k:#}");
    let q = read(&work.join(g["report"].as_str().unwrap()));
    assert_eq!(q["run"]["candidate_options"]["kv_bits"], 8, "{:#}", q["run"]);
    assert_eq!(q["run"]["candidate_options"]["kv_group_size"], 32, "{:#}", q["run"]);

    // Serving modes: the batch decodes every row as alone, speculative
    // decoding gives the model's own greedy tokens, with its acceptance.
    let bt = rec("batch4");
    assert_eq!((bt["rows"][0]["equal"].as_bool(), bt["error"].as_str()), (Some(true), None), "{bt:#}");
    let sp = rec("speculative");
    assert_eq!((sp["rows"][0]["equal"].as_bool(), sp["error"].as_str()), (Some(true), None), "{sp:#}");
    let acc = sp["speculative"]["acceptance"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc) && sp["speculative"]["proposed"].as_u64().unwrap() > 0, "{sp:#}");
    assert!(sp["decision"]["reason"].as_str().unwrap().contains("draft acceptance"), "{sp:#}");
    assert!(!work.join("draft").exists(), "the draft is scratch");

    // serving.json holds exactly the kept switches.
    let kept: Vec<String> =
        serving["records"].as_array().unwrap().iter().filter(|r| r["decision"]["keep"] == true).map(|r| r["id"].as_str().unwrap().to_string()).collect();
    let file = work.join("serving.json");
    if kept.is_empty() {
        assert!(!file.exists() || !serving["modes"].as_object().unwrap().is_empty(), "nothing kept, no serving.json");
        assert_eq!(serving["defaults"], serde_json::json!({}));
    } else {
        let s = read(&file);
        assert_eq!(s["options"], serving["defaults"]);
        assert_eq!(s["modes"], serving["modes"]);
        assert!(s["options"].get("pipeline").is_none(), "a rejected switch never ships: {s:#}");
    }
    let md = std::fs::read_to_string(work.join("OPTIMIZATIONS.md")).unwrap();
    assert!(md.contains("## Serving switches") && md.contains("tokens DIFFER"), "{md}");
    // A kept switch is a validated technique for `recommend`; a rejected one is not.
    for r in serving["records"].as_array().unwrap() {
        let v = work.join(format!("validated/serve-{}.json", r["id"].as_str().unwrap()));
        assert_eq!(v.is_file(), r["decision"]["keep"] == true, "{}", v.display());
    }
}

#[test]
fn optimized_decoder_port_ships_the_kept_serving_switches_in_its_package() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("llama");
    build_with_tokenizer(&py_, "llama", &src, r#"{"head_dim": 32}"#);
    let inputs = tmp.path().join("inputs.json");
    std::fs::write(&inputs, r#"{"token_ids": [[5,17,33,2,99,140,7,1],[300,12,9,450,1]], "generate": 8}"#).unwrap();
    let dir = tmp.path().join("port");
    let o = run(
        bin!()
            .arg("port")
            .arg(&src)
            .args(["--target", "scaffold", "--accept-license", "--threads", "2", "--inputs"])
            .arg(&inputs)
            .args(["--optimize", "--optimize-candidates", "bf16", "--optimize-serving", "cache-step,pipeline"])
            .args(["--quality-max-tokens", "128", "--bench-prompt-tokens", "16", "--bench-gen-tokens", "8", "--bench-runs", "3", "--out"])
            .arg(&dir),
        &py_,
    );
    let p = read(&dir.join("port.json"));
    assert_eq!((o.status.code(), p["status"].as_str()), (Some(0), Some("complete")), "{p:#}");
    let doc = read(&dir.join("optimize/optimize.json"));
    let ids: Vec<&str> = doc["serving"]["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cache-step", "pipeline"]);
    assert_eq!(doc["serving"]["weights"], if doc["chosen"]["id"] == "baseline" { "weights" } else { "chosen" }, "{:#}", doc["serving"]);
    assert!(doc["command"].as_array().unwrap().iter().any(|a| a == "--optimize-serving"), "{:#}", doc["command"]);
    // What optimize kept is what the package serves with: the same file,
    // read by the package's own Options.defaults().
    let name = read(&dir.join("scaffold/mlxport_scaffold.json"))["package"].as_str().unwrap().to_string();
    let shipped = dir.join("package").join(&name).join("serving.json");
    match std::fs::read(dir.join("optimize/serving.json")) {
        Ok(kept) => {
            assert_eq!(std::fs::read(&shipped).unwrap(), kept);
            let got = py(
                &py_,
                "import sys, json, importlib; sys.path.insert(0, sys.argv[1]); print(json.dumps(importlib.import_module(sys.argv[2] + '.options').Options.defaults().to_dict()))",
                &[dir.join("package").to_str().unwrap(), &name],
            );
            let got: Value = serde_json::from_str(&got).unwrap();
            for (k, v) in read(&dir.join("optimize/serving.json"))["options"].as_object().unwrap() {
                assert_eq!(&got[k], v, "{k}");
            }
        }
        Err(_) => assert!(!shipped.exists(), "nothing kept, nothing shipped"),
    }
}

/// With stored dtypes, a bfloat16 8-bit checkpoint multiplies through
/// MLX's CPU `quantized_matmul` in bfloat16, which is several percent off
/// its own dequantized weights: the gate says so (the float32 default
/// does not need to), and `--dequantize` computes in bfloat16 without it.
#[test]
fn stored_dtype_gate_warns_when_packed_arithmetic_is_off_its_weights() {
    let Some(py_) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let src = d.join("llama");
    build_with_tokenizer(&py_, "llama", &src, r#"{"head_dim": 32, "intermediate_size": 256}"#);
    let map = d.join("map.json");
    ok(bin!().args(["map", "draft", "--target", "scaffold"]).arg(&src).arg("-o").arg(&map), &py_);
    let bf16 = d.join("bf16");
    ok(bin!().arg("convert").arg(&src).arg("--map").arg(&map).args(["--dtype", "bf16", "--out"]).arg(&bf16), &py_);
    let q8 = d.join("q8");
    ok(bin!().arg("quantize").arg(&bf16).args(["--bits", "8", "--out"]).arg(&q8), &py_);
    let pkg = d.join("tiny_mlx");
    ok(bin!().arg("scaffold").arg(&src).arg("-o").arg(&pkg), &py_);
    let gate = |flags: &[&str]| -> Value {
        let out = d.join(format!("q-{}.json", flags.len()));
        let mut c = bin!();
        c.arg("quality").arg("--reference").arg(&bf16).arg("--candidate").arg(&q8).arg("--package").arg(&pkg);
        c.args(["--max-tokens", "64", "--generate", "4", "-o"]).arg(&out).args(flags);
        run(&mut c, &py_);
        read(&out)
    };
    let s = gate(&["--stored-dtype"]);
    assert_eq!(s["run"]["compute_dtype"], "stored");
    let w = s["run"]["warnings"].as_array().unwrap_or_else(|| panic!("{:#}", s["run"]));
    assert!(w.iter().any(|x| x.as_str().unwrap().contains("multiplies with a relative error")), "{w:?}");
    let f = gate(&[]);
    assert_eq!(f["run"]["compute_dtype"], "float32");
    assert_eq!(f["run"]["warnings"], serde_json::json!([]), "{:#}", f["run"]);
    // Stored dtypes with the packed layers dequantized into bfloat16: no
    // packed product, so no warning, and the 8-bit weights score closer to
    // their reference than through MLX's packed bfloat16 product.
    let q = gate(&["--stored-dtype", "--dequantize"]);
    assert_eq!(q["run"]["compute_dtype"], "stored-dequantized");
    assert_eq!(q["run"]["warnings"], serde_json::json!([]), "{:#}", q["run"]);
    let kl = |v: &Value| v["lm"]["kl_mean"].as_f64().unwrap_or_else(|| panic!("{:#}", v["lm"]));
    assert!(kl(&q) < kl(&s), "dequantized {} against packed {}", kl(&q), kl(&s));
    // --dequantize belongs to --stored-dtype.
    let o = run(bin!().arg("quality").arg("--reference").arg(&bf16).arg("--candidate").arg(&q8).arg("--dequantize"), &py_);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}
