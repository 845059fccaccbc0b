"""The source oracle of a vision-language model (LLaVA): transformers'
processor and model on real image files and prompts, every ladder boundary
of both the image tower and the decoder captured.

Called by ``oracle.py`` for ``--family vision-language``. Images are read
by the package's ``load_image`` (as for image models), one per prompt; the
prompts (``texts``; default one question) get the processor's image token
in front when they lack one. The processor makes ``pixel_values`` and
expands each image token to the image's feature rows; the oracle checks
that this expansion is exactly the tokenized prompt with each image token
repeated, and records the unexpanded ids (``prompt_ids``) that the target
expands itself. Tensors:

* ``pixel_values`` [B, C, H, W], ``inputs.input_ids`` / ``attention_mask``
  (expanded, right-padded);
* ``vision.embeddings``, ``vision.layers.N`` (the tower's blocks that the
  features need) [B, tokens, width]; ``image_features`` (the projector's
  output) [B, image tokens, hidden];
* ``embeddings`` (the decoder's input: token embeddings with the image
  features merged in), ``layers.N``, ``final_norm``, ``logits``;
* ``generated.ids``, ``cache_decode.logits``, ``full_decode.logits``:
  greedy decoding per prompt with the image in the cache, and the same
  positions recomputed without a cache;
* ``block_inputs.*`` for the isolated rung where a block's input is not
  the previous tensor.
"""

import os

import mlxport_common as common
import image as images  # the package's image.py, shipped beside the harness
from oracle_vision import image_files, image_records

DEFAULT_PROMPT = "USER: {image}\nWhat is shown in this image? ASSISTANT:"
TYPES = ("llava",)


