"""Command line: `archc <command>`, with the commands in archc/commands/.

Exit codes: 0 success, 1 invalid spec, 2 usage error, 3 internal error.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Sequence

from archc.commands import command_modules
from archc.commands._common import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError, echo, parse_set
from archc import __version__
from archc.gc_pause import collector_paused
from archc.errors import SpecError
from archc.models import TorchMissing

__all__ = ["main", "make_parser", "parse_set"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archc", description="Compile declarative network specs.")
    parser.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    parser.add_argument("--version", action="version", version=f"archc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in command_modules():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.configure(command)
        # --debug also after the command name (`archc build --debug spec.yaml`).
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    spec = getattr(args, "spec", None) or ", ".join(getattr(args, "specs", []))
    try:
        with collector_paused():
            code = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `archc summary ... | head -1`: the reader has what it wanted; stop quietly, as Unix
        # tools do, and point stdout at /dev/null so Python's exit-time flush cannot complain.
        _silence_stdout()
        return EXIT_OK
    except SpecError as exc:
        echo(exc.format(), sys.stderr)
        return EXIT_INVALID
    except (UsageError, TorchMissing) as exc:
        echo(f"archc {args.command}: error: {exc}", sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an archc bug: say so in one line unless asked for more
        if args.debug:
            traceback.print_exc()
        echo(
            f"archc: internal error while processing {spec}: {type(exc).__name__}: {exc} "
            "(rerun with --debug for a traceback)",
            sys.stderr,
        )
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (under a test's capture)
        pass
