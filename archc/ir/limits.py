"""IR stage: limits checked on a whole expanded network, before any backend allocates it."""
from __future__ import annotations

import math

from archc.errors import Location, spec_error
from archc.ir.graph import Network

# Bytes per activation element: the smoke forward runs in float32.
ELEMENT_BYTES = 4


def check_param_count(network: Network, max_params: int, override: str = "Limits.max_params") -> None:
    """Refuse a network with more learnable parameters than `max_params`, naming how to allow it.

    The count is static (shape inference), so this runs before a single weight exists.
    """
    if network.total_params > max_params:
        where = network.location or Location(network.path, 1, 1)
        raise spec_error(
            where,
            f"network {network.name!r} has {network.total_params:,} parameters, more than the limit of "
            f"{max_params:,} ({override})",
        )


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
    if network.total_macs > max_macs:
        raise spec_error(
            where,
            f"one forward pass of {network.name!r} at batch 1 needs {network.total_macs:,} multiply-adds, "
            f"more than the limit of {max_macs:,} ({overrides[1]})",
        )


def _size(n: int) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:,} bytes"
