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
from capture_vision import image_paths


def run(args, oman, timer):
    import mlx.core as mx
    import numpy as np

    if getattr(args, "mlx_vlm", None):
        cap, model, name, impl = MlxVlm(args.mlx_vlm, oman["inputs"].get("texts") or []), None, "mlx-vlm", "mlx-vlm"
        weights = args.mlx_vlm
    elif args.package:
        if not args.weights:
            common.fail("--package needs --weights")
        name, pkg = common.import_package(args.package)
        cap = importlib.import_module(name + ".capture")
        if getattr(cap, "FAMILY", None) != "vision-language":
            common.fail(f"the target is a {getattr(cap, 'FAMILY', '?')} but the oracle captured a vision-language model")
        model, _ = pkg.load(args.weights)
        impl, weights = "mlxport-scaffold", args.weights
    else:
        common.fail("vision-language models are captured from a scaffolded package (--package) or mlx-vlm (--mlx-vlm); mlx-lm runs their decoder alone")
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
    paths = image_paths(images)
    own_pv, own_ids = cap.preprocess(model, weights, paths, inputs["prompt_ids"][: len(paths)])
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
    tok_file = os.path.join(weights, "tokenizer.json")
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
        "implementation": impl,
        "family": "vision-language",
        "model": {"package": os.path.abspath(args.package) if args.package else None, "weights": os.path.abspath(weights)},
        "inputs": {"images": [im.get("file") for im in images], "token_ids": seqs, "prompt_ids": inputs.get("prompt_ids"), "generate": n_new},
        "options": {"dtype": "float32", "batch": 1, "first_only": args.first_only, "ld_preload": os.environ.get("LD_PRELOAD"), "device": str(mx.default_device())},
        "libraries": common.library_versions(["mlx", "mlx-metal", "mlx-cpu", "mlx-vlm", "numpy", "pillow", "transformers"]),
        "checks": {**checks, "structure": getattr(cap, "structure", None) or {"package": name}},
        "oracle": {"manifest": os.path.abspath(args.oracle_manifest), "fingerprint": oman.get("model", {}).get("fingerprint")},
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")


class InputTap:
    """Wraps a block: records the hidden state it is called with (the
    decoder's input, `embeddings`), delegates everything."""

    def __init__(self, inner, name, sink):
        self._inner, self._name, self._sink = inner, name, sink

    def __call__(self, *a, **k):
        if self._sink.get("_on"):
            self._sink[self._name] = a[0] if a else k.get("x", k.get("h"))
        return self._inner(*a, **k)

    def __getattr__(self, n):
        return getattr(self._inner, n)


class MlxVlm:
    """mlx-vlm's own implementation of the model (``mlx_vlm.utils.load_model``
    on the converted directory), with taps on its image tower's embedding
    and blocks, its projector, its decoder's blocks and final norm, and the
    same functions as a package's ``capture`` module. Its preprocessing is
    mlx-vlm's: transformers' processor (``mlx_vlm.utils.load_processor``)."""

    def __init__(self, path, texts):
        from pathlib import Path

        from capture import Tap
        from mlx_vlm.utils import load_model

        self.path, self.texts = path, texts
        self.model = load_model(Path(path))
        self.sink = {}
        m = self.model
        tower = m.vision_tower.vision_model
        object.__setattr__(tower, "embeddings", Tap(tower.embeddings, "vision.embeddings", self.sink))
        vl = tower.encoder.layers
        for i in range(len(vl)):
            vl[i] = Tap(vl[i], f"vision.layers.{i}", self.sink)
        object.__setattr__(m, "multi_modal_projector", Tap(m.multi_modal_projector, "image_features", self.sink))
        lm = m.language_model.model
        for i in range(len(lm.layers)):
            lm.layers[i] = Tap(lm.layers[i], f"layers.{i}", self.sink)
        lm.layers[0] = InputTap(lm.layers[0], "embeddings", self.sink)
        object.__setattr__(lm, "norm", Tap(lm.norm, "final_norm", self.sink))
        self.structure = {"implementation": "mlx-vlm", "model": type(m).__module__ + "." + type(m).__name__, "vision_blocks": len(vl), "blocks": len(lm.layers)}

    def blocks(self, _model):
        lm = self.model.language_model.model
        # The isolated rung wraps the blocks under the taps.
        return {"layers": lm.layers, "vision.layers": self.model.vision_tower.vision_model.encoder.layers}

    def preprocess(self, _model, weights_dir, image_paths, prompt_ids):
        import numpy as np
        from mlx_vlm.utils import load_processor

        import image as images

        proc = load_processor(weights_dir, add_detokenizer=False)
        pv, ids = [], []
        for path, text in zip(image_paths, self.texts):
            o = proc(images=[images.load_image(path)], text=text, return_tensors="np")
            # mlx-vlm's processors may hand back mx arrays.
            pv.append(np.array(o["pixel_values"]).astype(np.float32))
            ids.append([int(t) for t in np.array(o["input_ids"])[0]])
        return np.concatenate(pv, axis=0), ids

    def forward(self, _model, input_ids, pixel_values):
        import mlx.core as mx
        import numpy as np

        self.sink.clear()
        self.sink["_on"] = True
        out = self.model(mx.array([input_ids]), mx.array(pixel_values), mask=None)
        self.sink["_on"] = False
        got = {k: v for k, v in self.sink.items() if not k.startswith("_")}
        got["logits"] = out.logits
        mx.eval(list(got.values()))
        return {k: np.array(v.astype(mx.float32)) for k, v in got.items()}

    def decode(self, _model, input_ids, pixel_values, n):
        """mlx-vlm's cache (``make_prompt_cache``): the prompt and image
        prefilled in one call, then one token per step; the recomputation
        runs on the prompt's merged embeddings and the new tokens' own."""
        import mlx.core as mx
        import numpy as np
        from mlx_vlm.models.cache import make_prompt_cache

        m = self.model
        lm = m.language_model
        cache = make_prompt_cache(lm)
        pv = mx.array(pixel_values)
        logits = m(mx.array([input_ids]), pv, mask=None, cache=cache).logits
        toks, steps = [], []
        for i in range(n):
            last = logits[0, -1]
            steps.append(last)
            toks.append(int(mx.argmax(last).item()))
            if i + 1 < n:
                logits = lm(mx.array([[toks[-1]]]), cache=cache).logits
        prompt = m.get_input_embeddings(mx.array([input_ids]), pv).inputs_embeds
        ids = mx.array([input_ids + toks[:-1]])
        embeds = mx.concatenate([prompt, lm.model.embed_tokens(ids[:, len(input_ids):])], axis=1)
        full = lm(ids, inputs_embeds=embeds).logits[0, len(input_ids) - 1:]
        steps = mx.stack(steps)
        mx.eval(steps, full)
        return toks, np.array(steps.astype(mx.float32)), np.array(full.astype(mx.float32))
