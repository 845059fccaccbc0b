"""Shared by the harness's Python steps (embedded in the mlxport binary).

Each step is run by ``mlxport`` as a subprocess with a controlled
environment. This module gives every step the same rules:

* no network: with ``MLXPORT_NO_NETWORK=1`` every socket connection that is
  not a local (unix) socket is refused, on top of the Hugging Face offline
  variables the harness sets;
* determinism: seeds, thread counts;
* the result protocol: tensors to one ``.npz``, and beside it a manifest
  (``NAME.manifest.json``, schema ``mlxport.capture/v1``) listing every
  tensor in ladder order with dtype, shape, rung and the SHA-256 of its
  little-endian C-order bytes. Both files are written to temporary names and
  renamed into place, so a crash never leaves a result that looks complete.
"""

import hashlib
import json
import os
import platform
import socket
import sys
import tempfile
import time

SCHEMA = "mlxport.capture/v1"


def _guard_network():
    if os.environ.get("MLXPORT_NO_NETWORK") != "1":
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(self, address, real):
        if getattr(socket, "AF_UNIX", None) is not None and self.family == socket.AF_UNIX:
            return real(self, address)
        raise OSError(f"mlxport: network access is disabled in this step (tried {address!r})")

    socket.socket.connect = lambda self, address: refuse(self, address, real_connect)
    socket.socket.connect_ex = lambda self, address: refuse(self, address, real_connect_ex)


_guard_network()


def log(msg):
    print(f"[mlxport] {msg}", file=sys.stderr, flush=True)


def fail(msg, code=2):
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def block_list(torch, module, length=None):
    """The shallowest ModuleList of identical blocks under `module` (of
    exactly `length` blocks when given), as (name, list); None if none."""
    found = []
    for name, mod in module.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) > 0 and (length is None or len(mod) == length):
            if len({type(m) for m in mod}) == 1:
                found.append((name.count("."), name, mod))
    if not found:
        return None
    found.sort(key=lambda x: x[0])
    return found[0][1], found[0][2]


def block_input_hook(store, name):
    """A forward pre-hook (``with_kwargs=True``) that keeps the hidden
    state a block is called with: its first positional argument, or its
    ``hidden_states`` keyword."""

    def fn(_m, args, kwargs):
        x = args[0] if args else kwargs.get("hidden_states")
        if x is not None:
            store[name] = x.detach()

    return fn


def add_block_inputs(res, inputs, blocks, before, mask):
    """Name, for each block, the tensor holding the source's input to it,
    which the isolated rung feeds to the target's block: the previous
    ladder tensor (``before`` for the first block, then the previous
    block's output) when the input equals it exactly, else the input
    itself, stored as ``block_inputs.<block>``. ``inputs`` maps block
    names to their (masked) inputs. Returns {} when a block was not called
    with a hidden state (no isolated rung then)."""
    import numpy as np

    stored = {name: a for name, a, _ in res.items}
    out = {}
    prev = before
    for b in blocks:
        x = inputs.get(b)
        if x is None:
            return {}
        x = np.asarray(x, dtype=np.float32)
        if prev in stored and stored[prev].shape == x.shape and np.array_equal(stored[prev], x):
            out[b] = prev
        else:
            res.add("block_inputs." + b, x, mask=mask)
            out[b] = "block_inputs." + b
        prev = b
    return out


# Rung 8, the edges: batch sizes, and the cap on the long input's length.
EDGE_BATCHES = (1, 3, 8)
EDGE_LONG_TOKENS = 1024
# Greedy tokens decoded after the long prompt (decoders).
EDGE_LONG_GENERATE = 4
# A decoder's long input is prefilled into the KV cache in pieces of at most
# this many tokens (and in at least EDGE_LONG_PIECES pieces, the last one
# shorter), so its memory is bounded by the piece rather than the prompt.
EDGE_LONG_CHUNK = 512
EDGE_LONG_PIECES = 3


