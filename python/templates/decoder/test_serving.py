"""Every serving switch of {{PACKAGE}} against the first port it speeds up.

    MLXPORT_WEIGHTS=DIR python -m unittest {{PACKAGE}}.tests.test_serving

The first port (`Options()`) is what the parity ladder proved. An exact
switch (cache kind, rotating window, compile, fused projections, shared
rotary tables, pipelined decoding, chunked prefill, and their
combination) must give the same greedy tokens, with logits equal within
float32 rounding (the shared rotary tables: equal, on a CPU); batched generation must give each
row the tokens it gets alone; speculative decoding must give the model's
greedy tokens whatever the draft proposes. The lossy switch (a quantized
KV cache) is judged by the quality gate; here its arithmetic is checked
against attention over keys and values that MLX quantized and
dequantized. Prompts are token ids from `MLXPORT_PROMPT_IDS`
("1,2,3;4,5"), else drawn from the vocabulary with a fixed seed.

Skipped when MLXPORT_WEIGHTS is not set.
"""

import os
import unittest

import numpy as np

NEW_TOKENS = int(os.environ.get("MLXPORT_NEW_TOKENS", "12"))
# Float32 rounding: the switches change the order of sums, never the math.
LOGITS_COSINE = 0.99999


def cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 1.0 if na == nb == 0 else float(a @ b / (na * nb))


