"""Load {{PACKAGE}} weights: config.json + *.safetensors from a directory.

Loading is strict: every parameter of the model must be in the weights and
every weight must be a parameter (`load_weights(strict=True)`), so a missing
or extra tensor fails here instead of silently changing the output. Copies
of the shared embedding (`encoder.embed_tokens.weight`, ...) are the same
tensor as the shared one and are dropped, after checking that they are.
"""

import glob
import json
import os

import mlx.core as mx

from .config import ModelArgs
from .model import Model

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
    return weights


def load(path: str, dtype=mx.float32):
    """(model, args) from a converted checkpoint directory."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    weights = read_weights(path)
    quantized = sorted(k for k in weights if k.endswith(".scales"))
    if quantized:
        raise ValueError(f"{path} holds quantized weights ({quantized[0]}, ...); this port takes float weights")
    args = ModelArgs.from_config(cfg)
    weights = drop_tied_copies(weights, args.model_type)
    # The output head as the weights say: its own tensor when present.
    args.tie_lm_head = "lm_head.weight" not in weights
    model = Model(args)
    if dtype is not None:
        weights = {k: v.astype(dtype) for k, v in weights.items()}
    model.load_weights(list(weights.items()), strict=True)
    model.eval()
    mx.eval(model.parameters())
    return model, args
