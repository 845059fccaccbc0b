//! GGUF (llama.cpp) tensor names of the llama family and their Hugging
//! Face / mlx-lm names.
//!
//! The table follows llama.cpp's `gguf-py` names (`MODEL_TENSOR` in
//! `gguf/constants.py`) and transformers' GGUF loader. For the `llama`
//! architecture llama.cpp permutes the rows of the Q and K projections for
//! its RoPE layout; the map undoes that with `unpermute_rope` (Q with
//! `head_count` heads, K with `head_count_kv`), as transformers does.
//! Dimensions need no change: the tensor reader already gives row-major
//! shapes (`[out, in]`).

/// Architectures whose names this table covers.
pub const ARCHITECTURES: &[&str] = &["llama", "mistral", "qwen2", "qwen3", "qwen2moe", "qwen3moe"];

/// Whether llama.cpp permuted Q/K rows for this architecture (its
/// `LlamaModel` converter does; transformers undoes it for `llama`).
pub fn permutes_qk(arch: &str) -> bool {
    matches!(arch, "llama" | "mistral")
}

/// What a GGUF name becomes.
pub struct GgufName {
    pub gguf: &'static str,
    pub hf: String,
    /// Q or K projection: undo the RoPE row permutation.
    pub rope: Option<Rope>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rope {
    Q,
    K,
}

/// Names for the dense llama family (global tensors and `blk.{i}.*`).
pub fn table(arch: &str) -> Vec<GgufName> {
    let moe_prefix = if matches!(arch, "llama" | "mistral") { "block_sparse_moe" } else { "mlp" };
    let mut t = vec![
        n("token_embd.weight", "model.embed_tokens.weight"),
        n("output_norm.weight", "model.norm.weight"),
        n("output.weight", "lm_head.weight"),
        n("blk.{i}.attn_norm.weight", "model.layers.{i}.input_layernorm.weight"),
        GgufName { gguf: "blk.{i}.attn_q.weight", hf: "model.layers.{i}.self_attn.q_proj.weight".into(), rope: Some(Rope::Q) },
        GgufName { gguf: "blk.{i}.attn_k.weight", hf: "model.layers.{i}.self_attn.k_proj.weight".into(), rope: Some(Rope::K) },
        n("blk.{i}.attn_v.weight", "model.layers.{i}.self_attn.v_proj.weight"),
        n("blk.{i}.attn_output.weight", "model.layers.{i}.self_attn.o_proj.weight"),
        GgufName { gguf: "blk.{i}.attn_q.bias", hf: "model.layers.{i}.self_attn.q_proj.bias".into(), rope: Some(Rope::Q) },
        GgufName { gguf: "blk.{i}.attn_k.bias", hf: "model.layers.{i}.self_attn.k_proj.bias".into(), rope: Some(Rope::K) },
        n("blk.{i}.attn_v.bias", "model.layers.{i}.self_attn.v_proj.bias"),
        n("blk.{i}.attn_output.bias", "model.layers.{i}.self_attn.o_proj.bias"),
        n("blk.{i}.attn_q_norm.weight", "model.layers.{i}.self_attn.q_norm.weight"),
        n("blk.{i}.attn_k_norm.weight", "model.layers.{i}.self_attn.k_norm.weight"),
        n("blk.{i}.ffn_norm.weight", "model.layers.{i}.post_attention_layernorm.weight"),
        n("blk.{i}.ffn_gate.weight", "model.layers.{i}.mlp.gate_proj.weight"),
        n("blk.{i}.ffn_up.weight", "model.layers.{i}.mlp.up_proj.weight"),
        n("blk.{i}.ffn_down.weight", "model.layers.{i}.mlp.down_proj.weight"),
    ];
    // MoE: llama.cpp stores experts already stacked, [E, out, in] in
    // row-major order: exactly mlx-lm's switch_mlp layout.
    let moe: &[(&'static str, &'static str, &'static str)] = &[
        ("blk.{i}.ffn_gate_inp.weight", "block_sparse_moe.gate.weight", "mlp.gate.weight"),
        ("blk.{i}.ffn_gate_exps.weight", "block_sparse_moe.switch_mlp.gate_proj.weight", "mlp.switch_mlp.gate_proj.weight"),
        ("blk.{i}.ffn_up_exps.weight", "block_sparse_moe.switch_mlp.up_proj.weight", "mlp.switch_mlp.up_proj.weight"),
        ("blk.{i}.ffn_down_exps.weight", "block_sparse_moe.switch_mlp.down_proj.weight", "mlp.switch_mlp.down_proj.weight"),
    ];
    for (g, mixtral, qwen) in moe {
        let tail = if moe_prefix == "block_sparse_moe" { mixtral } else { qwen };
        t.push(GgufName { gguf: g, hf: format!("model.layers.{{i}}.{tail}"), rope: None });
    }
    t
}

fn n(gguf: &'static str, hf: &'static str) -> GgufName {
    GgufName { gguf, hf: hf.into(), rope: None }
}

/// GGUF tensors a conversion leaves out, with their category and reason.
pub fn generated(name: &str) -> Option<&'static str> {
    match name {
        "rope_freqs.weight" => Some("llama 3 RoPE frequency factors; mlx-lm recomputes them from rope_scaling in config.json"),
        _ if name.ends_with(".attn_rot_embd") => Some("precomputed rotary table; recomputed at run time"),
        _ => None,
    }
}
