"""Command line: pieces the subcommands share."""
from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any, Sequence, TextIO

import yaml

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
# A --set value: as deep as a spec param may be (archc/ir/load.py), and as big as a spec's YAML.
SET_MAX_DEPTH = 32
SET_MAX_VALUES = 100_000


SPEC_HELP = "a shipped spec's name (archc list), a spec file, or - for standard input"


class UsageError(Exception):
    """A command used wrongly (exit 2), as opposed to an invalid spec (exit 1)."""


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    parser.add_argument("--variant", help="a variant named in the spec")
    parser.add_argument(
        "--set", action="append", default=[], metavar="K=V",
        help="override a param (repeatable); V is YAML: 10, 0.5, name, [2, 2]; a bare comma list 1,1,1,1 is a list too",
    )
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
            value = yaml.safe_load(_flow_list(raw)) if raw.strip() else ""
        except yaml.YAMLError:
            raise UsageError(f"--set {key}: cannot read value {raw!r}") from None
        except RecursionError:  # PyYAML composes recursively: `[[[[...` 2,000 deep
            raise UsageError(f"--set {key}: the value is nested more than {SET_MAX_DEPTH} levels deep") from None
        problem = _set_value_problem(value)
        if problem:
            raise UsageError(f"--set {key}: {problem}, got {_short(raw)}")
        params[key] = value
    return params


def _flow_list(raw: str) -> str:
    """`1,1,1,1` as the YAML list `[1,1,1,1]`: a top-level comma outside brackets and quotes
    makes a list (YAML would read the whole as one string, and a repeat count would then
    fail deep in the spec). A value starting with a bracket or quote is left to YAML."""
    text = raw.strip()
    if "," not in text or text[0] in "[{'\"":
        return raw
    return f"[{text}]"


def _set_value_problem(value: Any) -> str | None:
    """Why a --set value cannot be a param, walked without recursion: YAML aliases can make a
    list that contains itself (`&a [*a]`) or stands for billions of values."""
    seen = 0
    stack: list[tuple[Any, tuple[int, ...]]] = [(value, ())]
    while stack:
        item, outer = stack.pop()
        seen += 1
        if seen > SET_MAX_VALUES:
            return f"the value holds more than {SET_MAX_VALUES:,} items (YAML aliases?)"
        if isinstance(item, list):
            if id(item) in outer:
                return "the value contains itself (a YAML alias of an enclosing list)"
            if len(outer) >= SET_MAX_DEPTH:
                return f"the value is nested more than {SET_MAX_DEPTH} levels deep"
            stack.extend((v, outer + (id(item),)) for v in item)
        elif not (item is None or isinstance(item, (bool, int, float, str))):
            return "expected a number, string, bool or list"
    return None


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def count_arg(text: str) -> int:
    """A positive count for a limit flag: `5000000`, `5_000_000` or `5e6` (an argparse type)."""
    try:
        value = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number such as 5e9, got {text!r}") from None
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(value)


def check_output(out: str | None) -> None:
    """Refuse an -o that cannot be written before any work is done: a directory, or a file in
    a directory that does not exist. (A FIFO or a device such as /dev/stdout is fine.)"""
    if out is None or out == "-":
        return
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"-o: {out!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"-o: no such directory {str(path.parent)!r} for {out!r}")


def write_failed(out: str, exc: OSError) -> UsageError:
    """An -o that could not be written after all (permissions, a full disk), as a usage error."""
    return UsageError(f"-o: cannot write {out!r}: {exc.strerror or exc}")


_UNPRINTABLE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """Text safe to show on a terminal: control characters (escape codes, carriage returns) and
    invisible format characters (bidi overrides) written as escapes; line breaks kept."""
    if not _UNPRINTABLE.search(text):
        return text
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def echo(text: str, file: TextIO | None = None) -> None:
    """print() for everything the CLI shows that may hold text from a spec."""
    print(printable(text), file=file or sys.stdout)


def show_warnings(network: Any) -> None:
    for warning in getattr(network, "warnings", ()):
        echo(warning.format(), sys.stderr)


def load(args: argparse.Namespace) -> Any:
    """The spec named on the command line, with its variant and --set params, expanded."""
    from archc.api import load_spec

    outputs = [n.strip() for n in args.outputs.split(",") if n.strip()] if getattr(args, "outputs", None) else None
    params = parse_set(args.set)
    shape = getattr(args, "input", None)
    if args.spec == "-":
        from archc.api import loads

        network = loads(read_stdin(), args.variant, outputs=outputs, params=params, name="<stdin>", input_shape=shape)
    else:
        network = load_spec(args.spec, args.variant, outputs=outputs, params=params, input_shape=shape)
    show_warnings(network)
    return network


def read_stdin() -> str:
    """A spec from standard input (`archc validate -`), within the spec file size limit."""
    from archc.errors import Location, spec_error
    from archc.spec.limits import DEFAULT_LIMITS

    limit = DEFAULT_LIMITS.max_file_bytes
    raw = sys.stdin.buffer.read(limit + 1)
    if len(raw) > limit:
        raise spec_error(Location("<stdin>", 1, 1), f"spec is larger than {limit:,} bytes (Limits.max_file_bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise spec_error(Location("<stdin>", 1, 1), f"standard input is not valid UTF-8 text (byte 0x{raw[exc.start]:02x})") from None
