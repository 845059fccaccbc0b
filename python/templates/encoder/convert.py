"""Minimal conversion of a Hugging Face {{MODEL_TYPE}} checkpoint into the
layout {{PACKAGE}} loads: float tensors under their Hugging Face names,
non-parameters dropped, config and sentence-transformers pooling files kept.

`mlxport convert` does this with a reviewable weight map, for any source
format; this entry exists so the package stands on its own:

    python -m {{PACKAGE}}.convert HF_DIR OUT_DIR
"""

import os
import shutil
import sys

import mlx.core as mx

from .load import read_weights

COPIED = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "modules.json", "sentence_bert_config.json")


def convert(src: str, dst: str, dtype=mx.float32):
    if os.path.exists(dst):
        raise FileExistsError(f"{dst} exists; refusing to overwrite")
    weights = {k: v.astype(dtype) for k, v in read_weights(src).items()}
    os.makedirs(dst)
    mx.save_safetensors(os.path.join(dst, "model.safetensors"), weights, metadata={"format": "mlx"})
    for name in COPIED:
        if os.path.isfile(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))
    for entry in os.listdir(src):
        if entry.endswith("_Pooling") and os.path.isdir(os.path.join(src, entry)):
            shutil.copytree(os.path.join(src, entry), os.path.join(dst, entry))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(sys.argv[1], sys.argv[2])
