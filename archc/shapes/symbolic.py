"""Shapes stage: sizes as expressions over the input's symbols, and the guards that bound them.

A network is expanded at its declared input size, and every size that depends on the input
is also followed as a `Sym`: an integer expression over the input's symbols (`H`, `W`, `L`)
built from `+`, `*`, floor division, modulo, `max` and `min`, which keeps the value it has at
the declared size (its hint). Whatever the shape rules decide from a symbolic size (a
comparison, a truth test, an int conversion) uses the hint and is recorded as a guard, as
torch's symbolic shapes do; `archc.shapes.constraints` turns the guards into the input
sizes the network accepts.

A Sym read from a tensor's shape in a spec expression (`upsample(size=input_shape[1:])`)
also carries how to read it at run time (`read`), so the forward can compute it from the
tensor it came from instead of baking the number in.

Why not sympy: the expressions here are integer arithmetic with floor division and never
need solving (constraints are found by exact evaluation), and importing sympy alone takes
longer than `archc validate` of ResNet-50 does in all.
"""
from __future__ import annotations

import contextvars
import itertools
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from archc.spec.expr import SymbolicNumber

_PRECEDENCE = {"+": 1, "*": 2, "//": 2, "%": 2}
_APPLY: dict[str, Callable[[int, int], int]] = {
    "+": operator.add, "*": operator.mul, "//": operator.floordiv, "%": operator.mod, "max": max, "min": min,
}


