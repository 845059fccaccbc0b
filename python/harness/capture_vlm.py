"""The MLX side of a vision-language model's parity ladder (called by
``capture.py`` for an oracle of ``--family vision-language``).

* ``pixel_values`` and ``inputs.input_ids``: the package's own processor on
  the oracle's image files (checked unchanged by their SHA-256) and on its
  tokenized prompts (one image token each, expanded by the package) —
  rung 0 against the Hugging Face processor's; the prompts re-tokenized
  by the weights' ``tokenizer.json`` against the oracle's ids;
* every later rung runs the package's model on the oracle's pixel values
  and expanded ids, one prompt with its image at a time (batch one,
  unpadded), placed back into the oracle's padded layout;
* ``isolated.*``: each block (image tower and decoder) called on the
  source's input to it;
* greedy decoding with the image in the KV cache, and its recomputation.
"""

import importlib
import os

import mlxport_common as common
from capture import run_isolated


def run(args, oman, timer):
    import mlx.core as mx
    import numpy as np

    if not args.package:
        common.fail("vision-language models are captured from a scaffolded package (--package)")
    if not args.weights:
        common.fail("--package needs --weights")
    name, pkg = common.import_package(args.package)
    cap = importlib.import_module(name + ".capture")
    if getattr(cap, "FAMILY", None) != "vision-language":
        common.fail(f"the target is a {getattr(cap, 'FAMILY', '?')} but the oracle captured a vision-language model")
    model, _ = pkg.load(args.weights)
    inputs = oman["inputs"]
    oracle = np.load(os.path.join(os.path.dirname(os.path.abspath(args.oracle_manifest)), oman["tensors_file"]))
    pv = oracle["pixel_values"]
    ids_o, mask = oracle["inputs.input_ids"], oracle["inputs.attention_mask"]
    seqs = [list(map(int, s)) for s in inputs["token_ids"]]
    images = inputs.get("images") or []
    if args.first_only:
        pv, seqs, images, ids_o, mask = pv[:1], seqs[:1], images[:1], ids_o[:1], mask[:1]
    res, checks = common.Results(), {}

    # Rung 0: the package's processor on the same files and prompts.
    paths = []
    for im in images:
        p = im.get("path")
        if not p or not os.path.isfile(p):
            common.fail(f"image {im.get('file')}: the file the oracle read is gone ({p})")
        if common.file_sha256(p) != im.get("sha256"):
            common.fail(f"image {p} changed since the oracle read it (SHA-256 differs): run the oracle again")
        paths.append(p)
    own_pv, own_ids = cap.preprocess(model, args.weights, paths, inputs["prompt_ids"][: len(paths)])
    res.add("pixel_values", own_pv)
    checks["pixel_values_equal"] = bool(own_pv.shape == pv.shape and np.array_equal(own_pv, pv))
    checks["image_tokens_expanded_equal"] = own_ids == seqs
    if max(len(s) for s in own_ids) == ids_o.shape[1]:
        res.add("inputs.input_ids", common.padded(own_ids, int(inputs.get("pad_token_id", 0)))[0])
    else:
        res.add("inputs.input_ids", ids_o)
        checks["expanded_lengths"] = [len(s) for s in own_ids]
    res.add("inputs.attention_mask", mask)
    # The prompts re-tokenized by the weights' tokenizer.json.
    tok_file = os.path.join(args.weights, "tokenizer.json")
    if inputs.get("texts") and os.path.isfile(tok_file):
        try:
            from tokenizers import Tokenizer

            tk = Tokenizer.from_file(tok_file)
            own = [tk.encode(t).ids for t in inputs["texts"][: len(paths)]]
            checks["tokenizer_matches"] = own == [list(p) for p in inputs["prompt_ids"][: len(paths)]]
            if not checks["tokenizer_matches"]:
                checks["tokenizer_lengths"] = [len(s) for s in own]
        except Exception as e:  # a tokenizer that cannot load is reported, not fatal
            checks["tokenizer_error"] = str(e)

    # Every rung on the oracle's inputs, one prompt and image at a time.
    per = [cap.forward(model, s, pv[i : i + 1]) for i, s in enumerate(seqs)]
    block_inputs = inputs.get("block_inputs") or {}
    if block_inputs and not args.first_only:
        for i, s in enumerate(seqs):
            feeds = {}
            for b, src in block_inputs.items():
                x = oracle[src][i : i + 1]
                feeds[b] = mx.array(x if b.startswith("vision.") else x[:, : len(s)])
            got = run_isolated(None, cap.blocks(model), feeds, lambda: cap.forward(model, s, pv[i : i + 1]))
            mx.eval(list(got.values()))
            per[i].update({k: np.array(v.astype(mx.float32)) for k, v in got.items()})
    B, T = ids_o.shape
    skip = ("pixel_values", "inputs.", "generated.", "cache_decode.", "full_decode.", "block_inputs.", "edges.")
    names = [t["name"] for t in oman["tensors"] if not t["name"].startswith(skip)]
    names += sorted((k for k in per[0] if k.startswith("isolated.")), key=lambda k: names.index(k[len("isolated."):]) if k[len("isolated."):] in names else 0)
    for n in names:
        if n not in per[0]:
            checks.setdefault("missing", []).append(n)
            continue
        if n.startswith(("vision.", "isolated.vision.", "image_features")):  # per image
            res.add(n, np.concatenate([d[n] for d in per], axis=0))
            continue
        full = np.zeros((B, T, per[0][n].shape[-1]), dtype=np.float32)
        for i, d in enumerate(per):
            full[i, : d[n].shape[1]] = d[n][0]
        res.add(n, full, mask="inputs.attention_mask")
    n_new = int(inputs.get("generate") or 0)
    if n_new > 0 and not args.first_only and not args.no_generate:
        gens, steps, fulls = [], [], []
        for i, s in enumerate(seqs):
            g, c, f = cap.decode(model, s, pv[i : i + 1], n_new)
            gens.append(g)
            steps.append(c)
            fulls.append(f)
        res.add("generated.ids", np.array(gens))
        res.add("cache_decode.logits", np.stack(steps))
        res.add("full_decode.logits", np.stack(fulls))
        checks["cache_argmax_matches_tokens"] = all(c.argmax(-1).tolist() == g for c, g in zip(steps, gens))
    manifest = {
        "kind": "capture",
        "implementation": "mlxport-scaffold",
        "family": "vision-language",
        "model": {"package": os.path.abspath(args.package), "weights": os.path.abspath(args.weights)},
        "inputs": {"images": [im.get("file") for im in images], "token_ids": seqs, "prompt_ids": inputs.get("prompt_ids"), "generate": n_new},
        "options": {"dtype": "float32", "batch": 1, "first_only": args.first_only, "ld_preload": os.environ.get("LD_PRELOAD"), "device": str(mx.default_device())},
        "libraries": common.library_versions(["mlx", "mlx-metal", "mlx-cpu", "numpy", "pillow"]),
        "checks": {**checks, "structure": {"package": name}},
        "oracle": {"manifest": os.path.abspath(args.oracle_manifest), "fingerprint": oman.get("model", {}).get("fingerprint")},
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")
