"""The {{PACKAGE}} model: a {{MODEL_TYPE}}-style dense decoder in MLX.

A first port, written to be read: float weights, no compile, no custom
kernels, an explicit KV cache, and shape assertions around every
non-trivial transform. Parameter names are the Hugging Face / mlx-lm names
(`model.layers.N.self_attn.q_proj.weight`, ...), so converted weights load
strictly, with nothing missing and nothing extra.

`capture`, when given a dict, receives the output of every ladder boundary
under the names the mlxport oracle uses: `embeddings`, `layers.N`,
`final_norm`, `logits`.

The serving switches (`options.py`) reach the model in two places: the
cache each block is given (`cache.py`; a quantized cache makes attention
use quantized matrix products) and `Model.configure(options)`, which turns
the compiled element-wise functions, the fused projections and the shared
rotary tables on or off. `pad` (left-padding counts per row) serves
batched generation: a row's padding is hidden from every real token and
its positions start after it.
"""

from functools import lru_cache
from typing import List, Optional

import mlx.core as mx
import mlx.nn as nn

from .cache import KVCache
from .config import ACTIVATIONS, ModelArgs
from .rope import RoPE, SharedTables


class Fused:
    """Projections of one input (nn.Linear or nn.QuantizedLinear modules of
    the same kind) as one matrix product: a module of that kind whose
    weights, scales, biases and bias are the parts' concatenated along the
    output axis, so each output element is the same dot product as in its
    own module, by MLX's own code. The parts' arrays are then re-pointed
    at slices (views) of the concatenation, so memory holds one copy. Not
    a module: `parameters()` and saving never see it.
    """

    def __init__(self, parts, names):
        self.parts = parts
        sizes = [p["weight"].shape[0] for p in parts]
        self.splits = [sum(sizes[: i + 1]) for i in range(len(sizes) - 1)]
        first = parts[0]
        if type(first) is nn.QuantizedLinear:
            # A small shell of the same configuration; its arrays are replaced.
            self.linear = nn.QuantizedLinear(first.group_size, 1, "bias" in first, first.group_size, first.bits, first.mode)
        else:
            self.linear = nn.Linear(1, 1, bias="bias" in first)
        for n in names:
            self.linear[n] = mx.concatenate([p[n] for p in parts], axis=0)
        mx.eval(self.linear.parameters())
        start = 0
        for p, n_out in zip(parts, sizes):
            for n in names:
                p[n] = self.linear[n][start : start + n_out]
            start += n_out
        mx.eval([p.parameters() for p in parts])
        self.views = [p["weight"] for p in parts]

    @staticmethod
    def build(parts) -> Optional["Fused"]:
        """The fusion of `parts`, or None where their kinds, quantization,
        dtypes or biases differ (they then stay separate)."""
        first = parts[0]
        if type(first) not in (nn.Linear, nn.QuantizedLinear) or any(type(p) is not type(first) for p in parts):
            return None
        names = [n for n in ("weight", "scales", "biases", "bias") if first.get(n) is not None]
        if any([n for n in ("weight", "scales", "biases", "bias") if p.get(n) is not None] != names for p in parts):
            return None
        if type(first) is nn.QuantizedLinear and any((p.group_size, p.bits, p.mode) != (first.group_size, first.bits, first.mode) for p in parts):
            return None
        if any(p[n].dtype != first[n].dtype or p[n].shape[1:] != first[n].shape[1:] for p in parts for n in names):
            return None
        return Fused(parts, names)

    def current(self) -> bool:
        """False once a module's weight was replaced (new weights loaded)."""
        return all(p["weight"] is v for p, v in zip(self.parts, self.views))

    def __call__(self, x: mx.array):
        return mx.split(self.linear(x), self.splits, axis=-1)


