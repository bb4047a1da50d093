"""archc summary SPEC: the per-node table of shapes, params and multiply-adds."""
from __future__ import annotations

import argparse
import json

from archc.commands._common import EXIT_OK, UsageError, add_spec_arguments, echo, load
from archc.summary import DEFAULT_DEPTH

NAME = "summary"
HELP = "per-node table of shapes, params and multiply-adds"


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table (same as --format json)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default=None, help="output format (default: text)")
    levels = parser.add_mutually_exclusive_group()
    levels.add_argument(
        "--depth", type=int, default=None, metavar="N",
        help=f"show this many levels of nesting (1: the top level only; default: {DEFAULT_DEPTH}, as torchinfo)",
    )
    levels.add_argument("--all", action="store_true", help="show every level of nesting")
    parser.add_argument("--raw", action="store_true", help="exact counts (11,689,512) instead of human units (11.69 M)")
    parser.add_argument(
        "--input", metavar="CxHxW", type=input_arg,
        help="input shape per sample instead of the spec's input (3x160x160; channels first, no batch)",
    )


def run(args: argparse.Namespace) -> int:
    from archc.summary import as_json, markdown_text, table_text

    if args.depth is not None and args.depth < 1:
        raise UsageError(f"--depth must be 1 or more (1 shows the top level), got {args.depth}")
    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} ask for different outputs")
    fmt = "json" if args.json else args.format or "text"
    network = load(args)
    if fmt == "json":  # every level unless --depth: the JSON is for programs
        print(json.dumps(as_json(network, args.depth), indent=2))  # JSON escapes control characters
        return EXIT_OK
    depth = None if args.all else args.depth or DEFAULT_DEPTH
    echo((markdown_text if fmt == "markdown" else table_text)(network, depth, args.raw))
    return EXIT_OK


def input_arg(text: str) -> list[int]:
    """`3x160x160` (or `3,160,160`) as a list of positive ints (an argparse type)."""
    parts = text.replace(",", "x").lower().split("x")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected positive dims such as 3x160x160 (channels first, no batch), got {text!r}")
    return [int(p) for p in parts]
