"""IR stage: limits checked on a whole expanded network, before any backend allocates it."""
from __future__ import annotations

import math

from archc.errors import Location, spec_error
from archc.ir.graph import Graph, Network
from archc.ops import OPS

# Bytes per activation element: the smoke forward runs in float32.
ELEMENT_BYTES = 4


def check_param_count(network: Network, max_params: int, override: str = "Limits.max_params") -> None:
    """Refuse a network with more learnable parameters than `max_params`, naming how to allow it.

    The count is static (shape inference), so this runs before a single weight exists.
    """
    where = network.location or Location(network.path, 1, 1)
    if network.total_params > max_params:
        raise spec_error(
            where,
            f"network {network.name!r} has {network.total_params:,} parameters, more than the limit of "
            f"{max_params:,} ({override})",
        )
    held = network.total_params + buffer_elements(network)
    if held > max_params:
        raise spec_error(
            where,
            f"network {network.name!r} holds {held:,} values in parameters and buffers (rbf's centres, ...), "
            f"more than the limit of {max_params:,} ({override})",
        )


def buffer_elements(network: Network) -> int:
    """Elements of the buffers the network's modules allocate at build."""
    return sum(OPS[node.op].buffer_elements(node.attrs, node.in_shapes)  # type: ignore[index]
               for _, node in network.graph.walk() if node.body is None)


def forward_work(network: Network) -> int:
    """Multiply-adds of one forward pass at batch 1 (eval), weightless products included."""
    return _work(network.graph)


def _work(graph: Graph) -> int:
    live = graph.nodes_needed(training=False)
    total = 0
    for node in graph.nodes:
        if node.name not in live:
            continue
        if node.body is not None:
            total += _work(node.body)
        else:
            total += OPS[node.op].work(node.attrs, node.in_shapes, node.out_shapes)  # type: ignore[index]
    return total


def activation_bytes(network: Network) -> int:
    """A static bound on the memory one forward pass at batch 1 touches: every input and every
    op output, 4 bytes an element (more than the peak, as PyTorch frees what is no longer read)."""
    elements = sum(math.prod(shape) for shape in network.input_shapes.values())
    for _, node in network.graph.walk():
        if node.body is None:
            elements += sum(math.prod(shape) for shape in node.out_shapes)
    return elements * ELEMENT_BYTES


def check_forward_cost(
    network: Network, max_activation_bytes: int, max_macs: int,
    overrides: tuple[str, str] = ("Limits.max_activation_bytes", "Limits.max_macs"),
) -> None:
    """Refuse a network whose one forward pass (batch 1) would need more activation memory or
    multiply-adds than allowed, at the spec's `input:`, before the pass runs."""
    where = network.graph.input_location or network.location or Location(network.path, 1, 1)
    needed = activation_bytes(network)
    if needed > max_activation_bytes:
        raise spec_error(
            where,
            f"one forward pass of {network.name!r} at batch 1 needs about {_size(needed)} of activations "
            f"({needed:,} bytes), more than the limit of {max_activation_bytes:,} ({overrides[0]})",
        )
    work = forward_work(network)
    if work > max_macs:
        raise spec_error(
            where,
            f"one forward pass of {network.name!r} at batch 1 needs {work:,} multiply-adds, "
            f"more than the limit of {max_macs:,} ({overrides[1]})",
        )


def _size(n: int) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:,} bytes"
