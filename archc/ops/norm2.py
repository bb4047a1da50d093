"""Op registry: normalisation over channels and groups (layernorm2d, groupnorm, instancenorm2d)."""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Attrs, Ctor, Op, Shape, ShapeError, expect_rank, register


def _kwargs(items: tuple[tuple[str, object, object], ...]) -> tuple[tuple[str, object], ...]:
    return tuple((k, v) for k, v, d in items if v != d or type(v) is not type(d))


class LayerNorm2dAttrs(Attrs):
    eps: float = Field(1e-6, gt=0)  # timm's and ConvNeXt's default
    affine: bool = True


@register
class LayerNorm2d(Op):
    """LayerNorm over the channels of each position of a CxHxW map (ConvNeXt's, timm's LayerNorm2d)."""

    fresh_output = True
    name = "layernorm2d"
    family = "norm"
    Attrs = LayerNorm2dAttrs
    stateful = True

    def infer(self, a: LayerNorm2dAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        expect_rank(ins[0], (3,), "CxHxW")
        return (ins[0],)

    def params(self, a: LayerNorm2dAttrs, ins: tuple[Shape, ...]) -> int:
        return 2 * ins[0][0] if a.affine else 0

    def macs(self, a: LayerNorm2dAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins)

    def tensors(self, a: LayerNorm2dAttrs) -> tuple[str, ...]:
        return ("weight", "bias") if a.affine else ()

    def module(self, a: LayerNorm2dAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("LayerNorm2d", (ins[0][0],), (("eps", a.eps),) + _kwargs((("elementwise_affine", a.affine, True),)))


class GroupNormAttrs(Attrs):
    groups: int = Field(ge=1)
    eps: float = Field(1e-5, gt=0)
    affine: bool = True


@register
class GroupNorm(Op):
    fresh_output = True
    name = "groupnorm"
    family = "norm"
    Attrs = GroupNormAttrs
    stateful = True

    def infer(self, a: GroupNormAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        if len(ins[0]) < 1:
            raise ShapeError("groupnorm needs an input with a channel dim")
        if ins[0][0] % a.groups:
            raise ShapeError(f"{a.groups} groups do not divide the {ins[0][0]} channels")
        return (ins[0],)

    def params(self, a: GroupNormAttrs, ins: tuple[Shape, ...]) -> int:
        return 2 * ins[0][0] if a.affine else 0

    def macs(self, a: GroupNormAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins)

    def tensors(self, a: GroupNormAttrs) -> tuple[str, ...]:
        return ("weight", "bias") if a.affine else ()

    def module(self, a: GroupNormAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.GroupNorm", (a.groups, ins[0][0]), _kwargs((("eps", a.eps, 1e-5), ("affine", a.affine, True))))


class InstanceNormAttrs(Attrs):
    eps: float = Field(1e-5, gt=0)
    momentum: float | None = Field(0.1, ge=0, le=1)
    affine: bool = False  # torch's default, unlike batch norm
    track_running_stats: bool = False


@register
class InstanceNorm2d(Op):
    fresh_output = True
    name = "instancenorm2d"
    family = "norm"
    Attrs = InstanceNormAttrs
    stateful = True

    def infer(self, a: InstanceNormAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        expect_rank(ins[0], (3,), "CxHxW")
        return (ins[0],)

    def params(self, a: InstanceNormAttrs, ins: tuple[Shape, ...]) -> int:
        return 2 * ins[0][0] if a.affine else 0

    def macs(self, a: InstanceNormAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins)

    def tensors(self, a: InstanceNormAttrs) -> tuple[str, ...]:
        return ("weight", "bias") if a.affine else ()

    def module(self, a: InstanceNormAttrs, ins: tuple[Shape, ...]) -> Ctor:
        kwargs = _kwargs((("eps", a.eps, 1e-5), ("momentum", a.momentum, 0.1), ("affine", a.affine, False),
                          ("track_running_stats", a.track_running_stats, False)))
        return Ctor("nn.InstanceNorm2d", (ins[0][0],), kwargs)
