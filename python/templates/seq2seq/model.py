"""The {{PACKAGE}} model: a {{MODEL_TYPE}} encoder-decoder in MLX.

A first port, written to be read: float weights, batch one, no compile, no
custom kernels, explicit decoder caches (self-attention grows per token,
cross-attention computed once), and shape assertions around every
non-trivial transform. Parameter names are the Hugging Face names
(`encoder.block.N.layer.0.SelfAttention.q.weight` for t5,
`model.encoder.layers.N.self_attn.q_proj.weight` for bart), so converted
weights load strictly, with nothing missing and nothing extra.

`capture`, when given a dict, receives the output of every ladder boundary
under the names the mlxport oracle uses: `encoder.embeddings`,
`encoder.layers.N`, `encoder.last_hidden_state`, `decoder.embeddings`,
`decoder.layers.N`, `decoder.final_norm` (t5), `logits`.
"""

import math
from typing import List, Optional

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .cache import LayerCache
from .config import ModelArgs


def activation(name: str):
    return {"relu": nn.relu, "gelu": nn.gelu, "gelu_approx": nn.gelu_approx, "silu": nn.silu}[name]


def causal_mask(L: int, offset: int, dtype=mx.float32) -> Optional[mx.array]:
    """Additive [L, offset + L] mask: query i (at position offset + i) sees
    keys 0 .. offset + i."""
    if L == 1:
        return None
    q = mx.arange(offset, offset + L)[:, None]
    k = mx.arange(offset + L)[None, :]
    return mx.where(k <= q, mx.array(0.0, dtype), mx.array(-1e9, dtype))


def padding_mask(attention_mask: Optional[mx.array], dtype=mx.float32) -> Optional[mx.array]:
    """Additive [B, 1, 1, S] mask hiding padded keys (attention_mask 0), or
    None without a mask (one unpadded sequence)."""
    if attention_mask is None:
        return None
    return mx.where(attention_mask[:, None, None, :] > 0, mx.array(0.0, dtype), mx.array(-1e9, dtype))


def _keep(capture, name, x):
    if capture is not None:
        capture[name] = x


# ---------------------------------------------------------------- t5


def relative_position_bucket(relative_position: np.ndarray, bidirectional: bool, num_buckets: int, max_distance: int) -> np.ndarray:
    """T5's bucketing of (key position - query position): exact buckets for
    small distances, logarithmic ones up to `max_distance`; both signs get
    their own half of the buckets in the encoder (bidirectional), only the
    past counts in the decoder. Computed in float32 as transformers does."""
    rel = relative_position.astype(np.int64)
    buckets = np.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0).astype(np.int64) * num_buckets
        rel = np.abs(rel)
    else:
        rel = -np.minimum(rel, 0)
    max_exact = num_buckets // 2
    is_small = rel < max_exact
    with np.errstate(divide="ignore"):
        large = np.log(rel.astype(np.float32) / np.float32(max_exact)) / np.float32(math.log(max_distance / max_exact)) * np.float32(num_buckets - max_exact)
    large = max_exact + np.where(is_small, 0, large).astype(np.int64)
    large = np.minimum(large, num_buckets - 1)
    return buckets + np.where(is_small, rel, large)


class T5LayerNorm(nn.Module):
    """Scale only: x / sqrt(mean(x^2) + eps) * weight (no mean, no bias)."""

    def __init__(self, dims: int, eps: float):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def __call__(self, x):
        return mx.fast.rms_norm(x, self.weight, self.eps)


