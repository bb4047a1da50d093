"""IR stage: one op node's shape rule run again over the input's symbolic sizes.

The expander runs every shape rule at the declared input size; where a node's inputs or
arguments depend on the input size, `follow_op` runs the same rule on the symbolic sizes
(archc.shapes.symbolic), so that its outputs carry expressions, every decision the rule
takes is recorded as a guard, and whatever must stay a plain number (a parameter count, a
module's constructor argument, an argument the op cannot read at run time) fixes the size.
"""
from __future__ import annotations

from typing import Any, Mapping

from archc.ops.base import Op, Shape
from archc.pysource import literal
from archc.shapes.symbolic import (
    Sym, Tracer, has_symbols, leaves, shape_of, specialize_all, symbolic_shape, tracing,
)


def follow_op(
    op: Op, attrs: Any, bound: Mapping[str, Any], in_shapes: tuple[Shape, ...], outs: tuple[Shape, ...],
    where: str, tracer: Tracer,
) -> tuple[tuple[Shape, ...], tuple[tuple[str, Any], ...], tuple[Any, ...]]:
    """(outputs carrying their symbolic sizes, the arguments read at run time, the tensors they read)."""
    key = None
    if all(arg.sym is None for arg in bound.values()):
        if not any(has_symbols(s) for s in in_shapes):
            return outs, (), ()
        key = _key(op, attrs, in_shapes)
        if key is not None and key in tracer.seen:  # a repeat's instances see the same sizes
            return tracer.seen[key], (), ()
    with tracing(tracer, where, op.name):
        runtime = _runtime_arguments(op, bound)
        if not runtime and not any(has_symbols(s) for s in in_shapes):
            return outs, (), ()
        found = _follow(op, attrs, runtime, in_shapes, outs)
    if key is not None:  # the rule's guards are recorded: the next instance reuses its outputs
        tracer.seen[key] = found
    reads = tuple(dict.fromkeys(_tensors_read(tuple(v for _, v in runtime))))
    return found, runtime, reads


def _key(op: Op, attrs: Any, in_shapes: tuple[Shape, ...]) -> Any:
    try:
        return (op.name, attrs, tuple((tuple(s), tuple(getattr(v, "key", v) for v in symbolic_shape(s))) for s in in_shapes))
    except TypeError:  # an unhashable attribute
        return None


def _follow(op: Op, attrs: Any, runtime: tuple[tuple[str, Any], ...], in_shapes: tuple[Shape, ...],
            outs: tuple[Shape, ...]) -> tuple[Shape, ...]:
    """The outputs with their symbolic sizes; fixes the sizes where the rule cannot follow them."""
    sym_attrs = attrs.model_copy(update=dict(runtime)) if runtime else attrs
    sym_ins = tuple(symbolic_shape(s) for s in in_shapes)
    try:
        sym_outs = op.infer(sym_attrs, sym_ins)
        _fixed_by_construction(op, sym_attrs, sym_ins)
    except Exception:  # a rule written for plain numbers only: its sizes are fixed
        specialize_all((sym_ins, tuple(v for _, v in runtime)), f"{op.name} does not follow symbolic sizes")
        return outs
    return tuple(shape_of(tuple(o)) for o in sym_outs)


def _runtime_arguments(op: Op, bound: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Arguments computed from the input size that the op reads at run time; any other
    argument computed from it fixes the size (a conv's channels cannot follow the input)."""
    kept = []
    for name, arg in bound.items():
        syms = list(leaves(arg.sym))
        if not syms:
            continue
        if name in op.runtime_attrs and all(s.read is not None for s in syms):
            kept.append((name, arg.sym))
        else:
            specialize_all(arg.sym, f"its argument `{name}` is computed from the input size")
    return tuple(kept)


def _fixed_by_construction(op: Op, attrs: Any, ins: tuple[Any, ...]) -> None:
    """What a module is built with is one number: a parameter count or a constructor argument
    that depends on the input size fixes it (a `linear` after `flatten`)."""
    specialize_all(op.params(attrs, ins), "its parameter count depends on the input size")
    if op.stateful:
        ctor = op.module(attrs, ins)
        if ctor is not None:
            specialize_all((ctor.args, tuple(v for _, v in ctor.kwargs)), "its module is built with a size of the input")


def _tensors_read(value: Any) -> list[Any]:
    found: list[Any] = []
    for sym in leaves(value):
        _collect(sym.read, found)
    return found


def _collect(read: Any, found: list[Any]) -> None:
    if isinstance(read, tuple) and len(read) == 3 and read[0] == "dim":
        found.append(read[1])
    elif isinstance(read, tuple):
        for part in read:
            _collect(part, found)


def read_source(read: Any, var_of: Any, outer: int = 0) -> str:
    """Python source computing a size read at run time (`(x.shape[2] - 1) // 2`), with
    `var_of(tensor)` the variable holding each tensor read; parenthesised as Python needs."""
    if not isinstance(read, tuple):  # an int (Sym arithmetic takes no other constant)
        return literal(read) if read >= 0 or outer == 0 else f"({literal(read)})"
    kind = read[0]
    if kind == "dim":
        return f"{var_of(read[1])}.shape[{read[2] + 1}]"
    if kind == "call":  # a runtime helper over sizes: same_pad([x.shape[2], x.shape[3]], 3, 2, 1)
        _, name, sizes, args = read
        return f"{name}([{', '.join(read_source(r, var_of) for r in sizes)}], {', '.join(map(literal, args))})"
    if kind == "item":
        return f"{read_source(read[1], var_of)}[{read[2]}]"
    op, a, b = read
    if op in ("max", "min"):
        # torch.sym_max: an int in eager mode, and traceable by torch.fx and torch.export.
        return f"torch.sym_{op}({read_source(a, var_of)}, {read_source(b, var_of)})"
    level = _LEVEL[op]
    if op == "*" and b == -1:
        text = f"-{read_source(a, var_of, 3)}"
        return f"({text})" if outer >= 2 else text
    if op == "+" and isinstance(b, int) and b < 0:
        text = f"{read_source(a, var_of, level)} - {-b}"
    elif op == "+" and isinstance(b, tuple) and b[0] == "*" and b[2] == -1:
        text = f"{read_source(a, var_of, level)} - {read_source(b[1], var_of, level + 1)}"
    else:
        text = f"{read_source(a, var_of, level)} {op} {read_source(b, var_of, level + 1)}"
    return f"({text})" if level < outer else text


_LEVEL = {"+": 1, "*": 2, "//": 2, "%": 2}


def lowered_attrs(node: Any, var_of: Any, make_var: Any) -> Any:
    """The node's attributes as its forward passes them: sizes read at run time as code."""
    if not node.runtime:
        return node.attrs
    return node.attrs.model_copy(update={name: runtime_value(v, var_of, make_var) for name, v in node.runtime})


def runtime_value(value: Any, var_of: Any, make_var: Any) -> Any:
    """An argument with each Sym replaced by the code that reads it (`make_var` wraps code)."""
    if isinstance(value, Sym):
        return make_var(read_source(value.read, var_of))
    if isinstance(value, tuple):
        call = _one_call(value)
        if call is not None:  # every item of one helper call: the call itself
            return make_var(read_source(call, var_of))
        return tuple(runtime_value(v, var_of, make_var) for v in value)
    return value


def _one_call(value: tuple[Any, ...]) -> Any:
    reads = [v.read if isinstance(v, Sym) else None for v in value]
    if not reads or any(not (isinstance(r, tuple) and r[0] == "item") for r in reads):
        return None
    call = reads[0][1]
    return call if all(r[1] == call and r[2] == i for i, r in enumerate(reads)) else None
