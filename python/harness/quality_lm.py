"""Language-model logits for ``mlxport quality`` (embedded in the binary).

Loads a reference and a candidate MLX checkpoint (mlx-lm layout) with
``mlx_lm.load`` and writes, into ``--out DIR``:

* ``chunk_NNNN.npz``: for one window of the held-out text, the float32
  logits of both models at every scored position (``reference``,
  ``candidate``: [n, V]) and the token each position predicts
  (``targets``: [n] int32). The text is tokenized once with the
  reference's tokenizer, cut to ``--max-tokens``, and scored in windows
  of at most ``--window`` tokens that advance by ``--stride``: each window
  scores only the tokens no earlier window scored, with up to
  ``window - stride`` tokens of preceding context. Memory is bounded by
  one window's logits.
* ``greedy.npz``: ``reference`` and ``candidate`` [P, G] int32, G greedy
  tokens per prompt (pure argmax, KV cache, no stop at end-of-sequence).
* ``quality_lm.json``: what was run (token counts, windows, prompts,
  decoded continuations, library versions).

The metrics are computed by mlxport from these files, not here.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlxport_common as common  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True)
    ap.add_argument("--candidate", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--stride", type=int, default=256)
    ap.add_argument("--generate", type=int, default=32)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def load(path):
    from mlx_lm import load as mlx_load

    try:
        return mlx_load(path)
    except Exception as e:  # noqa: BLE001 - reported to the user with the path
        common.fail(f"{path}: mlx_lm.load failed: {type(e).__name__}: {e}")


def greedy(mx, make_cache, model, prompt, n):
    cache = make_cache(model)
    logits = model(mx.array([prompt]), cache=cache)
    out = []
    for i in range(n):
        t = int(mx.argmax(logits[0, -1]).item())
        out.append(t)
        if i + 1 < n:
            logits = model(mx.array([[t]]), cache=cache)
    return out


def main():
    args = parse_args()
    timer = common.Timer()
    import mlx.core as mx
    import numpy as np
    from mlx_lm.models.cache import make_prompt_cache

    if args.window < 2 or args.stride < 1 or args.stride > args.window:
        common.fail(f"window {args.window} and stride {args.stride}: need window >= 2 and 1 <= stride <= window")
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    with open(args.prompts, encoding="utf-8") as f:
        prompts = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]

    common.log("loading the reference")
    ref, tok = load(args.reference)
    common.log("loading the candidate")
    cand, cand_tok = load(args.candidate)
    ids = list(tok.encode(text))
    if args.max_tokens and len(ids) > args.max_tokens:
        ids = ids[: args.max_tokens]
    if len(ids) < 2:
        common.fail(f"{args.text}: fewer than 2 tokens to score")
    same_tokenizer = list(cand_tok.encode(text[:2000])) == list(tok.encode(text[:2000]))
    vocab_ref = None
    os.makedirs(args.out, exist_ok=True)

    # Positions 1..len-1 are predicted (position 0 has no context).
    chunks = []
    start = 1
    while start < len(ids):
        end = min(start + args.stride, len(ids))
        lo = max(0, end - args.window)
        window = ids[lo:end]
        x = mx.array([window])
        lr = ref(x)[0].astype(mx.float32)
        lc = cand(x)[0].astype(mx.float32)
        # Logits at index j predict window[j + 1]; keep those predicting [start, end).
        a, b = start - lo - 1, end - lo - 1
        r = np.array(lr[a:b])
        c = np.array(lc[a:b])
        if r.shape != c.shape:
            common.fail(f"the candidate's logits have shape {list(c.shape)}, the reference's {list(r.shape)}: the vocabularies differ")
        vocab_ref = r.shape[1]
        name = f"chunk_{len(chunks):04d}.npz"
        np.savez(os.path.join(args.out, name), reference=r, candidate=c, targets=np.array(ids[start:end], dtype=np.int32))
        chunks.append({"file": name, "positions": int(end - start), "context": int(start - lo)})
        common.log(f"scored tokens {start}..{end} of {len(ids)}")
        start = end

    prompt_ids = [list(tok.encode(p)) for p in prompts]
    gr, gc = [], []
    for i, p in enumerate(prompt_ids):
        gr.append(greedy(mx, make_prompt_cache, ref, p, args.generate))
        gc.append(greedy(mx, make_prompt_cache, cand, p, args.generate))
        common.log(f"greedy {i + 1}/{len(prompt_ids)}")
    shape = (len(prompt_ids), args.generate)
    np.savez(
        os.path.join(args.out, "greedy.npz"),
        reference=np.array(gr, dtype=np.int32).reshape(shape),
        candidate=np.array(gc, dtype=np.int32).reshape(shape),
    )
    manifest = {
        "tokens": len(ids),
        "vocab": vocab_ref,
        "window": args.window,
        "stride": args.stride,
        "chunks": chunks,
        "same_tokenizer": same_tokenizer,
        "prompts": prompts,
        "prompt_tokens": [len(p) for p in prompt_ids],
        "generate": args.generate,
        "continuations": {"reference": [tok.decode(g) for g in gr], "candidate": [tok.decode(g) for g in gc]},
        "libraries": common.library_versions(["mlx", "mlx-lm", "numpy"]),
        "seconds": timer.elapsed(),
    }
    with open(os.path.join(args.out, "quality_lm.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
