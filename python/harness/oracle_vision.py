"""The source oracle of an image model: transformers' image processor and
model on real image files, every ladder boundary captured.

Called by ``oracle.py`` for ``--family vision``. Images are read by the
same ``load_image`` the generated package carries (``image.py``: safe
decoding, EXIF orientation, alpha over white, 16-bit reduced to 8), then
given to the checkpoint's Hugging Face image processor (its PIL path);
its ``pixel_values`` are rung 0. The model runs on the whole batch in
float32; the tensors:

* ``pixel_values`` [B, C, H, W];
* ``embeddings``, ``layers.N`` (the blocks' outputs), ``last_hidden_state``
  (after the final norm) [B, tokens, hidden]; a convolutional model's
  (ConvNeXt: its stages are the blocks) as [B, H, W, C] feature maps,
  transposed from transformers' [B, C, H, W] to the layout MLX computes in;
* ``pooler_output`` [B, hidden] and ``logits`` [B, classes] where the
  model has them;
* ``block_inputs.*`` for the isolated rung where a block's input is not
  the previous tensor;
* edges: ``edges.single.*`` (the batch's outputs, which the target
  computes one image at a time), ``edges.size.*``, the model on a crop of the batch one patch row
  shorter (a non-square grid), for models that resample their positions.
"""

import os

import mlxport_common as common
import image as images  # the package's image.py, shipped beside the harness

SAMPLES = ("chelsea.png", "astronaut.png", "coffee.png", "rocket.jpg", "camera.png", "logo.png")