def first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def run(args, spec, config, load_dir, load_kw, dtype, n_threads, model_path, timer):
    import numpy as np
    import torch
    import transformers

    if config.model_type not in TYPES:
        common.fail(f"model_type {config.model_type!r}: the vision-language oracle runs {', '.join(TYPES)}")
    has = lambda f: os.path.isfile(os.path.join(load_dir, f))  # noqa: E731
    if not (has("preprocessor_config.json") or has("processor_config.json")) or not has("tokenizer_config.json"):
        common.fail(f"{model_path} lacks its processor (preprocessor_config.json or processor_config.json, and the tokenizer): the image preprocessing and image-token expansion are part of the model and cannot be guessed")
    processor = transformers.AutoProcessor.from_pretrained(load_dir, **load_kw)
    ip, tok = processor.image_processor, processor.tokenizer
    if getattr(ip, "backend", "pil") != "pil":
        common.fail(f"the image processor runs on {ip.backend}; the oracle uses transformers' PIL path")
    image_token = getattr(processor, "image_token", None)
    image_id = config.image_token_id
    if image_token is None or tok.convert_tokens_to_ids(image_token) != image_id:
        common.fail(f"the tokenizer does not map the processor's image token {image_token!r} to the config's image_token_id {image_id}")
    if spec.get("token_ids"):
        common.fail("a vision-language oracle takes prompts as texts (the processor places the image tokens), not token ids")
    files = image_files(spec)
    loaded = []
    for f in files:
        try:
            loaded.append(images.load_image(f))
        except images.ImageError as e:
            common.fail(str(e))
    texts = spec.get("texts") or [DEFAULT_PROMPT.format(image=image_token)]
    texts = [t if image_token in t else f"{image_token}\n{t}" for t in texts]
    prompts = [texts[i % len(texts)] for i in range(len(files))]
    if any(p.count(image_token) != 1 for p in prompts):
        common.fail(f"each prompt holds one image token {image_token!r} (one image per prompt)")

    pv, expanded, unexpanded = [], [], []
    for im, p in zip(loaded, prompts):
        try:
            o = processor(images=[im], text=p, return_tensors="np")
        except ValueError as e:
            common.fail(f"the processor refused the prompt {p!r} with its image: {e}")
        ids = [int(t) for t in o["input_ids"][0]]
        raw = [int(t) for t in tok(p)["input_ids"]]
        n = sum(1 for t in ids if t == image_id)
        if [t for r in raw for t in ([r] * n if r == image_id else [r])] != ids:
            common.fail(f"the processor's ids for {p!r} are not the tokenized prompt with its image token repeated {n} times")
        pv.append(o["pixel_values"].astype(np.float32))
        expanded.append(ids)
        unexpanded.append(raw)
    pixel_values = np.concatenate(pv, axis=0)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (config.text_config.pad_token_id or 0)
    ids, mask = common.padded(expanded, pad)

    common.log(f"loading {type(config).__name__} from {model_path} as {dtype}")
    from transformers import AutoModelForImageTextToText as Auto

    model = Auto.from_pretrained(load_dir, dtype=dtype, **load_kw)
    model.eval()
    inner = model.model
    tower = getattr(inner.vision_tower, "vision_model", inner.vision_tower)
    lm = inner.language_model
    vlayers = tower.encoder.layers
    n_states = len(vlayers) + 1
    fl = config.vision_feature_layer
    depth = max(i % n_states for i in ([fl] if isinstance(fl, int) else fl))
    n_layers = config.text_config.num_hidden_layers

    captured, block_in, handles = {}, {}, []

    def hook(name):
        def fn(_m, _inp, out):
            captured[name] = first(out).detach()

        return fn

    handles.append(tower.embeddings.register_forward_hook(hook("vision.embeddings")))
    for i in range(depth):
        handles.append(vlayers[i].register_forward_hook(hook(f"vision.layers.{i}")))
        handles.append(vlayers[i].register_forward_pre_hook(common.block_input_hook(block_in, f"vision.layers.{i}"), with_kwargs=True))
    handles.append(inner.multi_modal_projector.register_forward_hook(hook("image_features")))
    for i, blk in enumerate(lm.layers):
        handles.append(blk.register_forward_hook(hook(f"layers.{i}")))
        handles.append(blk.register_forward_pre_hook(common.block_input_hook(block_in, f"layers.{i}"), with_kwargs=True))
    handles.append(lm.norm.register_forward_hook(hook("final_norm")))
    with torch.inference_mode():
        out = model(input_ids=torch.from_numpy(ids), pixel_values=torch.from_numpy(pixel_values).to(dtype), attention_mask=torch.from_numpy(mask), use_cache=False)
    for h in handles:
        h.remove()

    m3 = mask[:, :, None].astype(np.float32)
    res = common.Results()
    res.add("pixel_values", pixel_values)
    res.add("inputs.input_ids", ids)
    res.add("inputs.attention_mask", mask)
    res.add("vision.embeddings", captured["vision.embeddings"].float().numpy())
    for i in range(depth):
        res.add(f"vision.layers.{i}", captured[f"vision.layers.{i}"].float().numpy())
    res.add("image_features", captured["image_features"].float().numpy())
    res.add("embeddings", block_in["layers.0"].float().numpy() * m3, mask="inputs.attention_mask")
    for i in range(n_layers):
        res.add(f"layers.{i}", captured[f"layers.{i}"].float().numpy() * m3, mask="inputs.attention_mask")
    res.add("final_norm", captured["final_norm"].float().numpy() * m3, mask="inputs.attention_mask")
    res.add("logits", out.logits.float().numpy() * m3, mask="inputs.attention_mask")
    vision_names = [f"vision.layers.{i}" for i in range(depth)]
    block_inputs = common.add_block_inputs(res, {k: v.float().numpy() for k, v in block_in.items() if k.startswith("vision.")}, vision_names, "vision.embeddings", None) if depth else {}
    lm_inputs = common.add_block_inputs(res, {k: v.float().numpy() * m3 for k, v in block_in.items() if not k.startswith("vision.")}, [f"layers.{i}" for i in range(n_layers)], "embeddings", "inputs.attention_mask")
    block_inputs = {**block_inputs, **lm_inputs} if lm_inputs and (block_inputs or not depth) else {}

    n_new = int(spec.get("generate") or 0)
    checks = {"image_tokens_per_image": int((ids[0] == image_id).sum()), "vision_blocks_run": f"{depth} of {len(vlayers)} (vision_feature_layer {fl!r})"}
    if n_new > 0:
        gens, caches, fulls, agree = [], [], [], True
        for i, p in enumerate(expanded):
            g, c, f, a = decode(torch, model, p, torch.from_numpy(pixel_values[i : i + 1]).to(dtype), n_new, pad)
            gens.append(g)
            caches.append(c)
            fulls.append(f)
            agree = agree and a
        res.add("generated.ids", np.array(gens))
        res.add("cache_decode.logits", np.stack(caches))
        res.add("full_decode.logits", np.stack(fulls))
        checks["generate_agrees_with_cached_greedy"] = agree

    inputs_rec = {
        "images": image_records(files, loaded),
        "texts": prompts,
        "prompt_ids": unexpanded,
        "token_ids": expanded,
        "image_token_id": int(image_id),
        "pad_token_id": int(pad),
        "padding_side": "right",
        "generate": n_new,
        "processor": type(processor).__name__,
        "image_processor": type(ip).__name__,
    }
    if block_inputs:
        inputs_rec["block_inputs"] = block_inputs
    manifest = {
        "kind": "oracle",
        "implementation": "transformers",
        "family": "vision-language",
        "model": {"path": model_path, "fingerprint": args.fingerprint, "class": type(model).__name__, "model_type": config.model_type, "num_hidden_layers": n_layers},
        "inputs": inputs_rec,
        "options": {"dtype": str(dtype).replace("torch.", ""), "seed": args.seed, "threads": n_threads, "deterministic_algorithms": True, "device": "cpu", "trust_remote_code": False},
        "libraries": common.library_versions(["torch", "transformers", "tokenizers", "numpy", "safetensors", "pillow"]),
        "checks": checks,
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")


def decode(torch, model, ids, pixel_values, n_new, pad):
    """Greedy decoding of one prompt with its image, exactly n_new tokens:
    the prompt and image prefilled into the KV cache, then one token per
    step (each step's logits kept); the same positions recomputed in one
    pass without a cache; transformers' generate() as a cross-check (its
    tokens, up to an end-of-sequence stop, must be a prefix of ours). The
    recomputation runs on the prompt's merged embeddings followed by the
    new tokens' embeddings: a new token that happens to be the image token
    is text, as it is when decoded with the cache."""
    seen = {}
    lm = model.model.language_model
    handle = lm.layers[0].register_forward_pre_hook(common.block_input_hook(seen, "embeds"), with_kwargs=True)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), pixel_values=pixel_values, use_cache=True)
        handle.remove()
        past = out.past_key_values
        toks, steps = [], []
        for i in range(n_new):
            last = out.logits[0, -1].float()
            steps.append(last)
            toks.append(int(last.argmax()))
            if i + 1 < n_new:
                out = model(input_ids=torch.tensor([[toks[-1]]]), cache=past, use_cache=True)
                past = out.past_key_values
        # The prompt's merged embeddings, then the new tokens' own (a new
        # token equal to the image token is text here, as in the cache).
        new_embeds = lm.embed_tokens(torch.tensor([toks[:-1]], dtype=torch.long))
        full_embeds = torch.cat([seen["embeds"], new_embeds], dim=1)
        full = model(inputs_embeds=full_embeds, use_cache=False).logits[0, len(ids) - 1:].float()
        t = torch.tensor([ids])
        g = model.generate(input_ids=t, pixel_values=pixel_values, attention_mask=torch.ones_like(t), max_new_tokens=n_new, do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None, pad_token_id=pad)
        ref = g[0, len(ids):].tolist()
    return toks, torch.stack(steps).numpy(), full.numpy(), ref == toks[: len(ref)]
