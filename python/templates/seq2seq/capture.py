"""Capture hooks of {{PACKAGE}}: the tensors the mlxport parity ladder
compares, under the oracle's names (see `mlxport oracle --help`)."""

from typing import Dict, List

import mlx.core as mx
import numpy as np

from .generate import greedy, recompute

FAMILY = "encoder-decoder"


def forward(model, input_ids: List[int], decoder_input_ids: List[int]) -> Dict[str, np.ndarray]:
    """One unpadded encoder sequence and the decoder inputs (teacher forced)
    -> {name: [1, L, ...] float32}."""
    cap = {}
    enc = model.encode(mx.array([input_ids]), capture=cap)
    model.decode(mx.array([decoder_input_ids]), enc, capture=cap)
    mx.eval(list(cap.values()))
    return {k: np.array(v.astype(mx.float32)) for k, v in cap.items()}


def decode(model, input_ids: List[int], max_new_tokens: int):
    """(new ids, cache-decode logits [n, V], full-recompute logits [n, V])."""
    new, steps = greedy(model, input_ids, max_new_tokens)
    full = recompute(model, input_ids, new)
    mx.eval(steps, full)
    return new, np.array(steps.astype(mx.float32)), np.array(full.astype(mx.float32))
