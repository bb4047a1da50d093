"""PyTorch backend: the `archc build` smoke run, torch.export programs and ONNX files."""
from __future__ import annotations

import io
from typing import Any

import torch

from archc.errors import BuildMismatch
from archc.files import atomic_path, write_bytes
from archc.ir.graph import Network
from archc.ops import OPS


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
    if isinstance(out, dict):  # a feature extractor
        return {name: tuple(t.shape) for name, t in out.items()}
    return dict(zip(out._fields, (tuple(t.shape) for t in out)))  # several outputs


def check_forward(shapes: dict[str, tuple[int, ...]], network: Network) -> None:
    """`run_once`'s output shapes against the spec's eval-mode outputs, in order (a field may
    be renamed where Python needs it); a difference is an archc bug: BuildMismatch."""
    expected = [(1, *shape) for shape in _eval_outputs(network).values()]
    if list(shapes.values()) != expected:
        names = list(_eval_outputs(network))
        raise BuildMismatch(network.name, [f"forward returns {_shapes(shapes)}, the spec infers "
                                           f"{_shapes(dict(zip(names, expected)))}"])


def check_built(model: torch.nn.Module, network: Network) -> None:
    """The cheap part of the oracle, run on every build: each op module the spec declares is
    there, of its op's class, with the parameter count its shape rule gives, and the totals
    agree. Raises BuildMismatch (an archc bug) where they do not."""
    modules = dict(model.named_modules())
    parameters = dict(model.named_parameters())
    problems = []
    for path, node in network.graph.walk():
        if node.body is not None:
            continue
        op = OPS[node.op]  # type: ignore[index]
        if op.holds_tensor:
            tensor = parameters.get(path)
            if tensor is None or tensor.numel() != node.own_params:
                problems.append(f"{path}: {'missing' if tensor is None else tensor.numel()}, the spec has {node.own_params} parameters")
            continue
        ctor = op.module(node.attrs, node.in_shapes) if op.stateful else None
        if ctor is None:
            continue
        module = modules.get(path)
        if module is None or type(module).__name__ != ctor.callee.rpartition(".")[2]:
            problems.append(f"{path}: {'missing' if module is None else type(module).__name__}, the spec has {ctor.callee}")
            continue
        count = sum(p.numel() for p in module.parameters())
        if count != node.own_params:
            problems.append(f"{path}: {count:,} parameters, the spec has {node.own_params:,}")
    total = sum(p.numel() for p in parameters.values())
    if total != network.total_params:
        problems.append(f"{total:,} parameters in all, the spec has {network.total_params:,}")
    if problems:
        raise BuildMismatch(network.name, problems)


def _eval_outputs(network: Network) -> dict[str, tuple[int, ...]]:
    return {o.name: o.shape for o in network.graph.outputs if not o.training_only}


def _shapes(shapes: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{name} {'x'.join(map(str, s))}" for name, s in shapes.items())


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
