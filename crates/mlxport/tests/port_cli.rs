//! `mlxport port` through the real binary: the built-in MiniLM and the
//! SmolLM2 example end in a passing parity ladder against transformers, a
//! report and a package; an interrupted port resumes without redoing
//! finished steps and a changed option redoes only the steps it affects
//! (checked by finished_at timestamps and artifact hashes); blocked models
//! (remote code, an executable pickle, a restricted license, an
//! unresolvable weight map) stop at the right step with the remediation and
//! a partial PORT_DIR that says where.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{remote_code_model, restricted_fused_moe, time_series_model};
use mlxport_testkit::{bin, describe, file_sha256, python, read_json, workspace_root, write_json};
use serde_json::{json, Value};

/// `mlxport port` run in `cwd`, its digest cache in `cwd/cache`.
fn port(cwd: &Path, py: Option<&Path>) -> Command {
    let mut c = bin!();
    c.arg("port").current_dir(cwd).env("MLXPORT_CACHE", cwd.join("cache"));
    if let Some(p) = py {
        c.env("MLXPORT_PYTHON", p);
    }
    c
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn step<'a>(port: &'a Value, name: &str) -> &'a Value {
    port["steps"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step {name} in {port:#}"))
}

fn status(port: &Value, name: &str) -> String {
    step(port, name)["status"].as_str().unwrap().to_string()
}

/// (finished_at, inputs hash, artifacts) of every step.
fn fingerprints(port: &Value) -> BTreeMap<String, (Value, Value, Value)> {
    port["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), (s["finished_at"].clone(), s["inputs_sha256"].clone(), s["artifacts"].clone())))
        .collect()
}

/// Every artifact port.json lists holds the recorded bytes.
fn check_artifacts(dir: &Path, port: &Value) {
    for s in port["steps"].as_array().unwrap() {
        for a in s["artifacts"].as_array().unwrap() {
            let p = dir.join(a["path"].as_str().unwrap());
            assert_eq!(file_sha256(&p), a["sha256"].as_str().unwrap(), "{}", p.display());
            assert_eq!(std::fs::metadata(&p).unwrap().len(), a["bytes"].as_u64().unwrap());
        }
    }
}

/// Cosine of two equal-length float vectors, in f64.
fn cosine(x: &[f32], y: &[f32]) -> f64 {
    let (mut d, mut a, mut b) = (0f64, 0f64, 0f64);
    for (&p, &q) in x.iter().zip(y) {
        d += p as f64 * q as f64;
        a += (p as f64).powi(2);
        b += (q as f64).powi(2);
    }
    d / (a.sqrt() * b.sqrt())
}

const PORTED: &[&str] = &["inspect", "plan", "map-draft", "map-validate", "oracle", "convert", "scaffold", "capture", "parity", "report", "package"];

#[test]
fn minilm_default_port_completes_resumes_after_an_interrupt_and_redoes_only_what_changed() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dir = cwd.join("port-out/all-minilm-l6-v2");

    // Interrupt: kill the process once the oracle is recorded.
    let mut child = port(cwd, Some(&py)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    loop {
        let seen = std::fs::read_to_string(dir.join("port.json")).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok());
        if seen.as_ref().is_some_and(|p| p["steps"].as_array().unwrap().iter().any(|s| s["name"] == "oracle" && s["status"] == "done")) {
            child.kill().unwrap();
            break;
        }
        if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(600) {
            panic!("the port ended (or hung) before the oracle was recorded");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait().unwrap();
    let killed = read_json(&dir.join("port.json"));
    assert_eq!(killed["schema"], "mlxport.port/v1");
    assert_eq!(killed["source"]["model"], "example:minilm", "no absolute path");
    assert_ne!(killed["status"], "complete", "{killed:#}");
    assert!(killed["stopped_at"].is_string(), "an interrupted port says where it was");
    for s in ["inspect", "plan", "map-draft", "map-validate", "oracle"] {
        assert_eq!(status(&killed, s), "done", "{s}");
    }
    check_artifacts(&dir, &killed);
    let before = fingerprints(&killed);

    // Resume: the finished steps are kept, the rest run; the ladder passes.
    let o = run(port(cwd, Some(&py)).arg("--json"));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let done: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(done, read_json(&dir.join("port.json")), "--json prints port.json");
    assert_eq!(done["status"], "complete");
    assert!(done["stopped_at"].is_null());
    assert_eq!((done["family"].as_str(), done["model_type"].as_str(), done["target"].as_str()), (Some("encoder"), Some("bert"), Some("scaffold")));
    // port.json lists the steps in the order they ran, and the progress
    // lines number them in that order.
    let names: Vec<&str> = done["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..6], ["inspect", "plan", "map-draft", "map-validate", "oracle", "convert"]);
    let numbers: Vec<u32> = String::from_utf8_lossy(&o.stderr).lines().filter_map(|l| l.strip_prefix('[')?.split_once('/')?.0.trim().parse().ok()).collect();
    assert!(numbers.len() >= 10 && numbers.windows(2).all(|w| w[0] < w[1]), "progress numbers out of order: {numbers:?}");
    let after = fingerprints(&done);
    for (name, fp) in &before {
        if killed["steps"].as_array().unwrap().iter().any(|s| s["name"] == name.as_str() && s["status"] == "done") {
            assert_eq!(&after[name], fp, "{name} was redone after the interrupt");
        }
    }
    for s in PORTED {
        assert_eq!(status(&done, s), "done", "{s}: {:#}", step(&done, s));
    }
    for s in ["quantize", "quality", "bench", "optimize"] {
        assert_eq!(status(&done, s), "skipped");
        assert!(!step(&done, s)["summary"].as_str().unwrap().is_empty(), "a skipped step says why");
    }
    let names: Vec<&str> = done["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "inspect",
            "plan",
            "map-draft",
            "map-validate",
            "oracle",
            "convert",
            "scaffold",
            "capture",
            "parity",
            "quantize",
            "quality",
            "bench",
            "optimize",
            "report",
            "package"
        ]
    );
    check_artifacts(&dir, &done);
    for f in [
        "inspection.json",
        "inspection.md",
        "plan.json",
        "plan.md",
        "oracle/oracle.npz",
        "oracle/manifest.json",
        "weight_map.json",
        "map-validation.json",
        "weights/config.json",
        "weights/model.safetensors",
        "scaffold/mlxport_scaffold.json",
        "scaffold/model.py",
        "capture/capture.npz",
        "capture/manifest.json",
        "parity/parity.json",
        "parity/parity.md",
        "parity/parity.svg",
        "report/report.md",
        "report/report.json",
        "report/report.html",
        "package/mlxport-package.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let parity = read_json(&dir.join("parity/parity.json"));
    assert_eq!(parity["schema"], "mlxport.parity/v1");
    assert_eq!(parity["status"], "pass");
    assert!(parity["ladder"]["first_divergence"].is_null());
    // The MLX port against transformers, measured here: every sentence
    // embedding at cosine >= 0.99999.
    let (a, b) = (mlxport_tensor::open_file(&dir.join("capture/capture.npz")).unwrap(), mlxport_tensor::open_file(&dir.join("oracle/oracle.npz")).unwrap());
    let (x, y) = (a.read_f32("sentence_embedding").unwrap(), b.read_f32("sentence_embedding").unwrap());
    assert_eq!(x.len(), y.len());
    assert!(x.len() >= 384 * 8);
    for (i, (p, q)) in x.chunks(384).zip(y.chunks(384)).enumerate() {
        let c = cosine(p, q);
        assert!(c >= 0.99999, "sentence {i}: cosine {c}");
    }

    // A re-run redoes nothing.
    let o = run(&mut port(cwd, Some(&py)));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("complete:"), "a table for people: {}", describe(&o));
    let again = read_json(&dir.join("port.json"));
    assert_eq!(fingerprints(&again), after, "a re-run with nothing changed redid a step");

    // A changed dtype redoes the weight map's validation and everything
    // after the conversion; nothing before it.
    let o = run(port(cwd, Some(&py)).args(["--dtype", "f32"]));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let f32 = read_json(&dir.join("port.json"));
    assert_eq!(f32["dtype"], "f32");
    let now = fingerprints(&f32);
    let kept: Vec<&str> = PORTED.iter().copied().filter(|s| now[*s].0 == after[*s].0).collect();
    assert_eq!(kept, ["inspect", "plan", "map-draft", "oracle", "scaffold"]);
    for s in ["map-validate", "convert", "capture", "parity", "report", "package"] {
        assert_ne!(now[s].1, after[s].1, "{s}: its inputs hash did not change");
    }
    check_artifacts(&dir, &f32);
    assert_eq!(read_json(&dir.join("parity/parity.json"))["status"], "pass");
    assert_eq!(read_json(&dir.join("weights/mlxport-conversion.json"))["target"]["dtype"], "F32");
    assert!(!dir.join(".staging").exists(), "no staging left behind");
}

#[test]
fn smollm2_example_port_completes_on_the_decoder_path() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("smol");
    // The example's Hugging Face form is built once under target/fixtures
    // (shared with the harness tests).
    let o = run(port(tmp.path(), Some(&py))
        .args(["--example", "smollm2", "--out"])
        .arg(&dir)
        .args(["--generate", "8", "--threads", "2"])
        .env("MLXPORT_EXAMPLES", workspace_root().join("target/fixtures")));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let p = read_json(&dir.join("port.json"));
    assert_eq!(p["status"], "complete");
    assert_eq!(p["source"]["model"], "example:smollm2");
    assert_eq!((p["family"].as_str(), p["model_type"].as_str(), p["target"].as_str()), (Some("dense-decoder"), Some("llama"), Some("mlx-lm")));
    assert_eq!(status(&p, "scaffold"), "skipped", "mlx-lm implements llama: no package generated");
    assert!(!dir.join("scaffold").exists());
    for s in PORTED.iter().filter(|s| **s != "scaffold") {
        assert_eq!(status(&p, s), "done", "{s}: {:#}", step(&p, s));
    }
    check_artifacts(&dir, &p);
    let cfg = read_json(&dir.join("weights/config.json"));
    assert_eq!(cfg["rope_theta"].as_f64(), Some(100000.0), "mlx-lm reads the RoPE base at the top level");
    let parity = read_json(&dir.join("parity/parity.json"));
    assert_eq!(parity["status"], "pass");
    let rungs: Vec<&str> =
        parity["ladder"]["rungs"].as_array().unwrap().iter().flat_map(|r| r["tensors"].as_array().unwrap().iter().map(|t| t.as_str().unwrap())).collect();
    for t in ["embeddings", "layers.0", "layers.29", "final_norm", "logits", "generated.ids", "cache_decode.logits"] {
        assert!(rungs.contains(&t), "{t} not on the ladder: {rungs:?}");
    }
    // Greedy tokens identical to transformers' on every prompt.
    let (a, b) = (mlxport_tensor::open_file(&dir.join("capture/capture.npz")).unwrap(), mlxport_tensor::open_file(&dir.join("oracle/oracle.npz")).unwrap());
    let (x, y) = (a.read_f32("generated.ids").unwrap(), b.read_f32("generated.ids").unwrap());
    assert_eq!(x.len(), 4 * 8);
    assert_eq!(x, y, "greedy tokens differ from transformers'");
    assert_eq!(read_json(&dir.join("capture/manifest.json"))["implementation"], "mlx-lm");
    // The license the GGUF declares reaches the package without --accept-license.
    assert!(step(&p, "package")["summary"].as_str().unwrap().contains("apache-2.0"), "{:#}", step(&p, "package"));

    // Quantized to 8 bits on top of the proven port: nothing of the float
    // port is redone. The default gate allows no prompt that degenerates
    // under the candidate only; at 8 bits one of the shipped prompts does
    // (measured: ppl ratio 1.006, KL mean 0.0015, top-1 0.967), so the test
    // accepts one, as a user would with --quality-thresholds.
    let float = fingerprints(&p);
    let q_args = [
        "-q",
        "--bits",
        "8",
        "--quality-thresholds",
        "new_degenerate=1",
        "--quality-max-tokens",
        "256",
        "--bench-prompt-tokens",
        "32,128",
        "--bench-runs",
        "2",
    ];
    let quantized = |extra: &[&str]| {
        run(port(tmp.path(), Some(&py))
            .args(["--example", "smollm2", "--out"])
            .arg(&dir)
            .args(["--generate", "8", "--threads", "2"])
            .args(q_args)
            .args(extra)
            .env("MLXPORT_EXAMPLES", workspace_root().join("target/fixtures")))
    };
    let o = quantized(&["--bench-gen-tokens", "16"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let first = fingerprints(&read_json(&dir.join("port.json")));
    // Resumed after quantize: another bench setting redoes bench, report
    // and package only.
    let o = quantized(&["--bench-gen-tokens", "8"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let p = read_json(&dir.join("port.json"));
    assert_eq!(p["status"], "complete");
    let now = fingerprints(&p);
    for s in ["inspect", "plan", "map-draft", "map-validate", "oracle", "convert", "capture", "parity"] {
        assert_eq!(now[s], float[s], "{s} was redone");
    }
    for s in ["quantize", "quality"] {
        assert_eq!(now[s], first[s], "{s} was redone");
    }
    for s in ["bench", "report", "package"] {
        assert_eq!(status(&p, s), "done", "{s}: {:#}", step(&p, s));
        assert_ne!(now[s].0, first[s].0, "{s} was not redone");
    }
    check_artifacts(&dir, &p);
    // The language-model gate passed at 8 bits.
    let g = read_json(&dir.join("quality/quality.json"));
    assert_eq!((g["kind"].as_str(), g["verdict"].as_str()), (Some("language-model"), Some("pass")), "{g:#}");
    let ppl = g["lm"]["perplexity_candidate"].as_f64().unwrap() / g["lm"]["perplexity_reference"].as_f64().unwrap();
    assert!(ppl > 0.95 && ppl < 1.05, "perplexity ratio {ppl}");
    // Receipts of both, side by side in the report.
    for f in ["float", "quantized"] {
        let r = read_json(&dir.join(format!("bench/{f}.json")));
        assert_eq!(r["schema"], "mlxport.bench-receipt/v1");
        assert_eq!(r["benchmarks"].as_array().unwrap().len(), 2, "one benchmark per prompt length");
    }
    assert_eq!(read_json(&dir.join("bench/quantized.json"))["quality_gate"]["passed"], true);
    let r = read_json(&dir.join("report/report.json"));
    let sbs = r["side_by_side"].as_array().unwrap();
    assert_eq!(sbs.iter().map(|x| x["prompt_tokens"].as_u64().unwrap()).collect::<Vec<_>>(), [32, 128]);
    for x in sbs {
        assert!(x["baseline"]["decode_tokens_per_s"].as_f64().unwrap() > 0.0 && x["optimized"]["decode_tokens_per_s"].as_f64().unwrap() > 0.0, "{x}");
    }
    let acc = &r["optimizations"]["accepted"][0];
    assert!(acc["optimization"].as_str().unwrap().contains("affine 8-bit, group 64"), "{r:#}");
    assert_eq!(acc["side_by_side"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    for needle in ["## Quality gate\n\nVerdict: **pass**", "| ppl_ratio |", "decode tok/s baseline", "- accepted: quantization affine 8-bit, group 64"] {
        assert!(md.contains(needle), "report.md lacks {needle}: {md}");
    }
    // The package: the quantized weights, a card stating the quantization,
    // and mlx-lm loads it into quantized layers holding exactly what
    // mx.quantize makes of the float weights.
    let card = std::fs::read_to_string(dir.join("package/README.md")).unwrap();
    let f = front_matter(&card);
    for (k, v) in [("quantization.bits", "8"), ("quantization.group_size", "64"), ("quantization.mode", "affine")] {
        assert_eq!(f.get(k).map(String::as_str), Some(v), "{k}: {f:?}");
    }
    assert!(card.contains("float.json") && card.contains("quantized.json") && card.contains("**pass**"), "{card}");
    let check = Command::new(&py)
        .arg("-c")
        .arg(
            r#"
import sys, mlx.core as mx, mlx.nn as nn, mlx_lm
model, tok = mlx_lm.load(sys.argv[1])
q = model.model.layers[0].self_attn.q_proj
assert isinstance(q, nn.QuantizedLinear) and q.bits == 8 and q.group_size == 64, type(q)
w = mx.load(sys.argv[2] + "/model.safetensors")["model.layers.0.self_attn.q_proj.weight"]
wq, s, b = mx.quantize(w, group_size=64, bits=8)
assert mx.array_equal(wq, q.weight).item() and mx.allclose(s, q.scales).item() and mx.allclose(b, q.biases).item()
print(mlx_lm.generate(model, tok, "The capital of France is", max_tokens=4))
"#,
        )
        .arg(dir.join("package"))
        .arg(dir.join("weights"))
        .output()
        .unwrap();
    assert!(check.status.success() && !check.stdout.is_empty(), "{}", String::from_utf8_lossy(&check.stderr));

    // The profile of what the port serves (mlx-lm here): every figure
    // present, the lengths asked, written into PORT_DIR.
    let o = run(bin!()
        .arg("profile")
        .arg(&dir)
        .args(["--prompt-tokens", "8,24", "--contexts", "16", "--gen-tokens", "3", "-r", "1", "--json"])
        .env("MLXPORT_PYTHON", &py));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let prof: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(prof, read_json(&dir.join("profile/profile.json")));
    assert_eq!((prof["schema"].as_str(), prof["implementation"].as_str()), (Some("mlxport.profile/v1"), Some("mlx-lm")));
    assert!(prof["load_s"].as_f64().unwrap() > 0.0 && prof["first_call"]["first_s"].as_f64().unwrap() > 0.0, "{prof}");
    assert_eq!(prof["prefill"].as_array().unwrap().iter().map(|x| x["prompt_tokens"].as_u64().unwrap()).collect::<Vec<_>>(), [8, 24]);
    let d = &prof["decode"][0];
    assert_eq!(d["context_tokens"], 16);
    let share = d["python_share"].as_f64().unwrap();
    assert!(d["tokens_per_s"].as_f64().unwrap() > 0.0 && share > 0.0 && share < 1.0, "{d}");
    // The report shows it once regenerated.
    let o = run(bin!().arg("report").arg(&dir).env("MLXPORT_PYTHON", &py));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_eq!(read_json(&dir.join("report/report.json"))["profile"], prof);
    let md = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    assert!(md.contains("Profile of the decoder as served (mlx-lm") && md.contains("| 16 |") && md.contains("](profile.svg)"), "{md}");
    // As a chart: the SVG beside the Markdown and inline in the page.
    let svg = std::fs::read_to_string(dir.join("report/profile.svg")).unwrap();
    assert!(svg.contains(">first call<") && svg.contains(">24 tokens<") && svg.contains("Python share"), "{svg}");
    let page = std::fs::read_to_string(dir.join("report/report.html")).unwrap();
    assert!(page.contains("id=\"chart-profile\"") && page.contains(">16 tokens<"), "the page has the profile chart");
    // Options are a package's: refused for an mlx-lm port, naming why.
    let o = run(bin!().arg("profile").arg(&dir).args(["--options", "{}"]).env("MLXPORT_PYTHON", &py));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("serves mlx-lm"), "{}", describe(&o));
}

/// A zip of stored members (a PyTorch checkpoint's container).
fn write_zip(path: &Path, members: &[(&str, &[u8])]) {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in members {
        let crc = crc32fast::hash(data);
        let offset = out.len() as u32;
        let header = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(&sig.to_le_bytes());
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&[0, 0, 0, 0]); // flags, method: stored
            h.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            if central {
                h.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
                h.extend_from_slice(&0u32.to_le_bytes()); // external attributes
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend_from_slice(data);
        central.extend(header(0x0201_4b50, true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, out).unwrap();
}

/// Stopped with exit 1 at `at`, with the remediation printed and recorded;
/// returns port.json.
fn stopped(o: &Output, dir: &Path, at: &str, needle: &str) -> Value {
    assert_eq!(o.status.code(), Some(1), "{}", describe(o));
    let p = read_json(&dir.join("port.json"));
    assert_eq!(p["status"], "stopped", "{p:#}");
    assert_eq!(p["stopped_at"], at, "{p:#}");
    assert_eq!(status(&p, at), "blocked");
    let rem: Vec<&str> = p["remediation"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(rem.iter().any(|r| r.contains(needle)), "remediation lacks '{needle}': {rem:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("STOPPED") && out.contains(&format!("'{at}'")) && out.contains(needle), "{}", describe(o));
    assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "{}", describe(o));
    check_artifacts(dir, &p);
    // Nothing after the stop ran.
    let last = p["steps"].as_array().unwrap().last().unwrap();
    assert_eq!(last["name"], at);
    for later in ["oracle/oracle.npz", "weights", "capture", "parity", "package"] {
        assert!(!dir.join(later).exists(), "{later} exists after a stop at {at}");
    }
    p
}

#[test]
fn blocked_models_stop_at_the_right_step_with_the_remediation() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // Remote code: stopped at inspect, nothing run.
    let m = root.join("remote");
    remote_code_model(&m);
    let dir = root.join("out-remote");
    let o = run(port(root, None).arg(&m).arg("--out").arg(&dir));
    let p = stopped(&o, &dir, "inspect", "remote-code");
    assert_eq!(p["source"]["model"], "remote", "an absolute MODEL path is recorded by its name");
    assert!(dir.join("inspection.json").is_file() && dir.join("inspection.md").is_file());
    assert!(!dir.join("plan.json").exists());
    assert!(p["remediation"].to_string().contains("trust_remote_code") || p["remediation"].to_string().contains("remote"), "{p:#}");

    // An executable pickle as the weights: stopped at inspect, never loaded.
    let m = root.join("pickle");
    write_json(&m.join("config.json"), &json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}));
    let marker = root.join("PWNED");
    // Protocol 2: GLOBAL posix.system, a one-string tuple, REDUCE.
    let mut pkl: Vec<u8> = vec![0x80, 0x02];
    pkl.extend_from_slice(b"cposix\nsystem\nq\x00X");
    let cmd = format!("touch {}", marker.display());
    pkl.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    pkl.extend_from_slice(cmd.as_bytes());
    pkl.extend_from_slice(b"q\x01\x85q\x02Rq\x03.");
    write_zip(&m.join("pytorch_model.bin"), &[("archive/data.pkl", &pkl), ("archive/version", b"3\n")]);
    let dir = root.join("out-pickle");
    let o = run(port(root, None).arg(&m).arg("--out").arg(&dir));
    stopped(&o, &dir, "inspect", "executable-pickle");
    assert!(!marker.exists(), "the pickle's payload ran");

    // A family the port cannot prove end to end (a time-series
    // forecaster): the plan is written, marked for a port by hand, and the
    // port stops there naming the families it proves, before any model runs.
    let m = root.join("patchtst");
    time_series_model(&m);
    let dir = root.join("out-patchtst");
    let o = run(port(root, None).arg(&m).arg("--out").arg(&dir));
    let p = stopped(&o, &dir, "plan", "family-not-automated");
    assert!(p["remediation"].to_string().contains("dense-decoder, moe-decoder, encoder, encoder-decoder, vision"), "{p:#}");
    assert_eq!(read_json(&dir.join("plan.json"))["status"], "manual");
    assert!(std::fs::read_to_string(dir.join("plan.md")).unwrap().contains("Manual port"));

    // A restricted license without acceptance: stopped at plan.
    let m = root.join("moe");
    restricted_fused_moe(&m);
    let dir = root.join("out-moe");
    let o = run(port(root, None).arg(&m).arg("--out").arg(&dir));
    let p = stopped(&o, &dir, "plan", "--accept-license");
    assert_eq!(status(&p, "inspect"), "done");
    assert!(dir.join("plan.json").is_file() && dir.join("plan.md").is_file());
    let inspected = step(&p, "inspect")["finished_at"].clone();

    // Accepted: the port goes on and stops at the weight map it cannot
    // resolve, naming the tensor; the inspection is not redone.
    let o = run(port(root, None).arg(&m).arg("--out").arg(&dir).arg("--accept-license"));
    let p = stopped(&o, &dir, "map-validate", "model.layers.0.block_sparse_moe.experts.gate_up_proj");
    assert_eq!(step(&p, "inspect")["finished_at"], inspected);
    assert_eq!((status(&p, "plan").as_str(), status(&p, "map-draft").as_str()), ("done", "done"));
    assert_eq!(p["target"], "mlx-lm");
    let map = read_json(&dir.join("weight_map.json"));
    assert_eq!(map["unresolved"][0]["source"], "model.layers.0.block_sparse_moe.experts.gate_up_proj");
    assert_eq!(read_json(&dir.join("map-validation.json"))["ok"], false);
    assert!(p["remediation"].to_string().contains("weight_map.json"), "says what to edit: {p:#}");

    // Another model into the same PORT_DIR: refused, unless --yes.
    let remote = root.join("remote");
    let o = run(port(root, None).arg(&remote).arg("--out").arg(&dir));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds the port of another model"), "{}", describe(&o));
    assert!(dir.join("weight_map.json").is_file(), "nothing touched");
    let o = run(port(root, None).arg(&remote).arg("--out").arg(&dir).arg("--yes"));
    stopped(&o, &dir, "inspect", "remote-code");
    for stale in ["plan.json", "weight_map.json", "map-validation.json"] {
        assert!(!dir.join(stale).exists(), "{stale} of the replaced port is left");
    }

    // Conflicting or bad optimization options are refused clearly, before
    // any step runs.
    for (args, needle) in [
        (&["--optimize", "--bits", "4"][..], "cannot be used with"),
        (&["--optimize", "--optimize-candidates", "q7g64"][..], "--optimize-candidates"),
        (&["--optimize-candidates", "q8g64"][..], "--optimize"),
        (&["--optimize", "--optimize-objective", "fastest"][..], "fastest"),
    ] {
        let o = run(port(root, None).arg(&m).arg("--out").arg(&dir).args(args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", describe(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "{args:?}: {}", describe(&o));
    }
    assert!(!dir.join("optimize").exists() && !dir.join("oracle").exists(), "a refused option ran a step");
    // Bad quantization options too.
    let o = run(port(root, None).arg(&m).arg("--out").arg(&dir).args(["--bits", "7"]));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let o = run(port(root, None).arg(&m).arg("--out").arg(&dir).args(["--quality-thresholds", "cosine_min=0.9"]));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("goes with -q/--quantize or --optimize"), "{}", describe(&o));
}

/// The YAML front matter of a model card as (key, value) lines, nested
/// keys as `parent.key`.
fn front_matter(card: &str) -> BTreeMap<String, String> {
    let body = card.strip_prefix("---\n").unwrap().split("\n---\n").next().unwrap();
    let mut out = BTreeMap::new();
    let mut parent = String::new();
    for l in body.lines() {
        let Some((k, v)) = l.split_once(':') else { continue };
        if let Some(k) = k.strip_prefix("  ") {
            out.insert(format!("{parent}.{}", k.trim_matches('"')), v.trim().trim_matches('"').to_string());
        } else {
            parent = k.to_string();
            out.insert(k.to_string(), v.trim().to_string());
        }
    }
    out
}

const FLOAT_STEPS: &[&str] = &["inspect", "plan", "map-draft", "map-validate", "oracle", "convert", "scaffold", "capture", "parity"];

#[test]
fn minilm_quantized_port_passes_the_gate_at_8_bits_and_stops_at_quality_at_2_bits() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dir = cwd.join("q");
    let o = run(port(cwd, Some(&py)).args(["-q", "--bits", "8", "--out"]).arg(&dir));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let p = read_json(&dir.join("port.json"));
    assert_eq!(p["status"], "complete");
    for s in FLOAT_STEPS.iter().chain(&["quantize", "quality", "bench", "report", "package"]) {
        assert_eq!(status(&p, s), "done", "{s}: {:#}", step(&p, s));
    }
    // The encoder's benchmark: sentences/s by batch size through the
    // package, float and quantized, receipts `bench check` accepts.
    assert!(step(&p, "bench")["summary"].as_str().unwrap().contains("quantized sentences/s batch 1:"), "{:#}", step(&p, "bench"));
    for f in ["float", "quantized"] {
        let r = read_json(&dir.join(format!("bench/{f}.json")));
        assert_eq!(r["workload"]["kind"], "embed", "{r:#}");
        let labels: Vec<&str> = r["benchmarks"].as_array().unwrap().iter().map(|b| b["label"].as_str().unwrap()).collect();
        assert_eq!(labels, ["batch 1", "batch 8, bucketed", "batch 32, bucketed"]);
        let o = Command::new(env!("CARGO_BIN_EXE_mlxport")).args(["bench", "check"]).arg(dir.join(format!("bench/{f}.json"))).output().unwrap();
        assert!(o.status.success(), "{}", describe(&o));
    }
    check_artifacts(&dir, &p);
    let q = read_json(&dir.join("quantized/config.json"))["quantization"].clone();
    assert_eq!((q["bits"].as_u64(), q["group_size"].as_u64()), (Some(8), Some(64)), "{q}");
    // The gate: embedding cosine and retrieval agreement, every check passed.
    let g = read_json(&dir.join("quality/quality.json"));
    assert_eq!((g["kind"].as_str(), g["verdict"].as_str()), (Some("encoder"), Some("pass")), "{g:#}");
    let names: Vec<&str> = g["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for n in ["cosine_mean", "cosine_min", "overlap", "spearman"] {
        assert!(names.contains(&n), "{n} not checked: {names:?}");
    }
    assert!(g["checks"].as_array().unwrap().iter().all(|c| c["pass"] == true));
    let cm = g["checks"].as_array().unwrap().iter().find(|c| c["name"] == "cosine_mean").unwrap()["value"].as_f64().unwrap();
    assert!(cm < 1.0 && cm > 0.999, "8-bit weights change the embeddings a little: {cm}");
    assert_eq!((g["reference"].as_str(), g["candidate"].as_str()), (Some("weights"), Some("quantized")));
    assert!(dir.join("quality/quality.md").is_file());
    // The package ships the quantized weights, loaded strictly by its own
    // package in the smoke test; the card states the quantization.
    assert!(step(&p, "package")["summary"].as_str().unwrap().contains("smoke test passed"), "{:#}", step(&p, "package"));
    assert_eq!(read_json(&dir.join("package/config.json"))["quantization"], q);
    let card = std::fs::read_to_string(dir.join("package/README.md")).unwrap();
    let f = front_matter(&card);
    assert_eq!((f.get("quantization.bits").map(String::as_str), f.get("quantization.group_size").map(String::as_str)), (Some("8"), Some("64")), "{f:?}");
    assert!(card.contains("quality gate of `quantized` against `weights` (mlxport quality): **pass**"), "{card}");
    let r = read_json(&dir.join("report/report.json"));
    assert_eq!(r["quality"]["verdict"], "pass");
    let acc = &r["optimizations"]["accepted"][0];
    assert!(acc["optimization"].as_str().unwrap().contains("8-bit"), "{r:#}");
    assert!(acc["quantized_bytes"].as_u64().unwrap() * 3 < acc["float_bytes"].as_u64().unwrap(), "8-bit weights are under a third of float32");
    let md = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    assert!(md.contains("## Quality gate\n\nVerdict: **pass**") && md.contains("| cosine_mean |"), "{md}");

    // 2 bits: the quantize step is redone, the gate fails and the port
    // stops there with the reasons; the proven float port is kept and the
    // 8-bit package and report are gone.
    let before = fingerprints(&p);
    let o = run(port(cwd, Some(&py)).args(["--bits", "2", "--out"]).arg(&dir));
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let p = read_json(&dir.join("port.json"));
    assert_eq!((p["status"].as_str(), p["stopped_at"].as_str()), (Some("failed"), Some("quality")), "{p:#}");
    assert_eq!(status(&p, "quality"), "failed");
    let now = fingerprints(&p);
    for s in FLOAT_STEPS {
        assert_eq!(now[*s], before[*s], "{s} was redone");
    }
    assert_ne!(now["quantize"].1, before["quantize"].1);
    let g = read_json(&dir.join("quality/quality.json"));
    assert_eq!(g["verdict"], "fail");
    let reasons: Vec<&str> = g["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(!reasons.is_empty());
    let rem = p["remediation"].to_string();
    assert!(rem.contains(reasons[0]) && rem.contains("--bits 8"), "{rem}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("'quality'") && out.contains(reasons[0]), "{}", describe(&o));
    for gone in ["package", "report", "bench"] {
        assert!(!dir.join(gone).exists(), "{gone} left from the 8-bit port");
    }
    assert_eq!(read_json(&dir.join("quantized/config.json"))["quantization"]["bits"], 2);
    check_artifacts(&dir, &p);
}

/// Every text file under `dir` (JSON, Markdown, HTML, Python, SVG).
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            text_files(&p, out);
        } else if p.extension().is_some_and(|x| ["json", "md", "html", "py", "svg", "txt"].iter().any(|t| x == *t)) {
            out.push(p);
        }
    }
}

#[test]
fn minilm_optimized_port_ships_the_chosen_candidate_and_reports_every_decision() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dir = cwd.join("opt");
    let args = ["--optimize", "--optimize-objective", "peak-memory", "--optimize-candidates"];
    let o = run(port(cwd, Some(&py)).args(args).arg("bf16,q8g64,q2g64").arg("--out").arg(&dir));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let p = read_json(&dir.join("port.json"));
    assert_eq!(p["status"], "complete");
    for s in FLOAT_STEPS.iter().chain(&["optimize", "report", "package"]) {
        assert_eq!(status(&p, s), "done", "{s}: {:#}", step(&p, s));
    }
    for s in ["quantize", "quality", "bench"] {
        assert_eq!(status(&p, s), "skipped");
        assert!(step(&p, s)["summary"].as_str().unwrap().contains("--optimize"), "{:#}", step(&p, s));
    }
    check_artifacts(&dir, &p);

    // The search: every candidate gated against the float weights; 2 bits
    // fails the encoder gate and is reverted; the smallest passing one is
    // chosen for peak memory.
    let doc = read_json(&dir.join("optimize/optimize.json"));
    assert_eq!(doc["schema"], "mlxport.optimize/v1");
    let rec = |id: &str| doc["records"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no record {id}: {doc:#}")).clone();
    let q2 = rec("q2g64");
    assert_eq!((q2["correctness"]["quality_verdict"].as_str(), q2["decision"]["keep"].as_bool()), (Some("fail"), Some(false)), "{q2:#}");
    assert!(q2["decision"]["reason"].as_str().unwrap().contains("quality gate"), "{q2:#}");
    for id in ["bf16", "q8g64"] {
        let r = rec(id);
        assert_eq!((r["correctness"]["quality_verdict"].as_str(), r["decision"]["keep"].as_bool()), (Some("pass"), Some(true)), "{r:#}");
    }
    assert_eq!(doc["chosen"]["id"], "q8g64", "{:#}", doc["chosen"]);
    assert!(step(&p, "optimize")["summary"].as_str().unwrap().contains("chosen q8g64"), "{:#}", step(&p, "optimize"));
    for f in ["OPTIMIZATIONS.md", "quality/q8g64.json", "quality/q2g64.json", "records/q2g64.json", "chosen/config.json", "chosen/model.safetensors"] {
        assert!(dir.join("optimize").join(f).is_file(), "optimize/{f} missing");
    }
    assert!(!dir.join("optimize/candidates").exists(), "reverted checkpoints are not kept");
    let g = read_json(&dir.join("optimize/quality/q8g64.json"));
    assert_eq!((g["reference"].as_str(), g["candidate"].as_str()), (Some("weights"), Some("optimize/chosen")), "PORT_DIR-relative: {g:#}");

    // The chosen weights are what mx.quantize makes of the float ones (in
    // bf16: the kept bf16 change carries over to later candidates).
    assert_eq!(rec("q8g64")["on_top_of"], "bf16");
    let check = Command::new(&py)
        .arg("-c")
        .arg(
            r#"
import sys, mlx.core as mx
w = mx.load(sys.argv[1] + "/model.safetensors")
q = mx.load(sys.argv[2] + "/model.safetensors")
name = "encoder.layer.0.attention.self.query"
wq, s, b = mx.quantize(w[name + ".weight"].astype(mx.bfloat16), group_size=64, bits=8)
assert mx.array_equal(wq, q[name + ".weight"]).item() and mx.array_equal(s, q[name + ".scales"]).item() and mx.array_equal(b, q[name + ".biases"]).item()
assert q[name + ".bias"].dtype == mx.bfloat16
"#,
        )
        .arg(dir.join("weights"))
        .arg(dir.join("optimize/chosen"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));

    // The package ships the chosen checkpoint, byte for byte, and its own
    // package loads it in the smoke test; the card states the quantization.
    assert!(step(&p, "package")["summary"].as_str().unwrap().contains("smoke test passed"), "{:#}", step(&p, "package"));
    assert_eq!(file_sha256(&dir.join("package/model.safetensors")), file_sha256(&dir.join("optimize/chosen/model.safetensors")));
    assert_eq!(read_json(&dir.join("package/config.json"))["quantization"]["bits"], 8);
    let card = std::fs::read_to_string(dir.join("package/README.md")).unwrap();
    assert_eq!(front_matter(&card).get("quantization.bits").map(String::as_str), Some("8"), "{card}");
    assert!(card.contains("mlxport optimize weights --work-dir optimize --objective peak-memory --candidates bf16,q8g64,q2g64"), "{card}");

    // The report: each candidate accepted or rejected with the reason, the
    // chosen one marked, the chosen candidate's gate as the quality section.
    let r = read_json(&dir.join("report/report.json"));
    let find = |bucket: &str, id: &str| r["optimizations"][bucket].as_array().unwrap().iter().find(|x| x["candidate"] == id).cloned();
    let chosen = find("accepted", "q8g64").unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(chosen["chosen"], true);
    assert!(find("accepted", "bf16").is_some_and(|x| x["chosen"] == false), "{r:#}");
    let rejected = find("rejected", "q2g64").unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(rejected["quality_verdict"], "fail");
    assert_eq!(r["optimizations"]["search"]["chosen"], "q8g64");
    assert_eq!((r["quality"]["verdict"].as_str(), r["quality"]["candidate"].as_str()), (Some("pass"), Some("optimize/chosen")));
    let md = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    for needle in [
        "Optimization search (`optimize/OPTIMIZATIONS.md`), objective peak-memory: chosen **q8g64**",
        "- accepted (chosen): candidate `q8g64`",
        "- rejected: candidate `q2g64`",
        "quality gate fail",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle}: {md}");
    }
    // No path of this machine in anything written.
    let mut files = Vec::new();
    for d in ["optimize", "report", "package"] {
        text_files(&dir.join(d), &mut files);
    }
    let root = cwd.display().to_string();
    let real = std::fs::canonicalize(cwd).unwrap().display().to_string();
    for f in &files {
        let t = std::fs::read_to_string(f).unwrap_or_default();
        assert!(!t.contains(&root) && !t.contains(&real), "{} names a local path", f.display());
    }

    // One more candidate: only the search runs again, and it reuses every
    // candidate it finished before.
    let before = fingerprints(&p);
    let o = run(port(cwd, Some(&py)).args(args).arg("bf16,q8g64,q2g64,q4g128").arg("--out").arg(&dir));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let p = read_json(&dir.join("port.json"));
    let now = fingerprints(&p);
    for s in FLOAT_STEPS {
        assert_eq!(now[*s], before[*s], "{s} was redone");
    }
    assert_ne!(now["optimize"].1, before["optimize"].1);
    let doc = read_json(&dir.join("optimize/optimize.json"));
    let reused: Vec<&str> = doc["records"].as_array().unwrap().iter().filter(|r| r["reused"] == true).map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(reused, ["bf16", "q8g64", "q2g64"], "{doc:#}");
    assert_eq!(doc["records"].as_array().unwrap().len(), 4);
    check_artifacts(&dir, &p);

    // Without --optimize: the search's outputs go, the float weights ship.
    let o = run(port(cwd, Some(&py)).arg("--out").arg(&dir));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let p = read_json(&dir.join("port.json"));
    assert_eq!(status(&p, "optimize"), "skipped");
    assert!(!dir.join("optimize").exists(), "optimize/ of the earlier run is left");
    assert!(read_json(&dir.join("package/config.json")).get("quantization").is_none(), "the package still ships the optimized weights");
    assert_eq!(file_sha256(&dir.join("package/model.safetensors")), file_sha256(&dir.join("weights/model.safetensors")));
    check_artifacts(&dir, &p);
}