class Sym(SymbolicNumber):
    """An integer size over the input's symbols; arithmetic builds expressions, comparisons guard."""

    __slots__ = ("op", "a", "b", "hint", "symbols", "read", "key", "_fn")

    def __init__(self, op: str, a: Any, b: Any, hint: int, symbols: frozenset[str], read: Any = None) -> None:
        self.op, self.a, self.b, self.hint, self.symbols, self.read = op, a, b, hint, symbols, read
        self.key = _interned((op, _key(a), _key(b)))
        self._fn: Callable[[dict[str, int]], int] | None = None

    @classmethod
    def symbol(cls, name: str, hint: int) -> "Sym":
        return cls("sym", name, None, hint, frozenset((name,)))

    def maximum(self, other: Any) -> Any:
        return combine("max", self, other)

    def minimum(self, other: Any) -> Any:
        return combine("min", self, other)

    @staticmethod
    def called(function: str, sizes: tuple[Any, ...], args: tuple[Any, ...], results: tuple[Any, ...]) -> tuple[Any, ...]:
        reads = tuple(s.read if isinstance(s, Sym) else s for s in sizes)
        if any(r is None for r in reads):
            return results  # a size without a runtime read: the results cannot be read either
        call = ("call", function, reads, args)
        return tuple(Sym(r.op, r.a, r.b, r.hint, r.symbols, ("item", call, i)) if isinstance(r, Sym) else r
                     for i, r in enumerate(results))

    def reading(self, tensor: Any, axis: int) -> "Sym":
        """The same size, readable at run time as dim `axis` of `tensor`'s per-sample shape."""
        return Sym(self.op, self.a, self.b, self.hint, self.symbols, ("dim", tensor, axis))

    # Arithmetic ---------------------------------------------------------------------

    def __add__(self, other: Any) -> Any:
        return combine("+", self, other)

    def __radd__(self, other: Any) -> Any:
        return combine("+", other, self)

    def __sub__(self, other: Any) -> Any:
        return combine("+", self, _negated(other))

    def __rsub__(self, other: Any) -> Any:
        return combine("+", other, _negated(self))

    def __mul__(self, other: Any) -> Any:
        return combine("*", self, other)

    def __rmul__(self, other: Any) -> Any:
        return combine("*", other, self)

    def __floordiv__(self, other: Any) -> Any:
        return combine("//", self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return combine("//", other, self)

    def __mod__(self, other: Any) -> Any:
        return combine("%", self, other)

    def __rmod__(self, other: Any) -> Any:
        return combine("%", other, self)

    def __neg__(self) -> Any:
        return combine("*", self, -1)

    def __pos__(self) -> "Sym":
        return self

    def __abs__(self) -> Any:
        return self if self >= 0 else -self

    # What has no exact integer form here takes the hint, and the size is fixed to it.
    def __truediv__(self, other: Any) -> Any:
        return specialize(self, "it is divided with '/'") / _plain(other)

    def __rtruediv__(self, other: Any) -> Any:
        return _plain(other) / specialize(self, "it is divided with '/'")

    def __pow__(self, other: Any) -> Any:
        return specialize(self, "it is raised to a power") ** _plain(other)

    def __rpow__(self, other: Any) -> Any:
        return _plain(other) ** specialize(self, "it is raised to a power")

    def __index__(self) -> int:
        return specialize(self, "it is used as a plain number")

    __int__ = __index__

    def __float__(self) -> float:
        return float(specialize(self, "it is used as a plain number"))

    # Decisions: the hint decides, the guard remembers -----------------------------

    def __bool__(self) -> bool:
        return guard("!=", self, 0)

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        return guard("==", self, other)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        return guard("!=", self, other)

    def __lt__(self, other: Any) -> bool:
        return guard("<", self, other)

    def __le__(self, other: Any) -> bool:
        return guard("<=", self, other)

    def __gt__(self, other: Any) -> bool:
        return guard("<", other, self)

    def __ge__(self, other: Any) -> bool:
        return guard("<=", other, self)

    def __hash__(self) -> int:
        return self.key

    # Evaluation and display ---------------------------------------------------------

    def at(self, sizes: dict[str, int]) -> int:
        """The exact value for these symbol values."""
        return self.compiled()(sizes)

    def compiled(self) -> Callable[[dict[str, int]], int]:
        if self._fn is None:
            self._fn = _compile(self)
        return self._fn

    def __repr__(self) -> str:
        return _text(self, 0)

    def __format__(self, spec: str) -> str:
        return _text(self, 0)


def _key(value: Any) -> Any:
    return value.key if isinstance(value, Sym) else ("c", value)


# One number per distinct expression, so that keys stay small however deep the expression
# (a tuple of tuples hashes its whole depth on every lookup). Bounded: after a clear an
# expression may get a second number, which only costs a duplicate guard.
_KEYS: dict[tuple[Any, ...], int] = {}
_NEXT = itertools.count()
_MAX_KEYS = 1_000_000


def _interned(structure: tuple[Any, ...]) -> int:
    key = _KEYS.get(structure)
    if key is None:
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        key = _KEYS[structure] = next(_NEXT)
    return key


def _plain(value: Any) -> Any:
    return specialize(value, "it is used as a plain number") if isinstance(value, Sym) else value


def _negated(value: Any) -> Any:
    return -value if isinstance(value, (int, Sym)) else NotImplemented


def is_symbolic(value: Any) -> bool:
    return isinstance(value, Sym)


def combine(op: str, a: Any, b: Any) -> Any:
    """`a op b` for ints and Syms, folding constants and the identities that keep text short."""
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, Sym)) or not isinstance(b, (int, Sym)):
        return NotImplemented
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return _APPLY[op](a, b)
    if op in ("+", "*", "max", "min") and not isinstance(a, Sym):
        a, b = b, a  # the constant second: `H + 1`, `H * 2`
    if isinstance(b, Sym):  # no folding between two expressions (and no comparing them: that guards)
        return Sym(op, a, b, _APPLY[op](_hint(a), b.hint), _symbols(a) | b.symbols, _read(op, a, b))
    if op == "+" and b == 0 or op in ("*", "//") and b == 1:
        return a
    if op == "*" and b == 0:
        return 0
    if op == "+" and not isinstance(b, Sym) and a.op == "+" and not isinstance(a.b, Sym):
        return combine("+", a.a, a.b + b)  # (H + 1) + 2 is H + 3
    if op == "*" and not isinstance(b, Sym) and a.op == "*" and not isinstance(a.b, Sym):
        return combine("*", a.a, a.b * b)
    if op == "//" and not isinstance(b, Sym) and b > 0 and a.op == "//" and not isinstance(a.b, Sym) and a.b > 0:
        return combine("//", a.a, a.b * b)  # floor(floor(n / p) / q) is floor(n / (p q)) for p, q > 0
    hint = _APPLY[op](_hint(a), _hint(b))
    symbols = _symbols(a) | _symbols(b)
    return Sym(op, a, b, hint, symbols, _read(op, a, b))


def maximum(a: Any, b: Any) -> Any:
    """max() that stays an expression (no guard): TF-'SAME' padding is max(total, 0) at every size."""
    return combine("max", a, b)


def minimum(a: Any, b: Any) -> Any:
    return combine("min", a, b)


def _hint(value: Any) -> int:
    return value.hint if isinstance(value, Sym) else value


def _symbols(value: Any) -> frozenset[str]:
    return value.symbols if isinstance(value, Sym) else frozenset()


def _read(op: str, a: Any, b: Any) -> Any:
    """How to compute the result at run time, where both operands can be."""
    ra = a.read if isinstance(a, Sym) else a
    rb = b.read if isinstance(b, Sym) else b
    return None if ra is None or rb is None else (op, ra, rb)


