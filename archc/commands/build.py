"""archc build SPEC: compile to PyTorch, run one forward pass, optionally save a program."""
from __future__ import annotations

import argparse

from archc.commands._common import EXIT_OK, UsageError, add_spec_arguments, load

NAME = "build"
HELP = "compile to PyTorch and run one forward pass"


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE.pt2", help="save a torch.export program")


def run(args: argparse.Namespace) -> int:
    from archc.summary import totals_text

    if args.output and not args.output.endswith(".pt2"):
        raise UsageError(f"-o: expected a .pt2 file, got {args.output!r}")
    network = load(args)
    print(totals_text(network))
    from archc.backends.pytorch.build import build_network
    from archc.backends.pytorch.check import export_program, run_once

    model = build_network(network)
    for name, shape in run_once(model, network).items():
        print(f"forward (eval, batch 1): {name} {'x'.join(map(str, shape))}")
    if args.output:
        export_program(model, network, args.output)
        print(f"wrote {args.output}")
    return EXIT_OK
