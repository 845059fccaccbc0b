"""Rotary position embeddings for {{PACKAGE}}, on mx.fast.rope.

Supported: default, linear, dynamic (NTK), llama3 and yarn scaling, with the
frequencies computed exactly as transformers computes them.

With `shared` (a `SharedTables` the model clears at every forward pass;
the `rope_tables` serving switch), the sines and cosines are computed once
per pass, configuration and positions, and reused by every block's queries
and keys. On a CPU, MLX's rope is not one kernel but a composition that
derives them anew in each call (two calls per block). The tables come from
`mx.fast.rope` itself, applied to a probe whose first components of each
rotated pair are ones and second components zeros (halves, or even and odd
positions for traditional rope), so it returns cos and sin exactly, cast
to the input's dtype; the rotation then performs the composition's own
multiplications, so the values are the same as `mx.fast.rope`'s on a CPU.
"""

import math

import mlx.core as mx
import mlx.nn as nn


class SharedTables:
    """The tables of one forward pass, by configuration and positions. Not
    a dict, so that modules holding it do not count it as parameters."""

    def __init__(self):
        self.memo = {}

    def clear(self):
        self.memo.clear()


class RoPE(nn.Module):
    def __init__(self, dims: int, base: float, traditional: bool, scaling, max_position_embeddings: int):
        super().__init__()
        self.dims = dims
        self.base = base
        self.traditional = traditional
        self.kind = (scaling or {}).get("rope_type", "default")
        self.scale = 1.0
        self.mscale = 1.0
        self.max_position_embeddings = max_position_embeddings
        self._freqs = None
        self.shared = None
        s = scaling or {}
        if self.kind == "linear":
            self.scale = 1.0 / float(s["factor"])
        elif self.kind == "dynamic":
            self.factor = float(s["factor"])
            self.original_max = int(s.get("original_max_position_embeddings", max_position_embeddings))
        elif self.kind == "llama3":
            self._freqs = llama3_freqs(dims, base, s)
        elif self.kind == "yarn":
            self._freqs, self.mscale = yarn_freqs(dims, base, s, max_position_embeddings)

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        # x: [batch, heads, positions, head_dim]
        assert x.ndim == 4 and x.shape[-1] >= self.dims, x.shape
        if self.mscale != 1.0:
            x = x * self.mscale
        if self._freqs is not None:
            base, scale, freqs = None, 1.0, self._freqs
        else:
            base, scale, freqs = self.base, self.scale, None
            if self.kind == "dynamic":
                seq = offset + x.shape[2]
                if seq > self.original_max:
                    base = self.base * ((self.factor * seq / self.original_max) - (self.factor - 1)) ** (self.dims / (self.dims - 2))
        if self.shared is not None:
            return self.rotate(x, offset, base, scale, freqs)
        return mx.fast.rope(x, self.dims, traditional=self.traditional, base=base, scale=scale, offset=offset, freqs=freqs)

    def tables(self, x: mx.array, offset, base, scale, freqs):
        """(cos, sin) of every position of `x` [.., positions, dims / 2], in
        x's dtype, shared through `self.shared` within one forward pass."""
        T, half = x.shape[2], self.dims // 2
        rows = offset.size if isinstance(offset, mx.array) and offset.size > 1 else 1
        off = ("array", id(offset)) if isinstance(offset, mx.array) else ("int", int(offset))
        key = (self.dims, self.traditional, base, scale, id(freqs), off, rows, T, x.dtype)
        got = self.shared.memo.get(key)
        if got is None:
            ones, zeros = mx.ones((rows, 1, T, half), x.dtype), mx.zeros((rows, 1, T, half), x.dtype)
            if self.traditional:
                probe = mx.stack([ones, zeros], axis=-1).reshape(rows, 1, T, self.dims)
            else:
                probe = mx.concatenate([ones, zeros], axis=-1)
            t = mx.fast.rope(probe, self.dims, traditional=self.traditional, base=base, scale=scale, offset=offset, freqs=freqs)
            got = (t[..., 0::2], t[..., 1::2]) if self.traditional else (t[..., :half], t[..., half:])
            self.shared.memo[key] = got
        return got

    def rotate(self, x: mx.array, offset, base, scale, freqs) -> mx.array:
        """mx.fast.rope's CPU composition with the shared tables."""
        B, N, T, D = x.shape
        cos, sin = self.tables(x, offset, base, scale, freqs)
        if self.traditional:
            x1, x2 = x[..., 0 : self.dims : 2], x[..., 1 : self.dims : 2]
        else:
            x1, x2 = x[..., : self.dims // 2], x[..., self.dims // 2 : self.dims]
        outs = [x1 * cos - x2 * sin, x1 * sin + x2 * cos]
        if self.traditional:
            out = mx.concatenate([mx.expand_dims(o, -1) for o in outs], axis=-1).reshape(B, N, T, self.dims)
            return mx.concatenate([out, x[..., self.dims :]], axis=-1) if self.dims < D else out
        if self.dims < D:
            outs.append(x[..., self.dims :])
        return mx.concatenate(outs, axis=-1)


def llama3_freqs(dims, base, s):
    factor = float(s["factor"])
    low = float(s.get("low_freq_factor", 1.0))
    high = float(s.get("high_freq_factor", 4.0))
    old = float(s.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old / low, old / high
    freqs = base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims)
    wavelens = 2 * math.pi * freqs
    freqs = mx.where(wavelens > low_wavelen, freqs * factor, freqs)
    medium = (wavelens > high_wavelen) & (wavelens < low_wavelen)
    smooth = (old / wavelens - low) / (high - low)
    smooth_freqs = freqs / ((1 - smooth) / factor + smooth)
    return mx.where(medium, smooth_freqs, freqs)


def yarn_freqs(dims, base, s, max_pos):
    factor = float(s["factor"])
    original = float(s.get("original_max_position_embeddings") or max_pos)
    beta_fast = float(s.get("beta_fast") or 32)
    beta_slow = float(s.get("beta_slow") or 1)

    def mscale_of(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention_factor = s.get("attention_factor")
    if attention_factor is None:
        if s.get("mscale") and s.get("mscale_all_dim"):
            attention_factor = mscale_of(factor, s["mscale"]) / mscale_of(factor, s["mscale_all_dim"])
        else:
            attention_factor = mscale_of(factor)

    def correction_dim(rot):
        return (dims * math.log(original / (rot * 2 * math.pi))) / (2 * math.log(base))

    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), dims - 1)
    if low == high:
        high += 0.001
    ramp = mx.clip((mx.arange(dims // 2, dtype=mx.float32) - low) / (high - low), 0, 1)
    extrapolation = 1.0 - ramp
    pos = base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims)
    inv_extra = 1.0 / pos
    inv_inter = 1.0 / (factor * pos)
    inv = inv_inter * (1 - extrapolation) + inv_extra * extrapolation
    return 1.0 / inv, float(attention_factor)
