"""ResNet in MLX, under the Hugging Face module names of `ResNetModel` and
`ResNetForImageClassification`.

A pure CNN: a 7x7 stride-2 stem (convolution, batch norm, activation) and
a 3x3 stride-2 max pool, then stages of residual layers — basic (two 3x3
convolutions) or bottleneck (1x1 reduce, 3x3, 1x1 expand; the stride on
the first or the second) — each convolution followed by batch norm (eval:
the running statistics), a projected shortcut (1x1 convolution + batch
norm) where the shape changes, the activation after the sum. Pooled: the
mean over the spatial positions; the classifier reads it.

Feature maps are channels-last, [B, H, W, C] (the oracle records
transformers' [B, C, H, W] transposed). The ladder's blocks are the stages.
"""

from typing import Dict, Optional

import mlx.core as mx
import mlx.nn as nn

from .config import ModelArgs
from .layers import activation, to_channels_last


class ConvLayer(nn.Module):
    """`convolution` (no bias, "same" padding k // 2), `normalization`
    (batch norm), then the activation (none for a block's last)."""

    def __init__(self, n_in: int, n_out: int, kernel: int = 3, stride: int = 1, act: Optional[str] = "relu"):
        super().__init__()
        self.convolution = nn.Conv2d(n_in, n_out, kernel_size=kernel, stride=stride, padding=kernel // 2, bias=False)
        self.normalization = nn.BatchNorm(n_out, eps=1e-5)
        self.act = activation(act) if act else None

    def __call__(self, x: mx.array) -> mx.array:
        x = self.normalization(self.convolution(x))
        return self.act(x) if self.act else x


class ShortCut(nn.Module):
    def __init__(self, n_in: int, n_out: int, stride: int):
        super().__init__()
        self.convolution = nn.Conv2d(n_in, n_out, kernel_size=1, stride=stride, bias=False)
        self.normalization = nn.BatchNorm(n_out, eps=1e-5)

    def __call__(self, x: mx.array) -> mx.array:
        return self.normalization(self.convolution(x))


class ResidualLayer(nn.Module):
    def __init__(self, args: ModelArgs, n_in: int, n_out: int, stride: int):
        super().__init__()
        if n_in != n_out or stride != 1:
            self.shortcut = ShortCut(n_in, n_out, stride)
        act = args.hidden_act
        if args.layer_type == "bottleneck":
            r = n_out // 4
            first, second = (stride, 1) if args.downsample_in_bottleneck else (1, stride)
            self.layer = [ConvLayer(n_in, r, 1, first, act), ConvLayer(r, r, 3, second, act), ConvLayer(r, n_out, 1, 1, None)]
        else:
            self.layer = [ConvLayer(n_in, n_out, 3, stride, act), ConvLayer(n_out, n_out, 3, 1, None)]
        self.act = activation(act)

    def __call__(self, x: mx.array) -> mx.array:
        h = x
        for m in self.layer:
            h = m(h)
        residual = self.shortcut(x) if "shortcut" in self else x
        return self.act(h + residual)


class Stage(nn.Module):
    def __init__(self, args: ModelArgs, n_in: int, n_out: int, stride: int, depth: int):
        super().__init__()
        self.layers = [ResidualLayer(args, n_in, n_out, stride)] + [ResidualLayer(args, n_out, n_out, 1) for _ in range(depth - 1)]

    def __call__(self, x: mx.array) -> mx.array:
        for layer in self.layers:
            x = layer(x)
        return x


class Embeddings(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embedder = ConvLayer(args.num_channels, args.embedding_size, 7, 2, args.hidden_act)
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def __call__(self, x: mx.array) -> mx.array:
        return self.pooler(self.embedder(x))


class Encoder(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        sizes, depths = args.hidden_sizes, args.depths
        self.stages = [Stage(args, args.embedding_size, sizes[0], 2 if args.downsample_in_first_stage else 1, depths[0])]
        for i in range(1, len(sizes)):
            self.stages.append(Stage(args, sizes[i - 1], sizes[i], 2, depths[i]))


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embedder = Embeddings(args)
        self.encoder = Encoder(args)
        if args.has_classifier:
            # transformers' nn.Sequential(Flatten, Linear): the Linear is `classifier.1`.
            self.classifier = [nn.Identity(), nn.Linear(args.hidden_sizes[-1], len(args.id2label) or 2)]

    def blocks(self) -> list:
        return self.encoder.stages

    def __call__(self, pixel_values: mx.array, capture: Optional[dict] = None) -> Dict[str, mx.array]:
        """[B, C, H, W] -> {"last_hidden_state" [B, H', W', C'], "pooler_output", "logits"?}."""
        x = self.embedder(to_channels_last(pixel_values, self.args.num_channels))
        if capture is not None:
            capture["embeddings"] = x
        stages = self.encoder.stages
        for i in range(len(stages)):
            x = stages[i](x)
            if capture is not None:
                capture[f"layers.{i}"] = x
        out = {"last_hidden_state": x, "pooler_output": x.mean(axis=(1, 2))}
        if self.args.has_classifier:
            out["logits"] = self.classifier[1](out["pooler_output"])
        if capture is not None:
            capture.update(out)
        return out
