"""Sentence embeddings for ``mlxport quality`` on encoders (embedded in the
binary).

Runs a package made by ``mlxport scaffold`` on the reference's and the
candidate's weights and writes, into ``--out FILE.npz``, float32 sentence
embeddings: ``reference`` and ``candidate`` [S, H] for the sentence set,
``query_reference`` and ``query_candidate`` [Q, H] for the queries, plus
``FILE.json`` saying what ran. Both sides see the same token ids (the
reference's ``tokenizer.json``), one sentence at a time (no padding).

Both are loaded by the package's own ``load`` (strict; a checkpoint whose
``config.json`` has a ``quantization`` entry gets the layers with
``scales`` quantized first, as MLX stores them).

The metrics are computed by mlxport from these files, not here.
"""

import argparse
import importlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--candidate", required=True)
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [x.rstrip("\n") for x in f if x.strip() and not x.startswith("#")]


def load(pkg, path):
    """The model through the package's own loader (quantized checkpoints
    included) and the quantization its config declares."""
    cfg_path = os.path.join(path, "config.json")
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        common.fail(f"{cfg_path}: cannot read the config: {e}")
    q = cfg.get("quantization") or None
    try:
        model = pkg.load(path)[0]
    except ValueError as e:
        common.fail(f"{path}: the weights do not fit the model: {e}")
    kw = {k: q[k] for k in ("group_size", "bits", "mode") if k in q} if isinstance(q, dict) else None
    return model, kw


def embed(mx, np, model, ids_list):
    out = []
    for ids in ids_list:
        e = model.sentence_embedding(mx.array([ids]))
        out.append(np.array(e.astype(mx.float32))[0])
    return np.stack(out)


def main():
    args = parse_args()
    timer = common.Timer()
    import mlx.core as mx
    import numpy as np
    from tokenizers import Tokenizer

    pkg_dir = os.path.abspath(args.package)
    sys.path.insert(0, os.path.dirname(pkg_dir))
    pkg = importlib.import_module(os.path.basename(pkg_dir))
    tok_path = os.path.join(args.reference, "tokenizer.json")
    if not os.path.isfile(tok_path):
        common.fail(f"{args.reference}: no tokenizer.json")
    tok = Tokenizer.from_file(tok_path)
    tok.no_padding()
    tok.no_truncation()
    sentences, queries = lines(args.sentences), lines(args.queries)
    if not sentences or not queries:
        common.fail("the sentence set and the query set must not be empty")
    sid = [tok.encode(s).ids for s in sentences]
    qid = [tok.encode(s).ids for s in queries]
    res = {}
    quant = {}
    for side, path in (("reference", args.reference), ("candidate", args.candidate)):
        common.log(f"loading the {side}")
        model, quant[side] = load(pkg, path)
        res[side] = embed(mx, np, model, sid)
        res["query_" + side] = embed(mx, np, model, qid)
        del model
    out = os.path.abspath(args.out)
    np.savez(out, **res)
    meta = {
        "sentences": len(sentences),
        "queries": len(queries),
        "hidden": int(res["reference"].shape[1]),
        "quantization": quant,
        "libraries": common.library_versions(["mlx", "tokenizers", "numpy"]),
        "seconds": timer.elapsed(),
    }
    with open(out[:-4] + ".json" if out.endswith(".npz") else out + ".json", "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
