"""Op registry: ops that join or split tensors (add, concat, multiply, chunk, split, shuffle)."""
from __future__ import annotations

from pydantic import Field, PositiveInt

from archc.ops.base import Attrs, Op, Shape, ShapeError, Var, axis, call, expect_rank, fmt, register


@register
class Add(Op):
    fresh_output = True
    name = "add"
    family = "merge"
    min_inputs = 2
    max_inputs = None

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        if any(s != ins[0] for s in ins):
            raise ShapeError(f"add needs inputs of one shape, got {', '.join(fmt(s) for s in ins)}")
        return (ins[0],)

    # Like torchvision's `out += identity`: summing into a fresh tensor saves an allocation.
    can_run_inplace = True

    def to_call(self, a: Attrs, args: list[str], inplace: bool) -> str:
        if inplace:
            return args[0] + "".join(f".add_({b})" for b in args[1:])
        return " + ".join(args)


@register
class Multiply(Op):
    """Element-wise product with broadcasting, as squeeze-and-excitation scales channels."""

    fresh_output = True
    name = "multiply"
    family = "merge"
    min_inputs = 2
    max_inputs = None

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        out = ins[0]
        for shape in ins[1:]:
            out = _broadcast(out, shape, ins)
        return (out,)

    def to_call(self, a: Attrs, args: list[str], inplace: bool) -> str:
        return " * ".join(args)


def _broadcast(x: Shape, y: Shape, all_inputs: tuple[Shape, ...]) -> Shape:
    if len(x) != len(y):
        raise ShapeError(f"multiply needs inputs of one rank, got {', '.join(fmt(s) for s in all_inputs)}")
    out = []
    for p, q in zip(x, y):
        # A size of 1 spreads over the other, whatever that is (squeeze-and-excitation's 1x1).
        if type(q) is int and q == 1 or type(p) is int and p == 1:
            out.append(p if type(q) is int and q == 1 else q)
        elif p != q:
            raise ShapeError(f"cannot broadcast {', '.join(fmt(s) for s in all_inputs)} together")
        else:
            out.append(p)
    return tuple(out)


class ConcatAttrs(Attrs):
    dim: int = 1


@register
class Concat(Op):
    fresh_output = True
    name = "concat"
    family = "merge"
    Attrs = ConcatAttrs
    min_inputs = 1
    max_inputs = None

    def infer(self, a: ConcatAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        k = axis(a.dim, len(ins[0]))
        rest = [s[:k] + s[k + 1:] for s in ins]
        if any(len(s) != len(ins[0]) for s in ins) or any(r != rest[0] for r in rest):
            raise ShapeError(
                f"concat along dim {a.dim} needs inputs equal in every other dim, got {', '.join(fmt(s) for s in ins)}"
            )
        return (ins[0][:k] + (sum(s[k] for s in ins),) + ins[0][k + 1:],)

    def to_call(self, a: ConcatAttrs, args: list[str], inplace: bool) -> str:
        return call("torch.cat", Var(f"[{', '.join(args)}]"), a.dim)


class ChunkAttrs(Attrs):
    chunks: int = Field(ge=1)
    dim: int = 1


@register
class Chunk(Op):
    name = "chunk"
    family = "merge"
    Attrs = ChunkAttrs

    def num_outputs(self, a: ChunkAttrs) -> int:
        return a.chunks

    def infer(self, a: ChunkAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        k = axis(a.dim, len(x))
        if x[k] % a.chunks:
            raise ShapeError(f"cannot chunk size {x[k]} of {fmt(x)} into {a.chunks} equal parts")
        part = x[:k] + (x[k] // a.chunks,) + x[k + 1:]
        return (part,) * a.chunks

    def to_call(self, a: ChunkAttrs, args: list[str], inplace: bool) -> str:
        # One chunk is one output, a tensor: torch still returns a tuple of it.
        return call(f"{args[0]}.chunk", a.chunks, dim=a.dim) + ("[0]" if a.chunks == 1 else "")


class SplitAttrs(Attrs):
    sizes: tuple[PositiveInt, ...] = Field(min_length=1)
    dim: int = 1


@register
class Split(Op):
    name = "split"
    family = "merge"
    Attrs = SplitAttrs

    def num_outputs(self, a: SplitAttrs) -> int:
        return len(a.sizes)

    def infer(self, a: SplitAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        x = ins[0]
        k = axis(a.dim, len(x))
        if not a.sizes or min(a.sizes) < 1 or sum(a.sizes) != x[k]:
            raise ShapeError(f"split sizes {list(a.sizes)} must be >= 1 and add up to {x[k]} (dim {a.dim} of {fmt(x)})")
        return tuple(x[:k] + (n,) + x[k + 1:] for n in a.sizes)

    def to_call(self, a: SplitAttrs, args: list[str], inplace: bool) -> str:
        return call("torch.split", Var(args[0]), list(a.sizes), dim=a.dim) + ("[0]" if len(a.sizes) == 1 else "")


class ShuffleAttrs(Attrs):
    groups: int = Field(ge=1)


@register
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle, written as torchvision writes it (view, transpose, view)."""

    name = "channel_shuffle"
    family = "merge"
    Attrs = ShuffleAttrs
    shape: Shape = ()

    def infer(self, a: ShuffleAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        expect_rank(ins[0], (3,), "CxHxW")
        if ins[0][0] % a.groups:
            raise ShapeError(f"{ins[0][0]} channels do not split into {a.groups} groups")
        return (ins[0],)

    def to_call(self, a: ShuffleAttrs, args: list[str], inplace: bool) -> str:
        return call("channel_shuffle", Var(args[0]), a.groups)
