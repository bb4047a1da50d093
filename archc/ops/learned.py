"""Op registry: learnable tensors held by a block itself (ViT's `cls_token`, ConvNeXt's `gamma`).

Their node becomes a parameter of the enclosing module under the node's own name, not a
submodule, so `cls_token: parameter(...)` at the top level is the `state_dict` key
`cls_token`, as in timm's VisionTransformer.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from archc.ops.base import Attrs, Ctor, Op, Shape, Var, axis, call, numel, register


class ParameterAttrs(Attrs):
    shape: tuple[PositiveInt, ...] = Field(min_length=1, description="per sample; the tensor is 1 x shape")
    init: Literal["zeros", "ones", "normal", "trunc_normal"] = "zeros"
    std: float = Field(0.02, ge=0)


@register
class Parameter(Op):
    """A learnable tensor of shape 1 x `shape`, expanded to the batch of its input (which it
    only reads for the batch size): `torch.cat([cls_token, x], dim=1)` takes it as a node."""

    name = "parameter"
    Attrs = ParameterAttrs
    stateful = True
    holds_tensor = True

    def infer(self, a: ParameterAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (a.shape,)

    def params(self, a: ParameterAttrs, ins: tuple[Shape, ...]) -> int:
        return numel(a.shape)

    def module(self, a: ParameterAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("learnable_tensor", ((1, *a.shape), a.init, a.std))

    def to_call(self, a: ParameterAttrs, args: list[str], inplace: bool) -> str:
        tensor, x = args
        return call(f"{tensor}.expand", Var(f"{x}.shape[0]"), *(-1 for _ in a.shape))


class LayerScaleAttrs(Attrs):
    init: float = Field(1e-5, description="the initial value of every scale")
    # Counted from the end, so the generated code knows how to broadcast the scales.
    dim: int = Field(-3, le=-1, description="the channel dim from the end: -3 for a CxHxW map, -1 for tokens (TxD)")


@register
class LayerScale(Op):
    """x * gamma, one learnable scale per channel (CaiT's LayerScale; ConvNeXt's `gamma`)."""

    fresh_output = True
    name = "layer_scale"
    family = "norm"
    Attrs = LayerScaleAttrs
    stateful = True
    holds_tensor = True

    def infer(self, a: LayerScaleAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        axis(a.dim, len(ins[0]))
        return (ins[0],)

    def params(self, a: LayerScaleAttrs, ins: tuple[Shape, ...]) -> int:
        return ins[0][a.dim]

    def module(self, a: LayerScaleAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("learnable_tensor", ((self.params(a, ins),), "constant", a.init))

    def to_call(self, a: LayerScaleAttrs, args: list[str], inplace: bool) -> str:
        gamma, x = args
        if a.dim == -1:
            return call(f"{x}.mul", Var(gamma))
        # C x 1 x 1: the scales broadcast over the dims after the channel
        return call(f"{x}.mul", Var(call(f"{gamma}.reshape", -1, *(1,) * (-a.dim - 1))))
