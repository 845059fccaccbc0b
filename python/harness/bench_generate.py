"""Generation benchmark of an MLX model: prefill throughput, time to first
token, decode throughput, per-token latency and MLX's own memory counters,
for several prompt lengths in one process.

Run by ``mlxport bench generate`` (embedded in the binary); not meant to be
run by hand. Two targets, as for the capture step:

* ``--mlx-lm DIR``: a model directory loaded with ``mlx_lm.load`` and run
  with mlx-lm's KV cache;
* ``--package PKG --weights DIR``: a package made by ``mlxport scaffold``
  (its ``load`` and its ``cache.make_cache``).

Synchronization. MLX is lazy: building the graph costs nothing and the
work happens at ``mx.eval``. Every timed region therefore starts after
``mx.synchronize()`` (nothing still queued from before) and ends when the
token it produced has been evaluated and copied to the host (``.item()``,
which a real generator needs anyway to detect the end of text), followed
by ``mx.synchronize()``. Time to first token runs from the prompt ids being
handed to the model to the first new token on the host: the whole prefill
plus the first sampling. Decoding then times each further token alone.

Each prompt length gets ``--warmup`` untimed runs, then ``--runs`` timed
ones; a run resets MLX's peak-memory counter first. Prompts are token ids
drawn from a seeded generator (deterministic, away from the ids special
tokens usually take); decoding is greedy and never stops early, so every
run produces exactly ``--gen-tokens`` tokens.

Output: one JSON document (schema ``mlxport.bench-generate/v1``) with, per
prompt length, every run's measurements.
"""

import argparse
import importlib
import json
import os
import platform
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402

SCHEMA = "mlxport.bench-generate/v1"


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlx-lm", dest="mlx_lm", help="model directory mlx_lm.load reads")
    ap.add_argument("--package", help="directory of a scaffolded package")
    ap.add_argument("--weights", help="weights directory for --package")
    ap.add_argument("--prompt-tokens", required=True, help="comma-separated prompt lengths")
    ap.add_argument("--gen-tokens", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def load_target(args):
    """(model, make_cache, vocab size, implementation name)."""
    import mlx.nn as nn

    if args.mlx_lm:
        from mlx_lm import load
        from mlx_lm.models.cache import make_prompt_cache

        model, _tok = load(args.mlx_lm)
        make = lambda: make_prompt_cache(model)  # noqa: E731
        impl = "mlx-lm"
    elif args.package:
        if not args.weights:
            common.fail("--package needs --weights")
        pkg_dir = os.path.abspath(args.package)
        sys.path.insert(0, os.path.dirname(pkg_dir))
        name = os.path.basename(pkg_dir)
        pkg = importlib.import_module(name)
        cap = importlib.import_module(name + ".capture")
        if getattr(cap, "FAMILY", None) != "decoder":
            common.fail(f"bench generate needs a decoder package; {name} is a {getattr(cap, 'FAMILY', 'unknown')} package")
        cache_mod = importlib.import_module(name + ".cache")
        model, _cfg = pkg.load(args.weights)
        make = lambda: cache_mod.make_cache(len(model.model.layers))  # noqa: E731
        impl = "mlxport-scaffold"
    else:
        common.fail("give --mlx-lm DIR, or --package DIR --weights DIR")
    vocab = None
    for _n, m in model.named_modules():
        if isinstance(m, (nn.Embedding, nn.QuantizedEmbedding)):
            vocab = int(m.weight.shape[0])
            break
    if vocab is None:
        common.fail("the model has no token embedding to draw prompt ids from")
    return model, make, vocab, impl


def percentile(xs, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(xs)
    if not s:
        return None
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def one_run(mx, model, make_cache, prompt, gen_tokens):
    cache = make_cache()
    ids = mx.array([prompt])
    mx.synchronize()
    mx.reset_peak_memory()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    logits = model(ids, cache=cache)
    tok = mx.argmax(logits[0, -1])
    first = tok.item()
    mx.synchronize()
    t1 = time.perf_counter()
    latencies = []
    tokens = [first]
    for _ in range(gen_tokens - 1):
        ts = time.perf_counter()
        logits = model(tok.reshape(1, 1), cache=cache)
        tok = mx.argmax(logits[0, -1])
        tokens.append(tok.item())
        mx.synchronize()
        latencies.append(time.perf_counter() - ts)
    t2 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = mx.get_peak_memory()
    active = mx.get_active_memory()
    del cache, logits, tok
    ttft = t1 - t0
    decode_s = sum(latencies)
    extra = {
        "prompt_tokens": float(len(prompt)),
        "generated_tokens": float(len(tokens)),
        "ttft_s": ttft,
        "prefill_tokens_per_s": len(prompt) / ttft if ttft > 0 else 0.0,
        "decode_s": decode_s,
        "peak_memory_bytes": float(peak),
        "active_memory_bytes": float(active),
    }
    if latencies:
        extra["decode_tokens_per_s"] = len(latencies) / decode_s if decode_s > 0 else 0.0
        for q, name in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")]:
            extra[f"token_latency_{name}_s"] = percentile(latencies, q)
        extra["token_latency_max_s"] = max(latencies)
    return {
        "wall_s": t2 - t0,
        "user_s": ru1.ru_utime - ru0.ru_utime,
        "system_s": ru1.ru_stime - ru0.ru_stime,
        # Linux reports KiB, macOS bytes; the process's peak so far.
        "max_rss_bytes": ru1.ru_maxrss * (1 if sys.platform == "darwin" else 1024),
        "extra": extra,
        "tokens": tokens,
    }


def main():
    args = parse_args()
    try:
        lengths = [int(x) for x in args.prompt_tokens.split(",") if x.strip()]
    except ValueError:
        common.fail(f"--prompt-tokens: not a list of integers: {args.prompt_tokens!r}")
    if not lengths or any(n < 1 for n in lengths):
        common.fail("--prompt-tokens: give positive lengths")
    if args.gen_tokens < 2:
        common.fail("--gen-tokens must be at least 2 (the first token is the prefill's)")
    if args.runs < 1 or args.warmup < 0:
        common.fail("--runs must be at least 1 and --warmup non-negative")
    import mlx.core as mx
    import numpy as np

    t_load = time.perf_counter()
    model, make_cache, vocab, impl = load_target(args)
    mx.eval(model.parameters())
    load_s = time.perf_counter() - t_load
    rng = np.random.default_rng(args.seed)
    low = min(1000, vocab // 2)
    results = []
    for n in lengths:
        prompt = [int(x) for x in rng.integers(low, vocab, size=n)]
        common.log(f"prompt {n}: {args.warmup} warmup + {args.runs} runs of {args.gen_tokens} tokens")
        for _ in range(args.warmup):
            one_run(mx, model, make_cache, prompt, args.gen_tokens)
        runs = [one_run(mx, model, make_cache, prompt, args.gen_tokens) for _ in range(args.runs)]
        same = all(r["tokens"] == runs[0]["tokens"] for r in runs)
        for r in runs:
            del r["tokens"]
        results.append({"prompt_tokens": n, "deterministic_tokens": same, "runs": runs})
    doc = {
        "schema": SCHEMA,
        "implementation": impl,
        "device": str(mx.default_device()),
        "mlx": getattr(mx, "__version__", None),
        "python": platform.python_version(),
        "vocab_size": vocab,
        "load_s": load_s,
        "gen_tokens": args.gen_tokens,
        "seed": args.seed,
        "results": results,
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
