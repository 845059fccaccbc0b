"""Capture hooks of {{PACKAGE}}: the tensors the mlxport parity ladder
compares, under the oracle's names (see `mlxport oracle --help`)."""

from typing import Dict, List

import mlx.core as mx
import numpy as np

from .generate import greedy, recompute
from .language.options import Options
from .processor import Processor
from .vision.image import load_image

# The ladder proves the first port: no serving switch is on.
PROVEN = Options()

FAMILY = "vision-language"


def _np(d: Dict[str, mx.array]) -> Dict[str, np.ndarray]:
    mx.eval(list(d.values()))
    return {k: np.array(v.astype(mx.float32)) for k, v in d.items()}


def preprocess(model, weights_dir: str, image_paths: List[str], prompt_ids: List[List[int]]):
    """The package's own processor on image files and tokenized prompts
    (one image token each): (pixel_values [B, 3, H, W], expanded ids)."""
    p = Processor.from_dir(weights_dir, model.settings)
    pv, ids = [], []
    for path, prompt in zip(image_paths, prompt_ids):
        x, e = p([load_image(path)], prompt)
        pv.append(x)
        ids.append(e)
    return np.concatenate(pv, axis=0), ids


def forward(model, input_ids: List[int], pixel_values: np.ndarray) -> Dict[str, np.ndarray]:
    """One prompt and its image [1, 3, H, W] -> {name: [1, ...] float32}."""
    cap = {}
    model(mx.array([input_ids]), mx.array(pixel_values), capture=cap)
    return _np(cap)


def blocks(model) -> Dict[str, list]:
    """The block lists by their ladder name prefix (the image tower's
    blocks that run)."""
    return {"layers": model.language_model.model.layers, "vision.layers": model.vision_tower.vision_model.encoder.layers}


def decode(model, input_ids: List[int], pixel_values: np.ndarray, max_new_tokens: int):
    """(new ids, cache-decode logits [n, V], full-recompute logits [n, V])."""
    pv = mx.array(pixel_values)
    new, steps = greedy(model, input_ids, pv, max_new_tokens, options=PROVEN)
    full = recompute(model, input_ids, pv, new)
    mx.eval(steps, full)
    return new, np.array(steps.astype(mx.float32)), np.array(full.astype(mx.float32))
