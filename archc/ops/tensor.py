"""Op registry: reshaping, reductions, dropout and identity."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from archc.ops.base import Attrs, Ctor, Op, keywords, Shape, ShapeError, Var, axis, call, numel, register


class FlattenAttrs(Attrs):
    start_dim: int = 1
    end_dim: int = -1


@register
class Flatten(Op):
    name = "flatten"
    Attrs = FlattenAttrs

    def infer(self, a: FlattenAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        start, end = axis(a.start_dim, len(x)), axis(a.end_dim, len(x))
        if start > end:
            raise ShapeError(f"flatten start_dim {a.start_dim} comes after end_dim {a.end_dim}")
        return (x[:start] + (numel(x[start:end + 1]),) + x[end + 1:],)

    def module(self, a: FlattenAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.Flatten", **keywords(("start_dim", a.start_dim, 1), ("end_dim", a.end_dim, -1)))

    def to_call(self, a: FlattenAttrs, args: list[str], inplace: bool) -> str:
        if a.end_dim == -1:
            return call("torch.flatten", Var(args[0]), a.start_dim)
        return call("torch.flatten", Var(args[0]), a.start_dim, a.end_dim)


class MeanAttrs(Attrs):
    dims: tuple[int, ...] | int
    keepdim: bool = False


@register
class Mean(Op):
    """Mean over dims; ShuffleNet pools globally with `x.mean([2, 3])`."""

    fresh_output = True
    name = "mean"
    family = "pool"
    Attrs = MeanAttrs

    def infer(self, a: MeanAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        axes = [axis(d, len(x)) for d in _dims(a)]
        dims = set(axes)
        if len(dims) != len(axes):
            raise ShapeError(f"dims {list(_dims(a))} name the same dimension twice (a {len(x)}-d sample has dims 1..{len(x)}, or -{len(x)}..-1)")
        if a.keepdim:
            return (tuple(1 if i in dims else n for i, n in enumerate(x)),)
        return (tuple(n for i, n in enumerate(x) if i not in dims),)

    def to_call(self, a: MeanAttrs, args: list[str], inplace: bool) -> str:
        if a.keepdim:
            return call(f"{args[0]}.mean", list(_dims(a)), keepdim=True)
        return call(f"{args[0]}.mean", list(_dims(a)))


def _dims(a: MeanAttrs) -> tuple[int, ...]:
    return (a.dims,) if isinstance(a.dims, int) else a.dims


class DropoutAttrs(Attrs):
    p: float = Field(0.5, ge=0, le=1)


@register
class Dropout(Op):
    transparent = True
    name = "dropout"
    Attrs = DropoutAttrs
    stateful = True  # behaves differently in train and eval mode

    def infer(self, a: DropoutAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def module(self, a: DropoutAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.Dropout", (a.p,), (), ("p",))


class StochasticDepthAttrs(Attrs):
    p: float = Field(ge=0, le=1)
    mode: Literal["row", "batch"] = "row"


@register
class StochasticDepth(Op):
    """Drops a residual branch per sample ('row') or per batch, as torchvision.ops.StochasticDepth."""
    transparent = True

    name = "stochastic_depth"
    Attrs = StochasticDepthAttrs
    stateful = True

    def infer(self, a: StochasticDepthAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def module(self, a: StochasticDepthAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("StochasticDepth", (a.p, a.mode), (), ("p", "mode"))


@register
class Identity(Op):
    transparent = True
    name = "identity"

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def module(self, a: Attrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.Identity")

    def to_call(self, a: Attrs, args: list[str], inplace: bool) -> str:
        return args[0]


@register
class Dropout2d(Op):
    """Zeroes whole channels in training (torch's Dropout2d)."""

    transparent = True
    name = "dropout2d"
    Attrs = DropoutAttrs
    stateful = True

    def infer(self, a: DropoutAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def module(self, a: DropoutAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.Dropout2d", (a.p,))


class DropPathAttrs(Attrs):
    p: float = Field(0.0, ge=0, le=1)


@register
class DropoutPath(Op):
    """Drop path (stochastic depth per sample) as timm's DropPath: kept samples are scaled by 1 / (1 - p)."""

    transparent = True
    name = "dropout_path"
    Attrs = DropPathAttrs
    stateful = True

    def infer(self, a: DropPathAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def module(self, a: DropPathAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("DropPath", (a.p,))
