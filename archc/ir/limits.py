"""IR stage: limits checked on a whole expanded network, before any backend allocates it."""
from __future__ import annotations

from archc.errors import Location, spec_error
from archc.ir.graph import Network


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
