"""Generation for {{PACKAGE}}: the prompt with its images prefilled into the
decoder's KV cache in one call, then the decoder's own greedy decoding
(`language.generate`), as a list (`greedy`) or a stream (`stream`); and
the full recomputation the cache must agree with. `options` are the
decoder's serving switches (`language.options.Options`; None: its
defaults)."""

from typing import List, Optional, Tuple

import mlx.core as mx

from .language.cache import make_cache
from .language.generate import decode_steps, greedy_from
from .language.options import Options


def prefill(model, cache, input_ids: List[int], pixel_values: Optional[mx.array]) -> mx.array:
    """The prompt (image tokens expanded) into `cache`; the logits after its
    last position [vocab]."""
    logits = model(mx.array([input_ids]), pixel_values, cache=cache, last_only=True)
    mx.eval(logits, [c.arrays() for c in cache])
    return logits[0, -1]


def greedy(model, input_ids: List[int], pixel_values: Optional[mx.array], max_new_tokens: int, eos_token_id=None, options: Optional[Options] = None) -> Tuple[List[int], mx.array]:
    """(new tokens, logits of each step [n, vocab])."""
    o = Options.defaults() if options is None else options
    lm = model.language_model
    lm.configure(o)
    cache = make_cache(lm, o)
    last = prefill(model, cache, input_ids, pixel_values)
    return greedy_from(lm, cache, last, max_new_tokens, eos_token_id, o.pipeline)


def stream(model, input_ids: List[int], pixel_values: Optional[mx.array], max_new_tokens: int, eos_token_id=None, options: Optional[Options] = None):
    """Yields the new tokens one at a time (the serving loop: the decoder's
    switches in `options`, e.g. pipelined decoding)."""
    o = Options.defaults() if options is None else options
    lm = model.language_model
    lm.configure(o)
    cache = make_cache(lm, o)
    last = prefill(model, cache, input_ids, pixel_values)
    for token, _logits in decode_steps(lm, cache, last, max_new_tokens, eos_token_id, o.pipeline):
        yield token


def recompute(model, input_ids: List[int], pixel_values: Optional[mx.array], new: List[int]) -> mx.array:
    """Logits at the positions that produced `new`, in one pass, no cache:
    the prompt's embeddings with its images merged, then the new tokens'
    own (a new token equal to the image token is text, as in the cache)."""
    prompt = mx.array([input_ids])
    embeds = model.language_model.model.embed_tokens(prompt) if pixel_values is None else model.merge(prompt, model.image_features(pixel_values))
    ids = mx.array([input_ids + new[:-1]])
    embeds = mx.concatenate([embeds, model.language_model.model.embed_tokens(ids[:, len(input_ids):])], axis=1)
    logits = model.language_model(ids, embeds=embeds)
    return logits[0, len(input_ids) - 1:]
