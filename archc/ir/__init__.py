"""IR stage: the expanded, shape-annotated network graph."""
from archc.ir.graph import Graph, Network, Node, Output, Ref

__all__ = ["Graph", "Network", "Node", "Output", "Ref"]
