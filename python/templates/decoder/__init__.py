"""{{PACKAGE}}: an MLX port of a {{MODEL_TYPE}} dense decoder, scaffolded by
{{TOOL}} from {{SOURCE}}.

    from {{PACKAGE}} import load, greedy
    model, args = load("path/to/converted")
    tokens, _ = greedy(model, [1, 2, 3], 16)
"""

from .cache import KVCache, make_cache
from .config import ModelArgs
from .generate import greedy, recompute
from .load import load
from .model import Model

__all__ = ["KVCache", "make_cache", "ModelArgs", "greedy", "recompute", "load", "Model"]
