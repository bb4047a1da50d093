"""IR stage: evaluating spec expressions and binding call arguments, with locations."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from archc.errors import Collector, Location, SpecError, spec_error
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
            return _parsed(value).evaluate(env)
        except ExprError as exc:
            raise spec_error(where.shifted(exc.offset), f"in expression {value!r}: {exc.message}") from None
    if isinstance(value, list):
        return tuple(evaluate(v, env, where) for v in value)
    return value


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
        raise spec_error(where.shifted(exc.offset), f"in name template {text!r}: {exc.message}") from None


def call_of(text: str, where: Location) -> Call:
    try:
        return _parsed_call(text)
    except ExprError as exc:
        raise spec_error(where.shifted(exc.offset), f"{exc.message}") from None


@dataclass(frozen=True)
class Argument:
    value: Any
    where: Location


def bind(
    call: Call, extra: Mapping[str, Any], order: list[str], env: Mapping[str, Any], where: Location, what: str,
    extra_where: Mapping[str, Location],
) -> dict[str, Argument]:
    """Evaluate a call's arguments and map them to parameter names, in declaration order."""
    errors = Collector()
    bound: dict[str, Argument] = {}
    if len(call.args) > len(order):
        errors.error(where.shifted(call.arg_offsets[len(order)]), f"{what} takes at most {len(order)} positional arguments ({', '.join(order)}), got {len(call.args)}")
    for name, expr, offset in zip(order, call.args, call.arg_offsets):
        bound[name] = _argument(expr, env, where.shifted(offset), errors)
    for (name, expr), offset in zip(call.kwargs, call.kwarg_offsets):
        at = where.shifted(offset)
        if name not in order:
            errors.error(at, f"{what} has no argument {name!r}{did_you_mean(name, order)}", f"arguments: {', '.join(order) or '(none)'}")
        elif name in bound:
            errors.error(at, f"{what} got {name!r} twice")
        else:
            bound[name] = _argument(expr, env, at, errors)
    for name, raw in extra.items():
        at = extra_where.get(name, where)
        if name not in order:
            errors.error(at, f"{what} has no argument {name!r}{did_you_mean(name, order)}", f"arguments: {', '.join(order) or '(none)'}")
        elif name in bound:
            errors.error(at, f"{what} got {name!r} twice")
        else:
            try:
                bound[name] = Argument(evaluate(raw, env, at), at)
            except SpecError as exc:
                errors.add(exc)
    errors.raise_if_any()
    return bound


def _argument(expr: Expr, env: Mapping[str, Any], where: Location, errors: Collector) -> Argument:
    try:
        return Argument(expr.evaluate(env), where)
    except ExprError as exc:
        errors.error(where.shifted(exc.offset), f"in expression {expr.source!r}: {exc.message}")
        return Argument(None, where)


def validate_attrs(model: type[BaseModel], bound: dict[str, Argument], where: Location, what: str) -> Any:
    """Check evaluated arguments against an op's attribute schema."""
    data = {k: _plain(a.value) for k, a in bound.items()}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = Collector()
        seen: set[str] = set()
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            if field in seen:  # a union reports once per member; the first says enough
                continue
            seen.add(field)
            at = bound[field].where if field in bound else where
            if err["type"] == "missing":
                errors.error(where, f"{what}: missing required argument {field!r}")
            else:
                got = data.get(field, err.get("input"))
                errors.error(at, f"{what}: {field}: {_message(err)}, got {got!r}")
        errors.raise_if_any()
        raise


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    return msg[0].lower() + msg[1:] if msg else msg


def _plain(value: Any) -> Any:
    # Pydantic's strict mode wants tuples for tuple fields; expressions give tuples, YAML lists.
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value
