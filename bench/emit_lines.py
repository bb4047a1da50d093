"""Lines of emitted source against torchvision's model code for the same classes.

Counts non-blank lines that are not only a comment, in the emitted file (`archc emit`, the
spec's default variant or the one named) and in the torchvision classes and helpers that
build the same network. Prints one row per network: the whole file, its model code (the
file without the private machinery that applies the init table), torchvision's, and the
ratios.

    .venv/bin/python bench/emit_lines.py
"""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import archc

# `torchvision.models.googlenet` is also a function name there: import the modules by path.
resnet, googlenet, densenet, efficientnet, misc, stochastic_depth = (importlib.import_module(f"torchvision.{m}") for m in (
    "models.resnet", "models.googlenet", "models.densenet", "models.efficientnet", "ops.misc", "ops.stochastic_depth"))

SPECS = Path(__file__).resolve().parent.parent / "specs"

# (spec, variant, the torchvision definitions a resnet50 / googlenet / ... is made of)
ROWS = [
    ("resnet", "50", [resnet.conv3x3, resnet.conv1x1, resnet.Bottleneck, resnet.ResNet, resnet._resnet]),
    ("googlenet", None, [googlenet.GoogLeNet, googlenet.Inception, googlenet.InceptionAux,
                         googlenet.BasicConv2d]),
    ("densenet", "121", [densenet._DenseLayer, densenet._DenseBlock, densenet._Transition, densenet.DenseNet,
                         densenet._densenet]),
    ("efficientnet", "b0", [efficientnet._MBConvConfig, efficientnet.MBConvConfig, efficientnet.MBConv,
                            efficientnet.EfficientNet, efficientnet._efficientnet_conf, efficientnet._efficientnet,
                            misc.ConvNormActivation, misc.Conv2dNormActivation, misc.SqueezeExcitation,
                            stochastic_depth.StochasticDepth, stochastic_depth.stochastic_depth,
                            efficientnet._make_divisible]),
]


def code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def model_code(text: str) -> str:
    """The file without its private init machinery (`_init_plan`, `_Undrawn`, ...): the
    generic code that applies the INIT table, which torchvision leaves to torch.nn.init."""
    lines = text.splitlines()
    drop = set()
    for node in ast.parse(text).body:
        name = getattr(node, "name", None) or getattr(getattr(node, "targets", [None])[0], "id", None)
        if name and name.startswith("_"):
            drop.update(range(node.lineno - 1, node.end_lineno))
    return "\n".join(line for k, line in enumerate(lines) if k not in drop)


def main() -> None:
    print(f"{'network':<16}{'emitted':>9}{'model code':>12}{'torchvision':>13}{'ratio':>8}{'model code ratio':>18}")
    for spec, variant, definitions in ROWS:
        source = archc.emit(SPECS / f"{spec}.yaml", variant)
        reference = sum(code_lines(inspect.getsource(d)) for d in definitions)
        emitted, model = code_lines(source), code_lines(model_code(source))
        print(f"{spec:<16}{emitted:>9}{model:>12}{reference:>13}{emitted / reference:>8.2f}{model / reference:>18.2f}")


if __name__ == "__main__":
    main()
