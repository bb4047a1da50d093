"""PyTorch backend: whether a built model is the network its IR describes.

`structural_differences` compares a model with the interpreter's (archc/backends/pytorch/
interpret.py) node for node: each op module's type and arguments (its `extra_repr`), every
parameter and buffer by name and shape, and the values of the constant buffers an op's
constructor fills. `output_differences` loads the model's weights into the interpreter and
compares both forwards bit for bit. Each returns a list of differences, empty when equal.
"""
from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn as nn

from archc.backends.pytorch.interpret import InterpretedGraph, InterpretedNetwork, interpret
from archc.ir.graph import Network


def structural_differences(model: nn.Module, network: Network, oracle: InterpretedNetwork | None = None) -> list[str]:
    oracle = oracle or interpret(network)
    found: list[str] = []
    modules = dict(model.named_modules())
    for path, mine in _op_modules(oracle):
        theirs = modules.get(path)
        if theirs is None:
            found.append(f"{path}: missing (the spec has {type(mine).__name__}({_arguments(mine)}))")
            continue
        # By name: an emitted file carries its own copy of the runtime classes it uses.
        if type(theirs).__name__ != type(mine).__name__ or _arguments(theirs) != _arguments(mine):
            found.append(f"{path}: {type(theirs).__name__}({_arguments(theirs)}), "
                         f"the spec says {type(mine).__name__}({_arguments(mine)})")
    buffers = dict(model.named_buffers())
    found += _tensor_differences("parameter", dict(model.named_parameters()), dict(oracle.named_parameters()))
    found += _tensor_differences("buffer", buffers, dict(oracle.named_buffers()))
    persistent = set(model.state_dict()) & set(oracle.state_dict())
    for name, buffer in oracle.named_buffers():
        theirs = buffers.get(name)
        comparable = theirs is not None and theirs.shape == buffer.shape and "meta" not in (theirs.device.type, buffer.device.type)
        if name not in persistent and comparable and not torch.equal(theirs, buffer):
            found.append(f"{name}: constant buffer values differ")
    return found


def output_differences(model: nn.Module, network: Network, inputs: tuple[torch.Tensor, ...],
                       training: bool = False, oracle: InterpretedNetwork | None = None) -> list[str]:
    """Both forwards on `inputs` in one mode, after the interpreter took the model's weights.

    In training mode both run from the same random seed, so dropout draws agree exactly when
    the model draws in the spec's order."""
    oracle = oracle or interpret(network)
    try:
        oracle.load_state_dict(model.state_dict(), strict=True)
    except RuntimeError as exc:
        return [f"the model's weights do not fit the spec: {' '.join(str(exc).split())}"]
    outputs = []
    for module in (model, oracle):
        module.train(training)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            outputs.append(_by_name(module(*[x.clone() for x in inputs]), network, training))
    mine, spec = outputs
    if list(mine) != list(spec):
        return [f"outputs {list(mine)}, the spec says {list(spec)}"]
    found = []
    for name, tensor in spec.items():
        got = mine[name]
        if got is None or got.shape != tensor.shape or got.dtype != tensor.dtype:
            found.append(f"output {name}: {None if got is None else tuple(got.shape)}, the spec gives {tuple(tensor.shape)}")
        elif not _identical(got, tensor):
            found.append(f"output {name}: values differ (largest difference {(got - tensor).abs().nan_to_num().max().item():.3g})")
    return found


def _identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit, NaN where the other is NaN."""
    try:
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    except AssertionError:
        return False
    return True


def _by_name(result: Any, network: Network, training: bool) -> dict[str, Any]:
    """A forward's result as {output name: tensor}, whatever form it returns."""
    if isinstance(result, torch.Tensor):
        names = [o.name for o in network.graph.outputs if training or not o.training_only]
        return {names[0]: result}
    if isinstance(result, dict):
        return dict(result)
    if hasattr(result, "_asdict"):
        return dict(zip((o.name for o in network.graph.outputs if training or not o.training_only), result))
    names = [o.name for o in network.graph.outputs if training or not o.training_only]
    return dict(zip(names, result))


def _op_modules(oracle: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules the interpreter made from op constructor rules: the children of its graphs that are not graphs."""
    return [(f"{path}.{name}" if path else name, child) for path, graph in oracle.named_modules()
            if isinstance(graph, InterpretedGraph) for name, child in graph.named_children()
            if not isinstance(child, InterpretedGraph)]


_INPLACE = re.compile(r",?\s*inplace=(True|False)")


def _arguments(module: nn.Module) -> str:
    # Whether an activation runs in place is the generator's choice, not the spec's.
    return _INPLACE.sub("", module.extra_repr()).strip(", ")


def _tensor_differences(kind: str, mine: dict[str, torch.Tensor], spec: dict[str, torch.Tensor]) -> list[str]:
    found = [f"{kind} {name}: not in the spec" for name in mine if name not in spec]
    found += [f"{kind} {name}: missing" for name in spec if name not in mine]
    found += [f"{kind} {name}: shape {tuple(mine[name].shape)}, the spec says {tuple(t.shape)}"
              for name, t in spec.items() if name in mine and mine[name].shape != t.shape]
    return found
