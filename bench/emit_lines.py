"""Lines of emitted source against torchvision's model code for the same classes.

Counts non-blank lines that are not only a comment, in the emitted file (`archc emit`, the
spec's default variant or the one named) and in the torchvision classes and helpers that
build the same network. Prints one row per network and the ratio emitted / torchvision.

    .venv/bin/python bench/emit_lines.py
"""
from __future__ import annotations

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


def without_init_table(text: str) -> str:
    start = text.find("\nINIT = (")
    end = text.find("\n)\n", start)
    return text if start < 0 else text[:start] + text[end + 3:]


def main() -> None:
    print(f"{'network':<16}{'emitted':>9}{'(no INIT)':>11}{'torchvision':>13}{'ratio':>8}")
    for spec, variant, definitions in ROWS:
        source = archc.emit(SPECS / f"{spec}.yaml", variant)
        reference = sum(code_lines(inspect.getsource(d)) for d in definitions)
        emitted = code_lines(source)
        print(f"{spec:<16}{emitted:>9}{code_lines(without_init_table(source)):>11}{reference:>13}{emitted / reference:>8.2f}")


if __name__ == "__main__":
    main()
