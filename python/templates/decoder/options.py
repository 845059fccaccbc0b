"""Serving options of {{PACKAGE}}: every speed-up of generation is a switch.

`Options()` is the first port exactly as the parity ladder proved it
(concatenating KV cache, no compile, one synchronous step per token).
`Options.defaults()` reads `serving.json` beside this file: the switches
`mlxport optimize` measured and kept (each one proven equal to the first
port, or within the quality gate for the lossy ones); without that file
the defaults are `Options()`.

Switches:

- `cache`: "concat" (keys and values grow by concatenation, the proven
  baseline) or "step" (buffers pre-allocated `cache_step` positions at a
  time and written in place);
- `rotating`: sliding-window blocks keep only their window of keys and
  values (a ring buffer), so their memory stops growing with the context;
- `kv_bits`: 4 or 8 stores keys and values quantized (mlx-lm's layout:
  affine, `kv_group_size` per group, packed uint32 with scales and
  biases) and attends with quantized matrix products; lossy;
- `compile`: the element-wise chains of each block (gated activations,
  soft-capping) run as `mx.compile`d shapeless functions;
- `fuse`: projections that read the same input run as one matrix product
  (queries, keys and values; gate and up), their weights concatenated
  once; the separate weights become views of the concatenation, so memory
  does not grow;
- `rope_tables`: rotary sines and cosines computed once per forward pass
  and shared by every block (MLX's rope on a CPU derives them anew in
  each call); the same multiplications follow, so the values are the same;
- `pipeline`: decoding builds step n+1 while step n computes
  (`mx.async_eval`), the host reading each token one step late;
- `prefill_chunk`: prompts run through the cache this many tokens per
  call (bounded peak memory on long prompts).
"""

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Optional

CACHES = ("concat", "step")
KV_BITS = (4, 8)
SERVING_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serving.json")


@dataclass(frozen=True)
class Options:
    cache: str = "concat"
    cache_step: int = 256
    rotating: bool = False
    kv_bits: Optional[int] = None
    kv_group_size: int = 64
    compile: bool = False
    fuse: bool = False
    rope_tables: bool = False
    pipeline: bool = False
    prefill_chunk: Optional[int] = None

    def __post_init__(self):
        if self.cache not in CACHES:
            raise ValueError(f"cache {self.cache!r}: one of {', '.join(CACHES)}")
        if self.cache_step < 1:
            raise ValueError(f"cache_step {self.cache_step}: must be at least 1")
        if self.kv_bits is not None and self.kv_bits not in KV_BITS:
            raise ValueError(f"kv_bits {self.kv_bits}: one of {', '.join(map(str, KV_BITS))} (or None)")
        if self.kv_group_size not in (32, 64, 128):
            raise ValueError(f"kv_group_size {self.kv_group_size}: one of 32, 64, 128")
        if self.kv_bits is not None and self.rotating:
            raise ValueError("kv_bits with rotating: a quantized rotating cache is not implemented; choose one")
        if self.prefill_chunk is not None and self.prefill_chunk < 1:
            raise ValueError(f"prefill_chunk {self.prefill_chunk}: must be at least 1 (or None)")

    def replace(self, **changes) -> "Options":
        return dataclasses.replace(self, **changes)

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
