"""Op registry: multi-head self-attention over a sequence of tokens (ViT's)."""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Attrs, Ctor, Op, Shape, ShapeError, expect_rank, fmt, register


class AttentionAttrs(Attrs):
    heads: int = Field(ge=1)
    qkv_bias: bool = True
    proj_bias: bool = True


@register
class SelfAttention(Op):
    """softmax(q k^T / sqrt(d)) v over `heads` heads of a TxD input, with one fused `qkv`
    linear layer and an output `proj`, so the state_dict is timm's `Attention`'s."""

    fresh_output = True
    name = "attention"
    family = "linear"
    Attrs = AttentionAttrs
    stateful = True

    def infer(self, a: AttentionAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        expect_rank(x, (2,), "TxD (tokens x features)")
        if x[1] % a.heads:
            raise ShapeError(f"{a.heads} heads do not divide the {x[1]} features of {fmt(x)}")
        return (x,)

    def params(self, a: AttentionAttrs, ins: tuple[Shape, ...]) -> int:
        dim = ins[0][1]
        return 4 * dim * dim + (3 * dim if a.qkv_bias else 0) + (dim if a.proj_bias else 0)

    def macs(self, a: AttentionAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        # As its two linear layers count (weights x tokens); the attention products hold no weights.
        return self.params(a, ins) * ins[0][0]

    def work(self, a: AttentionAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        tokens, dim = ins[0]
        return self.macs(a, ins, outs) + 2 * tokens * tokens * dim  # q k^T and the weights times v

    def module(self, a: AttentionAttrs, ins: tuple[Shape, ...]) -> Ctor:
        kwargs = tuple((k, v) for k, v in (("qkv_bias", a.qkv_bias), ("proj_bias", a.proj_bias)) if v is not True)
        return Ctor("SelfAttention", (ins[0][1], a.heads), kwargs)
