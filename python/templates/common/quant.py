"""Quantized checkpoints for {{PACKAGE}}: mlx-lm's layout (`mlxport
quantize`, `mlx_lm.convert -q`), where a quantized module stores `weight`
(packed), `scales` and, for affine quantization, `biases`, and config.json
says how under `quantization` (group size, bits, mode, and per-module
overrides under the module's path).
"""

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten


def is_quantized(weights: dict) -> bool:
    return any(k.endswith(".scales") for k in weights)


def quantize_like(model, cfg: dict, weights: dict, path: str) -> None:
    """Quantize the modules whose weights come quantized, as the config's
    `quantization` says."""
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


def cast(weights: dict, dtype) -> dict:
    """Floating tensors (scales and biases of quantized ones included) cast
    to `dtype`; packed integers as they are. `None`: as stored."""
    if dtype is None:
        return weights
    return {k: v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) else v for k, v in weights.items()}
