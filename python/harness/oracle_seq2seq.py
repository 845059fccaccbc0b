"""The source oracle for encoder-decoder models (t5, bart, ...): run the
model with transformers + torch on the CPU and capture the encoder and
decoder ladders.

Called by ``oracle.py`` for ``--family encoder-decoder`` (same options,
same determinism rules). Tensors, in ladder order:

* ``inputs.input_ids``, ``inputs.attention_mask``: the right-padded encoder
  batch; ``inputs.decoder_input_ids``: the teacher-forced decoder inputs,
  ``decoder_start_token_id`` followed by the encoder ids shifted right (one
  fixed choice, the same on both sides);
* ``encoder.embeddings`` (the input of the first encoder block),
  ``encoder.layers.N``, ``encoder.last_hidden_state``;
* ``decoder.embeddings``, ``decoder.layers.N``, ``decoder.final_norm``
  (when the decoder has a final norm), ``logits``;
* with ``generate``: ``generated.ids`` (greedy from
  ``decoder_start_token_id``, pure argmax, no stop), ``cache_decode.logits``
  (the encoder run once, the decoder step by step with its self-attention
  and cross-attention caches) and ``full_decode.logits`` (the same decoder
  positions in one pass, no cache).

Blocks are found by structure: in the model's encoder and decoder
(``get_encoder()``, ``get_decoder()``), the shallowest ``ModuleList`` of
identical modules.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402


def find_blocks(torch, stack, what):
    found = common.block_list(torch, stack)
    if found is None:
        common.fail(f"no ModuleList of identical blocks in the {what} ({type(stack).__name__}): cannot find its blocks")
    return found


def final_norm(torch, stack, blocks_name):
    for name, mod in stack.named_children():
        if name == blocks_name.split(".")[0] or "embed" in name:
            continue
        if "norm" in type(mod).__name__.lower() and "final" in name:
            return name, mod
    return None, None


def first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def new_cache(transformers):
    # Built empty so its layers follow the decoder (a config-sized cache
    # has one layer per *encoder* block when the two stacks differ).
    return transformers.EncoderDecoderCache(transformers.DynamicCache(), transformers.DynamicCache())


def run(args, spec, config, load_dir, load_kw, dtype, n_threads, model_path, timer):
    import numpy as np
    import torch
    import transformers
    from transformers import AutoModelForSeq2SeqLM

    tok = None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(load_dir, **load_kw)
    except (OSError, ValueError, TypeError) as e:
        if spec.get("texts") or spec.get("prompts"):
            common.fail(f"inputs given as texts but the model has no usable tokenizer: {e}")
    common.log(f"loading {type(config).__name__} from {model_path} as {dtype}")
    model = AutoModelForSeq2SeqLM.from_pretrained(load_dir, dtype=dtype, **load_kw)
    model.eval()
    enc_stack, dec_stack = model.get_encoder(), model.get_decoder()
    enc_name, enc_blocks = find_blocks(torch, enc_stack, "encoder")
    dec_name, dec_blocks = find_blocks(torch, dec_stack, "decoder")
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        common.fail("the config has no decoder_start_token_id: greedy decoding cannot start")
    pad = getattr(config, "pad_token_id", None)
    if pad is None:
        pad = 0

    seqs, add_special, max_length = common.input_sequences(spec, tok)
    vocab = config.vocab_size
    bad = [t for s in seqs for t in s if not 0 <= t < vocab]
    if bad:
        common.fail(f"inputs: token id {bad[0]} outside the vocabulary (0..{vocab - 1})")
    B, T = len(seqs), max(len(s) for s in seqs)
    ids = np.full((B, T), pad, dtype=np.int64)
    dec_ids = np.full((B, T), pad, dtype=np.int64)
    mask = np.zeros((B, T), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        dec_ids[i, : len(s)] = [start] + s[:-1]
        mask[i, : len(s)] = 1
    res = common.Results()
    res.add("inputs.input_ids", ids)
    res.add("inputs.attention_mask", mask)
    res.add("inputs.decoder_input_ids", dec_ids)

    captured = {}

    def pre(name):
        def fn(_m, a, kw):
            x = a[0] if a else kw.get("hidden_states")
            captured[name] = x.detach()

        return fn

    def post(name):
        def fn(_m, _inp, out):
            captured[name] = first(out).detach()

        return fn

    handles = [enc_blocks[0].register_forward_pre_hook(pre("encoder.embeddings"), with_kwargs=True), dec_blocks[0].register_forward_pre_hook(pre("decoder.embeddings"), with_kwargs=True)]
    block_in = {}
    for i, b in enumerate(enc_blocks):
        handles.append(b.register_forward_hook(post(f"encoder.layers.{i}")))
        handles.append(b.register_forward_pre_hook(common.block_input_hook(block_in, f"encoder.layers.{i}"), with_kwargs=True))
    for i, b in enumerate(dec_blocks):
        handles.append(b.register_forward_hook(post(f"decoder.layers.{i}")))
        handles.append(b.register_forward_pre_hook(common.block_input_hook(block_in, f"decoder.layers.{i}"), with_kwargs=True))
    norm_name, norm = final_norm(torch, dec_stack, dec_name)
    if norm is not None:
        handles.append(norm.register_forward_hook(post("decoder.final_norm")))
    m3 = mask[:, :, None].astype(np.float32)

    def tok_tensor(t):
        return t.float().numpy() * m3

    with torch.inference_mode():
        out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), decoder_input_ids=torch.from_numpy(dec_ids), decoder_attention_mask=torch.from_numpy(mask), use_cache=False)
    for h in handles:
        h.remove()
    res.add("encoder.embeddings", tok_tensor(captured["encoder.embeddings"]), mask="inputs.attention_mask")
    for i in range(len(enc_blocks)):
        res.add(f"encoder.layers.{i}", tok_tensor(captured[f"encoder.layers.{i}"]), mask="inputs.attention_mask")
    res.add("encoder.last_hidden_state", tok_tensor(out.encoder_last_hidden_state), mask="inputs.attention_mask")
    res.add("decoder.embeddings", tok_tensor(captured["decoder.embeddings"]), mask="inputs.attention_mask")
    for i in range(len(dec_blocks)):
        res.add(f"decoder.layers.{i}", tok_tensor(captured[f"decoder.layers.{i}"]), mask="inputs.attention_mask")
    fed = {k: tok_tensor(v) for k, v in block_in.items()}
    enc_names = [f"encoder.layers.{i}" for i in range(len(enc_blocks))]
    dec_names = [f"decoder.layers.{i}" for i in range(len(dec_blocks))]
    enc_in = common.add_block_inputs(res, fed, enc_names, "encoder.embeddings", "inputs.attention_mask")
    dec_in = common.add_block_inputs(res, fed, dec_names, "decoder.embeddings", "inputs.attention_mask")
    block_inputs = {**enc_in, **dec_in} if enc_in and dec_in else {}
    path_of = {id(m): n for n, m in model.named_modules()}
    checks = {"encoder_blocks": f"{path_of[id(enc_blocks)]} ({type(enc_blocks[0]).__name__} x {len(enc_blocks)})", "decoder_blocks": f"{path_of[id(dec_blocks)]} ({type(dec_blocks[0]).__name__} x {len(dec_blocks)})"}
    if "decoder.final_norm" in captured:
        res.add("decoder.final_norm", tok_tensor(captured["decoder.final_norm"]), mask="inputs.attention_mask")
        checks["decoder_final_norm"] = f"{path_of[id(norm)]} ({type(norm).__name__})"
    res.add("logits", tok_tensor(out.logits), mask="inputs.attention_mask")

    prompt_seqs = None
    n_new = int(spec.get("generate") or 0)
    if n_new > 0:
        if spec.get("prompts"):
            prompt_seqs = [list(tok(p, add_special_tokens=add_special)["input_ids"]) for p in spec["prompts"]]
        elif spec.get("prompt_ids"):
            prompt_seqs = [list(map(int, s)) for s in spec["prompt_ids"]]
        else:
            prompt_seqs = seqs
        gens, caches, fulls, agree = [], [], [], True
        for p in prompt_seqs:
            x = torch.tensor([p], dtype=torch.long)
            with torch.inference_mode():
                enc_out = model.get_encoder()(input_ids=x)
                cache = new_cache(transformers)
                t, steps, new = start, [], []
                for _ in range(n_new):
                    o = model(encoder_outputs=enc_out, decoder_input_ids=torch.tensor([[t]]), past_key_values=cache, use_cache=True)
                    cache = o.past_key_values
                    last = o.logits[0, -1].float()
                    steps.append(last)
                    t = int(last.argmax())
                    new.append(t)
                full = model(encoder_outputs=enc_out, decoder_input_ids=torch.tensor([[start] + new[:-1]]), use_cache=False).logits[0].float()
                g = model.generate(x, attention_mask=torch.ones_like(x), cache=new_cache(transformers), max_new_tokens=n_new, do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None, pad_token_id=pad, forced_eos_token_id=None, forced_bos_token_id=None, min_length=0, no_repeat_ngram_size=0, repetition_penalty=None)
                ref = g[0, 1:].tolist()
            if ref != new[: len(ref)]:
                agree = False
            gens.append(new)
            caches.append(torch.stack(steps).numpy())
            fulls.append(full.numpy())
        res.add("generated.ids", np.array(gens))
        res.add("cache_decode.logits", np.stack(caches))
        res.add("full_decode.logits", np.stack(fulls))
        checks["generate_agrees_with_cached_greedy"] = agree

    # Rung 8, the edges: padded batches, a long input, one token, special
    # tokens; teacher forced as above, each case in one call with its masks.
    edges = {}
    if spec.get("edges", True):
        edges = common.edge_cases(seqs, common.max_positions(config), common.special_only_ids(tok, config), False, spec.get("long_tokens"))
        for case, c in edges.items():
            c["decoder_token_ids"] = [[start] + list(r[:-1]) for r in c["token_ids"]]
            e_ids, e_mask = common.padded(c["token_ids"], pad)
            d_ids, _ = common.padded(c["decoder_token_ids"], pad)
            with torch.inference_mode():
                o = model(input_ids=torch.from_numpy(e_ids), attention_mask=torch.from_numpy(e_mask), decoder_input_ids=torch.from_numpy(d_ids), decoder_attention_mask=torch.from_numpy(e_mask), use_cache=False)
            m3e = e_mask[:, :, None].astype(np.float32)
            res.add(f"edges.{case}.encoder", o.encoder_last_hidden_state.float().numpy() * m3e)
            res.add(f"edges.{case}.logits_last", common.last_positions(o.logits.float().numpy(), e_mask))
    inputs_rec = {"texts": spec.get("texts"), "token_ids": seqs, "decoder_token_ids": [[start] + s[:-1] for s in seqs], "decoder_start_token_id": int(start), "add_special_tokens": add_special, "max_length": max_length, "pad_token_id": int(pad), "padding_side": "right"}
    if prompt_seqs is not None:
        inputs_rec["prompts"] = spec.get("prompts")
        inputs_rec["prompt_ids"] = prompt_seqs
        inputs_rec["generate"] = n_new
    if block_inputs:
        inputs_rec["block_inputs"] = block_inputs
    if edges:
        inputs_rec["edges"] = edges
    manifest = {
        "kind": "oracle",
        "implementation": "transformers",
        "family": "encoder-decoder",
        "model": {
            "path": model_path,
            "fingerprint": args.fingerprint,
            "class": type(model).__name__,
            "model_type": getattr(config, "model_type", None),
            "num_hidden_layers": len(enc_blocks),
            "num_decoder_layers": len(dec_blocks),
        },
        "inputs": inputs_rec,
        "options": {"dtype": str(dtype).replace("torch.", ""), "seed": args.seed, "threads": n_threads, "deterministic_algorithms": True, "device": "cpu", "trust_remote_code": False},
        "libraries": common.library_versions(["torch", "transformers", "tokenizers", "numpy", "safetensors"]),
        "checks": checks,
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")
