"""Parity of {{PACKAGE}} against an mlxport oracle capture, with numpy alone.

    MLXPORT_ORACLE=oracle.npz MLXPORT_WEIGHTS=DIR python -m unittest {{PACKAGE}}.tests.test_parity

Skipped when the two variables are not set.
"""

import json
import os
import unittest

import numpy as np

ATOL = float(os.environ.get("MLXPORT_ATOL", "{{ATOL}}"))
COSINE = float(os.environ.get("MLXPORT_COSINE", "{{COSINE}}"))


def cosine(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    return float(a @ b / (na * nb))


@unittest.skipUnless(os.environ.get("MLXPORT_ORACLE") and os.environ.get("MLXPORT_WEIGHTS"), "set MLXPORT_ORACLE and MLXPORT_WEIGHTS")
class Parity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from .. import capture, load

        cls.capture = capture
        cls.oracle = dict(np.load(os.environ["MLXPORT_ORACLE"]))
        cls.model, cls.args = load(os.environ["MLXPORT_WEIGHTS"])

    def check(self, name, value, want, **where):
        with self.subTest(tensor=name, **where):
            self.assertEqual(value.shape, want.shape)
            err = float(np.abs(value - want).max())
            if not name.endswith("logits"):
                self.assertLessEqual(err, ATOL * max(1.0, float(np.abs(want).max())), name)
            self.assertGreaterEqual(cosine(value, want), COSINE, name)

    def test_every_rung(self):
        family = getattr(self.capture, "FAMILY", "")
        if family == "vision":  # the image batch in one call (the image side of a two-tower model)
            got = self.capture.forward(self.model, self.oracle["pixel_values"])
            for name, value in got.items():
                if name in self.oracle:
                    self.check(name, value, self.oracle[name])
            return
        ids, mask = self.oracle["inputs.input_ids"], self.oracle["inputs.attention_mask"]
        for b in range(ids.shape[0]):
            n = int(mask[b].sum())
            seq = [int(t) for t in ids[b, :n]]
            if family == "vision-language":  # each prompt with its image
                got = self.capture.forward(self.model, seq, self.oracle["pixel_values"][b : b + 1])
            elif "inputs.decoder_input_ids" in self.oracle:  # encoder-decoder: teacher-forced decoder inputs
                dec = [int(t) for t in self.oracle["inputs.decoder_input_ids"][b, :n]]
                got = self.capture.forward(self.model, seq, dec)
            else:
                got = self.capture.forward(self.model, seq)
            for name, value in got.items():
                if name not in self.oracle:
                    continue
                want = self.oracle[name][b : b + 1]
                # Per-token tensors of the prompt; an image's are whole.
                want = want[:, :n] if want.ndim == 3 and not name.startswith(("vision.", "image_features")) else want
                self.check(name, value, want, sequence=b)
