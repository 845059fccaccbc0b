"""Generation benchmark of an MLX model: prefill throughput, time to first
token, decode throughput, per-token latency and MLX's own memory counters,
for several prompt lengths in one process.

Run by ``mlxport bench generate`` (embedded in the binary); not meant to be
run by hand. Each target is timed through its own serving loop:

* ``--mlx-lm DIR``: a model directory loaded with ``mlx_lm.load`` and run
  by ``mlx_lm.generate.generate_step`` (mlx-lm's own loop: its KV cache,
  prefill steps and asynchronous evaluation);
* ``--package PKG --weights DIR``: a package made by ``mlxport scaffold``,
  run by its ``generate.stream`` with ``--options JSON`` (its serving
  switches; default the package's own defaults); an encoder-decoder
  package by its ``generate.stream`` (the prompt encoded once, then the
  decoder run token by token with its caches: prefill is the encoder pass
  and the first decoder step); a vision-language package by its
  ``generate.stream`` on one photograph and the image token before each
  drawn prompt (prefill is the image tower, the projector and the whole
  expanded prompt; ``image`` in the output says how many tokens the image
  added).

``--versus-mlx-lm DIR`` measures mlx-lm on DIR in the same process as the
package, interleaved run by run (the order alternating), so that run i of
one and run i of the other saw the same machine: the comparison pairs
them. ``--versus-options JSON`` does the same with the package itself under
other serving options (the same loaded weights): how an optimization
candidate is measured against the package without it.

Synchronization. MLX is lazy: building the graph costs nothing and the
work happens at evaluation. Every timed region starts after
``mx.synchronize()`` (nothing still queued from before). Time to first
token runs from the prompt ids being handed to the loop to the first new
token on the host (the whole prefill plus the first sampling); each
further token's latency runs from the previous token on the host to this
one, which is what a reader of the stream sees.

Each prompt length gets ``--warmup`` untimed runs, then ``--runs`` timed
ones; a run resets MLX's peak-memory counter first. Prompts are token ids
drawn from a seeded generator (deterministic, away from the ids special
tokens usually take); decoding is greedy and never stops early, so every
run produces exactly ``--gen-tokens`` tokens.

Output: one JSON document (schema ``mlxport.bench-generate/v1``) with, per
prompt length, every run's measurements; with ``--versus-mlx-lm``, the
same document for mlx-lm under ``versus``.
"""

