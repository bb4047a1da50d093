"""archc validate SPEC...: check specs; exit 1 if any is invalid."""
from __future__ import annotations

import argparse
import sys

from archc.commands._common import EXIT_INVALID, EXIT_OK, SPEC_HELP, echo, read_stdin, show_warnings
from archc.errors import SpecError
from archc.ir.limits import check_forward_cost, check_param_count
from archc.spec.limits import DEFAULT_LIMITS

NAME = "validate"
HELP = "check specs; exit 1 if any is invalid"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC", help=SPEC_HELP)
    parser.add_argument("--variant", help="check this variant (default: the spec's default)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing for valid specs")


def run(args: argparse.Namespace) -> int:
    from archc.api import load_spec, loads

    status = EXIT_OK
    for path in args.specs:
        try:
            network = loads(read_stdin(), args.variant, name="<stdin>") if path == "-" else load_spec(path, args.variant)
            # What `archc build` refuses with its default limits, validate refuses too.
            check_param_count(network, DEFAULT_LIMITS.max_params, "--max-params")
            check_forward_cost(network, DEFAULT_LIMITS.max_activation_bytes, DEFAULT_LIMITS.max_macs,
                               ("--max-activation-bytes", "--max-macs"))
            show_warnings(network)
            if not args.quiet:
                # The input sizes it takes, derived from its shape rules (archc.shapes).
                echo(f"{path}: ok" + "".join(f"\n  {c.line()}" for c in network.input_constraints))
        except SpecError as exc:
            echo(exc.format(), sys.stderr)
            status = EXIT_INVALID
    return status
