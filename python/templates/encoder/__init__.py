"""{{PACKAGE}}: an MLX port of a {{MODEL_TYPE}} encoder, scaffolded by
{{TOOL}} from {{SOURCE}}.

    from {{PACKAGE}} import load
    model, args = load("path/to/converted")
    emb = model.sentence_embedding(mx.array([[101, 7592, 102]]))
"""

from .config import ModelArgs
from .load import load
from .model import Model

__all__ = ["ModelArgs", "load", "Model"]
