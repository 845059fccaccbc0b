"""Generation for {{PACKAGE}}: greedy decoding with the explicit KV cache,
the full recomputation the cache must agree with, left-padded batches and
speculative decoding with a draft model.

Every entry point takes `options` (`options.Options`); None means the
package's serving defaults (`Options.defaults()`). The parity ladder runs
`Options()`, the first port as proven.
"""

from typing import List, Optional, Tuple

import mlx.core as mx

from .cache import make_cache
from .options import Options


def _options(options: Optional[Options]) -> Options:
    return Options.defaults() if options is None else options


def prefill(model, cache, prompt: List[int], chunk: Optional[int] = None) -> mx.array:
    """Runs the prompt into `cache`, `chunk` tokens per call (None: one
    call), each call evaluated before the next so memory is bounded by the
    chunk rather than the prompt. Returns the logits at the last position
    of every call [calls, vocab]; the last row predicts the next token."""
    step = chunk or len(prompt)
    start = cache[0].offset
    ends = []
    for s in range(0, len(prompt), step):
        logits = model(mx.array([prompt[s : s + step]]), cache=cache, last_only=True)
        ends.append(logits[0, -1])
        mx.eval(ends[-1], [c.arrays() for c in cache])
    assert cache[0].offset == start + len(prompt), (cache[0].offset, start, len(prompt))
    return mx.stack(ends)


def decode_steps(model, cache, last: mx.array, max_new_tokens: int, eos_token_id=None, pipeline: bool = False):
    """Yields (token, logits that chose it) one step at a time from a
    filled cache, `last` being the logits after its last position. With
    `pipeline`, step n + 1 is queued (`mx.async_eval`) before the host
    reads token n, so graph building overlaps compute; the tokens are the
    same. Stops after `eos_token_id` or `max_new_tokens` tokens."""
    if not pipeline:
        for i in range(max_new_tokens):
            t = int(mx.argmax(last).item())
            yield t, last
            if (eos_token_id is not None and t == eos_token_id) or i + 1 == max_new_tokens:
                return
            last = model(mx.array([[t]]), cache=cache)[0, -1]
        return
    y = mx.argmax(last)
    mx.async_eval(y)
    for i in range(max_new_tokens):
        queued = i + 1 < max_new_tokens
        if queued:
            nxt = model(y.reshape(1, 1), cache=cache)[0, -1]
            ny = mx.argmax(nxt)
            mx.async_eval(ny)
        t = int(y.item())
        yield t, last
        if eos_token_id is not None and t == eos_token_id:
            if queued:
                # The step after the end of text was queued: drop it where
                # the cache can (a wrapped ring buffer keeps it; nothing
                # reads past the end).
                for c in cache:
                    if c.can_trim(1):
                        c.trim(1)
            return
        if queued:
            last, y = nxt, ny


def greedy_from(model, cache, last: mx.array, max_new_tokens: int, eos_token_id=None, pipeline: bool = False) -> Tuple[List[int], mx.array]:
    """(new tokens, logits of each step [n, vocab]) decoded one token at a
    time from a filled cache (see `decode_steps`)."""
    tokens, steps = [], []
    for t, logits in decode_steps(model, cache, last, max_new_tokens, eos_token_id, pipeline):
        tokens.append(t)
        steps.append(logits)
    return tokens, mx.stack(steps)


def stream(model, prompt: List[int], max_new_tokens: int, eos_token_id=None, options: Optional[Options] = None):
    """The serving loop: yields the greedy tokens one by one as the host
    gets them, keeping no logits."""
    o = _options(options)
    model.configure(o)
    cache = make_cache(model, o)
    last = prefill(model, cache, prompt, o.prefill_chunk)[-1]
    for t, _ in decode_steps(model, cache, last, max_new_tokens, eos_token_id, o.pipeline):
        yield t


def greedy(model, prompt: List[int], max_new_tokens: int, eos_token_id=None, prefill_chunk: Optional[int] = None, options: Optional[Options] = None) -> Tuple[List[int], mx.array]:
    """(new tokens, logits of each step [n, vocab]). Prefills the prompt
    (in one pass, or `prefill_chunk` tokens at a time; default the
    options'), then decodes one token at a time from the cache."""
    o = _options(options)
    model.configure(o)
    cache = make_cache(model, o)
    ends = prefill(model, cache, prompt, prefill_chunk or o.prefill_chunk)
    return greedy_from(model, cache, ends[-1], max_new_tokens, eos_token_id, o.pipeline)