def _compile(sym: Sym) -> Callable[[dict[str, int]], int]:
    if sym.op == "sym":
        name = sym.a
        return lambda sizes: sizes[name]
    fa = sym.a.compiled() if isinstance(sym.a, Sym) else (lambda _, v=sym.a: v)
    fb = sym.b.compiled() if isinstance(sym.b, Sym) else (lambda _, v=sym.b: v)
    apply = _APPLY[sym.op]
    return lambda sizes: apply(fa(sizes), fb(sizes))


def _text(value: Any, outer: int) -> str:
    """`H // 32 * 2 + 1`, parenthesised only where Python's precedence needs it."""
    if not isinstance(value, Sym):
        return str(value) if value >= 0 or outer == 0 else f"({value})"
    if value.op == "sym":
        return value.a
    if value.op in ("max", "min"):
        return f"{value.op}({_text(value.a, 0)}, {_text(value.b, 0)})"
    level = _PRECEDENCE[value.op]
    if value.op == "+" and not isinstance(value.b, Sym) and value.b < 0:
        text = f"{_text(value.a, level)} - {-value.b}"
    elif value.op == "*" and not isinstance(value.b, Sym) and value.b == -1:
        text = f"-{_text(value.a, 3)}"
    else:
        text = f"{_text(value.a, level)} {value.op} {_text(value.b, level + (value.op != '+'))}"
    return f"({text})" if level < outer else text


def leaves(value: Any) -> Iterator[Sym]:
    """The Syms in a value: a Sym, or a tuple or list of values."""
    if isinstance(value, Sym):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from leaves(item)


def hinted(value: Any) -> Any:
    """A value with every Sym replaced by its hint, without guarding."""
    if isinstance(value, Sym):
        return value.hint
    if isinstance(value, tuple):
        return tuple(hinted(v) for v in value)
    if isinstance(value, list):
        return [hinted(v) for v in value]
    return value


# Guards -------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """`lhs rel rhs` held at the declared size, and must hold at any size the network takes."""

    rel: str  # "==", "!=", "<", "<="
    lhs: Any
    rhs: Any
    holds: bool
    where: str  # the node whose shape rule or argument decided on it
    why: str

    @property
    def symbols(self) -> frozenset[str]:
        return _symbols(self.lhs) | _symbols(self.rhs)

    def admits(self, sizes: dict[str, int]) -> bool:
        lhs = self.lhs.at(sizes) if isinstance(self.lhs, Sym) else self.lhs
        rhs = self.rhs.at(sizes) if isinstance(self.rhs, Sym) else self.rhs
        return _RELATIONS[self.rel](lhs, rhs) == self.holds

    def text(self) -> str:
        rel = self.rel if self.holds else _NEGATED[self.rel]
        return f"{_text(self.lhs, 0)} {rel} {_text(self.rhs, 0)}"


_RELATIONS: dict[str, Callable[[int, int], bool]] = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le}
_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">"}


@dataclass
class Tracer:
    """The guards recorded while one network is expanded, and the node being expanded."""

    guards: dict[Any, Guard] = field(default_factory=dict)
    where: str = ""
    why: str = ""
    seen: dict[Any, Any] = field(default_factory=dict)  # shape rules already followed, for repeats

    def record(self, rel: str, lhs: Any, rhs: Any, holds: bool, why: str | None = None) -> None:
        key = (rel, _key(lhs), _key(rhs))
        if key not in self.guards:
            self.guards[key] = Guard(rel, lhs, rhs, holds, self.where, why or self.why)


_TRACER: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("archc_shape_tracer", default=None)


def tracer() -> Tracer | None:
    return _TRACER.get()


class tracing:
    """`with tracing(t):` records guards into `t`; `with tracing(t, where, why):` names their place."""

    def __init__(self, target: Tracer | None, where: str | None = None, why: str | None = None) -> None:
        self.target, self.where, self.why = target, where, why

    def __enter__(self) -> Tracer | None:
        self.token = _TRACER.set(self.target)
        if self.target is not None:
            self.saved = (self.target.where, self.target.why)
            if self.where is not None:
                self.target.where = self.where
            if self.why is not None:
                self.target.why = self.why
        return self.target

    def __exit__(self, *exc: Any) -> None:
        if self.target is not None:
            self.target.where, self.target.why = self.saved
        _TRACER.reset(self.token)


def guard(rel: str, lhs: Any, rhs: Any) -> bool:
    holds = _RELATIONS[rel](_hint(lhs), _hint(rhs))
    active = _TRACER.get()
    if active is not None and (_symbols(lhs) or _symbols(rhs)):
        equal = (rel == "==") == holds  # `a == b` that holds, or `a != b` that does not
        split = _by_symbol(lhs, rhs) if rel in ("==", "!=") and equal and len(_symbols(lhs) | _symbols(rhs)) > 1 else None
        if split is None:
            active.record(rel, lhs, rhs, holds)
        for left, right in split or ():
            active.record("==", left, right, True)
    return holds


