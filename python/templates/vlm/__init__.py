"""{{PACKAGE}}: an MLX port of a {{MODEL_TYPE}} vision-language model,
scaffolded by {{TOOL}} from {{SOURCE}}.

    from {{PACKAGE}} import Processor, greedy, load, load_image
    model, settings = load("path/to/converted")
    processor = Processor.from_dir("path/to/converted", settings)
    pixel_values, ids = processor([load_image("cat.jpg")], prompt_ids)
    tokens, _ = greedy(model, ids, mx.array(pixel_values), 32)
"""

from .config import VlmArgs
from .generate import greedy, recompute, stream
from .language.options import Options
from .llava import Model
from .load import load
from .processor import Processor
from .vision.image import ImageProcessor, load_image

__all__ = ["ImageProcessor", "Model", "Options", "Processor", "VlmArgs", "greedy", "load", "load_image", "recompute", "stream"]
