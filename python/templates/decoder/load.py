"""Load {{PACKAGE}} weights: config.json + *.safetensors from a directory.

Loading is strict: every parameter of the model must be in the weights and
every weight must be a parameter (`load_weights(strict=True)`), so a missing
or extra tensor fails here instead of silently changing the output.
"""

import glob
import json
import os

import mlx.core as mx

from .config import ModelArgs
from .model import Model

# Buffers some checkpoints carry that are not parameters.
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


def read_weights(path: str) -> dict:
    files = sorted(glob.glob(os.path.join(path, "*.safetensors")))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {path}")
    weights = {}
    for f in files:
        weights.update(mx.load(f))
    return {k: v for k, v in weights.items() if not k.endswith(IGNORED_SUFFIXES)}


def load(path: str, dtype=mx.float32):
    """(model, args) from a converted checkpoint directory."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    weights = read_weights(path)
    quantized = sorted(k for k in weights if k.endswith(".scales"))
    if quantized:
        raise ValueError(f"{path} holds quantized weights ({quantized[0]}, ...); this port takes float weights")
    args = ModelArgs.from_config(cfg)
    # Biases, QK-norm and the output head as the weights say.
    p = "model.layers.0."
    args.q_bias = p + "self_attn.q_proj.bias" in weights
    args.k_bias = p + "self_attn.k_proj.bias" in weights
    args.v_bias = p + "self_attn.v_proj.bias" in weights
    args.o_bias = p + "self_attn.o_proj.bias" in weights
    args.mlp_bias = p + "mlp.gate_proj.bias" in weights or p + "mlp.c_fc.bias" in weights
    args.qk_norm = p + "self_attn.q_norm.weight" in weights
    args.tie_word_embeddings = "lm_head.weight" not in weights
    model = Model(args)
    if dtype is not None:
        weights = {k: v.astype(dtype) for k, v in weights.items()}
    model.load_weights(list(weights.items()), strict=True)
    model.eval()
    mx.eval(model.parameters())
    return model, args
