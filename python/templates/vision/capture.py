"""Capture hooks of {{PACKAGE}}: the tensors the mlxport parity ladder
compares, under the oracle's names (see `mlxport oracle --help`)."""

from typing import Dict, List

import mlx.core as mx
import numpy as np

from .image import ImageProcessor, load_image

FAMILY = "vision"


def preprocess(weights_dir: str, paths: List[str]) -> np.ndarray:
    """Image files -> pixel_values [B, C, H, W] float32 by this package's
    processor (the checkpoint's preprocessor_config.json)."""
    processor = ImageProcessor.from_dir(weights_dir)
    return processor([load_image(p) for p in paths])


def forward(model, pixel_values: np.ndarray) -> Dict[str, np.ndarray]:
    """pixel_values [B, C, H, W] -> {name: [B, ...] float32}, every rung."""
    cap = {}
    model(mx.array(pixel_values), capture=cap)
    mx.eval(list(cap.values()))
    return {k: np.array(v.astype(mx.float32)) for k, v in cap.items()}


def outputs(model, pixel_values: np.ndarray) -> Dict[str, np.ndarray]:
    """The model's outputs only (last_hidden_state, pooler_output, logits)."""
    out = model(mx.array(pixel_values))
    mx.eval(list(out.values()))
    return {k: np.array(v.astype(mx.float32)) for k, v in out.items()}


def blocks(model) -> Dict[str, list]:
    """The block lists by their ladder name prefix: the isolated rung calls
    each block on the source's input to it."""
    b = model.blocks()
    return b if isinstance(b, dict) else {"layers": b}


def forward_text(model, ids: List[int]) -> Dict[str, np.ndarray]:
    """Two-tower models: one text's token ids -> {name: [1, ...] float32}
    (`text.*` rungs and the normalised `text_embeds`)."""
    from .layers import l2_normalize

    cap = {}
    e = model.encode_text(list(ids), capture=cap)
    cap["text_embeds"] = l2_normalize(e)
    mx.eval(list(cap.values()))
    return {k: np.array(v.astype(mx.float32)) for k, v in cap.items()}


def similarity(model, image_embeds: np.ndarray, text_embeds: np.ndarray) -> np.ndarray:
    """Two-tower models: [images, texts] logits from normalised embeddings."""
    s = model.logits(mx.array(image_embeds), mx.array(text_embeds))
    mx.eval(s)
    return np.array(s.astype(mx.float32))
