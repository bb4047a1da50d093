"""The Python API: load_spec (no torch) and build (torch)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from archc.ir.graph import Network
from archc.ir.load import load_network


def load_spec(path: str | Path, variant: str | None = None, **params: Any) -> Network:
    """The validated, expanded spec graph with every shape, parameter and multiply-add count.

    Raises archc.SpecError (every problem, each with file:line:col) for a bad spec.
    Never imports torch.
    """
    return load_network(path, variant, params)


def build(
    path: str | Path, variant: str | None = None, *, device: Any = None, dtype: Any = None, **params: Any,
) -> Any:
    """Compile a spec into a torch.nn.Module whose submodules and state_dict keys follow the spec's names."""
    from archc.backends.pytorch.build import build_network

    return build_network(load_network(path, variant, params), device=device, dtype=dtype)
