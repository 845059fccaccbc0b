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
TYPES = ("vit", "deit", "dinov2", "dinov2_with_registers", "clip", "siglip", "convnext", "convnextv2", "resnet")
# The towers' defaults of transformers' CLIP and SigLIP configs.
TOWER_DEFAULTS = {
    "clip": {
        "text": dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, eos_token_id=49407),
        "vision": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, num_channels=3, image_size=224, patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5),
    },
    "siglip": {
        "text": dict(vocab_size=32000, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=64, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6),
        "vision": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, num_channels=3, image_size=224, patch_size=16, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, vision_use_head=True),
    },
}


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
    # CLIP and SigLIP: each tower's settings, and the shared width.
    text_config: dict = field(default_factory=dict)
    vision_config: dict = field(default_factory=dict)
    projection_dim: int = 0
    # Convolutional stages (ConvNeXt): channels and blocks per stage.
    hidden_sizes: tuple = ()
    depths: tuple = ()
    # ResNet: the stem's width, the residual layer kind and where it strides.
    embedding_size: int = 0
    layer_type: str = "bottleneck"
    downsample_in_first_stage: bool = False
    downsample_in_bottleneck: bool = False
    # Set by load() from the weights.
    has_mask_token: bool = False
    has_distillation_token: bool = False
    has_distilled_heads: bool = False
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
        if mt in ("clip", "siglip"):
            return cls.from_dual(cfg, mt)
        if mt in ("convnext", "convnextv2"):
            return cls.from_convnext(cfg, mt)
        if mt == "resnet":
            return cls.from_resnet(cfg)
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
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12 if mt in ("vit", "deit") else 1e-6),
            image_size=size,
            patch_size=patch,
            num_channels=cfg.get("num_channels", 3),
            qkv_bias=bool(cfg.get("qkv_bias", True)),
            id2label={int(k): v for k, v in (cfg.get("id2label") or {}).items()},
        )
        if mt in ("vit", "deit"):
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

    @classmethod
    def from_dual(cls, cfg: dict, mt: str) -> "ModelArgs":
        """CLIP / SigLIP: both towers' settings (transformers' defaults for
        what the config leaves out), each checked."""
        towers = {}
        for side in ("text", "vision"):
            t = dict(TOWER_DEFAULTS[mt][side])
            t.update({k: v for k, v in (cfg.get(f"{side}_config") or {}).items() if k in t or k in ("projection_size",)})
            if t["hidden_act"] not in ACTIVATIONS:
                raise ValueError(f"{side}_config.hidden_act {t['hidden_act']!r} is not supported ({', '.join(ACTIVATIONS)})")
            if t["hidden_size"] % t["num_attention_heads"]:
                raise ValueError(f"{side}_config: hidden_size {t['hidden_size']} does not split into {t['num_attention_heads']} heads")
            towers[side] = t
        v = towers["vision"]
        if not isinstance(v["image_size"], int) or not isinstance(v["patch_size"], int):
            _refuse(f"non-square vision_config image_size / patch_size ({v['image_size']!r}, {v['patch_size']!r})")
        for a in cfg.get("architectures") or []:
            if a not in ("CLIPModel", "SiglipModel"):
                _refuse(f"the {a} head (the template has the two-tower {'CLIPModel' if mt == 'clip' else 'SiglipModel'})")
        return cls(
            model_type=mt,
            hidden_size=v["hidden_size"],
            num_hidden_layers=v["num_hidden_layers"],
            num_attention_heads=v["num_attention_heads"],
            intermediate_size=v["intermediate_size"],
            hidden_act=v["hidden_act"],
            layer_norm_eps=v["layer_norm_eps"],
            image_size=(v["image_size"], v["image_size"]),
            patch_size=v["patch_size"],
            num_channels=v["num_channels"],
            text_config=towers["text"],
            vision_config=v,
            projection_dim=int(cfg.get("projection_dim", 512)) if mt == "clip" else 0,
        )

    @classmethod
    def from_convnext(cls, cfg: dict, mt: str) -> "ModelArgs":
        for a in cfg.get("architectures") or []:
            if "Backbone" in a:
                _refuse(f"the {a} head (feature maps of chosen stages)")
        sizes, depths = list(cfg.get("hidden_sizes") or [96, 192, 384, 768]), list(cfg.get("depths") or [3, 3, 9, 3])
        n = int(cfg.get("num_stages", len(depths)))
        if not (len(sizes) == len(depths) == n) or n == 0:
            raise ValueError(f"hidden_sizes {sizes}, depths {depths} and num_stages {n} must agree")
        act = cfg.get("hidden_act", "gelu")
        if act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        size = cfg.get("image_size", 224)
        return cls(
            model_type=mt,
            hidden_size=sizes[-1],
            num_hidden_layers=n,
            num_attention_heads=0,
            intermediate_size=4 * sizes[-1],
            hidden_act=act,
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            image_size=(size, size) if isinstance(size, int) else tuple(size),
            patch_size=int(cfg.get("patch_size", 4)),
            num_channels=cfg.get("num_channels", 3),
            layer_scale=float(cfg.get("layer_scale_init_value", 1e-6)) > 0,
            hidden_sizes=tuple(sizes),
            depths=tuple(depths),
            id2label={int(k): v for k, v in (cfg.get("id2label") or {}).items()},
        )

    @classmethod
    def from_resnet(cls, cfg: dict) -> "ModelArgs":
        for a in cfg.get("architectures") or []:
            if "Backbone" in a:
                _refuse(f"the {a} head (feature maps of chosen stages)")
        sizes, depths = list(cfg.get("hidden_sizes") or [256, 512, 1024, 2048]), list(cfg.get("depths") or [3, 4, 6, 3])
        if len(sizes) != len(depths) or not sizes:
            raise ValueError(f"hidden_sizes {sizes} and depths {depths} must have one entry per stage")
        kind = cfg.get("layer_type", "bottleneck")
        if kind not in ("bottleneck", "basic"):
            raise ValueError(f"layer_type {kind!r} is not supported (bottleneck, basic)")
        act = cfg.get("hidden_act", "relu")
        if act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        return cls(
            model_type="resnet",
            hidden_size=sizes[-1],
            num_hidden_layers=len(sizes),
            num_attention_heads=0,
            intermediate_size=0,
            hidden_act=act,
            layer_norm_eps=1e-5,
            image_size=(224, 224),
            patch_size=1,
            num_channels=cfg.get("num_channels", 3),
            hidden_sizes=tuple(sizes),
            depths=tuple(depths),
            embedding_size=int(cfg.get("embedding_size", 64)),
            layer_type=kind,
            downsample_in_first_stage=bool(cfg.get("downsample_in_first_stage", False)),
            downsample_in_bottleneck=bool(cfg.get("downsample_in_bottleneck", False)),
            id2label={int(k): v for k, v in (cfg.get("id2label") or {}).items()},
        )
