"""Python source backend: the `forward` method of one graph, one line per node.

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

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from archc.ir.follow import lowered_attrs
from archc.ir.graph import Graph, Node, Output, Ref
from archc.ops import OPS
from archc.pysource import PYTHON_NAMES, Namespace, Var, attribute, field_names, literal
from archc.spec.names import is_index

SELF = Var("self")


def is_module(node: Node) -> bool:
    """Whether the node is a submodule: blocks, groups, ops with state, and *named*
    parameter-free ops that torch has a module for (`relu: relu` -> nn.ReLU), so that
    `model.relu` exists and can be replaced or hooked, as in torchvision."""
    if node.body is not None:
        return True
    op = OPS[node.op]  # type: ignore[index]
    if op.stateful:
        return True
    if node.runtime:  # sizes read in forward (`F.interpolate(x, size=...)`): a call, as torchvision writes it
        return False
    return not is_index(node.name) and op.module(node.attrs, node.in_shapes) is not None


def shape_comment(node: Node) -> str:
    return "  # " + ", ".join("N x " + " x ".join(map(str, s)) for s in node.out_shapes)


@dataclass
class Forward:
    """The forward method of one graph, and which module nodes may work in place."""

    lines: list[str]
    inplace: set[str]  # module nodes (nn.ReLU and the like) that may overwrite their input
    # Per node: the index of its line, the variable it assigns and the one its first input is in.
    at: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)


def forward_source(graph: Graph, style: str, output_type: Var | None = None, eval_type: Var | None = None,
                   constraints: tuple[Any, ...] = ()) -> Forward:
    """`def forward(self, <inputs>)` for one graph; a network's own graph first checks its
    input sizes against `constraints` (archc.shapes.constraints.InputConstraints).

    Several outputs are returned as `style` says: "namedtuple" (a network's outputs, of
    `output_type`, or `eval_type` in eval mode), "tuple" (a block opened up for feature
    extraction) or "dict" (a feature extractor).
    """
    by_name = {n.name: n for n in graph.nodes}
    consumers = _consumers(graph)
    names = _variable_names(graph, consumers, by_name)
    eval_needed = graph.nodes_needed(training=False)
    train_needed = graph.nodes_needed(training=True)
    params = [names[(name, 0)] for name, _ in graph.inputs]
    lines = [f"def forward(self, {', '.join(params)}):"]
    for c, var in zip(constraints, params):
        lines += size_checks(c, var)
    inplace: set[str] = set()
    in_training_block = False
    declared: set[str] = set()
    at: dict[str, tuple[int, str, str | None]] = {}
    for node in graph.nodes:
        if node.name not in train_needed:
            continue
        # Training-only nodes run where they stand, as torchvision's GoogLeNet runs its
        # auxiliary heads, so random draws (dropout) come in the reference's order.
        training_only = node.name not in eval_needed
        if training_only and not in_training_block:
            # Declared first, as torchvision does, so that torch.jit.script knows them in eval too.
            for var in _assigned_in_block(graph, node, names, eval_needed, train_needed) - declared:
                lines.append(f"    {var}: Optional[Tensor] = None")
                declared.add(var)
            lines.append("    if self.training:")
        in_training_block = training_only
        may_overwrite = bool(node.inputs) and _may_overwrite(node.inputs[0], graph, consumers, by_name)
        if is_module(node) and node.body is None and OPS[node.op].can_run_inplace and may_overwrite:  # type: ignore[index]
            inplace.add(node.name)
        first = str(names[(node.inputs[0].node, node.inputs[0].index)]) if node.inputs else None
        at[node.name] = (len(lines), str(names[(node.name, 0)]), first)
        lines.append(("        " if training_only else "    ") + _line(node, names, may_overwrite))
    eval_outputs = [o for o in graph.outputs if not o.training_only]
    if len(eval_outputs) != len(graph.outputs):
        if style == "namedtuple" and output_type is not None:
            # One return type for TorchScript: scripted models always return every output.
            lines.append("    if torch.jit.is_scripting():")
            lines.append("        return " + _result(list(graph.outputs), names, style, output_type))
        lines.append("    if not self.training:")
        lines.append("        return " + _result(eval_outputs, names, style, eval_type))
    lines.append("    return " + _result(list(graph.outputs), names, style, output_type))
    return Forward(lines, inplace, at)


def size_checks(constraints: Any, var: str) -> list[str]:
    """`torch._assert(...)` lines for the input sizes a network takes, as torchvision's ViT
    checks its image size: a size outside them stops before any kernel runs, naming the rule."""
    def checks(rules: tuple[Any, ...], indent: str, mode: str) -> list[str]:
        lines = []
        for rule in rules:
            message = _wrapped(rule.message(constraints.name) + mode, indent + "    ")
            for condition in rule.conditions(f"{var}.shape[{constraints.shape.index(rule.symbol) + 1}]"):
                lines += [f"{indent}torch._assert(", f"{indent}    {condition},", *message, f"{indent})"]
        return lines

    lines = checks(constraints.rules, "    ", "")
    if constraints.training_rules and constraints.training_rules != constraints.rules:
        # Training-only heads (Inception's auxiliary classifier) may need larger inputs.
        training = checks(constraints.training_rules, "        ", " in training")
        lines += ["    if self.training:", *training] if training else []
    return lines


def _wrapped(text: str, indent: str, width: int = 80) -> list[str]:
    """A long message as adjacent string literals, one per line, as a person wraps them."""
    pieces, rest = [], text
    while len(rest) > width:
        cut = rest.rfind(" ", 0, width) + 1 or width
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return [f"{indent}{literal(p)}" for p in pieces[:-1]] + [f"{indent}{literal(pieces[-1])},"]


def _assigned_in_block(graph: Graph, start: Node, names: dict[tuple[str, int], Var], eval_needed: set[str],
                       train_needed: set[str]) -> set[str]:
    """The variables the training-only nodes from `start` to the next eval node assign."""
    found: set[str] = set()
    began = False
    for node in graph.nodes:
        began = began or node is start
        if not began or node.name not in train_needed:
            continue
        if node.name in eval_needed:
            break
        found |= {str(names[(node.name, i)]) for i in range(len(node.out_shapes))}
    return found


def inplace_candidates(graph: Graph) -> set[str]:
    """Nodes whose op can work in place and whose input nobody else needs."""
    by_name = {n.name: n for n in graph.nodes}
    consumers = _consumers(graph)
    return {
        n.name for n in graph.nodes
        if n.body is None and OPS[n.op].can_run_inplace and n.inputs  # type: ignore[index]
        and _may_overwrite(n.inputs[0], graph, consumers, by_name)
    }


def output_fields(graph: Graph, training: bool) -> tuple[str, ...]:
    """Field names of the namedtuple a network with several outputs returns in this mode."""
    fields = tuple(o.name for o in graph.outputs if training or not o.training_only)
    return fields if len(fields) > 1 else ()


def _variable_names(graph: Graph, consumers: Counter, by_name: dict[str, Node]) -> dict[tuple[str, int], Var]:
    """A variable for every value; a chain of single-consumer values shares one.

    Chains read like torchvision: `x` for the one starting at the input, `out` for others
    of several nodes, the node's own name for a value that is not passed along a chain.
    """
    inputs = {name for name, _ in graph.inputs}
    heads: dict[str, str] = {name: name for name in inputs}
    length: Counter = Counter()
    for node in graph.nodes:
        first = node.inputs[0] if node.inputs else None
        chained = (
            first is not None and consumers[first] == 1 and len(node.out_shapes) == 1
            and (first.node in inputs or len(by_name[first.node].out_shapes) == 1)
        )
        heads[node.name] = heads[first.node] if chained else node.name  # type: ignore[union-attr]
        length[heads[node.name]] += 1
    ns = Namespace(PYTHON_NAMES | runtime_names())  # a variable `getattr` or `channel_shuffle` would shadow the function
    chain_var: dict[str, Var] = {}
    for name, _ in graph.inputs:
        chain_var[name] = ns.name("x" if name == "input" and len(graph.inputs) == 1 else name)
    names: dict[tuple[str, int], Var] = {(name, 0): chain_var[name] for name, _ in graph.inputs}
    for node in graph.nodes:
        head = heads[node.name]
        if head not in chain_var:
            chain_var[head] = ns.name("out" if length[head] > 1 else _word(head))
        if len(node.out_shapes) == 1:
            names[(node.name, 0)] = chain_var[head]
        else:
            for i in range(len(node.out_shapes)):
                names[(node.name, i)] = ns.name(f"{_word(node.name)}_{i}")
    return names


def runtime_names() -> frozenset[str]:
    """The functions and classes of the runtime that generated code may call, and plugin ops' classes."""
    from archc.backends.python.emit import _runtime_helpers
    from archc.ops.plugins import MODULES

    return frozenset(_runtime_helpers()) | frozenset(MODULES)