class T5Attention(nn.Module):
    def __init__(self, args: ModelArgs, relative_bias: bool, is_decoder: bool):
        super().__init__()
        self.n_heads = args.num_attention_heads
        self.head_dim = args.head_dim
        inner = self.n_heads * self.head_dim
        d = args.hidden_size
        self.q = nn.Linear(d, inner, bias=False)
        self.k = nn.Linear(d, inner, bias=False)
        self.v = nn.Linear(d, inner, bias=False)
        self.o = nn.Linear(inner, d, bias=False)
        self.is_decoder = is_decoder
        self.num_buckets = args.relative_attention_num_buckets
        self.max_distance = args.relative_attention_max_distance
        if relative_bias:
            self.relative_attention_bias = nn.Embedding(self.num_buckets, self.n_heads)

    def compute_bias(self, L: int, S: int, offset: int) -> mx.array:
        """[1, heads, L, S] bias for queries at offset..offset+L-1 and keys 0..S-1."""
        ctx = np.arange(L)[:, None] + offset
        mem = np.arange(S)[None, :]
        buckets = relative_position_bucket(mem - ctx, not self.is_decoder, self.num_buckets, self.max_distance)
        values = self.relative_attention_bias(mx.array(buckets.astype(np.int32)))  # [L, S, heads]
        return values.transpose(2, 0, 1)[None]

    def heads(self, x):
        B, L, _ = x.shape
        return x.reshape(B, L, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)

    def __call__(self, x, kv=None, bias=None, mask=None, cache: Optional[LayerCache] = None):
        """Self-attention (kv None) or cross-attention over `kv`. `bias` is
        the additive position bias (with any mask folded in)."""
        B, L, _ = x.shape
        q = self.heads(self.q(x))
        if kv is None:
            k, v = self.heads(self.k(x)), self.heads(self.v(x))
            if cache is not None:
                k, v = cache.update(k, v)
        elif cache is not None:
            k, v = cache.cross(lambda: (self.heads(self.k(kv)), self.heads(self.v(kv))))
        else:
            k, v = self.heads(self.k(kv)), self.heads(self.v(kv))
        S = k.shape[2]
        assert q.shape == (B, self.n_heads, L, self.head_dim) and k.shape == v.shape == (B, self.n_heads, S, self.head_dim)
        # T5 does not scale the scores (the scale is folded into the weights).
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=bias)
        out = out.transpose(0, 2, 1, 3).reshape(B, L, self.n_heads * self.head_dim)
        return self.o(out)


