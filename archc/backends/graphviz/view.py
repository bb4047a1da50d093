"""Graphviz backend: what a drawing shows, from the IR tree at a chosen depth (no DOT text yet).

A node with a body (block instance, group, repeat container) is either *opened*, becoming a
cluster of its children, or *collapsed* into one box. Edges always join drawn boxes: a
reference to an opened node resolves to the box that produces its body's output, and a
body's input resolves to whatever feeds the opened node, so every drawn edge is one data
edge of the IR between two drawn things.

Long runs of one op pattern in a chain (VGG's conv-bn-relu, conv-bn-relu, ...) are folded
into one stacked box (`conv2d 3x3, 64 > batchnorm2d > relu x 2`) unless everything is expanded.

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
    role: str  # "op", "collapsed", "fold", "input" or "output"
    name: str  # display name: node name, or the network input/output name
    node: Node | None = None
    shape: Shape = ()
    training_only: bool = False
    fold: tuple[Node, ...] = ()  # a folded run, every node of it (role "fold")
    repeats: int = 0  # how many times the folded pattern runs


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
    folds = {} if policy.expand else fold_runs(graph)
    folded: set[str] = set()
    # An inline group beside block instances (Inception's `branch2` beside `branch1`) is a
    # namespace, not a level: its contents open at its siblings' depth, so branches match.
    beside_blocks = any(n.block is not None for n in graph.nodes)
    items: list[Item] = []
    edges: list[Edge] = []
    for node in graph.nodes:
        if node.name in folded:
            continue
        transparent = beside_blocks and node.block is None and node.body is not None and repeated_block(node) is None
        inner = replace(
            ctx, prefix=f"{ctx.prefix}{node.name}.", level=ctx.level + (0 if transparent else 1),
            shortcut=ctx.shortcut or node.name in branch, training_only=ctx.training_only or node.name in training,
        )
        srcs = [ends[r.node][r.index] for r in node.inputs]
        if node.name in folds:
            run, repeats = folds[node.name]
            box, box_ends = _fold_box(run, repeats, inner)
            edges += [Edge(s, box.id, inner.shortcut or s.skip, inner.training_only) for s in srcs]
            items.append(box)
            folded.update(n.name for n in run)
            ends.update({n.name: box_ends for n in run})
            continue
        skip = [inner.shortcut or s.skip or (node.name, i) in skips for i, s in enumerate(srcs)]
        if policy.opens(node, ctx.level):
            item, node_ends, inner_edges = _open(node, srcs, skip, policy, inner, ctx.level)
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


def _fold_box(run: tuple[Node, ...], repeats: int, inner: _Context) -> tuple[Box, tuple[End, ...]]:
    first, last = run[0], run[-1]
    box = Box(
        dot_id("n", inner.prefix[:-1]), "fold", first.name, first, training_only=inner.training_only,
        fold=run, repeats=repeats,
    )
    return box, tuple(End(box.id, i, shape, len(last.out_shapes) > 1) for i, shape in enumerate(last.out_shapes))


# A run is folded when one pattern of ops (at most MAX_PERIOD long) repeats in a plain chain
# at least MIN_REPEATS times and covers at least MIN_FOLDED ops: VGG's stages, not a block's
# conv-bn-relu-conv-bn.
MAX_PERIOD = 4
MIN_REPEATS = 2
MIN_FOLDED = 4


def fold_runs(graph: Graph) -> dict[str, tuple[tuple[Node, ...], int]]:
    """Foldable runs by their first node's name: (the run's nodes, repeats)."""
    from archc.backends.graphviz.labels import op_text

    uses: Counter[str] = Counter(r.node for n in graph.nodes for r in n.inputs)
    uses.update(o.ref.node for o in graph.outputs)
    nodes = graph.nodes
    # chained[i]: node i is an op that reads only node i-1, which nothing else reads.
    chained = [
        i > 0 and n.is_op and nodes[i - 1].is_op and len(n.inputs) == 1 and n.inputs[0].node == nodes[i - 1].name
        and n.inputs[0].index == 0 and uses[nodes[i - 1].name] == 1 and len(nodes[i - 1].out_shapes) == 1
        for i, n in enumerate(nodes)
    ]
    keys = [op_text(n) if n.is_op else None for n in nodes]
    found: dict[str, tuple[tuple[Node, ...], int]] = {}
    i = 0
    while i < len(nodes):
        best = (0, 0)  # (ops covered, period)
        for period in range(1, MAX_PERIOD + 1):
            reps = _repeats(keys, chained, i, period)
            if reps >= MIN_REPEATS and period * reps >= MIN_FOLDED and period * reps > best[0]:
                best = (period * reps, period)
        if best[0]:
            found[nodes[i].name] = (tuple(nodes[i:i + best[0]]), best[0] // best[1])
            i += best[0]
        else:
            i += 1
    return found


def _repeats(keys: list[str | None], chained: list[bool], start: int, period: int) -> int:
    """How many times the pattern keys[start:start+period] repeats from `start` along a chain."""
    pattern = keys[start:start + period]
    if len(pattern) < period or None in pattern or not nodes_chain(chained, start + 1, start + period):
        return 0
    reps = 1
    while True:
        at = start + reps * period
        if keys[at:at + period] != pattern or not nodes_chain(chained, at, at + period):
            return reps
        reps += 1


def nodes_chain(chained: list[bool], start: int, end: int) -> bool:
    """Whether nodes start..end-1 each continue the chain from the node before them."""
    return end <= len(chained) and all(chained[start:end])


def _open(
    node: Node, srcs: list[End], skip: list[bool], policy: Policy, inner: _Context, level: int,
) -> tuple[Cluster, tuple[End, ...], list[Edge]]:
    body = node.body
    assert body is not None  # policy.opens only opens nodes with a body
    sources = {name: replace(s, skip=k) for (name, _), s, k in zip(body.inputs, srcs, skip)}
    items, edges, ends = _graph(body, sources, policy, inner)
    # An output that is the body's input itself carries no shortcut mark past the cluster.
    node_ends = tuple(replace(ends[o.ref.node][o.ref.index], skip=False) for o in body.outputs)
    cluster = Cluster(dot_id("cluster", inner.prefix[:-1]), node, level, tuple(items), inner.training_only)
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
    # A repeat's instances come from one place in the spec; an inline sequence of calls of one
    # block (Inception's 1x1 then 3x3 `basic_conv2d`) comes from several, and is no repeat.
    places = {(c.location.path, c.location.line, c.location.col) for c in children}
    if len(children) > 1 and len(places) > 1:
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
