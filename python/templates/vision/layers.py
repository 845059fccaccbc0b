"""The pieces {{PACKAGE}}'s image models share: patch embedding, attention,
feed-forward layers, layer scale, and the bicubic resampling of a position
table to another patch grid (PyTorch's `interpolate`, reproduced)."""

import math
from typing import Dict, Optional, Tuple

import mlx.core as mx
import mlx.nn as nn
import numpy as np


def activation(name: str):
    return {
        "gelu": nn.gelu,
        "gelu_new": nn.gelu_approx,
        "gelu_pytorch_tanh": nn.gelu_approx,
        "gelu_fast": nn.gelu_fast_approx,
        "quick_gelu": lambda x: x * mx.sigmoid(1.702 * x),
        "relu": nn.relu,
        "silu": nn.silu,
        "swish": nn.silu,
        "tanh": mx.tanh,
    }[name]


class PatchEmbeddings(nn.Module):
    """Non-overlapping patches projected to the hidden size: a convolution
    with kernel and stride `patch` over a channels-last image
    ([B, H, W, C] -> [B, H/patch * W/patch, hidden])."""

    def __init__(self, channels: int, hidden: int, patch: int):
        super().__init__()
        self.projection = nn.Conv2d(channels, hidden, kernel_size=patch, stride=patch)

    def __call__(self, x: mx.array) -> mx.array:
        y = self.projection(x)
        B, gh, gw, H = y.shape
        return y.reshape(B, gh * gw, H)


class SelfAttention(nn.Module):
    """Multi-head self-attention without a mask (every patch sees every
    patch). Hugging Face names: `attention.query/key/value`, `output.dense`."""

    def __init__(self, hidden: int, heads: int, bias: bool):
        super().__init__()
        assert hidden % heads == 0, (hidden, heads)
        self.heads = heads
        self.query = nn.Linear(hidden, hidden, bias=bias)
        self.key = nn.Linear(hidden, hidden, bias=bias)
        self.value = nn.Linear(hidden, hidden, bias=bias)

    def __call__(self, x: mx.array) -> mx.array:
        B, L, H = x.shape
        d = H // self.heads

        def split(t):
            return t.reshape(B, L, self.heads, d).transpose(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=d**-0.5)
        return out.transpose(0, 2, 1, 3).reshape(B, L, H)