def fusion(fused: Optional[Fused], parts, on: bool) -> Optional[Fused]:
    """The fusion of `parts` kept by a module: built the first time `on`
    asks for it (None where the parts cannot be fused), rebuilt after new
    weights, kept (unused) while `on` is false."""
    if not on:
        return fused
    if fused is None or not fused.current():
        fused = Fused.build(parts)
    return fused


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
        self.compiled = False
        self.fuse = False
        self._qkv = None

    def set_fuse(self, on: bool):
        self._qkv = fusion(self._qkv, [self.q_proj, self.k_proj, self.v_proj], on)
        self.fuse = on and self._qkv is not None

    def __call__(self, x: mx.array, mask, cache: Optional[KVCache], positions=None) -> mx.array:
        """`positions`: the RoPE offset of the first new token, an int or
        one per row (left-padded batches); default the cache's offset."""
        B, L, _ = x.shape
        if self.fuse:
            q, k, v = self._qkv(x)
        else:
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
        first = cache.first_position(L) if cache is not None else 0
        pos = offset if positions is None else positions
        q = self.rope(q, offset=pos)
        k = self.rope(k, offset=pos)
        if cache is not None:
            k, v = cache.update(k, v)
        assert q.shape == (B, self.n_heads, L, self.head_dim), q.shape
        if cache is not None and cache.quantized is not None:
            bits, group = cache.quantized
            S = k[0].shape[2]
            assert S == offset + L - first, (S, offset, L, first)
            out = quantized_attention(q, k, v, self.scale, mask, bits, group, self.softcap, self.compiled)
            return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, self.n_heads * self.head_dim))
        S = k.shape[2]
        assert k.shape[:3] == v.shape[:3] == (B, self.n_kv_heads, S) and k.shape[3] == self.head_dim, (k.shape, v.shape)
        # A full ring buffer returns `window` keys for one token (first is None).
        assert S == offset + L - (first or 0) or (first is None and S <= offset + L), (S, offset, L, first)
        if self.softcap is not None:
            out = softcapped_attention(q, k, v, self.scale, self.softcap, mask, self.compiled)
        else:
            # GQA: mx.fast.scaled_dot_product_attention shares each KV head
            # across n_heads / n_kv_heads query heads.
            out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        assert out.shape == (B, self.n_heads, L, self.head_dim), out.shape
        out = out.transpose(0, 2, 1, 3).reshape(B, L, self.n_heads * self.head_dim)
        return self.o_proj(out)


def _softcap(x, cap):
    return mx.tanh(x / cap) * cap


@lru_cache(maxsize=None)
def compiled_softcap(cap: float):
    return mx.compile(lambda x: mx.tanh(x / cap) * cap, shapeless=True)


def softcap(x, cap, compiled=False):
    return compiled_softcap(float(cap))(x) if compiled else _softcap(x, cap)


