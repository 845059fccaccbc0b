"""DINOv2 in MLX, under the Hugging Face module names of `Dinov2Model`
(and `Dinov2WithRegistersModel`, and the `classifier` of their image
classification heads).

patches + CLS token (+ register tokens) + learned positions resampled
bicubically to the image's patch grid -> pre-norm blocks with layer scale
(LayerNorm, attention, scale, residual; LayerNorm, MLP or SwiGLU, scale,
residual) -> final LayerNorm. The pooled output is the normalised CLS
token; the classifier reads it joined with the mean of the patch tokens
(registers left out).

The positions follow transformers exactly: the table is used as stored
when the image has the configured number of patches and is square, and
otherwise resampled (bicubic, align_corners=False; with antialias for the
register variant) to rows = height // patch, cols = width // patch.
"""

import math
from typing import Dict, Optional

import mlx.core as mx
import mlx.nn as nn

from .config import ModelArgs
from .layers import Attention, LayerScale, Mlp, PatchEmbeddings, PositionCache, SwiGLU, resample_positions, to_channels_last


class Embeddings(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        H = args.hidden_size
        self.cls_token = mx.zeros((1, 1, H))
        if args.has_mask_token:  # masked-image pretraining only; unused here
            self.mask_token = mx.zeros((1, H))
        if args.num_register_tokens:
            self.register_tokens = mx.zeros((1, args.num_register_tokens, H))
        self.patch_embeddings = PatchEmbeddings(args.num_channels, H, args.patch_size)
        gh, gw = args.grid
        self.position_embeddings = mx.zeros((1, gh * gw + 1, H))
        self._positions = PositionCache()

    def positions(self, n_patches: int, height: int, width: int) -> mx.array:
        table = self.position_embeddings
        n_pos = table.shape[1] - 1
        if n_patches == n_pos and height == width:
            return table
        side = int(math.isqrt(n_pos))
        if side * side != n_pos:
            raise ValueError(f"position table of {n_pos} patches is not a square grid: cannot resample it")
        grid = (height // self.args.patch_size, width // self.args.patch_size)
        key = (id(table), grid)
        patch = self._positions.get(key, lambda: resample_positions(table[0, 1:], (side, side), grid, self.args.num_register_tokens > 0))
        return mx.concatenate([table[:, :1], patch[None].astype(table.dtype)], axis=1)

    def __call__(self, pixel_values: mx.array) -> mx.array:
        _, _, h, w = pixel_values.shape
        x = self.patch_embeddings(to_channels_last(pixel_values, self.args.num_channels))
        B = x.shape[0]
        cls = mx.broadcast_to(self.cls_token, (B, 1, x.shape[2])).astype(x.dtype)
        x = mx.concatenate([cls, x], axis=1)
        x = x + self.positions(x.shape[1] - 1, h, w).astype(x.dtype)
        if self.args.num_register_tokens:
            reg = mx.broadcast_to(self.register_tokens, (B, self.args.num_register_tokens, x.shape[2])).astype(x.dtype)
            x = mx.concatenate([x[:, :1], reg, x[:, 1:]], axis=1)
        return x


class Layer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        H = args.hidden_size
        self.norm1 = nn.LayerNorm(H, eps=args.layer_norm_eps)
        self.attention = Attention(H, args.num_attention_heads, args.qkv_bias)
        self.layer_scale1 = LayerScale(H)
        self.norm2 = nn.LayerNorm(H, eps=args.layer_norm_eps)
        self.mlp = SwiGLU(H, args.intermediate_size) if args.use_swiglu_ffn else Mlp(H, args.intermediate_size, args.hidden_act)
        self.layer_scale2 = LayerScale(H)

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.layer_scale1(self.attention(self.norm1(x)))
        return x + self.layer_scale2(self.mlp(self.norm2(x)))


class Encoder(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.layer = [Layer(args) for _ in range(args.num_hidden_layers)]


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embeddings = Embeddings(args)
        self.encoder = Encoder(args)
        self.layernorm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps)
        if args.has_classifier:
            self.classifier = nn.Linear(2 * args.hidden_size, len(args.id2label) or 2)

    def blocks(self) -> list:
        return self.encoder.layer

    def __call__(self, pixel_values: mx.array, capture: Optional[dict] = None) -> Dict[str, mx.array]:
        """[B, C, H, W] -> {"last_hidden_state", "pooler_output", "logits"?}."""
        x = self.embeddings(pixel_values)
        if capture is not None:
            capture["embeddings"] = x
        blocks = self.encoder.layer
        for i in range(len(blocks)):
            x = blocks[i](x)
            if capture is not None:
                capture[f"layers.{i}"] = x
        x = self.layernorm(x)
        out = {"last_hidden_state": x, "pooler_output": x[:, 0]}
        if self.args.has_classifier:
            patches = x[:, 1 + self.args.num_register_tokens :]
            out["logits"] = self.classifier(mx.concatenate([x[:, 0], patches.mean(axis=1)], axis=-1))
        if capture is not None:
            capture["final_norm"] = x
            capture.update(out)
        return out
