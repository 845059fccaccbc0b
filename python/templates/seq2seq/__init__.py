"""{{PACKAGE}}: an MLX port of a {{MODEL_TYPE}} encoder-decoder, scaffolded by
{{TOOL}} from {{SOURCE}}.

    from {{PACKAGE}} import load, greedy
    model, args = load("path/to/converted")
    tokens, _ = greedy(model, [37, 8, 1], 16)
"""

from .cache import LayerCache, make_cache
from .config import ModelArgs
from .generate import greedy, recompute, stream, teacher_forced
from .load import load
from .model import Model

__all__ = ["LayerCache", "make_cache", "ModelArgs", "greedy", "recompute", "stream", "teacher_forced", "load", "Model"]
