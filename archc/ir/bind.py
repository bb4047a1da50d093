"""IR stage: evaluating spec expressions and binding call arguments, with locations."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from archc.errors import Collector, Diagnostic, Location, SpecError, spec_error
from archc.shapes.symbolic import SymShape, specialize_all, tracer, tracing
from archc.spec.expr import Call, Expr, ExprError, did_you_mean, parse_call, parse_expr, render_template


@lru_cache(maxsize=4096)
def _parsed(text: str) -> Expr:
    return parse_expr(text)


@lru_cache(maxsize=4096)
def _parsed_call(text: str) -> Call:
    return parse_call(text)


def evaluate(value: Any, env: Mapping[str, Any], where: Location) -> Any:
    """A spec value: strings are expressions, everything else is taken as written."""
    if isinstance(value, str):
        try:
            result = _parsed(value).evaluate(env)
        except ExprError as exc:
            raise spec_error(where.shifted(exc.offset), f"in expression {quoted(value)}: {exc.message}") from None
        # A condition, count or block param computed from the input size is decided at the
        # declared size: the size is fixed wherever the decision would differ.
        specialize_all(follow(_parsed(value), env), f"`{value}` decides on it")
        return result
    if isinstance(value, list):
        return tuple(evaluate(v, env, where) for v in value)
    return value


def follow(expr: Expr, env: Mapping[str, Any]) -> Any:
    """The expression's value with the input's sizes as expressions, while a network's shapes
    are followed (archc.shapes); None where it reads no shape that depends on the input."""
    if tracer() is None:
        return None
    names = expr.names()
    symbolic = {k: env[k].readable() for k in names if isinstance(env.get(k), SymShape)}
    if not symbolic:
        return None
    with tracing(tracer(), why=f"`{expr.source}`"):
        try:
            return expr.evaluate({**env, **symbolic})
        except ExprError:
            # A use of the sizes the expressions cannot follow: fixed at the declared size.
            specialize_all(tuple(symbolic.values()), "archc cannot follow it through this expression")
            return None


def param_value(value: Any, env: Mapping[str, Any], where: Location) -> Any:
    """A param's value or a block param's default. A string is an expression when it parses
    and every name it reads is visible (`hidden: dim * 4`, `[3, [192, num_classes]]`); any
    other string is taken as written (`block: bottleneck`, `mode: bilinear`). A string meant
    as text that would read as an expression is quoted inside: `"'dim'"`."""
    if isinstance(value, (list, tuple)):
        return tuple(param_value(v, env, where) for v in value)
    if not isinstance(value, str):
        return value
    try:
        names = _parsed(value).names()
    except ExprError:
        return value
    if not names <= set(env):
        return value
    return evaluate(value, env, where)


def expression_names(value: Any) -> frozenset[str]:
    try:
        return _parsed(value).names() if isinstance(value, str) else frozenset()
    except ExprError:
        return frozenset()


def template(text: str, env: Mapping[str, Any], where: Location) -> str:
    if "{" not in text and "}" not in text:
        return text
    try:
        return render_template(text, env)
    except ExprError as exc:
        raise spec_error(where.shifted(exc.offset), f"in name template {quoted(text)}: {exc.message}") from None


def call_of(text: str, where: Location) -> Call:
    try:
        return _parsed_call(text)
    except ExprError as exc:
        # parse_call's own messages quote the call already
        message = exc.message if text.strip()[:40] in exc.message else f"in {quoted(text)}: {exc.message}"
        glued = _GLUED_NAME.match(text)
        if glued:  # `conv1:conv2d(8, 1)`: without the space YAML reads one string, not `name: op`
            name, op = glued.group(1), text[glued.end():].strip()
            message = f"{quoted(text)} is one string to YAML; to name a node, put a space after the colon: '{name}: {op}'"
            raise spec_error(where.shifted(glued.end() - 1), message) from None
        raise spec_error(where.shifted(exc.offset), message) from None


_GLUED_NAME = re.compile(r"\s*([A-Za-z_{][\w{}+*\-]*):(?=\S)")


def quoted(text: str, most: int = 60) -> str:
    """An expression for a message: quoted, and cut short (the location shows where)."""
    return repr(text if len(text) <= most else text[: most - 3] + "...")


@dataclass(frozen=True)
class Argument:
    value: Any
    where: Location
    position: int | None = None  # the index of a positional argument
    source: str = ""  # the argument as written, for hints
    # The value with the input's sizes as expressions (archc.shapes), where it reads a shape.
    sym: Any = None


def bind(
    call: Call, extra: Mapping[str, Any], order: list[str], env: Mapping[str, Any], where: Location, what: str,
    extra_where: Mapping[str, tuple[Location, Location]],
) -> dict[str, Argument]:
    """Evaluate a call's arguments and map them to parameter names, in declaration order.

    `extra` holds the `args:` mapping, `extra_where` its keys' and values' locations.
    """
    errors = Collector()
    bound: dict[str, Argument] = {}
    if len(call.args) > len(order):
        most = f"{len(order)} positional argument{'s' if len(order) != 1 else ''} ({', '.join(order)})" if order else "no arguments"
        errors.error(where.shifted(call.arg_offsets[len(order)]), f"{what} takes {'at most ' if order else ''}{most}, got {len(call.args)}")
    for position, (name, expr, offset) in enumerate(zip(order, call.args, call.arg_offsets)):
        bound[name] = _argument(expr, env, where.shifted(offset), errors, position)
    value_offsets = call.kwarg_value_offsets or call.kwarg_offsets
    for (name, expr), offset, value_offset in zip(call.kwargs, call.kwarg_offsets, value_offsets):
        at = where.shifted(offset)
        if name not in order:
            errors.error(at, f"{what} has no argument {name!r}{did_you_mean(name, order)}", f"arguments: {', '.join(order) or '(none)'}")
        elif name in bound:
            errors.error(at, f"{what} got {name!r} twice")
        else:
            # The argument is at its keyword; a problem inside its expression, at the character.
            bound[name] = _argument(expr, env, at, errors, value_at=where.shifted(value_offset))
    for name, raw in extra.items():
        key_at, at = extra_where.get(name, (where, where))
        if name not in order:
            errors.error(key_at, f"{what} has no argument {name!r}{did_you_mean(name, order)}", f"arguments: {', '.join(order) or '(none)'}")
        elif name in bound:
            errors.error(key_at, f"{what} got {name!r} twice")
        else:
            try:
                value = _parsed(raw).evaluate(env) if isinstance(raw, str) else evaluate(raw, env, at)
                sym = follow(_parsed(raw), env) if isinstance(raw, str) else None
                bound[name] = Argument(value, at, source=raw if isinstance(raw, str) else "", sym=sym)
            except ExprError as exc:
                errors.error(at.shifted(exc.offset), f"in expression {quoted(raw)}: {exc.message}")
            except SpecError as exc:
                errors.add(exc)
    errors.raise_if_any()
    return bound


def _argument(
    expr: Expr, env: Mapping[str, Any], where: Location, errors: Collector, position: int | None = None,
    value_at: Location | None = None,
) -> Argument:
    try:
        return Argument(expr.evaluate(env), where, position, expr.source, follow(expr, env))
    except ExprError as exc:
        errors.error((value_at or where).shifted(exc.offset), f"in expression {quoted(expr.source)}: {exc.message}")
        return Argument(None, where, position, expr.source)


def validate_attrs(model: type[BaseModel], bound: dict[str, Argument], where: Location, what: str, op: str = "") -> Any:
    """Check evaluated arguments against an op's attribute schema (`op` names it in hints)."""
    data = {k: _plain(a.value) for k, a in bound.items()}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = Collector()
        by_field: dict[str, list[Mapping[str, Any]]] = {}
        for err in exc.errors():
            by_field.setdefault(str(err["loc"][0]) if err["loc"] else "", []).append(err)
        missing = [name for name, errs in by_field.items() if errs[0]["type"] == "missing"]
        if missing:
            listed = " and ".join(", ".join(map(repr, missing)).rsplit(", ", 1))
            errors.error(where, f"{what}: missing required argument{'s' if len(missing) > 1 else ''} {listed}")
        for name, errs in by_field.items():
            if name not in missing:
                notes = _inferred_size_hint(model, bound, name, op)
                errors.error(bound[name].where if name in bound else where, f"{what}: {_field_problem(name, errs)}", *notes)
        errors.raise_if_any()
        raise


