"""Profile of a decoder as served, for ``mlxport profile`` (embedded in the
binary; not meant to be run by hand).

The model is a scaffolded package (``--package PKG --weights DIR``, run
with ``--options JSON`` or the package's defaults) or an mlx-lm directory
(``--mlx-lm DIR``). Measured, in one process:

* load: wall time of loading the weights until they are evaluated;
* first call: the first forward pass on ``--first-tokens`` tokens after
  the load (kernels built on first use, compiled functions traced) against
  the same call again; the difference is the first-call cost;
* prefill by prompt length: tokens/s of filling a fresh cache with the
  prompt (last-position logits evaluated), MLX's peak memory;
* decode by context length: a cache filled with ``context`` tokens, then
  ``--gen-tokens`` greedy steps timed one by one (tokens/s, median step);
* Python overhead: for the same decode steps, the share of each step spent
  building the graph in Python (the model call, which only records work)
  rather than in MLX evaluating it.

Each timed figure is the median of ``--runs`` runs. Prompts are token ids
from a seeded generator. Output: JSON (schema ``mlxport.profile/v1``).
"""

import argparse
import importlib
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402

SCHEMA = "mlxport.profile/v1"


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlx-lm", dest="mlx_lm")
    ap.add_argument("--package")
    ap.add_argument("--weights")
    ap.add_argument("--options")
    ap.add_argument("--prompt-tokens", required=True)
    ap.add_argument("--contexts", required=True)
    ap.add_argument("--gen-tokens", type=int, default=16)
    ap.add_argument("--first-tokens", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def ints(text, flag):
    try:
        xs = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        common.fail(f"{flag}: not a list of integers: {text!r}")
    if not xs or any(x < 1 for x in xs):
        common.fail(f"{flag}: give positive lengths")
    return xs


class Served:
    """`forward(ids, cache, last_only)`, `make_cache()` and the load time."""

    def __init__(self, mx, args):
        self.mx = mx
        t = time.perf_counter()
        if args.package:
            if not args.weights:
                common.fail("--package needs --weights")
            name, pkg, self.options = common.decoder_package(args.package, "profile", args.options)
            self.model, _ = pkg.load(args.weights, dtype=None)
            mx.eval(self.model.parameters())
            self.model.configure(self.options)
            cache_mod = importlib.import_module(name + ".cache")
            self.make_cache = lambda: cache_mod.make_cache(self.model, self.options)  # noqa: E731
            self.last_only = True
            self.implementation = f"package {name}"
        elif args.mlx_lm:
            from mlx_lm import load
            from mlx_lm.models.cache import make_prompt_cache

            self.model, _ = load(args.mlx_lm)
            mx.eval(self.model.parameters())
            self.options = None
            self.make_cache = lambda: make_prompt_cache(self.model)  # noqa: E731
            self.last_only = False
            self.implementation = "mlx-lm"
        else:
            common.fail("give --package DIR --weights DIR, or --mlx-lm DIR")
        self.load_s = time.perf_counter() - t
        self.vocab = common.vocab_of(self.model)

    def forward(self, ids, cache):
        x = self.mx.array([ids])
        if self.last_only:
            return self.model(x, cache=cache, last_only=True)[0, -1]
        return self.model(x, cache=cache)[0, -1]


def main():
    args = parse_args()
    prompts = ints(args.prompt_tokens, "--prompt-tokens")
    contexts = ints(args.contexts, "--contexts")
    if args.gen_tokens < 2 or args.runs < 1 or args.first_tokens < 1:
        common.fail("--gen-tokens must be at least 2, --runs and --first-tokens at least 1")
    import mlx.core as mx
    import numpy as np

    s = Served(mx, args)
    rng = np.random.default_rng(args.seed)
    low = min(1000, s.vocab // 2)
    draw = lambda n: [int(x) for x in rng.integers(low, s.vocab, size=n)]  # noqa: E731

    first_ids = draw(args.first_tokens)
    times = []
    for _ in range(2):
        mx.synchronize()
        t = time.perf_counter()
        mx.eval(s.forward(first_ids, s.make_cache()))
        times.append(time.perf_counter() - t)
    first = {"tokens": args.first_tokens, "first_s": times[0], "again_s": times[1], "cost_s": max(0.0, times[0] - times[1])}

    prefill = []
    for n in prompts:
        ids = draw(n)
        runs, peaks = [], []
        for _ in range(args.runs):
            cache = s.make_cache()
            mx.synchronize()
            mx.reset_peak_memory()
            t = time.perf_counter()
            mx.eval(s.forward(ids, cache))
            runs.append(time.perf_counter() - t)
            peaks.append(mx.get_peak_memory())
        med = statistics.median(runs)
        prefill.append({"prompt_tokens": n, "seconds": runs, "tokens_per_s": n / med, "peak_memory_bytes": max(peaks)})
        common.log(f"prefill {n}: {n / med:.1f} tokens/s")

    decode = []
    for ctx in contexts:
        ids = draw(ctx)
        rates, steps_all, builds_all, peaks = [], [], [], []
        for _ in range(args.runs):
            cache = s.make_cache()
            last = s.forward(ids, cache)
            y = mx.argmax(last)
            mx.eval(y)
            mx.synchronize()
            mx.reset_peak_memory()
            steps, builds = [], []
            for _i in range(args.gen_tokens):
                t0 = time.perf_counter()
                logits = s.forward([int(y.item())], cache)
                y = mx.argmax(logits)
                t1 = time.perf_counter()
                mx.eval(y)
                t2 = time.perf_counter()
                builds.append(t1 - t0)
                steps.append(t2 - t0)
            peaks.append(mx.get_peak_memory())
            rates.append(len(steps) / sum(steps))
            steps_all += steps
            builds_all += builds
        decode.append(
            {
                "context_tokens": ctx,
                "tokens_per_s": statistics.median(rates),
                "runs_tokens_per_s": rates,
                "step_median_s": statistics.median(steps_all),
                "python_share": sum(builds_all) / sum(steps_all),
                "peak_memory_bytes": max(peaks),
            }
        )
        common.log(f"decode at {ctx}: {statistics.median(rates):.2f} tokens/s")

    doc = {
        "schema": SCHEMA,
        "implementation": s.implementation,
        "options": s.options.to_dict() if s.options is not None else None,
        "device": str(mx.default_device()),
        "mlx": getattr(mx, "__version__", None),
        "python": platform.python_version(),
        "load_s": s.load_s,
        "first_call": first,
        "prefill": prefill,
        "decode": decode,
        "runs": args.runs,
        "gen_tokens": args.gen_tokens,
        "seed": args.seed,
    }
    common.write_json(args.out, doc, indent=1)


if __name__ == "__main__":
    main()
