"""The source oracle: run a Hugging Face model with transformers + torch on
the CPU and capture its tensors at every ladder boundary.

Run by ``mlxport oracle`` (embedded in the binary); not meant to be run by
hand. Offline, never runs a model's own code (``trust_remote_code=False``),
deterministic (seeded, eval mode, deterministic algorithms, optional fixed
thread count), float32 compute unless asked for the checkpoint's dtype.

Blocks are found from the model's structure: the base model's ``ModuleList``
whose length is ``num_hidden_layers`` and whose members share one class
(``model.layers`` of a llama, ``encoder.layer`` of a BERT), not from names.
Tensor names and shapes: see the harness crate's ``manifest`` module.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="model directory, or a .gguf file")
    ap.add_argument("--inputs", required=True, help="inputs JSON")
    ap.add_argument("--out", required=True)
    ap.add_argument("--family", choices=["decoder", "encoder", "encoder-decoder", "vision", "vision-language"], required=True)
    ap.add_argument("--dtype", default="float32", help="float32, or 'checkpoint' for the checkpoint's dtype")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fingerprint", default=None)
    return ap.parse_args()


def find_blocks(torch, base, n_layers):
    """The base model's block list, found by structure."""
    found = common.block_list(torch, base, n_layers) if n_layers > 0 else None
    if found is None:
        common.fail(f"no ModuleList of {n_layers} identical blocks in {type(base).__name__}: cannot find the model's blocks")
    return found


def find_final_norm(torch, base, blocks_name):
    """A direct child of the base model that is a norm (runs after the blocks)."""
    for name, mod in base.named_children():
        if name == blocks_name.split(".")[0] or name == "embeddings":
            continue
        cls = type(mod).__name__.lower()
        if "norm" in cls and not isinstance(mod, torch.nn.ModuleList):
            return name, mod
    return None, None


