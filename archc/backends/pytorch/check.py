"""PyTorch backend: the `archc build` smoke run, torch.export programs and ONNX files."""
from __future__ import annotations

import io
import warnings
from typing import Any

import torch

from archc.errors import BuildMismatch
from archc.files import atomic_path, write_bytes
from archc.ir.graph import Network
from archc.ops import OPS
from archc.shapes.symbolic import Sym


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


# torch.export's default upper bound of a dynamic size; a size archc bounds gets its own.
_LARGEST = 2**16


def dynamic_shapes(network: Any) -> tuple[dict[int, Any], ...]:
    """Per argument of the generated `forward`, its dynamic dims: the batch, and every input size
    the network takes more than one value of (archc.shapes), with the derived minimum and step
    (`16 * Dim("H_16")` for multiples of 16) in eval mode."""
    batch = torch.export.Dim("batch")
    ranges = getattr(network, "export_ranges", None)  # what archc.export knows of a built model
    if ranges is None:
        ranges = export_ranges(network) if hasattr(network, "graph") else tuple({} for _ in network.input_shapes)
    result = []
    for sizes in ranges:
        dims: dict[int, Any] = {0: batch}
        for axis, (symbol, low, high, step, rest) in sizes.items():
            if step == 1:
                dims[axis] = torch.export.Dim(symbol, min=low, max=high)
            else:
                steps = torch.export.Dim(f"{symbol}_{step}", min=-(-(low - rest) // step), max=(high - rest) // step)
                dims[axis] = step * steps + rest if rest else step * steps
        result.append(dims)
    return tuple(result)


def _with_dynamic_sizes(export: Any, network: Any) -> Any:
    """`export(dynamic_shapes)` with the input sizes dynamic; where torch.export cannot follow
    them (its own symbolic shapes fail on some ceil-mode pooling chains), with the batch alone,
    and a warning that the program takes the declared size."""
    dims = dynamic_shapes(network)
    if all(set(d) == {0} for d in dims):
        return export(dims)
    try:
        return export(dims)
    except Exception as exc:  # torch's errors here have no common type
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        warnings.warn(f"archc export: torch.export could not keep the input's height and width dynamic ({first}); "
                      "the program takes the declared input size, with a dynamic batch", UserWarning, stacklevel=3)
        return export(tuple({0: d[0]} for d in dims))


def export_ranges(network: Network) -> tuple[dict[int, tuple[str, int, int, int, int]], ...]:
    """Per input, {axis: (symbol, minimum, maximum, step, residue)} of each size an exported
    program takes as a variable: none for a fixed size, or for several residues (`H % 32 in
    {11, 12}`), which one linear torch.export.Dim cannot say."""
    inner = _symbolic_sizes(network)
    result = []
    for constraints in network.input_constraints:
        sizes = {}
        for rule in constraints.rules:
            if rule.fixed or len(rule.residues) != 1:
                continue
            # torch.export takes a size of 1 as a constant, inside the network too (ResNet's last
            # map is 1x1 below 33): the program starts where no size that follows this one is 1.
            mine = [s for s in inner if s.symbols == {rule.symbol}]
            low = rule.minimum
            while low < rule.declared and (low < 2 or any(s.at({rule.symbol: low}) < 2 for s in mine)):
                low += rule.step
            axis = constraints.shape.index(rule.symbol) + 1
            sizes[axis] = (rule.symbol, low, rule.maximum or _LARGEST, rule.step, rule.residues[0])
        result.append(sizes)
    return tuple(result)


def _symbolic_sizes(network: Network) -> list[Any]:
    """Every distinct size in the network that depends on the input."""
    found: dict[Any, Any] = {}
    for _, node in network.graph.walk():
        for shape in node.out_shapes:
            for size in getattr(shape, "sym", ()):
                if isinstance(size, Sym):
                    found.setdefault(size.key, size)
    return list(found.values())


def export_program(model: torch.nn.Module, network: Network, path: str) -> None:
    """Save a torch.export program (eval mode) that loads with torch.export.load alone.

    The batch dimension is dynamic, as in the ONNX file (traced at batch 2: torch.export
    specialises a size-1 dimension to a constant). Saved to memory first: torch.export.save
    names the archive after the file, and a temporary file's random name would make the
    bytes differ from build to build.
    """
    model.eval()
    inputs = example_inputs(network, batch=2)
    program = _with_dynamic_sizes(lambda dims: torch.export.export(model, inputs, dynamic_shapes=dims), network)
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
    program = _with_dynamic_sizes(lambda dims: torch.onnx.export(
        model, inputs, dynamo=True, verbose=False,
        input_names=list(network.input_shapes), output_names=output_names, dynamic_shapes=dims,
    ), network)
    with atomic_path(path) as tmp:
        program.save(str(tmp), external_data=False)
