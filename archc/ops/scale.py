"""Op registry: `scale`, multiplication by a constant (Inception-ResNet's scaled residual branches)."""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Attrs, Op, Shape, register
from archc.pysource import literal


class ScaleAttrs(Attrs):
    value: float = Field(description="the constant every element is multiplied by")


@register
class Scale(Op):
    """`x * value`: a fixed factor, no parameters (timm's `out * self.scale + x`)."""

    name = "scale"
    Attrs = ScaleAttrs
    fresh_output = True

    def infer(self, a: ScaleAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def to_call(self, a: ScaleAttrs, args: list[str], inplace: bool) -> str:
        return f"{args[0]} * {literal(a.value)}"
