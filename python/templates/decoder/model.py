"""The {{PACKAGE}} model: a {{MODEL_TYPE}}-style dense decoder in MLX.

A first port, written to be read: float weights, no compile, no custom
kernels, an explicit KV cache, and shape assertions around every
non-trivial transform. Parameter names are the Hugging Face / mlx-lm names
(`model.layers.N.self_attn.q_proj.weight`, ...), so converted weights load
strictly, with nothing missing and nothing extra.

`capture`, when given a dict, receives the output of every ladder boundary
under the names the mlxport oracle uses: `embeddings`, `layers.N`,
`final_norm`, `logits`.
"""

from typing import List, Optional

import mlx.core as mx
import mlx.nn as nn

from .cache import KVCache
from .config import ModelArgs
from .rope import RoPE


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_heads = args.num_attention_heads
        self.n_kv_heads = args.num_key_value_heads
        self.head_dim = args.head_dim
        assert self.n_heads % self.n_kv_heads == 0, "query heads must be a multiple of KV heads (GQA)"
        self.scale = self.head_dim ** -0.5
        h = args.hidden_size
        self.q_proj = nn.Linear(h, self.n_heads * self.head_dim, bias=args.q_bias)
        self.k_proj = nn.Linear(h, self.n_kv_heads * self.head_dim, bias=args.k_bias)
        self.v_proj = nn.Linear(h, self.n_kv_heads * self.head_dim, bias=args.v_bias)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, h, bias=args.o_bias)
        self.qk_norm = args.qk_norm
        if self.qk_norm:
            self.q_norm = nn.RMSNorm(self.head_dim, eps=args.rms_norm_eps)
            self.k_norm = nn.RMSNorm(self.head_dim, eps=args.rms_norm_eps)
        self.rope = RoPE(self.head_dim, args.rope_theta, args.rope_traditional, args.rope_scaling, args.max_position_embeddings)

    def __call__(self, x: mx.array, mask, cache: Optional[KVCache]) -> mx.array:
        B, L, _ = x.shape
        q = self.q_proj(x).reshape(B, L, self.n_heads, self.head_dim)
        k = self.k_proj(x).reshape(B, L, self.n_kv_heads, self.head_dim)
        v = self.v_proj(x).reshape(B, L, self.n_kv_heads, self.head_dim)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        # [B, L, heads, D] -> [B, heads, L, D]
        q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))
        offset = cache.offset if cache is not None else 0
        q = self.rope(q, offset=offset)
        k = self.rope(k, offset=offset)
        if cache is not None:
            k, v = cache.update(k, v)
        S = k.shape[2]
        assert q.shape == (B, self.n_heads, L, self.head_dim), q.shape
        assert k.shape == v.shape == (B, self.n_kv_heads, S, self.head_dim), (k.shape, v.shape)
        assert S == offset + L, (S, offset, L)
        # GQA: mx.fast.scaled_dot_product_attention shares each KV head
        # across n_heads / n_kv_heads query heads.
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        assert out.shape == (B, self.n_heads, L, self.head_dim), out.shape
        out = out.transpose(0, 2, 1, 3).reshape(B, L, self.n_heads * self.head_dim)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        h, i = args.hidden_size, args.intermediate_size
        self.gate_proj = nn.Linear(h, i, bias=args.mlp_bias)
        self.up_proj = nn.Linear(h, i, bias=args.mlp_bias)
        self.down_proj = nn.Linear(i, h, bias=args.mlp_bias)

    def __call__(self, x: mx.array) -> mx.array:
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, args: ModelArgs, index: int = 0):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.self_attn = Attention(args)
        self.post_attention_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        # The feed-forward: a dense MLP, or a mixture of experts (moe.py)
        # under the name its weights use.
        self.ffn_name = "mlp"
        sparse = None
        if args.moe is not None:
            from .moe import feed_forward

            sparse = feed_forward(args, index)
        if sparse is None:
            self.mlp = MLP(args)
        else:
            self.ffn_name = args.moe.ffn_name
            setattr(self, self.ffn_name, sparse)

    def __call__(self, x: mx.array, mask, cache: Optional[KVCache]) -> mx.array:
        h = x + self.self_attn(self.input_layernorm(x), mask, cache)
        return h + getattr(self, self.ffn_name)(self.post_attention_layernorm(h))


class DecoderStack(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [Block(args, i) for i in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.model = DecoderStack(args)
        if not args.tie_word_embeddings:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, input_ids: mx.array, cache: Optional[List[KVCache]] = None, capture: Optional[dict] = None) -> mx.array:
        """input_ids [B, L] -> logits [B, L, vocab]. With a cache, L new
        tokens follow the cached positions."""
        assert input_ids.ndim == 2, input_ids.shape
        B, L = input_ids.shape
        if cache is not None:
            assert len(cache) == len(self.model.layers)
        h = self.model.embed_tokens(input_ids)
        _keep(capture, "embeddings", h)
        # Causal mask over the new positions (aligned to the end of the
        # cache); a single new token attends to everything before it.
        mask = "causal" if L > 1 else None
        for i, layer in enumerate(self.model.layers):
            h = layer(h, mask, cache[i] if cache is not None else None)
            _keep(capture, f"layers.{i}", h)
        h = self.model.norm(h)
        _keep(capture, "final_norm", h)
        if self.args.tie_word_embeddings:
            logits = self.model.embed_tokens.as_linear(h)
        else:
            logits = self.lm_head(h)
        assert logits.shape == (B, L, self.args.vocab_size), logits.shape
        _keep(capture, "logits", logits)
        return logits


def _keep(capture, name, x):
    if capture is not None:
        capture[name] = x
