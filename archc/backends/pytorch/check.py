"""PyTorch backend: the `archc build` smoke run and torch.export artifacts."""
from __future__ import annotations

from typing import Any

import torch

from archc.files import atomic_path
from archc.ir.graph import Network


def example_inputs(network: Network, batch: int = 1) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.randn((batch, *shape), generator=generator) for shape in network.input_shapes.values())


def run_once(model: torch.nn.Module, network: Network) -> dict[str, tuple[int, ...]]:
    """One eval-mode forward pass on a random input; the output shapes by name."""
    model.eval()
    with torch.no_grad():
        out = model(*example_inputs(network))
    if isinstance(out, torch.Tensor):
        return {next(iter(network.output_shapes)): tuple(out.shape)}
    return {name: tuple(t.shape) for name, t in out._asdict().items()}


def export_program(model: torch.nn.Module, network: Network, path: str) -> None:
    """Save a torch.export program (eval mode) that loads with torch.export.load alone."""
    model.eval()
    program = torch.export.export(model, example_inputs(network))
    with atomic_path(path) as tmp:
        torch.export.save(program, str(tmp))
