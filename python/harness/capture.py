"""The MLX side of the parity ladder: run an MLX implementation on the
oracle's inputs and capture the same tensors under the same names.

Run by ``mlxport capture`` (embedded in the binary); not meant to be run by
hand. Two targets:

* ``--package PKG --weights DIR``: a package made by ``mlxport scaffold``
  (its ``load`` and ``capture`` modules);
* ``--mlx-lm DIR``: mlx-lm's own implementation of the model, loaded with
  ``mlx_lm.load``; its embedding, blocks and final norm are wrapped with
  taps that record their outputs, and greedy decoding uses mlx-lm's own
  KV cache.

Sequences run one at a time (batch one, unpadded) and are placed back into
the oracle's padded [B, T, ...] layout with zeros at padded positions.
An encoder-decoder package also gets the oracle's teacher-forced decoder
inputs (``decoder_token_ids``) and decodes greedily from its
``decoder_start_token_id``.
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
    ap.add_argument("--oracle-manifest", required=True)
    ap.add_argument("--package", help="directory of a scaffolded package")
    ap.add_argument("--weights", help="weights directory for --package")
    ap.add_argument("--mlx-lm", dest="mlx_lm", help="model directory mlx_lm.load reads")
    ap.add_argument("--mlx-vlm", dest="mlx_vlm", help="vision-language model directory mlx-vlm loads")
    ap.add_argument("--out", required=True)
    ap.add_argument("--first-only", action="store_true", help="first sequence, forward pass only (BLAS check)")
    ap.add_argument("--no-generate", action="store_true")
    return ap.parse_args()


class Tap:
    """Wraps a module: records its output under a name, delegates the rest.
    While the sink holds a feed for this name (``sink["_feed"]``, the
    isolated rung), the module is called on that hidden state instead of
    the one it was given, and its output is kept as ``isolated.<name>``."""

    def __init__(self, inner, name, sink, scale=None):
        self._inner, self._name, self._sink, self._scale = inner, name, sink, scale

    def __call__(self, *a, **k):
        feed = (self._sink.get("_feed") or {}).get(self._name)
        if feed is not None:
            a, k = substitute(a, k, feed)
        out = self._inner(*a, **k)
        x = out[0] if isinstance(out, tuple) else out
        if feed is not None:
            self._sink["isolated." + self._name] = x
        elif self._sink.get("_on"):
            self._sink[self._name] = x if self._scale is None else x * self._scale
        return out

    def __getattr__(self, n):
        return getattr(self._inner, n)


# Keyword names blocks take their hidden state under, when not positional.
HIDDEN_KEYWORDS = ("x", "h", "hidden_states", "inputs")


def substitute(args, kwargs, feed):
    """The call's arguments with its hidden state replaced by `feed` (cast
    to the hidden state's dtype)."""
    if args:
        return (feed.astype(args[0].dtype),) + tuple(args[1:]), kwargs
    for key in HIDDEN_KEYWORDS:
        if key in kwargs:
            return args, {**kwargs, key: feed.astype(kwargs[key].dtype)}
    common.fail("isolated rung: a block was called without a hidden state to replace")


def run_isolated(target, block_lists, feeds, call):
    """Call the model once with every block fed the source's input to it
    (`feeds`: block name -> [1, L, H] mx.array); returns {"isolated.<block>":
    output}. Blocks are wrapped for the call and restored after it."""
    sink = {"_feed": feeds}
    saved = []
    for prefix, blocks in block_lists.items():
        for i in range(len(blocks)):
            inner = blocks[i]._inner if isinstance(blocks[i], Tap) else blocks[i]
            saved.append((blocks, i, blocks[i]))
            blocks[i] = Tap(inner, f"{prefix}.{i}", sink)
    try:
        call()
    finally:
        for blocks, i, orig in saved:
            blocks[i] = orig
    out = {k: v for k, v in sink.items() if k.startswith("isolated.")}
    missing = [n for n in feeds if "isolated." + n not in out]
    if missing:
        common.fail(f"isolated rung: blocks {missing} were never called")
    return out


