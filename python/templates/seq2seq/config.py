"""Model configuration for {{PACKAGE}}: a {{MODEL_TYPE}} encoder-decoder.

Read from the checkpoint's config.json. Every value the model uses is a
field of ModelArgs, so a port reviewer can see it in one place. Two
architectures share the package layout:

* ``t5``: relative position buckets (bidirectional in the encoder,
  unidirectional in the decoder, computed by the first block of each stack
  and shared by the others), no attention scaling, RMS-style T5 LayerNorm
  before each sub-layer, a plain (relu/gelu) or gated feed-forward, and the
  decoder output scaled by d_model**-0.5 before the head when the config
  says so (original T5: tied head);
* ``bart``: learned positions offset by 2, an embedding LayerNorm,
  optional sqrt(d_model) embedding scale, LayerNorm after each sub-layer
  (post-norm), scaled attention, and a final logits bias.
"""

from dataclasses import dataclass, field
from typing import Optional

ARCHITECTURES = ("t5", "bart")
# Activations as transformers' ACT2FN computes them -> the MLX function name.
ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "gelu_new": "gelu_approx", "gelu_pytorch_tanh": "gelu_approx", "silu": "silu", "swish": "silu"}


@dataclass
class ModelArgs:
    model_type: str
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_decoder_layers: int
    num_attention_heads: int
    num_decoder_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    ffn_dim: int
    decoder_ffn_dim: int
    activation: str
    gated_ffn: bool = False
    layer_norm_epsilon: float = 1e-6
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    max_position_embeddings: Optional[int] = None
    scale_embedding: bool = False
    scale_decoder_outputs: bool = False
    decoder_start_token_id: int = 0
    pad_token_id: int = 0
    eos_token_id: Optional[int] = None
    # Whether the output head is the shared embedding; set from the weights
    # by load.py (a separate `lm_head.weight` is used when present).
    tie_lm_head: bool = True
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict) -> "ModelArgs":
        mt = cfg.get("model_type")
        if mt not in ARCHITECTURES:
            raise ValueError(f"model_type {mt!r} is not supported (encoder-decoder template: {', '.join(ARCHITECTURES)})")
        if mt == "t5":
            return _t5(cfg)
        return _bart(cfg)


def _act(name: str, what: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"{what} {name!r} is not supported ({', '.join(sorted(ACTIVATIONS))})")
    return ACTIVATIONS[name]


def _t5(cfg: dict) -> ModelArgs:
    proj = cfg.get("feed_forward_proj", "relu")
    parts = proj.split("-")
    gated = parts[0] == "gated"
    if len(parts) > 2 or (len(parts) == 2 and not gated):
        raise ValueError(f"feed_forward_proj {proj!r} is not supported ('ACT' or 'gated-ACT')")
    act = "gelu_new" if proj == "gated-gelu" else parts[-1]
    heads = cfg.get("num_heads", 8)
    layers = cfg.get("num_layers", 6)
    # transformers scales the decoder output when the checkpoint's config
    # did not untie the head (original T5); T5 v1.1 / flan-t5 do not scale.
    scale = cfg.get("scale_decoder_outputs")
    if scale is None:
        scale = cfg.get("tie_word_embeddings", True) is not False
    return ModelArgs(
        model_type="t5",
        vocab_size=cfg["vocab_size"],
        hidden_size=cfg["d_model"],
        num_hidden_layers=layers,
        num_decoder_layers=cfg.get("num_decoder_layers") or layers,
        num_attention_heads=heads,
        num_decoder_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=cfg.get("d_kv", 64),
        ffn_dim=cfg["d_ff"],
        decoder_ffn_dim=cfg["d_ff"],
        activation=_act(act, "feed_forward_proj activation"),
        gated_ffn=gated,
        layer_norm_epsilon=cfg.get("layer_norm_epsilon", 1e-6),
        relative_attention_num_buckets=cfg.get("relative_attention_num_buckets", 32),
        relative_attention_max_distance=cfg.get("relative_attention_max_distance", 128),
        scale_decoder_outputs=bool(scale),
        decoder_start_token_id=_start(cfg),
        pad_token_id=cfg.get("pad_token_id", 0) or 0,
        eos_token_id=cfg.get("eos_token_id"),
    )


def _bart(cfg: dict) -> ModelArgs:
    d = cfg["d_model"]
    heads = cfg.get("encoder_attention_heads", 16)
    dheads = cfg.get("decoder_attention_heads", heads)
    if d % heads or d % dheads:
        raise ValueError(f"d_model {d} is not a multiple of the attention heads ({heads}, {dheads})")
    if heads != dheads:
        raise ValueError(f"encoder and decoder head counts differ ({heads} vs {dheads})")
    for key in ("normalize_before", "add_final_layer_norm", "add_bias_logits"):
        if cfg.get(key):
            raise ValueError(f"{key} = {cfg.get(key)!r} is not supported (bart layout: post-norm, embedding LayerNorm, no final LayerNorm)")
    return ModelArgs(
        model_type="bart",
        vocab_size=cfg["vocab_size"],
        hidden_size=d,
        num_hidden_layers=cfg.get("encoder_layers", 12),
        num_decoder_layers=cfg.get("decoder_layers", 12),
        num_attention_heads=heads,
        num_decoder_attention_heads=dheads,
        num_key_value_heads=heads,
        head_dim=d // heads,
        ffn_dim=cfg.get("encoder_ffn_dim", 4096),
        decoder_ffn_dim=cfg.get("decoder_ffn_dim", 4096),
        activation=_act(cfg.get("activation_function", "gelu"), "activation_function"),
        layer_norm_epsilon=1e-5,
        max_position_embeddings=cfg.get("max_position_embeddings", 1024),
        scale_embedding=bool(cfg.get("scale_embedding", False)),
        decoder_start_token_id=_start(cfg),
        pad_token_id=cfg.get("pad_token_id", 1) if cfg.get("pad_token_id") is not None else 1,
        eos_token_id=cfg.get("eos_token_id"),
    )


def _start(cfg: dict) -> int:
    s = cfg.get("decoder_start_token_id")
    if s is None:
        s = cfg.get("pad_token_id")
    if s is None:
        raise ValueError("config.json has no decoder_start_token_id (nor pad_token_id): greedy decoding cannot start")
    return int(s)
