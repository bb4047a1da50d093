"""PyTorch backend: a built model is the emitted Python source of its network, executed."""
from __future__ import annotations

import threading
import warnings
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn as nn

from archc.backends.python.emit import Emitted, emit_network
from archc.backends.pytorch.check import check_built
from archc.errors import BuildMismatch
from archc.backends.pytorch.load import attach_recipe, load_generated
from archc.ir.cache import BoundedCache, node_count
from archc.ir.graph import Network


def build_network(network: Network, device: Any = None, dtype: torch.dtype | None = None, seed: int | None = None) -> nn.Module:
    """The network as `archc emit` writes it, created and initialised as the spec says.

    With `seed`, the weights are the same bit for bit on every build and the global random
    state is left as it was.
    """
    emitted = emitted_source(network)
    model = _created(emitted, network, device, seed, compact=True)
    try:
        check_built(model, network)
    except BuildMismatch as found:
        # Soundness before compactness: the file with every instance written as it is.
        emitted = emit_network(network, compact=False)
        model = _created(emitted, network, device, seed, compact=False)
        check_built(model, network)
        warnings.warn(f"archc: {found}; built it with every instance written out instead (an archc bug: "
                      "please report the spec)", RuntimeWarning, stacklevel=3)
    if dtype is not None:
        model = model.to(dtype=dtype)
    model.spec_name = network.name
    model.variant = network.variant
    model.spec_params = dict(network.params)
    model.source = emitted.source
    return model


def _created(emitted: Emitted, network: Network, device: Any, seed: int | None, compact: bool) -> nn.Module:
    module = load_generated(emitted.source, emitted.class_sources)
    attach_recipe(module, network, compact)
    # torch's random state is process-wide: seeded builds in threads take turns, so each draws
    # from its own seed alone and leaves the state as the one before it left it.
    with _SEEDED if seed is not None else nullcontext():
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            with torch.device(device) if device is not None else nullcontext():
                return module.create()


_SEEDED = threading.Lock()

# Emitted source by network: archc.load_spec returns networks that share their (immutable)
# graph when the spec, variant and params are the same (archc/ir/load.py), so building the
# same spec again skips code generation. The entry holds the graph, so its id stays unique.
_EMITTED: BoundedCache[tuple[Any, Emitted]] = BoundedCache(entries=32, nodes=50_000)


def emitted_source(network: Network) -> Emitted:
    try:
        key = (
            id(network.graph), network.name, network.variant, network.doc, network.path, network.extracted,
            tuple((k, type(v), v) for k, v in network.params.items()),
            tuple((path, tuple(sorted(calls.items()))) for path, calls in network.init_plan.items()),
        )
        hash(key)
    except TypeError:
        return emit_network(network)
    hit = _EMITTED.get(key)
    if hit is not None and hit[0] is network.graph:
        return hit[1]
    emitted = emit_network(network)
    _EMITTED.put(key, (network.graph, emitted), node_count(network.graph))
    return emitted
