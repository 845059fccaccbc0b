"""Reference side of the quantization property tests: run mx.quantize and
mx.dequantize (CPU) on every case listed in DIR/cases.json and write the
results as raw little-endian files next to the inputs, plus error figures
computed with numpy in DIR/results.json.

usage: mlx_quantize.py DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
import mlx.core as mx

mx.set_default_device(mx.cpu)

DT = {"F32": (mx.float32, np.float32), "F16": (mx.float16, np.float16), "BF16": (mx.bfloat16, np.uint16)}


def load(path, dtype, shape):
    mdt, ndt = DT[dtype]
    a = mx.array(np.frombuffer(path.read_bytes(), dtype=ndt).reshape(shape))
    return a.view(mx.bfloat16) if dtype == "BF16" else a


def raw(a):
    if a.dtype == mx.bfloat16:
        a = a.view(mx.uint16)
    return np.array(a).tobytes()


def as_f64(a):
    if a.dtype == mx.bfloat16:
        a = a.astype(mx.float32)
    return np.array(a).astype(np.float64)


def main():
    d = Path(sys.argv[1])
    cases = json.loads((d / "cases.json").read_text())
    results = {}
    for c in cases:
        name = c["name"]
        w = load(d / f"{name}.in", c["dtype"], c["shape"])
        kw = {}
        if c.get("global_scale") is not None:
            kw["global_scale"] = mx.array(c["global_scale"], dtype=mx.float32)
        out = mx.quantize(w, group_size=c["group_size"], bits=c["bits"], mode=c["mode"], **kw)
        mx.eval(out)
        (d / f"{name}.wq").write_bytes(raw(out[0]))
        (d / f"{name}.scales").write_bytes(raw(out[1]))
        biases = out[2] if c["mode"] == "affine" else None
        if biases is not None:
            (d / f"{name}.biases").write_bytes(raw(biases))
        dq = {}
        for od in ("F32", "F16", "BF16"):
            r = mx.dequantize(out[0], out[1], biases, group_size=c["group_size"], bits=c["bits"],
                              mode=c["mode"], dtype=DT[od][0], **kw)
            mx.eval(r)
            (d / f"{name}.dq.{od}").write_bytes(raw(r))
            dq[od] = str(r.dtype)
        default = mx.dequantize(out[0], out[1], biases, group_size=c["group_size"], bits=c["bits"], mode=c["mode"], **kw)
        # error figures, in float64, against dequantization in the input dtype
        ref = mx.dequantize(out[0], out[1], biases, group_size=c["group_size"], bits=c["bits"],
                            mode=c["mode"], dtype=w.dtype, **kw)
        x = as_f64(w).ravel()
        y = as_f64(ref).ravel()
        with np.errstate(all="ignore"):
            e = x - y
            se = float(np.sum(e * e))
            sw = float(np.sum(x * x))
            stats = {
                "rmse": float(np.sqrt(se / x.size)),
                "max_abs": float(np.max(np.abs(e))),
                "rel_frobenius": 0.0 if se == 0 else (float("inf") if sw == 0 else float(np.sqrt(se / sw))),
                "sqnr_db": float("inf") if se == 0 else float(10 * np.log10(sw / se)),
            }
        stored = sum(a.nbytes for a in out)
        results[name] = {"bpw": stored * 8 / w.size, "default_dtype": str(default.dtype), "dq_dtypes": dq, "shapes": [list(out[0].shape), list(out[1].shape)], "stats": {k: repr(v) for k, v in stats.items()}}
    (d / "results.json").write_text(json.dumps(results))


main()
