"""Op registry: units of paper-only networks that torch has no layer for.

LeNet-5 (LeCun et al., 1998): `scaled_tanh` (A tanh(S a)), `subsample` (trainable
subsampling), `table_conv2d` (C3's sparse connection table), `rbf` (Euclidean RBF output units).
FractalNet (Larsson et al., 2016): `columns` (gathers the inputs of a join without joining),
`join` (their element-wise mean, with local and global drop-path in training) and
`drop_path_plan` (draws the mini-batch's drop-path mode once for every join).
CapsNet (Sabour et al., 2017): `squash`, `length`, `capsule_routing` (routing-by-agreement) and
`capsule_mask` (the label's capsule in training, the longest in eval).
"""
from __future__ import annotations

from pydantic import Field, field_validator

from archc.ops.base import Attrs, Ctor, Op, Shape, ShapeError, Var, axis, call, expect_rank, fmt, numel, register, spatial_out


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


# CapsNet (Sabour, Frosst & Hinton, 2017) ---------------------------------------------------


class SquashAttrs(Attrs):
    dim: int = -1


@register
class Squash(Op):
    """v = |s|^2 / (1 + |s|^2) * s / |s| along `dim`: short vectors shrink to 0, long ones to length 1."""

    fresh_output = True
    name = "squash"
    family = "activation"
    Attrs = SquashAttrs
    stateful = True  # a parameter-free module (the formula is more than one call)

    def infer(self, a: SquashAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        axis(a.dim, len(ins[0]))
        return (ins[0],)

    def module(self, a: SquashAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("Squash", (a.dim,))


class LengthAttrs(Attrs):
    dim: int = -1


@register
class Length(Op):
    """The Euclidean length of vectors along `dim` (a capsule's length: the probability its entity is present)."""

    # Not fresh: vector_norm's backward reads its own result, so a relu after it must not overwrite it.
    name = "length"
    Attrs = LengthAttrs

    def infer(self, a: LengthAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        k = axis(a.dim, len(ins[0]))
        return (ins[0][:k] + ins[0][k + 1:],)

    def to_call(self, a: LengthAttrs, args: list[str], inplace: bool) -> str:
        return call("torch.linalg.vector_norm", Var(args[0]), dim=a.dim)


class RoutingAttrs(Attrs):
    capsules: int = Field(ge=1)
    dim: int = Field(ge=1)
    iterations: int = Field(3, ge=1)


@register
class CapsuleRouting(Op):
    """Capsules from capsules by routing-by-agreement (Sabour et al., Procedure 1).

    Input: N_in capsules of D_in dims; weight W: N_in x capsules x dim x D_in (no bias);
    u_hat = W u, then `iterations` rounds of c = softmax(b), v = squash(sum c u_hat), b += u_hat . v.
    """

    fresh_output = True
    name = "capsule_routing"
    family = "linear"
    Attrs = RoutingAttrs
    stateful = True

    def infer(self, a: RoutingAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        if len(ins[0]) != 2:
            raise ShapeError(f"expected capsules x dims, got {fmt(ins[0])}")
        return ((a.capsules, a.dim),)

    def params(self, a: RoutingAttrs, ins: tuple[Shape, ...]) -> int:
        return ins[0][0] * a.capsules * a.dim * ins[0][1]

    def macs(self, a: RoutingAttrs, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        return self.params(a, ins)  # torchinfo: a non-conv weight counts once per sample

    def tensors(self, a: RoutingAttrs) -> tuple[str, ...]:
        return ("W",)

    def module(self, a: RoutingAttrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("CapsuleRouting", (ins[0][0], ins[0][1], a.capsules, a.dim, a.iterations))


@register
class CapsuleMask(Op):
    """Keeps one capsule, zeroing the others: the label's in training, the longest in eval.

    Inputs: capsules (K x D) and the label (K, one-hot).
    """

    name = "capsule_mask"
    family = "merge"
    min_inputs = 2
    max_inputs = 2
    stateful = True

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        caps, label = ins
        if len(caps) != 2 or label != (caps[0],):
            raise ShapeError(f"expected K x D capsules and a one-hot label of K, got {fmt(caps)} and {fmt(label)}")
        return (caps,)

    def module(self, a: Attrs, ins: tuple[Shape, ...]) -> Ctor:
        return Ctor("CapsuleMask", (ins[0][0],))
