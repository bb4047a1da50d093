"""Op registry: padding (torch.nn.functional.pad), with an optional spatial subsample first.

`pad([left, right, top, bottom, front, back], mode, value)` takes its widths in F.pad's order:
pairs for the last dim first, then the dim before it, and so on, so `[0, 0, 0, 0, 8, 8]`
pads the channels of a CxHxW map with 8 zero maps on each side. `stride=s` first keeps every
s-th row and column (`x[:, :, ::s, ::s]`): with it, ResNet's option-A shortcut (He et al.,
2015, the CIFAR nets) is one node, `pad([0, 0, 0, 0, 8, 8], stride=2)`.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from archc.ops.base import Attrs, Op, Shape, ShapeError, Var, call, fmt, register
from archc.spec.expr import SymbolicNumber


class PadAttrs(Attrs):
    pad: tuple[int, ...] = Field(min_length=2)
    mode: Literal["constant", "reflect", "replicate", "circular"] = "constant"
    value: float = 0.0
    stride: int = Field(1, ge=1)

    @field_validator("pad")
    @classmethod
    def _pairs(cls, pad: tuple[int, ...]) -> tuple[int, ...]:
        if len(pad) % 2:
            raise ValueError("widths come in (before, after) pairs, one pair per dim from the last")
        return pad


@register
class Pad(Op):
    name = "pad"
    Attrs = PadAttrs
    runtime_attrs = frozenset({"pad"})

    def infer(self, a: PadAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        if a.stride != 1:
            if len(x) != 3:
                raise ShapeError(f"stride={a.stride} subsamples a CxHxW input, got {fmt(x)}")
            x = (x[0], -(-x[1] // a.stride), -(-x[2] // a.stride))
        dims = len(a.pad) // 2
        if dims > len(x):
            raise ShapeError(f"{len(a.pad)} widths pad {dims} dims, but a {fmt(x)} sample has {len(x)} (the batch is never padded)")
        if a.mode != "constant":
            _check_non_constant(a, x, dims)
        out = list(x)
        for k in range(dims):
            d = len(x) - 1 - k
            before, after = a.pad[2 * k], a.pad[2 * k + 1]
            out[d] = x[d] + before + after
            # Negative widths crop first (as torch does), so they may not cut more than there is.
            if out[d] < 1 or x[d] + _at_most_zero(before) + _at_most_zero(after) < 0:
                raise ShapeError(f"widths {before}, {after} on a dim of size {x[d]} crop more than it has")
        return (tuple(out),)

    def to_call(self, a: PadAttrs, args: list[str], inplace: bool) -> str:
        x = Var(args[0])
        if a.stride != 1:
            # A 1x1 max-pool with stride s is exactly x[:, :, ::s, ::s].
            x = Var(call("F.max_pool2d", x, 1, a.stride))
        kwargs: dict[str, object] = {}
        if a.mode != "constant":
            kwargs["mode"] = a.mode
        if a.value != 0.0:
            kwargs["value"] = a.value
        return call("F.pad", x, a.pad, **kwargs)


def _at_most_zero(width: Any) -> Any:
    """min(width, 0); as an expression for a width computed from the input size (TF-'SAME'
    padding), whose sign may differ from size to size."""
    return width.minimum(0) if isinstance(width, SymbolicNumber) else min(width, 0)


def _check_non_constant(a: PadAttrs, x: Shape, dims: int) -> None:
    """torch's reflect/replicate/circular pad all the spatial dims (1 to 3) and nothing else."""
    if a.value != 0.0:
        raise ShapeError(f"value={a.value} applies to mode 'constant' only, not {a.mode!r}")
    spatial = len(x) - 1
    if not 1 <= spatial <= 3:
        raise ShapeError(f"mode {a.mode!r} pads CxL, CxHxW or CxDxHxW samples, got {fmt(x)}")
    if dims != spatial:
        raise ShapeError(
            f"mode {a.mode!r} pads exactly the {spatial} spatial dim{'s' if spatial > 1 else ''} of a {fmt(x)} sample "
            f"({2 * spatial} widths), got {len(a.pad)} widths"
        )
    for k in range(dims):
        size = x[len(x) - 1 - k]
        before, after = a.pad[2 * k], a.pad[2 * k + 1]
        if min(before, after) < 0:
            raise ShapeError(f"mode {a.mode!r} needs widths >= 0, got {before}, {after}")
        limit = size - 1 if a.mode == "reflect" else size if a.mode == "circular" else None
        if limit is not None and max(before, after) > limit:
            raise ShapeError(f"mode {a.mode!r} pads a dim of size {size} by at most {limit}, got {before}, {after}")
