"""Compute a fixed set of MLX operations on seeded inputs and save them, so
the harness can run it with and without a preloaded BLAS and check the
results agree within float tolerance (embedded in the mlxport binary)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402


def main():
    out = sys.argv[1]
    import mlx.core as mx
    import numpy as np

    rng = np.random.default_rng(0)

    def arr(*shape):
        return mx.array(rng.standard_normal(shape).astype(np.float32))

    res = common.Results()
    a, b = arr(33, 576), arr(576, 1536)
    res.add("matmul", np.array(a @ b))
    w, bias = arr(1536, 576), arr(1536)
    res.add("addmm", np.array(mx.addmm(bias, a, w.T)))
    x = arr(2, 7, 384)
    res.add("batched", np.array(x @ arr(384, 384)))
    q, k, v = arr(1, 9, 17, 64), arr(1, 3, 17, 64), arr(1, 3, 17, 64)
    res.add("sdpa", np.array(mx.fast.scaled_dot_product_attention(q, k, v, scale=0.125, mask="causal")))
    res.add("matvec", np.array(arr(1, 576) @ arr(576, 4096)))
    res.add("tall", np.array(arr(257, 64) @ arr(64, 3)))
    common.Results.write(res, out, {"kind": "blas-check", "implementation": "mlx", "family": "none", "model": {}, "inputs": {}, "options": {"ld_preload": os.environ.get("LD_PRELOAD")}, "libraries": common.library_versions(["mlx", "mlx-cpu", "numpy"])})


if __name__ == "__main__":
    main()
