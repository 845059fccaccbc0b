"""Reference side of tests/gguf_affine.rs: write a GGUF file with Q4_0, Q4_1
and Q8_0 tensors (quantized by gguf.quants from random data, and random
valid blocks with extreme float16 scales), load it with mx.load, and write
each tensor's w_q, scales and biases as raw files.

usage: gguf_affine.py DIR
"""
import json, os, sys

import numpy as np
import gguf
import mlx.core as mx

T = gguf.GGMLQuantizationType
out = sys.argv[1]
path = os.path.join(out, "q.gguf")
rng = np.random.default_rng(60601)
w = gguf.GGUFWriter(path, "fixture")
names = {}


def put(name, qt, raw, shape):
    w.add_tensor(name, raw, raw_dtype=qt)
    names[name] = list(shape)


def random_blocks(qt, n_blocks):
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    b = rng.integers(0, 256, (n_blocks, ts), dtype=np.uint8)
    fields = [0, 2] if qt == T.Q4_1 else [0]
    for off in fields:
        # finite float16 of every magnitude, up to the largest
        mag = 10.0 ** rng.integers(-7, 5, n_blocks)
        v = np.clip(rng.standard_normal(n_blocks) * mag, -65504, 65504).astype(np.float16)
        v[::7] = np.float16(65504) * np.sign(rng.standard_normal(len(v[::7]))).astype(np.float16)
        b[:, off:off + 2] = v.view(np.uint8).reshape(n_blocks, 2)
    return b


i = 0
for qt in (T.Q4_0, T.Q4_1, T.Q8_0):
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    for shape, scale in (((8, 64), 1.0), ((2, 3, 32), 1e-3), ((4, 128), 1e5), ((16, 96), 30.0)):
        x = (rng.standard_normal(shape) * scale).astype(np.float32)
        put(f"q{i}.weight", qt, gguf.quants.quantize(x, qt), shape)
        i += 1
        n_blocks = int(np.prod(shape)) // bs
        raw = random_blocks(qt, n_blocks).reshape(*shape[:-1], shape[-1] // bs * ts)
        put(f"q{i}.weight", qt, raw, shape)
        i += 1
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

mx.set_default_device(mx.cpu)
loaded = mx.load(path)
for name in names:
    base = name[: -len(".weight")]
    for key, suffix in ((name, "w"), (base + ".scales", "s"), (base + ".biases", "b")):
        a = loaded[key]
        with open(os.path.join(out, f"{base}.{suffix}"), "wb") as f:
            f.write(np.array(a.view(mx.uint16) if a.dtype == mx.float16 else a).tobytes())
with open(os.path.join(out, "names.json"), "w") as f:
    json.dump(names, f)
