"""The decoder caches of {{PACKAGE}}: one LayerCache per decoder block.

Self-attention keys and values grow by one position per decoded token
([batch, heads, positions, head_dim]; `offset` is the number of positions
cached, which is also the position of the next token). Cross-attention
keys and values are computed from the encoder output once, on the first
step, and reused unchanged afterwards.
"""

import mlx.core as mx


class LayerCache:
    def __init__(self):
        self.keys = None
        self.values = None
        self.offset = 0
        self.cross_keys = None
        self.cross_values = None
        self.cross_computed = 0

    def update(self, keys: mx.array, values: mx.array):
        """Append this step's self-attention keys/values; return all so far."""
        assert keys.ndim == 4 and keys.shape == values.shape, (keys.shape, values.shape)
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            assert keys.shape[:2] == self.keys.shape[:2] and keys.shape[3] == self.keys.shape[3]
            self.keys = mx.concatenate([self.keys, keys], axis=2)
            self.values = mx.concatenate([self.values, values], axis=2)
        self.offset += keys.shape[2]
        return self.keys, self.values

    def cross(self, compute):
        """Cross-attention keys/values: `compute()` on the first call only."""
        if self.cross_keys is None:
            self.cross_keys, self.cross_values = compute()
            self.cross_computed += 1
        return self.cross_keys, self.cross_values


def make_cache(num_layers: int):
    return [LayerCache() for _ in range(num_layers)]
