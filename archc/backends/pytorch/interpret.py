"""PyTorch backend: the expanded IR run node by node, an oracle that shares nothing with the generator.

`archc.build` executes the source that archc/backends/python writes: classes shared among
block instances, loops folded from runs of like children, constructor arguments written as
expressions over the classes' parameters. This module builds the same network without any
of that: every node of the IR becomes exactly one module, made from its op's own
constructor rule (`Op.module`), or one call, from its op's own lowering (`Op.to_call`), and
`forward` walks the graph as expansion left it. Tests and `make fuzz` compare the two:
`compare_structure` node for node (module type, arguments, parameter and buffer shapes) and
outputs bit for bit after loading the built model's weights into the interpreted one.
"""
from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from archc.backends.pytorch import runtime
from archc.ir.follow import lowered_attrs
from archc.ir.graph import Graph, Network, Node
from archc.ops import OPS
from archc.ops.base import Ctor
from archc.pysource import Var
from archc.spec.names import is_index


class InterpretedGraph(nn.Module):
    """One graph of the IR: a submodule per module node, named as the node, and a forward that
    evaluates the nodes in order, each reading the values its refs name."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        for node in graph.nodes:
            if node.body is not None:
                self.add_module(node.name, InterpretedGraph(node.body))
            elif OPS[node.op].holds_tensor:  # type: ignore[index]
                self.register_parameter(node.name, make(_ctor(node)))
            elif _becomes_module(node):
                self.add_module(node.name, make(_ctor(node)))

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.run(inputs)[0]

    def run(self, inputs: tuple[torch.Tensor, ...]) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
        """The outputs of this mode in the graph's order, and every output by name."""
        values: dict[tuple[str, int], torch.Tensor] = {(name, 0): x for (name, _), x in zip(self.graph.inputs, inputs)}
        needed = self.graph.nodes_needed(training=self.training)
        for node in self.graph.nodes:
            if node.name not in needed:
                continue
            args = [values[(r.node, r.index)] for r in node.inputs + node.shape_reads]
            outs = self._apply(node, args)
            for k, out in enumerate(outs):
                values[(node.name, k)] = out
        named = {o.name: values[(o.ref.node, o.ref.index)] for o in self.graph.outputs
                 if self.training or not o.training_only}
        return tuple(named.values()), named

    def _apply(self, node: Node, args: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if node.body is not None:
            return getattr(self, node.name)(*args)
        op = OPS[node.op]  # type: ignore[index]
        if op.holds_tensor:
            return _outputs(_lowering(node)(getattr(self, node.name), *args))
        if _becomes_module(node):
            return _outputs(getattr(self, node.name)(*args))
        return _outputs(_lowering(node)(*args))


class InterpretedNetwork(InterpretedGraph):
    """The network: returns what a built model returns (one tensor, or every output by name)."""

    def __init__(self, network: Network) -> None:
        super().__init__(network.graph)

    def forward(self, *inputs: torch.Tensor) -> Any:
        outs, named = self.run(inputs)
        return outs[0] if len(outs) == 1 else named


def interpret(network: Network) -> InterpretedNetwork:
    """The network as the IR says it, one module or call per node (weights initialised as
    each module's constructor does; load the built model's state_dict to compare outputs)."""
    return InterpretedNetwork(network)


def make(ctor: Ctor) -> Any:
    """The module (or learnable tensor) a constructor rule describes, made from the rule itself."""
    prefix, _, name = ctor.callee.rpartition(".")
    if prefix == "nn":
        cls = getattr(nn, name)
    else:
        from archc.ops.plugins import MODULES

        cls = MODULES.get(name) or getattr(runtime, name)
    return cls(*ctor.args, **dict(ctor.kwargs))


def _becomes_module(node: Node) -> bool:
    """Ops with state are modules; so is a *named* stateless op that torch has a module for
    (`relu: relu` is `model.relu`, an nn.ReLU), as the spec language promises."""
    op = OPS[node.op]  # type: ignore[index]
    if node.runtime and not op.stateful:
        return False  # it reads sizes at run time: a call
    return op.stateful or (not is_index(node.name) and op.module(node.attrs, node.in_shapes) is not None)


def _ctor(node: Node) -> Ctor:
    ctor = OPS[node.op].module(node.attrs, node.in_shapes)  # type: ignore[index]
    if ctor is None:
        raise ValueError(f"op {node.op!r} at {node.location} is stateful but declares no module")
    return ctor


def _outputs(result: Any) -> tuple[torch.Tensor, ...]:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _lowering(node: Node) -> Any:
    """The op's own call for this node as a function of its inputs (never in place)."""
    op = OPS[node.op]  # type: ignore[index]
    count = len(node.inputs) + (1 if op.holds_tensor else 0)
    names = [Var(f"a{k}") for k in range(count)]
    # Tensors whose sizes it reads come after its inputs, as `s0`, `s1`, ...
    reads = {ref: Var(f"s{k}") for k, ref in enumerate(node.shape_reads)}
    attrs = lowered_attrs(node, reads.__getitem__, Var)
    return _compiled(op.to_call(attrs, list(names), False), tuple(names + list(reads.values())))


@functools.lru_cache(maxsize=4096)
def _compiled(expression: str, names: tuple[str, ...]) -> Any:
    # The text is the op's lowering: archc's own code with arguments from the literal writer,
    # as in the generated source; it is compiled alone, outside any generated class.
    namespace = {"torch": torch, "nn": nn, "F": F, "math": __import__("math"), **_runtime_names()}
    return eval(f"lambda {', '.join(names)}: {expression}", namespace)  # noqa: S307


def _runtime_names() -> dict[str, Any]:
    from archc.ops.plugins import MODULES

    names = {k: v for k, v in vars(runtime).items() if not k.startswith("_")}
    return {**names, **MODULES}
