"""Op registry: FractalNet's units (Larsson et al., 2016): `columns` (gathers the inputs of a join
without joining), `join` (their element-wise mean, with local and global drop-path in training)
and `drop_path_plan` (draws the mini-batch's drop-path mode once for every join)."""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Attrs, Ctor, Op, Shape, ShapeError, fmt, register


def _columns(ins: tuple[Shape, ...]) -> tuple[int, Shape]:
    """How many maps the inputs hold in all (a CxHxW map is one, a KxCxHxW stack K), and their shape."""
    base = ins[0][1:] if len(ins[0]) == 4 else ins[0]
    total = 0
    for shape in ins:
        if len(shape) not in (3, 4) or (shape[1:] if len(shape) == 4 else shape) != base:
            raise ShapeError(f"expected CxHxW maps or KxCxHxW stacks of one map shape, got {', '.join(fmt(s) for s in ins)}")
        total += shape[0] if len(shape) == 4 else 1
    return total, base


@register
class Columns(Op):
    """The inputs of a join, kept apart: a KxCxHxW stack (stacks are flattened, in order)."""

    fresh_output = True
    name = "columns"
    family = "merge"
    min_inputs = 1
    max_inputs = None
    stateful = True  # a parameter-free module: it flattens stacks by their rank at run time

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        total, base = _columns(ins)
        return ((total, *base),)

    def module(self, a: Attrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("Columns", (tuple(len(s) == 4 for s in ins),))


class JoinAttrs(Attrs):
    p_local: float = Field(0.15, ge=0, lt=1)


@register
class Join(Op):
    """FractalNet's join: the element-wise mean of its input maps (stacks are flattened).

    In training, a mini-batch either drops each input with probability `p_local` (keeping at
    least one), or keeps one column for the whole network (the plan drawn by `drop_path_plan`):
    input k of a join, counted from the deepest column, is column k.
    """

    name = "join"
    family = "merge"
    Attrs = JoinAttrs
    min_inputs = 1
    max_inputs = None
    stateful = True

    def infer(self, a: JoinAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (_columns(ins)[1],)

    def module(self, a: JoinAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("FractalJoin", (a.p_local, tuple(len(s) == 4 for s in ins), _columns(ins)[0]))


class PlanAttrs(Attrs):
    columns: int = Field(ge=1)
    global_fraction: float = Field(0.5, ge=0, le=1)


@register
class DropPathPlan(Op):
    """Passes its input on; in training, draws per mini-batch whether FractalNet's joins drop
    paths locally or keep one column (uniform over `columns`) for the whole network."""

    transparent = True
    name = "drop_path_plan"
    Attrs = PlanAttrs
    stateful = True

    def infer(self, a: PlanAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def module(self, a: PlanAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("DropPathPlan", (a.columns, a.global_fraction))
