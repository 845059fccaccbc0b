"""ConvNeXt (and ConvNeXt V2) in MLX, under the Hugging Face module names
of `ConvNextModel` / `ConvNextV2Model` and their image classifiers.

No attention: a patchify convolution with a channels-first LayerNorm, then
stages, each an optional downsampling (LayerNorm + 2x2 stride-2
convolution) and blocks of: depthwise 7x7 convolution, LayerNorm,
pointwise expansion (4x), activation, (V2: global response normalisation),
pointwise projection, (V1: layer scale), residual. The pooled output is a
LayerNorm of the mean over the spatial positions; the classifier reads it.

MLX convolutions are channels-last, so every feature map here is
[B, H, W, C] (transformers' are [B, C, H, W]; the oracle records them
transposed to this layout). The ladder's blocks are the stages.
"""

from typing import Dict, Optional

import mlx.core as mx
import mlx.nn as nn

from .config import ModelArgs
from .layers import activation, to_channels_last


class Embeddings(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        h0 = args.hidden_sizes[0]
        self.patch_embeddings = nn.Conv2d(args.num_channels, h0, kernel_size=args.patch_size, stride=args.patch_size)
        self.layernorm = nn.LayerNorm(h0, eps=1e-6)

    def __call__(self, x: mx.array) -> mx.array:
        return self.layernorm(self.patch_embeddings(x))


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt V2)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = mx.zeros((1, 1, 1, dim))
        self.bias = mx.zeros((1, 1, 1, dim))

    def __call__(self, x: mx.array) -> mx.array:
        g = mx.sqrt(mx.sum(x * x, axis=(1, 2), keepdims=True))
        n = g / (mx.mean(g, axis=-1, keepdims=True) + 1e-6)
        return self.weight * (x * n) + self.bias + x


class Layer(nn.Module):
    def __init__(self, args: ModelArgs, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.layernorm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = activation(args.hidden_act)
        self.v2 = args.model_type == "convnextv2"
        if self.v2:
            self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        if not self.v2 and args.layer_scale:
            self.layer_scale_parameter = mx.zeros((dim,))

    def __call__(self, x: mx.array) -> mx.array:
        h = self.act(self.pwconv1(self.layernorm(self.dwconv(x))))
        if self.v2:
            h = self.grn(h)
        h = self.pwconv2(h)
        if "layer_scale_parameter" in self:
            h = self.layer_scale_parameter * h
        return x + h


class Stage(nn.Module):
    def __init__(self, args: ModelArgs, i: int):
        super().__init__()
        out_ch = args.hidden_sizes[i]
        in_ch = args.hidden_sizes[i - 1] if i > 0 else args.hidden_sizes[0]
        stride = 2 if i > 0 else 1
        self.downsampling_layer = (
            [nn.LayerNorm(in_ch, eps=1e-6), nn.Conv2d(in_ch, out_ch, kernel_size=2, stride=2)] if in_ch != out_ch or stride > 1 else []
        )
        self.layers = [Layer(args, out_ch) for _ in range(args.depths[i])]

    def __call__(self, x: mx.array) -> mx.array:
        for m in self.downsampling_layer:
            x = m(x)
        for layer in self.layers:
            x = layer(x)
        return x


class Encoder(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.stages = [Stage(args, i) for i in range(len(args.depths))]


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embeddings = Embeddings(args)
        self.encoder = Encoder(args)
        self.layernorm = nn.LayerNorm(args.hidden_sizes[-1], eps=args.layer_norm_eps)
        if args.has_classifier:
            self.classifier = nn.Linear(args.hidden_sizes[-1], len(args.id2label) or 2)

    def blocks(self) -> list:
        return self.encoder.stages

    def __call__(self, pixel_values: mx.array, capture: Optional[dict] = None) -> Dict[str, mx.array]:
        """[B, C, H, W] -> {"last_hidden_state" [B, H', W', C'], "pooler_output", "logits"?}."""
        x = self.embeddings(to_channels_last(pixel_values, self.args.num_channels))
        if capture is not None:
            capture["embeddings"] = x
        stages = self.encoder.stages
        for i in range(len(stages)):
            x = stages[i](x)
            if capture is not None:
                capture[f"layers.{i}"] = x
        out = {"last_hidden_state": x, "pooler_output": self.layernorm(x.mean(axis=(1, 2)))}
        if self.args.has_classifier:
            out["logits"] = self.classifier(out["pooler_output"])
        if capture is not None:
            capture.update(out)
        return out