def softcapped_attention(q, k, v, scale, cap, mask, compiled=False):
    """Attention with the logits soft-capped (cap * tanh(s / cap)) before the
    mask, which mx.fast.scaled_dot_product_attention cannot do."""
    B, H, L, D = q.shape
    kvh = k.shape[1]
    if kvh != H:
        k = mx.repeat(k, H // kvh, axis=1)
        v = mx.repeat(v, H // kvh, axis=1)
    scores = (q * scale) @ k.transpose(0, 1, 3, 2)
    scores = softcap(scores, cap, compiled)
    if mask is not None:
        scores = mx.where(mask, scores, mx.array(-mx.inf, scores.dtype))
    return mx.softmax(scores.astype(mx.float32), axis=-1).astype(v.dtype) @ v


def quantized_attention(q, qk, qv, scale, mask, bits, group, cap=None, compiled=False):
    """Attention over a quantized cache: keys and values are (packed,
    scales, biases) triples and both products are `mx.quantized_matmul`.
    GQA shares each KV head with its query heads by broadcasting, not by
    copying the cache. `mask`: None, "causal", or boolean [L, S] /
    [B, 1, L, S]."""
    B, H, L, D = q.shape
    kvh = qk[0].shape[1]
    rep = H // kvh
    q = q * scale
    if rep > 1:
        q = q.reshape(B, kvh, rep, L, D)
        qk = tuple(mx.expand_dims(a, 2) for a in qk)
        qv = tuple(mx.expand_dims(a, 2) for a in qv)
    scores = mx.quantized_matmul(q, *qk, transpose=True, group_size=group, bits=bits)
    if cap is not None:
        scores = softcap(scores, cap, compiled)
    if isinstance(mask, str):
        S = scores.shape[-1]
        mask = mx.arange(S - L, S)[:, None] >= mx.arange(S)[None]
    if mask is not None:
        if rep > 1 and mask.ndim == 4:
            mask = mx.expand_dims(mask, 2)
        scores = mx.where(mask, scores, mx.array(-mx.inf, scores.dtype))
    probs = mx.softmax(scores.astype(mx.float32), axis=-1).astype(q.dtype)
    out = mx.quantized_matmul(probs, *qv, transpose=False, group_size=group, bits=bits)
    return out.reshape(B, H, L, -1)


def attention_mask(L: int, offset: int, window: Optional[int], first: int = 0, pad=None):
    """Boolean [L, offset + L - first] mask of the queries at positions
    offset .. offset + L - 1 over the keys at first .. offset + L - 1:
    causal, and with a window a query at position p sees keys at
    p - window < k <= p (transformers' sliding window). With `pad` (left
    padding per row, [B]) the mask is [B, 1, L, S] and hides each row's
    padding from its real tokens (a padding query sees itself, so no row
    of the softmax is empty). None when every key is visible."""
    if window is None and L == 1 and pad is None:
        return None
    q = mx.arange(offset, offset + L)[:, None]
    k = mx.arange(first, offset + L)[None, :]
    m = k <= q
    if window is not None:
        m = m & (k > q - window)
    if pad is not None:
        real = k[None] >= pad[:, None, None]
        m = (m[None] & real) | (k == q)[None]
        m = mx.expand_dims(m, 1)
    return m


def block_mask(L: int, cache, window: Optional[int], softcap_on: bool, pad=None):
    """The mask of one block for L new tokens, given its cache (or None)."""
    offset = cache.offset if cache is not None else 0
    first = cache.first_position(L) if cache is not None else 0
    if first is None:
        return None  # one token over a full ring buffer: every key is in its window
    if window is None and first == 0 and not softcap_on and pad is None:
        return "causal" if L > 1 else None
    return attention_mask(L, offset, window, first, pad)


@lru_cache(maxsize=None)
def compiled_glu(act_name: str):
    act = getattr(nn, act_name)
    return mx.compile(lambda g, u: act(g) * u, shapeless=True)


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
        self.act_name = ACTIVATIONS[args.hidden_act]
        self.act = getattr(nn, self.act_name)
        self.compiled = False
        self.fuse = False
        self._gate_up = None
        if self.gated:
            self.gate_proj = nn.Linear(h, i, bias=args.mlp_bias)
            self.up_proj = nn.Linear(h, i, bias=args.mlp_bias)
            self.down_proj = nn.Linear(i, h, bias=args.mlp_bias)
        else:
            self.c_fc = nn.Linear(h, i, bias=args.mlp_bias)
            self.c_proj = nn.Linear(i, h, bias=args.mlp_bias)

    def set_fuse(self, on: bool):
        if self.gated:
            self._gate_up = fusion(self._gate_up, [self.gate_proj, self.up_proj], on)
        self.fuse = on and self._gate_up is not None

    def __call__(self, x: mx.array) -> mx.array:
        if self.gated:
            g, u = self._gate_up(x) if self.fuse else (self.gate_proj(x), self.up_proj(x))
            if self.compiled:
                return self.down_proj(compiled_glu(self.act_name)(g, u))
            return self.down_proj(self.act(g) * u)
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

    def __call__(self, x: mx.array, mask, cache: Optional[KVCache], positions=None) -> mx.array:
        ffn = getattr(self, self.ffn_name)
        if self.kind == "pre":
            h = x + self.self_attn(self.input_layernorm(x), mask, cache, positions)
            return h + ffn(self.post_attention_layernorm(h))
        if self.kind == "sandwich":
            h = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), mask, cache, positions))
            return h + self.post_feedforward_layernorm(ffn(self.pre_feedforward_layernorm(h)))
        h = x + self.post_attention_layernorm(self.self_attn(x, mask, cache, positions))
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
        self.compiled = False
        self._rope_tables = SharedTables()
        self.model = DecoderStack(args)
        if not args.tie_word_embeddings:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def configure(self, options) -> "Model":
        """Turn the compiled element-wise functions (`options.compile`), the
        fused projections (`options.fuse`) and the shared rotary tables
        (`options.rope_tables`) on or off."""
        for _name, m in self.named_modules():
            if isinstance(m, (Attention, MLP)):
                m.compiled = bool(options.compile)
                m.set_fuse(bool(options.fuse))
            if isinstance(m, Attention):
                m.rope.shared = self._rope_tables if options.rope_tables else None
        self.compiled = bool(options.compile)
        return self

    def __call__(
        self,
        input_ids: mx.array,
        cache: Optional[List[KVCache]] = None,
        capture: Optional[dict] = None,
        pad: Optional[mx.array] = None,
        last_only: bool = False,
        embeds: Optional[mx.array] = None,
    ) -> mx.array:
        """input_ids [B, L] -> logits [B, L, vocab]. With a cache, L new
        tokens follow the cached positions. `pad` [B]: left-padding counts
        of a batch (its rows' positions start after their padding).
        `last_only`: the final norm and the head run on the last position
        only (logits [B, 1, vocab]), which is all a prefill needs.
        `embeds` [B, L, hidden]: the input embeddings to run instead of the
        token table's (a vision-language model's, image features merged in)."""
        assert input_ids.ndim == 2, input_ids.shape
        B, L = input_ids.shape
        self._rope_tables.clear()
        if cache is not None:
            assert len(cache) == len(self.model.layers)
        positions = None
        if pad is not None:
            assert pad.shape == (B,), pad.shape
            if self.model.layers[0].self_attn.rope.kind == "dynamic":
                raise ValueError("left-padded batches with dynamic (NTK) RoPE scaling are not implemented: its base depends on each row's length")
            positions = (cache[0].offset if cache is not None else 0) - pad
        h = self.model.embed_tokens(input_ids) if embeds is None else embeds
        if self.args.embed_scale is not None and embeds is None:
            # Part of the embedding stage, as transformers' scaled embedding.
            h = h * mx.array(self.args.embed_scale, dtype=h.dtype)
        _keep(capture, "embeddings", h)
        # Causal mask over the new positions (aligned to the end of the
        # cache); a single new token attends to everything before it. A
        # sliding-window block also hides keys `window` or more positions
        # back; the cache keeps every position, so cached decoding sees
        # exactly what full recomputation sees.
        # Blocks whose caches are alike share one mask.
        masks = {}
        for i, layer in enumerate(self.model.layers):
            c = cache[i] if cache is not None else None
            key = (layer.window, type(c), c.first_position(L) if c is not None else 0)
            if key not in masks:
                masks[key] = block_mask(L, c, layer.window, self.args.attn_softcap is not None, pad)
            h = layer(h, masks[key], c, positions)
            _keep(capture, f"layers.{i}", h)
        if last_only:
            assert capture is None, "capture needs every position"
            h = h[:, -1:, :]
            L = 1
        h = self.model.norm(h)
        _keep(capture, "final_norm", h)
        if self.args.tie_word_embeddings:
            logits = self.model.embed_tokens.as_linear(h)
        else:
            logits = self.lm_head(h)
        if self.args.final_softcap is not None:
            logits = softcap(logits, self.args.final_softcap, self.compiled)
        assert logits.shape == (B, L, self.args.vocab_size), logits.shape
        _keep(capture, "logits", logits)
        return logits


def _keep(capture, name, x):
    if capture is not None:
        capture[name] = x