def builtin_images():
    """scikit-image's bundled photographs: RGB PNG and JPEG of several
    sizes and aspect ratios, a grayscale and an RGBA image."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        common.fail("the built-in image set comes from scikit-image, which is not installed in the Python environment")
    d = os.path.join(spec.submodule_search_locations[0], "data")
    files = [os.path.join(d, f) for f in SAMPLES]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        common.fail(f"scikit-image's sample images are missing: {', '.join(missing)}")
    return files


def image_files(spec):
    """The image paths of the inputs: listed files, files of listed folders
    (sorted by name), or the built-in set."""
    out = []
    for p in spec.get("images") or []:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p) if os.path.splitext(f)[1].lower() in images.EXTENSIONS)
            if not found:
                common.fail(f"{p}: a folder with no image files ({', '.join(images.EXTENSIONS)})")
            out.extend(found)
        else:
            out.append(p)
    return out or builtin_images()


def image_records(files, loaded):
    """What the manifest says of each image: its name, where it is (the
    capture reads it again), its SHA-256 and its size."""
    return [{"file": os.path.basename(f), "path": os.path.abspath(f), "sha256": common.file_sha256(f), "size": list(im.size)} for f, im in zip(files, loaded)]


def first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def channels_last(t):
    """A captured tensor as float32 numpy; a [B, C, H, W] feature map of a
    convolutional model as [B, H, W, C], the layout MLX computes in."""
    a = t.float().numpy()
    return a.transpose(0, 2, 3, 1).copy() if a.ndim == 4 else a


def run(args, spec, config, load_dir, load_kw, dtype, n_threads, model_path, timer):
    import numpy as np
    import torch
    import transformers

    files = image_files(spec)
    loaded = []
    for f in files:
        try:
            loaded.append(images.load_image(f))
        except images.ImageError as e:
            common.fail(str(e))
    if not os.path.isfile(os.path.join(load_dir, "preprocessor_config.json")):
        common.fail(f"{model_path} has no preprocessor_config.json: the image preprocessing is part of the model and cannot be guessed")
    processor = transformers.AutoImageProcessor.from_pretrained(load_dir, **load_kw)
    if getattr(processor, "backend", "pil") != "pil":
        common.fail(f"the image processor runs on {processor.backend}; the oracle uses transformers' PIL path")
    try:
        pv = processor(images=loaded, return_tensors="np")["pixel_values"].astype(np.float32)
    except ValueError as e:
        common.fail(f"the image processor cannot make one batch of these images ({e})")
    if config.model_type in DUAL_TYPES:
        return run_dual(args, spec, config, load_dir, load_kw, dtype, n_threads, model_path, timer, files, loaded, pv, processor)
    if spec.get("texts") or spec.get("token_ids"):
        common.fail(f"texts or token ids were given, but {config.model_type} has no text tower (two-tower models: {', '.join(DUAL_TYPES)})")
    archs = getattr(config, "architectures", None) or []
    # A classification head no Auto class maps (DeiT's distilled one) is
    # transformers' own class of that name; never the checkpoint's code.
    named = [a for a in archs if "ForImageClassification" in a and not a.endswith("ForImageClassification") and hasattr(transformers, a)]
    if named:
        Auto = getattr(transformers, named[0])
    elif any(a.endswith("ForImageClassification") for a in archs):
        from transformers import AutoModelForImageClassification as Auto
    else:
        from transformers import AutoModel as Auto
    common.log(f"loading {type(config).__name__} from {model_path} as {dtype}")
    model = Auto.from_pretrained(load_dir, dtype=dtype, **load_kw)
    model.eval()
    base = model.base_model
    # Transformers' blocks; a convolutional model's stages.
    n_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "num_stages", None) or len(getattr(config, "depths", []) or [])
    found = common.block_list(torch, base, n_layers)
    if found is None:
        common.fail(f"no ModuleList of {n_layers} identical blocks in {type(base).__name__}: cannot find the model's blocks")
    blocks_name, blocks = found
    # The stem: `embeddings` (ViT, DINOv2, ConvNeXt), `embedder` (ResNet).
    stem = getattr(base, "embeddings", None) or getattr(base, "embedder", None)
    if stem is None:
        common.fail(f"{type(base).__name__} has no `embeddings` (or `embedder`) module: cannot capture the embedding rung")

    captured, block_in, handles = {}, {}, []

    def hook(name):
        def fn(_m, _inp, out):
            captured[name] = first(out).detach()

        return fn

    handles.append(stem.register_forward_hook(hook("embeddings")))
    for i, blk in enumerate(blocks):
        handles.append(blk.register_forward_hook(hook(f"layers.{i}")))
        handles.append(blk.register_forward_pre_hook(common.block_input_hook(block_in, f"layers.{i}"), with_kwargs=True))
    x = torch.from_numpy(pv).to(dtype)
    with torch.inference_mode():
        out = model(pixel_values=x)
        for h in handles:
            h.remove()
        # A task model's outputs hold no hidden state: its base model's do.
        bout = out if base is model else base(pixel_values=x)
    res = common.Results()
    res.add("pixel_values", pv)
    res.add("embeddings", channels_last(captured["embeddings"]))
    for i in range(n_layers):
        res.add(f"layers.{i}", channels_last(captured[f"layers.{i}"]))
    block_inputs = common.add_block_inputs(res, {k: channels_last(v) for k, v in block_in.items()}, [f"layers.{i}" for i in range(n_layers)], "embeddings", None)
    last = getattr(bout, "last_hidden_state", None)
    if last is None:
        common.fail(f"{type(base).__name__} gives no last hidden state")
    res.add("last_hidden_state", channels_last(last))
    if getattr(bout, "pooler_output", None) is not None:
        res.add("pooler_output", bout.pooler_output.float().reshape(bout.pooler_output.shape[0], -1).numpy())
    if getattr(out, "logits", None) is not None:
        res.add("logits", out.logits.float().numpy())

    # Rung 8: each image alone (the target runs batch one; the source's
    # batch is the reference), and a non-square grid (one patch row fewer)
    # for models whose positions are resampled to the image's grid.
    edges = {}
    if spec.get("edges", True):
        res.add("edges.single.last_hidden_state", channels_last(last))
        if getattr(out, "logits", None) is not None:
            res.add("edges.single.logits", out.logits.float().numpy())
        edges["single"] = {"what": "each image alone (batch one) on the target, against the source's batch"}
    patch = getattr(config, "patch_size", None)
    # DINOv2 always resamples its positions to the image's grid (ViT, DeiT
    # and CLIP only when asked, which the packages refuse).
    resamples = config.model_type in ("dinov2", "dinov2_with_registers")
    if spec.get("edges", True) and isinstance(patch, int) and resamples and pv.shape[2] > 2 * patch:
        rows = pv.shape[2] - patch
        crop = np.ascontiguousarray(pv[:, :, :rows, :])
        with torch.inference_mode():
            o = model(pixel_values=torch.from_numpy(crop).to(dtype))
            b = o if base is model else base(pixel_values=torch.from_numpy(crop).to(dtype))
        res.add("edges.size.pixel_values", crop)
        res.add("edges.size.last_hidden_state", channels_last(b.last_hidden_state))
        if getattr(o, "logits", None) is not None:
            res.add("edges.size.logits", o.logits.float().numpy())
        edges["size"] = {"rows": int(rows), "cols": int(pv.shape[3]), "what": "the batch cropped by one patch row: a non-square grid, positions resampled"}

    path_of = {id(m): n for n, m in model.named_modules()}
    inputs_rec = {
        "images": image_records(files, loaded),
        "processor": type(processor).__name__,
        "pixel_values_shape": list(pv.shape),
    }
    if edges:
        inputs_rec["edges"] = edges
    if block_inputs:
        inputs_rec["block_inputs"] = block_inputs
    manifest = {
        "kind": "oracle",
        "implementation": "transformers",
        "family": "vision",
        "model": {
            "path": model_path,
            "fingerprint": args.fingerprint,
            "class": type(model).__name__,
            "model_type": getattr(config, "model_type", None),
            "num_hidden_layers": n_layers,
        },
        "inputs": inputs_rec,
        "options": {"dtype": str(dtype).replace("torch.", ""), "seed": args.seed, "threads": n_threads, "deterministic_algorithms": True, "device": "cpu", "trust_remote_code": False},
        "libraries": common.library_versions(["torch", "transformers", "numpy", "safetensors", "pillow"]),
        "checks": {"blocks": f"{path_of[id(blocks)]} ({type(blocks[0]).__name__} x {n_layers})"},
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")


# Captions the oracle embeds for two-tower models when no texts are given.
CAPTIONS = ("a photo of a cat", "an astronaut in a white suit", "a cup of coffee on a saucer", "a rocket on its launch pad", "a grayscale photo of a man with a camera", "a logo")
DUAL_TYPES = ("clip", "siglip")


def text_ids(spec, tok, config, siglip):
    """The texts' token ids: CLIP's unpadded (each text as its tokenizer
    gives it); SigLIP's padded to the text tower's positions with the pad
    token and no attention mask, as the model was trained (transformers'
    SiglipProcessor pads to max_length=64)."""
    if spec.get("token_ids"):
        seqs = [list(map(int, s)) for s in spec["token_ids"]]
    else:
        texts = spec.get("texts") or list(CAPTIONS)
        if tok is None:
            common.fail("the texts need the model's tokenizer, and it has none; give token_ids")
        seqs = [list(s) for s in tok(texts, add_special_tokens=spec.get("add_special_tokens", True))["input_ids"]]
    if any(len(s) == 0 for s in seqs):
        common.fail("inputs: an empty text")
    if siglip:
        n = config.text_config.max_position_embeddings
        pad = config.text_config.pad_token_id if config.text_config.pad_token_id is not None else (tok.pad_token_id if tok is not None and tok.pad_token_id is not None else 1)
        if any(len(s) > n for s in seqs):
            common.fail(f"a text of more than the {n} positions of the text tower")
        seqs = [s + [pad] * (n - len(s)) for s in seqs]
    return seqs


def run_dual(args, spec, config, load_dir, load_kw, dtype, n_threads, model_path, timer, files, loaded, pv, processor):
    """CLIP / SigLIP: both towers, every block of each, the projections and
    the image-text logits."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    siglip = config.model_type == "siglip"
    try:
        tok = AutoTokenizer.from_pretrained(load_dir, **load_kw)
    except Exception as e:  # token ids need no tokenizer
        if not spec.get("token_ids"):
            common.fail(f"cannot load the tokenizer of {model_path}: {e}")
        tok = None
    seqs = text_ids(spec, tok, config, siglip)
    B, T = len(seqs), max(len(s) for s in seqs)
    pad = 0
    ids = np.full((B, T), pad, dtype=np.int64)
    mask = np.zeros((B, T), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    model = AutoModel.from_pretrained(load_dir, dtype=dtype, **load_kw)
    model.eval()
    towers = {"vision": model.vision_model, "text": model.text_model}
    captured, block_in, handles = {}, {}, []

    def hook(name):
        def fn(_m, _inp, out):
            captured[name] = first(out).detach()

        return fn

    n_layers = {}
    for side, tower in towers.items():
        blocks = tower.encoder.layers
        n_layers[side] = len(blocks)
        handles.append(tower.embeddings.register_forward_hook(hook(f"{side}.embeddings")))
        for i, blk in enumerate(blocks):
            handles.append(blk.register_forward_hook(hook(f"{side}.layers.{i}")))
            handles.append(blk.register_forward_pre_hook(common.block_input_hook(block_in, f"{side}.layers.{i}"), with_kwargs=True))
    handles.append(model.text_model.final_layer_norm.register_forward_hook(hook("text.last_hidden_state")))
    x = torch.from_numpy(pv).to(dtype)
    kw = {} if siglip else {"attention_mask": torch.from_numpy(mask)}
    with torch.inference_mode():
        vout = model.vision_model(pixel_values=x)
        tout = model.text_model(input_ids=torch.from_numpy(ids), **kw)
        out = model(pixel_values=x, input_ids=torch.from_numpy(ids), **kw)
    for h in handles:
        h.remove()
    m3 = mask[:, :, None].astype(np.float32)
    tmask = None if siglip else "inputs.attention_mask"

    def text_tensor(t):
        return t.float().numpy() * m3

    res = common.Results()
    res.add("pixel_values", pv)
    res.add("inputs.input_ids", ids)
    res.add("inputs.attention_mask", mask)
    res.add("vision.embeddings", captured["vision.embeddings"].float().numpy())
    for i in range(n_layers["vision"]):
        res.add(f"vision.layers.{i}", captured[f"vision.layers.{i}"].float().numpy())
    res.add("vision.pooler_output", vout.pooler_output.float().numpy())
    res.add("image_embeds", out.image_embeds.float().numpy())
    res.add("text.embeddings", text_tensor(captured["text.embeddings"]), mask=tmask)
    for i in range(n_layers["text"]):
        res.add(f"text.layers.{i}", text_tensor(captured[f"text.layers.{i}"]), mask=tmask)
    res.add("text.last_hidden_state", text_tensor(captured["text.last_hidden_state"]), mask=tmask)
    res.add("text.pooler_output", tout.pooler_output.float().numpy())
    res.add("text_embeds", out.text_embeds.float().numpy())
    res.add("logits_per_image", out.logits_per_image.float().numpy())
    block_inputs = common.add_block_inputs(res, {k: v.float().numpy() for k, v in block_in.items() if k.startswith("vision.")}, [f"vision.layers.{i}" for i in range(n_layers["vision"])], "vision.embeddings", None)
    if block_inputs:
        text_in = {k: text_tensor(v) for k, v in block_in.items() if k.startswith("text.")}
        more = common.add_block_inputs(res, text_in, [f"text.layers.{i}" for i in range(n_layers["text"])], "text.embeddings", tmask)
        block_inputs = {**block_inputs, **more} if more else {}
    edges = {}
    if spec.get("edges", True):
        res.add("edges.single.image_embeds", out.image_embeds.float().numpy())
        edges["single"] = {"what": "each image alone (batch one) on the target, against the source's batch"}
    inputs_rec = {
        "images": image_records(files, loaded),
        "processor": type(processor).__name__,
        "pixel_values_shape": list(pv.shape),
        "texts": None if spec.get("token_ids") else (spec.get("texts") or list(CAPTIONS)),
        "token_ids": seqs,
        "text_padding": "max_length, no attention mask" if siglip else "none (each text unpadded; right-padded batch with its attention mask)",
    }
    if edges:
        inputs_rec["edges"] = edges
    if block_inputs:
        inputs_rec["block_inputs"] = block_inputs
    manifest = {
        "kind": "oracle",
        "implementation": "transformers",
        "family": "vision",
        "model": {"path": model_path, "fingerprint": args.fingerprint, "class": type(model).__name__, "model_type": config.model_type, "num_hidden_layers": n_layers},
        "inputs": inputs_rec,
        "options": {"dtype": str(dtype).replace("torch.", ""), "seed": args.seed, "threads": n_threads, "deterministic_algorithms": True, "device": "cpu", "trust_remote_code": False},
        "libraries": common.library_versions(["torch", "transformers", "tokenizers", "numpy", "safetensors", "pillow"]),
        "checks": {"towers": {side: f"{type(t).__name__} ({n_layers[side]} blocks)" for side, t in towers.items()}},
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")
