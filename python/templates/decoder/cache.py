"""The explicit KV caches of {{PACKAGE}}: one per block, chosen by `Options`.

Keys and values are [batch, kv_heads, positions, head_dim]; `offset` is
the number of positions already cached, which is also the RoPE position
of the next token. Every cache's `update(keys, values)` stores this call's
keys and values and returns the ones the call attends to; `first_position(L)`
says which position the first of those has (for the mask), or None when a
single new token sees every key returned (a full ring buffer, whose order
is not temporal).

- `KVCache`: grows by concatenation (the first port, proven by the ladder);
- `StepKVCache`: buffers pre-allocated `step` positions at a time, written
  in place (no copy of the whole cache per token);
- `RotatingKVCache`: a sliding-window block's last `window` positions in a
  ring buffer;
- `QuantizedKVCache`: `StepKVCache` with keys and values stored quantized
  (`mx.quantize`, affine, packed uint32 + scales + biases per group);
  `update` returns the (packed, scales, biases) triples.

`trim(n)` drops the last n positions (speculative decoding rejects draft
tokens this way); a ring buffer that has wrapped cannot be trimmed.
"""

from typing import Optional

import mlx.core as mx


class KVCache:
    quantized = None

    def __init__(self):
        self.keys = None
        self.values = None
        self.offset = 0

    def first_position(self, L: int) -> Optional[int]:
        return 0

    def update(self, keys: mx.array, values: mx.array):
        """Append this call's keys/values; return everything cached so far."""
        assert keys.ndim == 4 and keys.shape[:3] == values.shape[:3], (keys.shape, values.shape)
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            assert keys.shape[:2] == self.keys.shape[:2] and keys.shape[3] == self.keys.shape[3]
            self.keys = mx.concatenate([self.keys, keys], axis=2)
            self.values = mx.concatenate([self.values, values], axis=2)
        self.offset += keys.shape[2]
        return self.keys, self.values

    def can_trim(self, n: int) -> bool:
        return True

    def trim(self, n: int) -> None:
        n = min(n, self.offset)
        self.offset -= n
        if self.keys is not None:
            self.keys = self.keys[..., : self.offset, :]
            self.values = self.values[..., : self.offset, :]

    def arrays(self) -> list:
        return [] if self.keys is None else [self.keys, self.values]


