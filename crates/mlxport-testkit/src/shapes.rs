//! Tensor names and shapes of small checkpoints the tests build.

/// The sizes of a llama-shaped decoder.
#[derive(Clone, Copy, Debug)]
pub struct Llama {
    pub vocab: u64,
    pub hidden: u64,
    /// Rows of `k_proj`/`v_proj` (key-value heads x head dim).
    pub kv: u64,
    pub intermediate: u64,
    pub layers: u64,
}

impl Llama {
    /// Every weight in Hugging Face naming, in the order a converter meets
    /// them: embedding and final norm, then per block both norms, the four
    /// attention projections and the three MLP projections.
    pub fn tensors(&self) -> Vec<(String, Vec<u64>)> {
        let (h, kv, i) = (self.hidden, self.kv, self.intermediate);
        let mut specs: Vec<(String, Vec<u64>)> = vec![("model.embed_tokens.weight".into(), vec![self.vocab, h]), ("model.norm.weight".into(), vec![h])];
        for l in 0..self.layers {
            for (n, s) in [
                ("input_layernorm", vec![h]),
                ("post_attention_layernorm", vec![h]),
                ("self_attn.q_proj", vec![h, h]),
                ("self_attn.k_proj", vec![kv, h]),
                ("self_attn.v_proj", vec![kv, h]),
                ("self_attn.o_proj", vec![h, h]),
                ("mlp.gate_proj", vec![i, h]),
                ("mlp.up_proj", vec![i, h]),
                ("mlp.down_proj", vec![h, i]),
            ] {
                specs.push((format!("model.layers.{l}.{n}.weight"), s));
            }
        }
        specs
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_shapes() {
        let t = super::Llama { vocab: 16, hidden: 8, kv: 4, intermediate: 12, layers: 2 }.tensors();
        assert_eq!(t.len(), 2 + 2 * 9);
        assert_eq!(t[0], ("model.embed_tokens.weight".to_string(), vec![16, 8]));
        assert_eq!(t[5], ("model.layers.0.self_attn.k_proj.weight".to_string(), vec![4, 8]));
        assert_eq!(t[19], ("model.layers.1.mlp.down_proj.weight".to_string(), vec![8, 12]));
    }
}
