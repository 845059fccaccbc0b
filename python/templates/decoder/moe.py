"""The mixture-of-experts feed-forward of {{PACKAGE}} ({{MODEL_TYPE}}).

Every token is sent to the top-k experts its router picks, and only those
experts run on it (sparse dispatch): the (token, expert) assignments are
sorted by expert, the token rows are gathered in that order, every expert
projection is one `mx.gather_mm` over the experts' stacked weights
`[experts, out, in]`, and the results are put back in token order and mixed
with the routing weights.

Routing, as the Hugging Face implementations do it: softmax over the
router logits (float32), top-k of the probabilities, optionally
renormalized over the k chosen (`norm_topk_prob`; Mixtral always). Qwen2-MoE
adds a shared expert, a dense SwiGLU MLP on every token scaled by
`sigmoid(shared_expert_gate(x))`.

Parameter names are those of the converted weights (the mlx-lm layout):
`<ffn>.gate.weight` (the router, `[experts, hidden]`),
`<ffn>.switch_mlp.{gate,up,down}_proj.weight` (the experts, stacked), and
`<ffn>.shared_expert.*`, `<ffn>.shared_expert_gate.weight`, where `<ffn>` is
`block_sparse_moe` for Mixtral and `mlp` otherwise.
"""

from dataclasses import dataclass, field
from typing import List, Optional

import mlx.core as mx
import mlx.nn as nn


@dataclass
class MoeArgs:
    num_experts: int
    num_experts_per_tok: int
    # Width of each routed expert.
    moe_intermediate_size: int
    norm_topk_prob: bool
    # Attribute name of the feed-forward in a block (the weights' name).
    ffn_name: str = "mlp"
    # Qwen2-MoE's shared expert (0: none).
    shared_expert_intermediate_size: int = 0
    # Layers with a dense MLP instead: index in mlp_only_layers, or
    # (index + 1) not a multiple of decoder_sparse_step.
    decoder_sparse_step: int = 1
    mlp_only_layers: List[int] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: dict) -> "MoeArgs":
        model_type = cfg.get("model_type")
        if model_type == "mixtral":
            return cls(
                num_experts=cfg["num_local_experts"],
                num_experts_per_tok=cfg["num_experts_per_tok"],
                moe_intermediate_size=cfg["intermediate_size"],
                norm_topk_prob=True,
                ffn_name="block_sparse_moe",
            )
        return cls(
            num_experts=cfg.get("num_experts") or cfg["num_local_experts"],
            num_experts_per_tok=cfg["num_experts_per_tok"],
            moe_intermediate_size=cfg.get("moe_intermediate_size") or cfg["intermediate_size"],
            norm_topk_prob=bool(cfg.get("norm_topk_prob", False)),
            shared_expert_intermediate_size=cfg.get("shared_expert_intermediate_size") or 0,
            decoder_sparse_step=cfg.get("decoder_sparse_step") or 1,
            mlp_only_layers=list(cfg.get("mlp_only_layers") or []),
        )

    def is_sparse(self, index: int) -> bool:
        return index not in self.mlp_only_layers and (index + 1) % self.decoder_sparse_step == 0


class SwitchLinear(nn.Module):
    """One linear layer per expert, weights stacked as [experts, out, in]."""

    def __init__(self, n_experts: int, d_in: int, d_out: int):
        super().__init__()
        self.weight = mx.zeros((n_experts, d_out, d_in))

    def __call__(self, x: mx.array, experts: mx.array) -> mx.array:
        # x: [N, 1, in], row n multiplied by the weight of expert experts[n]
        # (experts sorted ascending, so each expert's rows are contiguous).
        return mx.gather_mm(x, self.weight.swapaxes(-1, -2), rhs_indices=experts, sorted_indices=True)

    def to_quantized(self, group_size: int = 64, bits: int = 4, mode: str = "affine"):
        """The quantized form `nn.quantize` swaps in (quantized checkpoints)."""
        return QuantizedSwitchLinear(self.weight, group_size, bits, mode)


class QuantizedSwitchLinear(nn.Module):
    """SwitchLinear with each expert's weight quantized as `mx.quantize`
    does (packed weight, scales and, for affine, biases per group)."""

    def __init__(self, weight: mx.array, group_size: int, bits: int, mode: str):
        super().__init__()
        self.group_size, self.bits, self.mode = group_size, bits, mode
        q = mx.quantize(weight, group_size=group_size, bits=bits, mode=mode)
        self.weight, self.scales = q[0], q[1]
        if len(q) > 2:
            self.biases = q[2]
        self.freeze()

    def __call__(self, x: mx.array, experts: mx.array) -> mx.array:
        return mx.gather_qmm(
            x,
            self.weight,
            self.scales,
            self.get("biases"),
            rhs_indices=experts,
            transpose=True,
            group_size=self.group_size,
            bits=self.bits,
            mode=self.mode,
            sorted_indices=True,
        )


