"""archc summary SPEC: the per-node table of shapes, params and multiply-adds."""
from __future__ import annotations

import argparse
import json

from archc.commands._common import EXIT_OK, UsageError, add_spec_arguments, echo, load

NAME = "summary"
HELP = "per-node table of shapes, params and multiply-adds"


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--depth", type=int, default=None, help="show this many levels of nesting (1: the top level only)")


def run(args: argparse.Namespace) -> int:
    from archc.summary import as_json, table_text

    if args.depth is not None and args.depth < 1:
        raise UsageError(f"--depth must be 1 or more (1 shows the top level), got {args.depth}")
    network = load(args)
    if args.json:
        print(json.dumps(as_json(network, args.depth), indent=2))  # JSON escapes control characters
    else:
        echo(table_text(network, args.depth))
    return EXIT_OK
