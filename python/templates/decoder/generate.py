"""Greedy generation for {{PACKAGE}} with the explicit KV cache, and the
full recomputation the cache must agree with."""

from typing import List, Optional, Tuple

import mlx.core as mx

from .cache import make_cache


def prefill(model, cache, prompt: List[int], chunk: Optional[int] = None) -> mx.array:
    """Runs the prompt into `cache`, `chunk` tokens per call (None: one
    call), each call evaluated before the next so memory is bounded by the
    chunk rather than the prompt. Returns the logits at the last position
    of every call [calls, vocab]; the last row predicts the next token."""
    step = chunk or len(prompt)
    ends = []
    for s in range(0, len(prompt), step):
        logits = model(mx.array([prompt[s : s + step]]), cache=cache)
        ends.append(logits[0, -1])
        mx.eval(ends[-1], [(c.keys, c.values) for c in cache])
    assert cache[0].offset == len(prompt), (cache[0].offset, len(prompt))
    return mx.stack(ends)


def greedy_from(model, cache, last: mx.array, max_new_tokens: int, eos_token_id=None) -> Tuple[List[int], mx.array]:
    """(new tokens, logits of each step [n, vocab]) decoded one token at a
    time from a filled cache, `last` being the logits after its last
    position."""
    start = cache[0].offset
    tokens, steps = [], []
    for i in range(max_new_tokens):
        steps.append(last)
        t = int(mx.argmax(last).item())
        tokens.append(t)
        if eos_token_id is not None and t == eos_token_id:
            break
        if i + 1 < max_new_tokens:
            last = model(mx.array([[t]]), cache=cache)[0, -1]
            assert cache[0].offset == start + len(tokens), (cache[0].offset, start, len(tokens))
    return tokens, mx.stack(steps)


def greedy(model, prompt: List[int], max_new_tokens: int, eos_token_id=None, prefill_chunk: Optional[int] = None) -> Tuple[List[int], mx.array]:
    """(new tokens, logits of each step [n, vocab]). Prefills the prompt
    (in one pass, or `prefill_chunk` tokens at a time), then decodes one
    token at a time from the cache."""
    cache = make_cache(len(model.model.layers))
    ends = prefill(model, cache, prompt, prefill_chunk)
    return greedy_from(model, cache, ends[-1], max_new_tokens, eos_token_id)


def recompute(model, prompt: List[int], new: List[int]) -> mx.array:
    """Logits at the positions that produced `new`, in one pass, no cache."""
    logits = model(mx.array([prompt + new[:-1]]))
    return logits[0, len(prompt) - 1:]
