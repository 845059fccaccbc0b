"""CLIP and SigLIP in MLX: an image tower and a text tower projected into
one space, under the Hugging Face module names of `CLIPModel` and
`SiglipModel`.

Image tower: patches (+ CLIP's class embedding) + learned positions for
the configured size -> (CLIP: `pre_layrnorm`) -> pre-norm blocks ->
`post_layernorm` -> CLIP: the CLS token through `visual_projection`;
SigLIP: attention pooling with a learned probe (`head`), every token kept.
Text tower: tokens + learned positions -> pre-norm blocks (CLIP: causal)
-> `final_layer_norm` -> CLIP: the end-of-text token (the first
`eos_token_id`, or the largest id where the config says 2, transformers'
legacy rule) through `text_projection`; SigLIP: the last position through
`head`. Similarity: `logit_scale.exp()` times the cosine of the
normalised embeddings (SigLIP adds `logit_bias`).

`capture` receives `vision.embeddings`, `vision.layers.N`,
`vision.pooler_output`, `image_embeds` (normalised), and `text.embeddings`,
`text.layers.N`, `text.last_hidden_state`, `text.pooler_output`,
`text_embeds` (normalised).
"""

from typing import Dict, List, Optional

import mlx.core as mx
import mlx.nn as nn

from .config import ModelArgs
from .layers import Mlp, TowerEncoder, causal_mask, l2_normalize, run_blocks, to_channels_last


