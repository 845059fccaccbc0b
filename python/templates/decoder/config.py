"""Model configuration for {{PACKAGE}}: a {{MODEL_TYPE}} dense decoder.

Read from the checkpoint's config.json. Every value the model uses is a
field of ModelArgs, so a port reviewer can see it in one place.
"""

from dataclasses import dataclass, field
from typing import Optional

# Hugging Face llama-family checkpoints rotate the two halves of each head
# (GPT-NeoX style): MLX calls that traditional=False. A GGUF's Q/K rows are
# permuted for the interleaved convention; convert un-permutes them, so the
# converted weights use this convention too.
ROPE_TRADITIONAL = {{ROPE_TRADITIONAL}}

# Activations of the feed-forward block: transformers name -> mlx.nn function name.
ACTIVATIONS = {"silu": "silu", "swish": "silu", "gelu": "gelu", "gelu_pytorch_tanh": "gelu_approx", "gelu_new": "gelu_approx"}

# How each model type departs from llama's block (absent keys: llama's).
ARCH = {
    "gemma": {"norm_offset": True, "embed_scale": True},
    "gemma2": {"hidden_activation": True, "norm_offset": True, "embed_scale": True, "block_norms": "sandwich", "query_pre_attn_scalar": True, "softcap": True},
    "olmo2": {"block_norms": "post", "qk_norm_scope": "full"},
    "starcoder2": {"gated_mlp": False, "norm_type": "layer"},
}

# RoPE scaling types this package implements.
ROPE_TYPES = ("default", "linear", "dynamic", "llama3", "yarn")


