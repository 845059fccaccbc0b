"""The MLX side of an image model's parity ladder (called by ``capture.py``
for an oracle of ``--family vision``).

* ``pixel_values``: the package's own image processor on the oracle's image
  files (checked unchanged by their SHA-256) — rung 0 against the Hugging
  Face processor's;
* every later rung runs the package's model on the oracle's
  ``pixel_values`` (so a preprocessing difference cannot hide or cause a
  model divergence), the whole batch in one call, as the oracle did;
* ``isolated.layers.N``: each block called on the source's input to it;
* edges: ``edges.single.*``, each image alone (batch one) against the
  source's batch; ``edges.size.*`` on the oracle's non-square crop.
"""

import importlib
import os

import mlxport_common as common
from capture import run_isolated


def run(args, oman, timer):
    import mlx.core as mx
    import numpy as np

    if not args.package:
        common.fail("image models are captured from a scaffolded package (--package); mlx-lm has no image models")
    if not args.weights:
        common.fail("--package needs --weights")
    name, pkg = common.import_package(args.package)
    cap = importlib.import_module(name + ".capture")
    if getattr(cap, "FAMILY", None) != "vision":
        common.fail(f"the target is a {getattr(cap, 'FAMILY', '?')} but the oracle captured an image model")
    model, _ = pkg.load(args.weights)
    inputs = oman["inputs"]
    oracle = np.load(os.path.join(os.path.dirname(os.path.abspath(args.oracle_manifest)), oman["tensors_file"]))
    pv = oracle["pixel_values"]
    images = inputs.get("images") or []
    if args.first_only:
        pv, images = pv[:1], images[:1]
    res, checks = common.Results(), {}

    # Rung 0: the package's processor on the same files.
    paths = image_paths(images)
    own = cap.preprocess(args.weights, paths)
    res.add("pixel_values", own)
    checks["pixel_values_equal"] = bool(own.shape == pv.shape and np.array_equal(own, pv))

    # Every rung on the oracle's pixel values, the batch in one call.
    got = cap.forward(model, pv)
    seqs = inputs.get("token_ids") if "inputs.input_ids" in oracle.files else None
    if seqs is not None:
        got.update(text_side(cap, model, oracle, seqs, got, res, checks, args))
    names = [t["name"] for t in oman["tensors"] if not t["name"].startswith(("pixel_values", "inputs.", "block_inputs.", "edges."))]
    for n in names:
        if n not in got:
            checks.setdefault("missing", []).append(n)
            continue
        res.add(n, got[n], mask="inputs.attention_mask" if n.startswith("text.") and got[n].ndim == 3 else None)
    # Rung 3, isolated: the image tower on the batch, the text tower text
    # by text (unpadded).
    block_inputs = inputs.get("block_inputs") or {}
    if block_inputs and not args.first_only:
        image_feeds = {b: mx.array(oracle[src]) for b, src in block_inputs.items() if not b.startswith("text.")}
        lists = {p: bl for p, bl in cap.blocks(model).items() if not p.startswith("text.")}
        iso = run_isolated(None, lists, image_feeds, lambda: cap.forward(model, pv))
        if seqs is not None:
            text_lists = {p: bl for p, bl in cap.blocks(model).items() if p.startswith("text.")}
            mask = oracle["inputs.attention_mask"]
            per = []
            for i, s in enumerate(seqs):
                n = int(mask[i].sum())
                feeds = {b: mx.array(oracle[src][i : i + 1, :n]) for b, src in block_inputs.items() if b.startswith("text.")}
                per.append(run_isolated(None, text_lists, feeds, lambda: cap.forward_text(model, s)))
            for k in per[0]:
                full = np.zeros((len(seqs), mask.shape[1], per[0][k].shape[-1]), dtype=np.float32)
                for i, d in enumerate(per):
                    full[i, : d[k].shape[1]] = np.array(d[k].astype(mx.float32))[0]
                iso[k] = mx.array(full)
        mx.eval(list(iso.values()))
        order = {t["name"]: j for j, t in enumerate(oman["tensors"])}
        for k in sorted(iso, key=lambda k: order.get(k[len("isolated."):], 0)):
            res.add(k, np.array(iso[k].astype(mx.float32)), mask="inputs.attention_mask" if k.startswith("isolated.text.") else None)
    # Rung 8, edges.
    if not args.first_only and "single" in (inputs.get("edges") or {}):
        singles = [cap.outputs(model, pv[i : i + 1]) for i in range(pv.shape[0])]
        for k in ("last_hidden_state", "logits", "image_embeds"):
            if k in singles[0]:
                res.add(f"edges.single.{k}", np.concatenate([s[k] for s in singles], axis=0))
        if "edges.size.pixel_values" in oracle.files:
            # The input of the case, recorded as the target ran it.
            res.add("edges.size.pixel_values", oracle["edges.size.pixel_values"])
            o = cap.outputs(model, oracle["edges.size.pixel_values"])
            for k in ("last_hidden_state", "logits"):
                if k in o and f"edges.size.{k}" in oracle.files:
                    res.add(f"edges.size.{k}", o[k])
    manifest = {
        "kind": "capture",
        "implementation": "mlxport-scaffold",
        "family": "vision",
        "model": {"package": os.path.abspath(args.package), "weights": os.path.abspath(args.weights)},
        "inputs": {"images": [im.get("file") for im in images], "pixel_values_shape": list(pv.shape)},
        "options": {"dtype": "float32", "batch": int(pv.shape[0]), "first_only": args.first_only, "ld_preload": os.environ.get("LD_PRELOAD"), "device": str(mx.default_device())},
        "libraries": common.library_versions(["mlx", "mlx-metal", "mlx-cpu", "numpy", "pillow"]),
        "checks": {**checks, "structure": {"package": name}},
        "oracle": {"manifest": os.path.abspath(args.oracle_manifest), "fingerprint": oman.get("model", {}).get("fingerprint")},
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")


def image_paths(images):
    """The paths of the oracle's image files, each checked unchanged (by
    its SHA-256) since the oracle read it."""
    paths = []
    for im in images:
        p = im.get("path")
        if not p or not os.path.isfile(p):
            common.fail(f"image {im.get('file')}: the file the oracle read is gone ({p})")
        if common.file_sha256(p) != im.get("sha256"):
            common.fail(f"image {p} changed since the oracle read it (SHA-256 differs): run the oracle again")
        paths.append(p)
    return paths


def text_side(cap, model, oracle, seqs, got, res, checks, args):
    """Two-tower models: the inputs rung (the texts' ids, re-tokenized by
    the weights' tokenizer.json where the oracle had texts), each text
    through the text tower unpadded and placed back into the oracle's
    right-padded layout, and the image-text logits."""
    import numpy as np

    ids, mask = oracle["inputs.input_ids"], oracle["inputs.attention_mask"]
    res.add("inputs.input_ids", ids)
    res.add("inputs.attention_mask", mask)
    per = [cap.forward_text(model, list(map(int, s))) for s in seqs]
    out = {}
    B, T = ids.shape
    for k, first in per[0].items():
        if first.ndim == 3:
            full = np.zeros((B, T, first.shape[-1]), dtype=np.float32)
            for i, d in enumerate(per):
                full[i, : d[k].shape[1]] = d[k][0]
            out[k] = full
        else:
            out[k] = np.concatenate([d[k] for d in per], axis=0)
    out["logits_per_image"] = cap.similarity(model, got["image_embeds"], out["text_embeds"])
    return out
