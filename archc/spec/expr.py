"""Spec stage: safe evaluation of spec expressions.

Spec files are downloaded from untrusted places, so their expressions are never
handed to Python's eval().  ``ast.parse`` only builds a syntax tree; every node is
checked against a whitelist, and a small interpreter walks the tree with
explicit type checks and size bounds.  Every user mistake surfaces as
``ExprError`` with a character offset into the expression source.

Numbers follow Python semantics (``bool`` counts as a number, ``/`` gives a
float, ``round(x)`` rounds half to even and returns an int).  ``true``,
``false`` and ``null`` are constants for YAML users and cannot be shadowed by
the environment.  Lists from the environment are evaluated as tuples.
"""

from __future__ import annotations

import ast
import copy
import difflib
import functools
import inspect
import math
import operator
import re
import reprlib
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

Value = int | float | bool | str | None | tuple["Value", ...]

MAX_SOURCE = 2000
MAX_DEPTH = 50
MAX_INT = 2**64
MAX_LEN = 10_000
MAX_EXPONENT = 64

_LITERAL_NAMES: Mapping[str, Value] = MappingProxyType({"true": True, "false": False, "null": None})
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
           ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
           ast.GtE: ">=", ast.In: "in", ast.NotIn: "not in"}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod}
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_REFUSED_OPS = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
                ast.RShift: ">>", ast.MatMult: "@", ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not"}
