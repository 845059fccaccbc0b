"""Minimal conversion of a Hugging Face {{MODEL_TYPE}} checkpoint into the
layout {{PACKAGE}} loads: float tensors under their Hugging Face names, tied
copies of the shared embedding dropped, config.json copied.

`mlxport convert` does this with a reviewable weight map, for any source
format; this entry exists so the package stands on its own:

    python -m {{PACKAGE}}.convert HF_DIR OUT_DIR
"""

import json
import os
import shutil
import sys

import mlx.core as mx

from .config import ModelArgs
from .load import drop_tied_copies, read_weights

COPIED = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "spiece.model", "vocab.json", "merges.txt")


def convert(src: str, dst: str, dtype=mx.float32):
    if os.path.exists(dst):
        raise FileExistsError(f"{dst} exists; refusing to overwrite")
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    args = ModelArgs.from_config(cfg)
    weights = drop_tied_copies(read_weights(src), args.model_type)
    weights = {k: v.astype(dtype) for k, v in weights.items()}
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