class GLU(nn.Module):
    """A SwiGLU MLP (the shared expert)."""

    def __init__(self, d: int, inner: int):
        super().__init__()
        self.gate_proj = nn.Linear(d, inner, bias=False)
        self.up_proj = nn.Linear(d, inner, bias=False)
        self.down_proj = nn.Linear(inner, d, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class SwitchGLU(nn.Module):
    """The routed experts: SwiGLU MLPs applied to the selected experts only."""

    def __init__(self, d: int, inner: int, n_experts: int):
        super().__init__()
        self.gate_proj = SwitchLinear(n_experts, d, inner)
        self.up_proj = SwitchLinear(n_experts, d, inner)
        self.down_proj = SwitchLinear(n_experts, inner, d)

    def __call__(self, x: mx.array, inds: mx.array) -> mx.array:
        """x [T, d], inds [T, k] -> [T, k, d]: token t through expert inds[t, j]."""
        T, d = x.shape
        k = inds.shape[1]
        flat = inds.flatten()
        order = mx.argsort(flat)
        experts = flat[order]
        rows = x[order // k][:, None, :]
        assert rows.shape == (T * k, 1, d), rows.shape
        h = nn.silu(self.gate_proj(rows, experts)) * self.up_proj(rows, experts)
        out = self.down_proj(h, experts)
        assert out.shape == (T * k, 1, d), out.shape
        # Back to (token, choice) order.
        out = out[mx.argsort(order)]
        return out.reshape(T, k, d)


class SparseMoeBlock(nn.Module):
    def __init__(self, d: int, moe: MoeArgs):
        super().__init__()
        self.top_k = moe.num_experts_per_tok
        self.n_experts = moe.num_experts
        assert 0 < self.top_k <= self.n_experts, (self.top_k, self.n_experts)
        self.norm_topk_prob = moe.norm_topk_prob
        self.gate = nn.Linear(d, moe.num_experts, bias=False)
        self.switch_mlp = SwitchGLU(d, moe.moe_intermediate_size, moe.num_experts)
        self.has_shared = moe.shared_expert_intermediate_size > 0
        if self.has_shared:
            self.shared_expert = GLU(d, moe.shared_expert_intermediate_size)
            self.shared_expert_gate = nn.Linear(d, 1, bias=False)

    def route(self, x: mx.array):
        """x [T, d] -> (expert indices [T, k], their weights [T, k])."""
        probs = mx.softmax(self.gate(x).astype(mx.float32), axis=-1, precise=True)
        k = self.top_k
        inds = mx.argpartition(-probs, kth=k - 1, axis=-1)[:, :k]
        weights = mx.take_along_axis(probs, inds, axis=-1)
        if self.norm_topk_prob:
            weights = weights / weights.sum(axis=-1, keepdims=True)
        return inds, weights

    def __call__(self, x: mx.array) -> mx.array:
        B, L, d = x.shape
        flat = x.reshape(B * L, d)
        inds, weights = self.route(flat)
        assert inds.shape == weights.shape == (B * L, self.top_k), (inds.shape, weights.shape)
        y = self.switch_mlp(flat, inds)
        y = (y * weights[..., None].astype(y.dtype)).sum(axis=1)
        if self.has_shared:
            y = y + mx.sigmoid(self.shared_expert_gate(flat)) * self.shared_expert(flat)
        return y.reshape(B, L, d)


def feed_forward(args, index: int) -> Optional[SparseMoeBlock]:
    """The sparse block of layer `index`, or None where the layer is dense."""
    if not args.moe.is_sparse(index):
        return None
    return SparseMoeBlock(args.hidden_size, args.moe)


def stack_experts(weights: dict, moe: MoeArgs) -> dict:
    """Hugging Face per-expert tensors (`experts.{e}.<proj>.weight`, Mixtral's
    w1/w2/w3) -> one `[experts, out, in]` tensor per projection under
    `switch_mlp`. Every expert of a layer must be present."""
    renames = {"w1": "gate_proj", "w2": "down_proj", "w3": "up_proj", "gate_proj": "gate_proj", "up_proj": "up_proj", "down_proj": "down_proj"}
    groups = {}
    rest = {}
    for name, w in weights.items():
        if ".experts." not in name:
            rest[name] = w
            continue
        prefix, tail = name.split(".experts.", 1)
        e, proj, kind = tail.split(".")
        if proj not in renames or kind != "weight":
            raise ValueError(f"{name}: unknown expert tensor")
        groups.setdefault((prefix, renames[proj]), {})[int(e)] = w
    for (prefix, proj), by_e in sorted(groups.items()):
        if sorted(by_e) != list(range(moe.num_experts)):
            raise ValueError(f"{prefix}: experts {sorted(by_e)} present, expected 0..{moe.num_experts - 1}")
        rest[f"{prefix}.switch_mlp.{proj}.weight"] = mx.stack([by_e[e] for e in range(moe.num_experts)])
    return rest