class VisionEmbeddings(nn.Module):
    def __init__(self, v: dict, clip: bool):
        super().__init__()
        H, P = v["hidden_size"], v["patch_size"]
        self.clip, self.size = clip, v["image_size"]
        n = (self.size // P) ** 2
        if clip:
            self.class_embedding = mx.zeros((H,))
        self.patch_embedding = nn.Conv2d(v["num_channels"], H, kernel_size=P, stride=P, bias=not clip)
        self.position_embedding = nn.Embedding(n + 1 if clip else n, H)
        self.channels = v["num_channels"]

    def __call__(self, pixel_values: mx.array) -> mx.array:
        _, _, h, w = pixel_values.shape
        if (h, w) != (self.size, self.size):
            raise ValueError(f"input image size ({h}*{w}) doesn't match the model ({self.size}*{self.size}); position interpolation is not implemented")
        x = self.patch_embedding(to_channels_last(pixel_values, self.channels))
        B, gh, gw, H = x.shape
        x = x.reshape(B, gh * gw, H)
        if self.clip:
            cls = mx.broadcast_to(self.class_embedding.astype(x.dtype), (B, 1, H))
            x = mx.concatenate([cls, x], axis=1)
        # Called, not indexed: a quantized table (QuantizedEmbedding) too.
        return x + self.position_embedding(mx.arange(x.shape[1])).astype(x.dtype)


class PoolingHead(nn.Module):
    """SigLIP's attention pooling: a learned probe attends over the tokens
    (torch's `nn.MultiheadAttention`: `in_proj_weight` holds the query, key
    and value projections stacked), then LayerNorm + MLP with a residual."""

    def __init__(self, v: dict):
        super().__init__()
        H = v["hidden_size"]
        self.heads = v["num_attention_heads"]
        self.probe = mx.zeros((1, 1, H))
        self.attention = MultiheadAttention(H)
        self.layernorm = nn.LayerNorm(H, eps=v["layer_norm_eps"])
        self.mlp = Mlp(H, v["intermediate_size"], v["hidden_act"])

    def __call__(self, x: mx.array) -> mx.array:
        B = x.shape[0]
        h = self.attention(mx.broadcast_to(self.probe.astype(x.dtype), (B, 1, x.shape[2])), x, self.heads)
        h = h + self.mlp(self.layernorm(h))
        return h[:, 0]


class OutProj(nn.Module):
    def __init__(self, H: int):
        super().__init__()
        self.weight = mx.zeros((H, H))
        self.bias = mx.zeros((H,))


class MultiheadAttention(nn.Module):
    """torch's `nn.MultiheadAttention` (batch first, biases, no mask)."""

    def __init__(self, H: int):
        super().__init__()
        self.in_proj_weight = mx.zeros((3 * H, H))
        self.in_proj_bias = mx.zeros((3 * H,))
        self.out_proj = OutProj(H)

    def __call__(self, q: mx.array, kv: mx.array, heads: int) -> mx.array:
        B, Lq, H = q.shape
        Lk = kv.shape[1]
        d = H // heads
        wq, wk, wv = mx.split(self.in_proj_weight, 3, axis=0)
        bq, bk, bv = mx.split(self.in_proj_bias, 3, axis=0)

        def split(t, L):
            return t.reshape(B, L, heads, d).transpose(0, 2, 1, 3)

        qh = split(q @ wq.T + bq, Lq)
        kh = split(kv @ wk.T + bk, Lk)
        vh = split(kv @ wv.T + bv, Lk)
        out = mx.fast.scaled_dot_product_attention(qh, kh, vh, scale=d**-0.5)
        out = out.transpose(0, 2, 1, 3).reshape(B, Lq, H)
        return out @ self.out_proj.weight.T + self.out_proj.bias


class VisionTransformer(nn.Module):
    def __init__(self, v: dict, clip: bool):
        super().__init__()
        self.clip = clip
        H = v["hidden_size"]
        self.embeddings = VisionEmbeddings(v, clip)
        if clip:
            self.pre_layrnorm = nn.LayerNorm(H, eps=v["layer_norm_eps"])
        self.encoder = TowerEncoder(v["num_hidden_layers"], H, v["num_attention_heads"], v["intermediate_size"], v["hidden_act"], v["layer_norm_eps"])
        self.post_layernorm = nn.LayerNorm(H, eps=v["layer_norm_eps"])
        if not clip and v.get("vision_use_head", True):
            self.head = PoolingHead(v)

    def __call__(self, pixel_values: mx.array, capture: Optional[dict] = None) -> mx.array:
        x = self.embeddings(pixel_values)
        if capture is not None:
            capture["vision.embeddings"] = x
        if self.clip:
            x = self.pre_layrnorm(x)
        x = run_blocks(self.encoder.layers, x, None, capture, "vision.")
        if self.clip:
            return self.post_layernorm(x[:, 0])
        x = self.post_layernorm(x)
        return self.head(x) if "head" in self else x


class TextEmbeddings(nn.Module):
    def __init__(self, t: dict):
        super().__init__()
        self.token_embedding = nn.Embedding(t["vocab_size"], t["hidden_size"])
        self.position_embedding = nn.Embedding(t["max_position_embeddings"], t["hidden_size"])

    def __call__(self, ids: mx.array) -> mx.array:
        L, n = ids.shape[1], self.position_embedding.weight.shape[0]
        if L > n:
            raise ValueError(f"{L} tokens: more than the {n} positions of the text tower")
        return self.token_embedding(ids) + self.position_embedding(mx.arange(L))


class TextTransformer(nn.Module):
    def __init__(self, t: dict, clip: bool, projection: int):
        super().__init__()
        self.clip = clip
        self.eos = t.get("eos_token_id")
        H = t["hidden_size"]
        self.embeddings = TextEmbeddings(t)
        self.encoder = TowerEncoder(t["num_hidden_layers"], H, t["num_attention_heads"], t["intermediate_size"], t["hidden_act"], t["layer_norm_eps"])
        self.final_layer_norm = nn.LayerNorm(H, eps=t["layer_norm_eps"])
        if not clip:
            self.head = nn.Linear(H, projection)

    def pool_index(self, ids: List[int]) -> int:
        """The position whose state is the text's: CLIP's end of text (see
        the module notes), SigLIP's last position."""
        if not self.clip:
            return len(ids) - 1
        if self.eos == 2:
            return max(range(len(ids)), key=lambda i: (ids[i], -i))
        return ids.index(self.eos) if self.eos in ids else 0

    def __call__(self, ids: mx.array, capture: Optional[dict] = None):
        """[1, L] token ids (one unpadded text) -> (last hidden state, pooled)."""
        x = self.embeddings(ids)
        if capture is not None:
            capture["text.embeddings"] = x
        mask = causal_mask(x.shape[1], x.dtype) if self.clip else None
        x = run_blocks(self.encoder.layers, x, mask, capture, "text.")
        x = self.final_layer_norm(x)
        pooled = x[:, self.pool_index(ids[0].tolist())]
        if not self.clip:
            pooled = self.head(pooled)
        return x, pooled


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        clip = args.model_type == "clip"
        v, t = args.vision_config, args.text_config
        self.vision_model = VisionTransformer(v, clip)
        self.text_model = TextTransformer(t, clip, t.get("projection_size") or t["hidden_size"])
        if clip:
            self.visual_projection = nn.Linear(v["hidden_size"], args.projection_dim, bias=False)
            self.text_projection = nn.Linear(t["hidden_size"], args.projection_dim, bias=False)
        self.logit_scale = mx.zeros((1,) if not clip else ())
        if not clip:
            self.logit_bias = mx.zeros((1,))

    def blocks(self) -> Dict[str, list]:
        return {"vision.layers": self.vision_model.encoder.layers, "text.layers": self.text_model.encoder.layers}

    def encode_image(self, pixel_values: mx.array, capture: Optional[dict] = None) -> mx.array:
        """[B, C, H, W] -> image embeddings [B, D] (not normalised)."""
        pooled = self.vision_model(pixel_values, capture)
        if capture is not None:
            capture["vision.pooler_output"] = pooled
        return self.visual_projection(pooled) if "visual_projection" in self else pooled

    def encode_text(self, ids: List[int], capture: Optional[dict] = None) -> mx.array:
        """One text's token ids (unpadded, or padded as the model was
        trained, for SigLIP) -> its embedding [1, D] (not normalised)."""
        last, pooled = self.text_model(mx.array([ids]), capture)
        if capture is not None:
            capture["text.last_hidden_state"] = last
            capture["text.pooler_output"] = pooled
        return self.text_projection(pooled) if "text_projection" in self else pooled

    def logits(self, image_embeds: mx.array, text_embeds: mx.array) -> mx.array:
        """Image-text similarity [images, texts] from normalised embeddings."""
        s = image_embeds @ text_embeds.T * mx.exp(self.logit_scale)
        return s + self.logit_bias if "logit_bias" in self else s

    def __call__(self, pixel_values: Optional[mx.array] = None, capture: Optional[dict] = None) -> Dict[str, mx.array]:
        """Images alone (the image side of the outputs)."""
        e = self.encode_image(pixel_values, capture)
        out = {"image_embeds": l2_normalize(e)}
        if capture is not None:
            capture["image_embeds"] = out["image_embeds"]
        return out
