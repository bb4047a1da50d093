"""Op registry: the Op base class every op declaration derives from.

An op declares, in one class: its attribute schema (a Pydantic model whose field order
is the order of positional arguments in `conv2d(64, 3)`), how many inputs and outputs it
has, its static shape rule, its parameter and multiply-add counts, and how it becomes
PyTorch: either a module (ops with state or train/eval behaviour) or a one-line call
expression in generated `forward` code. Torch is imported only inside `to_module`, so
loading and checking specs never imports it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from archc.pysource import Var, call  # noqa: F401  (ops write calls with these)

Shape = tuple[int, ...]
FAMILIES = ("conv", "norm", "activation", "pool", "linear", "merge", "other")


class ShapeError(Exception):
    """An op's inputs do not fit it; the message names what was expected and found."""


class Attrs(BaseModel):
    # No infinite or NaN numbers: no op has a use for them, and torch would fail on them at build.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class NoAttrs(Attrs):
    pass


@dataclass(frozen=True)
class Ctor:
    """A module constructor call, as data: `Ctor("nn.Conv2d", (3, 64, 7), (("stride", 2),))`.

    `callee` is `nn.<Class>` (a torch.nn class) or the name of a class in
    archc/backends/pytorch/runtime.py (self-contained, torch-only, so its source can be
    copied into emitted files). Backends render it through the one literal writer, so an
    argument can only ever be a literal (int, float, bool, str, None, tuples of them).
    """

    callee: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    # What the positional arguments mean (`in_channels`, ...), for names in emitted source.
    labels: tuple[str, ...] = ()
    # torch's defaults of keyword arguments: emitted source leaves out those that are the
    # default in every instance of a class, as a person would write the call.
    defaults: tuple[tuple[str, Any], ...] = ()


def keywords(*triples: tuple[str, Any, Any]) -> dict[str, Any]:
    """Ctor keyword fields from (name, value, torch's default) triples."""
    return {"kwargs": tuple((k, v) for k, v, _ in triples), "defaults": tuple((k, d) for k, _, d in triples)}


