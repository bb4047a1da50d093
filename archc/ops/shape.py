"""Op registry: reshaping and indexing tensors (reshape, permute, transpose, select, slice, expand, matmul).

Shapes are per sample, as everywhere in archc, but dims count the batch as 0, as in
PyTorch: `permute([0, 2, 3, 1])` is NCHW -> NHWC. The batch dim itself stays where it is.
"""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Attrs, Op, Shape, ShapeError, Var, axis, call, fmt, numel, register


class ReshapeAttrs(Attrs):
    shape: tuple[int, ...] = Field(min_length=1, description="the per-sample shape; one entry may be -1")


@register
class Reshape(Op):
    name = "reshape"
    Attrs = ReshapeAttrs
    # Sizes computed from the input (`input_shape[1] // 2`, a map cut into patches) are read in forward.
    runtime_attrs = frozenset({"shape"})

    def infer(self, a: ReshapeAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        unknown = [i for i, n in enumerate(a.shape) if n == -1]
        if len(unknown) > 1 or any(n < -1 or n == 0 for n in a.shape):
            raise ShapeError(f"reshape sizes must be >= 1 with at most one -1, got {list(a.shape)}")
        known = numel(tuple(n for n in a.shape if n != -1))
        if unknown:
            if numel(x) % known:
                raise ShapeError(f"cannot reshape {fmt(x)} ({numel(x)} values) into {list(a.shape)}")
            return (tuple(numel(x) // known if n == -1 else n for n in a.shape),)
        if known != numel(x):
            raise ShapeError(f"cannot reshape {fmt(x)} ({numel(x)} values) into {fmt(a.shape)} ({known} values)")
        return (a.shape,)

    def to_call(self, a: ReshapeAttrs, args: list[str], inplace: bool) -> str:
        return call(f"{args[0]}.reshape", Var(f"{args[0]}.shape[0]"), *a.shape)


class PermuteAttrs(Attrs):
    dims: tuple[int, ...] = Field(min_length=2, description="the new order of dims, batch (0) first")


@register
class Permute(Op):
    name = "permute"
    Attrs = PermuteAttrs

    def infer(self, a: PermuteAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        if sorted(a.dims) != list(range(len(x) + 1)):
            raise ShapeError(f"dims {list(a.dims)} must order all of 0..{len(x)} (the batch is 0) for a {fmt(x)} input")
        if a.dims[0] != 0:
            raise ShapeError(f"the batch dim must stay first: dims must start with 0, got {list(a.dims)}")
        return (tuple(x[d - 1] for d in a.dims[1:]),)

    def to_call(self, a: PermuteAttrs, args: list[str], inplace: bool) -> str:
        return call(f"{args[0]}.permute", *a.dims)


class TransposeAttrs(Attrs):
    dim0: int
    dim1: int


@register
class Transpose(Op):
    name = "transpose"
    Attrs = TransposeAttrs

    def infer(self, a: TransposeAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = list(ins[0])
        i, j = axis(a.dim0, len(x)), axis(a.dim1, len(x))
        x[i], x[j] = x[j], x[i]
        return (tuple(x),)

    def to_call(self, a: TransposeAttrs, args: list[str], inplace: bool) -> str:
        return call(f"{args[0]}.transpose", a.dim0, a.dim1)


class SelectAttrs(Attrs):
    dim: int
    index: int


@register
class Select(Op):
    """`x[:, 0]` (ViT's class token): one index of a dim, which goes away."""

    name = "select"
    Attrs = SelectAttrs

    def infer(self, a: SelectAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        k = axis(a.dim, len(x))
        if not -x[k] <= a.index < x[k]:
            raise ShapeError(f"index {a.index} is out of range for size {x[k]} (dim {a.dim} of {fmt(x)})")
        return (x[:k] + x[k + 1:],)

    def to_call(self, a: SelectAttrs, args: list[str], inplace: bool) -> str:
        return call(f"{args[0]}.select", a.dim, a.index)


class SliceAttrs(Attrs):
    dim: int
    start: int | None = None
    end: int | None = None
    step: int = Field(1, ge=1)


@register
class Slice(Op):
    """`x[:, :, start:end:step]` along one dim, with Python's rules for negative and missing bounds."""

    name = "slice"
    Attrs = SliceAttrs

    def infer(self, a: SliceAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        k = axis(a.dim, len(x))
        size = len(range(*slice(a.start, a.end, a.step).indices(x[k])))
        if size == 0:
            raise ShapeError(f"slice {a.start}:{a.end} of size {x[k]} (dim {a.dim} of {fmt(x)}) is empty")
        return (x[:k] + (size,) + x[k + 1:],)

    def to_call(self, a: SliceAttrs, args: list[str], inplace: bool) -> str:
        # aten's slice is exactly `x[..., start:end:step]` (bounds as in Python), as a call.
        return call("torch.ops.aten.slice", Var(args[0]), a.dim, a.start, a.end, a.step)


class ExpandAttrs(Attrs):
    shape: tuple[int, ...] = Field(min_length=1, description="the per-sample shape; -1 keeps a size")


@register
class Expand(Op):
    name = "expand"
    Attrs = ExpandAttrs

    def infer(self, a: ExpandAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        if len(a.shape) != len(x):
            raise ShapeError(f"expand needs one size per dim of {fmt(x)}, got {list(a.shape)}")
        out = []
        for n, m in zip(x, a.shape):
            if m != -1 and n not in (1, m):
                raise ShapeError(f"cannot expand {fmt(x)} to {list(a.shape)}: only sizes of 1 expand")
            out.append(n if m == -1 else m)
        return (tuple(out),)

    def to_call(self, a: ExpandAttrs, args: list[str], inplace: bool) -> str:
        return call(f"{args[0]}.expand", -1, *a.shape)


@register
class Matmul(Op):
    """torch.matmul of two inputs per sample: (..., n, k) @ (..., k, m), leading dims broadcast."""

    fresh_output = True
    name = "matmul"
    family = "merge"
    min_inputs = 2
    max_inputs = 2

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x, y = ins
        if len(x) < 2 or len(y) < 2:
            raise ShapeError(f"matmul needs inputs of at least 2 dims per sample, got {fmt(x)}, {fmt(y)}")
        if x[-1] != y[-2]:
            raise ShapeError(f"matmul needs the last dim of the first input to equal the second-to-last of the second, got {fmt(x)}, {fmt(y)}")
        lead_x, lead_y = x[:-2], y[:-2]
        if len(lead_x) != len(lead_y):
            raise ShapeError(f"matmul needs inputs of one rank, got {fmt(x)}, {fmt(y)}")
        lead = []
        for p, q in zip(lead_x, lead_y):
            if type(q) is int and q == 1 or type(p) is int and p == 1:
                lead.append(p if type(q) is int and q == 1 else q)
            elif p != q:
                raise ShapeError(f"cannot broadcast the leading dims of {fmt(x)}, {fmt(y)}")
            else:
                lead.append(p)
        return ((*lead, x[-2], y[-1]),)

    def work(self, a: Attrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return numel(outs[0]) * ins[0][-1]

    def to_call(self, a: Attrs, args: list[str], inplace: bool) -> str:
        return call("torch.matmul", Var(args[0]), Var(args[1]))


@register
class CenterCrop(Op):
    """The centre of the first input's H x W, cut to the second input's size (U-Net's skip crop)."""

    name = "center_crop"
    family = "merge"
    min_inputs = 2
    max_inputs = 2

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x, like = ins
        if len(x) != 3 or len(like) != 3:
            raise ShapeError(f"center_crop needs two CxHxW inputs, got {fmt(x)}, {fmt(like)}")
        if like[1] > x[1] or like[2] > x[2]:
            raise ShapeError(f"cannot crop {fmt(x)} to the larger {like[1]}x{like[2]} of {fmt(like)}")
        return ((x[0], like[1], like[2]),)

    def to_call(self, a: Attrs, args: list[str], inplace: bool) -> str:
        # The offsets are computed from both inputs' sizes in forward, so any input size works.
        return call("center_crop", Var(args[0]), Var(args[1]))
