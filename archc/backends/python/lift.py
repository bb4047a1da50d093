"""Python source backend: which spec params can stay parameters of the emitted network class.

Emitted source is resolved for one variant: channel counts and repeat counts are numbers.
A param can still be a constructor argument (`Resnet(num_classes=10)`) only where the file
is then right for every value of it, not only for the spec's: the param is what some op
arguments are, exactly, and nothing else reads it. So a param is kept only when

- no condition, repeat count, switch, name template, `from`, input shape, derived param,
  block param default or block call reads it anywhere in the spec (those decide structure,
  or pass it where it could);
- every op argument that reads it is the param itself (`linear(num_classes)`, not
  `dropout(p / 2)`), and either no shape or parameter count of that op depends on the
  argument (a dropout rate, an epsilon), or the op's output is a network output that
  nothing else reads (the classifier's width);
- and, as a last check, expanding the spec again with the param moved changes nothing but
  those arguments.
"""
from __future__ import annotations

import re
from typing import Any

from archc.errors import SpecError
from archc.ir.graph import Graph, Network, Node
from archc.ops import OPS


def liftable_params(network: Network) -> frozenset[str]:
    """Spec params (numbers) that the emitted network class may take as constructor arguments."""
    if network.extracted:
        return frozenset()
    structural = _structural_names(network)
    values = {p: v for p, v in network.params.items() if type(v) in (int, float) and p not in structural}
    outputs = _output_paths(network.graph)
    candidates = sorted(p for p in _read_alone(network.graph) & set(values)
                        if _only_as_itself(network.graph, p, values[p], outputs))
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


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Keys of a node whose strings decide structure, not an op's arguments.
_STRUCTURAL_KEYS = frozenset({"if", "repeat", "names", "from", "as", "name"})


def _structural_names(network: Network) -> set[str]:
    """Every word of every string in the spec that is not an op call's argument (see the
    module docstring): a param among them is never lifted."""
    if network.recipe is None:
        return set(network.params)  # nothing to read the spec from: lift nothing
    data = network.recipe[0]
    if not isinstance(data, dict):
        return set(network.params)
    blocks = data.get("blocks") if isinstance(data.get("blocks"), dict) else {}
    found: set[str] = set()
    for key in ("params", "input", "inputs", "outputs"):
        found |= _words(data.get(key))
    for block in blocks.values():
        if isinstance(block, dict):
            found |= _words(block.get("params")) | _words(block.get("output"))
            _nodes(block.get("body"), set(blocks), found)
    _nodes(data.get("body"), set(blocks), found)
    return found


def _nodes(items: Any, blocks: set[str], found: set[str]) -> None:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            _call(item, blocks, found)
        elif isinstance(item, dict):
            fields = next(iter(item.values())) if len(item) == 1 and not set(item) & _NODE_KEYS else item
            if isinstance(fields, str):
                _call(fields, blocks, found)
            elif isinstance(fields, dict):
                _fields(fields, blocks, found)


_NODE_KEYS = frozenset({"op", "body", "if", "repeat", "switch", "else", "names", "from", "as", "args", "name"})


def _fields(fields: dict, blocks: set[str], found: set[str]) -> None:
    for key, value in fields.items():
        if key in _STRUCTURAL_KEYS:
            found |= _words(value)
        elif key in ("op", "else") and isinstance(value, str):
            _call(value, blocks, found)
        elif key in ("body", "else"):
            _nodes(value, blocks, found)
        elif key == "switch":
            for case in value if isinstance(value, list) else []:
                if isinstance(case, dict):
                    _fields(case, blocks, found)
        elif key == "args":
            op = fields.get("op")
            callee = op.split("(")[0].strip() if isinstance(op, str) else ""
            if callee not in OPS:
                found |= _words(value)


def _call(text: str, blocks: set[str], found: set[str]) -> None:
    """A block call passes its arguments into the block (where a condition may read them)."""
    callee = text.split("(")[0].strip()
    if callee not in OPS:
        found |= _words(text)


def _words(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_WORD.findall(value))
    if isinstance(value, dict):
        return set().union(*(_words(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_words(v) for v in value)) if value else set()
    return set()


def _output_paths(graph: Graph, prefix: str = "") -> set[str]:
    """Op nodes whose output is a network output and is read by nothing else."""
    found: set[str] = set()
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for ref in node.inputs:
            readers[ref.node] = readers.get(ref.node, 0) + 1
    for out in graph.outputs:
        node = graph.node(out.ref.node) if out.ref.node not in dict(graph.inputs) else None
        if node is None or readers.get(node.name) or len(node.out_shapes) != 1:
            continue
        if node.body is None:
            found.add(prefix + node.name)
        else:
            found |= _output_paths(node.body, f"{prefix}{node.name}.")
    return found


def _only_as_itself(graph: Graph, param: str, value: Any, outputs: set[str]) -> bool:
    """Whether every op argument that reads `param` is the param itself, and changes no shape
    or parameter count unless the op is an output (see the module docstring)."""
    for path, node in graph.walk():
        for attr, names in node.param_reads:
            if param not in names:
                continue
            if node.body is not None or names != {param} or not _same(_attribute(node, attr), value):
                return False
            if path not in outputs and _shapes_follow(node, attr):
                return False
    return True


def _attribute(node: Node, attr: str) -> Any:
    return getattr(node.attrs, attr, None) if node.attrs is not None else None


def _shapes_follow(node: Node, attr: str) -> bool:
    """Whether the op's output shapes or parameter count change with the argument."""
    op = OPS[node.op]  # type: ignore[index]
    value = _attribute(node, attr)
    moved = [value + 1, value * 2 + 3, value + 17] if type(value) is int else \
        [value / 2 + 0.25, value * 3 + 0.5] if type(value) is float else []
    if not moved:
        return True
    for other in moved:
        try:
            attrs = node.attrs.model_copy(update={attr: other})
            if op.infer(attrs, node.in_shapes) != node.out_shapes or op.params(attrs, node.in_shapes) != node.own_params:
                return True
        except Exception:  # noqa: BLE001  (a value the op cannot take: treat it as shape-bearing)
            return True
    return False


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


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
