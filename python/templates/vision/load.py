"""Load {{PACKAGE}} weights: config.json + *.safetensors from a directory.

Loading is strict (`load_weights(strict=True)`): a missing or extra tensor
fails here instead of silently changing the output.
"""

import glob
import json
import os

import mlx.core as mx

from .config import ModelArgs
from .model import Model
from .quant import is_quantized, quantize_like

# Prefixes of task-model checkpoints (ViTForImageClassification keeps the
# backbone under "vit.", the classifier at the top).
PREFIXES = ("vit.", "deit.", "dinov2.", "dinov2_with_registers.", "convnext.", "convnextv2.", "resnet.")
# BatchNorm's training counter: not used at inference.
IGNORED_SUFFIXES = (".num_batches_tracked",)


def read_weights(path: str) -> dict:
    files = sorted(glob.glob(os.path.join(path, "*.safetensors")))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {path}")
    weights = {}
    for f in files:
        weights.update(mx.load(f))
    out = {}
    for k, v in weights.items():
        if k.endswith(IGNORED_SUFFIXES):
            continue
        for p in PREFIXES:
            if k.startswith(p):
                k = k[len(p):]
                break
        out[k] = v
    return out


def load(path: str, dtype=mx.float32):
    """(model, args) from a converted checkpoint directory.

    A checkpoint whose config.json has a ``quantization`` entry is loaded
    as MLX stores quantized weights (see quant.py); only floating tensors
    are cast to ``dtype``.
    """
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    weights = read_weights(path)
    args = ModelArgs.from_config(cfg, path)
    args.has_mask_token = "embeddings.mask_token" in weights
    args.has_pooler = "pooler.dense.weight" in weights
    args.has_distillation_token = "embeddings.distillation_token" in weights
    args.has_distilled_heads = "cls_classifier.weight" in weights
    # ResNet keeps its classifier in an nn.Sequential(Flatten, Linear).
    head = next((k for k in ("classifier.weight", "classifier.1.weight") if k in weights), None)
    args.has_classifier = head is not None
    head = head or ("cls_classifier.weight" if args.has_distilled_heads else None)
    if head and args.id2label and len(args.id2label) != weights[head].shape[0]:
        raise ValueError(f"{path}: config.json names {len(args.id2label)} labels but the classifier has {weights[head].shape[0]} outputs")
    if head and not args.id2label:
        args.id2label = {i: f"LABEL_{i}" for i in range(weights[head].shape[0])}
    model = Model(args)
    if is_quantized(weights):
        quantize_like(model, cfg, weights, path)
    if dtype is not None:
        weights = {k: v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) and not k.endswith((".scales", ".biases")) else v for k, v in weights.items()}
    model.load_weights(list(weights.items()), strict=True)
    model.eval()
    mx.eval(model.parameters())
    return model, args
