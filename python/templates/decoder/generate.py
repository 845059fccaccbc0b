"""Greedy generation for {{PACKAGE}} with the explicit KV cache, and the
full recomputation the cache must agree with."""

from typing import List, Tuple

import mlx.core as mx

from .cache import make_cache


def greedy(model, prompt: List[int], max_new_tokens: int, eos_token_id=None) -> Tuple[List[int], mx.array]:
    """(new tokens, logits of each step [n, vocab]). Prefills the prompt in
    one pass, then decodes one token at a time from the cache."""
    cache = make_cache(len(model.model.layers))
    logits = model(mx.array([prompt]), cache=cache)
    tokens, steps = [], []
    for i in range(max_new_tokens):
        last = logits[0, -1]
        steps.append(last)
        t = int(mx.argmax(last).item())
        tokens.append(t)
        if eos_token_id is not None and t == eos_token_id:
            break
        if i + 1 < max_new_tokens:
            logits = model(mx.array([[t]]), cache=cache)
            assert cache[0].offset == len(prompt) + len(tokens), (cache[0].offset, len(prompt), len(tokens))
    return tokens, mx.stack(steps)


def recompute(model, prompt: List[int], new: List[int]) -> mx.array:
    """Logits at the positions that produced `new`, in one pass, no cache."""
    logits = model(mx.array([prompt + new[:-1]]))
    return logits[0, len(prompt) - 1:]
