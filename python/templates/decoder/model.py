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
from .config import ACTIVATIONS, ModelArgs
from .rope import RoPE


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_heads = args.num_attention_heads
        self.n_kv_heads = args.num_key_value_heads
        self.head_dim = args.head_dim
        assert self.n_heads % self.n_kv_heads == 0, "query heads must be a multiple of KV heads (GQA)"
        self.scale = args.attn_scale if args.attn_scale is not None else self.head_dim ** -0.5
        self.softcap = args.attn_softcap
        h = args.hidden_size
        self.q_proj = nn.Linear(h, self.n_heads * self.head_dim, bias=args.q_bias)
        self.k_proj = nn.Linear(h, self.n_kv_heads * self.head_dim, bias=args.k_bias)
        self.v_proj = nn.Linear(h, self.n_kv_heads * self.head_dim, bias=args.v_bias)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, h, bias=args.o_bias)
        self.qk_norm = args.qk_norm
        # QK-norm over each head (qwen3) or over the whole projection (olmo2).
        self.qk_full = args.qk_norm_scope == "full"
        if self.qk_norm:
            qd, kd = (self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim) if self.qk_full else (self.head_dim, self.head_dim)
            self.q_norm = make_norm(args, qd)
            self.k_norm = make_norm(args, kd)
        self.rope = RoPE(self.head_dim, args.rope_theta, args.rope_traditional, args.rope_scaling, args.max_position_embeddings)

    def __call__(self, x: mx.array, mask, cache: Optional[KVCache]) -> mx.array:
        B, L, _ = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if self.qk_norm and self.qk_full:
            q, k = self.q_norm(q), self.k_norm(k)
        q = q.reshape(B, L, self.n_heads, self.head_dim)
        k = k.reshape(B, L, self.n_kv_heads, self.head_dim)
        v = v.reshape(B, L, self.n_kv_heads, self.head_dim)
        if self.qk_norm and not self.qk_full:
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
        if self.softcap is not None:
            out = softcapped_attention(q, k, v, self.scale, self.softcap, mask)
        else:
            # GQA: mx.fast.scaled_dot_product_attention shares each KV head
            # across n_heads / n_kv_heads query heads.
            out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        assert out.shape == (B, self.n_heads, L, self.head_dim), out.shape
        out = out.transpose(0, 2, 1, 3).reshape(B, L, self.n_heads * self.head_dim)
        return self.o_proj(out)


