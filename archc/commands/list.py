"""archc list: the shipped specs with their variants, parameter counts and references (never imports torch)."""
from __future__ import annotations

import argparse
import json

from archc.commands._common import EXIT_OK, echo

NAME = "list"
HELP = "list the shipped specs (usable by name: archc summary resnet) with variants, parameters and references"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from archc.zoo import list_specs

    specs = list_specs()
    if args.json:
        print(json.dumps([s.as_dict() for s in specs], indent=2))
        return EXIT_OK
    for spec in specs:
        counts = ", ".join(f"{v} {human(n)}" if v is not None else human(n) for v, n in spec.params.items())
        echo(f"{spec.name:<18} {counts}")
        echo(f"{'':<18} reference: {spec.reference}")
    return EXIT_OK


def human(count: int) -> str:
    """A parameter count as `11.7M`, `61.7K`: short enough for one line per spec."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)