def first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def main():
    args = parse_args()
    timer = common.Timer()
    import numpy as np
    import torch
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    n_threads = common.threads()
    if n_threads:
        torch.set_num_threads(n_threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass

    spec = common.read_json(args.inputs)
    model_path = os.path.abspath(args.model)
    load_kw = {"trust_remote_code": False, "local_files_only": True}
    if os.path.isfile(model_path) and model_path.endswith(".gguf"):
        load_dir, load_kw["gguf_file"] = os.path.dirname(model_path), os.path.basename(model_path)
    else:
        load_dir = model_path
    config = AutoConfig.from_pretrained(load_dir, **load_kw)
    if getattr(config, "auto_map", None):
        common.fail("the config has auto_map: the model needs its own code (trust_remote_code); refused")
    if args.dtype == "float32":
        dtype = torch.float32
    elif args.dtype == "checkpoint":
        dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or torch.float32
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
    else:
        dtype = getattr(torch, args.dtype)

    if args.family == "encoder-decoder":
        import oracle_seq2seq

        return oracle_seq2seq.run(args, spec, config, load_dir, load_kw, dtype, n_threads, model_path, timer)
    if args.family == "vision":
        import oracle_vision

        return oracle_vision.run(args, spec, config, load_dir, load_kw, dtype, n_threads, model_path, timer)
    if args.family == "vision-language":
        import oracle_vlm

        return oracle_vlm.run(args, spec, config, load_dir, load_kw, dtype, n_threads, model_path, timer)
    try:
        tok = AutoTokenizer.from_pretrained(load_dir, **load_kw)
    except Exception as e:  # token ids need no tokenizer
        if not spec.get("token_ids"):
            common.fail(f"cannot load the tokenizer of {model_path}: {e}")
        common.log(f"no usable tokenizer ({type(e).__name__}); running on the given token ids")
        tok = None
    if args.family == "decoder":
        from transformers import AutoModelForCausalLM as Auto
    else:
        from transformers import AutoModel as Auto
    common.log(f"loading {type(config).__name__} from {model_path} as {dtype}")
    model = Auto.from_pretrained(load_dir, dtype=dtype, **load_kw)
    model.eval()
    base = model.base_model
    n_layers = config.num_hidden_layers
    blocks_name, blocks = find_blocks(torch, base, n_layers)

    # ---- inputs: a right-padded batch
    if tok is not None:
        tok.padding_side = "right"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    seqs, add_special, max_length = common.input_sequences(spec, tok)
    B, T = len(seqs), max(len(s) for s in seqs)
    if tok is not None and tok.pad_token_id is not None:
        pad = tok.pad_token_id
    else:
        pad = getattr(config, "pad_token_id", None) or 0
    ids = np.full((B, T), pad, dtype=np.int64)
    mask = np.zeros((B, T), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    input_ids = torch.from_numpy(ids)
    attention_mask = torch.from_numpy(mask)

    res = common.Results()
    res.add("inputs.input_ids", ids)
    res.add("inputs.attention_mask", mask)
    extra = {}
    if args.family == "encoder" and getattr(config, "type_vocab_size", 0):
        tti = np.zeros((B, T), dtype=np.int64)
        res.add("inputs.token_type_ids", tti)
        extra["token_type_ids"] = torch.from_numpy(tti)

    # ---- hooks on the structure
    captured = {}

    def hook(name):
        def fn(_m, _inp, out):
            captured[name] = first(out).detach()

        return fn

    handles = []
    if args.family == "encoder" and hasattr(base, "embeddings"):
        handles.append(base.embeddings.register_forward_hook(hook("embeddings")))
    else:
        handles.append(model.get_input_embeddings().register_forward_hook(hook("embeddings")))
    block_in = {}
    for i, blk in enumerate(blocks):
        handles.append(blk.register_forward_hook(hook(f"layers.{i}")))
        handles.append(blk.register_forward_pre_hook(common.block_input_hook(block_in, f"layers.{i}"), with_kwargs=True))
    norm_name, norm = (None, None)
    if args.family == "decoder":
        norm_name, norm = find_final_norm(torch, base, blocks_name)
        if norm is not None:
            handles.append(norm.register_forward_hook(hook("final_norm")))

    m3 = mask[:, :, None].astype(np.float32)

    def tok_tensor(t):
        return t.float().numpy() * m3

    with torch.inference_mode():
        out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **extra)
    for h in handles:
        h.remove()
    res.add("embeddings", tok_tensor(captured["embeddings"]), mask="inputs.attention_mask")
    for i in range(n_layers):
        res.add(f"layers.{i}", tok_tensor(captured[f"layers.{i}"]), mask="inputs.attention_mask")
    block_inputs = common.add_block_inputs(res, {k: tok_tensor(v) for k, v in block_in.items()}, [f"layers.{i}" for i in range(n_layers)], "embeddings", "inputs.attention_mask")
    path_of = {id(m): n for n, m in model.named_modules()}
    checks = {"blocks": f"{path_of[id(blocks)]} ({type(blocks[0]).__name__} x {n_layers})"}
    st_info = {}
    gen_ids = None
    prompt_seqs = None
    if args.family == "decoder":
        if "final_norm" in captured:
            res.add("final_norm", tok_tensor(captured["final_norm"]), mask="inputs.attention_mask")
            checks["final_norm"] = f"{path_of[id(norm)]} ({type(norm).__name__})"
        res.add("logits", tok_tensor(out.logits), mask="inputs.attention_mask")
        n_new = int(spec.get("generate") or 0)
        if n_new > 0:
            if spec.get("prompts"):
                prompt_seqs = [list(tok(p, add_special_tokens=add_special)["input_ids"]) for p in spec["prompts"]]
            elif spec.get("prompt_ids"):
                prompt_seqs = [list(map(int, s)) for s in spec["prompt_ids"]]
            else:
                prompt_seqs = seqs
            gen_ids, cache_logits, full_logits, agree = decode(torch, model, prompt_seqs, n_new, pad)
            res.add("generated.ids", np.array(gen_ids))
            res.add("cache_decode.logits", cache_logits)
            res.add("full_decode.logits", full_logits)
            checks["generate_agrees_with_cached_greedy"] = agree
    else:
        last = out.last_hidden_state
        res.add("last_hidden_state", tok_tensor(last), mask="inputs.attention_mask")
        if getattr(out, "pooler_output", None) is not None:
            res.add("pooler_output", out.pooler_output.float().numpy())
        st_info = sentence_transformers_info(load_dir)
        lh = last.float().numpy()
        if st_info.get("pooling", "mean") == "cls":
            pooled = lh[:, 0]
        else:
            pooled = (lh * m3).sum(1) / np.maximum(m3.sum(1), 1e-9)
        res.add("pooled", pooled)
        # Only a sentence-transformers layout defines a sentence embedding
        # (with its own Normalize module); a bare encoder has none.
        if st_info.get("normalize", False):
            pt = torch.from_numpy(pooled)
            res.add("sentence_embedding", torch.nn.functional.normalize(pt, p=2, dim=1).numpy())

    # Rung 8, the edges: batches, a long input, one token, special tokens.
    edges = {}
    if spec.get("edges", True):
        edges = common.edge_cases(seqs, common.max_positions(config), common.special_only_ids(tok, config), args.family == "decoder", spec.get("long_tokens"), spec.get("long_chunk"))
        run_edges(torch, model, blocks, args.family, edges, pad, res, bool(extra))
    inputs_rec = {"texts": spec.get("texts"), "token_ids": seqs, "add_special_tokens": add_special, "max_length": max_length, "pad_token_id": int(pad), "padding_side": "right"}
    if edges:
        inputs_rec["edges"] = edges
    if block_inputs:
        inputs_rec["block_inputs"] = block_inputs
    if prompt_seqs is not None:
        inputs_rec["prompts"] = spec.get("prompts")
        inputs_rec["prompt_ids"] = prompt_seqs
        inputs_rec["generate"] = int(spec.get("generate"))
    manifest = {
        "kind": "oracle",
        "implementation": "transformers",
        "family": args.family,
        "model": {
            "path": model_path,
            "fingerprint": args.fingerprint,
            "class": type(model).__name__,
            "model_type": getattr(config, "model_type", None),
            "num_hidden_layers": n_layers,
            "sentence_transformers": st_info or None,
        },
        "inputs": inputs_rec,
        "options": {"dtype": str(dtype).replace("torch.", ""), "seed": args.seed, "threads": n_threads, "deterministic_algorithms": True, "device": "cpu", "trust_remote_code": False},
        "libraries": common.library_versions(["torch", "transformers", "tokenizers", "numpy", "safetensors", "gguf"]),
        "checks": checks,
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")


def decode(torch, model, prompts, n_new, pad):
    """Greedy decoding per prompt (batch one), pure argmax for exactly
    n_new tokens (no stop at end-of-sequence, so both sides decode the same
    number of steps): the model with its KV cache, step by step (the logits
    of each step are kept), then the same positions recomputed in one pass
    without a cache. transformers' own generate() is run as a cross-check:
    its tokens (up to its end-of-sequence stop) must be a prefix of ours."""
    import numpy as np

    gen_all, cache_all, full_all, agree = [], [], [], True
    for p in prompts:
        ids = torch.tensor([p], dtype=torch.long)
        new, cache, _ = greedy_cached(torch, model, p, n_new, len(p))
        with torch.inference_mode():
            full_ids = torch.tensor([p + new[:-1]])
            full = model(full_ids, use_cache=False).logits[0, len(p) - 1:].float()
            g = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new, do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None, pad_token_id=pad)
            ref = g[0, len(p):].tolist()
        if ref != new[: len(ref)]:
            agree = False
        gen_all.append(new)
        cache_all.append(cache)
        full_all.append(full.numpy())
    return gen_all, np.stack(cache_all), np.stack(full_all), agree


def greedy_cached(torch, model, prompt, n, chunk):
    """The prompt prefilled into the KV cache `chunk` tokens per call, then
    n greedy tokens with the cache: (ids, step logits [n, V], logits at the
    last position of every prefill call [calls, V])."""
    with torch.inference_mode():
        past, ends = None, []
        for piece in common.chunks(prompt, chunk):
            out = model(torch.tensor([piece]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            ends.append(out.logits[0, -1].float())
        toks, steps = [], []
        for i in range(n):
            last = out.logits[0, -1].float()
            steps.append(last)
            toks.append(int(last.argmax()))
            if i + 1 < n:
                out = model(torch.tensor([[toks[-1]]]), past_key_values=past, use_cache=True)
                past = out.past_key_values
    return toks, torch.stack(steps).numpy(), torch.stack(ends).numpy()


def run_edges(torch, model, blocks, family, cases, pad, res, token_types):
    """The source's side of rung 8: each case as a right-padded batch with
    its attention mask (decoders: the last block's output and the logits at
    each row's last real token; encoders: the last hidden state), and for
    a decoder's long input, prefilled into the cache in chunks, the logits
    at the end of every chunk and greedy decoding with the cache after it."""
    import numpy as np

    for case, c in cases.items():
        if case == "long" and family == "decoder":
            toks, steps, ends = greedy_cached(torch, model, c["token_ids"][0], c["generate"], c["chunk"])
            res.add("edges.long.prefill.logits", ends[None])
            res.add("edges.long.generated.ids", np.array([toks]))
            res.add("edges.long.cache_decode.logits", steps[None])
            continue
        ids, mask = common.padded(c["token_ids"], pad)
        seen = {}
        handle = blocks[-1].register_forward_hook(lambda _m, _i, o: seen.__setitem__("hidden", first(o).detach()))
        kw = {"token_type_ids": torch.zeros((ids.shape[0], ids.shape[1]), dtype=torch.long)} if token_types else {}
        with torch.inference_mode():
            out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), use_cache=False, **kw)
        handle.remove()
        m3 = mask[:, :, None].astype(np.float32)
        if family == "decoder":
            res.add(f"edges.{case}.hidden", seen["hidden"].float().numpy() * m3)
            res.add(f"edges.{case}.logits_last", common.last_positions(out.logits.float().numpy(), mask))
        else:
            res.add(f"edges.{case}.last_hidden_state", out.last_hidden_state.float().numpy() * m3)


def sentence_transformers_info(d):
    """Pooling and normalization from a sentence-transformers layout."""
    info = {}
    mods = os.path.join(d, "modules.json")
    if not os.path.isfile(mods):
        return info
    try:
        modules = common.read_json(mods)
        for m in modules:
            t = m.get("type", "")
            if t.endswith("Pooling"):
                cfg = common.read_json(os.path.join(d, m.get("path", ""), "config.json"))
                info["pooling"] = "cls" if cfg.get("pooling_mode_cls_token") else "mean"
            if t.endswith("Normalize"):
                info["normalize"] = True
        info.setdefault("normalize", False)
    except (OSError, ValueError, AttributeError):
        return {}
    return info


if __name__ == "__main__":
    main()
