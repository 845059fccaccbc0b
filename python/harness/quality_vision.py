"""Image-model outputs for ``mlxport quality`` (embedded in the binary).

Runs a package made by ``mlxport scaffold`` on the reference's and the
candidate's weights over a set of real photographs and writes, into
``--out FILE.npz``, float32 arrays: ``reference_features`` and
``candidate_features`` [N, H] (the pooled output where the model has one,
else the final norm's CLS token) and, for a classifier,
``reference_logits`` and ``candidate_logits`` [N, classes]; ``FILE.json``
beside it says what ran.

Two-tower models (CLIP, SigLIP): the features are the normalised image
embeddings, and the "logits" the image-text similarities against a fixed
set of captions (tokenized with the reference's ``tokenizer.json``;
SigLIP's padded to its text positions as it was trained), so the class
metrics become retrieval agreement: the same best caption per image, and
the overlap of the best five.

The images: the files given with ``--image`` (files or folders), else
every photograph scikit-image ships (PNG and JPEG). Each is used as read
and mirrored left to right, so the set holds twice as many inputs; both
sides get the same ``pixel_values`` (the package's processor, from the
reference's ``preprocessor_config.json``), one image per call.

Vision-language packages (LLaVA): every image is asked one question;
both weight sets decode greedily with the image in their KV cache, and
both score the reference's tokens (see ``run_vlm``), so the gate is the
language-model one: identical greedy tokens, top-1 agreement, KL.

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
    ap.add_argument("--image", action="append", default=[])
    ap.add_argument("--generate", type=int, default=16, help="greedy tokens per image (vision-language packages)")
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def photographs():
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        common.fail("the default image set comes from scikit-image, which is not installed; give --image FILE|DIR")
    d = os.path.join(spec.submodule_search_locations[0], "data")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.lower().endswith((".png", ".jpg", ".jpeg")))


def files_of(given, extensions):
    out = []
    for p in given:
        if os.path.isdir(p):
            out.extend(sorted(os.path.join(p, f) for f in os.listdir(p) if os.path.splitext(f)[1].lower() in extensions))
        else:
            out.append(p)
    return out


# Captions the two-tower gate retrieves among.
CAPTIONS = (
    "a photo of a cat",
    "an astronaut in a white suit",
    "a cup of coffee on a saucer",
    "a rocket on its launch pad",
    "a grayscale photo of a man with a camera",
    "a logo",
    "a motorcycle",
    "a horse",
    "coins on a table",
    "a page of printed text",
    "a picture of the night sky full of galaxies",
    "the retina of an eye",
)


def caption_ids(reference):
    """The captions' token ids (tokenizer.json of the reference; SigLIP's
    padded to the text positions with the pad token)."""
    from tokenizers import Tokenizer

    path = os.path.join(reference, "tokenizer.json")
    if not os.path.isfile(path):
        common.fail(f"{reference}: no tokenizer.json for the captions of the image-text gate")
    tok = Tokenizer.from_file(path)
    tok.no_padding()
    tok.no_truncation()
    with open(os.path.join(reference, "config.json")) as f:
        cfg = json.load(f)
    ids = [tok.encode(c).ids for c in CAPTIONS]
    if cfg.get("model_type") == "siglip":
        t = cfg.get("text_config") or {}
        n, pad = int(t.get("max_position_embeddings", 64)), t.get("pad_token_id")
        pad = 1 if pad is None else int(pad)
        ids = [s[:n] + [pad] * (n - len(s[:n])) for s in ids]
    return ids


def main():
    args = parse_args()
    timer = common.Timer()
    import mlx.core as mx
    import numpy as np

    name, pkg, family = common.package_family(args.package)
    if family == "vision-language":
        return run_vlm(args, timer, name, pkg)
    image = importlib.import_module(name + ".image")
    files = files_of(args.image, image.EXTENSIONS) if args.image else photographs()
    if not files:
        common.fail("no images to score")
    processor = image.ImageProcessor.from_dir(args.reference)
    pixels = []
    for f in files:
        try:
            im = image.load_image(f)
        except image.ImageError as e:
            common.fail(str(e))
        for variant in (im, im.transpose(0)):  # as read, and mirrored (PIL's FLIP_LEFT_RIGHT)
            pixels.append(processor([variant]))
    res, quant = {}, {}
    two_tower = False
    for side, path in (("reference", args.reference), ("candidate", args.candidate)):
        model, _, quant[side] = load_side(pkg, side, path)
        feats, logits = [], []
        texts = None
        if hasattr(model, "encode_text"):
            two_tower = True
            from importlib import import_module

            norm = import_module(name + ".layers").l2_normalize
            texts = mx.concatenate([norm(model.encode_text(ids)) for ids in caption_ids(args.reference)])
        for pv in pixels:
            out = model(mx.array(pv))
            if texts is not None:
                f = out["image_embeds"]
                logits.append(np.array(model.logits(f, texts).astype(mx.float32))[0])
            else:
                f = out.get("pooler_output")
                f = f if f is not None else out["last_hidden_state"][:, 0]
                if "logits" in out:
                    logits.append(np.array(out["logits"].astype(mx.float32))[0])
            feats.append(np.array(f.astype(mx.float32))[0])
        res[side + "_features"] = np.stack(feats)
        if logits:
            res[side + "_logits"] = np.stack(logits)
        del model
    out = os.path.abspath(args.out)
    np.savez(out, **res)

    meta = {
        "images": [{"file": os.path.basename(f), "sha256": common.file_sha256(f)} for f in files],
        "inputs": len(pixels),
        "variants": ["as read", "mirrored left to right"],
        "pixel_values_shape": list(pixels[0].shape[1:]),
        "classifier": "reference_logits" in res,
        "retrieval": {"captions": list(CAPTIONS)} if two_tower else None,
        "quantization": quant,
        "libraries": common.library_versions(["mlx", "numpy", "pillow"]),
        "seconds": timer.elapsed(),
    }
    with open(out[:-4] + ".json" if out.endswith(".npz") else out + ".json", "w") as f:
        json.dump(meta, f, indent=1)


def load_side(pkg, side, path):
    """(model, its settings, its quantization as config.json says) of one
    weight set through the package."""
    common.log(f"loading the {side}")
    try:
        model, settings = pkg.load(path)
    except ValueError as e:
        common.fail(f"{path}: the weights do not fit the model: {e}")
    with open(os.path.join(path, "config.json")) as f:
        q = json.load(f).get("quantization")
    return model, settings, ({k: q[k] for k in ("group_size", "bits", "mode") if k in q} if isinstance(q, dict) else None)


# The question every image is asked (the processor's image token first).
VLM_PROMPT = "USER: {image}\nWhat is shown in this image? ASSISTANT:"


def run_vlm(args, timer, name, pkg):
    """A vision-language package: each image (as read and mirrored) with
    one question, greedy decoding of --generate tokens on both weight sets
    with the image in the cache, and the logits of both on the reference's
    tokens (teacher-forced, one pass each). Writes ``reference_ids`` and
    ``candidate_ids`` [N, n], ``targets`` [N * n] (the reference's tokens)
    and ``reference_logits`` / ``candidate_logits`` [N * n, vocab]."""
    import mlx.core as mx
    import numpy as np
    from tokenizers import Tokenizer

    image = importlib.import_module(name + ".vision.image")
    gen = importlib.import_module(name + ".generate")
    files = files_of(args.image, image.EXTENSIONS) if args.image else photographs()
    if not files:
        common.fail("no images to score")
    if args.generate < 1:
        common.fail("--generate must be at least 1")
    tok_path = os.path.join(args.reference, "tokenizer.json")
    if not os.path.isfile(tok_path):
        common.fail(f"{args.reference}: no tokenizer.json for the question of the vision-language gate")
    tok = Tokenizer.from_file(tok_path)
    res, quant, ids_of, pixels = {}, {}, {}, []
    targets = None
    for side, path in (("reference", args.reference), ("candidate", args.candidate)):
        model, settings, quant[side] = load_side(pkg, side, path)
        if not pixels:
            processor = pkg.Processor.from_dir(args.reference, settings)
            question = VLM_PROMPT.format(image=tok.id_to_token(settings.image_token_id))
            prompt = processor.expand(tok.encode(question).ids)
            for f in files:
                try:
                    im = image.load_image(f)
                except image.ImageError as e:
                    common.fail(str(e))
                for variant in (im, im.transpose(0)):  # as read, and mirrored (PIL's FLIP_LEFT_RIGHT)
                    pixels.append(mx.array(processor.images([variant])))
        ids, logits = [], []
        for i, pv in enumerate(pixels):
            new, _ = gen.greedy(model, prompt, pv, args.generate, options=gen.Options())
            ids.append(new)
            follow = new if targets is None else targets[i]
            logits.append(np.array(gen.recompute(model, prompt, pv, follow).astype(mx.float32)))
        if targets is None:
            targets = ids
        res[side + "_ids"] = np.array(ids, dtype=np.int64)
        res[side + "_logits"] = np.concatenate(logits, axis=0)
        del model
    res["targets"] = np.array(targets, dtype=np.int64).reshape(-1)
    out = os.path.abspath(args.out)
    np.savez(out, **res)
    meta = {
        "images": [{"file": os.path.basename(f), "sha256": common.file_sha256(f)} for f in files],
        "inputs": len(pixels),
        "variants": ["as read", "mirrored left to right"],
        "pixel_values_shape": list(pixels[0].shape[1:]),
        "question": question,
        "prompt_tokens": len(prompt),
        "generate": args.generate,
        "continuations": {"reference": [tok.decode(x) for x in res["reference_ids"].tolist()], "candidate": [tok.decode(x) for x in res["candidate_ids"].tolist()]},
        "quantization": quant,
        "libraries": common.library_versions(["mlx", "numpy", "pillow", "tokenizers"]),
        "seconds": timer.elapsed(),
    }
    with open(out[:-4] + ".json" if out.endswith(".npz") else out + ".json", "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
