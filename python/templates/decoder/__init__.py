"""{{PACKAGE}}: an MLX port of a {{MODEL_TYPE}} dense decoder, scaffolded by
{{TOOL}} from {{SOURCE}}.

    from {{PACKAGE}} import load, greedy
    model, args = load("path/to/converted")
    tokens, _ = greedy(model, [1, 2, 3], 16)
"""

from .cache import KVCache, QuantizedKVCache, RotatingKVCache, StepKVCache, make_cache
from .config import ModelArgs
from .generate import batch_greedy, greedy, recompute, speculative_greedy, stream
from .load import load
from .model import Model
from .options import Options

__all__ = [
    "KVCache",
    "StepKVCache",
    "RotatingKVCache",
    "QuantizedKVCache",
    "make_cache",
    "ModelArgs",
    "Options",
    "greedy",
    "batch_greedy",
    "speculative_greedy",
    "stream",
    "recompute",
    "load",
    "Model",
]