@unittest.skipUnless(os.environ.get("MLXPORT_WEIGHTS"), "set MLXPORT_WEIGHTS")
class Serving(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import mlx.core as mx

        from .. import load
        from ..options import Options

        cls.mx = mx
        cls.Options = Options
        cls.model, cls.args = load(os.environ["MLXPORT_WEIGHTS"])
        given = os.environ.get("MLXPORT_PROMPT_IDS")
        if given:
            cls.prompts = [[int(t) for t in p.split(",") if t.strip()] for p in given.split(";") if p.strip()]
        else:
            rng = np.random.default_rng(0)
            v = cls.args.vocab_size
            lo = min(100, v // 2)
            cls.prompts = [[int(t) for t in rng.integers(lo, v, n)] for n in (21, 5, 13)]
        cls.windowed = any(layer.window is not None for layer in cls.model.model.layers)
        cls.base = [cls.decode(Options(), p) for p in cls.prompts]

    @classmethod
    def decode(cls, options, prompt, prefill_chunk=None):
        from ..generate import greedy

        tokens, logits = greedy(cls.model, prompt, NEW_TOKENS, prefill_chunk=prefill_chunk, options=options)
        return tokens, np.array(logits.astype(cls.mx.float32))

    def exact(self):
        O = self.Options
        short = max(2, min(len(p) for p in self.prompts) // 2)
        cases = {
            "step cache": O(cache="step"),
            "step cache, 4 positions per step": O(cache="step", cache_step=4),
            "pipelined decoding": O(pipeline=True),
            "compiled element-wise functions": O(compile=True),
            "fused projections": O(fuse=True),
            "shared rotary tables": O(rope_tables=True),
            "chunked prefill": O(prefill_chunk=short),
            "all at once": O(cache="step", cache_step=8, pipeline=True, compile=True, fuse=True, rope_tables=True, prefill_chunk=short),
        }
        if self.windowed:
            cases["rotating window"] = O(rotating=True)
            cases["rotating window, chunked prefill"] = O(rotating=True, prefill_chunk=short, pipeline=True)
        return cases

    def test_exact_switches_keep_the_tokens(self):
        for name, o in self.exact().items():
            for p, (want, want_logits) in zip(self.prompts, self.base):
                with self.subTest(switch=name, prompt_tokens=len(p)):
                    got, logits = self.decode(o, p)
                    self.assertEqual(got, want)
                    self.assertGreaterEqual(cosine(logits, want_logits), LOGITS_COSINE)
        # The serving loop (no logits kept) yields the same tokens.
        from ..generate import stream

        o = self.exact()["all at once"]
        for p, (want, _) in zip(self.prompts, self.base):
            self.assertEqual(list(stream(self.model, p, NEW_TOKENS, options=o)), want)

    def test_shared_rotary_tables_are_mx_fast_rope_on_a_cpu(self):
        """On a CPU, MLX's rope is a composition of operations; the shared
        tables repeat its multiplications, so the logits are equal."""
        if self.mx.default_device() != self.mx.cpu:
            self.skipTest("on a GPU mx.fast.rope is one kernel: the switch is judged by its tokens")
        for p, (want, want_logits) in zip(self.prompts, self.base):
            got, logits = self.decode(self.Options(rope_tables=True), p)
            self.assertEqual(got, want)
            np.testing.assert_array_equal(logits, want_logits)

    def test_fused_projections_hold_one_copy_of_the_weights(self):
        """Fusing concatenates once and re-points the separate weights at
        views of the concatenation: memory does not grow."""
        import gc

        from .. import load

        mx = self.mx
        model, _ = load(os.environ["MLXPORT_WEIGHTS"])
        gc.collect()
        before = mx.get_active_memory()
        model.configure(self.Options(fuse=True))
        gc.collect()
        after = mx.get_active_memory()
        fused = [m for _, m in model.named_modules() if getattr(m, "fuse", False)]
        self.assertTrue(fused, "no projections were fused")
        self.assertLessEqual(after - before, 0.02 * before + (1 << 20), (before, after))
        del model
        gc.collect()

    def test_batch_rows_decode_as_alone(self):
        from ..generate import batch_greedy

        for o in (self.Options(), self.Options(cache="step", prefill_chunk=4)):
            with self.subTest(options=o):
                got = batch_greedy(self.model, self.prompts, NEW_TOKENS, options=o)
                self.assertEqual(got, [want for want, _ in self.base])

    def test_speculative_decoding_gives_the_models_tokens(self):
        from ..generate import speculative_greedy

        O = self.Options
        # A draft that disagrees at times: the model with a 4-bit KV cache
        # (or, where no group size divides the head, a 2-token draft of itself).
        groups = [g for g in (64, 32) if self.model.model.layers[0].self_attn.head_dim % g == 0]
        lossy = O(kv_bits=4, kv_group_size=groups[0]) if groups else O(cache="step", compile=True)
        for draft_options, k in ((O(), 3), (lossy, 4)):
            for p, (want, _) in zip(self.prompts, self.base):
                with self.subTest(draft=draft_options, prompt_tokens=len(p)):
                    got, stats = speculative_greedy(self.model, self.model, p, NEW_TOKENS, k, options=O(cache="step"), draft_options=draft_options)
                    self.assertEqual(got, want)
                    self.assertLessEqual(stats["accepted"], stats["proposed"])
                    if draft_options == O():
                        self.assertEqual(stats["accepted"], stats["proposed"], "a draft equal to the model is always accepted")

    def test_quantized_cache_is_attention_over_mlx_dequantized_keys(self):
        """The lossy switch's error is the quality gate's to judge; here its
        arithmetic is checked: attending over the packed cache must equal
        attending over keys and values quantized and dequantized by MLX."""
        from ..cache import KVCache, make_cache
        from ..generate import greedy_from, prefill

        mx = self.mx
        head = self.model.model.layers[0].self_attn.head_dim
        groups = [g for g in (64, 32) if head % g == 0]
        if not groups:
            with self.assertRaises(ValueError):
                self.decode(self.Options(kv_bits=8, kv_group_size=32), self.prompts[0])
            return

        class Dequantized(KVCache):
            def __init__(self, bits, group):
                super().__init__()
                self.q = dict(bits=bits, group_size=group)

            def update(self, k, v):
                rt = lambda x: mx.dequantize(*mx.quantize(x, **self.q), **self.q)  # noqa: E731
                return super().update(rt(k), rt(v))

        self.model.configure(self.Options())
        for bits in (8, 4):
            o = self.Options(kv_bits=bits, kv_group_size=groups[0])
            for p in self.prompts:
                with self.subTest(kv_bits=bits, prompt_tokens=len(p)):
                    runs = []
                    for cache in (make_cache(self.model, o), [Dequantized(bits, groups[0]) for _ in self.model.model.layers]):
                        last = prefill(self.model, cache, p)[-1]
                        tokens, logits = greedy_from(self.model, cache, last, NEW_TOKENS)
                        runs.append((tokens, np.array(logits.astype(mx.float32))))
                    self.assertEqual(runs[0][0], runs[1][0])
                    self.assertGreaterEqual(cosine(runs[0][1], runs[1][1]), LOGITS_COSINE)

    def test_options_refuse_what_is_not_implemented(self):
        O = self.Options
        for bad in ({"cache": "paged"}, {"kv_bits": 3}, {"kv_bits": 4, "rotating": True}, {"prefill_chunk": 0}, {"cache_step": 0}):
            with self.subTest(options=bad), self.assertRaises(ValueError):
                O(**bad)
        with self.assertRaises(ValueError):
            O.from_dict({"compiled": True})
