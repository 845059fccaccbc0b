"""Language-model logits for ``mlxport quality`` (embedded in the binary).

Loads a reference and one or more candidate MLX checkpoints, all in one
process, and writes, into ``--out DIR``:

* ``chunk_NNNN.npz``: for one window of the held-out text, the float32
  logits of the reference (``reference``) and of each candidate
  (``candidate_0``, ``candidate_1``, ...: [n, V]) at every scored
  position, and the token each position predicts (``targets``: [n]
  int32). The text is tokenized once with the reference's tokenizer, cut
  to ``--max-tokens``, and scored in windows of at most ``--window``
  tokens that advance by ``--stride``: each window scores only the tokens
  no earlier window scored, with up to ``window - stride`` tokens of
  preceding context. The reference's logits are computed once per window
  whatever the number of candidates. Memory is bounded by one window's
  logits.
* ``greedy.npz``: ``reference`` and ``candidate_I`` [P, G] int32, G greedy
  tokens per prompt (pure argmax, KV cache, no stop at end-of-sequence).
* ``quality_lm.json``: what was run (token counts, windows, prompts,
  decoded continuations, implementation, compute dtype, library versions,
  wall time).

The models run through ``--package PKG`` (a scaffolded decoder package:
its ``load`` and its first-port greedy decoding; an encoder-decoder
package scores each window teacher-forced, the window's earlier tokens on
the encoder side and the scored ones on the decoder side, and continues
each prompt with its own greedy decoding; ``--candidate-options``
gives the candidates serving options of the package, such as a quantized
KV cache, which then also score the windows through the cache), else
through ``mlx_lm.load``. ``--compute-dtype float32`` (the default) dequantizes
quantized layers at load (the float values ``mx.dequantize`` gives, the
very values the packed weights hold) and casts every floating parameter
to float32: on a CPU, MLX multiplies bfloat16 several times slower than
float32 and packed quantized weights slower still (measured on SmolLM2 over
512 tokens on 2 cores: 5.0 s in float32, 31 s in bfloat16, 55 s with
8-bit packed weights), and the gate compares the models' values, not the
precision of their arithmetic. ``stored`` keeps the checkpoints' dtypes
and packed weights; ``stored-dequantized`` keeps the dtypes but turns
quantized layers into float layers holding their dequantized values in
their scales' dtype (plain products in that dtype: on a CPU, MLX's packed
bfloat16 product is several percent off its own weights).

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
    ap.add_argument("--candidate", required=True, action="append")
    ap.add_argument("--package", help="a scaffolded decoder package to run the models with")
    ap.add_argument("--compute-dtype", choices=["float32", "stored", "stored-dequantized"], default="float32")
    ap.add_argument("--candidate-options", help="with --package: the candidates' serving options (JSON), e.g. a quantized KV cache")
    ap.add_argument("--text", required=True)
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--stride", type=int, default=256)
    ap.add_argument("--generate", type=int, default=32)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


class Runner:
    """How the models are loaded and decoded: a package or mlx-lm."""

    def __init__(self, package, compute_dtype, candidate_options=None):
        import mlx.core as mx

        self.mx = mx
        self.candidate_options = None
        self.dtype = mx.float32 if compute_dtype == "float32" else None
        self.dequantize = compute_dtype != "stored"
        self.pkg = None
        self.seq2seq = False
        self.warnings = []
        if package:
            import importlib

            name, _pkg, family = common.package_family(package)
            if family == "encoder-decoder":
                if candidate_options:
                    common.fail("--candidate-options: an encoder-decoder package has no serving options")
                self.seq2seq = True
                self.pkg = _pkg
                self.gen = importlib.import_module(name + ".generate")
                self.name = f"package {name}"
                return
            name, self.pkg, self.candidate_options = common.decoder_package(package, "the language-model gate", candidate_options, "--candidate-options")
            if not candidate_options:
                self.candidate_options = None
            self.gen = importlib.import_module(name + ".generate")
            self.first_port = importlib.import_module(name + ".options").Options()
            self.cache = importlib.import_module(name + ".cache")
            self.name = f"package {name}"
        else:
            if candidate_options:
                common.fail("--candidate-options needs --package (the options are the package's)")
            self.name = "mlx-lm"

    def load(self, path):
        mx = self.mx
        try:
            if self.pkg is not None:
                from transformers import AutoTokenizer

                model, _ = self.pkg.load(path, dtype=self.dtype, dequantized=self.dequantize)
                tok = AutoTokenizer.from_pretrained(path)
                self.check_packed(model, path)
                return model, tok
            from mlx.utils import tree_map
            from mlx_lm import load as mlx_load

            model, tok = mlx_load(path)
            self.check_packed(model, path)
            if self.dequantize:
                from mlx_lm.utils import dequantize_model

                dequantize_model(model)
            if self.dtype is not None:
                model.update(tree_map(lambda x: x.astype(self.dtype) if mx.issubdtype(x.dtype, mx.floating) else x, model.parameters()))
                mx.eval(model.parameters())
            return model, tok
        except Exception as e:  # noqa: BLE001 - reported to the user with the path
            common.fail(f"{path}: loading with {self.name} failed: {type(e).__name__}: {e}")

    def check_packed(self, model, path):
        """With stored dtypes, packed quantized layers multiply in their
        scales' dtype. Measure one layer's product against the same weights
        dequantized in float32: MLX's CPU `quantized_matmul` in bfloat16 is
        off by several percent (measured 6.8% on an 8-bit SmolLM2 layer with
        MLX 0.32.4, against 0.3% for a plain bfloat16 product), and the gate
        then scores that arithmetic rather than the weights; say so."""
        mx = self.mx
        if self.dequantize:
            return
        for name, m in model.named_modules():
            if type(m).__name__ != "QuantizedLinear":
                continue
            dt = m.scales.dtype
            if dt == mx.float32:
                return
            kw = dict(group_size=m.group_size, bits=m.bits)
            mode = getattr(m, "mode", "affine")
            if mode != "affine":
                return
            x = mx.random.normal((16, m.weight.shape[1] * 32 // m.bits), key=mx.random.key(0)).astype(dt)
            w = mx.dequantize(m.weight, m.scales.astype(mx.float32), m.biases.astype(mx.float32), **kw)
            ref = x.astype(mx.float32) @ w.T
            got = mx.quantized_matmul(x, m.weight, m.scales, m.biases, transpose=True, **kw).astype(mx.float32)
            err = float(mx.abs(got - ref).max() / mx.maximum(mx.abs(ref).max(), 1e-30))
            if err > 0.01:
                self.warnings.append(
                    f"{path}: {name} ({m.bits}-bit, {dt}) multiplies with a relative error of {err:.3g} against its own weights dequantized in float32 "
                    f"(MLX {getattr(mx, '__version__', '?')} on {mx.default_device()}): with stored dtypes the gate scores that arithmetic, not the weights; "
                    "the default float32 evaluation scores the weights"
                )
            return

    def logits(self, model, window, a, b, candidate):
        """Logits [b - a, V] predicting window[a + 1 : b + 1]: through the
        candidates' serving options when given (a quantized KV cache changes
        what attention sees within the window too), else one plain forward;
        an encoder-decoder reads window[: a + 1] and is teacher-forced on
        the rest."""
        if self.seq2seq:
            return self.gen.teacher_forced(model, window[: a + 1], window[a + 1 : b + 1])
        return self._logits(model, self.mx.array([window]), candidate)[a:b]

    def _logits(self, model, x, candidate):
        if candidate and self.candidate_options is not None:
            model.configure(self.candidate_options)
            return model(x, cache=self.cache.make_cache(model, self.candidate_options))[0]
        return model(x)[0]

    def greedy(self, model, prompt, n, candidate=False):
        mx = self.mx
        if self.seq2seq:
            return self.gen.greedy(model, prompt, n)[0]
        if self.pkg is not None:
            o = self.candidate_options if candidate and self.candidate_options is not None else self.first_port
            return self.gen.greedy(model, prompt, n, options=o)[0]
        from mlx_lm.models.cache import make_prompt_cache

        cache = make_prompt_cache(model)
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

    if args.window < 2 or args.stride < 1 or args.stride > args.window:
        common.fail(f"window {args.window} and stride {args.stride}: need window >= 2 and 1 <= stride <= window")
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    with open(args.prompts, encoding="utf-8") as f:
        prompts = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]

    runner = Runner(args.package, args.compute_dtype, args.candidate_options)
    common.log(f"loading the reference with {runner.name}")
    ref, tok = runner.load(args.reference)
    cands = []
    for i, path in enumerate(args.candidate):
        common.log(f"loading candidate {i + 1}/{len(args.candidate)}")
        cands.append(runner.load(path))
    ids = list(tok.encode(text))
    if args.max_tokens and len(ids) > args.max_tokens:
        ids = ids[: args.max_tokens]
    if len(ids) < 2:
        common.fail(f"{args.text}: fewer than 2 tokens to score")
    same_tokenizer = [list(ct.encode(text[:2000])) == list(tok.encode(text[:2000])) for _, ct in cands]
    vocab_ref = None
    os.makedirs(args.out, exist_ok=True)

    # Positions 1..len-1 are predicted (position 0 has no context).
    chunks = []
    start = 1
    while start < len(ids):
        end = min(start + args.stride, len(ids))
        lo = max(0, end - args.window)
        window = ids[lo:end]
        # Logits at index j predict window[j + 1]; keep those predicting [start, end).
        a, b = start - lo - 1, end - lo - 1
        r = np.array(runner.logits(ref, window, a, b, False).astype(mx.float32))
        arrays = {"reference": r, "targets": np.array(ids[start:end], dtype=np.int32)}
        for i, (cand, _) in enumerate(cands):
            c = np.array(runner.logits(cand, window, a, b, True).astype(mx.float32))
            if r.shape != c.shape:
                common.fail(f"candidate {args.candidate[i]}: logits of shape {list(c.shape)}, the reference's {list(r.shape)}: the vocabularies differ")
            arrays[f"candidate_{i}"] = c
        vocab_ref = r.shape[1]
        name = f"chunk_{len(chunks):04d}.npz"
        np.savez(os.path.join(args.out, name), **arrays)
        chunks.append({"file": name, "positions": int(end - start), "context": int(start - lo)})
        common.log(f"scored tokens {start}..{end} of {len(ids)}")
        start = end

    prompt_ids = [list(tok.encode(p)) for p in prompts]
    shape = (len(prompt_ids), args.generate)
    greedy = {"reference": [runner.greedy(ref, p, args.generate) for p in prompt_ids]}
    for i, (cand, _) in enumerate(cands):
        greedy[f"candidate_{i}"] = [runner.greedy(cand, p, args.generate, True) for p in prompt_ids]
        common.log(f"greedy continuations of candidate {i + 1}/{len(cands)}")
    np.savez(os.path.join(args.out, "greedy.npz"), **{k: np.array(v, dtype=np.int32).reshape(shape) for k, v in greedy.items()})
    manifest = {
        "tokens": len(ids),
        "vocab": vocab_ref,
        "window": args.window,
        "stride": args.stride,
        "chunks": chunks,
        "candidates": args.candidate,
        "same_tokenizer": same_tokenizer,
        "prompts": prompts,
        "prompt_tokens": [len(p) for p in prompt_ids],
        "generate": args.generate,
        "continuations": {k: [tok.decode(g) for g in v] for k, v in greedy.items()},
        "implementation": runner.name,
        "compute_dtype": args.compute_dtype,
        "warnings": runner.warnings,
        "candidate_options": runner.candidate_options.to_dict() if runner.candidate_options is not None else None,
        "libraries": common.library_versions(["mlx", "mlx-lm", "numpy"]),
        "seconds": timer.elapsed(),
    }
    with open(os.path.join(args.out, "quality_lm.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
