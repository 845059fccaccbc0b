"""Capture hooks of {{PACKAGE}}: the tensors the mlxport parity ladder
compares, under the oracle's names (see `mlxport oracle --help`)."""

from typing import Dict, List

import mlx.core as mx
import numpy as np

from .cache import make_cache
from .generate import greedy, greedy_from, prefill, recompute
from .options import Options

# The ladder proves the first port: no serving switch is on.
PROVEN = Options()

FAMILY = "decoder"


def forward(model, input_ids: List[int]) -> Dict[str, np.ndarray]:
    """One unpadded sequence -> {name: [1, L, ...] float32}."""
    cap = {}
    model(mx.array([input_ids]), capture=cap)
    mx.eval(list(cap.values()))
    return {k: np.array(v.astype(mx.float32)) for k, v in cap.items()}


def forward_batch(model, input_ids: np.ndarray, attention_mask: np.ndarray) -> Dict[str, np.ndarray]:
    """A right-padded batch [B, T] in one call -> the last block's output
    (`hidden`, [B, T, H]) and the logits [B, T, V]. Attention is causal, so
    the padding after a row never reaches its real tokens (the mask is
    not needed)."""
    cap = {}
    logits = model(mx.array(input_ids), capture=cap)
    hidden = cap[f"layers.{len(model.model.layers) - 1}"]
    mx.eval(hidden, logits)
    return {"hidden": np.array(hidden.astype(mx.float32)), "logits": np.array(logits.astype(mx.float32))}


def blocks(model) -> Dict[str, list]:
    """The block lists by their ladder name prefix: the isolated rung calls
    each block on the source's input to it."""
    return {"layers": model.model.layers}


def decode(model, prompt: List[int], max_new_tokens: int):
    """(new ids, cache-decode logits [n, V], full-recompute logits [n, V])."""
    new, steps = greedy(model, prompt, max_new_tokens, options=PROVEN)
    full = recompute(model, prompt, new)
    mx.eval(steps, full)
    return new, np.array(steps.astype(mx.float32)), np.array(full.astype(mx.float32))


def decode_chunked(model, prompt: List[int], max_new_tokens: int, chunk: int):
    """The prompt prefilled into the cache `chunk` tokens per call, then
    greedy decoding: (new ids, step logits [n, V], logits at the end of
    every prefill call [calls, V])."""
    model.configure(PROVEN)
    cache = make_cache(model, PROVEN)
    ends = prefill(model, cache, prompt, chunk)
    new, steps = greedy_from(model, cache, ends[-1], max_new_tokens)
    mx.eval(steps, ends)
    return new, np.array(steps.astype(mx.float32)), np.array(ends.astype(mx.float32))
