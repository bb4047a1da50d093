"""Python source backend: which spec params can stay parameters of the emitted network class.

Emitted source is resolved for one variant: channel counts and repeat counts are numbers.
A param can still be a constructor argument (`Resnet(num_classes=10)`) when changing it
changes nothing but the values computed from it alone: no module's input size, no node's
presence. That is checked, not assumed: the spec is expanded again with the param moved,
and every node's input shapes and every other attribute must come out the same.
"""
from __future__ import annotations

from typing import Any

from archc.errors import SpecError
from archc.ir.graph import Graph, Network


def liftable_params(network: Network) -> frozenset[str]:
    """Spec params (numbers) that the emitted network class may take as constructor arguments."""
    if network.extracted:
        return frozenset()
    candidates = sorted(_read_alone(network.graph) & {p for p, v in network.params.items() if type(v) in (int, float)})
    # A param that some expression also reads with other names (`scale_width(cout, width_mult)`)
    # usually sets sizes and fails. The others are checked together first (usually the only
    # extra expansion), then the rest one at a time, each with all that passed: what is lifted
    # is checked as a whole, in 1 + (params read with others) expansions where all else passes.
    mixed = _read_with_others(network.graph)
    first = [p for p in candidates if p not in mixed]
    lifted = first if first and _only_values_change(network, first) else []
    for p in candidates:
        if p not in lifted and _only_values_change(network, [*lifted, p]):
            lifted.append(p)
    return frozenset(lifted)


def _read_alone(graph: Graph) -> set[str]:
    """Params that some argument expression reads and nothing else (`linear(num_classes)`)."""
    found: set[str] = set()
    for _, node in graph.walk():
        for _, names in node.reads:
            if len(names) == 1:
                found |= names
    return found


def _read_with_others(graph: Graph) -> set[str]:
    """Names that some argument expression reads together with other names."""
    return {name for _, node in graph.walk() for _, names in node.reads if len(names) > 1 for name in names}


def _only_values_change(network: Network, params: list[str]) -> bool:
    from archc.ir.load import load_network

    moved = {p: _moved(network.params[p]) for p in params}
    try:
        other = load_network(network.path, network.variant, {**network.params, **moved})
    except (SpecError, OSError, ValueError, TypeError):
        return False
    return _same_but(network.graph, other.graph, frozenset(params))


def _moved(value: int | float) -> int | float:
    return value + 1 if type(value) is int else (value / 2 if value else 0.5)


def _same_but(a: Graph, b: Graph, params: frozenset[str]) -> bool:
    """Same nodes, inputs and input shapes, and the same attributes except those computed from one of `params` alone."""
    if len(a.nodes) != len(b.nodes) or a.inputs != b.inputs:
        return False
    for x, y in zip(a.nodes, b.nodes):
        if (x.name, x.op, x.block, x.inputs, x.in_shapes) != (y.name, y.op, y.block, y.inputs, y.in_shapes):
            return False
        moved = {attr for attr, names in x.reads if len(names) == 1 and names <= params}
        if not _attrs_equal_but(x.attrs, y.attrs, moved) or not _args_equal_but(x.args, y.args, moved):
            return False
        if (x.body is None) != (y.body is None) or (x.body is not None and not _same_but(x.body, y.body, params)):  # type: ignore[arg-type]
            return False
    return True


def _attrs_equal_but(a: Any, b: Any, moved: set[str]) -> bool:
    if a is None or b is None:
        return a is b
    left, right = a.model_dump(), b.model_dump()
    return all(left[k] == right[k] for k in left if k not in moved)


def _args_equal_but(a: tuple, b: tuple, moved: set[str]) -> bool:
    return dict(a).keys() == dict(b).keys() and all(v == dict(b)[k] for k, v in a if k not in moved)