class StepKVCache(KVCache):
    def __init__(self, step: int = 256):
        super().__init__()
        self.step = step

    def _grow(self, B, H, n, kd, vd, kdt, vdt):
        prev = self.offset
        if self.keys is not None and prev + n <= self.keys.shape[2]:
            return
        size = ((prev + n + self.step - 1) // self.step) * self.step
        new_k = mx.zeros((B, H, size, kd), kdt)
        new_v = mx.zeros((B, H, size, vd), vdt)
        if self.keys is not None and prev:
            new_k[..., :prev, :] = self.keys[..., :prev, :]
            new_v[..., :prev, :] = self.values[..., :prev, :]
        self.keys, self.values = new_k, new_v

    def update(self, keys: mx.array, values: mx.array):
        assert keys.ndim == 4 and keys.shape[:3] == values.shape[:3], (keys.shape, values.shape)
        B, H, n, kd = keys.shape
        self._grow(B, H, n, kd, values.shape[3], keys.dtype, values.dtype)
        prev = self.offset
        self.offset += n
        self.keys[..., prev : self.offset, :] = keys
        self.values[..., prev : self.offset, :] = values
        return self.keys[..., : self.offset, :], self.values[..., : self.offset, :]

    def trim(self, n: int) -> None:
        # The buffer keeps its size; positions past the offset are rewritten.
        self.offset -= min(n, self.offset)


class RotatingKVCache(KVCache):
    """The last `window` positions of a sliding-window block. A query at
    position p sees keys p - window < k <= p, so `window` positions are all
    any later query needs. Once full, position p sits in slot p % window."""

    def __init__(self, window: int):
        super().__init__()
        assert window >= 1, window
        self.window = window

    def _full(self) -> bool:
        return self.keys is not None and self.keys.shape[2] == self.window

    def first_position(self, L: int) -> Optional[int]:
        if L == 1 and self._full():
            return None
        return max(0, self.offset - self.window)

    def _temporal(self, x: mx.array) -> mx.array:
        # Stored positions max(0, offset - window) .. offset - 1, oldest first.
        if x.shape[2] < self.window or self.offset % self.window == 0:
            return x
        return mx.roll(x, -(self.offset % self.window), axis=2)

    def update(self, keys: mx.array, values: mx.array):
        assert keys.ndim == 4 and keys.shape[:3] == values.shape[:3], (keys.shape, values.shape)
        L = keys.shape[2]
        if L == 1 and self._full():
            # The slot of the position `window` back, which no query sees again.
            s = self.offset % self.window
            self.keys[..., s : s + 1, :] = keys
            self.values[..., s : s + 1, :] = values
            self.offset += 1
            return self.keys, self.values
        if self.keys is None:
            all_k, all_v = keys, values
        else:
            all_k = mx.concatenate([self._temporal(self.keys), keys], axis=2)
            all_v = mx.concatenate([self._temporal(self.values), values], axis=2)
        self.offset += L
        keep_k, keep_v = all_k[..., -self.window :, :], all_v[..., -self.window :, :]
        if keep_k.shape[2] == self.window:
            shift = (self.offset - self.window) % self.window
            if shift:
                keep_k, keep_v = mx.roll(keep_k, shift, axis=2), mx.roll(keep_v, shift, axis=2)
            # A copy of its own, so writing a slot never touches `all_k`.
            keep_k, keep_v = mx.array(keep_k), mx.array(keep_v)
        self.keys, self.values = keep_k, keep_v
        return all_k, all_v

    def can_trim(self, n: int) -> bool:
        return n == 0 or self.offset <= self.window

    def trim(self, n: int) -> None:
        if not self.can_trim(n):
            raise ValueError("a rotating cache that has wrapped cannot be trimmed (speculative decoding needs rotating=False)")
        super().trim(n)


class QuantizedKVCache(StepKVCache):
    def __init__(self, bits: int, group_size: int, step: int = 256):
        super().__init__(step)
        self.quantized = (bits, group_size)

    def update(self, keys: mx.array, values: mx.array):
        assert keys.ndim == 4 and keys.shape[:3] == values.shape[:3], (keys.shape, values.shape)
        bits, group = self.quantized
        B, H, n, kd = keys.shape
        vd = values.shape[3]
        for d in (kd, vd):
            if d % group:
                raise ValueError(f"a quantized KV cache with groups of {group} needs head dimensions divisible by it (got {d})")
        qk = mx.quantize(keys, group_size=group, bits=bits)
        qv = mx.quantize(values, group_size=group, bits=bits)
        prev = self.offset
        if self.keys is None or prev + n > self.keys[0].shape[2]:
            size = ((prev + n + self.step - 1) // self.step) * self.step

            def grown(old, new):
                out = tuple(mx.zeros((B, H, size, a.shape[3]), a.dtype) for a in new)
                if old is not None and prev:
                    for o, a in zip(out, old):
                        o[..., :prev, :] = a[..., :prev, :]
                return out

            self.keys, self.values = grown(self.keys, qk), grown(self.values, qv)
        self.offset += n
        for buf, new in ((self.keys, qk), (self.values, qv)):
            for b, a in zip(buf, new):
                b[..., prev : self.offset, :] = a
        cut = lambda t: tuple(a[..., : self.offset, :] for a in t)  # noqa: E731
        return cut(self.keys), cut(self.values)

    def arrays(self) -> list:
        return [] if self.keys is None else [*self.keys, *self.values]


def make_cache(model, options=None) -> list:
    """One cache per block of `model`, as `options` (an `Options`; None: the
    first port's concatenating cache) asks."""
    from .options import Options

    o = options or Options()
    caches = []
    for layer in model.model.layers:
        if o.rotating and layer.window is not None:
            caches.append(RotatingKVCache(layer.window))
        elif o.kv_bits is not None:
            caches.append(QuantizedKVCache(o.kv_bits, o.kv_group_size, o.cache_step))
        elif o.cache == "step":
            caches.append(StepKVCache(o.cache_step))
        else:
            caches.append(KVCache())
    return caches