class T5DenseActDense(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.wi = nn.Linear(args.hidden_size, args.ffn_dim, bias=False)
        self.wo = nn.Linear(args.ffn_dim, args.hidden_size, bias=False)
        self.act = activation(args.activation)

    def __call__(self, x):
        return self.wo(self.act(self.wi(x)))


class T5DenseGatedActDense(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.wi_0 = nn.Linear(args.hidden_size, args.ffn_dim, bias=False)
        self.wi_1 = nn.Linear(args.hidden_size, args.ffn_dim, bias=False)
        self.wo = nn.Linear(args.ffn_dim, args.hidden_size, bias=False)
        self.act = activation(args.activation)

    def __call__(self, x):
        return self.wo(self.act(self.wi_0(x)) * self.wi_1(x))


class T5LayerSelfAttention(nn.Module):
    def __init__(self, args, relative_bias, is_decoder):
        super().__init__()
        self.SelfAttention = T5Attention(args, relative_bias, is_decoder)
        self.layer_norm = T5LayerNorm(args.hidden_size, args.layer_norm_epsilon)

    def __call__(self, x, bias, cache):
        return x + self.SelfAttention(self.layer_norm(x), bias=bias, cache=cache)


class T5LayerCrossAttention(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.EncDecAttention = T5Attention(args, False, True)
        self.layer_norm = T5LayerNorm(args.hidden_size, args.layer_norm_epsilon)

    def __call__(self, x, enc, mask, cache):
        return x + self.EncDecAttention(self.layer_norm(x), kv=enc, bias=mask, cache=cache)


class T5LayerFF(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(args) if args.gated_ffn else T5DenseActDense(args)
        self.layer_norm = T5LayerNorm(args.hidden_size, args.layer_norm_epsilon)

    def __call__(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class T5Block(nn.Module):
    def __init__(self, args, relative_bias, is_decoder):
        super().__init__()
        self.is_decoder = is_decoder
        self.layer = [T5LayerSelfAttention(args, relative_bias, is_decoder)]
        if is_decoder:
            self.layer.append(T5LayerCrossAttention(args))
        self.layer.append(T5LayerFF(args))

    def __call__(self, x, bias, enc=None, enc_mask=None, cache=None):
        x = self.layer[0](x, bias, cache)
        if self.is_decoder:
            x = self.layer[1](x, enc, enc_mask, cache)
        return self.layer[-1](x)


class T5Stack(nn.Module):
    def __init__(self, args, n_layers, is_decoder):
        super().__init__()
        self.is_decoder = is_decoder
        # Only the first block owns the relative position table; the bias it
        # computes is shared by every block of the stack.
        self.block = [T5Block(args, i == 0, is_decoder) for i in range(n_layers)]
        self.final_layer_norm = T5LayerNorm(args.hidden_size, args.layer_norm_epsilon)

    def __call__(self, h, enc=None, cache=None, capture=None, prefix="", pad=None, enc_pad=None):
        """`pad`: the encoder's padding mask (additive, [B, 1, 1, L]);
        `enc_pad`: the encoder's, hiding its padded keys from the decoder's
        cross-attention. The decoder's own padding follows its real tokens,
        so the causal mask keeps it out."""
        B, L, _ = h.shape
        offset = cache[0].offset if cache is not None else 0
        bias = self.block[0].layer[0].SelfAttention.compute_bias(L, offset + L, offset)
        if self.is_decoder:
            m = causal_mask(L, offset, h.dtype)
            if m is not None:
                bias = bias + m
        elif pad is not None:
            bias = bias + pad
        _keep(capture, prefix + "embeddings", h)
        for i, blk in enumerate(self.block):
            h = blk(h, bias, enc, enc_pad, cache[i] if cache is not None else None)
            _keep(capture, f"{prefix}layers.{i}", h)
        return self.final_layer_norm(h)


class T5Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.shared = nn.Embedding(args.vocab_size, args.hidden_size)
        self.encoder = T5Stack(args, args.num_hidden_layers, False)
        self.decoder = T5Stack(args, args.num_decoder_layers, True)
        if not args.tie_lm_head:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    @property
    def decoder_layers(self):
        return self.decoder.block

    def encode(self, input_ids: mx.array, capture: Optional[dict] = None, attention_mask: Optional[mx.array] = None) -> mx.array:
        """`attention_mask` [B, L] (1 = token) only for padded batches."""
        h = self.shared(input_ids)
        enc = self.encoder(h, capture=capture, prefix="encoder.", pad=padding_mask(attention_mask, h.dtype))
        _keep(capture, "encoder.last_hidden_state", enc)
        return enc

    def decode(
        self, decoder_ids: mx.array, enc: mx.array, cache: Optional[List[LayerCache]] = None, capture: Optional[dict] = None, encoder_mask: Optional[mx.array] = None
    ) -> mx.array:
        """`encoder_mask`: the encoder's attention_mask of a padded batch."""
        h = self.decoder(self.shared(decoder_ids), enc=enc, cache=cache, capture=capture, prefix="decoder.", enc_pad=padding_mask(encoder_mask, enc.dtype))
        _keep(capture, "decoder.final_norm", h)
        if self.args.scale_decoder_outputs:
            h = h * (self.args.hidden_size ** -0.5)
        logits = self.shared.as_linear(h) if self.args.tie_lm_head else self.lm_head(h)
        _keep(capture, "logits", logits)
        return logits


# ---------------------------------------------------------------- bart


class BartAttention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        d = args.hidden_size
        self.n_heads = args.num_attention_heads
        self.head_dim = args.head_dim
        self.scale = self.head_dim ** -0.5
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def heads(self, x):
        B, L, _ = x.shape
        return x.reshape(B, L, self.n_heads, self.head_dim).transpose(0, 2, 1, 3)

    def __call__(self, x, kv=None, mask=None, cache: Optional[LayerCache] = None):
        B, L, _ = x.shape
        q = self.heads(self.q_proj(x))
        if kv is None:
            k, v = self.heads(self.k_proj(x)), self.heads(self.v_proj(x))
            if cache is not None:
                k, v = cache.update(k, v)
        elif cache is not None:
            k, v = cache.cross(lambda: (self.heads(self.k_proj(kv)), self.heads(self.v_proj(kv))))
        else:
            k, v = self.heads(self.k_proj(kv)), self.heads(self.v_proj(kv))
        S = k.shape[2]
        assert q.shape == (B, self.n_heads, L, self.head_dim) and k.shape == v.shape == (B, self.n_heads, S, self.head_dim)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.out_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


class BartLayer(nn.Module):
    """Post-norm: each sub-layer's residual sum is normalized."""

    def __init__(self, args: ModelArgs, is_decoder: bool):
        super().__init__()
        d, eps = args.hidden_size, args.layer_norm_epsilon
        ffn = args.decoder_ffn_dim if is_decoder else args.ffn_dim
        self.is_decoder = is_decoder
        self.self_attn = BartAttention(args)
        self.self_attn_layer_norm = nn.LayerNorm(d, eps=eps)
        if is_decoder:
            self.encoder_attn = BartAttention(args)
            self.encoder_attn_layer_norm = nn.LayerNorm(d, eps=eps)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d, eps=eps)
        self.act = activation(args.activation)

    def __call__(self, x, mask, enc=None, cache=None, enc_mask=None):
        x = self.self_attn_layer_norm(x + self.self_attn(x, mask=mask, cache=cache))
        if self.is_decoder:
            x = self.encoder_attn_layer_norm(x + self.encoder_attn(x, kv=enc, mask=enc_mask, cache=cache))
        return self.final_layer_norm(x + self.fc2(self.act(self.fc1(x))))


class BartStack(nn.Module):
    OFFSET = 2  # learned positions start at row 2 (rows 0, 1 are unused)

    def __init__(self, args: ModelArgs, n_layers: int, is_decoder: bool):
        super().__init__()
        self.is_decoder = is_decoder
        self.embed_positions = nn.Embedding(args.max_position_embeddings + self.OFFSET, args.hidden_size)
        self.layernorm_embedding = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_epsilon)
        self.layers = [BartLayer(args, is_decoder) for _ in range(n_layers)]

    def __call__(self, tok, enc=None, cache=None, capture=None, prefix="", pad=None, enc_pad=None):
        """`pad`, `enc_pad`: additive padding masks as in the t5 stack."""
        B, L, _ = tok.shape
        offset = cache[0].offset if cache is not None else 0
        pos = self.embed_positions(mx.arange(offset, offset + L) + self.OFFSET)
        h = self.layernorm_embedding(tok + pos[None])
        _keep(capture, prefix + "embeddings", h)
        mask = causal_mask(L, offset, h.dtype) if self.is_decoder else pad
        for i, layer in enumerate(self.layers):
            h = layer(h, mask, enc, cache[i] if cache is not None else None, enc_pad)
            _keep(capture, f"{prefix}layers.{i}", h)
        return h


class BartInner(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.shared = nn.Embedding(args.vocab_size, args.hidden_size)
        self.encoder = BartStack(args, args.num_hidden_layers, False)
        self.decoder = BartStack(args, args.num_decoder_layers, True)


class BartModel(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.model = BartInner(args)
        self.final_logits_bias = mx.zeros((1, args.vocab_size))
        if not args.tie_lm_head:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)
        self.embed_scale = math.sqrt(args.hidden_size) if args.scale_embedding else 1.0

    @property
    def decoder_layers(self):
        return self.model.decoder.layers

    def embed(self, ids):
        return self.model.shared(ids) * self.embed_scale

    def encode(self, input_ids: mx.array, capture: Optional[dict] = None, attention_mask: Optional[mx.array] = None) -> mx.array:
        """`attention_mask` [B, L] (1 = token) only for padded batches."""
        h = self.embed(input_ids)
        enc = self.model.encoder(h, capture=capture, prefix="encoder.", pad=padding_mask(attention_mask, h.dtype))
        _keep(capture, "encoder.last_hidden_state", enc)
        return enc

    def decode(
        self, decoder_ids: mx.array, enc: mx.array, cache: Optional[List[LayerCache]] = None, capture: Optional[dict] = None, encoder_mask: Optional[mx.array] = None
    ) -> mx.array:
        """`encoder_mask`: the encoder's attention_mask of a padded batch."""
        h = self.model.decoder(self.embed(decoder_ids), enc=enc, cache=cache, capture=capture, prefix="decoder.", enc_pad=padding_mask(encoder_mask, enc.dtype))
        logits = self.model.shared.as_linear(h) if self.args.tie_lm_head else self.lm_head(h)
        logits = logits + self.final_logits_bias
        _keep(capture, "logits", logits)
        return logits


def Model(args: ModelArgs):
    """The model for `args.model_type` (t5 or bart). Both have
    `encode(input_ids)`, `decode(decoder_ids, encoder_output, cache)` and
    `decoder_layers`."""
    return T5Model(args) if args.model_type == "t5" else BartModel(args)
