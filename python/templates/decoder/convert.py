"""Minimal conversion of a Hugging Face {{MODEL_TYPE}} checkpoint into the
layout {{PACKAGE}} loads: float tensors under their Hugging Face names,
non-parameters dropped, the output head dropped when tied, and a config.json
with `rope_theta` also at the top level (the layout MLX tools read).

`mlxport convert` does this with a reviewable weight map, for any source
format; this entry exists so the package stands on its own:

    python -m {{PACKAGE}}.convert HF_DIR OUT_DIR
"""

import json
import os
import shutil
import sys

import mlx.core as mx

from .config import moe_args, rope_settings
from .load import IGNORED_SUFFIXES, read_weights

COPIED = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "chat_template.jinja")


def convert(src: str, dst: str, dtype=mx.float32):
    if os.path.exists(dst):
        raise FileExistsError(f"{dst} exists; refusing to overwrite")
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    weights = read_weights(src)
    if moe_args(cfg) is not None:
        from .moe import stack_experts

        weights = stack_experts(weights, moe_args(cfg))
    if cfg.get("tie_word_embeddings") and "lm_head.weight" in weights:
        del weights["lm_head.weight"]
    weights = {k: v.astype(dtype) for k, v in weights.items() if not k.endswith(IGNORED_SUFFIXES)}
    theta, scaling = rope_settings(cfg)
    cfg["rope_theta"] = theta
    if scaling is not None:
        cfg["rope_scaling"] = scaling
    os.makedirs(dst)
    mx.save_safetensors(os.path.join(dst, "model.safetensors"), weights, metadata={"format": "mlx"})
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in COPIED:
        if os.path.isfile(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(sys.argv[1], sys.argv[2])
