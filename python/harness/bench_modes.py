"""Serving modes of a scaffolded decoder package against its plain loop,
for the optimization loop (embedded in the binary): batched generation and
speculative decoding change how a workload is served, not a switch of one
stream, so they are timed on a whole workload.

* ``--mode batch --batch N``: N prompts (lengths spread below
  ``--prompt-tokens``, so the batch is left-padded) decoded together by
  ``generate.batch_greedy`` against the same prompts one after the other
  through ``generate.stream``;
* ``--mode speculative --draft DIR --draft-tokens K``: one prompt decoded
  by ``generate.speculative_greedy`` with the draft model (its weights
  loaded by the same package, e.g. a harder quantization of the model)
  against ``generate.stream``.

Both sides use the serving options ``--options`` (default the first
port), load the weights as stored, run ``--warmup`` untimed passes each,
then ``--runs`` timed passes interleaved with the order alternating. Every
pass is timed from after ``mx.synchronize()`` to the last token on the
host. Output (``--out``, schema ``mlxport.bench-modes/v1``): each side's
seconds per pass and new tokens per pass, MLX's peak memory, whether the
two sides produced the same tokens, and for speculative decoding the
draft tokens proposed and accepted.
"""

import argparse
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402

SCHEMA = "mlxport.bench-modes/v1"


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--mode", choices=["batch", "speculative"], required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--draft")
    ap.add_argument("--draft-tokens", type=int, default=2)
    ap.add_argument("--options")
    ap.add_argument("--prompt-tokens", type=int, required=True)
    ap.add_argument("--gen-tokens", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def main():
    args = parse_args()
    if args.runs < 1 or args.warmup < 0 or args.prompt_tokens < 1 or args.gen_tokens < 1:
        common.fail("--runs, --prompt-tokens and --gen-tokens must be positive and --warmup non-negative")
    if args.mode == "batch" and args.batch < 2:
        common.fail("--batch must be at least 2")
    if args.mode == "speculative" and not args.draft:
        common.fail("--mode speculative needs --draft DIR")
    import mlx.core as mx
    import numpy as np

    name, pkg, options = common.decoder_package(args.package, "the serving-mode benchmark", args.options)
    gen = importlib.import_module(name + ".generate")
    model, _ = pkg.load(args.weights, dtype=None)
    vocab = common.vocab_of(model)
    rng = np.random.default_rng(args.seed)
    low = min(1000, vocab // 2)
    stats = {}
    if args.mode == "batch":
        lengths = [max(1, args.prompt_tokens - (args.prompt_tokens * i) // (2 * args.batch)) for i in range(args.batch)]
        prompts = [[int(x) for x in rng.integers(low, vocab, size=n)] for n in lengths]

        def candidate():
            return gen.batch_greedy(model, prompts, args.gen_tokens, options=options)

        def baseline():
            return [list(gen.stream(model, p, args.gen_tokens, options=options)) for p in prompts]

        workload = {"prompts": lengths, "gen_tokens": args.gen_tokens}
    else:
        draft, _ = pkg.load(args.draft, dtype=None)
        if common.vocab_of(draft) != vocab:
            common.fail(f"the draft's vocabulary ({common.vocab_of(draft)}) is not the model's ({vocab})")
        prompt = [int(x) for x in rng.integers(low, vocab, size=args.prompt_tokens)]

        def candidate():
            tokens, s = gen.speculative_greedy(model, draft, prompt, args.gen_tokens, draft_tokens=args.draft_tokens, options=options)
            stats.update(s)
            return tokens

        def baseline():
            return list(gen.stream(model, prompt, args.gen_tokens, options=options))

        workload = {"prompts": [len(prompt)], "gen_tokens": args.gen_tokens, "draft_tokens": args.draft_tokens}

    def timed(fn):
        mx.synchronize()
        mx.reset_peak_memory()
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out, mx.get_peak_memory()

    sides = [candidate, baseline]
    for fn in sides:
        for _ in range(args.warmup):
            fn()
    secs, peaks, outs = [[], []], [0, 0], [None, None]
    for i in range(args.runs):
        order = [0, 1] if i % 2 == 0 else [1, 0]
        for k in order:
            s, out, p = timed(sides[k])
            secs[k].append(s)
            peaks[k] = max(peaks[k], p)
            outs[k] = out
    count = lambda out: sum(len(x) for x in out) if out and isinstance(out[0], list) else len(out)  # noqa: E731
    doc = {
        "schema": SCHEMA,
        "mode": args.mode,
        "implementation": f"package {name}",
        "device": str(mx.default_device()),
        "mlx": getattr(mx, "__version__", None),
        "options": options.to_dict(),
        "workload": workload,
        "candidate": {"seconds": secs[0], "tokens": count(outs[0]), "peak_memory_bytes": float(peaks[0])},
        "baseline": {"seconds": secs[1], "tokens": count(outs[1]), "peak_memory_bytes": float(peaks[1])},
        "same_tokens": outs[0] == outs[1],
    }
    if stats:
        doc["speculative"] = stats
    common.write_json(args.out, doc)


if __name__ == "__main__":
    main()