class Dense(nn.Module):
    """A linear layer under the Hugging Face name `dense`."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)

    def __call__(self, x: mx.array) -> mx.array:
        return self.dense(x)


class Attention(nn.Module):
    """`attention.attention` (the heads) and `attention.output.dense`."""

    def __init__(self, hidden: int, heads: int, bias: bool):
        super().__init__()
        self.attention = SelfAttention(hidden, heads, bias)
        self.output = Dense(hidden, hidden)

    def __call__(self, x: mx.array) -> mx.array:
        return self.output(self.attention(x))


class Mlp(nn.Module):
    """fc1 -> activation -> fc2 (DINOv2's names)."""

    def __init__(self, hidden: int, inner: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(hidden, inner)
        self.fc2 = nn.Linear(inner, hidden)
        self.act = activation(act)

    def __call__(self, x: mx.array) -> mx.array:
        return self.fc2(self.act(self.fc1(x)))


class SwiGLU(nn.Module):
    """DINOv2's SwiGLU feed-forward: `weights_in` gives both halves,
    silu(first) * second goes through `weights_out`."""

    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.weights_in = nn.Linear(hidden, 2 * inner)
        self.weights_out = nn.Linear(inner, hidden)

    def __call__(self, x: mx.array) -> mx.array:
        a, b = mx.split(self.weights_in(x), 2, axis=-1)
        return self.weights_out(nn.silu(a) * b)


class LayerScale(nn.Module):
    """A learned per-channel scale (`lambda1`)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.lambda1 = mx.ones((hidden,))

    def __call__(self, x: mx.array) -> mx.array:
        return x * self.lambda1


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter `a`."""
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1, np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def _resample_matrix(n_in: int, n_out: int, antialias: bool) -> np.ndarray:
    """[n_out, n_in] weights of PyTorch's bicubic `interpolate` along one
    axis with `align_corners=False` and an output size (scale n_in/n_out).
    Without antialias: a = -0.75, four taps around (i + 0.5) * scale - 0.5,
    indices clamped at the borders. With antialias (PIL's filter): a = -0.5,
    the support widened by the scale when shrinking, taps outside the input
    dropped and the weights renormalised."""
    scale = n_in / n_out
    w = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        if not antialias:
            src = (i + 0.5) * scale - 0.5
            base = math.floor(src)
            t = src - base
            for k in range(-1, 3):
                j = min(max(base + k, 0), n_in - 1)
                w[i, j] += _cubic(np.array(t - k), -0.75)
        else:
            support = 2.0 * max(scale, 1.0)
            center = (i + 0.5) * scale
            lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
            inv = 1.0 / max(scale, 1.0)
            taps = _cubic((np.arange(lo, hi) - center + 0.5) * inv, -0.5)
            total = taps.sum()
            if total != 0:
                taps = taps / total
            w[i, lo:hi] = taps
    return w


def resample_positions(table: mx.array, grid_in: Tuple[int, int], grid_out: Tuple[int, int], antialias: bool) -> mx.array:
    """A [rows * cols, D] position table on `grid_in` resampled bicubically to
    `grid_out` (float32 result, as transformers computes it)."""
    t = np.array(table.astype(mx.float32)).reshape(grid_in[0], grid_in[1], -1).astype(np.float64)
    rows = _resample_matrix(grid_in[0], grid_out[0], antialias)
    cols = _resample_matrix(grid_in[1], grid_out[1], antialias)
    out = np.einsum("ai,ijd,bj->abd", rows, t, cols)
    return mx.array(out.reshape(grid_out[0] * grid_out[1], -1).astype(np.float32))


class PositionCache:
    """Resampled position tables by (table id, grid): computed once per grid."""

    def __init__(self):
        self._tables: Dict[tuple, mx.array] = {}

    def get(self, key: tuple, make) -> mx.array:
        if key not in self._tables:
            self._tables[key] = make()
        return self._tables[key]


def to_channels_last(pixel_values: mx.array, channels: int) -> mx.array:
    """[B, C, H, W] (the processor's layout) -> [B, H, W, C], checked."""
    if pixel_values.ndim != 4 or pixel_values.shape[1] != channels:
        raise ValueError(f"pixel_values of shape {tuple(pixel_values.shape)}: expected [batch, {channels}, height, width]")
    return pixel_values.transpose(0, 2, 3, 1)



class ProjAttention(nn.Module):
    """Multi-head attention under CLIP's and SigLIP's names (`q_proj`,
    `k_proj`, `v_proj`, `out_proj`, all with biases), with an optional
    additive mask ([B or 1, 1, L, L])."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        assert hidden % heads == 0, (hidden, heads)
        self.heads = heads
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def __call__(self, x: mx.array, mask: Optional[mx.array] = None) -> mx.array:
        B, L, H = x.shape
        d = H // self.heads

        def split(t):
            return t.reshape(B, L, self.heads, d).transpose(0, 2, 1, 3)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=d**-0.5, mask=mask)
        return self.out_proj(out.transpose(0, 2, 1, 3).reshape(B, L, H))


class TowerLayer(nn.Module):
    """A pre-norm block of CLIP's and SigLIP's towers: `layer_norm1`,
    `self_attn`, residual; `layer_norm2`, `mlp` (fc1, activation, fc2),
    residual."""

    def __init__(self, hidden: int, heads: int, inner: int, act: str, eps: float):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(hidden, eps=eps)
        self.self_attn = ProjAttention(hidden, heads)
        self.layer_norm2 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = Mlp(hidden, inner, act)

    def __call__(self, x: mx.array, mask: Optional[mx.array] = None) -> mx.array:
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class TowerEncoder(nn.Module):
    """`encoder.layers`: the blocks of one tower."""

    def __init__(self, n: int, hidden: int, heads: int, inner: int, act: str, eps: float):
        super().__init__()
        self.layers = [TowerLayer(hidden, heads, inner, act, eps) for _ in range(n)]


def run_blocks(blocks: list, x: mx.array, mask: Optional[mx.array], capture: Optional[dict], prefix: str) -> mx.array:
    """Each block in turn (called through the list, so a capture tap on a
    block sees its call), every output kept under `<prefix>layers.N`."""
    for i in range(len(blocks)):
        x = blocks[i](x, mask) if mask is not None else blocks[i](x)
        if capture is not None:
            capture[f"{prefix}layers.{i}"] = x
    return x


def causal_mask(n: int, dtype) -> mx.array:
    """[n, n] additive mask: 0 on and below the diagonal, a large negative
    number above it."""
    i = mx.arange(n)
    return mx.where(i[:, None] >= i[None, :], 0.0, -1e9).astype(dtype)


def l2_normalize(x: mx.array) -> mx.array:
    return x / mx.linalg.norm(x, axis=-1, keepdims=True)
