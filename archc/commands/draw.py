"""archc draw SPEC: a Graphviz diagram of the network (svg, png, pdf or dot; never imports torch)."""
from __future__ import annotations

import argparse
import re
import sys

from archc.backends.graphviz.layout import FORMATS
from archc.commands._common import EXIT_INVALID, EXIT_OK, UsageError, add_spec_arguments, check_output, echo, load, write_failed

NAME = "draw"
HELP = "draw the network as a Graphviz diagram (svg, png, pdf or dot)"


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("-o", "--output", metavar="OUT", help="file to write, '-' for stdout (default: NAME[-VARIANT].svg here)")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from -o's extension, else svg)")
    levels = parser.add_mutually_exclusive_group()
    levels.add_argument("--depth", type=int, metavar="N", help="open N-1 levels of nesting, 1 drawing the top level only "
                        "(default: groups open, block instances and repeats drawn as single boxes)")
    levels.add_argument("--expand", action="store_true", help="open every block and group down to single ops")
    parser.add_argument("--rankdir", choices=("TB", "LR"), default="TB", help="top to bottom (default) or left to right")
    parser.add_argument("--params", action="store_true", help="add parameter counts to the boxes")


def run(args: argparse.Namespace) -> int:
    from archc.backends.graphviz import DotNotFound, render, to_dot
    from archc.drawing import write_diagram

    if args.depth is not None and args.depth < 1:
        raise UsageError(f"--depth must be 1 or more (1 draws the top level only), got {args.depth}")
    fmt = args.format or output_format(args.output)
    check_output(args.output)
    network = load(args)
    source = to_dot(network, depth=args.depth, expand=args.expand, show_params=args.params, rankdir=args.rankdir)
    out = args.output or default_name(network.name, network.variant, fmt)
    try:
        if out == "-":
            sys.stdout.buffer.write(render(source, fmt))
            sys.stdout.flush()
            return EXIT_OK
        write_diagram(source, out, fmt)
    except DotNotFound as exc:
        echo(f"archc draw: error: {exc}", sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        raise  # stdout closed early: archc.cli ends quietly
    except OSError as exc:
        raise write_failed(out, exc) from None
    echo(out)
    return EXIT_OK


def output_format(output: str | None) -> str:
    """The format when --format is not given: -o's extension, DOT for stdout, else svg."""
    from archc.drawing import format_of

    if output is None:
        return "svg"
    if output == "-":
        return "dot"
    try:
        return format_of(output)
    except ValueError as exc:
        raise UsageError(f"-o: {exc}") from None


def default_name(name: str, variant: str | None, fmt: str) -> str:
    """`resnet-50.svg`: a plain file name in the current directory, whatever the spec's name holds."""
    stem = name + (f"-{variant}" if variant else "")
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).lstrip(".") or "network"
    return f"{stem}.{fmt}"
