"""API stage after building: what archc attaches to built models, their export, and loading checkpoints into backbones."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from archc.ir.graph import Network

if TYPE_CHECKING:
    import torch

TORCH_HINT = "pip install 'archc[torch]'"


class TorchMissing(ImportError):
    """A command or function that needs PyTorch was used where torch is not installed."""


def require_torch(what: str) -> None:
    """Raise TorchMissing, saying what to install, when torch is not importable."""
    if importlib.util.find_spec("torch") is None:
        raise TorchMissing(f"{what} needs PyTorch, which is not installed: {TORCH_HINT} (or see https://pytorch.org)")


class FeatureInfo(list):
    """timm-style feature info of a backbone: one dict per output (`module`, `num_chs`, `reduction`).

    `reduction` is the input's height over the output's (1 where an output has no spatial
    dims). As timm's, `channels()`, `reduction()` and `module_name()` list them in output order.
    """

    def channels(self) -> list[int]:
        return [f["num_chs"] for f in self]

    def reduction(self) -> list[int]:
        return [f["reduction"] for f in self]

    def module_name(self) -> list[str]:
        return [f["module"] for f in self]


def feature_info(network: Network) -> FeatureInfo:
    """Channels and reduction of each output of a network built with `outputs=` (no torch)."""
    size = next(iter(network.input_shapes.values()))
    info = FeatureInfo()
    for name, shape in network.output_shapes.items():
        reduction = size[-1] // shape[-1] if len(shape) >= 3 and len(size) >= 3 and shape[-1] else 1
        info.append({"module": name, "num_chs": shape[0], "reduction": reduction})
    return info


def annotate(model: torch.nn.Module, network: Network) -> torch.nn.Module:
    """Attach what export and backbone users need: input/output shapes, and feature_info for extractors."""
    from archc.backends.pytorch.check import export_ranges

    model.input_shapes = {k: tuple(v) for k, v in network.input_shapes.items()}
    model.output_shapes = {k: tuple(v) for k, v in network.output_shapes.items()}
    # The input sizes an exported program takes as variables (archc.export), as plain numbers.
    model._archc_export_ranges = export_ranges(network)
    if network.extracted:
        model.feature_info = feature_info(network)
    return model


class _Shapes:
    """What archc.backends.pytorch.check reads of a Network: the input and output shapes by name."""

    def __init__(self, inputs: Mapping[str, tuple[int, ...]], outputs: Mapping[str, tuple[int, ...]],
                 export_ranges: Any = None) -> None:
        self.input_shapes = dict(inputs)
        self.output_shapes = dict(outputs)
        self.export_ranges = export_ranges


def export(
    model: torch.nn.Module, path: str | Path, *, input_shape: tuple[int, ...] | None = None,
) -> None:
    """Write a (trained) model as `.onnx` or `.pt2` (torch.export), in eval mode, with a dynamic batch
    dimension, and dynamic height and width where the network takes more than one size.

    A model from archc.build knows its input shape; for another model give `input_shape`
    (per sample, channels first: `(3, 224, 224)`). The file is written atomically.
    """
    require_torch("archc.export")
    from archc.backends.pytorch.check import export_onnx, export_program

    target = str(path)
    if not target.endswith((".onnx", ".pt2")):
        raise ValueError(f"archc.export writes .onnx or .pt2 files, got {target!r}")
    if input_shape is not None:
        inputs: Mapping[str, tuple[int, ...]] = {"input": tuple(int(d) for d in input_shape)}
    elif getattr(model, "input_shapes", None):
        inputs = model.input_shapes
    else:
        raise ValueError("this model does not say its input shape (it was not built by archc.build): give input_shape=(C, H, W)")
    outputs = getattr(model, "output_shapes", None) or {"output": ()}
    save = export_onnx if target.endswith(".onnx") else export_program
    # Sizes other than the batch stay static for a module archc did not build, or another input_shape.
    ranges = getattr(model, "_archc_export_ranges", None) if input_shape is None else None
    save(model, _Shapes(inputs, outputs, ranges), target)  # type: ignore[arg-type]


def load_weights(model: torch.nn.Module, weights: str | Path | Mapping[str, Any]) -> list[str]:
    """Load a full model's checkpoint into `model` (a backbone built with `outputs=`), ignoring the head.

    `weights` is a state_dict or a file saved with torch.save (a state_dict, or a dict holding
    one under "state_dict" or "model"). Every tensor of `model` must be in it, with its shape;
    keys `model` does not have (the classifier a backbone drops) are skipped and returned.
    Raises KeyError for a missing tensor, ValueError for a shape that differs.
    """
    require_torch("archc.load_weights")
    state = read_state_dict(weights)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise KeyError(f"the checkpoint lacks {len(missing)} of the model's tensors, first {missing[0]!r}")
    for key, tensor in own.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ValueError(f"{key}: the checkpoint's shape {tuple(state[key].shape)} differs from the model's {tuple(tensor.shape)}")
    model.load_state_dict({k: state[k] for k in own}, strict=True)
    return [k for k in state if k not in own]


def read_state_dict(weights: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """A state_dict from a mapping or a torch.save file (tensors only: weights_only=True)."""
    import torch

    state: Any = weights
    if isinstance(weights, (str, Path)):
        state = torch.load(weights, map_location="cpu", weights_only=True)
    if isinstance(state, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("expected a state_dict: a mapping of parameter names to tensors")
    return state
