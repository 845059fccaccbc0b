"""The {{PACKAGE}} model: a {{MODEL_TYPE}} image model in MLX.

One file per architecture (`vit.py` for ViT and DeiT, `dinov2.py`, `clip.py` for CLIP and
SigLIP, `convnext.py`, `resnet.py`) over shared pieces
(`layers.py`); `Model(args)` builds the one `args.model_type` names.
Every model takes `pixel_values` as the image processor makes them
([B, C, H, W], see `image.py`) and returns a dict: `last_hidden_state`,
and `pooler_output` / `logits` where the checkpoint has them.

`capture`, when given a dict, receives every ladder boundary under the
names the mlxport oracle uses: `embeddings`, `layers.N`, `final_norm`,
`last_hidden_state`, `pooler_output`, `logits`.
"""

from . import clip, convnext, dinov2, resnet, vit
from .config import ModelArgs

ARCHITECTURES = {"vit": vit.Model, "deit": vit.Model, "dinov2": dinov2.Model, "dinov2_with_registers": dinov2.Model, "clip": clip.Model, "siglip": clip.Model, "convnext": convnext.Model, "convnextv2": convnext.Model, "resnet": resnet.Model}


def Model(args: ModelArgs):
    if args.model_type not in ARCHITECTURES:
        raise ValueError(f"model_type {args.model_type!r} is not supported ({', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[args.model_type](args)