def _word(name: str) -> str:
    """A variable name for a node: its own name, or `x3` for the unnamed node at index 3."""
    return f"x{name}" if is_index(name) else name


def _result(outputs: list[Output], names: dict[tuple[str, int], Var], style: str, type_name: Var | None) -> str:
    values = [names[(o.ref.node, o.ref.index)] for o in outputs]
    if style == "dict":
        return "{" + ", ".join(f"{literal(o.name)}: {v}" for o, v in zip(outputs, values)) + "}"
    if len(outputs) == 1:
        return values[0]
    if style == "tuple" or type_name is None:
        return f"({', '.join(values)})"
    fields = field_names([o.name for o in outputs])
    return f"{type_name}({', '.join(f'{f}={v}' for f, v in zip(fields, values))})"


def _line(node: Node, names: dict[tuple[str, int], Var], may_overwrite: bool) -> str:
    args = [names[(r.node, r.index)] for r in node.inputs]
    if node.body is None and OPS[node.op].holds_tensor:  # type: ignore[index]
        # A learnable tensor of the module itself (ViT's cls_token): the op reads it.
        expr = OPS[node.op].to_call(node.attrs, [Var(attribute(SELF, node.name)), *args], False)  # type: ignore[index]
    elif is_module(node):
        if node.body is not None and not node.body.nodes:
            args = args[:1]  # an empty group (a repeat of 0) is an nn.Identity: it passes its first input on
        expr = f"{attribute(SELF, node.name)}({', '.join(args)})"
    else:
        op = OPS[node.op]  # type: ignore[index]
        attrs = lowered_attrs(node, lambda ref: names[(ref.node, ref.index)], Var)
        expr = op.to_call(attrs, args, op.can_run_inplace and may_overwrite)
    targets = [names[(node.name, i)] for i in range(len(node.out_shapes))]
    return f"{', '.join(targets)} = {expr}{shape_comment(node)}"


def _consumers(graph: Graph) -> Counter:
    uses: Counter = Counter()
    for node in graph.nodes:
        uses.update(node.inputs)
        uses.update(node.shape_reads)  # a tensor whose size a later node reads stays in its variable
    uses.update(o.ref for o in graph.outputs)
    return uses


def _may_overwrite(ref: Ref, graph: Graph, consumers: Counter, by_name: dict[str, Node]) -> bool:
    """Writing into `ref` is safe when nobody else reads it and autograd does not need it."""
    if consumers[ref] != 1 or ref.node not in by_name:
        return False
    producer = by_name[ref.node]
    if len(producer.out_shapes) != 1:
        return False
    if producer.body is not None:
        inner = producer.body.outputs[0].ref
        body = producer.body
        return _may_overwrite(inner, body, _consumers(body), {n.name: n for n in body.nodes})
    op = OPS[producer.op]  # type: ignore[index]
    if op.transparent:
        return _may_overwrite(producer.inputs[0], graph, consumers, by_name)
    return op.fresh_output
