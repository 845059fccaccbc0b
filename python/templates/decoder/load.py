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
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

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


def quantize_like(model, cfg: dict, weights: dict, path: str) -> None:
    """Quantize the modules whose weights come quantized, as the config's
    `quantization` says (mlx-lm's layout: group size, bits and mode, with
    per-module overrides under the module's path)."""
    q = cfg.get("quantization") or cfg.get("quantization_config")
    if not isinstance(q, dict) or "bits" not in q or "group_size" not in q:
        raise ValueError(f"{path}: quantized weights (.scales) but config.json has no 'quantization' with bits and group_size")

    def predicate(p, m):
        if p in q:
            return q[p]
        return hasattr(m, "to_quantized") and f"{p}.scales" in weights

    nn.quantize(model, group_size=int(q["group_size"]), bits=int(q["bits"]), mode=q.get("mode", "affine"), class_predicate=predicate)
    params = dict(tree_flatten(model.parameters()))
    left = sorted(k for k in weights if k.endswith(".scales") and k not in params)
    if left:
        raise ValueError(f"{path}: {left[0]} is quantized but this package has no quantized form of that module (quantize it with a rule that skips it)")


def dequantize(model) -> None:
    """Replace every quantized module by its float form holding exactly the
    values `mx.dequantize` gives (scales and biases in their dtype)."""
    swaps = []
    for name, m in model.named_modules():
        if not hasattr(m, "scales"):
            continue
        kw = dict(group_size=m.group_size, bits=m.bits, mode=getattr(m, "mode", "affine"))
        w = mx.dequantize(m.weight, m.scales, m.get("biases"), **kw)
        if isinstance(m, nn.QuantizedEmbedding):
            f = nn.Embedding(*w.shape)
        elif isinstance(m, nn.QuantizedLinear):
            f = nn.Linear(w.shape[1], w.shape[0], bias="bias" in m)
            if "bias" in m:
                f.bias = m.bias
        elif type(m).__name__ == "QuantizedSwitchLinear":
            from .moe import SwitchLinear

            f = SwitchLinear(w.shape[0], w.shape[2], w.shape[1])
        else:
            raise ValueError(f"{name}: no float form of {type(m).__name__} to dequantize into")
        f.weight = w
        swaps.append((name, f))
    model.update_modules(tree_unflatten(swaps))


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
    quantized = any(k.endswith(".scales") for k in weights)
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
    if quantized:
        quantize_like(model, cfg, weights, path)
    if dtype is not None:
        weights = {k: v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) else v for k, v in weights.items()}
    model.load_weights(list(weights.items()), strict=True)
    if quantized and dequantized:
        dequantize(model)
    model.eval()
    mx.eval(model.parameters())
    return model, args
