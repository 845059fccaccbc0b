"""Model configuration for {{PACKAGE}}: a {{MODEL_TYPE}} encoder.

Read from the checkpoint's config.json (and the sentence-transformers
pooling files when present). Every value the model uses is a field here.
Three block layouts share these fields: BERT-style (bert, roberta,
xlm-roberta, camembert, electra), DistilBERT (its own names: dim, n_heads,
hidden_dim, ...) and ModernBERT (RoPE, alternating global and local
attention, GeGLU, pre-norm).
"""

import json
import os
from dataclasses import dataclass

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
BERT_STYLE = ("bert", "roberta", "xlm-roberta", "camembert", "electra")


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
    # ELECTRA: embeddings of embedding_size, projected to hidden_size.
    embedding_size: int = 0
    # DistilBERT: sinusoidal position table (carried by the weights as is).
    sinusoidal_positions: bool = False
    # ModernBERT: per-layer "full_attention" / "sliding_attention", the RoPE
    # base of each, the local window (local_attention; a token sees keys at
    # distance <= sliding_window = local_attention // 2) and which
    # projections carry biases.
    layer_types: tuple = ()
    rope_bases: dict = None
    local_attention: int = 0
    sliding_window: int = 0
    norm_bias: bool = True
    attention_bias: bool = True
    mlp_bias: bool = True

    @classmethod
    def from_config(cls, cfg: dict, path: str = None) -> "ModelArgs":
        mt = cfg.get("model_type", "{{MODEL_TYPE}}")
        pooling, normalize = sentence_pooling(path) if path else ("mean", False)
        if mt == "distilbert":
            return cls.from_distilbert(cfg, pooling, normalize)
        if mt == "modernbert":
            return cls.from_modernbert(cfg, pooling, normalize)
        if mt not in BERT_STYLE:
            raise ValueError(f"model_type {mt!r} is not supported ({', '.join(BERT_STYLE + ('distilbert', 'modernbert'))})")
        act = cfg.get("hidden_act", "gelu")
        if act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        pet = cfg.get("position_embedding_type", "absolute")
        if pet != "absolute":
            raise ValueError(f"position_embedding_type {pet!r} is not supported (absolute only)")
        offset = cfg.get("pad_token_id", 1) + 1 if mt in ("roberta", "xlm-roberta", "camembert") else 0
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
            embedding_size=cfg.get("embedding_size") or cfg["hidden_size"],
        )

    @classmethod
    def from_distilbert(cls, cfg: dict, pooling: str, normalize: bool) -> "ModelArgs":
        act = cfg.get("activation", "gelu")
        if act not in ACTIVATIONS:
            raise ValueError(f"activation {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        return cls(
            model_type="distilbert",
            hidden_size=cfg["dim"],
            num_hidden_layers=cfg["n_layers"],
            num_attention_heads=cfg["n_heads"],
            intermediate_size=cfg["hidden_dim"],
            vocab_size=cfg["vocab_size"],
            max_position_embeddings=cfg["max_position_embeddings"],
            type_vocab_size=0,
            # DistilBERT's LayerNorms use a fixed epsilon, not a config value.
            layer_norm_eps=1e-12,
            hidden_act=act,
            pooling=pooling,
            normalize=normalize,
            embedding_size=cfg["dim"],
            sinusoidal_positions=bool(cfg.get("sinusoidal_pos_embds", False)),
        )

    @classmethod
    def from_modernbert(cls, cfg: dict, pooling: str, normalize: bool) -> "ModelArgs":
        act = cfg.get("hidden_activation", "gelu")
        if act not in ACTIVATIONS:
            raise ValueError(f"hidden_activation {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        n = cfg["num_hidden_layers"]
        types = cfg.get("layer_types")
        if types is None:
            # Older configs: every n-th layer (from the first) is global.
            every = cfg.get("global_attn_every_n_layers", 3)
            types = ["sliding_attention" if i % every else "full_attention" for i in range(n)]
        if len(types) != n or any(t not in ("full_attention", "sliding_attention") for t in types):
            raise ValueError(f"layer_types {types!r}: expected {n} of full_attention / sliding_attention")
        params = cfg.get("rope_parameters") or {}
        legacy = {"full_attention": cfg.get("global_rope_theta", 160000.0), "sliding_attention": cfg.get("local_rope_theta", 10000.0)}
        theta = {}
        for t in ("full_attention", "sliding_attention"):
            p = params.get(t) or {}
            rt = p.get("rope_type", "default")
            if rt != "default":
                raise ValueError(f"RoPE type {rt!r} for {t} is not supported (default only)")
            theta[t] = float(p.get("rope_theta", legacy[t]))
        return cls(
            model_type="modernbert",
            hidden_size=cfg["hidden_size"],
            num_hidden_layers=n,
            num_attention_heads=cfg["num_attention_heads"],
            intermediate_size=cfg["intermediate_size"],
            vocab_size=cfg["vocab_size"],
            max_position_embeddings=cfg["max_position_embeddings"],
            type_vocab_size=0,
            layer_norm_eps=cfg.get("norm_eps", 1e-5),
            hidden_act=act,
            pooling=pooling,
            normalize=normalize,
            embedding_size=cfg["hidden_size"],
            layer_types=tuple(types),
            rope_bases=theta,
            local_attention=cfg.get("local_attention", 128),
            sliding_window=cfg.get("local_attention", 128) // 2,
            norm_bias=bool(cfg.get("norm_bias", False)),
            attention_bias=bool(cfg.get("attention_bias", False)),
            mlp_bias=bool(cfg.get("mlp_bias", False)),
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