def long_chunk(n_long, chunk=None):
    """The prefill chunk of a decoder's long input of n_long tokens: the
    given size, else at most EDGE_LONG_CHUNK tokens and small enough for
    EDGE_LONG_PIECES pieces, the last one ragged where it can be."""
    if chunk:
        return int(chunk)
    return max(1, min(EDGE_LONG_CHUNK, n_long // EDGE_LONG_PIECES + 1))


def chunks(ids, size):
    """`ids` in consecutive pieces of `size` (the last one shorter)."""
    return [ids[s : s + size] for s in range(0, len(ids), size)]


def edge_cases(seqs, max_pos, special_ids, decoder, long_cap=None, chunk=None):
    """The boundary cases of rung 8, as token id sequences built from the
    main inputs' tokens (deterministic: the same inputs give the same
    cases). Returns {case: {"token_ids": [...], ...}} with

    * ``batch1``, ``batch3``, ``batch8``: right-padded batches of rows of very
      different lengths (1 token up to the longest input);
    * ``long``: one sequence near the configuration's maximum positions
      (capped at ``long_cap`` tokens, default ``EDGE_LONG_TOKENS``); a
      decoder prefills it into its KV cache in pieces of ``chunk`` tokens
      (see ``long_chunk``) and then decodes greedily with the cache;
    * ``one_token``: a single token;
    * ``special_only``: the tokenizer's special tokens for an empty text (or
      its BOS / EOS token), when it has any.
    """
    pool = [t for s in seqs for t in s]
    longest = max(len(s) for s in seqs)
    lengths = [13, 1, max(34, longest), 2, 21, 3, 8, 5]

    def row(k, n):
        return [pool[(k * 7 + i) % len(pool)] for i in range(n)]

    rows = [row(k, n) for k, n in enumerate(lengths)]
    cases = {
        "batch1": {"token_ids": [rows[2]]},
        "batch3": {"token_ids": [rows[1], rows[6], rows[2]]},
        "batch8": {"token_ids": rows},
    }
    cap = long_cap or EDGE_LONG_TOKENS
    gen = EDGE_LONG_GENERATE if decoder else 0
    limit = (max_pos or cap) - 2 - gen
    n_long = min(cap, limit)
    if n_long > max(lengths):
        cases["long"] = {"token_ids": [row(5, n_long)], "generate": gen, "max_positions": max_pos, "cap": cap}
        if decoder:
            cases["long"]["chunk"] = long_chunk(n_long, chunk)
    cases["one_token"] = {"token_ids": [[pool[0]]]}
    if special_ids:
        cases["special_only"] = {"token_ids": [list(special_ids)]}
    return cases


def max_positions(config):
    """The configuration's maximum positions (None for relative positions)."""
    for k in ("max_position_embeddings", "n_positions", "n_ctx"):
        v = getattr(config, k, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def special_only_ids(tok, config):
    """The ids of an empty text with the special tokens added, else the
    BOS or EOS token alone; None when the model has no special token inside
    its vocabulary (a config may name ids its embedding does not have)."""
    vocab = getattr(config, "vocab_size", None)

    def valid(ids):
        return ids and all(isinstance(i, int) and 0 <= i < (vocab or i + 1) for i in ids)

    if tok is not None:
        try:
            ids = [int(i) for i in tok("", add_special_tokens=True)["input_ids"]]
        except Exception:  # a tokenizer that refuses empty text
            ids = []
        if valid(ids):
            return ids
        for t in (tok.bos_token_id, tok.eos_token_id):
            if t is not None and valid([int(t)]):
                return [int(t)]
    for k in ("bos_token_id", "eos_token_id"):
        v = getattr(config, k, None)
        if valid([v]):
            return [v]
    return None


def padded(seqs, pad):
    """(ids [B, T], mask [B, T]) of right-padded sequences."""
    import numpy as np

    T = max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), pad, dtype=np.int64)
    mask = np.zeros((len(seqs), T), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    return ids, mask


def last_positions(x, mask):
    """x [B, T, ...] at each row's last real position -> [B, ...]."""
    import numpy as np

    idx = mask.sum(1) - 1
    return np.stack([x[b, idx[b]] for b in range(x.shape[0])])


def input_sequences(spec, tok):
    """The token id sequences of an inputs spec: its `token_ids`, or its
    `texts` tokenized (`add_special_tokens`, default true; `max_length`
    truncates). Returns (sequences, add_special, max_length)."""
    add_special = spec.get("add_special_tokens", True)
    max_length = spec.get("max_length")
    if spec.get("token_ids"):
        seqs = [list(map(int, s)) for s in spec["token_ids"]]
    elif spec.get("texts"):
        if tok is None:
            fail("inputs: 'texts' need the model's tokenizer, and it has none; give 'token_ids'")
        enc = tok(spec["texts"], add_special_tokens=add_special, truncation=max_length is not None, max_length=max_length)
        seqs = [list(s) for s in enc["input_ids"]]
    else:
        fail("inputs: give 'texts' or 'token_ids'")
    if any(len(s) == 0 for s in seqs):
        fail("inputs: an empty sequence")
    return seqs, add_special, max_length


def threads():
    t = os.environ.get("MLXPORT_THREADS")
    return int(t) if t else None


def library_versions(names):
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    return out


def sha256_of(a):
    import numpy as np

    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return hashlib.sha256(a.tobytes()).hexdigest()


def rung_of(name):
    head = name.split(".", 1)[0]
    return head


class Results:
    """Tensors in the order they are added (the ladder order)."""

    def __init__(self):
        self.items = []
        self.names = set()

    def add(self, name, array, mask=None):
        import numpy as np

        if name in self.names:
            raise ValueError(f"tensor {name!r} added twice")
        a = np.asarray(array)
        if a.dtype.kind == "f":
            a = a.astype(np.float32)
        elif a.dtype.kind in "iub":
            a = a.astype(np.int32)
        self.names.add(name)
        self.items.append((name, np.ascontiguousarray(a), mask))

    def write(self, out_npz, manifest):
        import numpy as np

        out_npz = os.path.abspath(out_npz)
        d = os.path.dirname(out_npz)
        os.makedirs(d, exist_ok=True)
        stem = os.path.basename(out_npz)
        if stem.endswith(".npz"):
            stem = stem[:-4]
        man_path = os.path.join(d, stem + ".manifest.json")
        entries = []
        for name, a, mask in self.items:
            e = {"name": name, "dtype": str(a.dtype), "shape": list(a.shape), "sha256": sha256_of(a), "rung": rung_of(name)}
            if mask:
                e["mask"] = mask
            entries.append(e)
        manifest = dict(manifest)
        manifest["schema"] = SCHEMA
        manifest["tensors_file"] = os.path.basename(out_npz)
        manifest["tensors"] = entries
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=d)
        os.close(fd)
        try:
            np.savez(tmp, **{name: a for name, a, _ in self.items})
            fdm, tmpm = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=d)
            with os.fdopen(fdm, "w") as f:
                json.dump(manifest, f, indent=1)
                f.write("\n")
            os.replace(tmp, out_npz)
            os.replace(tmpm, man_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return man_path


def read_json(path):
    with open(path) as f:
        return json.load(f)


class Timer:
    def __init__(self):
        self.t0 = time.time()

    def elapsed(self):
        return round(time.time() - self.t0, 3)


def import_package(pkg_dir):
    """(name, module) of a scaffolded package directory, importable by its
    own name (its parent goes first on sys.path)."""
    import importlib

    pkg_dir = os.path.abspath(pkg_dir)
    sys.path.insert(0, os.path.dirname(pkg_dir))
    name = os.path.basename(pkg_dir)
    return name, importlib.import_module(name)


def write_json(path, doc, indent=None):
    """Write `doc` as JSON to `path` through a temporary file renamed into
    place, so a reader never sees half a document."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=indent)
    os.replace(tmp, path)


def package_family(pkg_dir):
    """(name, module, family) of a scaffolded package: family is its
    capture module's FAMILY ("decoder", "encoder", "encoder-decoder")."""
    import importlib

    name, pkg = import_package(pkg_dir)
    return name, pkg, getattr(importlib.import_module(name + ".capture"), "FAMILY", "unknown")


def decoder_package(pkg_dir, what, options_json=None, flag="--options"):
    """(name, module, options) of a scaffolded decoder package: refused,
    naming `what` needs it, when the package is of another family;
    `options_json` parsed by the package's own Options (None: its
    defaults)."""
    import importlib

    name, pkg, family = package_family(pkg_dir)
    if family != "decoder":
        fail(f"{what} needs a decoder package; {name} is a {family} package")
    Options = importlib.import_module(name + ".options").Options
    try:
        options = Options.from_dict(json.loads(options_json), flag) if options_json else Options.defaults()
    except (ValueError, TypeError) as e:
        fail(f"{name}: {e}")
    return name, pkg, options


def vocab_of(model):
    """The vocabulary size of an MLX model's token embedding."""
    import mlx.nn as nn

    for _n, m in model.named_modules():
        # A quantized embedding (nn.QuantizedEmbedding) is not an nn.Embedding.
        if isinstance(m, nn.QuantizedEmbedding):
            return int(m.num_embeddings)
        if isinstance(m, nn.Embedding):
            return int(m.weight.shape[0])
    fail("the model has no token embedding to draw prompt ids from")


def file_sha256(path):
    """SHA-256 of a file, read in 1 MiB pieces."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def interleaved(sides, runs, warmup, one):
    """Benchmark passes of several sides in one process: `warmup` untimed
    calls of `one(side)` each, then `runs` timed rounds, the order of the
    sides alternating from round to round so that round i of each saw the
    same machine. `one(side)` returns (seconds, output, peak bytes).
    Returns per side: the seconds of every round, the largest peak and the
    last output."""
    for s in sides:
        for _ in range(warmup):
            one(s)
    seconds = [[] for _ in sides]
    peaks = [0 for _ in sides]
    outs = [None for _ in sides]
    for i in range(runs):
        order = list(range(len(sides)))
        if i % 2:
            order.reverse()
        for k in order:
            t, o, p = one(sides[k])
            seconds[k].append(t)
            peaks[k] = max(peaks[k], p)
            outs[k] = o
    return seconds, peaks, outs