def _by_symbol(lhs: Any, rhs: Any) -> list[tuple[Any, Any]] | None:
    """Two products of per-symbol factors (`H * W` and `H // 2 * 2 * (W // 2 * 2)`, a reshape of
    patches) as one equation per symbol, which together imply theirs; None where they are not."""
    left, right = _factors(lhs), _factors(rhs)
    if left is None or right is None or left[1].keys() != right[1].keys():
        return None
    # Each symbol's side takes the constant that makes it hold at the declared size (H // 2 * 2
    # == H); the constants left over must then agree, or the split would not imply the whole.
    equations, scale_left, scale_right = [], left[0], right[0]
    for symbol in sorted(left[1]):
        a, b = _product(left[1][symbol]), _product(right[1][symbol])
        ha, hb = _hint(a), _hint(b)
        if not ha or not hb or (hb % ha and ha % hb):
            return None
        if hb % ha == 0:
            equations.append((combine("*", a, hb // ha), b))
            scale_right *= hb // ha
        else:
            equations.append((a, combine("*", b, ha // hb)))
            scale_left *= ha // hb
    return equations if scale_left == scale_right else None


def _factors(value: Any) -> tuple[int, dict[str, list[Any]]] | None:
    """(constant, {symbol: its factors}) of a product whose factors each read one symbol."""
    if not isinstance(value, Sym):
        return value, {}
    if value.op == "*":
        a, b = _factors(value.a), _factors(value.b)
        if a is None or b is None:
            return None
        merged = {s: a[1].get(s, []) + b[1].get(s, []) for s in a[1].keys() | b[1].keys()}
        return a[0] * b[0], merged
    if len(value.symbols) == 1:
        return 1, {next(iter(value.symbols)): [value]}
    return None


def _product(factors: list[Any]) -> Any:
    result: Any = 1
    for f in factors:
        result = combine("*", result, f)
    return result


def specialize(value: Any, why: str) -> Any:
    """The hint of a Sym, with the guard that the input size gives exactly it."""
    if not isinstance(value, Sym):
        return value
    active = _TRACER.get()
    if active is not None:
        active.record("==", value, value.hint, True, f"{active.why}: {why}" if active.why else why)
    return value.hint


def specialize_all(value: Any, why: str) -> Any:
    """`value` (a Sym, or tuples and lists of them) with every Sym fixed to its hint."""
    if isinstance(value, Sym):
        return specialize(value, why)
    if isinstance(value, tuple):
        return tuple(specialize_all(v, why) for v in value)
    if isinstance(value, list):
        return [specialize_all(v, why) for v in value]
    return value


# Shapes that carry their symbolic sizes --------------------------------------------


class SymShape(tuple):
    """A per-sample shape of ints (the sizes at the declared input) that also carries the same
    sizes as Syms (`sym`), and the tensor it is the shape of where an expression reads it (`ref`).

    It is a tuple, equal to and hashed as the plain one, so every stage that only needs the
    numbers (summary, figures, code generation) reads it as it always did."""

    sym: tuple[Any, ...]
    ref: Any

    def __new__(cls, sizes: tuple[int, ...], sym: tuple[Any, ...], ref: Any = None) -> "SymShape":
        shape = super().__new__(cls, sizes)
        shape.sym = sym
        shape.ref = ref
        return shape

    def __reduce__(self) -> Any:
        return (SymShape, (tuple(self), self.sym, self.ref))

    def tagged(self, ref: Any) -> "SymShape":
        return SymShape(tuple(self), self.sym, ref)

    def readable(self) -> tuple[Any, ...]:
        """The symbolic sizes, each readable at run time from the tensor this is the shape of."""
        if self.ref is None:
            return self.sym
        return tuple(s.reading(self.ref, i) if isinstance(s, Sym) else s for i, s in enumerate(self.sym))


def symbolic_shape(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    """The sizes of a shape as Syms where they depend on the input, else as ints."""
    return shape.sym if isinstance(shape, SymShape) else tuple(shape)


def shape_of(sym: tuple[Any, ...]) -> tuple[int, ...]:
    """A shape from symbolic sizes: a SymShape where any depends on the input."""
    sizes = tuple(s.hint if isinstance(s, Sym) else s for s in sym)
    return SymShape(sizes, tuple(sym)) if any(isinstance(s, Sym) for s in sym) else sizes


def has_symbols(shape: Any) -> bool:
    return isinstance(shape, SymShape)
