"""archc build SPEC: compile to PyTorch, run one forward pass, optionally save a program."""
from __future__ import annotations

import argparse

from archc.commands._common import EXIT_OK, UsageError, add_spec_arguments, load
from archc.ir.limits import check_param_count
from archc.spec.limits import Limits

NAME = "build"
HELP = "compile to PyTorch and run one forward pass"


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="save the model: FILE.pt2 a torch.export program, FILE.onnx an ONNX model"
    )
    parser.add_argument(
        "--max-params", type=_count, default=Limits().max_params, metavar="N",
        help="refuse a spec with more learnable parameters than N, before allocating any (default: %(default).0e)",
    )


def _count(text: str) -> int:
    """A positive count: `5000000`, `5_000_000` or `5e6`."""
    try:
        value = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number such as 5e9, got {text!r}") from None
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(value)


def run(args: argparse.Namespace) -> int:
    from archc.summary import totals_text

    if args.output and not args.output.endswith((".pt2", ".onnx")):
        raise UsageError(f"-o: expected a .pt2 or .onnx file, got {args.output!r}")
    network = load(args)
    # Static counts: refused here, before build_network allocates a single weight.
    check_param_count(network, args.max_params, "--max-params")
    print(totals_text(network))
    from archc.backends.pytorch.build import build_network
    from archc.backends.pytorch.check import export_onnx, export_program, run_once

    model = build_network(network)
    for name, shape in run_once(model, network).items():
        print(f"forward (eval, batch 1): {name} {'x'.join(map(str, shape))}")
    if args.output:
        save = export_onnx if args.output.endswith(".onnx") else export_program
        save(model, network, args.output)
        print(f"wrote {args.output}")
    return EXIT_OK
