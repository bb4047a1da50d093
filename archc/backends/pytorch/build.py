"""PyTorch backend: a built model is the emitted Python source of its network, executed."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
import torch.nn as nn

from archc.backends.python.emit import emit_network
from archc.backends.pytorch.load import load_generated
from archc.ir.graph import Network


def build_network(network: Network, device: Any = None, dtype: torch.dtype | None = None, seed: int | None = None) -> nn.Module:
    """The network as `archc emit` writes it, created and initialised as the spec says.

    With `seed`, the weights are the same bit for bit on every build and the global random
    state is left as it was.
    """
    emitted = emit_network(network)
    module = load_generated(emitted.source, emitted.class_sources)
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        with torch.device(device) if device is not None else nullcontext():
            model = module.create()
    if dtype is not None:
        model = model.to(dtype=dtype)
    model.spec_name = network.name
    model.variant = network.variant
    model.spec_params = dict(network.params)
    model.source = emitted.source
    return model
