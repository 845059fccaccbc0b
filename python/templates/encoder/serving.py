"""Serving options of {{PACKAGE}}: how sentences are embedded in bulk.

`Options()` is the first port exactly as the parity ladder proved it: one
sentence per call, fused attention. `Options.defaults()` reads
`serving.json` beside this file (the switches `mlxport optimize` measured
and kept); without it the defaults are `Options()`.

Switches:

- `batch_size`: sentences per call, right-padded to the longest in the
  batch with an attention mask (padding changes no embedding beyond
  rounding: pooling and attention ignore it);
- `bucket`: sort the sentences by length before batching (less padding),
  the embeddings returned in the input order;
- `attention`: "fused" (`mx.fast.scaled_dot_product_attention`) or
  "explicit" (matrix products and a softmax).
"""

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import List

import mlx.core as mx
import numpy as np

from . import model as model_mod

SERVING_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serving.json")
ATTENTION = ("fused", "explicit")


@dataclass(frozen=True)
class Options:
    batch_size: int = 1
    bucket: bool = False
    attention: str = "fused"

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size {self.batch_size}: must be at least 1")
        if self.attention not in ATTENTION:
            raise ValueError(f"attention {self.attention!r}: one of {', '.join(ATTENTION)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "options") -> "Options":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{where}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**d)

    @classmethod
    def defaults(cls) -> "Options":
        """The package's serving defaults (`serving.json`), else the first port."""
        if not os.path.isfile(SERVING_FILE):
            return cls()
        with open(SERVING_FILE) as f:
            doc = json.load(f)
        return cls.from_dict(doc.get("options", {}), SERVING_FILE)


def embed(model, ids_list: List[List[int]], options: Options = None) -> np.ndarray:
    """Sentence embeddings [N, H] float32 of token-id lists, in input order."""
    o = options if options is not None else Options.defaults()
    model_mod.ATTENTION["kind"] = o.attention
    order = sorted(range(len(ids_list)), key=lambda i: len(ids_list[i])) if o.bucket else list(range(len(ids_list)))
    out = [None] * len(ids_list)
    for start in range(0, len(order), o.batch_size):
        idx = order[start : start + o.batch_size]
        if len(idx) == 1:
            e = model.sentence_embedding(mx.array([ids_list[idx[0]]]))
        else:
            T = max(len(ids_list[i]) for i in idx)
            ids = np.zeros((len(idx), T), dtype=np.int32)
            mask = np.zeros((len(idx), T), dtype=np.int32)
            for r, i in enumerate(idx):
                ids[r, : len(ids_list[i])] = ids_list[i]
                mask[r, : len(ids_list[i])] = 1
            e = model.sentence_embedding(mx.array(ids), attention_mask=mx.array(mask))
        e = np.array(e.astype(mx.float32))
        for r, i in enumerate(idx):
            out[i] = e[r]
    return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)