class Op:
    name: ClassVar[str]
    family: ClassVar[str] = "other"
    Attrs: ClassVar[type[Attrs]] = NoAttrs
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # True when the output is a new tensor that autograd does not keep for backward, so the
    # op that reads it next may overwrite it in place (as torchvision's ReLU(inplace=True)).
    # False for views, ops that may return their input (dropout in eval), and ops such as
    # sigmoid whose backward reads their own output.
    fresh_output: ClassVar[bool] = False
    # True for ops whose output is their input itself or a scaled copy (dropout, stochastic
    # depth, identity): the output may be overwritten exactly when their input may.
    transparent: ClassVar[bool] = False
    # True when `to_call` can write into its input (`inplace=True`).
    can_run_inplace: ClassVar[bool] = False
    # True when the op lowers to a module (has parameters, buffers or train/eval behaviour).
    stateful: ClassVar[bool] = False
    # True when the module of `module()` takes `inplace=True` (nn.ReLU and the like).
    module_inplace: ClassVar[bool] = False
    # True for a stateful op whose `module()` makes a learnable tensor, registered on the
    # enclosing module under the node's own name (timm's top-level `cls_token`, ConvNeXt's
    # `gamma`); `to_call` then gets that tensor's access expression before the inputs.
    holds_tensor: ClassVar[bool] = False
    # Arguments that may be computed from the input size (`upsample(size=input_shape[1:])`):
    # the node then reads them from the tensor's shape at run time instead of fixing the size.
    runtime_attrs: ClassVar[frozenset[str]] = frozenset()

    def num_outputs(self, attrs: Any) -> int:
        return 1

    def infer(self, attrs: Any, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        raise NotImplementedError

    def params(self, attrs: Any, ins: tuple[Shape, ...]) -> int:
        return 0

    def macs(self, attrs: Any, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        """Multiply-adds, counted as torchinfo does: only ops with weights count."""
        return 0

    def work(self, attrs: Any, ins: tuple[Shape, ...], outs: tuple[Shape, ...]) -> int:
        """Multiply-adds a forward pass does, weightless products included (attention's q k^T,
        matmul): what the forward-cost limit counts, where `macs` counts as torchinfo does."""
        return self.macs(attrs, ins, outs)

    def buffer_elements(self, attrs: Any, ins: tuple[Shape, ...]) -> int:
        """Elements of the buffers the op's module holds, counted with its parameters against
        the parameter limit (a module allocates them at build, whatever it learns)."""
        return 0

    def tensors(self, attrs: Any) -> tuple[str, ...]:
        """Names of the learnable tensors of the op's module, which `init` rules can set."""
        return ()

    def tensor_ndim(self, attrs: Any, ins: tuple[Shape, ...], tensor: str) -> int:
        """How many dims the learnable `tensor` has (init schemes such as xavier need 2+).

        Biases and norm weights are vectors; ops whose weights are matrices or kernels
        say so (conv, linear)."""
        return 1

    def module(self, attrs: Any, ins: tuple[Shape, ...]) -> Ctor | None:
        """The module this op becomes: required for stateful ops; for stateless ones, the
        torch.nn module a *named* node becomes (`relu: relu` -> `nn.ReLU(inplace=True)`),
        or None where torch has no module for it (add, concat) and the node stays a call."""
        return None

    def to_call(self, attrs: Any, args: list[str], inplace: bool) -> str:
        raise NotImplementedError(f"{self.name} lowers to a module")


OPS: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    if cls.name in OPS:
        raise RuntimeError(f"op {cls.name!r} declared twice")
    if cls.family not in FAMILIES:
        raise RuntimeError(f"op {cls.name!r}: unknown family {cls.family!r}")
    OPS[cls.name] = cls()
    return cls


def get_op(name: str) -> Op | None:
    return OPS.get(name)


# Small shared shape helpers -------------------------------------------------------


def numel(shape: Shape) -> int:
    return math.prod(shape)


def fmt(shape: Shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def pair(value: int | tuple[int, ...] | list[int], what: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if len(value) != 2:
        raise ShapeError(f"{what} must be one int or two, got {list(value)}")
    return (value[0], value[1])


def ntuple(value: int | tuple[int, ...], dims: int, what: str) -> tuple[int, ...]:
    """A size written as one int or one per dim, as a tuple of `dims` ints."""
    if isinstance(value, int):
        return (value,) * dims
    if len(value) != dims:
        raise ShapeError(f"{what} must be one int or {dims}, got {list(value)}")
    return tuple(value)


def non_default(items: tuple[tuple[str, object, object], ...]) -> tuple[tuple[str, object], ...]:
    """Keyword arguments that differ from torch's defaults, as torchvision writes them."""
    return tuple((k, v) for k, v, default in items if v != default or type(v) is not type(default))


def expect_rank(shape: Shape, ranks: tuple[int, ...], layout: str) -> None:
    if len(shape) not in ranks:
        raise ShapeError(f"expected a {layout} input, got {fmt(shape)}")


def axis(dim: int, rank: int) -> int:
    """Index into a per-sample shape for a PyTorch `dim`, which counts the batch as 0."""
    if dim == 0 or dim > rank or dim < -rank:
        raise ShapeError(f"dim {dim} is out of range for a {rank}-d sample (dims count the batch as 0, as in PyTorch)")
    return dim - 1 if dim > 0 else rank + dim


def pooled_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """Output length of a pooling or convolution window, with PyTorch's ceil_mode rule."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    # PyTorch drops a last window that would start inside the right padding only.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def spatial_out(
    hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
    dilation: tuple[int, int], ceil_mode: bool = False,
) -> tuple[int, int]:
    out = tuple(pooled_size(hw[i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode) for i in range(2))
    if any(n < 1 for n in out):  # each on its own: min() of two input sizes would compare H with W
        raise ShapeError(
            f"spatial size {fmt(hw)} is too small for kernel {fmt(kernel)}, stride {fmt(stride)}, "
            f"padding {fmt(padding)}: the output would be empty"
        )
    return out  # type: ignore[return-value]
