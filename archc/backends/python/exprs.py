"""Python source backend: a spec expression as a Python expression.

The spec's expression language is a subset of Python, so `stride != 1 or in_channels != planes`
can be written into emitted code as it stands. It is rewritten from its syntax tree, not
copied: names come from a namespace (the constructor's parameters) or become literals,
constants come from the literal writer, and operators from the tables below, so no text
of the spec reaches the source any other way. Anything outside the subset written here
(calls, slices) gives None, and the caller keeps the resolved value instead.
"""
from __future__ import annotations

import ast
from typing import Any, Mapping

from archc.pysource import Var, literal
from archc.spec.expr import ExprError, parse_expr

_BINARY = {ast.Add: ("+", 6), ast.Sub: ("-", 6), ast.Mult: ("*", 7), ast.Div: ("/", 7),
           ast.FloorDiv: ("//", 7), ast.Mod: ("%", 7), ast.Pow: ("**", 9)}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
            ast.In: "in", ast.NotIn: "not in"}
_LITERAL_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
# Calls written as they stand: builtins that archc's helpers of that name equal, and the
# helpers an emitted file carries a copy of (archc/backends/pytorch/runtime.py).
_CALLS = {"min": "min", "max": "max", "abs": "abs", "len": "len", "sum": "sum", "round": "round", "bool": "bool",
          "ceil": "math.ceil", "floor": "math.floor", "make_divisible": "make_divisible",
          "scale_width": "scale_width", "scale_depth": "scale_depth"}
_KEYWORDS = frozenset({"divisor", "min_value", "ndigits"})
_ATOM = 10
_SPEC_LITERALS = {"true": True, "false": False, "null": None}


class _Unsupported(Exception):
    pass


def python_expression(source: str, names: Mapping[str, Var], values: Mapping[str, Any],
                      in_scope: frozenset[str] = frozenset()) -> str | None:
    """`source` in Python, reading `names` as the given variables and `values` as literals;
    `in_scope` are the other local names where it is written, which a call must not meet."""
    try:
        tree = parse_expr(source)._tree
        text, _ = _Writer(names, values, in_scope | {str(v) for v in names.values()}).write(tree)  # type: ignore[arg-type]
    except (_Unsupported, ExprError, TypeError, RecursionError):
        return None
    return text


class _Writer:
    def __init__(self, names: Mapping[str, Var], values: Mapping[str, Any], in_scope: frozenset[str]) -> None:
        self.names, self.values, self.in_scope = names, values, in_scope

    def write(self, node: ast.expr) -> tuple[str, int]:
        """(text, precedence) of a subtree."""
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise _Unsupported(type(node).__name__)
        return method(node)

    def operand(self, node: ast.expr, at_least: int) -> str:
        text, precedence = self.write(node)
        return text if precedence >= at_least else f"({text})"

    def _Constant(self, node: ast.Constant) -> tuple[str, int]:
        return _value(node.value)

    def _Name(self, node: ast.Name) -> tuple[str, int]:
        # As the spec's evaluator reads it: `true` is the literal even where a param has that name.
        if node.id in _SPEC_LITERALS:
            return literal(_SPEC_LITERALS[node.id]), _ATOM
        if node.id in self.names:
            return str(self.names[node.id]), _ATOM
        if node.id in self.values:
            return _value(self.values[node.id])
        if node.id in _LITERAL_NAMES:
            return literal(_LITERAL_NAMES[node.id]), _ATOM
        raise _Unsupported(node.id)

    def _BinOp(self, node: ast.BinOp) -> tuple[str, int]:
        symbol, precedence = _BINARY.get(type(node.op), (None, 0))
        if symbol is None:
            raise _Unsupported("operator")
        # Left-associative, except `**`: the operand on the binding side may be of equal rank.
        left = self.operand(node.left, precedence + (symbol == "**"))
        right = self.operand(node.right, precedence + (symbol != "**"))
        return f"{left} {symbol} {right}", precedence

    def _UnaryOp(self, node: ast.UnaryOp) -> tuple[str, int]:
        if isinstance(node.op, ast.Not):
            return f"not {self.operand(node.operand, 4)}", 4
        symbol = {ast.USub: "-", ast.UAdd: "+"}.get(type(node.op))
        if symbol is None:
            raise _Unsupported("unary operator")
        return f"{symbol}{self.operand(node.operand, 8)}", 8

    def _BoolOp(self, node: ast.BoolOp) -> tuple[str, int]:
        word, precedence = ("and", 3) if isinstance(node.op, ast.And) else ("or", 2)
        return f" {word} ".join(self.operand(v, precedence + 1) for v in node.values), precedence

    def _Compare(self, node: ast.Compare) -> tuple[str, int]:
        parts = [self.operand(node.left, 6)]
        for op, right in zip(node.ops, node.comparators):
            symbol = _COMPARE.get(type(op))
            if symbol is None:
                raise _Unsupported("comparison")
            parts += [symbol, self.operand(right, 6)]
        return " ".join(parts), 5

    def _IfExp(self, node: ast.IfExp) -> tuple[str, int]:
        return f"{self.operand(node.body, 2)} if {self.operand(node.test, 2)} else {self.operand(node.orelse, 1)}", 1

    def _Subscript(self, node: ast.Subscript) -> tuple[str, int]:
        if isinstance(node.slice, ast.Slice):
            raise _Unsupported("slice")
        return f"{self.operand(node.value, _ATOM)}[{self.write(node.slice)[0]}]", _ATOM

    def _Tuple(self, node: ast.Tuple | ast.List) -> tuple[str, int]:
        # The spec's lists are tuples once evaluated, so a tuple compares equal to them.
        items = [self.write(e)[0] for e in node.elts]
        return (f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"), _ATOM

    _List = _Tuple

    def _Call(self, node: ast.Call) -> tuple[str, int]:
        if not isinstance(node.func, ast.Name) or node.func.id not in _CALLS or any(k.arg not in _KEYWORDS for k in node.keywords):
            raise _Unsupported("call")
        if node.func.id in self.in_scope:
            raise _Unsupported("a call of a name a parameter shadows")
        arguments = [self.write(a)[0] for a in node.args] + [f"{k.arg}={self.write(k.value)[0]}" for k in node.keywords]
        return f"{_CALLS[node.func.id]}({', '.join(arguments)})", _ATOM


def _value(value: Any) -> tuple[str, int]:
    """A literal and its precedence: a negative number is a unary minus (`-0.5 ** 2` is
    `-(0.5 ** 2)`), so it is parenthesised where an operand binds tighter."""
    text = _literal(value)
    return text, (8 if text.startswith("-") else _ATOM)


def _literal(value: Any) -> str:
    try:
        return literal(value)
    except TypeError:
        raise _Unsupported("value") from None
