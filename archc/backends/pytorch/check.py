"""PyTorch backend: the `archc build` smoke run, torch.export programs and ONNX files."""
from __future__ import annotations

import io
from typing import Any

import torch

from archc.files import atomic_path, write_bytes
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
    named = out if isinstance(out, dict) else out._asdict()  # feature extractor, or several outputs
    return {name: tuple(t.shape) for name, t in named.items()}


def export_program(model: torch.nn.Module, network: Network, path: str) -> None:
    """Save a torch.export program (eval mode) that loads with torch.export.load alone.

    The batch dimension is dynamic, as in the ONNX file (traced at batch 2: torch.export
    specialises a size-1 dimension to a constant). Saved to memory first: torch.export.save
    names the archive after the file, and a temporary file's random name would make the
    bytes differ from build to build.
    """
    model.eval()
    inputs = example_inputs(network, batch=2)
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, inputs, dynamic_shapes=tuple({0: batch} for _ in inputs))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    write_bytes(path, buffer.getvalue())


def export_onnx(model: torch.nn.Module, network: Network, path: str) -> None:
    """Save an ONNX model (eval mode, one file) whose batch dimension is dynamic.

    Inputs are named as in the spec (`input`, or the names under `inputs:`), outputs as the
    spec's eval-mode outputs, so onnxruntime callers feed and read tensors by those names.
    Weights are stored inside the file, which limits it to ONNX's 2 GB protobuf size.
    """
    output_names = list(run_once(model, network))  # also puts the model in eval mode
    # Batch 2 for tracing: torch.export specialises a size-1 dimension to a constant.
    inputs = example_inputs(network, batch=2)
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        model, inputs, dynamo=True, verbose=False,
        input_names=list(network.input_shapes), output_names=output_names,
        # One entry per argument of the generated `forward(self, x)`.
        dynamic_shapes=tuple({0: batch} for _ in inputs),
    )
    with atomic_path(path) as tmp:
        program.save(str(tmp), external_data=False)
