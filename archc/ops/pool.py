"""Op registry: pooling."""
from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt

from archc.ops.base import Attrs, Ctor, Op, keywords, Shape, ShapeError, Var, call, expect_rank, pair, register, spatial_out

IntOrPair = int | tuple[int, int]
# Sizes are checked here, so a zero kernel or a negative padding is reported at the argument.
PositivePair = PositiveInt | tuple[PositiveInt, PositiveInt]
NonNegativePair = NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt]


class MaxPoolAttrs(Attrs):
    kernel: PositivePair
    stride: PositivePair | None = None  # PyTorch's default: the kernel size
    padding: NonNegativePair = 0
    dilation: PositivePair = 1
    ceil_mode: bool = False


class AvgPoolAttrs(Attrs):
    kernel: PositivePair
    stride: PositivePair | None = None
    padding: NonNegativePair = 0
    ceil_mode: bool = False
    count_include_pad: bool = True


def _window(a: MaxPoolAttrs | AvgPoolAttrs, x: Shape, dilation: IntOrPair) -> tuple[int, int]:
    expect_rank(x, (3,), "CxHxW")
    kernel, padding = pair(a.kernel, "kernel"), pair(a.padding, "padding")
    stride = pair(a.stride if a.stride is not None else a.kernel, "stride")
    if min(kernel) < 1 or min(stride) < 1:
        raise ShapeError(f"kernel and stride must be >= 1, got {a.kernel} and {a.stride}")
    if min(padding) < 0 or padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ShapeError(f"padding must be between 0 and half the kernel size, got {a.padding} for kernel {a.kernel}")
    return spatial_out((x[1], x[2]), kernel, stride, padding, pair(dilation, "dilation"), a.ceil_mode)


def _non_default(a: MaxPoolAttrs | AvgPoolAttrs) -> dict[str, object]:
    """Keyword arguments that differ from the defaults, as a person would write the call."""
    fields = type(a).model_fields
    return {k: v for k, v in a.model_dump().items() if k != "kernel" and v != fields[k].default}


def _keywords(a: MaxPoolAttrs | AvgPoolAttrs) -> dict[str, object]:
    fields = type(a).model_fields
    return keywords(*((k, v, fields[k].default) for k, v in a.model_dump().items() if k != "kernel"))


@register
class MaxPool2d(Op):
    fresh_output = True
    name = "maxpool2d"
    family = "pool"
    Attrs = MaxPoolAttrs

    def infer(self, a: MaxPoolAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return ((ins[0][0], *_window(a, ins[0], a.dilation)),)

    def module(self, a: MaxPoolAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.MaxPool2d", (a.kernel,), labels=("kernel_size",), **_keywords(a))

    def to_call(self, a: MaxPoolAttrs, args: list[str], inplace: bool) -> str:
        return call("F.max_pool2d", Var(args[0]), a.kernel, **_non_default(a))


@register
class AvgPool2d(Op):
    fresh_output = True
    name = "avgpool2d"
    family = "pool"
    Attrs = AvgPoolAttrs

    def infer(self, a: AvgPoolAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return ((ins[0][0], *_window(a, ins[0], 1)),)

    def module(self, a: AvgPoolAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("nn.AvgPool2d", (a.kernel,), labels=("kernel_size",), **_keywords(a))

    def to_call(self, a: AvgPoolAttrs, args: list[str], inplace: bool) -> str:
        return call("F.avg_pool2d", Var(args[0]), a.kernel, **_non_default(a))


class AdaptivePoolAttrs(Attrs):
    size: PositivePair = Field(1, description="output height and width")


class _AdaptivePool(Op):
    fresh_output = True
    family = "pool"
    Attrs = AdaptivePoolAttrs
    function: str
    module_class: str

    def infer(self, a: AdaptivePoolAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        expect_rank(ins[0], (3,), "CxHxW")
        size = pair(a.size, "size")
        if min(size) < 1:
            raise ShapeError(f"output size must be >= 1, got {a.size}")
        return ((ins[0][0], *size),)

    def module(self, a: AdaptivePoolAttrs, ins: tuple[Shape, ...]) -> Ctor:
        size = a.size if isinstance(a.size, int) else tuple(a.size)
        return Ctor(self.module_class, (size,), (), ("output_size",))

    def to_call(self, a: AdaptivePoolAttrs, args: list[str], inplace: bool) -> str:
        return call(self.function, Var(args[0]), pair(a.size, "size"))


@register
class AdaptiveAvgPool2d(_AdaptivePool):
    name = "adaptive_avgpool2d"
    function = "F.adaptive_avg_pool2d"
    module_class = "nn.AdaptiveAvgPool2d"


@register
class AdaptiveMaxPool2d(_AdaptivePool):
    name = "adaptive_maxpool2d"
    function = "F.adaptive_max_pool2d"
    module_class = "nn.AdaptiveMaxPool2d"