# Model types whose transformers embedding module includes the sqrt(hidden)
# scale (a scaled embedding), while mlx-lm multiplies after its embedding:
# the `embeddings` rung is the scaled output on both sides.
SCALED_EMBEDDING_TYPES = ("gemma", "gemma2")


def embedding_scale(path):
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") in SCALED_EMBEDDING_TYPES:
        return float(cfg["hidden_size"]) ** 0.5
    return None


class MlxLmTarget:
    family = "decoder"

    def __init__(self, path):
        import mlx.core as mx
        import mlx.nn as nn
        from mlx_lm import load
        from mlx_lm.models.cache import make_prompt_cache

        self.mx, self.make_cache = mx, make_prompt_cache
        if any(os.path.isfile(os.path.join(path, f)) for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
            self.model, self.tokenizer = load(path)
        else:
            # A checkpoint without tokenizer files (token-id inputs): the
            # model alone, loaded strictly as mlx_lm.load does.
            from pathlib import Path

            from mlx_lm.utils import load_model

            self.model, _ = load_model(Path(path))
            self.tokenizer = None
        self.path = path
        self.blocks_key = "layers"
        inner = self._stack(nn)
        self.sink = {}
        layers = inner[self.blocks_key]
        for i in range(len(layers)):
            layers[i] = Tap(layers[i], f"layers.{i}", self.sink)
        # The token embedding: the one with a row per vocabulary entry
        # (GPT-2 also has a position table, `wpe`).
        emb = [k for k, v in inner.children().items() if isinstance(v, nn.Embedding)]
        if len(emb) > 1:
            vocab = getattr(getattr(self.model, "args", None), "vocab_size", None)
            by_vocab = [k for k in emb if vocab is not None and getattr(inner, k).weight.shape[0] == vocab]
            emb = by_vocab if len(by_vocab) == 1 else [k for k in emb if k in ("embed_tokens", "wte", "tok_embeddings", "word_embeddings", "embed_in")] or emb
        # Norm modules of mlx-lm's own (gemma's (1 + w) RMSNorm) count too.
        norms = [k for k, v in inner.children().items() if isinstance(v, (nn.RMSNorm, nn.LayerNorm)) or (isinstance(v, nn.Module) and type(v).__name__.endswith("Norm"))]
        if len(emb) != 1:
            common.fail(f"mlx-lm model: expected one embedding beside the blocks, found {emb}")
        # A scale of 1.0 when there is none: the tap keeps a new array, so a
        # model that adds to its embedding output in place (GPT-2's
        # `hidden_states += wpe(...)`) does not change what was recorded.
        object.__setattr__(inner, emb[0], Tap(getattr(inner, emb[0]), "embeddings", self.sink, embedding_scale(path) or 1.0))
        if norms:
            object.__setattr__(inner, norms[-1], Tap(getattr(inner, norms[-1]), "final_norm", self.sink))
        self.structure = {"blocks": f"{type(inner).__name__}.{self.blocks_key} ({type(layers[0]._inner).__name__} x {len(layers)})", "embedding": emb[0], "final_norm": norms[-1] if norms else None}
        self.layers = layers

    def forward_batch(self, ids, mask):
        """A right-padded batch [B, T] in one call (causal attention: the
        padding after a row never reaches its real tokens): the last
        block's output and the logits."""
        import numpy as np

        mx = self.mx
        self.sink.clear()
        self.sink["_on"] = True
        logits = self.model(mx.array(ids))
        self.sink["_on"] = False
        hidden = self.sink[f"layers.{len(self.layers) - 1}"]
        mx.eval(hidden, logits)
        return {"hidden": np.array(hidden.astype(mx.float32)), "logits": np.array(logits.astype(mx.float32))}

    def streaming(self, sequences):
        """mlx-lm's streaming detokenizer against decoding all at once. Its
        BPE and SentencePiece detokenizers drop the stream's leading space
        by design (a generation's text starts without it): the whole text
        is compared with that one space removed, and the check says so."""
        if self.tokenizer is None:
            return None
        out = []
        for toks in sequences:
            d = self.tokenizer.detokenizer
            d.reset()
            for t in toks:
                d.add_token(t)
            d.finalize()
            whole = self.tokenizer.decode(toks)
            trims = getattr(d, "trim_space", True) and type(d).__name__ in ("BPEStreamingDetokenizer", "SPMStreamingDetokenizer")
            if trims and whole.startswith(" ") and d.text == whole[1:]:
                whole = whole[1:]
                self.streaming_note = "mlx-lm's streaming detokenizer drops the first token's leading space by design; compared without it"
            out.append((d.text, whole))
        return out

    def isolated(self, ids, feeds, encoder_output=None):
        mx = self.mx
        out = run_isolated(self, {"layers": self.layers}, feeds, lambda: self.model(mx.array([ids])))
        mx.eval(list(out.values()))
        import numpy as np

        return {k: np.array(v.astype(mx.float32)) for k, v in out.items()}

    def _stack(self, nn):
        """The module holding the block list (mlx-lm's `model.model`): the
        one whose child list is the model's `layers` (every mlx-lm model
        has that property; GPT-2's list is `model.h`), else the shallowest
        module with a `layers` list."""
        blocks = getattr(self.model, "layers", None)
        if isinstance(blocks, list) and blocks:
            for name, mod in self.model.named_modules():
                if isinstance(mod, nn.Module) and any(v is blocks for v in mod.values()):
                    for key, v in mod.items():
                        if v is blocks and key != "layers":
                            self.blocks_key = key
                    return mod
        best = None
        for name, mod in self.model.named_modules():
            if isinstance(getattr(mod, "layers", None), list) and isinstance(mod, nn.Module) and "layers" in mod:
                depth = name.count(".") if name else -1
                if best is None or depth < best[0]:
                    best = (depth, mod)
        if best is None:
            common.fail("mlx-lm model: no block list found")
        return best[1]

    def forward(self, ids):
        mx = self.mx
        self.sink.clear()
        self.sink["_on"] = True
        logits = self.model(mx.array([ids]))
        self.sink["_on"] = False
        out = {k: v for k, v in self.sink.items() if k != "_on"}
        out["logits"] = logits
        mx.eval(list(out.values()))
        import numpy as np

        return {k: np.array(v.astype(mx.float32)) for k, v in out.items()}

    def decode(self, prompt, n):
        import numpy as np

        mx = self.mx
        toks, steps, _ = self.decode_chunked(prompt, n, len(prompt))
        full = self.model(mx.array([prompt + toks[:-1]]))[0, len(prompt) - 1:]
        mx.eval(full)
        return toks, steps, np.array(full.astype(mx.float32))

    def decode_chunked(self, prompt, n, chunk):
        """The prompt prefilled into mlx-lm's cache `chunk` tokens per call
        (each call evaluated before the next, as mlx-lm's generate does),
        then n greedy tokens: (ids, step logits [n, V], logits at the end of
        every prefill call [calls, V])."""
        import numpy as np

        mx = self.mx
        cache = self.make_cache(self.model)
        ends = []
        for piece in common.chunks(prompt, chunk):
            logits = self.model(mx.array([piece]), cache=cache)
            ends.append(logits[0, -1])
            mx.eval(ends[-1], [c.state for c in cache])
        toks, steps = [], []
        for i in range(n):
            last = logits[0, -1]
            steps.append(last)
            t = int(mx.argmax(last).item())
            toks.append(t)
            if i + 1 < n:
                logits = self.model(mx.array([[t]]), cache=cache)
        steps, ends = mx.stack(steps), mx.stack(ends)
        mx.eval(steps, ends)
        return toks, np.array(steps.astype(mx.float32)), np.array(ends.astype(mx.float32))

    def tokenize(self, texts, add_special):
        if self.tokenizer is None:
            return None
        return [list(self.tokenizer._tokenizer(t, add_special_tokens=add_special)["input_ids"]) for t in texts]


class PackageTarget:
    def __init__(self, pkg_dir, weights):
        name, self.pkg = common.import_package(pkg_dir)
        self.cap = importlib.import_module(name + ".capture")
        self.family = self.cap.FAMILY
        self.model, self.args = self.pkg.load(weights)
        self.weights = weights
        self.structure = {"package": name}

    def forward(self, ids, token_type_ids=None, decoder_ids=None):
        if self.family == "encoder-decoder":
            return self.cap.forward(self.model, ids, decoder_ids)
        if self.family == "encoder":
            return self.cap.forward(self.model, ids, token_type_ids)
        return self.cap.forward(self.model, ids)

    def decode(self, prompt, n):
        return self.cap.decode(self.model, prompt, n)

    def decode_chunked(self, prompt, n, chunk):
        """The package's `capture.decode_chunked` (None when it has none)."""
        if not hasattr(self.cap, "decode_chunked"):
            return None
        return self.cap.decode_chunked(self.model, prompt, n, chunk)

    def forward_batch(self, ids, mask, decoder_ids=None):
        """A right-padded batch [B, T] and its mask (and an encoder-decoder's
        decoder inputs) through the package's `capture.forward_batch`
        (None when the package has none)."""
        if not hasattr(self.cap, "forward_batch"):
            return None
        if self.family == "encoder-decoder":
            return self.cap.forward_batch(self.model, ids, mask, decoder_ids)
        return self.cap.forward_batch(self.model, ids, mask)

    def streaming(self, sequences):
        """Incremental detokenisation (tokenizers' DecodeStream, one token
        at a time) against decoding all at once."""
        path = os.path.join(self.weights, "tokenizer.json")
        if not os.path.isfile(path):
            return None
        from tokenizers import Tokenizer
        from tokenizers.decoders import DecodeStream

        tok = Tokenizer.from_file(path)
        out = []
        for toks in sequences:
            stream = DecodeStream(skip_special_tokens=False)
            pieces = [stream.step(tok, t) for t in toks]
            text, whole = "".join(p for p in pieces if p), tok.decode(toks, skip_special_tokens=False)
            # DecodeStream holds back the bytes of a character still
            # incomplete and has no end-of-stream flush; a server flushes
            # them at the end, as replacement characters, which is what
            # decoding all at once gives. Only such a tail is flushed here.
            held = whole[len(text):]
            if text != whole and whole.startswith(text) and held and set(held) == {"\ufffd"}:
                text = whole
                self.streaming_note = "tokenizers' DecodeStream holds an incomplete character at the end of a sequence; flushed at the end of the stream (as replacement characters) before comparing"
            out.append((text, whole))
        return out

    def isolated(self, ids, feeds, token_type_ids=None, decoder_ids=None, encoder_output=None):
        import mlx.core as mx
        import numpy as np

        if not hasattr(self.cap, "blocks"):
            return None
        if self.family == "encoder-decoder":
            call = lambda: self.cap.forward(self.model, ids, decoder_ids, encoder_output=encoder_output)  # noqa: E731
        elif self.family == "encoder":
            call = lambda: self.cap.forward(self.model, ids, token_type_ids)  # noqa: E731
        else:
            call = lambda: self.cap.forward(self.model, ids)  # noqa: E731
        out = run_isolated(self, self.cap.blocks(self.model), feeds, call)
        mx.eval(list(out.values()))
        return {k: np.array(v.astype(mx.float32)) for k, v in out.items()}

    def tokenize(self, texts, add_special):
        path = os.path.join(self.weights, "tokenizer.json")
        if not os.path.isfile(path):
            return None
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(path)
        tok.no_padding()
        tok.no_truncation()
        return [tok.encode(t, add_special_tokens=add_special).ids for t in texts]


def main():
    args = parse_args()
    timer = common.Timer()
    import mlx.core as mx
    import numpy as np

    oman = common.read_json(args.oracle_manifest)
    inputs = oman["inputs"]
    family = oman["family"]
    if family == "vision":
        import capture_vision

        return capture_vision.run(args, oman, timer)
    if family == "vision-language":
        import capture_vlm

        return capture_vlm.run(args, oman, timer)
    if args.mlx_vlm:
        common.fail(f"--mlx-vlm captures vision-language models; the oracle captured a {family}")
    if args.package:
        if not args.weights:
            common.fail("--package needs --weights")
        target = PackageTarget(args.package, args.weights)
        impl = "mlxport-scaffold"
    elif args.mlx_lm:
        target = MlxLmTarget(args.mlx_lm)
        impl = "mlx-lm"
    else:
        common.fail("give --package or --mlx-lm")
    if target.family != family:
        common.fail(f"the target is a {target.family} but the oracle captured a {family}")

    seqs = inputs["token_ids"]
    pad = inputs.get("pad_token_id", 0)
    if args.first_only:
        seqs = seqs[:1]
    B, T = len(seqs), max(len(s) for s in seqs)
    res = common.Results()
    checks = {}
    ids = np.full((B, T), pad, dtype=np.int64)
    mask = np.zeros((B, T), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    # Preprocessing rung: the target's own tokenizer on the same texts.
    own = None
    if inputs.get("texts") and not args.first_only:
        try:
            own = target.tokenize(inputs["texts"], inputs.get("add_special_tokens", True))
        except Exception as e:  # a tokenizer that cannot load is reported, not fatal
            checks["tokenizer_error"] = str(e)
    if own is not None:
        ml = inputs.get("max_length")
        if ml:
            own = [s[:ml] for s in own]
        checks["tokenizer_matches"] = own == [list(s) for s in seqs]
        if max(len(s) for s in own) == T:
            own_ids = np.full((B, T), pad, dtype=np.int64)
            for i, s in enumerate(own):
                own_ids[i, : len(s)] = s
            res.add("inputs.input_ids", own_ids)
        else:
            res.add("inputs.input_ids", ids)
            checks["tokenizer_lengths"] = [len(s) for s in own]
    else:
        res.add("inputs.input_ids", ids)
    res.add("inputs.attention_mask", mask)
    if family == "encoder" and any(t["name"] == "inputs.token_type_ids" for t in oman["tensors"]):
        res.add("inputs.token_type_ids", np.zeros((B, T), dtype=np.int64))
    dec_seqs = inputs.get("decoder_token_ids") if family == "encoder-decoder" else None
    if dec_seqs is not None:
        dec_seqs = dec_seqs[: len(seqs)]
        dec_ids = np.full((B, T), pad, dtype=np.int64)
        for i, s in enumerate(dec_seqs):
            dec_ids[i, : len(s)] = s
        res.add("inputs.decoder_input_ids", dec_ids)

    per_seq = []
    for i, s in enumerate(seqs):
        if dec_seqs is not None:
            per_seq.append(target.forward(list(s), decoder_ids=list(dec_seqs[i])))
        else:
            per_seq.append(target.forward(list(s)))
    # Rung 3, isolated: every block called on the source's input to it
    # (the oracle names, per block, the tensor holding that input).
    block_inputs = inputs.get("block_inputs") or {}
    if block_inputs and not args.first_only:
        oracle_npz = np.load(os.path.join(os.path.dirname(os.path.abspath(args.oracle_manifest)), oman["tensors_file"]))
        enc_out = oracle_npz["encoder.last_hidden_state"] if family == "encoder-decoder" else None
        for i, s in enumerate(seqs):
            feeds = {}
            for block, src in block_inputs.items():
                n = len(dec_seqs[i]) if block.startswith("decoder.") else len(s)
                feeds[block] = mx.array(oracle_npz[src][i : i + 1, :n])
            if dec_seqs is not None:
                got = target.isolated(list(s), feeds, decoder_ids=list(dec_seqs[i]), encoder_output=enc_out[i : i + 1, : len(s)])
            else:
                got = target.isolated(list(s), feeds)
            if got is None:
                checks["isolated"] = "the package has no capture.blocks(): no isolated rung (scaffold it again)"
                break
            per_seq[i].update(got)
    names = [t["name"] for t in oman["tensors"] if not t["name"].startswith(("inputs.", "generated.", "cache_decode.", "full_decode.", "block_inputs.", "edges."))]
    extra = [n for n in per_seq[0] if n not in names]
    for name in names + extra:
        if name not in per_seq[0]:
            checks.setdefault("missing", []).append(name)
            continue
        first = per_seq[0][name]
        if first.ndim == 3:  # per-token [1, L, X]
            full = np.zeros((B, T, first.shape[-1]), dtype=np.float32)
            for i, d in enumerate(per_seq):
                full[i, : d[name].shape[1]] = d[name][0]
            res.add(name, full, mask="inputs.attention_mask")
        else:  # per-sequence [1, X]
            res.add(name, np.concatenate([d[name] for d in per_seq], axis=0))
    n_new = int(inputs.get("generate") or 0)
    if family in ("decoder", "encoder-decoder") and n_new > 0 and not args.first_only and not args.no_generate:
        gens, caches, fulls = [], [], []
        for p in inputs["prompt_ids"]:
            g, c, f = target.decode(list(p), n_new)
            gens.append(g)
            caches.append(c)
            fulls.append(f)
        res.add("generated.ids", np.array(gens))
        res.add("cache_decode.logits", np.stack(caches))
        res.add("full_decode.logits", np.stack(fulls))
        checks["cache_argmax_matches_tokens"] = all(c.argmax(-1).tolist() == g for c, g in zip(caches, gens))
        streamed = target.streaming(gens)
        if streamed is not None:
            bad = [{"prompt": i, "streamed": a, "whole": b} for i, (a, b) in enumerate(streamed) if a != b]
            checks["streaming"] = {"sequences": len(streamed), "mismatches": bad}
            if getattr(target, "streaming_note", None):
                checks["streaming"]["note"] = target.streaming_note
    # Rung 8, the edges, on the oracle's cases (decoders: in the decoding
    # pass, as their long input is decoded).
    edges = inputs.get("edges") or {}
    if edges and not args.first_only and (family != "decoder" or not args.no_generate):
        for case, c in edges.items():
            if case == "long" and family == "decoder":
                got = target.decode_chunked(list(c["token_ids"][0]), int(c["generate"]), int(c["chunk"]))
                if got is None:
                    checks["edges_long"] = "the package has no capture.decode_chunked(): no chunked long input (scaffold it again)"
                    continue
                toks, steps, ends = got
                res.add("edges.long.prefill.logits", ends[None])
                res.add("edges.long.generated.ids", np.array([toks]))
                res.add("edges.long.cache_decode.logits", steps[None])
                continue
            ids_e, mask_e = common.padded(c["token_ids"], pad)
            if family == "encoder-decoder":
                out = target.forward_batch(ids_e, mask_e, common.padded(c["decoder_token_ids"], pad)[0])
            else:
                out = target.forward_batch(ids_e, mask_e)
            if out is None:
                checks["edges"] = "the package has no capture.forward_batch(): no batch, boundary or long-input cases (scaffold it again)"
                break
            m3 = mask_e[:, :, None].astype(np.float32)
            if family == "decoder":
                res.add(f"edges.{case}.hidden", out["hidden"] * m3)
                res.add(f"edges.{case}.logits_last", common.last_positions(out["logits"], mask_e))
            elif family == "encoder-decoder":
                res.add(f"edges.{case}.encoder", out["encoder"] * m3)
                res.add(f"edges.{case}.logits_last", common.last_positions(out["logits"], mask_e))
            else:
                res.add(f"edges.{case}.last_hidden_state", out["last_hidden_state"] * m3)
    checks["structure"] = target.structure
    manifest = {
        "kind": "capture",
        "implementation": impl,
        "family": family,
        "model": {"package": os.path.abspath(args.package) if args.package else None, "weights": os.path.abspath(args.weights or args.mlx_lm)},
        "inputs": {k: inputs.get(k) for k in ("texts", "token_ids", "decoder_token_ids", "prompt_ids", "generate", "pad_token_id") if k in inputs},
        "options": {"dtype": "float32", "batch": 1, "first_only": args.first_only, "ld_preload": os.environ.get("LD_PRELOAD"), "device": str(mx.default_device())},
        "libraries": common.library_versions(["mlx", "mlx-metal", "mlx-cpu", "mlx-lm", "numpy", "tokenizers"]),
        "checks": checks,
        "oracle": {"manifest": os.path.abspath(args.oracle_manifest), "fingerprint": oman.get("model", {}).get("fingerprint")},
        "elapsed_s": timer.elapsed(),
    }
    path = res.write(args.out, manifest)
    common.log(f"wrote {args.out} and {path} ({len(res.items)} tensors, {timer.elapsed()} s)")


if __name__ == "__main__":
    main()
