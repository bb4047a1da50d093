"""IR stage: feature extraction, a network cut down to named intermediate outputs.

`extract(network, ["layer2", "layer4"], where)` returns a network whose outputs are those
nodes (dotted paths reach into groups and blocks: "features.denseblock3") and which holds
only the nodes they depend on, as torchvision's create_feature_extractor does. A block
that must expose an inner node gets that node as an extra output of its body, after its
own output (kept only when something still reads it).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Sequence

from archc.errors import Location, spec_error
from archc.ir.graph import Graph, Network, Output, Ref
from archc.spec.expr import did_you_mean

Request = tuple[tuple[str, ...], str]  # (path below this graph, output label)


def extract(network: Network, names: Sequence[str], where: Location) -> Network:
    """The network restricted to computing `names`; unknown names are SpecErrors with hints."""
    if not names:
        raise spec_error(where, "no outputs requested")
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise spec_error(where, f"outputs requested more than once: {', '.join(repeated)}")
    graph = _restrict(network.graph, [(tuple(n.split(".")), n) for n in names], "", where, keep_own=False)
    graph = replace(graph, input_location=network.graph.input_location, warnings=network.graph.warnings)
    return replace(network, graph=graph, extracted=tuple(names))


def _restrict(graph: Graph, requests: list[Request], prefix: str, where: Location, keep_own: bool) -> Graph:
    by_name = {n.name: n for n in graph.nodes}
    direct: dict[str, str] = {}
    inner: dict[str, list[Request]] = defaultdict(list)
    for path, label in requests:
        node = by_name.get(path[0])
        if node is None:
            wanted, choices = prefix + path[0], [prefix + n for n in by_name]
            raise spec_error(where, f"no node {wanted!r} to output{did_you_mean(wanted, choices)}")
        if len(path) == 1:
            direct[path[0]] = label
        elif node.body is None:
            raise spec_error(where, f"{prefix + path[0]!r} is a single op; it has no node {'.'.join(path[1:])!r}")
        else:
            inner[path[0]].append((path[1:], label))
    own = graph.outputs[0] if keep_own else None
    needed = _needed(graph, set(direct) | set(inner) | ({own.ref.node} if own else set()))
    readers = {r for n in graph.nodes if n.name in needed for r in n.inputs} | ({own.ref} if own else set())
    nodes, position = [], {}
    for node in graph.nodes:
        if node.name not in needed:
            continue
        if node.name in inner:
            keeps = node.name in direct or Ref(node.name) in readers
            body = _restrict(node.body, inner[node.name], f"{prefix}{node.name}.", where, keeps)  # type: ignore[arg-type]
            node = replace(node, body=body, out_shapes=tuple(o.shape for o in body.outputs))
            position[node.name] = {o.name: i for i, o in enumerate(body.outputs)}
        nodes.append(node)
    shapes = {n.name: n.out_shapes for n in nodes}
    outputs = [own] if own else []
    for path, label in requests:
        index = 0 if len(path) == 1 else position[path[0]][label]
        outputs.append(Output(label, Ref(path[0], index), shapes[path[0]][index]))
    return Graph(graph.inputs, tuple(nodes), tuple(outputs))


def _needed(graph: Graph, wanted: set[str]) -> set[str]:
    by_name = {n.name: n for n in graph.nodes}
    needed: set[str] = set()
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name in by_name and name not in needed:
            needed.add(name)
            stack.extend(r.node for r in by_name[name].inputs)
    return needed