import argparse
import importlib
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
    ap.add_argument("--options", help="the package's serving options, JSON (default: its own defaults)")
    ap.add_argument("--versus-mlx-lm", dest="versus", help="also measure mlx-lm on this directory, interleaved")
    ap.add_argument("--versus-options", dest="versus_options", help="also measure the package with these serving options (JSON), interleaved")
    ap.add_argument("--prompt-tokens", required=True, help="comma-separated prompt lengths")
    ap.add_argument("--gen-tokens", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


class Target:
    """One implementation and its serving loop: `steps(prompt, n)` yields
    the n greedy tokens as ints."""

    def __init__(self, name, model, steps, vocab, load_s, options=None):
        self.name, self.model, self.steps, self.vocab, self.load_s, self.options = name, model, steps, vocab, load_s, options


def mlx_lm_target(mx, path):
    from mlx_lm import load
    from mlx_lm.generate import generate_step

    t = time.perf_counter()
    model, _tok = load(path)
    mx.eval(model.parameters())
    load_s = time.perf_counter() - t

    def steps(prompt, n):
        for tok, _logprobs in generate_step(mx.array(prompt), model, max_tokens=n):
            yield int(tok)

    return Target("mlx-lm", model, steps, common.vocab_of(model), load_s)


def package_target(mx, args):
    if not args.weights:
        common.fail("--package needs --weights")
    name, pkg, family = common.package_family(args.package)
    if family == "encoder-decoder":
        if args.options or args.versus_options:
            common.fail("--options: an encoder-decoder package has no serving options")
        gen = importlib.import_module(name + ".generate")
        t = time.perf_counter()
        model, _cfg = pkg.load(args.weights, dtype=None)
        mx.eval(model.parameters())
        load_s = time.perf_counter() - t

        def steps(prompt, n):
            return gen.stream(model, prompt, n)

        return [Target("mlxport-scaffold", model, steps, common.vocab_of(model), load_s)]
    if family == "vision-language":
        return vlm_targets(mx, args, name, pkg)
    name, pkg, options = common.decoder_package(args.package, "bench generate", args.options)
    gen = importlib.import_module(name + ".generate")
    t = time.perf_counter()
    # As stored, as mlx-lm runs them (the package's own default casts to float32).
    model, _cfg = pkg.load(args.weights, dtype=None)
    mx.eval(model.parameters())
    load_s = time.perf_counter() - t

    def target(o):
        def steps(prompt, n):
            return gen.stream(model, prompt, n, options=o)

        return Target("mlxport-scaffold", model, steps, common.vocab_of(model), load_s, o.to_dict())

    targets = [target(options)]
    if args.versus_options:
        targets.append(target(common.decoder_package(args.package, "bench generate", args.versus_options, "--versus-options")[2]))
    return targets


def vlm_targets(mx, args, name, pkg):
    """A vision-language package: each prompt is the image token followed
    by the drawn ids, with one photograph (scikit-image's astronaut, through
    the package's processor); the image's tokens are added to the prompt
    as the processor expands them. Time to first token covers the image
    tower, the projector and the prefill of the whole expanded prompt."""
    import json

    gen = importlib.import_module(name + ".generate")
    Options = importlib.import_module(name + ".language.options").Options
    t = time.perf_counter()
    model, settings = pkg.load(args.weights, dtype=None)
    mx.eval(model.parameters())
    load_s = time.perf_counter() - t
    processor = pkg.Processor.from_dir(args.weights, settings)
    photo = bench_photograph()
    pv = mx.array(processor.images([pkg.load_image(photo)]))
    token = settings.image_token_id
    vocab = common.vocab_of(model.language_model)

    def options_of(text, flag):
        try:
            return Options.from_dict(json.loads(text), flag) if text else Options.defaults()
        except (ValueError, TypeError) as e:
            common.fail(f"{name}: {e}")

    def target(o):
        def steps(prompt, n):
            ids = processor.expand([token] + [x if x != token else 0 for x in prompt])
            return gen.stream(model, ids, pv, n, options=o)

        tg = Target("mlxport-scaffold", model, steps, vocab, load_s, o.to_dict())
        tg.image = {"file": os.path.basename(photo), "image_tokens": processor.image_tokens, "pixel_values_shape": list(pv.shape)}
        return tg

    targets = [target(options_of(args.options, "--options"))]
    if args.versus_options:
        targets.append(target(options_of(args.versus_options, "--versus-options")))
    return targets


def bench_photograph():
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        common.fail("the vision-language benchmark's photograph comes from scikit-image, which is not installed")
    return os.path.join(spec.submodule_search_locations[0], "data", "astronaut.png")


def percentile(xs, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(xs)
    if not s:
        return None
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def one_run(mx, target, prompt, gen_tokens):
    mx.synchronize()
    mx.reset_peak_memory()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    steps = target.steps(prompt, gen_tokens)
    tokens = [next(steps)]
    t1 = time.perf_counter()
    latencies = []
    prev = t1
    for tok in steps:
        now = time.perf_counter()
        latencies.append(now - prev)
        prev = now
        tokens.append(tok)
    mx.synchronize()
    t2 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = mx.get_peak_memory()
    active = mx.get_active_memory()
    if len(tokens) != gen_tokens:
        common.fail(f"{target.name} produced {len(tokens)} tokens, {gen_tokens} asked")
    ttft = t1 - t0
    decode_s = sum(latencies)
    # A vision-language prompt also holds its image's tokens.
    image_tokens = getattr(target, "image", {}).get("image_tokens", 0)
    extra = {
        "prompt_tokens": float(len(prompt)),
        "generated_tokens": float(len(tokens)),
        "ttft_s": ttft,
        "prefill_tokens_per_s": (len(prompt) + image_tokens) / ttft if ttft > 0 else 0.0,
        "decode_s": decode_s,
        "peak_memory_bytes": float(peak),
        "active_memory_bytes": float(active),
    }
    if image_tokens:
        extra["image_tokens"] = float(image_tokens)
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


def document(mx, target, args, results):
    doc = {
        "schema": SCHEMA,
        "implementation": target.name,
        "device": str(mx.default_device()),
        "mlx": getattr(mx, "__version__", None),
        "python": platform.python_version(),
        "vocab_size": target.vocab,
        "load_s": target.load_s,
        "gen_tokens": args.gen_tokens,
        "seed": args.seed,
        "results": results,
    }
    if target.options is not None:
        doc["options"] = target.options
    if getattr(target, "image", None) is not None:
        # prompt_tokens count the text; the image adds image_tokens more.
        doc["image"] = target.image
    return doc


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

    if bool(args.mlx_lm) == bool(args.package):
        common.fail("give --mlx-lm DIR, or --package DIR --weights DIR")
    if (args.versus or args.versus_options) and not args.package:
        common.fail("--versus-mlx-lm and --versus-options go with --package")
    if args.versus and args.versus_options:
        common.fail("give --versus-mlx-lm or --versus-options, not both")
    targets = [mlx_lm_target(mx, args.mlx_lm)] if args.mlx_lm else package_target(mx, args)
    if args.versus:
        targets.append(mlx_lm_target(mx, args.versus))
        if targets[1].vocab != targets[0].vocab:
            common.fail(f"the package's vocabulary ({targets[0].vocab}) is not mlx-lm's ({targets[1].vocab}): not the same model")
    rng = np.random.default_rng(args.seed)
    vocab = targets[0].vocab
    low = min(1000, vocab // 2)
    results = [[] for _ in targets]
    for n in lengths:
        prompt = [int(x) for x in rng.integers(low, vocab, size=n)]
        common.log(f"prompt {n}: {args.warmup} warmup + {args.runs} runs of {args.gen_tokens} tokens, {' and '.join(t.name for t in targets)}")
        for t in targets:
            for _ in range(args.warmup):
                one_run(mx, t, prompt, args.gen_tokens)
        runs = [[] for _ in targets]
        for i in range(args.runs):
            # Interleaved, the order alternating: run i of each saw the same machine.
            order = list(range(len(targets)))
            if i % 2:
                order.reverse()
            for k in order:
                runs[k].append(one_run(mx, targets[k], prompt, args.gen_tokens))
        for k, rs in enumerate(runs):
            same = all(r["tokens"] == rs[0]["tokens"] for r in rs)
            first = rs[0]["tokens"]
            for r in rs:
                del r["tokens"]
            results[k].append({"prompt_tokens": n, "deterministic_tokens": same, "runs": rs, "_tokens": first})
    if len(targets) > 1:
        for a, b in zip(results[0], results[1]):
            a["same_tokens_as_versus"] = a["_tokens"] == b["_tokens"]
    for rs in results:
        for r in rs:
            del r["_tokens"]
    doc = document(mx, targets[0], args, results[0])
    if len(targets) > 1:
        doc["versus"] = document(mx, targets[1], args, results[1])
    common.write_json(args.out, doc)


if __name__ == "__main__":
    main()
