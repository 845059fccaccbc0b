"""The {{PACKAGE}} model: a {{MODEL_TYPE}}-style encoder in MLX.

Absolute position embeddings, token types, post-norm blocks, an optional
pooler, and mean or CLS pooling for sentence embeddings. A first port,
written to be read: float weights, no compile, no custom kernels, shape
assertions around every non-trivial transform. Parameter names are the
Hugging Face names (`encoder.layer.N.attention.self.query.weight`, ...), so
converted weights load strictly.

`capture`, when given a dict, receives every ladder boundary under the
names the mlxport oracle uses: `embeddings`, `layers.N`,
`last_hidden_state`, `pooler_output`, `pooled`, `sentence_embedding`.
"""

from typing import Optional

import mlx.core as mx
import mlx.nn as nn

from .config import ModelArgs


def activation(name):
    return {"gelu": nn.gelu, "gelu_new": nn.gelu_approx, "gelu_pytorch_tanh": nn.gelu_approx, "relu": nn.relu}[name]


class Embeddings(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.word_embeddings = nn.Embedding(args.vocab_size, args.hidden_size)
        self.position_embeddings = nn.Embedding(args.max_position_embeddings, args.hidden_size)
        if args.type_vocab_size:
            self.token_type_embeddings = nn.Embedding(args.type_vocab_size, args.hidden_size)
        self.LayerNorm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps)
        self.position_offset = args.position_offset

    def __call__(self, input_ids: mx.array, token_type_ids: Optional[mx.array]) -> mx.array:
        B, L = input_ids.shape
        positions = mx.arange(L)[None, :] + self.position_offset
        h = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        if "token_type_embeddings" in self:
            if token_type_ids is None:
                token_type_ids = mx.zeros_like(input_ids)
            h = h + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(h)


class SelfAttention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        h = args.hidden_size
        self.n_heads = args.num_attention_heads
        assert h % self.n_heads == 0
        self.head_dim = h // self.n_heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        B, L, H = x.shape
        # [B, L, H] -> [B, heads, L, head_dim]
        q, k, v = (p(x).reshape(B, L, self.n_heads, self.head_dim).transpose(0, 2, 1, 3) for p in (self.query, self.key, self.value))
        assert q.shape == (B, self.n_heads, L, self.head_dim), q.shape
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.head_dim ** -0.5, mask=mask)
        assert out.shape == (B, self.n_heads, L, self.head_dim), out.shape
        return out.transpose(0, 2, 1, 3).reshape(B, L, H)


class AttentionOutput(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.dense = nn.Linear(args.hidden_size, args.hidden_size)
        self.LayerNorm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps)


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        setattr(self, "self", SelfAttention(args))
        self.output = AttentionOutput(args)

    def __call__(self, x, mask):
        a = self["self"](x, mask)
        # Post-norm: residual first, then LayerNorm.
        return self.output.LayerNorm(x + self.output.dense(a))


class Dense(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)


class FeedForwardOutput(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.dense = nn.Linear(args.intermediate_size, args.hidden_size)
        self.LayerNorm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps)


class Layer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.attention = Attention(args)
        self.intermediate = Dense(args.hidden_size, args.intermediate_size)
        self.output = FeedForwardOutput(args)
        self.act = activation(args.hidden_act)

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        h = self.attention(x, mask)
        f = self.output.dense(self.act(self.intermediate.dense(h)))
        return self.output.LayerNorm(h + f)


class Encoder(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.layer = [Layer(args) for _ in range(args.num_hidden_layers)]


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embeddings = Embeddings(args)
        self.encoder = Encoder(args)
        if args.has_pooler:
            self.pooler = Dense(args.hidden_size, args.hidden_size)

    def __call__(self, input_ids: mx.array, token_type_ids: Optional[mx.array] = None, attention_mask: Optional[mx.array] = None, capture: Optional[dict] = None) -> mx.array:
        """input_ids [B, L] -> last hidden state [B, L, H]. `attention_mask`
        [B, L] (1 = token, 0 = padding) is only needed for padded batches."""
        assert input_ids.ndim == 2, input_ids.shape
        B, L = input_ids.shape
        mask = None
        if attention_mask is not None:
            assert attention_mask.shape == (B, L), attention_mask.shape
            # Additive mask over keys: [B, 1, 1, L].
            mask = mx.where(attention_mask[:, None, None, :] > 0, 0.0, -1e9).astype(mx.float32)
        h = self.embeddings(input_ids, token_type_ids)
        _keep(capture, "embeddings", h)
        for i, layer in enumerate(self.encoder.layer):
            h = layer(h, mask)
            _keep(capture, f"layers.{i}", h)
        _keep(capture, "last_hidden_state", h)
        if capture is not None:
            if self.args.has_pooler:
                capture["pooler_output"] = mx.tanh(self.pooler.dense(h[:, 0]))
            pooled = self.pool(h, attention_mask)
            capture["pooled"] = pooled
            if self.args.normalize:
                capture["sentence_embedding"] = normalize(pooled)
        return h

    def pool(self, h: mx.array, attention_mask: Optional[mx.array] = None) -> mx.array:
        if self.args.pooling == "cls":
            return h[:, 0]
        if attention_mask is None:
            return h.mean(axis=1)
        m = attention_mask[:, :, None].astype(h.dtype)
        return (h * m).sum(axis=1) / mx.maximum(m.sum(axis=1), 1e-9)

    def sentence_embedding(self, input_ids: mx.array, attention_mask: Optional[mx.array] = None) -> mx.array:
        pooled = self.pool(self(input_ids, attention_mask=attention_mask), attention_mask)
        return normalize(pooled) if self.args.normalize else pooled


def normalize(x: mx.array) -> mx.array:
    # As torch.nn.functional.normalize: x / max(||x||, 1e-12).
    return x / mx.maximum(mx.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _keep(capture, name, x):
    if capture is not None:
        capture[name] = x
