"""LLaVA in MLX: an image tower, a two-layer projector and a decoder, under
the module names of transformers' (and mlx-vlm's) llava checkpoints:
`vision_tower.vision_model.*`, `multi_modal_projector.*`,
`language_model.model.*`, `language_model.lm_head`.

An image runs through the tower's blocks up to the deepest one
`vision_feature_layer` names (hidden state 0 is the embeddings after
`pre_layrnorm`; state i the output of block i-1), the named states are
joined along the width (the class token dropped for the 'default'
strategy) and projected to the decoder's width. The prompt holds one
image token per feature row; the token embeddings at those positions are
replaced by the features, in order, and the decoder runs on the result.
After the prompt, decoding is the decoder's own (the image is in the
cache).

`capture` receives `vision.embeddings`, `vision.layers.N`,
`image_features` (the projector's output) and the decoder's names:
`embeddings` (the merged input), `layers.N`, `final_norm`, `logits`.
"""

from typing import Optional

import mlx.core as mx
import mlx.nn as nn

from .config import VlmArgs
from .language.model import Model as LanguageModel
from .vision.clip import VisionTransformer
from .vision.layers import activation


class VisionTower(nn.Module):
    def __init__(self, args: VlmArgs):
        super().__init__()
        self.vision_model = VisionTransformer(args.vision_config, args.clip)


class Projector(nn.Module):
    def __init__(self, args: VlmArgs, text_width: int):
        super().__init__()
        width = args.vision_config["hidden_size"] * len(args.feature_layers)
        self.linear_1 = nn.Linear(width, text_width, bias=args.projector_bias)
        self.linear_2 = nn.Linear(text_width, text_width, bias=args.projector_bias)
        self._act = activation(args.projector_act)

    def __call__(self, x: mx.array) -> mx.array:
        return self.linear_2(self._act(self.linear_1(x)))


class Model(nn.Module):
    def __init__(self, settings: VlmArgs, text_args):
        super().__init__()
        self.settings = settings
        # The decoder's arguments (what the parity probe compares).
        self.args = text_args
        self.vision_tower = VisionTower(settings)
        self.multi_modal_projector = Projector(settings, text_args.hidden_size)
        self.language_model = LanguageModel(text_args)

    def configure(self, options) -> "Model":
        self.language_model.configure(options)
        return self

    def image_features(self, pixel_values: mx.array, capture: Optional[dict] = None) -> mx.array:
        """pixel_values [B, C, H, W] -> [B, image_tokens, text hidden]."""
        tower = self.vision_tower.vision_model
        x = tower.embeddings(pixel_values)
        _keep(capture, "vision.embeddings", x)
        if tower.clip:
            x = tower.pre_layrnorm(x)
        states = [x]
        layers = tower.encoder.layers
        for i in range(self.settings.depth):
            # Called through the list: a capture tap on a block sees its call.
            x = layers[i](x)
            _keep(capture, f"vision.layers.{i}", x)
            states.append(x)
        picked = [states[i] for i in self.settings.feature_layers]
        if self.settings.select == "default":
            picked = [s[:, 1:] for s in picked]
        feats = self.multi_modal_projector(mx.concatenate(picked, axis=-1) if len(picked) > 1 else picked[0])
        _keep(capture, "image_features", feats)
        return feats

    def merge(self, input_ids: mx.array, features: mx.array) -> mx.array:
        """The token embeddings with the image-token positions replaced by
        the feature rows, in reading order across the batch."""
        token = self.settings.image_token_id
        is_image = input_ids == token
        n = int(is_image.sum().item())
        rows = features.shape[0] * features.shape[1]
        if n != rows:
            raise ValueError(f"image features and image tokens do not match: {n} image tokens ({token}) in the prompt, {rows} feature rows")
        h = self.language_model.model.embed_tokens(mx.where(is_image, 0, input_ids))
        flat = features.reshape(rows, -1).astype(h.dtype)
        order = mx.maximum(mx.cumsum(is_image.reshape(-1).astype(mx.int32)) - 1, 0)
        return mx.where(is_image[..., None], flat[order].reshape(h.shape), h)

    def __call__(self, input_ids: mx.array, pixel_values: Optional[mx.array] = None, cache=None, capture: Optional[dict] = None, last_only: bool = False) -> mx.array:
        """input_ids [B, L] (image tokens expanded) and, when the prompt
        holds images, pixel_values [images, C, H, W] -> logits [B, L, vocab]."""
        embeds = None
        if pixel_values is not None:
            embeds = self.merge(input_ids, self.image_features(pixel_values, capture))
        elif bool((input_ids == self.settings.image_token_id).any().item()):
            raise ValueError("the prompt holds image tokens but no pixel_values were given")
        return self.language_model(input_ids, cache=cache, capture=capture, last_only=last_only, embeds=embeds)


def _keep(capture, name, x):
    if capture is not None:
        capture[name] = x
