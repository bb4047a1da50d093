"""Op registry: more activations (mish, elu, prelu) and the dropouts of newer networks (dropout2d, dropout_path)."""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Attrs, Ctor, Op, Shape, Var, call, register


class _Elementwise(Op):
    family = "activation"

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)


@register
class Mish(_Elementwise):
    name = "mish"

    def to_call(self, a: Attrs, args: list[str], inplace: bool) -> str:
        return call("F.mish", Var(args[0]))

    def module(self, a: Attrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.Mish")


class EluAttrs(Attrs):
    alpha: float = 1.0


@register
class Elu(_Elementwise):
    name = "elu"
    Attrs = EluAttrs

    def to_call(self, a: EluAttrs, args: list[str], inplace: bool) -> str:
        return call("F.elu", Var(args[0]), a.alpha) if a.alpha != 1.0 else call("F.elu", Var(args[0]))

    def module(self, a: EluAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.ELU", (a.alpha,))


class PreluAttrs(Attrs):
    shared: bool = Field(False, description="one slope for all channels instead of one per channel")
    init: float = 0.25


@register
class Prelu(_Elementwise):
    """Leaky ReLU with learned slopes, one per channel (dim 1) unless `shared`."""

    name = "prelu"
    Attrs = PreluAttrs
    stateful = True
    fresh_output = True

    def params(self, a: PreluAttrs, ins: tuple[Shape, ...]) -> int:
        return 1 if a.shared or not ins[0] else ins[0][0]

    def tensors(self, a: PreluAttrs) -> tuple[str, ...]:
        return ("weight",)

    def module(self, a: PreluAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.PReLU", (self.params(a, ins), a.init))


class DropoutAttrs(Attrs):
    p: float = Field(0.5, ge=0, le=1)


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