def _inferred_size_hint(model: type[BaseModel], bound: dict[str, Argument], failed: str, op: str) -> tuple[str, ...]:
    """`linear(4096, 10)`, written as in PyTorch with the input size first: say it is inferred."""
    first = next(iter(model.model_fields), None)
    arg = bound.get(failed)
    given = sorted((a for a in bound.values() if a.position is not None), key=lambda a: a.position or 0)
    if first != "out" or arg is None or not arg.position or not isinstance(given[0].value, int):
        return ()
    written = ", ".join(a.source for a in given)
    shorter = ", ".join(a.source for a in given[1:])
    return (
        f"input features and channels are inferred from the input shape: {op or 'the op'} takes the output size "
        f"first, as in {op}({shorter}), not {op}({written})",
    )


def _field_problem(name: str, errs: list[Mapping[str, Any]]) -> str:
    """The telling error of one argument: a union reports one per member type."""
    telling = [e for e in errs if not _type_mismatch(e)]
    if telling:
        err = telling[0]
        label = name + "".join(f"[{p}]" for p in err["loc"][1:] if isinstance(p, int))
        if err["type"] in ("too_long", "too_short"):
            bound = err.get("ctx", {}).get("max_length" if err["type"] == "too_long" else "min_length")
            most = "at most" if err["type"] == "too_long" else "at least"
            return f"{label}: expected {most} {bound} value{'s' if bound != 1 else ''}, got {_shown(err.get('input'))}"
        return f"{label}: {_message(err)}, got {_shown(err.get('input'))}"
    kinds = list(dict.fromkeys(_EXPECTED.get(e["type"], "another type") for e in errs))
    expected = ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]
    return f"{name}: expected {expected}, got {_shown(errs[0].get('input'))}"


