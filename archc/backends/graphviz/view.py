"""Graphviz backend: what a drawing shows, from the IR tree at a chosen depth (no DOT text yet).

A node with a body (block instance, group, repeat container) is either *opened*, becoming a
cluster of its children, or *collapsed* into one box. Edges always join drawn boxes: a
reference to an opened node resolves to the box that produces its body's output, and a
body's input resolves to whatever feeds the opened node, so every drawn edge is one data
edge of the IR between two drawn things.

Two visual cues are decided here, per graph and without knowing any op by name:
- shortcut (skip) edges: an input of a multi-input node that comes from fewer nodes deep
  than its other inputs (ResNet's identity, DenseNet's concatenated input, the SE gate's
  input), together with the single-use branch feeding it (ResNet's downsample);
- training-only nodes: those only training-only outputs need (GoogLeNet's aux heads).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Union

from archc.ir.graph import Graph, Network, Node, Ref
from archc.ops.base import Shape

from archc.backends.graphviz.escape import dot_id


@dataclass(frozen=True)
class Policy:
    """Which composite nodes open. depth=None is the default: open inline groups (pure
    namespaces such as `features`), keep block instances and repeats of one block closed,
    since those are the units a paper's figure shows. depth=N opens N-1 levels of nesting
    (1: the top level only, as `archc summary --depth`); expand opens everything."""

    depth: int | None = None
    expand: bool = False

    def opens(self, node: Node, level: int) -> bool:
        if node.body is None:
            return False
        if self.expand:
            return True
        if self.depth is not None:
            return level < self.depth
        return node.block is None and repeated_block(node) is None


@dataclass(frozen=True)
class End:
    """One output of a drawn box: where an edge starts."""

    box: str
    index: int
    shape: Shape
    multi: bool  # the box has several outputs, so edges say which one
    skip: bool = False  # edges from here continue a shortcut branch of the enclosing graph


@dataclass(frozen=True)
class Box:
    id: str
    role: str  # "op", "collapsed", "input" or "output"
    name: str  # display name: node name, or the network input/output name
    node: Node | None = None
    shape: Shape = ()
    training_only: bool = False


@dataclass(frozen=True)
class Cluster:
    id: str
    node: Node
    level: int
    items: tuple["Item", ...]
    training_only: bool = False


Item = Union[Box, Cluster]


@dataclass(frozen=True)
class Edge:
    src: End
    dst: str
    skip: bool = False
    training_only: bool = False
    to_output: bool = False


@dataclass(frozen=True)
class Drawing:
    inputs: tuple[Box, ...]
    items: tuple[Item, ...]
    outputs: tuple[Box, ...]
    edges: tuple[Edge, ...]


@dataclass(frozen=True)
class _Context:
    """What a graph inherits from the node that opened it."""

    prefix: str = ""
    level: int = 1
    shortcut: bool = False
    training_only: bool = False


def view(network: Network, policy: Policy) -> Drawing:
    """The boxes, clusters and edges for `network` drawn under `policy`."""
    graph = network.graph
    inputs = tuple(Box(dot_id("in", name), "input", name, shape=shape) for name, shape in graph.inputs)
    sources = {box.name: End(box.id, 0, box.shape, False) for box in inputs}
    training = graph.nodes_needed(training=True) - graph.nodes_needed(training=False)
    items, edges, ends = _graph(graph, sources, policy, _Context(), frozenset(training))
    outputs, out_edges = [], []
    for o in graph.outputs:
        box = Box(dot_id("out", o.name), "output", o.name, shape=o.shape, training_only=o.training_only)
        outputs.append(box)
        out_edges.append(Edge(ends[o.ref.node][o.ref.index], box.id, training_only=o.training_only, to_output=True))
    return Drawing(inputs, tuple(items), tuple(outputs), tuple(edges + out_edges))


def _graph(
    graph: Graph, sources: dict[str, End], policy: Policy, ctx: _Context, training: frozenset[str] = frozenset(),
) -> tuple[list[Item], list[Edge], dict[str, tuple[End, ...]]]:
    """Draw one graph's nodes; returns its items, its edges and each name's output ends."""
    ends: dict[str, tuple[End, ...]] = {name: (end,) for name, end in sources.items()}
    branch, skips = shortcuts(graph)
    items: list[Item] = []
    edges: list[Edge] = []
    for node in graph.nodes:
        inner = replace(
            ctx, prefix=f"{ctx.prefix}{node.name}.", level=ctx.level + 1,
            shortcut=ctx.shortcut or node.name in branch, training_only=ctx.training_only or node.name in training,
        )
        srcs = [ends[r.node][r.index] for r in node.inputs]
        skip = [inner.shortcut or s.skip or (node.name, i) in skips for i, s in enumerate(srcs)]
        if policy.opens(node, ctx.level):
            item, node_ends, inner_edges = _open(node, srcs, skip, policy, inner)
            edges += inner_edges
        else:
            item, node_ends = _box(node, inner)
            edges += [Edge(s, item.id, k, inner.training_only) for s, k in zip(srcs, skip)]
        items.append(item)
        ends[node.name] = node_ends
    return items, edges, ends


def _box(node: Node, inner: _Context) -> tuple[Box, tuple[End, ...]]:
    path = inner.prefix[:-1]
    box = Box(dot_id("n", path), "op" if node.is_op else "collapsed", node.name, node, training_only=inner.training_only)
    multi = len(node.out_shapes) > 1
    return box, tuple(End(box.id, i, shape, multi) for i, shape in enumerate(node.out_shapes))


def _open(
    node: Node, srcs: list[End], skip: list[bool], policy: Policy, inner: _Context,
) -> tuple[Cluster, tuple[End, ...], list[Edge]]:
    body = node.body
    assert body is not None  # policy.opens only opens nodes with a body
    sources = {name: replace(s, skip=k) for (name, _), s, k in zip(body.inputs, srcs, skip)}
    items, edges, ends = _graph(body, sources, policy, inner)
    # An output that is the body's input itself carries no shortcut mark past the cluster.
    node_ends = tuple(replace(ends[o.ref.node][o.ref.index], skip=False) for o in body.outputs)
    cluster = Cluster(dot_id("cluster", inner.prefix[:-1]), node, inner.level - 1, tuple(items), inner.training_only)
    return cluster, node_ends, edges


def shortcuts(graph: Graph) -> tuple[frozenset[str], frozenset[tuple[str, int]]]:
    """Nodes on shortcut branches, and shortcut edges as (consumer name, input position).

    An input of a multi-input node is a shortcut when it is fewer nodes deep (counted from
    the graph's inputs) than the deepest input of that node; parallel branches of equal
    depth (Inception) are not. The nodes that feed only that input are its branch.
    """
    depth = {name: 0 for name, _ in graph.inputs}
    uses: Counter[str] = Counter(r.node for n in graph.nodes for r in n.inputs)
    uses.update(o.ref.node for o in graph.outputs)
    for node in graph.nodes:
        depth[node.name] = 1 + max((depth[r.node] for r in node.inputs), default=0)
    by_name = {n.name: n for n in graph.nodes}
    edges: set[tuple[str, int]] = set()
    branch: set[str] = set()
    for node in graph.nodes:
        deepest = max((depth[r.node] for r in node.inputs), default=0)
        for i, ref in enumerate(node.inputs):
            if len(node.inputs) > 1 and depth[ref.node] < deepest:
                edges.add((node.name, i))
                branch |= _single_use_chain(ref, by_name, uses)
    return frozenset(branch), frozenset(edges)


def _single_use_chain(ref: Ref, by_name: dict[str, Node], uses: Counter[str]) -> set[str]:
    """The nodes ending at `ref` whose output nothing else reads (a shortcut's own branch)."""
    chain: set[str] = set()
    node = by_name.get(ref.node)
    while node is not None and uses[node.name] == 1 and len(node.inputs) == 1:
        chain.add(node.name)
        node = by_name.get(node.inputs[0].node)
    return chain


def repeated_block(node: Node) -> tuple[str, int] | None:
    """(block, count) when every child of `node` is an instance of one block (a repeat container)."""
    children = node.body.nodes if node.body is not None else ()
    kinds = {child.block for child in children}
    if not children or len(kinds) != 1 or None in kinds:
        return None
    return children[0].block, len(children)  # type: ignore[return-value]


def composition(node: Node, max_runs: int = 3) -> list[tuple[str, int]]:
    """Runs of block instances inside a block instance (`down_unit, unit x 3`); [] when mixed with ops."""
    runs: list[tuple[str, int]] = []
    for child in node.body.nodes if node.body is not None else ():
        if child.block is None:
            return []
        if runs and runs[-1][0] == child.block:
            runs[-1] = (child.block, runs[-1][1] + 1)
        else:
            runs.append((child.block, 1))
    return runs if len(runs) <= max_runs else []
