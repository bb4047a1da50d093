"""Op registry: normalisation layers and the input re-normalisation of GoogLeNet."""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Attrs, Ctor, Op, keywords, Shape, ShapeError, call, expect_rank, fmt, non_default, numel, register, Var


class BatchNormAttrs(Attrs):
    eps: float = Field(1e-5, gt=0)
    momentum: float | None = Field(0.1, ge=0, le=1)
    affine: bool = True


class _BatchNorm(Op):
    fresh_output = True
    family = "norm"
    Attrs = BatchNormAttrs
    stateful = True
    ranks: tuple[int, ...]
    layout: str

    def infer(self, a: BatchNormAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        expect_rank(ins[0], self.ranks, self.layout)
        return (ins[0],)

    def params(self, a: BatchNormAttrs, ins: tuple[Shape, ...]) -> int:
        return 2 * ins[0][0] if a.affine else 0

    def macs(self, a: BatchNormAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins)

    def tensors(self, a: BatchNormAttrs) -> tuple[str, ...]:
        return ("weight", "bias") if a.affine else ()

    def module(self, a: BatchNormAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor(
            "nn.BatchNorm2d" if self.ranks == (3,) else "nn.BatchNorm1d", (ins[0][0],), labels=("num_features",),
            **keywords(("eps", a.eps, 1e-5), ("momentum", a.momentum, 0.1), ("affine", a.affine, True)),
        )


@register
class BatchNorm2d(_BatchNorm):
    name = "batchnorm2d"
    ranks = (3,)
    layout = "CxHxW"


@register
class BatchNorm1d(_BatchNorm):
    name = "batchnorm1d"
    ranks = (1, 2)
    layout = "C or CxL"


class LayerNormAttrs(Attrs):
    # How many trailing dimensions to normalise over (PyTorch's normalized_shape is
    # taken from the input shape, so specs never repeat sizes).
    dims: int = Field(1, ge=1)
    eps: float = Field(1e-5, gt=0)
    affine: bool = True
    bias: bool = True


@register
class LayerNorm(Op):
    fresh_output = True
    name = "layernorm"
    family = "norm"
    Attrs = LayerNormAttrs
    stateful = True

    def infer(self, a: LayerNormAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        if len(ins[0]) < a.dims:
            raise ShapeError(f"cannot normalise over {a.dims} dims of a {fmt(ins[0])} input")
        if len(ins[0]) == 3 and "dims" not in a.model_fields_set:
            # nn.LayerNorm(W) on an NCHW map: runs, but normalises each row of pixels.
            raise ShapeError(
                f"on a {fmt(ins[0])} map, layernorm would normalise over the last dim ({ins[0][-1]}, the width) only: "
                "use layernorm2d for the channels (as ConvNeXt), dims=3 for the whole map, "
                "or write dims=1 if the map is channels-last (after a permute)"
            )
        return (ins[0],)

    def params(self, a: LayerNormAttrs, ins: tuple[Shape, ...]) -> int:
        n = numel(ins[0][-a.dims:])
        return (n if a.affine else 0) + (n if a.affine and a.bias else 0)

    def macs(self, a: LayerNormAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins)

    def tensors(self, a: LayerNormAttrs) -> tuple[str, ...]:
        return (("weight", "bias") if a.bias else ("weight",)) if a.affine else ()

    def module(self, a: LayerNormAttrs, ins: tuple[Shape, ...]) -> Ctor:
        shape = ins[0][-a.dims:]
        return Ctor(
            "nn.LayerNorm", (shape[0] if len(shape) == 1 else tuple(shape),), labels=("normalized_shape",),
            **keywords(("eps", a.eps, 1e-5), ("elementwise_affine", a.affine, True), ("bias", a.bias, True)),
        )


class LrnAttrs(Attrs):
    size: int = Field(ge=1)
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


@register
class LocalResponseNorm(Op):
    """AlexNet's local response normalisation across channels."""

    fresh_output = True
    name = "lrn"
    family = "norm"
    Attrs = LrnAttrs

    def infer(self, a: LrnAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        expect_rank(ins[0], (2, 3), "CxL or CxHxW")
        return (ins[0],)

    def module(self, a: LrnAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.LocalResponseNorm", (a.size, a.alpha, a.beta, a.k), (), ("size", "alpha", "beta", "k"))

    def to_call(self, a: LrnAttrs, args: list[str], inplace: bool) -> str:
        return call("F.local_response_norm", Var(args[0]), a.size, a.alpha, a.beta, a.k)


class ChannelAffineAttrs(Attrs):
    scale: tuple[float, ...]
    shift: tuple[float, ...]


@register
class ChannelAffine(Op):
    """x * scale[c] + shift[c] per channel: input re-normalisation, as GoogLeNet's transform_input."""

    fresh_output = True
    name = "channel_affine"
    family = "norm"
    Attrs = ChannelAffineAttrs
    stateful = True  # keeps its constants as (non-persistent) buffers so .to(device) moves them

    def infer(self, a: ChannelAffineAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        channels = ins[0][0] if ins[0] else 0
        if len(a.scale) != channels or len(a.shift) != channels:
            raise ShapeError(
                f"expected {channels} scale and shift values (one per channel), got {len(a.scale)} and {len(a.shift)}"
            )
        return (ins[0],)

    def module(self, a: ChannelAffineAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("ChannelAffine", (tuple(a.scale), tuple(a.shift), len(ins[0])), (), ("scale", "shift", "rank"))


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
        return Ctor("LayerNorm2d", (ins[0][0],), (("eps", a.eps),) + non_default((("elementwise_affine", a.affine, True),)))


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
        return Ctor("nn.GroupNorm", (a.groups, ins[0][0]), non_default((("eps", a.eps, 1e-5), ("affine", a.affine, True))))


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
        kwargs = non_default((("eps", a.eps, 1e-5), ("momentum", a.momentum, 0.1), ("affine", a.affine, False),
                          ("track_running_stats", a.track_running_stats, False)))
        return Ctor("nn.InstanceNorm2d", (ins[0][0],), kwargs)