def softcapped_attention(q, k, v, scale, cap, mask):
    """Attention with the logits soft-capped (cap * tanh(s / cap)) before the
    mask, which mx.fast.scaled_dot_product_attention cannot do."""
    B, H, L, D = q.shape
    kvh = k.shape[1]
    if kvh != H:
        k = mx.repeat(k, H // kvh, axis=1)
        v = mx.repeat(v, H // kvh, axis=1)
    scores = (q * scale) @ k.transpose(0, 1, 3, 2)
    scores = mx.tanh(scores / cap) * cap
    if mask is not None:
        scores = mx.where(mask, scores, mx.array(-mx.inf, scores.dtype))
    return mx.softmax(scores.astype(mx.float32), axis=-1).astype(v.dtype) @ v


def attention_mask(L: int, offset: int, window: Optional[int]):
    """Boolean [L, offset + L] mask: causal, and with a window a query at
    position p sees keys at p - window < k <= p (transformers' sliding
    window). None when every key is visible."""
    if window is None and L == 1:
        return None
    q = mx.arange(offset, offset + L)[:, None]
    k = mx.arange(offset + L)[None, :]
    m = k <= q
    if window is not None:
        m = m & (k > q - window)
    return m


class RMSNorm(nn.Module):
    """RMSNorm; with `offset` the scale is (1 + weight) (gemma)."""

    def __init__(self, dims: int, eps: float, offset: bool):
        super().__init__()
        self.weight = mx.zeros((dims,)) if offset else mx.ones((dims,))
        self.eps = eps
        self.offset = offset

    def __call__(self, x: mx.array) -> mx.array:
        w = 1.0 + self.weight if self.offset else self.weight
        return mx.fast.rms_norm(x, w, self.eps)


def make_norm(args: ModelArgs, dims: int):
    if args.norm_type == "layer":
        return nn.LayerNorm(dims, eps=args.rms_norm_eps)
    return RMSNorm(dims, args.rms_norm_eps, args.norm_offset)


class MLP(nn.Module):
    """Gated (gate_proj, up_proj, down_proj) or plain (c_fc, c_proj)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        h, i = args.hidden_size, args.intermediate_size
        self.gated = args.gated_mlp
        self.act = getattr(nn, ACTIVATIONS[args.hidden_act])
        if self.gated:
            self.gate_proj = nn.Linear(h, i, bias=args.mlp_bias)
            self.up_proj = nn.Linear(h, i, bias=args.mlp_bias)
            self.down_proj = nn.Linear(i, h, bias=args.mlp_bias)
        else:
            self.c_fc = nn.Linear(h, i, bias=args.mlp_bias)
            self.c_proj = nn.Linear(i, h, bias=args.mlp_bias)

    def __call__(self, x: mx.array) -> mx.array:
        if self.gated:
            return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    """Norm placement: "pre" (llama: input_layernorm before attention,
    post_attention_layernorm before the MLP), "sandwich" (gemma2: a norm
    before and after each of attention and MLP) or "post" (olmo2: norms
    after attention and after the MLP only)."""

    def __init__(self, args: ModelArgs, index: int = 0, sliding: bool = False):
        super().__init__()
        self.kind = args.block_norms
        self.window = args.sliding_window if sliding else None
        h = args.hidden_size
        if self.kind != "post":
            self.input_layernorm = make_norm(args, h)
        self.self_attn = Attention(args)
        self.post_attention_layernorm = make_norm(args, h)
        if self.kind == "sandwich":
            self.pre_feedforward_layernorm = make_norm(args, h)
        if self.kind in ("sandwich", "post"):
            self.post_feedforward_layernorm = make_norm(args, h)
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
        ffn = getattr(self, self.ffn_name)
        if self.kind == "pre":
            h = x + self.self_attn(self.input_layernorm(x), mask, cache)
            return h + ffn(self.post_attention_layernorm(h))
        if self.kind == "sandwich":
            h = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), mask, cache))
            return h + self.post_feedforward_layernorm(ffn(self.pre_feedforward_layernorm(h)))
        h = x + self.post_attention_layernorm(self.self_attn(x, mask, cache))
        return h + self.post_feedforward_layernorm(ffn(h))


class DecoderStack(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        types = args.layer_types or ["full_attention"] * args.num_hidden_layers
        self.layers = [Block(args, i, t == "sliding_attention") for i, t in enumerate(types)]
        self.norm = make_norm(args, args.hidden_size)


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
        if self.args.embed_scale is not None:
            # Part of the embedding stage, as transformers' scaled embedding.
            h = h * mx.array(self.args.embed_scale, dtype=h.dtype)
        _keep(capture, "embeddings", h)
        # Causal mask over the new positions (aligned to the end of the
        # cache); a single new token attends to everything before it. A
        # sliding-window block also hides keys `window` or more positions
        # back; the cache keeps every position, so cached decoding sees
        # exactly what full recomputation sees.
        offset = cache[0].offset if cache is not None else 0
        masks = {}
        for i, layer in enumerate(self.model.layers):
            w = layer.window
            if w not in masks:
                if w is None and self.args.attn_softcap is None:
                    masks[w] = "causal" if L > 1 else None
                else:
                    masks[w] = attention_mask(L, offset, w)
            h = layer(h, masks[w], cache[i] if cache is not None else None)
            _keep(capture, f"layers.{i}", h)
        h = self.model.norm(h)
        _keep(capture, "final_norm", h)
        if self.args.tie_word_embeddings:
            logits = self.model.embed_tokens.as_linear(h)
        else:
            logits = self.lm_head(h)
        if self.args.final_softcap is not None:
            logits = mx.tanh(logits / self.args.final_softcap) * self.args.final_softcap
        assert logits.shape == (B, L, self.args.vocab_size), logits.shape
        _keep(capture, "logits", logits)
        return logits


def _keep(capture, name, x):
    if capture is not None:
        capture[name] = x
