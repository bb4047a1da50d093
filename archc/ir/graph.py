"""IR stage: the immutable graph every backend reads.

A network is a tree of graphs. Each graph has named inputs, nodes in execution order
and named outputs; a node is either an op or a nested graph (a block instance, an
inline group or a repeat container), which becomes one `nn.Module` in the torch backend.
Node names are the spec's names, so they are the module attribute names and thus the
`state_dict` keys. Every node carries its input and output shapes, parameter count and
multiply-adds, computed once during expansion.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from archc.errors import Diagnostic, Location
from archc.ops.base import Shape


@dataclass(frozen=True)
class Ref:
    """Output `index` of the sibling node (or graph input) called `node`."""

    node: str
    index: int = 0

    def __str__(self) -> str:
        return self.node if self.index == 0 else f"{self.node}.{self.index}"


@dataclass(frozen=True)
class Node:
    name: str
    inputs: tuple[Ref, ...]
    in_shapes: tuple[Shape, ...]
    out_shapes: tuple[Shape, ...]
    location: Location
    op: str | None = None  # op nodes
    attrs: Any = None
    body: "Graph | None" = None  # block instances, groups and repeat containers
    block: str | None = None  # the block definition an instance was made from
    own_params: int = 0
    own_macs: int = 0
    # For code generation: a block instance's param values, and per argument the names its
    # expression reads (so emitted source can keep `num_classes` a parameter).
    args: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    reads: tuple[tuple[str, frozenset[str]], ...] = field(default=(), compare=False)
    # The source of the `if:` that kept an optional node, so that emitted source can decide
    # its presence at construction (`if stride != 1: self.downsample = ...`).
    condition: str | None = field(default=None, compare=False)
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # per argument, its expression
    # Per argument, the spec params it reads where no block param or repeat index hides them.
    param_reads: tuple[tuple[str, frozenset[str]], ...] = field(default=(), compare=False)
    # Arguments computed from the input size, as expressions read at run time (archc.shapes),
    # and the tensors (in this graph) whose shapes they read: the node reads them in forward.
    runtime: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    shape_reads: tuple[Ref, ...] = field(default=(), compare=False)

    @property
    def is_op(self) -> bool:
        return self.op is not None

    @property
    def params(self) -> int:
        return self.own_params if self.body is None else self.body.params

    @property
    def macs(self) -> int:
        return self.own_macs if self.body is None else self.body.macs

    @property
    def kind(self) -> str:
        """What the node is, for tables: the op name, the block name, or 'group'."""
        return self.op or self.block or "group"


@dataclass(frozen=True)
class Output:
    name: str
    ref: Ref
    shape: Shape
    training_only: bool = False


@dataclass(frozen=True)
class Graph:
    inputs: tuple[tuple[str, Shape], ...]
    nodes: tuple[Node, ...]
    outputs: tuple[Output, ...]
    params: int = field(init=False)
    macs: int = field(init=False)
    # The network's own graph only: where the spec gives its input shape, for errors about the
    # whole forward pass, and the warnings expansion found (a PyTorch-style argument order).
    input_location: Location | None = field(default=None, compare=False)
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)
    # The network's own graph only: what the shape rules assumed about the input's sizes
    # (archc.shapes.symbolic.Guard), from which the sizes it accepts are derived.
    guards: tuple[Any, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", sum(n.params for n in self.nodes))
        live = self.nodes_needed(training=False)
        object.__setattr__(self, "macs", sum(n.macs for n in self.nodes if n.name in live))

    def node(self, name: str) -> Node:
        """The node called `name` (KeyError if none), found in a table built on first use."""
        table = self.__dict__.get("_by_name")
        if table is None:
            table = {n.name: n for n in self.nodes}
            object.__setattr__(self, "_by_name", table)  # a cache, not a field: the graph stays immutable
        return table[name]

    def nodes_needed(self, training: bool) -> set[str]:
        """Names of the nodes the outputs of this mode depend on (eval skips training-only outputs)."""
        wanted = [o.ref for o in self.outputs if training or not o.training_only]
        by_name = {n.name: n for n in self.nodes}
        needed: set[str] = set()
        while wanted:
            ref = wanted.pop()
            node = by_name.get(ref.node)
            if node is not None and node.name not in needed:
                needed.add(node.name)
                wanted.extend(node.inputs)
                wanted.extend(node.shape_reads)
        return needed

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Node]]:
        """Every node with its dotted path, parents before children."""
        for n in self.nodes:
            path = f"{prefix}{n.name}"
            yield path, n
            if n.body is not None:
                yield from n.body.walk(path + ".")

    def lint(self) -> list[str]:
        """Invariant checks; an empty list means the graph is well formed."""
        problems: list[str] = []
        known: dict[str, int] = {name: 1 for name, _ in self.inputs}
        for n in self.nodes:
            if n.name in known:
                problems.append(f"duplicate name {n.name!r}")
            for ref in n.inputs:
                if ref.node not in known or ref.index >= known[ref.node]:
                    problems.append(f"{n.name!r} reads {ref}, which is not defined before it")
            if n.body is not None:
                problems += [f"{n.name}.{p}" for p in n.body.lint()]
                if tuple(o.shape for o in n.body.outputs) != n.out_shapes:
                    problems.append(f"{n.name!r}: body outputs do not match the node's shapes")
            known[n.name] = len(n.out_shapes)
        for o in self.outputs:
            if o.ref.node not in known:
                problems.append(f"output {o.name!r} reads undefined {o.ref}")
        return problems


@dataclass(frozen=True)
class Network:
    """A fully expanded spec: what `archc.load_spec` returns."""

    name: str
    variant: str | None
    doc: str
    params: dict[str, Any]
    graph: Graph
    path: str
    # Initialisation per node path: {"layer1.0.conv1": {"weight": InitCall, ...}}.
    init_plan: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Names of intermediate outputs when the network is a feature extractor.
    extracted: tuple[str, ...] = ()
    # Where the spec names the network, for errors about the whole of it (too many parameters).
    location: Location | None = None
    # Each block's params whose default is a plain number or bool, for emitted constructors' defaults.
    block_defaults: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    variants: tuple[str, ...] = ()  # every variant of the spec, the default first
    # How to load this network again from data alone: (the spec's YAML data, variant, the
    # params given, limits), so that a pickled model is rebuilt by compiling its spec again.
    recipe: Any = field(default=None, compare=False, repr=False)

    @property
    def total_params(self) -> int:
        return self.graph.params

    @property
    def total_macs(self) -> int:
        return self.graph.macs

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Likely mistakes that are still valid specs, in source order (`PATH:LINE:COL: warning: ...`)."""
        return self.graph.warnings

    @property
    def input_shapes(self) -> dict[str, Shape]:
        return dict(self.graph.inputs)

    @property
    def output_shapes(self) -> dict[str, Shape]:
        return {o.name: o.shape for o in self.graph.outputs}

    @property
    def input_constraints(self) -> tuple[Any, ...]:
        """Per input, the sizes it accepts (archc.shapes.constraints.InputConstraints)."""
        found = self.__dict__.get("_constraints")
        if found is None:
            from archc.shapes.constraints import input_constraints

            g = self.graph
            training_only = frozenset(g.nodes_needed(training=True) - g.nodes_needed(training=False))
            found = input_constraints(g.inputs, g.guards, training_only)
            object.__setattr__(self, "_constraints", found)  # derived once, on first use
        return found