def recompute(model, prompt: List[int], new: List[int]) -> mx.array:
    """Logits at the positions that produced `new`, in one pass, no cache."""
    logits = model(mx.array([prompt + new[:-1]]))
    return logits[0, len(prompt) - 1:]


def batch_greedy(model, prompts: List[List[int]], max_new_tokens: int, eos_token_id=None, options: Optional[Options] = None) -> List[List[int]]:
    """Greedy continuations of several prompts in one batch: the prompts
    are left-padded to the longest, each row's padding is masked and its
    positions start after it, so every row decodes as it would alone. A
    row stops at `eos_token_id` (the batch runs until all have stopped or
    `max_new_tokens`)."""
    o = _options(options)
    if o.rotating:
        raise ValueError("batched generation with a rotating cache is not implemented: use rotating=False")
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("batch_greedy needs at least one prompt and no empty prompt")
    model.configure(o)
    T = max(len(p) for p in prompts)
    pad = mx.array([T - len(p) for p in prompts])
    ids = [[0] * (T - len(p)) + list(p) for p in prompts]
    cache = make_cache(model, o)
    step = o.prefill_chunk or T
    for s in range(0, T, step):
        logits = model(mx.array([row[s : s + step] for row in ids]), cache=cache, pad=pad, last_only=True)[:, -1]
        mx.eval(logits, [c.arrays() for c in cache])
    out = [[] for _ in prompts]
    done = [False] * len(prompts)
    for i in range(max_new_tokens):
        y = mx.argmax(logits, axis=-1)
        for r, t in enumerate(y.tolist()):
            if not done[r]:
                out[r].append(t)
                done[r] = eos_token_id is not None and t == eos_token_id
        if all(done) or i + 1 == max_new_tokens:
            break
        logits = model(y[:, None], cache=cache, pad=pad)[:, -1]
    return out


def speculative_greedy(model, draft, prompt: List[int], max_new_tokens: int, draft_tokens: int = 4, eos_token_id=None, options: Optional[Options] = None, draft_options: Optional[Options] = None):
    """Greedy decoding of `model` sped up by a `draft` model with the same
    vocabulary: the draft proposes `draft_tokens` tokens, the model checks
    them in one call and keeps the longest prefix that agrees with its own
    greedy choice, plus its own next token. The output is the model's
    greedy decoding. Returns (tokens, stats): proposed and accepted draft
    tokens, model calls."""
    o = _options(options)
    do = o if draft_options is None else draft_options
    if o.rotating or do.rotating:
        raise ValueError("speculative decoding rejects draft tokens by trimming the cache: use rotating=False")
    if draft_tokens < 1:
        raise ValueError("draft_tokens must be at least 1")
    model.configure(o)
    draft.configure(do)
    tc, dc = make_cache(model, o), make_cache(draft, do)
    last = prefill(model, tc, prompt, o.prefill_chunk)[-1]
    prefill(draft, dc, prompt, do.prefill_chunk)
    t = int(mx.argmax(last).item())
    tokens = [t]
    proposed = accepted = calls = 0
    while len(tokens) < max_new_tokens and not (eos_token_id is not None and t == eos_token_id):
        k = min(draft_tokens, max_new_tokens - len(tokens))
        props, x = [], t
        for _ in range(k):
            dl = draft(mx.array([[x]]), cache=dc)[0, -1]
            x = int(mx.argmax(dl).item())
            props.append(x)
        # The model's greedy choice after t, p1, ..., pk.
        check = mx.argmax(model(mx.array([[t] + props]), cache=tc)[0], axis=-1).tolist()
        calls += 1
        a = 0
        while a < k and props[a] == check[a]:
            a += 1
        proposed += k
        accepted += a
        new = props[:a] + [check[a]]
        # The model cached t, p1..pk; keep t, p1..pa. The draft cached t, p1..p(k-1).
        for c in tc:
            c.trim(k - a)
        if a < k:
            for c in dc:
                c.trim(k - 1 - a)
        else:
            draft(mx.array([[props[-1]]]), cache=dc)
        for n in new:
            tokens.append(n)
            if (eos_token_id is not None and n == eos_token_id) or len(tokens) == max_new_tokens:
                break
        t = tokens[-1]
    stats = {"proposed": proposed, "accepted": accepted, "acceptance": accepted / proposed if proposed else None, "model_calls": calls + 1}
    return tokens[:max_new_tokens], stats
