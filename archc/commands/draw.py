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
    parser.add_argument("--dpi", type=float, metavar="N", help="resolution of a PNG (default: 96)")


def run(args: argparse.Namespace) -> int:
    from archc.backends.graphviz import DiagramTooBig, DotNotFound, render, to_dot
    from archc.drawing import write_diagram

    if args.depth is not None and args.depth < 1:
        raise UsageError(f"--depth must be 1 or more (1 draws the top level only), got {args.depth}")
    fmt = args.format or output_format(args.output)
    if args.dpi is not None and (fmt != "png" or not 1 <= args.dpi <= 2400):
        raise UsageError("--dpi applies to PNG output only" if fmt != "png" else f"--dpi must be 1 to 2400, got {args.dpi:g}")
    check_output(args.output)
    network = load(args)
    source = to_dot(
        network, depth=args.depth, expand=args.expand, show_params=args.params, rankdir=args.rankdir, dpi=args.dpi,
    )
    out = args.output or default_name(network.name, network.variant, fmt)
    try:
        if fmt == "png":
            warn_if_too_big(source, args.dpi, args.rankdir)
        if out == "-":
            sys.stdout.buffer.write(render(source, fmt))
            sys.stdout.flush()
            return EXIT_OK
        write_diagram(source, out, fmt)
    except DotNotFound as exc:
        echo(f"archc draw: error: {exc}", sys.stderr)
        return EXIT_INVALID
    except DiagramTooBig as exc:
        hint = "draw fewer levels (a smaller --depth, or without --expand) or write the DOT source (--format dot)"
        echo(f"archc draw: error: {DiagramTooBig(exc.statements, hint)}", sys.stderr)
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


def warn_if_too_big(source: str, dpi: float | None, rankdir: str) -> None:
    """Say so before cairo's 32,767-pixel cap silently shrinks a PNG into illegibility."""
    from archc.backends.graphviz.layout import CAIRO_MAX_PX, png_pixels

    width, height = png_pixels(source, dpi)
    if max(width, height) <= CAIRO_MAX_PX:
        return
    hints = ["write SVG or PDF instead (-o NAME.svg), which have no size limit"]
    if rankdir == "TB" and height > width:
        hints.append("--rankdir LR")
    hints.append("a smaller --depth" + (" or --dpi" if dpi else ""))
    echo(
        f"archc draw: warning: the PNG would be {width:,} x {height:,} pixels, over the {CAIRO_MAX_PX:,}-pixel limit of "
        f"Graphviz's PNG renderer, which scales it down until it fits (text becomes illegible); {', or '.join(hints)}",
        sys.stderr,
    )
