"""The inputs of {{PACKAGE}} from images and a prompt, as transformers'
`LlavaProcessor` makes them: the image processor of
`preprocessor_config.json` (`vision.image`), and each image token of the
tokenized prompt expanded to as many tokens as the image gives feature
rows. `processor_config.json`, where present, must agree with the model
on that count (its `patch_size`, `num_additional_image_tokens` and
`vision_feature_select_strategy`), else loading stops."""

import json
import os
from typing import List, Sequence, Tuple

import numpy as np

from .config import VlmArgs
from .vision.image import ImageProcessor, load_image  # noqa: F401  (re-exported)


class Processor:
    def __init__(self, images: ImageProcessor, settings: VlmArgs):
        self.images = images
        self.image_token_id = settings.image_token_id
        self.image_tokens = settings.image_tokens

    @classmethod
    def from_dir(cls, path: str, settings: VlmArgs) -> "Processor":
        """The processor of a checkpoint directory: the image processor of
        `preprocessor_config.json`, or of `processor_config.json`'s
        `image_processor` (where newer transformers saves it)."""
        f = os.path.join(path, "processor_config.json")
        doc = {}
        if os.path.isfile(f):
            with open(f) as fh:
                doc = json.load(fh)
        if os.path.isfile(os.path.join(path, "preprocessor_config.json")):
            images = ImageProcessor.from_dir(path)
        elif isinstance(doc.get("image_processor"), dict):
            images = ImageProcessor(doc["image_processor"], f)
        else:
            raise FileNotFoundError(f"{path}: no preprocessor_config.json and no image_processor in processor_config.json")
        p = cls(images, settings)
        if doc:
            v = settings.vision_config
            h, w = p.images.output_size(v["image_size"], v["image_size"])
            patch = doc.get("patch_size")
            if patch:
                n = (h // patch) * (w // patch) + int(doc.get("num_additional_image_tokens", 0))
                if doc.get("vision_feature_select_strategy", "default") == "default":
                    n -= 1
                if n != p.image_tokens:
                    raise ValueError(f"{f}: the processor expands an image to {n} tokens, the model gives {p.image_tokens} feature rows")
        return p

    def expand(self, ids: Sequence[int]) -> List[int]:
        """Each image token as `image_tokens` copies of it."""
        out: List[int] = []
        for t in ids:
            out.extend([t] * self.image_tokens if t == self.image_token_id else [t])
        return out

    def __call__(self, images: Sequence, ids: Sequence[int]) -> Tuple[np.ndarray, List[int]]:
        """(pixel_values [images, 3, H, W], the prompt's ids expanded)."""
        n = sum(1 for t in ids if t == self.image_token_id)
        if n != len(images):
            raise ValueError(f"the prompt holds {n} image tokens ({self.image_token_id}) for {len(images)} images")
        return self.images(images), self.expand(ids)