_EXPECTED = {
    "int_type": "an int", "float_type": "a number", "bool_type": "true/false", "string_type": "a string",
    "tuple_type": "a list", "literal_error": "one of the listed strings", "none_required": "null",
}


def _type_mismatch(err: Mapping[str, Any]) -> bool:
    # A union member whose type the value does not have; its error says nothing about the value.
    if err["type"] == "literal_error":
        return not isinstance(err.get("input"), str)
    return err["type"] in _EXPECTED


def _shown(value: Any) -> str:
    # As the user wrote it: lists in brackets (expressions give tuples).
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return repr(value)


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    return msg[0].lower() + msg[1:] if msg else msg


def _plain(value: Any) -> Any:
    # Pydantic's strict mode wants tuples for tuple fields; expressions give tuples, YAML lists.
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def argument_order_warning(
    op: str, call: Call, bound: Mapping[str, Argument], in_shapes: tuple[tuple[int, ...], ...], where: Location, what: str,
) -> Diagnostic | None:
    """A warning for PyTorch's order, `conv2d(in, out, kernel)`: valid, but read as out=in,
    kernel=out, stride=kernel. Given when the first argument is the output size, equals the
    input's channels, and a third positional argument follows."""
    order = [name for name, arg in bound.items() if arg.position is not None]
    if len(order) < 3 or order[0] != "out" or not in_shapes or not in_shapes[0]:
        return None
    out = bound["out"].value
    if isinstance(out, bool) or out != in_shapes[0][0]:
        return None
    sources = [bound[name].source for name in order]
    written = ", ".join(sources)
    meaning = ", ".join(f"{name}={source}" for name, source in zip(order, sources))
    message = (
        f"{what}: {op}({written}) means {meaning}; archc infers the {in_shapes[0][0]} input channels and "
        f"takes the output channels first: PyTorch's {op[:1].upper() + op[1:]}({written}) is {op}({', '.join(sources[1:])})"
    )
    return Diagnostic(where.shifted(call.arg_offsets[0]), message, severity="warning")
