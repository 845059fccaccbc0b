"""Model configuration for {{PACKAGE}}: a {{MODEL_TYPE}} image model.

Read from the checkpoint's config.json. Every value the model uses is a
field here; a value this package does not implement is refused by name
(never ignored), so a port cannot silently compute something else.

Two layouts share these fields:

- ViT (`vit`): a CLS token, learned positions for exactly the configured
  image size, pre-norm blocks, a final LayerNorm, an optional tanh pooler
  and a linear classifier over the CLS token;
- DINOv2 (`dinov2`, `dinov2_with_registers`): the same blocks with layer
  scale, an optional SwiGLU feed-forward, register tokens, position
  embeddings interpolated (bicubic) to the image's patch grid, and a
  classifier over the CLS token joined with the mean patch token.
"""

from dataclasses import dataclass, field
from typing import Optional, Tuple

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "relu", "silu", "swish")
TYPES = ("vit", "dinov2", "dinov2_with_registers")


def _refuse(what: str) -> None:
    raise ValueError(f"{what}: not implemented by this package")


@dataclass
class ModelArgs:
    model_type: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str
    layer_norm_eps: float
    image_size: Tuple[int, int]
    patch_size: int
    num_channels: int
    qkv_bias: bool = True
    # ViT: the pooler's width and activation (used when the weights have one).
    pooler_output_size: int = 0
    pooler_act: str = "tanh"
    # DINOv2: layer scale, SwiGLU feed-forward, register tokens.
    layer_scale: bool = False
    use_swiglu_ffn: bool = False
    num_register_tokens: int = 0
    # Classes of the classifier head, when the weights have one.
    id2label: dict = field(default_factory=dict)
    # Set by load() from the weights.
    has_mask_token: bool = False
    has_pooler: bool = False
    has_classifier: bool = False

    @property
    def grid(self) -> Tuple[int, int]:
        """The patch grid of the configured image size (rows, columns)."""
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    @classmethod
    def from_config(cls, cfg: dict, path: Optional[str] = None) -> "ModelArgs":
        mt = cfg.get("model_type", "{{MODEL_TYPE}}")
        if mt not in TYPES:
            raise ValueError(f"model_type {mt!r} is not supported ({', '.join(TYPES)})")
        act = cfg.get("hidden_act", "gelu")
        if act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        for a in cfg.get("architectures") or []:
            if "MaskedImageModeling" in a or "Backbone" in a:
                _refuse(f"the {a} head")
        size = cfg.get("image_size", 224)
        size = (size, size) if isinstance(size, int) else tuple(size)
        patch = cfg.get("patch_size", 16)
        if not isinstance(patch, int):
            _refuse(f"a non-square patch_size {patch!r}")
        common = dict(
            model_type=mt,
            hidden_size=cfg["hidden_size"],
            num_hidden_layers=cfg["num_hidden_layers"],
            num_attention_heads=cfg["num_attention_heads"],
            hidden_act=act,
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12 if mt == "vit" else 1e-6),
            image_size=size,
            patch_size=patch,
            num_channels=cfg.get("num_channels", 3),
            qkv_bias=bool(cfg.get("qkv_bias", True)),
            id2label={int(k): v for k, v in (cfg.get("id2label") or {}).items()},
        )
        if mt == "vit":
            return cls(
                intermediate_size=cfg["intermediate_size"],
                pooler_output_size=cfg.get("pooler_output_size") or cfg["hidden_size"],
                pooler_act=cfg.get("pooler_act", "tanh"),
                **common,
            )
        hidden = int(cfg["hidden_size"] * cfg.get("mlp_ratio", 4))
        swiglu = bool(cfg.get("use_swiglu_ffn", False))
        if swiglu:
            # transformers' Dinov2SwiGLUFFN: two thirds of the width, rounded up to 8.
            hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        registers = int(cfg.get("num_register_tokens", 0) or 0) if mt == "dinov2_with_registers" else 0
        return cls(intermediate_size=hidden, layer_scale=True, use_swiglu_ffn=swiglu, num_register_tokens=registers, **common)
