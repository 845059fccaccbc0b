"""The {{PACKAGE}} model: a {{MODEL_TYPE}}-style encoder in MLX.

Three block layouts, chosen by `model_type`:

- BERT-style (bert, roberta, xlm-roberta, camembert, electra): absolute
  position embeddings, token types, post-norm blocks, an optional pooler;
  ELECTRA's embeddings have their own width and are projected to the
  hidden size (`embeddings_project`) before the blocks.
- DistilBERT: the same post-norm block under other names (`q_lin`,
  `sa_layer_norm`, `ffn.lin1`, ...), no token types; learned or sinusoidal
  position tables (both carried by the weights).
- ModernBERT: no position table but RoPE with a base per attention kind,
  global layers alternating with local ones (a token sees keys within
  `sliding_window` positions), fused QKV, GeGLU feed-forward, pre-norm
  blocks (none before the first attention), a final norm, no biases
  unless the config asks for them.

Mean or CLS pooling for sentence embeddings. A first port, written to be
read: float weights, no compile, no custom kernels, shape assertions
around every non-trivial transform. Parameter names are the Hugging Face
names (`encoder.layer.N.attention.self.query.weight`, ...), so converted
weights load strictly.

`capture`, when given a dict, receives every ladder boundary under the
names the mlxport oracle uses: `embeddings` (the embedding stage's output,
before any projection), `layers.N`, `last_hidden_state`, `pooler_output`,
`pooled`, `sentence_embedding`.
"""

from typing import Optional, Tuple

import mlx.core as mx
import mlx.nn as nn

from .config import ModelArgs

NEG = -1e9


def activation(name):
    return {"gelu": nn.gelu, "gelu_new": nn.gelu_approx, "gelu_pytorch_tanh": nn.gelu_approx, "relu": nn.relu}[name]


def split_heads(x: mx.array, n_heads: int) -> mx.array:
    """[B, L, heads * head_dim] -> [B, heads, L, head_dim]."""
    B, L, H = x.shape
    assert H % n_heads == 0, (H, n_heads)
    return x.reshape(B, L, n_heads, H // n_heads).transpose(0, 2, 1, 3)


def merge_heads(x: mx.array) -> mx.array:
    """[B, heads, L, head_dim] -> [B, L, heads * head_dim]."""
    B, n, L, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, L, n * d)


def heads(args: ModelArgs) -> Tuple[int, int]:
    """(number of heads, head dimension); the hidden size must split evenly."""
    n = args.num_attention_heads
    assert args.hidden_size % n == 0, (args.hidden_size, n)
    return n, args.hidden_size // n


# How attention is computed: "fused" (mx.fast.scaled_dot_product_attention,
# the first port) or "explicit" (matrix products and a softmax); see
# serving.Options.
ATTENTION = {"kind": "fused"}


def attend(q: mx.array, k: mx.array, v: mx.array, mask: Optional[mx.array]) -> mx.array:
    """Scaled dot-product attention over [B, heads, L, head_dim] queries,
    keys and values (scale head_dim ** -0.5) -> [B, L, heads * head_dim]."""
    scale = q.shape[-1] ** -0.5
    if ATTENTION["kind"] == "explicit":
        scores = (q * scale) @ k.swapaxes(-1, -2)
        if mask is not None:
            scores = scores + mask.astype(scores.dtype)
        out = mx.softmax(scores.astype(mx.float32), axis=-1).astype(q.dtype) @ v
    else:
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
    assert out.shape == q.shape, out.shape
    return merge_heads(out)


# ---------------------------------------------------------------- BERT-style


class Embeddings(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        e = args.embedding_size or args.hidden_size
        self.word_embeddings = nn.Embedding(args.vocab_size, e)
        self.position_embeddings = nn.Embedding(args.max_position_embeddings, e)
        if args.type_vocab_size:
            self.token_type_embeddings = nn.Embedding(args.type_vocab_size, e)
        self.LayerNorm = nn.LayerNorm(e, eps=args.layer_norm_eps)
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
        self.n_heads, self.head_dim = heads(args)
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        B, L, H = x.shape
        q, k, v = (split_heads(p(x), self.n_heads) for p in (self.query, self.key, self.value))
        assert q.shape == (B, self.n_heads, L, self.head_dim), q.shape
        return attend(q, k, v, mask)


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


# ---------------------------------------------------------------- DistilBERT


class DistilAttention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        h = args.hidden_size
        self.n_heads, self.head_dim = heads(args)
        self.q_lin = nn.Linear(h, h)
        self.k_lin = nn.Linear(h, h)
        self.v_lin = nn.Linear(h, h)
        self.out_lin = nn.Linear(h, h)

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        B, L, H = x.shape
        q, k, v = (split_heads(p(x), self.n_heads) for p in (self.q_lin, self.k_lin, self.v_lin))
        assert q.shape == (B, self.n_heads, L, self.head_dim), q.shape
        return self.out_lin(attend(q, k, v, mask))


class DistilFeedForward(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.lin1 = nn.Linear(args.hidden_size, args.intermediate_size)
        self.lin2 = nn.Linear(args.intermediate_size, args.hidden_size)
        self.act = activation(args.hidden_act)

    def __call__(self, x):
        return self.lin2(self.act(self.lin1(x)))


class DistilLayer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.attention = DistilAttention(args)
        self.sa_layer_norm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps)
        self.ffn = DistilFeedForward(args)
        self.output_layer_norm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps)

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        # Post-norm, as BERT.
        h = self.sa_layer_norm(x + self.attention(x, mask))
        return self.output_layer_norm(h + self.ffn(h))


