"""Model configuration for {{PACKAGE}}: a {{MODEL_TYPE}} encoder.

Read from the checkpoint's config.json (and the sentence-transformers
pooling files when present). Every value the model uses is a field here.
"""

import json
import os
from dataclasses import dataclass

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")


@dataclass
class ModelArgs:
    model_type: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_act: str
    # RoBERTa counts positions from padding_idx + 1.
    position_offset: int = 0
    # Pooling of the sentence embedding: "mean" or "cls"; L2-normalized?
    pooling: str = "mean"
    normalize: bool = False
    # A BERT pooler (tanh(dense(CLS))) when the weights have one.
    has_pooler: bool = False

    @classmethod
    def from_config(cls, cfg: dict, path: str = None) -> "ModelArgs":
        act = cfg.get("hidden_act", "gelu")
        if act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        pet = cfg.get("position_embedding_type", "absolute")
        if pet != "absolute":
            raise ValueError(f"position_embedding_type {pet!r} is not supported (absolute only)")
        mt = cfg.get("model_type", "{{MODEL_TYPE}}")
        offset = cfg.get("pad_token_id", 1) + 1 if mt in ("roberta", "xlm-roberta", "camembert") else 0
        pooling, normalize = sentence_pooling(path) if path else ("mean", False)
        return cls(
            model_type=mt,
            hidden_size=cfg["hidden_size"],
            num_hidden_layers=cfg["num_hidden_layers"],
            num_attention_heads=cfg["num_attention_heads"],
            intermediate_size=cfg["intermediate_size"],
            vocab_size=cfg["vocab_size"],
            max_position_embeddings=cfg["max_position_embeddings"],
            type_vocab_size=cfg.get("type_vocab_size", 0) or 0,
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            hidden_act=act,
            position_offset=offset,
            pooling=pooling,
            normalize=normalize,
        )


def sentence_pooling(path: str):
    """("mean" | "cls", normalize) from a sentence-transformers layout
    (modules.json, N_Pooling/config.json); ("mean", False) otherwise."""
    try:
        with open(os.path.join(path, "modules.json")) as f:
            modules = json.load(f)
    except (OSError, ValueError):
        return "{{POOLING}}", {{NORMALIZE}}
    pooling, normalize = "mean", False
    for m in modules:
        t = m.get("type", "")
        if t.endswith("Pooling"):
            try:
                with open(os.path.join(path, m.get("path", ""), "config.json")) as f:
                    pc = json.load(f)
                pooling = "cls" if pc.get("pooling_mode_cls_token") else "mean"
            except (OSError, ValueError):
                pass
        if t.endswith("Normalize"):
            normalize = True
    return pooling, normalize
