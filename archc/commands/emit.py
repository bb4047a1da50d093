"""archc emit SPEC: the network as one standalone Python module that needs only torch (never imports torch)."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from archc.commands._common import EXIT_OK, add_spec_arguments, check_output, echo, load, show_warnings, write_failed

NAME = "emit"
HELP = "write the network as standalone Python source (imports only torch)"
DEFAULT_FOLDER = "generated"


def configure(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE.py", help=f"file to write, '-' for stdout (default: {DEFAULT_FOLDER}/NAME.py)")


def run(args: argparse.Namespace) -> int:
    from archc.backends.python.emit import emit_variants
    from archc.files import write_bytes

    check_output(args.output)
    from archc.api import every_variant

    network = load(args)
    show_warnings(network)
    # Every variant of the spec in one file, unless one network was asked for.
    asked = args.variant is not None or getattr(args, "outputs", None) or args.set or getattr(args, "input", None) or args.spec == "-"
    source = emit_variants(every_variant(network, "" if asked else None, None, None, None)).source
    if args.output == "-":
        sys.stdout.write(source)
        sys.stdout.flush()
        return EXIT_OK
    out = args.output or str(Path(DEFAULT_FOLDER) / default_name(network.name))
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True) if args.output is None else None
        write_bytes(out, source.encode(), chosen=args.output is not None)
    except OSError as exc:
        raise write_failed(out, exc) from None
    echo(out)
    return EXIT_OK


def default_name(name: str) -> str:
    """`resnet.py`: a module name made of the spec's name, whatever that holds."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_").lower() or "network"
    return f"{'n' + stem if stem[0].isdigit() else stem}.py"
