"""Shared checks for the spec zoo: an archc model against its reference implementation."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

import archc

SPECS = Path(__file__).resolve().parent.parent / "specs"


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def assert_matches_reference(
    spec: str, variant: str | None, make_reference: Callable[[], torch.nn.Module], input_shape: tuple[int, ...],
    atol: float = 1e-5, **params: Any,
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Build both models, load the reference weights strictly, and compare counts and eval outputs.

    Returns (archc_model, reference_model), both in eval mode with the same weights.
    """
    torch.manual_seed(0)
    reference = make_reference().eval()
    network = archc.load_spec(SPECS / spec, variant, **params)
    model = archc.build(SPECS / spec, variant, **params).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    assert param_count(model) == param_count(reference)
    assert network.total_params == param_count(reference), "static count differs from the reference"
    # Random batch-norm statistics, so a wrong eps or a swapped norm layer shows in the outputs.
    _randomize_norm_stats(reference)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), model(x)
    assert got.shape == expected.shape
    diff = (got - expected).abs().max().item()
    assert diff <= atol, f"max abs difference {diff}"
    return model, reference


def _randomize_norm_stats(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
