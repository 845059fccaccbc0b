"""Greedy generation for {{PACKAGE}}: encode once, then decode from
`decoder_start_token_id` one token at a time with the caches, and the full
recomputation the cached decoding must agree with."""

from typing import Iterator, List, Tuple

import mlx.core as mx

from .cache import make_cache


def greedy(model, input_ids: List[int], max_new_tokens: int, eos_token_id=None) -> Tuple[List[int], mx.array]:
    """(new tokens, logits of each step [n, vocab]). Pure argmax; stops at
    `eos_token_id` only when one is given."""
    enc = model.encode(mx.array([input_ids]))
    cache = make_cache(len(model.decoder_layers))
    tok = model.args.decoder_start_token_id
    tokens, steps = [], []
    for i in range(max_new_tokens):
        logits = model.decode(mx.array([[tok]]), enc, cache=cache)
        last = logits[0, -1]
        steps.append(last)
        tok = int(mx.argmax(last).item())
        tokens.append(tok)
        assert cache[0].offset == i + 1 and cache[0].cross_computed == 1, (cache[0].offset, cache[0].cross_computed)
        if eos_token_id is not None and tok == eos_token_id:
            break
    return tokens, mx.stack(steps)


def recompute(model, input_ids: List[int], new: List[int]) -> mx.array:
    """Logits at the positions that produced `new`, in one decoder pass, no cache."""
    return teacher_forced(model, input_ids, new)


def stream(model, input_ids: List[int], max_new_tokens: int, eos_token_id=None) -> Iterator[int]:
    """The serving loop: yields each new token as soon as it is known and
    keeps no logits (the tokens `greedy` returns)."""
    enc = model.encode(mx.array([input_ids]))
    cache = make_cache(len(model.decoder_layers))
    tok = model.args.decoder_start_token_id
    for _ in range(max_new_tokens):
        tok = int(mx.argmax(model.decode(mx.array([[tok]]), enc, cache=cache)[0, -1]).item())
        yield tok
        if eos_token_id is not None and tok == eos_token_id:
            return


def teacher_forced(model, source: List[int], target: List[int]) -> mx.array:
    """Logits [len(target), vocab] predicting each token of `target` given
    `source` on the encoder side and the target's earlier tokens on the
    decoder side (one pass, no cache)."""
    enc = model.encode(mx.array([source]))
    dec = [model.args.decoder_start_token_id] + target[:-1]
    return model.decode(mx.array([dec]), enc)[0]
