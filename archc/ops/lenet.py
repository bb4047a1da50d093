"""Op registry: LeNet-5's units that torch has no layer for (LeCun et al., 1998): `scaled_tanh`
(A tanh(S a)), `subsample` (trainable subsampling), `table_conv2d` (C3's sparse connection table)
and `rbf` (Euclidean RBF output units)."""
from __future__ import annotations

from pydantic import Field, field_validator

from archc.ops.base import Attrs, Ctor, Op, Shape, ShapeError, Var, call, expect_rank, fmt, numel, register, spatial_out


class ScaledTanhAttrs(Attrs):
    amplitude: float = 1.7159
    slope: float = 2 / 3


@register
class ScaledTanh(Op):
    """LeCun's sigmoid f(a) = A tanh(S a), with A = 1.7159 and S = 2/3 (so f(1) is about 1)."""

    fresh_output = True
    name = "scaled_tanh"
    family = "activation"
    Attrs = ScaledTanhAttrs

    def infer(self, a: ScaledTanhAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def to_call(self, a: ScaledTanhAttrs, args: list[str], inplace: bool) -> str:
        return call("torch.mul", Var(call("torch.tanh", Var(call("torch.mul", Var(args[0]), a.slope)))), a.amplitude)


class SubsampleAttrs(Attrs):
    kernel: int = Field(ge=1)
    stride: int | None = Field(None, ge=1)


@register
class Subsample(Op):
    """LeNet-5's S layers: each window's sum times a trainable coefficient plus a trainable bias, per map."""

    fresh_output = True
    name = "subsample"
    family = "pool"
    Attrs = SubsampleAttrs
    stateful = True

    def infer(self, a: SubsampleAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        expect_rank(ins[0], (3,), "CxHxW")
        stride = a.stride or a.kernel
        hw = spatial_out(ins[0][1:], (a.kernel, a.kernel), (stride, stride), (0, 0), (1, 1))  # type: ignore[arg-type]
        return ((ins[0][0], *hw),)

    def params(self, a: SubsampleAttrs, ins: tuple[Shape, ...]) -> int:
        return 2 * ins[0][0]

    def macs(self, a: SubsampleAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return 2 * ins[0][0]  # as torchinfo counts a layer whose weights are not a conv's: its parameters

    def tensors(self, a: SubsampleAttrs) -> tuple[str, ...]:
        return ("weight", "bias")

    def module(self, a: SubsampleAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("TrainableSubsample", (ins[0][0], a.kernel, a.stride or a.kernel))


class TableConvAttrs(Attrs):
    table: tuple[tuple[int, ...], ...] = Field(min_length=1)
    kernel: int = Field(ge=1)
    bias: bool = True

    @field_validator("table")
    @classmethod
    def _connections(cls, table: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
        for j, inputs in enumerate(table):
            if not inputs:
                raise ValueError(f"output map {j} reads no input map")
            if min(inputs) < 0 or len(set(inputs)) != len(inputs):
                raise ValueError(f"output map {j} must list distinct input maps >= 0, got {list(inputs)}")
        return table


@register
class TableConv2d(Op):
    """A convolution whose output map j sees only the input maps table[j] (LeNet-5's C3, Table I)."""

    fresh_output = True
    name = "table_conv2d"
    family = "conv"
    Attrs = TableConvAttrs
    stateful = True

    def infer(self, a: TableConvAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        expect_rank(ins[0], (3,), "CxHxW")
        highest = max(max(t) for t in a.table)
        if highest >= ins[0][0]:
            raise ShapeError(f"the table reads input map {highest}, but the input has {ins[0][0]} maps")
        hw = spatial_out(ins[0][1:], (a.kernel, a.kernel), (1, 1), (0, 0), (1, 1))  # type: ignore[arg-type]
        return ((len(a.table), *hw),)

    def params(self, a: TableConvAttrs, ins: tuple[Shape, ...]) -> int:
        return sum(len(t) for t in a.table) * a.kernel ** 2 + (len(a.table) if a.bias else 0)

    def macs(self, a: TableConvAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins) * numel(outs[0][1:])

    def tensors(self, a: TableConvAttrs) -> tuple[str, ...]:
        return ("weight", "bias") if a.bias else ("weight",)

    def module(self, a: TableConvAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("TableConv2d", (a.table, a.kernel, a.bias))


class RbfAttrs(Attrs):
    out: int = Field(ge=1)


@register
class Rbf(Op):
    """Euclidean RBF units: y_i = sum_j (x_j - w_ij)^2, with fixed centres w (a buffer of +-1 codes)."""

    fresh_output = True
    name = "rbf"
    family = "linear"
    Attrs = RbfAttrs
    stateful = True

    def infer(self, a: RbfAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        if len(ins[0]) != 1:
            raise ShapeError(f"expected a feature vector, got {fmt(ins[0])}")
        return ((a.out,),)

    def work(self, a: RbfAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return ins[0][0] * a.out

    def buffer_elements(self, a: RbfAttrs, ins: tuple[Shape, ...]) -> int:
        return ins[0][0] * a.out  # the centres

    def module(self, a: RbfAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("RBF", (ins[0][0], a.out))
