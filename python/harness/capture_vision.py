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

import hashlib
import importlib
import os

import mlxport_common as common
from capture import run_isolated


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    paths = []
    for im in images:
        p = im.get("path")
        if not p or not os.path.isfile(p):
            common.fail(f"image {im.get('file')}: the file the oracle read is gone ({p})")
        if sha256(p) != im.get("sha256"):
            common.fail(f"image {p} changed since the oracle read it (SHA-256 differs): run the oracle again")
        paths.append(p)
    own = cap.preprocess(args.weights, paths)
    res.add("pixel_values", own)
    checks["pixel_values_equal"] = bool(own.shape == pv.shape and np.array_equal(own, pv))

    # Every rung on the oracle's pixel values, the batch in one call.
    got = cap.forward(model, pv)
    names = [t["name"] for t in oman["tensors"] if not t["name"].startswith(("pixel_values", "block_inputs.", "edges."))]
    for n in names:
        if n not in got:
            checks.setdefault("missing", []).append(n)
            continue
        res.add(n, got[n])
    # Rung 3, isolated.
    block_inputs = inputs.get("block_inputs") or {}
    if block_inputs and not args.first_only:
        feeds = {b: mx.array(oracle[src]) for b, src in block_inputs.items()}
        iso = run_isolated(None, cap.blocks(model), feeds, lambda: cap.forward(model, pv))
        mx.eval(list(iso.values()))
        for k in sorted(iso, key=lambda k: int(k.rsplit(".", 1)[1])):
            res.add(k, np.array(iso[k].astype(mx.float32)))
    # Rung 8, edges.
    if not args.first_only and "single" in (inputs.get("edges") or {}):
        singles = [cap.outputs(model, pv[i : i + 1]) for i in range(pv.shape[0])]
        for k in ("last_hidden_state", "logits"):
            if k in singles[0]:
                res.add(f"edges.single.{k}", np.concatenate([s[k] for s in singles], axis=0))
        if "edges.size.pixel_values" in oracle.files:
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