class DistilTransformer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.layer = [DistilLayer(args) for _ in range(args.num_hidden_layers)]


# ---------------------------------------------------------------- ModernBERT


class ModernEmbeddings(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.hidden_size)
        self.norm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps, bias=args.norm_bias)

    def __call__(self, input_ids: mx.array, token_type_ids=None) -> mx.array:
        return self.norm(self.tok_embeddings(input_ids))


class ModernAttention(nn.Module):
    def __init__(self, args: ModelArgs, kind: str):
        super().__init__()
        h = args.hidden_size
        self.n_heads, self.head_dim = heads(args)
        self.theta = args.rope_bases[kind]
        self.Wqkv = nn.Linear(h, 3 * h, bias=args.attention_bias)
        self.Wo = nn.Linear(h, h, bias=args.attention_bias)

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        B, L, H = x.shape
        # Fused projection, laid out [q | k | v] along the output features.
        qkv = self.Wqkv(x).reshape(B, L, 3, self.n_heads, self.head_dim)
        q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
        assert q.shape == (B, self.n_heads, L, self.head_dim), q.shape
        # Rotate-half RoPE (traditional=False) over the whole head.
        q = mx.fast.rope(q, self.head_dim, traditional=False, base=self.theta, scale=1.0, offset=0)
        k = mx.fast.rope(k, self.head_dim, traditional=False, base=self.theta, scale=1.0, offset=0)
        return self.Wo(attend(q, k, v, mask))


class GeGLU(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.Wi = nn.Linear(args.hidden_size, 2 * args.intermediate_size, bias=args.mlp_bias)
        self.Wo = nn.Linear(args.intermediate_size, args.hidden_size, bias=args.mlp_bias)
        self.act = activation(args.hidden_act)

    def __call__(self, x):
        # Wi's output is [input | gate]; act(input) * gate.
        a, gate = mx.split(self.Wi(x), 2, axis=-1)
        return self.Wo(self.act(a) * gate)


class ModernLayer(nn.Module):
    def __init__(self, args: ModelArgs, index: int):
        super().__init__()
        self.kind = args.layer_types[index]
        # The first block has no norm before its attention (the embedding
        # norm precedes it).
        if index > 0:
            self.attn_norm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps, bias=args.norm_bias)
        self.attn = ModernAttention(args, self.kind)
        self.mlp_norm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps, bias=args.norm_bias)
        self.mlp = GeGLU(args)

    def __call__(self, x: mx.array, mask: Optional[mx.array]) -> mx.array:
        a = self.attn_norm(x) if "attn_norm" in self else x
        h = x + self.attn(a, mask)
        return h + self.mlp(self.mlp_norm(h))


# ---------------------------------------------------------------- the model


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        mt = args.model_type
        if mt == "modernbert":
            self.embeddings = ModernEmbeddings(args)
            self.layers = [ModernLayer(args, i) for i in range(args.num_hidden_layers)]
            self.final_norm = nn.LayerNorm(args.hidden_size, eps=args.layer_norm_eps, bias=args.norm_bias)
        elif mt == "distilbert":
            self.embeddings = Embeddings(args)
            self.transformer = DistilTransformer(args)
        else:
            self.embeddings = Embeddings(args)
            if args.embedding_size and args.embedding_size != args.hidden_size:
                self.embeddings_project = nn.Linear(args.embedding_size, args.hidden_size)
            self.encoder = Encoder(args)
        if args.has_pooler:
            self.pooler = Dense(args.hidden_size, args.hidden_size)

    def blocks(self):
        if "layers" in self:
            return self.layers
        if "transformer" in self:
            return self.transformer.layer
        return self.encoder.layer

    def masks(self, attention_mask: Optional[mx.array], L: int):
        """The additive mask of each block: padding over keys ([B, 1, 1, L]),
        and for local layers the window too ([.., L, L])."""
        pad = None
        if attention_mask is not None:
            assert attention_mask.shape[1] == L, attention_mask.shape
            pad = mx.where(attention_mask[:, None, None, :] > 0, 0.0, NEG).astype(mx.float32)
        kinds = self.args.layer_types or ("full_attention",) * self.args.num_hidden_layers
        window = None
        if "sliding_attention" in kinds:
            pos = mx.arange(L)
            dist = mx.abs(pos[:, None] - pos[None, :])
            window = mx.where(dist <= self.args.sliding_window, 0.0, NEG).astype(mx.float32)
            if pad is not None:
                window = window[None, None] + pad
        return [window if k == "sliding_attention" else pad for k in kinds]

    def __call__(self, input_ids: mx.array, token_type_ids: Optional[mx.array] = None, attention_mask: Optional[mx.array] = None, capture: Optional[dict] = None) -> mx.array:
        """input_ids [B, L] -> last hidden state [B, L, H]. `attention_mask`
        [B, L] (1 = token, 0 = padding) is only needed for padded batches."""
        assert input_ids.ndim == 2, input_ids.shape
        B, L = input_ids.shape
        if attention_mask is not None:
            assert attention_mask.shape == (B, L), attention_mask.shape
        h = self.embeddings(input_ids, token_type_ids)
        _keep(capture, "embeddings", h)
        if "embeddings_project" in self:
            h = self.embeddings_project(h)
        assert h.shape == (B, L, self.args.hidden_size), h.shape
        for i, (layer, mask) in enumerate(zip(self.blocks(), self.masks(attention_mask, L))):
            h = layer(h, mask)
            _keep(capture, f"layers.{i}", h)
        if "final_norm" in self:
            h = self.final_norm(h)
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
