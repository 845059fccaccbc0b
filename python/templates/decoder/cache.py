"""The explicit KV cache of {{PACKAGE}}: one KVCache per block.

Keys and values are kept as [batch, kv_heads, positions, head_dim]; `offset`
is the number of positions already cached, which is also the RoPE position
of the next token.
"""

import mlx.core as mx


class KVCache:
    def __init__(self):
        self.keys = None
        self.values = None
        self.offset = 0

    def update(self, keys: mx.array, values: mx.array):
        """Append this step's keys/values; return everything cached so far."""
        assert keys.ndim == 4 and keys.shape == values.shape, (keys.shape, values.shape)
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            assert keys.shape[:2] == self.keys.shape[:2] and keys.shape[3] == self.keys.shape[3]
            self.keys = mx.concatenate([self.keys, keys], axis=2)
            self.values = mx.concatenate([self.values, values], axis=2)
        self.offset += keys.shape[2]
        return self.keys, self.values


def make_cache(num_layers: int):
    return [KVCache() for _ in range(num_layers)]
