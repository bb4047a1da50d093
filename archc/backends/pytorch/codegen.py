"""PyTorch backend: generated `forward` source for one graph, one line per node.

The code reads like hand-written torchvision code: submodules are called by their spec
names, functional ops are plain torch calls with literal arguments, each line carries
the shape it produces, and training-only outputs (GoogLeNet's auxiliary heads) are
computed after an `if not self.training: return ...`.
"""
from __future__ import annotations

import keyword
from collections import Counter

from archc.ir.graph import Graph, Node, Ref
from archc.ops import OPS

RESERVED = frozenset({"self", "torch", "F", "channel_shuffle"})


class Namespace:
    """Turns spec names into unique, legal Python variable names."""

    def __init__(self) -> None:
        self.taken: set[str] = set(RESERVED)
        self.names: dict[tuple[str, int], str] = {}

    def var(self, ref: Ref) -> str:
        return self.names[(ref.node, ref.index)]

    def define(self, node: str, index: int, suffix: str = "") -> str:
        base = f"{node}{suffix}"
        if not base.isidentifier() or keyword.iskeyword(base):
            base = f"x{base}" if base[:1].isdigit() else f"x_{base}"
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}_{n}"
        self.taken.add(candidate)
        self.names[(node, index)] = candidate
        return candidate


def module_access(name: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"self.{name}"
    return f"getattr(self, {name!r})"


def shape_comment(node: Node) -> str:
    return "  # " + ", ".join("N x " + " x ".join(map(str, s)) for s in node.out_shapes)


def forward_source(graph: Graph) -> str:
    """The source of `def forward(self, <inputs>)` for one graph."""
    ns = Namespace()
    params = [ns.define(name, 0) for name, _ in graph.inputs]
    eval_needed = graph.nodes_needed(training=False)
    train_needed = graph.nodes_needed(training=True)
    consumers = _consumers(graph)
    lines = [f"def forward(self, {', '.join(params)}):"]
    for node in graph.nodes:
        if node.name in eval_needed:
            lines.append("    " + _line(node, ns, graph, consumers))
    eval_outputs = [o for o in graph.outputs if not o.training_only]
    if train_needed != eval_needed or len(eval_outputs) != len(graph.outputs):
        lines.append("    if not self.training:")
        lines.append("        return " + _result(eval_outputs, ns, "self.eval_output_type"))
        for node in graph.nodes:
            if node.name in train_needed - eval_needed:
                lines.append("    " + _line(node, ns, graph, consumers))
    lines.append("    return " + _result(list(graph.outputs), ns, "self.output_type"))
    return "\n".join(lines) + "\n"


def output_fields(graph: Graph, training: bool) -> tuple[str, ...]:
    """Field names of the namedtuple a network with several outputs returns in this mode."""
    names = tuple(o.name for o in graph.outputs if training or not o.training_only)
    return names if len(names) > 1 else ()


def _result(outputs: list, ns: Namespace, type_name: str) -> str:
    if len(outputs) == 1:
        return ns.var(outputs[0].ref)
    fields = ", ".join(f"{o.name}={ns.var(o.ref)}" for o in outputs)
    return f"{type_name}({fields})"


def _line(node: Node, ns: Namespace, graph: Graph, consumers: Counter) -> str:
    args = [ns.var(r) for r in node.inputs]
    if node.body is not None or OPS[node.op].stateful:
        expr = f"{module_access(node.name)}({', '.join(args)})"
    else:
        op = OPS[node.op]
        inplace = op.can_run_inplace and _may_overwrite(node.inputs[0], graph, consumers)
        expr = op.to_call(node.attrs, args, inplace)
    count = len(node.out_shapes)
    targets = [ns.define(node.name, i, f"_{i}" if count > 1 else "") for i in range(count)]
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
    return producer.op is not None and OPS[producer.op].fresh_output and len(producer.out_shapes) == 1
