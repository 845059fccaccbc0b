"""Load {{PACKAGE}} weights: config.json + *.safetensors from a directory,
the decoder under `language_model.`, the image tower under `vision_tower.`.

Loading is strict: every parameter must be in the weights and every
weight a parameter. Quantized checkpoints (mlx-lm's layout) load too.
"""

import json
import os

import mlx.core as mx

from .config import VlmArgs
from .language.load import args_from, read_weights
from .llava import Model
from .quant import cast, is_quantized, quantize_like


def load(path: str, dtype=mx.float32):
    """(model, settings) from a converted checkpoint directory."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    settings = VlmArgs.from_config(cfg)
    weights = read_weights(path)
    text = dict(cfg.get("text_config") or {})
    text.setdefault("tie_word_embeddings", cfg.get("tie_word_embeddings", False))
    model = Model(settings, args_from(text, weights, "language_model."))
    if is_quantized(weights):
        quantize_like(model, cfg, weights, path)
    model.load_weights(list(cast(weights, dtype).items()), strict=True)
    model.eval()
    mx.eval(model.parameters())
    return model, settings
