"""Load {{PACKAGE}} weights: config.json + *.safetensors from a directory.

Loading is strict (`load_weights(strict=True)`): a missing or extra tensor
fails here instead of silently changing the output.
"""

import glob
import json
import os

import mlx.core as mx

from .config import ModelArgs
from .model import Model
from .quant import is_quantized, quantize_like

# Buffers some checkpoints carry that are not parameters.
IGNORED_SUFFIXES = ("embeddings.position_ids",)
# Prefixes of task-model checkpoints (BertForX keeps the encoder under "bert.").
PREFIXES = ("bert.", "roberta.", "distilbert.", "electra.", "model.")


def read_weights(path: str) -> dict:
    files = sorted(glob.glob(os.path.join(path, "*.safetensors")))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {path}")
    weights = {}
    for f in files:
        weights.update(mx.load(f))
    out = {}
    for k, v in weights.items():
        if k.endswith(IGNORED_SUFFIXES):
            continue
        for p in PREFIXES:
            if k.startswith(p):
                k = k[len(p):]
                break
        out[k] = v
    return out


def load(path: str, dtype=mx.float32):
    """(model, args) from a converted checkpoint directory.

    A checkpoint whose config.json has a ``quantization`` entry
    (``group_size``, ``bits``, optional ``mode``) is loaded as MLX stores
    quantized weights: the layers with ``scales`` in the checkpoint become
    quantized layers before the strict load; only floating tensors are cast.
    """
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    weights = read_weights(path)
    args = ModelArgs.from_config(cfg, path)
    args.has_pooler = "pooler.dense.weight" in weights
    model = Model(args)
    if is_quantized(weights):
        quantize_like(model, cfg, weights, path)
    if dtype is not None:
        weights = {k: v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) and not k.endswith((".scales", ".biases")) else v for k, v in weights.items()}
    model.load_weights(list(weights.items()), strict=True)
    model.eval()
    mx.eval(model.parameters())
    return model, args
