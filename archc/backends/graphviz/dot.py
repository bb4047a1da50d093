"""Graphviz backend: DOT source for a network, from its drawing (see view.py).

The text is a pure function of the IR and the options: nodes in execution order, edges
after them, attributes in a fixed order, so the same spec gives byte-identical DOT.
"""
from __future__ import annotations

from contextlib import contextmanager
from types import MappingProxyType
from typing import Iterator, Mapping

from archc.ir.graph import Network, Node
from archc.ops import OPS

from archc.backends.graphviz.escape import attr_value
from archc.backends.graphviz.labels import (
    cluster_label, collapsed_label, edge_label, fold_label, io_label, op_label, title_label,
)
from archc.backends.graphviz.view import Box, Cluster, Edge, Item, Policy, repeated_block, view

# (fill, border) per op family: pale fills, so labels stay the strongest thing on the page.
FAMILY_COLOURS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "conv": ("#dbe8f6", "#4e81bd"),
    "norm": ("#fcf3cf", "#c09a1e"),
    "activation": ("#e2f0d9", "#5f9e45"),
    "pool": ("#fde4d0", "#d9782d"),
    "linear": ("#ebe2f5", "#8464b5"),
    "merge": ("#f8dcdc", "#c0504d"),
    "other": ("#eeeeee", "#8a8a8a"),
})
SKIP_COLOUR = "#2f6db5"
RANKDIRS = ("TB", "LR")

_GRAPH = {
    "newrank": True, "nodesep": 0.22, "ranksep": 0.15, "pad": 0.2, "fontname": "Helvetica",
    "labelloc": "t", "fontsize": 10,
}
_NODE = {
    "shape": "box", "style": "rounded,filled", "fontname": "Helvetica", "fontsize": 10,
    "height": 0.3, "margin": "0.1,0.03", "penwidth": 0.8,
}
_EDGE = {
    "fontname": "Helvetica", "fontsize": 9, "fontcolor": "#555555", "color": "#555555",
    "arrowsize": 0.6, "penwidth": 0.8,
}


def to_dot(
    network: Network, depth: int | None = None, expand: bool = False, show_params: bool = False, rankdir: str = "TB",
    dpi: float | None = None,
) -> str:
    """DOT source drawing `network`: depth=None collapses block instances and repeats,
    depth=N opens N-1 levels of nesting, expand=True opens everything down to single ops.
    `dpi` sets the resolution of bitmap output (PNG; Graphviz's default is 96)."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be 1 or more (1 draws the top level only), got {depth}")
    drawing = view(network, Policy(depth, expand))
    out = _Writer()
    with out.block("digraph archc"):
        resolution = {"dpi": dpi} if dpi is not None else {}
        out.stmt("graph", {"rankdir": rankdir, **_GRAPH, **resolution, "label": title_label(network)})
        out.stmt("node", _NODE)
        out.stmt("edge", _EDGE)
        for box in drawing.inputs:
            out.stmt(box.id, _box_attrs(box, show_params))
        _items(out, drawing.items, show_params)
        for box in drawing.outputs:
            out.stmt(box.id, _box_attrs(box, show_params))
        for edge in drawing.edges:
            out.stmt(f"{edge.src.box} -> {edge.dst}", _edge_attrs(edge))
    return out.text()


def _items(out: "_Writer", items: tuple[Item, ...], show_params: bool) -> None:
    for item in items:
        if isinstance(item, Box):
            out.stmt(item.id, _box_attrs(item, show_params))
            continue
        with out.block(f"subgraph {item.id}"):
            out.stmt("graph", _cluster_attrs(item))
            _items(out, item.items, show_params)


def _cluster_attrs(cluster: Cluster) -> dict[str, object]:
    # Alternate two pale fills so nested clusters stay apart without heavy borders.
    fill = "#f7f7f7" if cluster.level % 2 else "#ffffff"
    style = "rounded,filled" + (",dashed" if cluster.training_only else "")
    return {
        "label": cluster_label(cluster.node), "style": style, "fillcolor": fill, "color": "#b0b0b0",
        "fontsize": 10, "labeljust": "l", "margin": 8,
    }


def _box_attrs(box: Box, show_params: bool) -> dict[str, object]:
    dashed = ",dashed" if box.training_only else ""
    if box.role in ("input", "output"):
        shape = box.shape if box.role == "output" else None  # an input's edges carry its shape
        return {"label": io_label(box.name, shape, box.training_only), "style": "rounded" + dashed, "color": "#333333"}
    node = box.node
    assert node is not None  # op and collapsed boxes always carry their IR node
    if box.role == "fold":
        fill, border = _colours(node)
        return {"label": fold_label(box.fold, box.repeats, show_params), "style": "rounded,filled" + dashed,
                "fillcolor": fill, "color": border, "peripheries": 2}
    if box.role == "collapsed":
        # A double border reads as a stack: one box standing for N instances of a block.
        stacked = {"peripheries": 2} if node.block is None and repeated_block(node) else {}
        return {"label": collapsed_label(node, show_params), "style": "rounded,filled" + dashed,
                "fillcolor": "#ffffff", "color": "#444444", "penwidth": 1.2, **stacked}
    fill, border = _colours(node)
    attrs: dict[str, object] = {"label": op_label(node, show_params), "style": "rounded,filled" + dashed,
                                "fillcolor": fill, "color": border}
    if len(node.inputs) > 1:  # a merge point: small, round, so converging inputs read as one
        attrs.update({"shape": "ellipse", "fontsize": 9, "margin": "0.04,0.01", "height": 0.25})
    return attrs


def _colours(node: Node) -> tuple[str, str]:
    return FAMILY_COLOURS[OPS[node.op].family] if node.op in OPS else FAMILY_COLOURS["other"]


def _edge_attrs(edge: Edge) -> dict[str, object]:
    attrs: dict[str, object] = {}
    if not edge.to_output:
        attrs["label"] = edge_label(edge.src.shape, edge.src.index if edge.src.multi else None)
    if edge.skip:
        attrs.update({"style": "dashed", "color": SKIP_COLOUR, "fontcolor": SKIP_COLOUR})
    elif edge.training_only:
        attrs.update({"style": "dotted"})
    else:
        attrs["weight"] = 4  # keep the main path straight; shortcuts bend around it
    return attrs


class _Writer:
    """DOT lines with indentation handled by `block`, never by hand."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._depth = 0

    def line(self, text: str) -> None:
        self._lines.append("  " * self._depth + text)

    def stmt(self, head: str, attrs: Mapping[str, object]) -> None:
        body = ", ".join(f"{key}={attr_value(value)}" for key, value in attrs.items())
        self.line(f"{head} [{body}];")

    @contextmanager
    def block(self, head: str) -> Iterator[None]:
        self.line(head + " {")
        self._depth += 1
        yield
        self._depth -= 1
        self.line("}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"
