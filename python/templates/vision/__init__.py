"""{{PACKAGE}}: an MLX port of a {{MODEL_TYPE}} image model, scaffolded by
{{TOOL}} from {{SOURCE}}.

    from {{PACKAGE}} import ImageProcessor, load, load_image
    model, args = load("path/to/converted")
    processor = ImageProcessor.from_dir("path/to/converted")
    out = model(processor([load_image("cat.jpg")]))
    out["logits"]  # [1, classes], where the checkpoint has a classifier
"""

from .config import ModelArgs
from .image import ImageProcessor, load_image
from .load import load
from .model import Model

__all__ = ["ImageProcessor", "ModelArgs", "Model", "load", "load_image"]
