"""Graphviz backend: diagrams of a network from its IR (never imports torch).

`to_dot(network, ...)` gives the DOT source; `render(source, fmt)` lays it out with
Graphviz's `dot` program. view.py decides what is drawn, labels.py how it is labelled
(escape.py keeps every name inert), dot.py writes the text.
"""
from archc.backends.graphviz.dot import to_dot
from archc.backends.graphviz.labels import describe
from archc.backends.graphviz.layout import FORMATS, DiagramTooBig, DotNotFound, render

__all__ = ["FORMATS", "DiagramTooBig", "DotNotFound", "describe", "render", "to_dot"]
