"""ViT and DeiT in MLX, under the Hugging Face module names of `ViTModel`
and `DeiTModel` (and the `classifier` of their image classifiers; DeiT's
distilled model averages `cls_classifier` over the CLS token and
`distillation_classifier` over the distillation token).

patches + CLS token + learned positions -> pre-norm blocks (LayerNorm,
attention, residual; LayerNorm, GELU MLP, residual) -> final LayerNorm ->
optional tanh pooler over the CLS token -> optional classifier over the
CLS token. The position table fits exactly the configured image size:
another size is refused (transformers refuses it too unless asked to
interpolate, which this package does not implement for ViT).
"""

from typing import Dict, Optional

import mlx.core as mx
import mlx.nn as nn

from .config import ModelArgs
from .layers import Attention, Dense, PatchEmbeddings, activation, to_channels_last


class Embeddings(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.cls_token = mx.zeros((1, 1, args.hidden_size))
        if args.has_mask_token:  # masked-image pretraining only; unused here
            self.mask_token = mx.zeros((1, 1, args.hidden_size))
        if args.has_distillation_token:
            self.distillation_token = mx.zeros((1, 1, args.hidden_size))
        self.patch_embeddings = PatchEmbeddings(args.num_channels, args.hidden_size, args.patch_size)
        gh, gw = args.grid
        self.position_embeddings = mx.zeros((1, gh * gw + 1 + int(args.has_distillation_token), args.hidden_size))

    def __call__(self, pixel_values: mx.array) -> mx.array:
        _, _, h, w = pixel_values.shape
        if (h, w) != tuple(self.args.image_size):
            raise ValueError(f"input image size ({h}*{w}) doesn't match the model ({self.args.image_size[0]}*{self.args.image_size[1]}); position interpolation is not implemented for ViT")
        x = self.patch_embeddings(to_channels_last(pixel_values, self.args.num_channels))
        tokens = [mx.broadcast_to(self.cls_token, (x.shape[0], 1, x.shape[2])).astype(x.dtype)]
        if self.args.has_distillation_token:
            tokens.append(mx.broadcast_to(self.distillation_token, (x.shape[0], 1, x.shape[2])).astype(x.dtype))
        return mx.concatenate(tokens + [x], axis=1) + self.position_embeddings.astype(x.dtype)


class Layer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        H = args.hidden_size
        self.layernorm_before = nn.LayerNorm(H, eps=args.layer_norm_eps)
        self.attention = Attention(H, args.num_attention_heads, args.qkv_bias)
        self.layernorm_after = nn.LayerNorm(H, eps=args.layer_norm_eps)
        self.intermediate = Dense(H, args.intermediate_size)
        self.output = Dense(args.intermediate_size, H)
        self.act = activation(args.hidden_act)

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.attention(self.layernorm_before(x))
        return x + self.output(self.act(self.intermediate(self.layernorm_after(x))))


class Encoder(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.layer = [Layer(args) for _ in range(args.num_hidden_layers)]


class Pooler(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.dense = nn.Linear(args.hidden_size, args.pooler_output_size)
        self.act = activation(args.pooler_act)

    def __call__(self, x: mx.array) -> mx.array:
        return self.act(self.dense(x[:, 0]))


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embeddings = Embeddings(args)
        self.encoder = Encoder(args)
        self.layernorm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps)
        if args.has_pooler:
            self.pooler = Pooler(args)
        classes = len(args.id2label) or 2
        if args.has_classifier:
            self.classifier = nn.Linear(args.hidden_size, classes)
        if args.has_distilled_heads:
            self.cls_classifier = nn.Linear(args.hidden_size, classes)
            self.distillation_classifier = nn.Linear(args.hidden_size, classes)

    def blocks(self) -> list:
        return self.encoder.layer

    def __call__(self, pixel_values: mx.array, capture: Optional[dict] = None) -> Dict[str, mx.array]:
        """[B, C, H, W] -> {"last_hidden_state", "pooler_output"?, "logits"?}."""
        x = self.embeddings(pixel_values)
        if capture is not None:
            capture["embeddings"] = x
        blocks = self.encoder.layer
        for i in range(len(blocks)):
            x = blocks[i](x)
            if capture is not None:
                capture[f"layers.{i}"] = x
        x = self.layernorm(x)
        out = {"last_hidden_state": x}
        if self.args.has_pooler:
            out["pooler_output"] = self.pooler(x)
        if self.args.has_classifier:
            out["logits"] = self.classifier(x[:, 0])
        if self.args.has_distilled_heads:
            out["logits"] = (self.cls_classifier(x[:, 0]) + self.distillation_classifier(x[:, 1])) / 2
        if capture is not None:
            capture["final_norm"] = x
            capture.update(out)
        return out
