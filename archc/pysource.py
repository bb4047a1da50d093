"""Generated Python source: the only two ways text gets into it.

Every identifier in generated code comes from a `Namespace`, which accepts only names
that passed the spec's one name rule (archc.spec.names) or words archc chose itself, and
every constant comes from `literal()`. Nothing else from a spec can reach the source
that `exec` compiles or that `archc emit` writes, whatever the spec contains.
"""
from __future__ import annotations

import builtins
import keyword
import math
import re
from typing import Any

from archc.spec.names import RESERVED_IN_CODE, is_checked

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# Names that generated code reads without defining them where it reads them: Python's
# builtins, and the loop index of the comprehensions it writes. A spec name that becomes a
# local variable, a parameter, a class or a function of the same name would shadow them.
PYTHON_NAMES = frozenset(dir(builtins)) | {"i", "_", "OrderedDict"}


class Var(str):
    """An identifier issued by a Namespace: rendered bare, never quoted."""


class UnsafeName(ValueError):
    """A name that did not pass the name rule reached the code generator: an archc bug."""


def literal(value: Any) -> str:
    """`value` as Python source that evaluates to an equal value.

    Only plain data is accepted (exact types: a subclass could override its repr);
    strings are written with ascii(), so no character of a spec string is ever raw in
    the source; non-finite floats are spelt out, since `inf` and `nan` are not literals.
    """
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return repr(value)
    if kind is float:
        if math.isfinite(value):
            return repr(value)
        if math.isnan(value):
            return "float('nan')"
        return "float('inf')" if value > 0 else "-float('inf')"
    if kind is str:
        return ascii(value)
    if kind is tuple:
        items = [_value(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if kind is list:
        return f"[{', '.join(_value(v) for v in value)}]"
    raise TypeError(f"no literal for a {kind.__name__}")


def value(item: Any) -> str:
    """A Var as itself, anything else as a literal."""
    return str(item) if isinstance(item, Var) else literal(item)


# Items of tuples and lists too may be Vars: a size read at run time (`(x.shape[2], x.shape[3])`).
_value = value


def call(fn: str, *args: Any, **kwargs: Any) -> str:
    """`fn(a, b, k=v)`: `fn` is archc's own text (a torch function), arguments are Vars or literals."""
    parts = [value(a) for a in args] + [f"{k}={value(v)}" for k, v in kwargs.items()]
    return f"{fn}({', '.join(parts)})"


class Namespace:
    """Unique, legal identifiers for one scope of generated code.

    `name()` issues a spec name (which must have passed the name rule) or a word archc
    chose; a clash with a reserved word or an earlier name gets a numeric suffix.
    """

    def __init__(self, reserved: frozenset[str] | set[str] = frozenset()) -> None:
        self.taken: set[str] = set(RESERVED_IN_CODE) | set(reserved)

    def name(self, base: str) -> Var:
        if not _WORD.match(base) or not base.isascii():
            raise UnsafeName(f"not a checked name: {base!r}")
        if keyword.iskeyword(base) or keyword.issoftkeyword(base):
            base = f"{base}_"
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}_{n}"
        self.taken.add(candidate)
        return Var(candidate)


def field_names(names: list[str]) -> list[Var]:
    """Fields of a NamedTuple for outputs of these (checked) names: each name itself wherever
    Python allows it as a field (soft keywords such as `match` are fine), so that `out.match`
    is the output the spec calls `match`; an issued name only for a hard keyword."""
    plain = [n for n in names if _WORD.match(n) and n.isascii() and not keyword.iskeyword(n) and is_checked(n)]
    issued = Namespace(set(plain))
    return [Var(n) if n in plain else issued.name(n) for n in names]


def attribute(owner: Var, name: str) -> str:
    """`self.conv1`, or `getattr(self, '0')` for an index name (as nn.Sequential's children)."""
    if not is_checked(name):
        raise UnsafeName(f"not a checked name: {name!r}")
    if _WORD.match(name):
        return f"{owner}.{name}"
    return f"getattr({owner}, {literal(name)})"
