"""Command line: archc validate | summary | build.

Exit codes: 0 success, 1 invalid spec, 2 usage error, 3 internal error.
`validate` and `summary` never import torch.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Any, Callable, Sequence

import yaml

from archc.errors import SpecError

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    pass


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """`--set K=V` pairs; V is read as a YAML scalar or flow list (`10`, `0.5`, `[2, 2]`)."""
    params: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise UsageError(f"--set {key}: cannot read value {raw!r}") from None
        if isinstance(value, dict) or not _plain(value):
            raise UsageError(f"--set {key}: expected a number, string, bool or list, got {raw!r}")
        params[key] = value
    return params


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def cmd_validate(args: argparse.Namespace) -> int:
    from archc.api import load_spec

    status = EXIT_OK
    for path in args.specs:
        try:
            load_spec(path, args.variant)
            if not args.quiet:
                print(f"{path}: ok")
        except SpecError as exc:
            print(exc.format(), file=sys.stderr)
            status = EXIT_INVALID
    return status


def cmd_summary(args: argparse.Namespace) -> int:
    from archc.api import load_spec
    from archc.summary import as_json, table_text

    if args.depth is not None and args.depth < 1:
        raise UsageError(f"--depth must be 1 or more (1 shows the top level), got {args.depth}")
    network = load_spec(args.spec, args.variant, **parse_set(args.set))
    if args.json:
        print(json.dumps(as_json(network, args.depth), indent=2))
    else:
        print(table_text(network, args.depth))
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from archc.api import load_spec
    from archc.summary import totals_text

    network = load_spec(args.spec, args.variant, **parse_set(args.set))
    if args.output and not args.output.endswith(".pt2"):
        raise UsageError(f"-o: expected a .pt2 file, got {args.output!r}")
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


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archc", description="Compile declarative network specs.")
    parser.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check specs; exit 1 if any is invalid")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument("--variant", help="check this variant (default: the spec's default)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing for valid specs")
    p.set_defaults(run=cmd_validate)

    for name, helptext, run in (
        ("summary", "per-node table of shapes, params and multiply-adds", cmd_summary),
        ("build", "compile to PyTorch and run one forward pass", cmd_build),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("spec", metavar="SPEC")
        p.add_argument("--variant", help="a variant named in the spec")
        p.add_argument("--set", action="append", default=[], metavar="K=V", help="override a param (repeatable)")
        p.set_defaults(run=run)
        if name == "summary":
            p.add_argument("--json", action="store_true", help="print JSON instead of a table")
            p.add_argument("--depth", type=int, default=None, help="show this many levels of nesting (1: the top level only)")
        else:
            p.add_argument("-o", "--output", metavar="FILE.pt2", help="save a torch.export program")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    spec = getattr(args, "spec", None) or ", ".join(getattr(args, "specs", []))
    try:
        return args.run(args)
    except SpecError as exc:
        print(exc.format(), file=sys.stderr)
        return EXIT_INVALID
    except UsageError as exc:
        print(f"archc {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an archc bug: say so in one line unless asked for more
        if args.debug:
            traceback.print_exc()
        print(f"archc: internal error while processing {spec}: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL
