"""The settings of {{PACKAGE}} beyond its two parts: which vision states
feed the projector, how many image tokens one image becomes, and the image
token, read from `config.json` as transformers' `LlavaConfig` reads them
(its defaults where the file leaves a key out). Anything the package does
not implement is refused by name."""

from dataclasses import dataclass, field
from typing import List

from .vision.config import TOWER_DEFAULTS
from .vision.layers import activation

# The image towers the package runs (transformers' vision_config.model_type).
TOWERS = {"clip_vision_model": "clip", "siglip_vision_model": "siglip"}


@dataclass
class VlmArgs:
    image_token_id: int
    feature_layers: List[int]  # indices into the tower's hidden states, non-negative
    select: str  # "default" (the class token dropped) or "full"
    projector_act: str
    projector_bias: bool
    clip: bool
    vision_config: dict = field(default_factory=dict)

    @property
    def depth(self) -> int:
        """Blocks of the image tower that run: those the features need."""
        return max(self.feature_layers)

    @property
    def image_tokens(self) -> int:
        """Feature rows one image gives, so the tokens it takes in the prompt."""
        v = self.vision_config
        n = (v["image_size"] // v["patch_size"]) ** 2 + (1 if self.clip else 0)
        return n - 1 if self.select == "default" else n

    @classmethod
    def from_config(cls, cfg: dict) -> "VlmArgs":
        if cfg.get("model_type") != "llava":
            raise ValueError(f"model_type {cfg.get('model_type')!r}: this package is a llava")
        vc = dict(cfg.get("vision_config") or {})
        kind = TOWERS.get(vc.get("model_type", "clip_vision_model"))
        if kind is None:
            raise ValueError(f"vision_config.model_type {vc.get('model_type')!r}: not implemented (image towers: {', '.join(TOWERS)})")
        v = dict(TOWER_DEFAULTS[kind]["vision"])
        v.update({k: x for k, x in vc.items() if k in v})
        if not isinstance(v["image_size"], int) or not isinstance(v["patch_size"], int):
            raise ValueError(f"non-square vision_config image_size / patch_size ({v['image_size']!r}, {v['patch_size']!r}): not implemented")
        n_states = v["num_hidden_layers"] + 1
        layers = cfg.get("vision_feature_layer", -2)
        layers = [layers] if isinstance(layers, int) else list(layers)
        if not layers or any(not isinstance(i, int) or not -n_states <= i < n_states for i in layers):
            raise ValueError(f"vision_feature_layer {cfg.get('vision_feature_layer')!r}: each must index the tower's {n_states} hidden states")
        select = cfg.get("vision_feature_select_strategy", "default")
        if select not in ("default", "full"):
            raise ValueError(f"vision_feature_select_strategy {select!r} (default or full)")
        if select == "default" and kind != "clip":
            raise ValueError("vision_feature_select_strategy 'default' drops a class token the SigLIP tower does not have")
        act = cfg.get("projector_hidden_act", "gelu")
        try:
            activation(act)
        except KeyError:
            _refuse(f"projector_hidden_act {act!r}")
        return cls(
            image_token_id=int(cfg.get("image_token_id", cfg.get("image_token_index", 32000))),
            feature_layers=[i % n_states for i in layers],
            select=select,
            projector_act=act,
            projector_bias=bool(cfg.get("multimodal_projector_bias", True)),
            clip=kind == "clip",
            vision_config=v,
        )


def _refuse(what: str):
    raise ValueError(f"{what}: not implemented by this package")
