"""Capture hooks of {{PACKAGE}}: the tensors the mlxport parity ladder
compares, under the oracle's names (see `mlxport oracle --help`)."""

from typing import Dict, List, Optional

import mlx.core as mx
import numpy as np

FAMILY = "encoder"


def forward(model, input_ids: List[int], token_type_ids: Optional[List[int]] = None) -> Dict[str, np.ndarray]:
    """One unpadded sequence -> {name: [1, ...] float32}."""
    cap = {}
    tt = mx.array([token_type_ids]) if token_type_ids is not None else None
    model(mx.array([input_ids]), token_type_ids=tt, capture=cap)
    mx.eval(list(cap.values()))
    return {k: np.array(v.astype(mx.float32)) for k, v in cap.items()}


def forward_batch(model, input_ids: np.ndarray, attention_mask: np.ndarray) -> Dict[str, np.ndarray]:
    """A right-padded batch [B, T] with its mask (1 = token) in one call ->
    the last hidden state [B, T, H]."""
    h = model(mx.array(input_ids), attention_mask=mx.array(attention_mask))
    mx.eval(h)
    return {"last_hidden_state": np.array(h.astype(mx.float32))}


def blocks(model) -> Dict[str, list]:
    """The block lists by their ladder name prefix: the isolated rung calls
    each block on the source's input to it."""
    return {"layers": model.blocks()}
