"""Write a small valid seed corpus for each fuzz target into fuzz/corpus/.

    .venv/bin/python fuzz/make_seeds.py
"""
from pathlib import Path

import gguf
import numpy as np
import torch
from safetensors.numpy import save_file

root = Path(__file__).resolve().parent / "corpus"
for d in ["safetensors", "gguf", "npy", "npz", "pytorch"]:
    (root / d).mkdir(parents=True, exist_ok=True)

save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int64)},
          str(root / "safetensors" / "seed1.safetensors"), metadata={"format": "pt"})

w = gguf.GGUFWriter(str(root / "gguf" / "seed1.gguf"), "llama")
w.add_uint32("llama.block_count", 1)
w.add_string("general.name", "x")
w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
w.add_tensor("t", np.arange(32, dtype=np.float32))
q = gguf.quants.quantize(np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32), gguf.GGMLQuantizationType.Q4_1)
w.add_tensor("q", q, raw_dtype=gguf.GGMLQuantizationType.Q4_1)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

np.save(root / "npy" / "seed1.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
np.savez(root / "npz" / "seed1.npz", a=np.arange(3), b=np.ones((2, 2), dtype=np.float16))
np.savez_compressed(root / "npz" / "seed2.npz", a=np.arange(3))
torch.save({"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2, dtype=torch.bfloat16)}, root / "pytorch" / "seed1.pt")