@dataclass
class ModelArgs:
    model_type: str
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    rms_norm_eps: float
    max_position_embeddings: int
    rope_theta: float
    rope_scaling: Optional[dict] = None
    rope_traditional: bool = ROPE_TRADITIONAL
    tie_word_embeddings: bool = False
    qk_norm: bool = False
    # Biases follow the weights (see load.py), not only the config flags.
    q_bias: bool = False
    k_bias: bool = False
    v_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    # Mixture of experts (moe.py's MoeArgs), None for a dense model.
    moe: Optional[object] = None
    # Architecture variants (see ARCH below); the defaults are llama's.
    hidden_act: str = "silu"
    gated_mlp: bool = True
    norm_type: str = "rms"  # "rms" or "layer" (LayerNorm with bias)
    norm_offset: bool = False  # RMSNorm scales by (1 + weight)
    embed_scale: Optional[float] = None  # embeddings times this (inside the embedding stage)
    block_norms: str = "pre"  # "pre", "sandwich" (pre and post norms) or "post" (post norms only)
    qk_norm_scope: str = "head"  # QK-norm over each head, or over the "full" projection
    attn_scale: Optional[float] = None  # query scale; default head_dim ** -0.5
    attn_softcap: Optional[float] = None
    final_softcap: Optional[float] = None
    sliding_window: Optional[int] = None
    layer_types: Optional[list] = None  # per block: "full_attention" or "sliding_attention"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict) -> "ModelArgs":
        mt = cfg.get("model_type", "{{MODEL_TYPE}}")
        arch = ARCH.get(mt, {})
        # gemma2 reads `hidden_activation`; every other type `hidden_act`
        # (a gemma config may carry both: transformers uses `hidden_act`).
        act = (cfg.get("hidden_activation") if arch.get("hidden_activation") else None) or cfg.get("hidden_act", "silu")
        if mt == "gemma" and act == "gelu":
            # transformers reads the released gemma configs' "gelu" as the tanh approximation.
            act = "gelu_pytorch_tanh"
        if act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {act!r} is not supported ({', '.join(ACTIVATIONS)})")
        n_heads = cfg["num_attention_heads"]
        head_dim = cfg.get("head_dim") or cfg["hidden_size"] // n_heads
        theta, scaling = rope_settings(cfg)
        attention_bias = bool(cfg.get("attention_bias", cfg.get("use_bias", False)))
        n_layers = cfg["num_hidden_layers"]
        window = cfg.get("sliding_window") if cfg.get("use_sliding_window", True) is not False else None
        layer_types = cfg.get("layer_types")
        if window is None:
            layer_types = None
        elif layer_types is None:
            layer_types = ["sliding_attention"] * n_layers
        if layer_types is not None:
            bad = sorted(set(layer_types) - {"full_attention", "sliding_attention"})
            if bad or len(layer_types) != n_layers:
                raise ValueError(f"layer_types {layer_types!r}: one of full_attention / sliding_attention per block")
        qpas = cfg.get("query_pre_attn_scalar") if arch.get("query_pre_attn_scalar") else None
        return cls(
            model_type=cfg.get("model_type", "{{MODEL_TYPE}}"),
            hidden_size=cfg["hidden_size"],
            num_hidden_layers=cfg["num_hidden_layers"],
            intermediate_size=cfg["intermediate_size"],
            num_attention_heads=n_heads,
            num_key_value_heads=cfg.get("num_key_value_heads") or n_heads,
            head_dim=head_dim,
            vocab_size=cfg["vocab_size"],
            rms_norm_eps=cfg.get("rms_norm_eps", cfg.get("norm_epsilon", 1e-6)),
            max_position_embeddings=cfg.get("max_position_embeddings", 4096),
            rope_theta=theta,
            rope_scaling=scaling,
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            qk_norm=cfg.get("model_type") in ("qwen3", "olmo2"),
            q_bias=attention_bias,
            k_bias=attention_bias,
            v_bias=attention_bias,
            o_bias=attention_bias,
            mlp_bias=bool(cfg.get("mlp_bias", cfg.get("use_bias", False))),
            hidden_act=act,
            gated_mlp=arch.get("gated_mlp", True),
            norm_type=arch.get("norm_type", "rms"),
            norm_offset=arch.get("norm_offset", False),
            embed_scale=float(cfg["hidden_size"]) ** 0.5 if arch.get("embed_scale") else None,
            block_norms=arch.get("block_norms", "pre"),
            qk_norm_scope=arch.get("qk_norm_scope", "head"),
            attn_scale=float(qpas) ** -0.5 if qpas else None,
            attn_softcap=cfg.get("attn_logit_softcapping") if arch.get("softcap") else None,
            final_softcap=cfg.get("final_logit_softcapping") if arch.get("softcap") else None,
            sliding_window=window if layer_types is not None else None,
            layer_types=layer_types,
            moe=moe_args(cfg),
        )


def moe_args(cfg: dict):
    """The mixture-of-experts settings (moe.py), or None for a dense model."""
    if not (cfg.get("num_local_experts") or cfg.get("num_experts")):
        return None
    from .moe import MoeArgs

    return MoeArgs.from_config(cfg)


def rope_settings(cfg: dict):
    """(rope_theta, scaling dict or None) from either config layout.

    transformers >= 5 nests the base and the scaling in ``rope_parameters``;
    older configs put ``rope_theta`` and ``rope_scaling`` at the top level.
    Both are read here: losing the nested base is a real, silent bug (the
    model runs with base 10000 and produces different text).
    """
    params = cfg.get("rope_parameters") or {}
    theta = params.get("rope_theta", cfg.get("rope_theta"))
    if theta is None:
        theta = 10000.0
    scaling = None
    kind = params.get("rope_type") or params.get("type")
    if kind and kind != "default":
        scaling = dict(params)
    elif cfg.get("rope_scaling"):
        scaling = dict(cfg["rope_scaling"])
    if scaling is not None:
        kind = scaling.get("rope_type") or scaling.get("type") or "default"
        if kind not in ROPE_TYPES:
            raise ValueError(f"RoPE scaling type {kind!r} is not supported ({', '.join(ROPE_TYPES)})")
        scaling["rope_type"] = kind
        if kind == "default":
            scaling = None
    if cfg.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError("partial_rotary_factor != 1 is not supported")
    return float(theta), scaling
