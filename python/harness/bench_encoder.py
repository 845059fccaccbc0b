"""Sentence-embedding throughput of a scaffolded encoder package for
``mlxport bench encoder`` and the optimization loop (embedded in the
binary).

The sentences (one per line, ``#`` lines skipped) are tokenized once with
the weights' ``tokenizer.json``, then embedded by the package's
``serving.embed`` under each ``--options`` (repeatable; the first is the
candidate) and, with ``--versus-options``, under those too (the baseline,
e.g. ``{}``, the first port), in one process: after ``--warmup`` untimed passes each, ``--runs``
timed passes of the whole set, interleaved with the order alternating, so
that pass i of each saw the same machine. Every timed region starts after
``mx.synchronize()`` and ends when the embeddings are on the host.

Output (``--out FILE``, schema ``mlxport.bench-encoder/v1``): sentence and
token counts and, under ``sides`` in the order given (the versus side
last), each side's options, per-pass seconds, MLX's peak memory and how
far its embeddings are from the first side's (minimum cosine, largest
absolute difference); with ``--versus-options`` also ``candidate`` and
``baseline`` (the first side and the versus side) and their distance.
"""

import argparse
import importlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402

SCHEMA = "mlxport.bench-encoder/v1"


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--options", action="append")
    ap.add_argument("--versus-options", dest="versus_options")
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def main():
    args = parse_args()
    if args.runs < 1 or args.warmup < 0:
        common.fail("--runs must be at least 1 and --warmup non-negative")
    import mlx.core as mx
    import numpy as np
    from tokenizers import Tokenizer

    name, pkg, family = common.package_family(args.package)
    if family != "encoder":
        common.fail(f"bench encoder needs an encoder package; {name} is a {family} package")
    serving = importlib.import_module(name + ".serving")
    sides = []
    for flag, text in [("--options", o) for o in (args.options or ["{}"])] + [("--versus-options", args.versus_options)]:
        if text is None:
            continue
        try:
            sides.append(serving.Options.from_dict(json.loads(text), flag))
        except (ValueError, TypeError) as e:
            common.fail(f"{name}: {e}")
    tok_path = os.path.join(args.weights, "tokenizer.json")
    if not os.path.isfile(tok_path):
        common.fail(f"{args.weights}: no tokenizer.json to tokenize the sentences with")
    tok = Tokenizer.from_file(tok_path)
    tok.no_padding()
    tok.no_truncation()
    with open(args.sentences, encoding="utf-8") as f:
        sentences = [x.rstrip("\n") for x in f if x.strip() and not x.startswith("#")]
    if not sentences:
        common.fail(f"{args.sentences}: no sentences")
    ids = [tok.encode(s).ids for s in sentences]
    t = time.perf_counter()
    model, _ = pkg.load(args.weights)
    mx.eval(model.parameters())
    load_s = time.perf_counter() - t

    def one(o):
        mx.synchronize()
        mx.reset_peak_memory()
        t0 = time.perf_counter()
        e = serving.embed(model, ids, o)
        return time.perf_counter() - t0, e, mx.get_peak_memory()

    seconds, peaks, embs = common.interleaved(sides, args.runs, args.warmup, one)
    def distance(a, b):
        a, b = a.astype(np.float64), b.astype(np.float64)
        cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-30)
        return float(cos.min()), float(np.abs(a - b).max())

    out_sides = []
    for k, o in enumerate(sides):
        c, d = distance(embs[k], embs[0])
        out_sides.append({"options": o.to_dict(), "seconds": seconds[k], "peak_memory_bytes": float(peaks[k]), "min_cosine_vs_first": c, "max_abs_diff_vs_first": d})
    doc = {
        "schema": SCHEMA,
        "implementation": f"package {name}",
        "device": str(mx.default_device()),
        "mlx": getattr(mx, "__version__", None),
        "sentences": len(ids),
        "tokens": int(sum(len(x) for x in ids)),
        "load_s": load_s,
        "warmup": args.warmup,
        "sides": out_sides,
    }
    if args.versus_options is not None:
        doc["candidate"], doc["baseline"] = out_sides[0], out_sides[-1]
        doc["min_cosine"], doc["max_abs_diff"] = distance(embs[0], embs[-1])
    common.write_json(args.out, doc)


if __name__ == "__main__":
    main()
