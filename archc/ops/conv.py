"""Op registry: convolutions and fully connected layers."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from archc.ops.base import (
    Attrs, Ctor, Op, Shape, ShapeError, expect_rank, fmt, keywords, ntuple, numel, pooled_size, register,
)

# Sizes are checked here, so a zero kernel or a negative padding is reported at the argument.
PositivePair = PositiveInt | tuple[PositiveInt, PositiveInt]
Padding = NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt] | Literal["same", "valid"]


class ConvAttrs(Attrs):
    out: int = Field(ge=1)
    kernel: PositivePair
    stride: PositivePair = 1
    padding: Padding = 0
    dilation: PositivePair = 1
    groups: int = Field(1, ge=1)
    bias: bool = True


def _check_groups(in_channels: int, a: ConvAttrs) -> None:
    if in_channels % a.groups or a.out % a.groups:
        raise ShapeError(
            f"groups={a.groups} must divide both the {in_channels} input channels and the {a.out} output channels"
        )


def _conv_lengths(sizes: Shape, a: ConvAttrs, dims: int) -> Shape:
    kernel, stride, dilation = (ntuple(v, dims, n) for v, n in ((a.kernel, "kernel"), (a.stride, "stride"), (a.dilation, "dilation")))
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ShapeError(f"kernel, stride and dilation must be >= 1, got {kernel}, {stride}, {dilation}")
    if a.padding == "valid":
        padding = (0,) * dims
    elif a.padding == "same":
        if max(stride) != 1:
            raise ShapeError("padding='same' needs stride 1 (as in PyTorch)")
        return sizes
    else:
        padding = ntuple(a.padding, dims, "padding")
        if min(padding) < 0:
            raise ShapeError(f"padding must be >= 0, got {a.padding}")
    out = tuple(pooled_size(sizes[i], kernel[i], stride[i], padding[i], dilation[i], False) for i in range(dims))
    if any(n < 1 for n in out):
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        dilated = f" dilated by {fmt(dilation)} (spanning {fmt(span)})" if span != kernel else ""
        raise ShapeError(
            f"spatial size {fmt(sizes)} is too small for kernel {fmt(kernel)}{dilated}, stride {fmt(stride)}, "
            f"padding {fmt(padding)}: the output would be empty"
        )
    return out


class _Conv(Op):
    fresh_output = True
    family = "conv"
    Attrs = ConvAttrs
    stateful = True
    dims: int

    def infer(self, a: ConvAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        (x,) = ins
        expect_rank(x, (self.dims + 1,), "CxHxW" if self.dims == 2 else "CxL")
        _check_groups(x[0], a)
        return ((a.out, *_conv_lengths(x[1:], a, self.dims)),)

    def params(self, a: ConvAttrs, ins: tuple[Shape, ...]) -> int:
        kernel = numel(ntuple(a.kernel, self.dims, "kernel"))
        return a.out * (ins[0][0] // a.groups) * kernel + (a.out if a.bias else 0)

    def macs(self, a: ConvAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins) * numel(outs[0][1:])

    def tensors(self, a: ConvAttrs) -> tuple[str, ...]:
        return ("weight", "bias") if a.bias else ("weight",)

    def tensor_ndim(self, a: ConvAttrs, ins: tuple[Shape, ...], tensor: str) -> int:
        return self.dims + 2 if tensor == "weight" else 1

    def module(self, a: ConvAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor(
            f"nn.Conv{self.dims}d", (ins[0][0], a.out, a.kernel), labels=("in_channels", "out_channels", "kernel_size"),
            **keywords(("stride", a.stride, 1), ("padding", a.padding, 0), ("dilation", a.dilation, 1),
                       ("groups", a.groups, 1), ("bias", a.bias, True)),
        )


@register
class Conv2d(_Conv):
    name = "conv2d"
    dims = 2


@register
class Conv1d(_Conv):
    name = "conv1d"
    dims = 1


class LinearAttrs(Attrs):
    out: int = Field(ge=1)
    bias: bool = True
    # Optional: states the expected input features so a wrong input is caught here.
    in_features: int | None = Field(None, ge=1)


@register
class Linear(Op):
    fresh_output = True
    name = "linear"
    family = "linear"
    Attrs = LinearAttrs
    stateful = True

    def infer(self, a: LinearAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        (x,) = ins
        if not x:
            raise ShapeError("expected an input with a feature dimension, got a scalar")
        if len(x) > 2 and a.in_features is None:
            # nn.Linear would silently act on the width of an image: almost always a missing flatten.
            # Stating in_features says it is meant (a channels-last map, as ConvNeXt's MLP).
            raise ShapeError(
                f"expected a feature vector, got {fmt(x)}; flatten first to get {numel(x)} features "
                f"(or give in_features={x[-1]} to act on the last dim, as on a channels-last map)"
            )
        if a.in_features is not None and x[-1] != a.in_features:
            raise ShapeError(f"expected {a.in_features} input features, got {x[-1]}")
        return ((*x[:-1], a.out),)

    def params(self, a: LinearAttrs, ins: tuple[Shape, ...]) -> int:
        return ins[0][-1] * a.out + (a.out if a.bias else 0)

    def macs(self, a: LinearAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins) * numel(ins[0][:-1])

    def tensors(self, a: LinearAttrs) -> tuple[str, ...]:
        return ("weight", "bias") if a.bias else ("weight",)

    def tensor_ndim(self, a: LinearAttrs, ins: tuple[Shape, ...], tensor: str) -> int:
        return 2 if tensor == "weight" else 1

    def module(self, a: LinearAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.Linear", (ins[0][-1], a.out), labels=("in_features", "out_features"), **keywords(("bias", a.bias, True)))
