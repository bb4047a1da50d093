"""Op registry: CapsNet's units (Sabour et al., 2017): `squash`, `length`, `capsule_routing`
(routing-by-agreement) and `capsule_mask` (the label's capsule in training, the longest in eval)."""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Attrs, Ctor, Op, Shape, ShapeError, Var, axis, call, fmt, register


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