_REFUSED_NODES = {
    ast.Attribute: "attribute access is not allowed", ast.Lambda: "'lambda' is not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed", ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed", ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "':=' is not allowed", ast.Starred: "starred arguments are not allowed",
    ast.Dict: "dict displays are not allowed", ast.Set: "set displays are not allowed",
    ast.Await: "'await' is not allowed", ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed"}
_PLAIN_NODES = (ast.Name, ast.BoolOp, ast.IfExp, ast.Tuple, ast.List, ast.Subscript)


class ExprError(Exception):
    """A user error in an expression; ``offset`` is a 0-based character offset into its source."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __reduce__(self) -> tuple[Any, ...]:  # keep the offset when pickled, e.g. across processes
        return (ExprError, (self.message, self.offset))


class _Fail(ExprError):
    """Evaluation failure at ``where``: an AST node, or ``(left, right, symbol)`` for an operator."""

    def __init__(self, message: str, where: Any) -> None:
        super().__init__(message)
        self.where = where


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    names = [c for c in choices if isinstance(c, str)]
    same_but_case = [c for c in names if c.lower() == word.lower()]  # `ReLU` for `relu`
    matches = same_but_case or difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def _tname(value: object) -> str:
    return "None" if value is None else type(value).__name__


class SymbolicNumber:
    """A size known as an expression over the input's symbols (archc.shapes.symbolic.Sym), which
    expressions may compute with like an int while the input's shape is followed symbolically."""

    def maximum(self, other: Any) -> Any:
        raise NotImplementedError

    def minimum(self, other: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def called(function: str, sizes: tuple[Any, ...], args: tuple[Any, ...], results: tuple[Any, ...]) -> tuple[Any, ...]:
        """`results` (computed from `sizes`), read at run time as the items of one call of the
        runtime helper `function(sizes, *args)` instead of as their arithmetic."""
        raise NotImplementedError


_NUMBERS = (int, float, SymbolicNumber)


def _is_num(value: object) -> bool:
    return isinstance(value, _NUMBERS)


def _same_kind(a: object, b: object, kinds: tuple[Any, ...]) -> bool:
    return any(isinstance(a, kind) and isinstance(b, kind) for kind in kinds)


# --- positions -------------------------------------------------------------------------------

def _line_start(source: str, lineno: int) -> int:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", source)]
    return starts[min(max(lineno, 1), len(starts)) - 1]


def _offset(source: str, node: Any, end: bool = False) -> int:
    """Character offset of a node's start (or end); ast columns count UTF-8 bytes, not characters."""
    lineno, col = (node.end_lineno, node.end_col_offset) if end else (node.lineno, node.col_offset)
    start = _line_start(source, lineno)
    line = source[start:].encode("utf-8", "surrogatepass")[:max(col, 0)]
    return start + len(line.decode("utf-8", "ignore"))


def _locate(source: str, where: Any) -> int:
    if isinstance(where, tuple):
        left, right, symbol = where
        start, end = _offset(source, left, end=True), _offset(source, right)
        found = source.find(symbol.split()[0], start, end)
        return found if found >= 0 else _offset(source, left)
    return _offset(source, where)


def _shift(tree: ast.AST, first_line: int, col_delta: int) -> None:
    """Renumber positions so that ``first_line`` becomes line 1, moving its columns by ``col_delta``."""
    node: Any
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) is None:
            continue
        if node.lineno == first_line:
            node.col_offset += col_delta
        if node.end_lineno == first_line:
            node.end_col_offset += col_delta
        node.lineno -= first_line - 1
        node.end_lineno -= first_line - 1


# --- parsing and validation ------------------------------------------------------------------

def _parse(text: str) -> ast.expr:
    if not isinstance(text, str):
        raise ExprError(f"expression must be a string, got {_tname(text)}")
    if len(text) > MAX_SOURCE:
        raise ExprError(f"expression is too long ({len(text)} characters; the limit is {MAX_SOURCE})")
    if not text.strip():
        raise ExprError("empty expression")
    if "\0" in text:
        raise ExprError("expression contains a null character", text.index("\0"))
    # Python's own eval() strips leading blanks; ast.parse would report them as an indent.
    body = text.lstrip(" \t")
    lead = len(text) - len(body)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for `1(2)`; we report our own errors
            tree = ast.parse(body, mode="eval")
    except SyntaxError as e:
        raise ExprError(e.msg or "invalid syntax", _syntax_offset(text, e, lead)) from None
    except (RecursionError, MemoryError):
        raise ExprError("expression is nested too deeply") from None
    except (ValueError, UnicodeError):
        raise ExprError("expression contains an invalid character") from None
    if lead:
        _shift(tree, 1, lead)
    return tree.body


def _syntax_offset(text: str, error: SyntaxError, lead: int) -> int:
    # SyntaxError columns are 1-based characters (not bytes), unlike ast node columns.
    if not error.offset:  # Python gives none when the text ends too early (`stride !=`)
        return len(text.rstrip())
    lineno, col = error.lineno or 1, error.offset - 1
    offset = _line_start(text, lineno) + col + (lead if lineno == 1 else 0)
    return min(max(offset, 0), len(text))


def _constant_problem(value: object) -> str | None:
    if isinstance(value, int) and abs(value) > MAX_INT:
        return "integer literal too large"
    if isinstance(value, float) and not math.isfinite(value):
        return "float literal out of range"
    if value is None or isinstance(value, (int, float, str)):
        return None
    return {complex: "complex numbers are not allowed", bytes: "bytes literals are not allowed"}.get(
        type(value), f"{value!r} is not allowed")


def _problem(node: ast.AST, parent: ast.AST | None) -> str | None:
    """Why ``node`` is refused, or None.  Operators are checked here, with their parent node."""
    if isinstance(node, _PLAIN_NODES):
        return None
    if isinstance(node, ast.Constant):
        return _constant_problem(node.value)
    if isinstance(node, (ast.BinOp, ast.UnaryOp)) and type(node.op) in _REFUSED_OPS:
        return f"'{_REFUSED_OPS[type(node.op)]}' is not allowed"
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return None
    if isinstance(node, ast.Compare):
        refused = [op for op in node.ops if type(op) not in _CMPOPS]
        return f"'{_REFUSED_OPS.get(type(refused[0]), '?')}' is not allowed; use '==' or '!='" if refused else None
    if isinstance(node, ast.Slice):
        ok = isinstance(parent, ast.Subscript) and parent.slice is node
        return None if ok else "only a single slice is allowed inside [...]"
    if isinstance(node, ast.Call):
        return _call_problem(node)
    if isinstance(node, ast.keyword):
        return "'**' arguments are not allowed" if node.arg is None else None
    return _REFUSED_NODES.get(type(node), f"{type(node).__name__} is not allowed")


def _call_problem(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return "attribute access is not allowed"
    if not isinstance(node.func, ast.Name):
        return "only functions named directly can be called"
    names = [kw.arg for kw in node.keywords if kw.arg]
    repeated = [name for i, name in enumerate(names) if name in names[:i]]
    return f"keyword argument {repeated[0]!r} repeated" if repeated else None


def _refused_at(source: str, node: ast.AST) -> int:
    """Where to point for a refused node: at the operator itself for `a & b` and `a is b`."""
    if isinstance(node, ast.BinOp) and type(node.op) in _REFUSED_OPS:
        return _locate(source, (node.left, node.right, _REFUSED_OPS[type(node.op)]))
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            if type(op) not in _CMPOPS:
                return _locate(source, (operands[i], operands[i + 1], _REFUSED_OPS.get(type(op), "?")))
    return _offset(source, node)


def _validate(source: str, root: ast.expr) -> frozenset[str]:
    """Check the whole tree against the whitelist; return the free variable names.

    Depth counts real nesting: the left operand of a binary operator stays at its parent's
    depth, so a flat `1 + 1 + ... + 1` (a left-leaning chain, which the evaluator walks in a
    loop) is as shallow as it looks, whatever its length (MAX_SOURCE bounds that).
    """
    names: set[str] = set()
    stack: list[tuple[ast.AST, ast.AST | None, int]] = [(root, None, 1)]
    while stack:  # iterative, so deep trees cannot blow Python's stack before we refuse them
        node, parent, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExprError("expression is nested too deeply", _offset(source, node))
        problem = _problem(node, parent)
        if problem:
            raise ExprError(problem, _refused_at(source, node))
        is_callee = isinstance(parent, ast.Call) and parent.func is node
        if isinstance(node, ast.Name) and node.id not in _LITERAL_NAMES and not is_callee:
            names.add(node.id)
        children = [c for c in ast.iter_child_nodes(node) if isinstance(c, (ast.expr, ast.keyword))]
        chain = node.left if isinstance(node, ast.BinOp) else None
        stack.extend((child, node, depth + (child is not chain)) for child in reversed(children))
    return frozenset(names)


# --- values and operators --------------------------------------------------------------------

def _check(value: Any) -> Any:
    """Enforce the size bounds on a computed value."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise ExprError("integer result too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError("float result out of range")
    if isinstance(value, complex):
        raise ExprError("complex results are not supported")
    if isinstance(value, str) and len(value) > MAX_LEN:
        raise ExprError(f"string result too long (limit {MAX_LEN})")
    if isinstance(value, tuple) and _weight(value) > MAX_LEN:
        raise ExprError(f"sequence result too long (limit {MAX_LEN} items, nested ones included)")
    return value


def _weight(value: Any) -> int:
    """Items in a tuple, nested ones included; stops counting once past MAX_LEN.

    Nested items count because `(t,) * 10000` is short but compares like 10000 copies of t.
    """
    total, stack = 0, [value]
    while stack and total <= MAX_LEN:
        item = stack.pop()
        total += len(item)
        if total <= MAX_LEN:
            stack.extend(x for x in item if isinstance(x, tuple))
    return total


def _freeze(value: object) -> Value:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    if value is None or isinstance(value, (bool, str, float, SymbolicNumber)):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ExprError("integer too large")
        return value
    raise ExprError(f"unsupported type {_tname(value)}")


# Tuples (list params) already frozen, by identity: a list param read by every node of a
# 5,000-instance repeat is checked once, not once per expression. Each entry keeps its tuple
# alive, so its id is not reused while the entry exists.
_SHARED: dict[int, tuple[tuple[Any, ...], Value]] = {}
_SHARED_MAX_ENTRIES = 256


def _freeze_shared(value: object) -> Value:
    """_freeze, remembered for tuples that hold only tuples and plain values (immutable)."""
    if type(value) is not tuple or not value:
        return _freeze(value)
    hit = _SHARED.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    frozen = _freeze(value)
    if frozen == value:  # no list inside (a list never equals a tuple): it cannot change later
        if len(_SHARED) >= _SHARED_MAX_ENTRIES:
            _SHARED.clear()
        _SHARED[id(value)] = (value, frozen)
    return frozen


def _power(base: Any, exponent: Any) -> Any:
    # Checked before computing: an unbounded int power could take minutes and gigabytes.
    if isinstance(base, int) and isinstance(exponent, int) and abs(exponent) > MAX_EXPONENT:
        raise ExprError(f"integer exponent must be between -{MAX_EXPONENT} and {MAX_EXPONENT}, got {exponent}")
    try:
        return _check(base**exponent)
    except ZeroDivisionError:
        raise ExprError("division by zero") from None


def _binop(symbol: str, a: Any, b: Any) -> Value:
    if _is_num(a) and _is_num(b):
        if symbol in ("/", "//", "%") and b == 0:
            raise ExprError("division by zero")
        try:
            return _power(a, b) if symbol == "**" else _check(_ARITH[symbol](a, b))
        except OverflowError:
            raise ExprError("float result out of range") from None
    if symbol == "+" and _same_kind(a, b, (str, tuple)):
        return _check(a + b)
    if symbol == "*":
        seq, count = (a, b) if isinstance(a, (str, tuple)) else (b, a)
        if isinstance(seq, (str, tuple)) and isinstance(count, int):
            size = len(seq) if isinstance(seq, str) else _weight(seq)
            if size * max(count, 0) > MAX_LEN:
                raise ExprError(f"{'string' if isinstance(seq, str) else 'sequence'} result too long (limit {MAX_LEN})")
            return seq * count
    raise ExprError(f"unsupported operand types for {symbol}: {_tname(a)!r} and {_tname(b)!r}")


def _compare(symbol: str, a: Any, b: Any) -> bool:
    if symbol in ("==", "!="):
        return (a == b) == (symbol == "==")
    if symbol in ("in", "not in"):
        if isinstance(b, str) and not isinstance(a, str):
            raise ExprError(f"'{symbol} <str>' requires a string on the left, got {_tname(a)!r}")
        if not isinstance(b, (str, tuple)):
            raise ExprError(f"'{symbol}' needs a sequence on the right, got {_tname(b)!r}")
        return (a in b) == (symbol == "in")
    if _same_kind(a, b, (_NUMBERS, str, tuple)):
        try:
            return _ORDER[symbol](a, b)
        except TypeError:
            pass  # e.g. tuples whose items cannot be ordered
    raise ExprError(f"'{symbol}' is not supported between {_tname(a)!r} and {_tname(b)!r}")


# --- helpers ---------------------------------------------------------------------------------

def _num(fn: str, value: Any) -> int | float:
    if isinstance(value, (int, SymbolicNumber)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise ExprError(f"{fn}() expects a finite number, got {_tname(value)}")


def _numbers(fn: str, values: tuple[Any, ...]) -> tuple[int | float, ...]:
    # min/max accept several numbers or a single sequence of them, like Python's.
    if not values:
        raise ExprError(f"{fn}() needs at least one argument")
    if len(values) == 1 and isinstance(values[0], (tuple, list)):
        values = tuple(values[0])
    if not values:
        raise ExprError(f"{fn}() of an empty sequence")
    return tuple(_num(fn, v) for v in values)


def _int_arg(fn: str, name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, int) and low <= value <= high:
        return value
    raise ExprError(f"{fn}() {name} must be an int between {low} and {high}, got {_tname(value)}")


def _from_str(fn: str, text: str, convert: Callable[[str], Any]) -> Any:
    try:
        if len(text) <= 100:
            return convert(text)
    except ValueError:
        pass
    raise ExprError(f"{fn}() cannot convert the string {text[:40]!r}")


def _seq(fn: str, value: Any, kinds: tuple[type, ...] = (tuple, list)) -> Any:
    if isinstance(value, kinds):
        return value
    raise ExprError(f"{fn}() expects a sequence{' or a string' if str in kinds else ''}, got {_tname(value)}")


def _round(x: Any, /, ndigits: Any = None) -> Value:
    """Python's round: half to even, so round(2.5) == 2; an int without ndigits."""
    x = _num("round", x)
    if ndigits is None:
        return round(x)
    return round(x, _int_arg("round", "ndigits", ndigits, -MAX_EXPONENT, MAX_EXPONENT))


def _make_divisible(v: Any, /, divisor: Any = 8, min_value: Any = None) -> Value:
    """torchvision.models._utils._make_divisible, with a default divisor of 8."""
    v = _num("make_divisible", v)
    divisor = _int_arg("make_divisible", "divisor", divisor, 1, MAX_INT)
    min_value = divisor if min_value is None else _num("make_divisible", min_value)
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # never round down by more than 10%
        new_v += divisor
    return new_v


def _scale_width(channels: Any, width_mult: Any, /, divisor: Any = 8) -> Value:
    """EfficientNet's adjust_channels."""
    product = _check(_num("scale_width", channels) * _num("scale_width", width_mult))
    return _make_divisible(product, divisor)


def _scale_depth(num_layers: Any, depth_mult: Any, /) -> int:
    """EfficientNet's adjust_depth: ceil, as in the reference code, not round."""
    return int(math.ceil(_check(_num("scale_depth", num_layers) * _num("scale_depth", depth_mult))))


def _same_pad(shape: Any, kernel: Any, /, stride: Any = 1, dilation: Any = 1) -> Value:
    """TensorFlow's 'SAME' padding of a CxHxW (or CxL) shape, as `pad` widths (last dim first):
    the output has ceil(size / stride) positions, and an odd total puts the extra one after,
    as TF and timm's pad_type='same' (Conv2dSame, MaxPool2dSame) pad at run time."""
    dims = _seq("same_pad", shape)
    kernel = _int_arg("same_pad", "kernel", kernel, 1, MAX_INT)
    stride = _int_arg("same_pad", "stride", stride, 1, MAX_INT)
    dilation = _int_arg("same_pad", "dilation", dilation, 1, MAX_INT)
    widths: list[int] = []
    symbolic = next((s for s in dims[1:] if isinstance(s, SymbolicNumber)), None)
    for size in reversed(dims[1:]):
        if isinstance(size, SymbolicNumber):  # the padding follows the input size: no branch on it
            total = (-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size
            total = total.maximum(0) if isinstance(total, SymbolicNumber) else max(total, 0)
            widths += [total // 2, total - total // 2]
            continue
        size = _int_arg("same_pad", "shape entry", size, 1, MAX_INT)
        total = max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        widths += [total // 2, total - total // 2]
    if symbolic is not None:  # computed in forward by the runtime's same_pad, as timm's pad_same
        return symbolic.called("same_pad", tuple(dims[1:]), (kernel, stride, dilation), tuple(widths))
    return tuple(widths)


_HELPER_TABLE: dict[str, tuple[Callable[..., Value], str]] = {
    "min": (lambda *values: min(_numbers("min", values)), "min(a, b, ...) or min(sequence)"),
    "max": (lambda *values: max(_numbers("max", values)), "max(a, b, ...) or max(sequence)"),
    "abs": (lambda x, /: abs(_num("abs", x)), "abs(x)"),
    "round": (_round, "round(x, ndigits=None)"),
    "ceil": (lambda x, /: math.ceil(_num("ceil", x)), "ceil(x)"),
    "floor": (lambda x, /: math.floor(_num("floor", x)), "floor(x)"),
    # Strings are accepted because PyYAML reads `1e-3` (no dot) as a string.
    "int": (lambda x, /: _from_str("int", x, int) if isinstance(x, str) else int(_num("int", x)), "int(x)"),
    "float": (lambda x, /: _from_str("float", x, float) if isinstance(x, str) else float(_num("float", x)),
              "float(x)"),
    "bool": (lambda x, /: bool(x), "bool(x)"),
    "len": (lambda seq, /: len(_seq("len", seq, (tuple, list, str))), "len(sequence)"),
    "sum": (lambda seq, /: sum(_num("sum", v) for v in _seq("sum", seq)), "sum(sequence)"),
    "make_divisible": (_make_divisible, "make_divisible(v, divisor=8, min_value=None)"),
    "scale_width": (_scale_width, "scale_width(channels, width_mult, divisor=8)"),
    "scale_depth": (_scale_depth, "scale_depth(num_layers, depth_mult)"),
    "same_pad": (_same_pad, "same_pad(shape, kernel, stride=1, dilation=1)"),
}
HELPERS: Mapping[str, Callable[..., Value]] = MappingProxyType({k: f for k, (f, _) in _HELPER_TABLE.items()})
_SIGNATURES = {name: inspect.signature(func) for name, func in HELPERS.items()}


def _call_helper(name: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    try:
        _SIGNATURES[name].bind(*args, **kwargs)
    except TypeError as e:
        raise ExprError(f"{name}(): {e}; expected {_HELPER_TABLE[name][1]}") from None
    try:
        return _check(HELPERS[name](*args, **kwargs))
    except OverflowError:
        raise ExprError(f"{name}(): result out of range") from None


# --- evaluation ------------------------------------------------------------------------------

_SHAPE_NAMES = frozenset({"in_shape", "in_channels", "input_shape", "input_channels"})


class _Evaluator:
    """Walks a validated tree; every method may assume only whitelisted nodes reach it."""

    def __init__(self, env: Mapping[str, Value]) -> None:
        self.env = env
        self.frozen: dict[str, Value] = {}  # converting a big YAML list once per evaluation is enough

    def walk(self, node: ast.expr) -> Value:
        return getattr(self, "_" + type(node).__name__)(node)

    def _at(self, where: Any, func: Callable[..., Value], *args: Any) -> Value:
        try:
            return func(*args)
        except ExprError as e:
            raise _Fail(e.message, where) from None

    def _Constant(self, node: ast.Constant) -> Value:
        return node.value

    def _Name(self, node: ast.Name) -> Value:
        name = node.id
        if name in _LITERAL_NAMES:
            return _LITERAL_NAMES[name]
        if name in self.frozen:
            return self.frozen[name]
        if name in self.env:
            try:
                self.frozen[name] = _freeze_shared(self.env[name])
                return self.frozen[name]
            except ExprError as e:
                raise _Fail(f"value of {name!r} cannot be used in expressions: {e.message}", node) from None
        if name in HELPERS:
            raise _Fail(f"{name!r} is a function; call it as {name}(...)", node)
        hint = did_you_mean(name, self.env)
        prefix, _, suffix = name.rpartition("_")
        if suffix in ("shape", "channels") and "input_shape" in self.env and not did_you_mean(prefix, ["in", "input"]):
            # `x_prev_channels` where no block input is called `x_prev`: not a misspelt `in_channels`.
            hint = did_you_mean(name, [n for n in self.env if n not in _SHAPE_NAMES]) or (
                "; NAME_shape and NAME_channels read the shapes of the inputs a block names in 'inputs: [...]'")
        raise _Fail(f"unknown name {name!r}{hint}", node)

    def _Tuple(self, node: ast.Tuple | ast.List) -> Value:
        return self._at(node, _check, tuple(self.walk(item) for item in node.elts))

    _List = _Tuple

    def _BinOp(self, node: ast.BinOp) -> Value:
        # A left-leaning chain (`a + b - c + ...`) in a loop: its length is not nesting.
        chain = []
        left: ast.expr = node
        while isinstance(left, ast.BinOp):
            chain.append(left)
            left = left.left
        value = self.walk(left)
        for link in reversed(chain):
            right, symbol = self.walk(link.right), _BINOPS[type(link.op)]
            value = self._at((link.left, link.right, symbol), _binop, symbol, value, right)
        return value

    def _UnaryOp(self, node: ast.UnaryOp) -> Value:
        value = self.walk(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        symbol = "-" if isinstance(node.op, ast.USub) else "+"
        if not _is_num(value):
            raise _Fail(f"bad operand type for unary {symbol}: {_tname(value)!r}", node)
        return self._at(node, _check, -value if symbol == "-" else +value)

    def _Compare(self, node: ast.Compare) -> Value:
        left_node, left = node.left, self.walk(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right, symbol = self.walk(right_node), _CMPOPS[type(op)]
            if not self._at((left_node, right_node, symbol), _compare, symbol, left, right):
                return False  # chained comparisons stop at the first false link, like Python
            left_node, left = right_node, right
        return True

    def _BoolOp(self, node: ast.BoolOp) -> Value:
        stop_when = not isinstance(node.op, ast.And)  # `and` stops at falsy, `or` at truthy
        for item in node.values[:-1]:
            value = self.walk(item)
            if bool(value) == stop_when:
                return value
        return self.walk(node.values[-1])

    def _IfExp(self, node: ast.IfExp) -> Value:
        return self.walk(node.body if self.walk(node.test) else node.orelse)

    def _Subscript(self, node: ast.Subscript) -> Value:
        seq = self.walk(node.value)
        if not isinstance(seq, (tuple, str)):
            raise _Fail(f"only sequences and strings can be indexed, got {_tname(seq)!r}", node.value)
        if isinstance(node.slice, ast.Slice):
            return self._slice(seq, node.slice)
        index = self.walk(node.slice)
        if not isinstance(index, int):
            raise _Fail(f"sequence index must be an int, got {_tname(index)!r}", node.slice)
        if not -len(seq) <= index < len(seq):
            raise _Fail(f"index {index} out of range for a sequence of length {len(seq)}", node.slice)
        return seq[index]

    def _slice(self, seq: tuple[Value, ...] | str, node: ast.Slice) -> Value:
        lower, upper, step = (None if part is None else self.walk(part) for part in (node.lower, node.upper, node.step))
        if not all(bound is None or isinstance(bound, int) for bound in (lower, upper, step)) or step == 0:
            raise _Fail("slice bounds must be ints (and the step not zero)", node)
        return seq[lower:upper:step]

    def _Call(self, node: ast.Call) -> Value:
        name = node.func.id  # type: ignore[attr-defined]
        if name not in HELPERS:
            raise _Fail(f"unknown function {name!r}{did_you_mean(name, HELPERS)}", node.func)
        args = [self.walk(arg) for arg in node.args]
        kwargs = {kw.arg: self.walk(kw.value) for kw in node.keywords if kw.arg}
        return self._at(node.func, _call_helper, name, args, kwargs)


# --- public API ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expr:
    """A parsed, validated expression.  Parse once, evaluate many times."""

    source: str
    _tree: ast.expr | None = field(default=None, compare=False, repr=False)
    _names: frozenset[str] = field(default=frozenset(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        tree = self._tree if self._tree is not None else _parse(self.source)
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_names", _validate(self.source, tree))

    def names(self) -> frozenset[str]:
        """Free variable names referenced (helper names in calls are not included)."""
        return self._names

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        try:
            return _Evaluator(env).walk(self._tree)  # type: ignore[arg-type]
        except _Fail as fail:
            raise ExprError(fail.message, _locate(self.source, fail.where)) from None
        except (RecursionError, MemoryError):  # e.g. comparing very deeply nested env lists
            raise ExprError("expression is too complex to evaluate") from None


def parse_expr(text: str) -> Expr:
    return Expr(text)


@dataclass(frozen=True)
class Call:
    """`conv2d(64, 3, stride=2)` or a bare `relu`.  Argument offsets index into the call text;
    errors from evaluating an argument are relative to that argument's own source."""

    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    name_offset: int
    arg_offsets: tuple[int, ...]
    kwarg_offsets: tuple[int, ...]  # of each keyword
    kwarg_value_offsets: tuple[int, ...] = ()  # of each keyword argument's value


def _sub_expr(text: str, node: ast.expr) -> Expr:
    # Re-parsing the argument's text alone could fail (e.g. a line break outside brackets),
    # so reuse its subtree with positions moved to be relative to the argument text.
    tree = _copy_tree(node)
    _shift(tree, node.lineno, -node.col_offset)
    return Expr(text[_offset(text, node):_offset(text, node, end=True)], tree)


def _copy_tree(tree: ast.expr) -> ast.expr:
    """A deep copy of a syntax tree without recursion (copy.deepcopy recurses once per level,
    and a flat chain `1 + 1 + ...` that fits in MAX_SOURCE is a thousand levels)."""
    copies = {id(node): copy.copy(node) for node in ast.walk(tree)}
    for new in copies.values():
        for name, value in ast.iter_fields(new):
            if isinstance(value, ast.AST):
                setattr(new, name, copies[id(value)])
            elif isinstance(value, list):
                setattr(new, name, [copies[id(v)] if isinstance(v, ast.AST) else v for v in value])
    return copies[id(tree)]  # type: ignore[return-value]


def parse_call(text: str) -> Call:
    root = _parse(text)
    if isinstance(root, ast.Name):
        return Call(root.id, (), (), _offset(text, root), (), ())
    if not (isinstance(root, ast.Call) and isinstance(root.func, ast.Name)):
        shown = text.strip() if len(text.strip()) <= 60 else text.strip()[:57] + "..."
        raise ExprError(f"expected 'name' or 'name(args...)', got {shown!r}", _offset(text, root))
    _validate(text, root)
    keywords = [kw for kw in root.keywords if kw.arg]
    return Call(
        name=root.func.id,
        args=tuple(_sub_expr(text, arg) for arg in root.args),
        kwargs=tuple((kw.arg, _sub_expr(text, kw.value)) for kw in keywords),  # type: ignore[misc]
        name_offset=_offset(text, root.func),
        arg_offsets=tuple(_offset(text, arg) for arg in root.args),
        kwarg_offsets=tuple(_offset(text, kw) for kw in keywords),
        kwarg_value_offsets=tuple(_offset(text, kw.value) for kw in keywords),
    )


_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{[^{}]*\}|[{}]|[^{}]+")


def render_template(text: str, env: Mapping[str, Value]) -> str:
    """Expand `{expr}` fields (ints and strings only); `{{` and `}}` are literal braces.

    A field ends at the first `}`, so an expression inside a template cannot contain braces.
    """
    out: list[str] = []
    for match in _TEMPLATE_TOKEN.finditer(text):
        token, start = match.group(), match.start()
        if token in ("{{", "}}"):
            out.append(token[0])
        elif token == "{":
            raise ExprError("unclosed '{' in template", start)
        elif token == "}":
            raise ExprError("single '}' in template; write '}}' for a literal brace", start)
        elif token.startswith("{"):
            out.append(_render_field(token[1:-1], env, start + 1))
        else:
            out.append(token)
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _template_field(source: str) -> Expr:
    return parse_expr(source)  # templates are rendered once per repeated block, so parse each field once


def _render_field(source: str, env: Mapping[str, Value], base: int) -> str:
    try:
        value = _template_field(source).evaluate(env)
    except ExprError as e:
        raise ExprError(e.message, base + e.offset) from None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ExprError(f"template value must be an int or a string, got {_tname(value)} {reprlib.repr(value)}", base)
    return str(value)
