"""Command line: pieces the subcommands share."""
from __future__ import annotations

import argparse
from typing import Any, Sequence

import yaml

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """A command used wrongly (exit 2), as opposed to an invalid spec (exit 1)."""


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--variant", help="a variant named in the spec")
    parser.add_argument("--set", action="append", default=[], metavar="K=V", help="override a param (repeatable)")
    parser.add_argument(
        "--outputs", metavar="NAME[,NAME...]", help="output these intermediate nodes instead (dotted paths: layer3,layer4)"
    )


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


def load(args: argparse.Namespace) -> Any:
    """The spec named on the command line, with its variant and --set params, expanded."""
    from archc.api import load_spec

    outputs = [n.strip() for n in args.outputs.split(",") if n.strip()] if getattr(args, "outputs", None) else None
    return load_spec(args.spec, args.variant, outputs=outputs, params=parse_set(args.set))
