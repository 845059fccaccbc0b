"""Capture hooks of {{PACKAGE}}: the tensors the mlxport parity ladder
compares, under the oracle's names (see `mlxport oracle --help`)."""

from typing import Dict, List, Optional

import mlx.core as mx
import numpy as np

from .generate import greedy, recompute

FAMILY = "encoder-decoder"


def forward(model, input_ids: List[int], decoder_input_ids: List[int], encoder_output: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """One unpadded encoder sequence and the decoder inputs (teacher forced)
    -> {name: [1, L, ...] float32}. With `encoder_output` ([1, L, H], the
    source's), the decoder attends to it instead of the package's own."""
    cap = {}
    enc = model.encode(mx.array([input_ids]), capture=cap)
    if encoder_output is not None:
        enc = mx.array(encoder_output).astype(enc.dtype)
    model.decode(mx.array([decoder_input_ids]), enc, capture=cap)
    mx.eval(list(cap.values()))
    return {k: np.array(v.astype(mx.float32)) for k, v in cap.items()}


def forward_batch(model, input_ids: np.ndarray, attention_mask: np.ndarray, decoder_input_ids: np.ndarray) -> Dict[str, np.ndarray]:
    """A right-padded batch [B, T] with its mask and the teacher-forced
    decoder inputs [B, T'] in one call -> the encoder output [B, T, H] and
    the logits [B, T', V]."""
    mask = mx.array(attention_mask)
    enc = model.encode(mx.array(input_ids), attention_mask=mask)
    logits = model.decode(mx.array(decoder_input_ids), enc, encoder_mask=mask)
    mx.eval(enc, logits)
    return {"encoder": np.array(enc.astype(mx.float32)), "logits": np.array(logits.astype(mx.float32))}


def blocks(model) -> Dict[str, list]:
    """The block lists by their ladder name prefix: the isolated rung calls
    each block on the source's input to it."""
    stacks = model.model if "model" in model else model
    enc = stacks.encoder
    dec = stacks.decoder
    return {"encoder.layers": enc.block if "block" in enc else enc.layers, "decoder.layers": dec.block if "block" in dec else dec.layers}


def decode(model, input_ids: List[int], max_new_tokens: int):
    """(new ids, cache-decode logits [n, V], full-recompute logits [n, V])."""
    new, steps = greedy(model, input_ids, max_new_tokens)
    full = recompute(model, input_ids, new)
    mx.eval(steps, full)
    return new, np.array(steps.astype(mx.float32)), np.array(full.astype(mx.float32))
