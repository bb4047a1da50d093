"""PyTorch backend: building nn.Modules from the IR."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from archc.backends.pytorch.codegen import forward_source, output_fields
from archc.backends.pytorch.init import apply_init
from archc.backends.pytorch.runtime import Block, instantiate
from archc.ir.graph import Graph, Network
from archc.ops import OPS


def build_graph(graph: Graph, kind: str, style: str = "tuple") -> Block:
    """A module for one graph; nested graphs become child modules of their own."""
    children: list[tuple[str, nn.Module]] = []
    tensors: list[tuple[str, nn.Parameter]] = []  # learnable tensors held by the block itself (cls_token)
    for node in graph.nodes:
        if node.body is not None:
            children.append((node.name, build_graph(node.body, node.block or "sequential")))
        elif OPS[node.op].stateful:
            made = instantiate(OPS[node.op].module(node.attrs, node.in_shapes))
            (tensors if OPS[node.op].holds_tensor else children).append((node.name, made))
    fields = (output_fields(graph, True), output_fields(graph, False)) if style == "namedtuple" else ((), ())
    block = Block(kind, forward_source(graph, style), children, *fields)
    for name, tensor in tensors:
        block.register_parameter(name, tensor)
    return block


def build_network(network: Network, device: Any = None, dtype: torch.dtype | None = None, seed: int | None = None) -> Block:
    """The network as one module whose children mirror the spec's nesting, initialised as the spec says."""
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        with torch.device(device) if device is not None else _nullcontext():
            model = build_graph(network.graph, network.name, "dict" if network.extracted else "namedtuple")
            apply_init(model, network.init_plan)
    if dtype is not None:
        model = model.to(dtype=dtype)
    model.spec_name = network.name
    model.variant = network.variant
    model.spec_params = dict(network.params)
    return model


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None
