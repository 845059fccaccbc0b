"""A fake but realistic parity-ladder capture, with seeded faults.

    python ladder_capture.py OUT_DIR

A small decoder (embeddings, 6 residual layers with RMSNorm and a tanh MLP,
final norm, tied LM head, greedy ids, one cache-decode step) runs twice:
in float64 (the reference, saved as float32: ref.npz) and in float32 (a
clean port: port_clean.npz). Each fault variant is the float32 run with one
thing wrong, the way real ports go wrong:

  port_eps_layer3.npz      layer 3's norm epsilon read wrong (1e-1, not 1e-6)
  port_nan_layer4.npz      a NaN injected in layer 4's output
  port_transposed_layer0.npz  layer 0 uses its first weight transposed
  port_ids_swapped.npz     two generated ids swapped
  port_untied_head.npz     logits from a separate head instead of the tied one
  port_cache_offset.npz    the cache-decode step uses the wrong position

Also writes manifest.json (mlxport.capture/v1, capture order) and
expected.json: for each variant, the rung that must fail first and the hint.
"""
import json, sys
from pathlib import Path

import numpy as np

OUT = Path(sys.argv[1])
OUT.mkdir(parents=True, exist_ok=True)
V, H, T, L = 512, 64, 12, 6
rng = np.random.default_rng(7)
ids = rng.integers(0, V, T).astype(np.int64)
E = rng.standard_normal((V, H)) * 0.5
W1 = rng.standard_normal((L, H, H)) / np.sqrt(H)
W2 = rng.standard_normal((L, H, H)) / np.sqrt(H)
G = 1 + 0.1 * rng.standard_normal((L + 1, H))
HEAD2 = E + 0.05 * rng.standard_normal((V, H))
POS = rng.standard_normal((T + 1, H)) * 0.1


def rmsnorm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def forward(dt, fault=None):
    c = lambda a: np.asarray(a, dtype=dt)
    e, w1, w2, g, pos = c(E), c(W1), c(W2), c(G), c(POS)
    out = {"inputs/input_ids": ids.copy()}
    h = e[ids] + pos[:T]
    out["embeddings"] = h
    for l in range(L):
        eps = 1e-1 if (fault == "eps_layer3" and l == 3) else 1e-6
        x = rmsnorm(h, g[l], eps)
        a = w1[l].T if (fault == "transposed_layer0" and l == 0) else w1[l]
        h = h + np.tanh(x @ a) @ w2[l] * dt(0.5)
        if fault == "nan_layer4" and l == 4:
            h = h.copy()
            h[5, 17] = np.nan
        out[f"layers.{l}"] = h
    f = rmsnorm(h, g[L], 1e-6)
    out["final_norm"] = f
    head = c(HEAD2) if fault == "untied_head" else e
    logits = f @ head.T
    out["logits"] = logits
    gen = np.argmax(logits, axis=-1).astype(np.int64)
    if fault == "ids_swapped":
        gen[[2, 9]] = gen[[9, 2]]
    out["generated/ids"] = gen
    # One decode step with a cache: the next token at position T.
    p = T + 1 if fault == "cache_offset" else T
    hd = e[gen[-1]] + c(POS)[min(p, T)] * (dt(1.5) if fault == "cache_offset" else dt(1))
    for l in range(L):
        hd = hd + np.tanh(rmsnorm(hd, g[l], 1e-6) @ w1[l]) @ w2[l] * dt(0.5)
    out["cache_decode.0.logits"] = (rmsnorm(hd, g[L], 1e-6) @ e.T)[None, :]
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in out.items()}


ref = forward(np.float64)
np.savez(OUT / "ref.npz", **ref)
variants = {
    "clean": (None, None),
    "eps_layer3": ("layer 3", "later-layer"),
    "nan_layer4": ("layer 4", "later-layer"),
    "transposed_layer0": ("layer 0", "first-layer"),
    "ids_swapped": ("ids", "ids"),
    "untied_head": ("logits", "logits"),
    "cache_offset": ("cache_decode 0", "cache-decode"),
}
for name in variants:
    cap = forward(np.float32, None if name == "clean" else name)
    np.savez(OUT / f"port_{name}.npz", **cap)
(OUT / "manifest.json").write_text(json.dumps({"schema": "mlxport.capture/v1", "tensors": list(ref)}, indent=1))
(OUT / "expected.json").write_text(json.dumps({k: {"rung": r, "hint": h} for k, (r, h) in variants.items()}, indent=1))
print(json.dumps(list(ref)))
