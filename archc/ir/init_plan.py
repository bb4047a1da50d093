"""IR stage: resolving a spec's `init` rules into a per-tensor initialisation plan.

Rules apply in order, later ones overriding earlier ones for the same tensor. A rule's
`match` is an op name (every node of that op) or a glob over dotted node paths. Scheme
arguments are expressions that may read the spec's params and the node's attributes
(`out`, `kernel`, ...) plus `in_channels` and `in_features`.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Any

from archc.errors import Collector, Location, SpecError, spec_error
from archc.ir.bind import bind, call_of, evaluate
from archc.ir.graph import Graph, Node
from archc.ops import OPS
from archc.spec.expr import did_you_mean
from archc.spec.schema import InitRule
from archc.spec.source import Source

REQUIRED = object()
# Each scheme is torch.nn.init.<name>_ with these arguments after the tensor.
SCHEMES: dict[str, dict[str, Any]] = {
    "default": {},  # keep PyTorch's own initialisation of the module
    "zeros": {},
    "ones": {},
    "constant": {"val": REQUIRED},
    "normal": {"mean": 0.0, "std": 1.0},
    "uniform": {"a": 0.0, "b": 1.0},
    "trunc_normal": {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0},
    "kaiming_normal": {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "kaiming_uniform": {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "xavier_normal": {"gain": 1.0},
    "xavier_uniform": {"gain": 1.0},
}
MODES = ("fan_in", "fan_out")
NONLINEARITIES = ("linear", "conv1d", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu")


@dataclass(frozen=True)
class InitCall:
    scheme: str
    kwargs: tuple[tuple[str, Any], ...]


def resolve_init(rules: list[InitRule], graph: Graph, params: dict[str, Any], source: Source) -> dict[str, dict[str, InitCall]]:
    """{node path: {tensor: InitCall}} for every tensor some rule sets."""
    errors = Collector()
    plan: dict[str, dict[str, InitCall]] = {}
    nodes = [(path, node) for path, node in graph.walk() if node.op is not None and OPS[node.op].tensors(node.attrs)]
    for i, rule in enumerate(rules):
        try:
            if rule.if_ is not None and not _condition(rule.if_, params, source.at(("init", i, "if"))):
                continue
            matched = [(p, n) for p, n in nodes if _matches(rule.match, p, n)]
            if not matched and rule.match not in OPS:
                raise spec_error(source.at(("init", i, "match")), f"init rule matches no node: {rule.match!r}")
            for path, node in matched:
                plan.setdefault(path, {}).update(_calls(rule, i, path, node, params, source))
        except SpecError as exc:
            errors.add(exc)
    errors.raise_if_any()
    return plan


def _condition(value: Any, params: dict[str, Any], where: Location) -> bool:
    result = evaluate(value, params, where)
    if not isinstance(result, bool):
        raise spec_error(where, f"condition must be true or false, got {result!r}")
    return result


def _matches(pattern: str, path: str, node: Node) -> bool:
    return node.op == pattern if pattern in OPS else fnmatch.fnmatchcase(path, pattern)


def _calls(rule: InitRule, i: int, path: str, node: Node, params: dict[str, Any], source: Source) -> dict[str, InitCall]:
    tensors = OPS[node.op].tensors(node.attrs)  # type: ignore[index]
    env = params | node.attrs.model_dump() | {
        "in_channels": node.in_shapes[0][0] if node.in_shapes[0] else 0,
        "in_features": node.in_shapes[0][-1] if node.in_shapes[0] else 0,
    }
    calls = {}
    for tensor in ("weight", "bias"):
        text = getattr(rule, tensor)
        if text is None or tensor not in tensors:
            continue
        where = source.at(("init", i, tensor))
        calls[tensor] = _scheme(text, env, where)
        _check_rank(calls[tensor].scheme, tensor, OPS[node.op].tensor_ndim(node.attrs, node.in_shapes, tensor), path, where)  # type: ignore[index]
    return calls


def _scheme(text: str, env: dict[str, Any], where: Location) -> InitCall:
    call = call_of(text, where)
    if call.name not in SCHEMES:
        raise spec_error(where.shifted(call.name_offset), f"unknown init scheme {call.name!r}{did_you_mean(call.name, SCHEMES)}", f"schemes: {', '.join(SCHEMES)}")
    signature = SCHEMES[call.name]
    bound = bind(call, {}, list(signature), env, where, f"init scheme {call.name!r}", {})
    kwargs = {}
    for name, default in signature.items():
        if name in bound:
            kwargs[name] = bound[name].value
        elif default is REQUIRED:
            raise spec_error(where, f"init scheme {call.name!r} needs argument {name!r}")
        else:
            kwargs[name] = default
    _check_values(call.name, kwargs, where)
    return InitCall(call.name, tuple(kwargs.items()))


def _check_values(scheme: str, kwargs: dict[str, Any], where: Location) -> None:
    if "mode" in kwargs and kwargs["mode"] not in MODES:
        raise spec_error(where, f"{scheme}: mode must be one of {', '.join(MODES)}, got {kwargs['mode']!r}")
    if "nonlinearity" in kwargs and kwargs["nonlinearity"] not in NONLINEARITIES:
        raise spec_error(where, f"{scheme}: nonlinearity must be one of {', '.join(NONLINEARITIES)}, got {kwargs['nonlinearity']!r}")
    for key, value in kwargs.items():
        if key not in ("mode", "nonlinearity") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise spec_error(where, f"{scheme}: {key} must be a number, got {value!r}")
    for key, value in kwargs.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise spec_error(where, f"{scheme}: {key} must be a finite number, got {value!r}")
    if kwargs.get("std", 1.0) < 0:
        raise spec_error(where, f"{scheme}: std must be >= 0, got {kwargs['std']}")
    if kwargs.get("gain", 1.0) < 0:
        raise spec_error(where, f"{scheme}: gain must be >= 0, got {kwargs['gain']}")
    if scheme == "uniform" and kwargs["a"] > kwargs["b"]:
        raise spec_error(where, f"uniform: the lower bound a={kwargs['a']} is above the upper bound b={kwargs['b']}")
    if scheme == "trunc_normal" and kwargs["a"] >= kwargs["b"]:
        raise spec_error(where, f"trunc_normal: the lower bound a={kwargs['a']} must be below the upper bound b={kwargs['b']}")


def _check_rank(scheme: str, tensor: str, ndim: int, path: str, where: Location) -> None:
    """xavier and kaiming compute fans from the weight's shape: they need at least 2 dims."""
    if scheme.startswith(("xavier", "kaiming")) and ndim < 2:
        raise spec_error(
            where, f"{scheme} needs a tensor with at least 2 dims to compute fan-in and fan-out; "
            f"{path}.{tensor} has {ndim}", "use normal, uniform, constant, zeros or ones for biases and norm weights",
        )
