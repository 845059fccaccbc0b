"""Load {{PACKAGE}} weights: config.json + *.safetensors from a directory.

Loading is strict: every parameter of the model must be in the weights and
every weight must be a parameter (`load_weights(strict=True)`), so a missing
or extra tensor fails here instead of silently changing the output.
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


def args_from(cfg: dict, weights: dict, prefix: str = "") -> ModelArgs:
    """The model's arguments from its config, with the biases, QK-norm
    and output head as the weights (their names under `prefix`) say."""
    args = ModelArgs.from_config(cfg)
    p = prefix + "model.layers.0."
    args.q_bias = p + "self_attn.q_proj.bias" in weights
    args.k_bias = p + "self_attn.k_proj.bias" in weights
    args.v_bias = p + "self_attn.v_proj.bias" in weights
    args.o_bias = p + "self_attn.o_proj.bias" in weights
    args.mlp_bias = p + "mlp.gate_proj.bias" in weights or p + "mlp.c_fc.bias" in weights
    args.qk_norm = p + "self_attn.q_norm.weight" in weights
    args.tie_word_embeddings = prefix + "lm_head.weight" not in weights
    return args


def load(path: str, dtype=mx.float32, dequantized: bool = False):
    """(model, args) from a converted checkpoint directory, float or
    quantized (mlx-lm's layout). Floating tensors, the scales and biases of
    quantized ones included, are cast to `dtype` (None: as stored); on a
    CPU float32 computes several times faster than bfloat16. With
    `dequantized`, quantized modules become float modules holding the
    dequantized values (a CPU multiplies those far faster than packed
    ones; the values, and so the model, are the same)."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    weights = read_weights(path)
    quantized = is_quantized(weights)
    args = args_from(cfg, weights)
    model = Model(args)
    if quantized:
        quantize_like(model, cfg, weights, path)
    weights = cast(weights, dtype)
    model.load_weights(list(weights.items()), strict=True)
    if quantized and dequantized:
        dequantize(model)
    model.eval()
    mx.eval(model.parameters())
    return model, args
