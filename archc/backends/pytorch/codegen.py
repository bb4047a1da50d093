"""PyTorch backend: generated `forward` source for one graph, one line per node.

The code reads like hand-written torchvision code: submodules are called by their spec
names, functional ops are plain torch calls with literal arguments, each line carries
the shape it produces, and training-only outputs (GoogLeNet's auxiliary heads) are
computed after an `if not self.training: return ...`.

A value read only by the next node of a chain reuses its variable (`out = self.bn1(out)`),
as torchvision writes it. Besides reading well, this drops each intermediate tensor as
soon as it is dead, so the allocator reuses warm memory: keeping every intermediate
alive until `return` made ResNet-50 several percent slower than torchvision.
"""
from __future__ import annotations

import keyword
from collections import Counter

from archc.ir.graph import Graph, Node, Output, Ref
from archc.ops import OPS

RESERVED = frozenset({"self", "torch", "F", "channel_shuffle"})


class Namespace:
    """Turns spec names into unique, legal Python identifiers."""

    def __init__(self) -> None:
        self.taken: set[str] = set(RESERVED)

    def fresh(self, name: str) -> str:
        base = name if name.isidentifier() and not keyword.iskeyword(name) else (
            f"x{name}" if name[:1].isdigit() else f"x_{name}"
        )
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}_{n}"
        self.taken.add(candidate)
        return candidate


def module_access(name: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"self.{name}"
    return f"getattr(self, {name!r})"


def shape_comment(node: Node) -> str:
    return "  # " + ", ".join("N x " + " x ".join(map(str, s)) for s in node.out_shapes)


def forward_source(graph: Graph, style: str = "namedtuple") -> str:
    """The source of `def forward(self, <inputs>)` for one graph.

    Several outputs are returned as `style` says: "namedtuple" (a network's outputs),
    "tuple" (a block opened up for feature extraction) or "dict" (a feature extractor).
    """
    consumers = _consumers(graph)
    names = _variable_names(graph, consumers)
    eval_needed = graph.nodes_needed(training=False)
    train_needed = graph.nodes_needed(training=True)
    params = [names[(name, 0)] for name, _ in graph.inputs]
    lines = [f"def forward(self, {', '.join(params)}):"]
    in_training_block = False
    for node in graph.nodes:
        if node.name not in train_needed:
            continue
        # Training-only nodes run where they stand, as torchvision's GoogLeNet runs its
        # auxiliary heads, so random draws (dropout) come in the reference's order.
        training_only = node.name not in eval_needed
        if training_only and not in_training_block:
            lines.append("    if self.training:")
        in_training_block = training_only
        lines.append(("        " if training_only else "    ") + _line(node, names, graph, consumers))
    eval_outputs = [o for o in graph.outputs if not o.training_only]
    if len(eval_outputs) != len(graph.outputs):
        lines.append("    if not self.training:")
        lines.append("        return " + _result(eval_outputs, names, style, "self.eval_output_type"))
    lines.append("    return " + _result(list(graph.outputs), names, style, "self.output_type"))
    return "\n".join(lines) + "\n"


def output_fields(graph: Graph, training: bool) -> tuple[str, ...]:
    """Field names of the namedtuple a network with several outputs returns in this mode."""
    fields = tuple(o.name for o in graph.outputs if training or not o.training_only)
    return fields if len(fields) > 1 else ()


def _variable_names(graph: Graph, consumers: Counter) -> dict[tuple[str, int], str]:
    """A variable for every value; a chain of single-consumer values shares one.

    Chains read like torchvision: `x` for the one starting at the input, `out` for others
    of several nodes, the node's own name for a value that is not passed along a chain.
    """
    heads: dict[str, str] = {name: name for name, _ in graph.inputs}
    length: Counter = Counter()
    for node in graph.nodes:
        first = node.inputs[0] if node.inputs else None
        chained = (
            first is not None and consumers[first] == 1 and len(node.out_shapes) == 1
            and _single_output(graph, first.node)
        )
        heads[node.name] = heads[first.node] if chained else node.name
        length[heads[node.name]] += 1
    ns = Namespace()
    chain_var: dict[str, str] = {}
    for name, _ in graph.inputs:
        chain_var[name] = ns.fresh("x" if name == "input" and len(graph.inputs) == 1 else name)
    names: dict[tuple[str, int], str] = {(name, 0): chain_var[name] for name, _ in graph.inputs}
    for node in graph.nodes:
        head = heads[node.name]
        if head not in chain_var:
            chain_var[head] = ns.fresh("out" if length[head] > 1 else head)
        if len(node.out_shapes) == 1:
            names[(node.name, 0)] = chain_var[head]
        else:
            for i in range(len(node.out_shapes)):
                names[(node.name, i)] = ns.fresh(f"{node.name}_{i}")
    return names


def _single_output(graph: Graph, name: str) -> bool:
    if any(name == n for n, _ in graph.inputs):
        return True
    return len(graph.node(name).out_shapes) == 1


def _result(outputs: list[Output], names: dict[tuple[str, int], str], style: str, type_name: str) -> str:
    values = [names[(o.ref.node, o.ref.index)] for o in outputs]
    if style == "dict":
        return "{" + ", ".join(f"{o.name!r}: {v}" for o, v in zip(outputs, values)) + "}"
    if len(outputs) == 1:
        return values[0]
    if style == "tuple":
        return f"({', '.join(values)})"
    return f"{type_name}({', '.join(f'{o.name}={v}' for o, v in zip(outputs, values))})"


def _line(node: Node, names: dict[tuple[str, int], str], graph: Graph, consumers: Counter) -> str:
    args = [names[(r.node, r.index)] for r in node.inputs]
    if node.body is None and OPS[node.op].holds_tensor:
        expr = OPS[node.op].to_call(node.attrs, [module_access(node.name), *args], False)
    elif node.body is not None or OPS[node.op].stateful:
        expr = f"{module_access(node.name)}({', '.join(args)})"
    else:
        op = OPS[node.op]
        inplace = op.can_run_inplace and _may_overwrite(node.inputs[0], graph, consumers)
        expr = op.to_call(node.attrs, args, inplace)
    targets = [names[(node.name, i)] for i in range(len(node.out_shapes))]
    return f"{', '.join(targets)} = {expr}{shape_comment(node)}"


def _consumers(graph: Graph) -> Counter:
    uses: Counter = Counter()
    for node in graph.nodes:
        uses.update(node.inputs)
    uses.update(o.ref for o in graph.outputs)
    return uses


def _may_overwrite(ref: Ref, graph: Graph, consumers: Counter) -> bool:
    """Writing into `ref` is safe when nobody else reads it and autograd does not need it."""
    if consumers[ref] != 1 or any(name == ref.node for name, _ in graph.inputs):
        return False
    producer = graph.node(ref.node)
    if len(producer.out_shapes) != 1:
        return False
    if producer.body is not None:
        inner = producer.body.outputs[0].ref
        return _may_overwrite(inner, producer.body, _consumers(producer.body))
    op = OPS[producer.op]
    if op.transparent:
        return _may_overwrite(producer.inputs[0], graph, consumers)
    return op.fresh_output
