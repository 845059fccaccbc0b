"""Rotary position embeddings for {{PACKAGE}}, on mx.fast.rope.

Supported: default, linear, dynamic (NTK), llama3 and yarn scaling, with the
frequencies computed exactly as transformers computes them.
"""

import math

import mlx.core as mx
import mlx.nn as nn


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
            return mx.fast.rope(x, self.dims, traditional=self.traditional, base=None, scale=1.0, offset=offset, freqs=self._freqs)
        base = self.base
        if self.kind == "dynamic":
            seq = offset + x.shape[2]
            if seq > self.original_max:
                base = self.base * ((self.factor * seq / self.original_max) - (self.factor - 1)) ** (self.dims / (self.dims - 2))
        return mx.fast.rope(x, self.dims, traditional=self.traditional, base=base, scale=self.scale, offset=offset)


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
