"""Load {{PACKAGE}} weights: config.json + *.safetensors from a directory.

Loading is strict: every parameter of the model must be in the weights and
every weight must be a parameter (`load_weights(strict=True)`), so a missing
or extra tensor fails here instead of silently changing the output. Copies
of the shared embedding (`encoder.embed_tokens.weight`, ...) are the same
tensor as the shared one and are dropped, after checking that they are.
Quantized checkpoints (`mlxport quantize`, mlx-lm's layout) load too: the
modules their config names are quantized first.
"""

import glob
import json
import os

import mlx.core as mx

from .config import ModelArgs
from .model import Model
from .quant import cast, dequantize, is_quantized, quantize_like

# Tied copies of the shared embedding some checkpoints store.
TIED_COPIES = {
    "t5": ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"),
    "bart": ("model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"),
}
SHARED = {"t5": "shared.weight", "bart": "model.shared.weight"}


def read_weights(path: str) -> dict:
    files = sorted(glob.glob(os.path.join(path, "*.safetensors")))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {path}")
    weights = {}
    for f in files:
        weights.update(mx.load(f))
    return weights


def drop_tied_copies(weights: dict, model_type: str) -> dict:
    shared = weights.get(SHARED[model_type])
    for k in TIED_COPIES[model_type]:
        if k in weights:
            if shared is None or weights[k].shape != shared.shape or not mx.array_equal(weights[k], shared).item():
                raise ValueError(f"{k} differs from {SHARED[model_type]}: untied input embeddings are not supported")
            del weights[k]
            # A quantized copy: its scales and biases go with it (the same as the shared ones).
            base, shared_base = k[: -len(".weight")], SHARED[model_type][: -len(".weight")]
            for suffix in (".scales", ".biases"):
                if base + suffix in weights:
                    other = weights.get(shared_base + suffix)
                    if other is None or not mx.array_equal(weights[base + suffix], other).item():
                        raise ValueError(f"{base + suffix} differs from {shared_base + suffix}: untied input embeddings are not supported")
                    del weights[base + suffix]
    return weights


def load(path: str, dtype=mx.float32, dequantized: bool = False):
    """(model, args) from a converted checkpoint directory, float or
    quantized. Floating tensors are cast to `dtype` (None: as stored). With
    `dequantized`, quantized modules become float modules holding the
    values `mx.dequantize` gives (the same model, faster on a CPU)."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    weights = read_weights(path)
    quantized = is_quantized(weights)
    args = ModelArgs.from_config(cfg)
    weights = drop_tied_copies(weights, args.model_type)
    # The output head as the weights say: its own tensor when present.
    args.tie_lm_head = "lm_head.weight" not in weights
    model = Model(args)
    if quantized:
        quantize_like(model, cfg, weights, path)
    model.load_weights(list(cast(weights, dtype).items()), strict=True)
    if quantized and dequantized:
        dequantize(model)
    model.eval()
    mx.eval(model.parameters())
    return model, args
