"""Op registry: element-wise activations (and softmax), and PReLU's learned slopes.

They lower to functional calls, not modules: no state, and one Python call per use
instead of a module call. Where the input is a fresh tensor nobody else reads, the
generated code uses the in-place variant, as torchvision's `ReLU(inplace=True)` does.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from archc.ops.base import Attrs, Ctor, Op, Shape, Var, call, register


class _Elementwise(Op):
    family = "activation"

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)


def _simple(op_name: str, function: str, inplace_function: str | None, inplace_kwarg: bool = False, module: str = "") -> type[Op]:
    """Declare an attribute-free activation that maps to one torch function (and module)."""

    class Simple(_Elementwise):
        name = op_name
        can_run_inplace = inplace_function is not None or inplace_kwarg
        module_inplace = op_name not in ("sigmoid", "tanh")

        def module(self, a: Attrs, ins: tuple[Shape, ...]) -> Ctor | None:
            return Ctor(module) if module else None

        def to_call(self, a: Attrs, args: list[str], inplace: bool) -> str:
            x = Var(args[0])
            if inplace and inplace_function:
                return call(inplace_function, x)
            if inplace and inplace_kwarg:
                return call(function, x, inplace=True)
            return call(function, x)

    Simple.__name__ = Simple.__qualname__ = op_name.title().replace("_", "")
    return register(Simple)


_simple("relu", "torch.relu", "torch.relu_", module="nn.ReLU")
_simple("sigmoid", "torch.sigmoid", "torch.sigmoid_", module="nn.Sigmoid")
_simple("tanh", "torch.tanh", "torch.tanh_", module="nn.Tanh")
_simple("silu", "F.silu", None, inplace_kwarg=True, module="nn.SiLU")
_simple("hardswish", "F.hardswish", None, inplace_kwarg=True, module="nn.Hardswish")
_simple("hardsigmoid", "F.hardsigmoid", None, inplace_kwarg=True, module="nn.Hardsigmoid")
_simple("relu6", "F.relu6", None, inplace_kwarg=True, module="nn.ReLU6")


class LeakyReluAttrs(Attrs):
    negative_slope: float = 0.01


@register
class LeakyRelu(_Elementwise):
    name = "leaky_relu"
    Attrs = LeakyReluAttrs
    can_run_inplace = True
    module_inplace = True

    def module(self, a: LeakyReluAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.LeakyReLU", (a.negative_slope,), (), ("negative_slope",))

    def to_call(self, a: LeakyReluAttrs, args: list[str], inplace: bool) -> str:
        return call("F.leaky_relu", Var(args[0]), a.negative_slope, inplace)


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = "none"


@register
class Gelu(_Elementwise):
    name = "gelu"
    Attrs = GeluAttrs

    def module(self, a: GeluAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.GELU", (), (("approximate", a.approximate),) if a.approximate != "none" else ())

    def to_call(self, a: GeluAttrs, args: list[str], inplace: bool) -> str:
        if a.approximate == "none":
            return call("F.gelu", Var(args[0]))
        return call("F.gelu", Var(args[0]), approximate=a.approximate)


class SoftmaxAttrs(Attrs):
    dim: int = Field(1, description="the dimension to normalise, counting the batch as 0")


@register
class Softmax(_Elementwise):
    name = "softmax"
    Attrs = SoftmaxAttrs

    def infer(self, a: SoftmaxAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        from archc.ops.base import axis

        axis(a.dim, len(ins[0]))
        return (ins[0],)

    def module(self, a: SoftmaxAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.Softmax", (), (("dim", a.dim),))

    def to_call(self, a: SoftmaxAttrs, args: list[str], inplace: bool) -> str:
        return call("torch.softmax", Var(args[0]), a.dim)


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
