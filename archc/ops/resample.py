"""Op registry: resampling: interpolation (upsample) and transposed convolutions."""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from archc.ops.base import Attrs, Ctor, Op, Shape, ShapeError, Var, call, expect_rank, fmt, non_default, ntuple, numel, register


PositivePair = PositiveInt | tuple[PositiveInt, PositiveInt]
NonNegativePair = NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt]
_ALIGNED_MODES = ("linear", "bilinear", "bicubic")


class InterpolateAttrs(Attrs):
    size: PositivePair | None = Field(None, description="output size (one int or one per spatial dim)")
    scale_factor: PositiveFloat | tuple[PositiveFloat, PositiveFloat] | None = None
    mode: Literal["nearest", "nearest-exact", "linear", "bilinear", "bicubic"] = "nearest"
    align_corners: bool | None = None


def _scaled(size: Any, scale: float) -> Any:
    """floor(size * scale), as F.interpolate computes it; an integral scale stays exact on
    symbolic sizes (x2 upsampling follows any input size)."""
    if float(scale).is_integer():
        return size * int(scale)
    return math.floor(size * scale)


class _Interpolate(Op):
    """F.interpolate: to a fixed `size`, or by `scale_factor` (the output size is floored, as in PyTorch)."""

    fresh_output = True
    family = "pool"
    Attrs = InterpolateAttrs
    runtime_attrs = frozenset({"size"})

    def infer(self, a: InterpolateAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        expect_rank(x, (2, 3), "CxL or CxHxW")
        dims = len(x) - 1
        if (a.size is None) == (a.scale_factor is None):
            raise ShapeError("give exactly one of size and scale_factor")
        if (a.mode == "linear") != (dims == 1) and a.mode in _ALIGNED_MODES:
            raise ShapeError(f"mode {a.mode!r} does not fit a {fmt(x)} input ({'linear' if dims == 1 else 'bilinear or bicubic'} does)")
        if a.align_corners is not None and a.mode not in _ALIGNED_MODES:
            raise ShapeError(f"align_corners only applies to modes {', '.join(_ALIGNED_MODES)}, not {a.mode!r}")
        if a.size is not None:
            size = ntuple(a.size, dims, "size")
        else:
            scale = a.scale_factor if isinstance(a.scale_factor, tuple) else (a.scale_factor,) * dims
            if len(scale) != dims:
                raise ShapeError(f"scale_factor must be one number or {dims}, got {list(scale)}")
            size = tuple(_scaled(n, s) for n, s in zip(x[1:], scale))
            if any(n < 1 for n in size):
                raise ShapeError(f"scaling {fmt(x[1:])} by {a.scale_factor} leaves an empty output")
        return ((x[0], *size),)

    def to_call(self, a: InterpolateAttrs, args: list[str], inplace: bool) -> str:
        kwargs = {k: v for k, v in (("size", a.size), ("scale_factor", a.scale_factor)) if v is not None}
        if a.mode != "nearest":
            kwargs["mode"] = a.mode
        if a.align_corners is not None:
            kwargs["align_corners"] = a.align_corners
        return call("F.interpolate", Var(args[0]), **kwargs)

    def module(self, a: InterpolateAttrs, ins: tuple[Shape, ...]) -> Ctor:
        kwargs = non_default((("size", a.size, None), ("scale_factor", a.scale_factor, None), ("mode", a.mode, "nearest"), ("align_corners", a.align_corners, None)))
        return Ctor("nn.Upsample", (), kwargs)


@register
class Upsample(_Interpolate):
    name = "upsample"


@register
class Interpolate(_Interpolate):
    name = "interpolate"


class ConvTransposeAttrs(Attrs):
    out: int = Field(ge=1)
    kernel: PositivePair
    stride: PositivePair = 1
    padding: NonNegativePair = 0
    output_padding: NonNegativePair = 0
    groups: int = Field(1, ge=1)
    bias: bool = True
    dilation: PositivePair = 1


class _ConvTranspose(Op):
    """Transposed convolution; the argument order is torch's (output_padding before groups)."""

    fresh_output = True
    family = "conv"
    Attrs = ConvTransposeAttrs
    stateful = True
    dims: int

    def infer(self, a: ConvTransposeAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        (x,) = ins
        expect_rank(x, (self.dims + 1,), "CxHxW" if self.dims == 2 else "CxL")
        if x[0] % a.groups or a.out % a.groups:
            raise ShapeError(f"groups={a.groups} must divide both the {x[0]} input channels and the {a.out} output channels")
        kernel, stride, padding, extra, dilation = (
            ntuple(v, self.dims, n) for v, n in ((a.kernel, "kernel"), (a.stride, "stride"), (a.padding, "padding"),
                                                    (a.output_padding, "output_padding"), (a.dilation, "dilation")))
        if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
            raise ShapeError(f"output_padding {fmt(extra)} must be smaller than the stride or the dilation ({fmt(stride)}, {fmt(dilation)})")
        out = tuple((n - 1) * s - 2 * p + d * (k - 1) + e + 1 for n, s, p, d, k, e in zip(x[1:], stride, padding, dilation, kernel, extra))
        if any(n < 1 for n in out):
            raise ShapeError(f"padding {fmt(padding)} leaves an empty output for a {fmt(x)} input")
        return ((a.out, *out),)

    def params(self, a: ConvTransposeAttrs, ins: tuple[Shape, ...]) -> int:
        kernel = numel(ntuple(a.kernel, self.dims, "kernel"))
        return ins[0][0] * (a.out // a.groups) * kernel + (a.out if a.bias else 0)

    def macs(self, a: ConvTransposeAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins) * numel(outs[0][1:])

    def tensors(self, a: ConvTransposeAttrs) -> tuple[str, ...]:
        return ("weight", "bias") if a.bias else ("weight",)

    def tensor_ndim(self, a: ConvTransposeAttrs, ins: tuple[Shape, ...], tensor: str) -> int:
        return self.dims + 2 if tensor == "weight" else 1

    def module(self, a: ConvTransposeAttrs, ins: tuple[Shape, ...]) -> Ctor:
        kwargs = non_default((("stride", a.stride, 1), ("padding", a.padding, 0), ("output_padding", a.output_padding, 0),
                               ("groups", a.groups, 1), ("bias", a.bias, True), ("dilation", a.dilation, 1)))
        return Ctor(f"nn.ConvTranspose{self.dims}d", (ins[0][0], a.out, a.kernel), kwargs)


@register
class ConvTranspose2d(_ConvTranspose):
    name = "conv_transpose2d"
    dims = 2


@register
class ConvTranspose1d(_ConvTranspose):
    name = "conv_transpose1d"
    dims = 1
