"""The Python API for diagrams: `draw` (DOT source, optionally a rendered file; no torch)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from archc.backends.graphviz import FORMATS, render, to_dot
from archc.files import write_bytes
from archc.ir.load import load_network
from archc.zoo import resolve


def draw(
    path: str | Path, variant: str | None = None, out: str | Path | None = None, fmt: str | None = None,
    depth: int | None = None, *, expand: bool = False, show_params: bool = False, rankdir: str = "TB",
    params: dict[str, Any] | None = None, **more_params: Any,
) -> str:
    """The DOT source of the spec's diagram; with `out`, also the file (svg, png, pdf or dot).

    depth=None draws block instances and repeats as single boxes (`bottleneck x 6`) and
    opens inline groups; depth=N opens N-1 levels of nesting (1: the top level only);
    expand=True opens everything down to single ops. The format follows `out`'s extension
    unless `fmt` is given. Spec params come as keywords, or in `params` for a param whose
    name is one of this function's own keywords. Raises archc.SpecError for a bad spec,
    archc.backends.graphviz.DotNotFound when rendering needs Graphviz's `dot` and it is missing.
    """
    network = load_network(resolve(path), variant, {**(params or {}), **more_params})  # a file or a shipped spec's name
    source = to_dot(network, depth=depth, expand=expand, show_params=show_params, rankdir=rankdir)
    if out is not None:
        write_diagram(source, out, fmt or format_of(out))
    return source


def format_of(out: str | Path) -> str:
    """The diagram format named by a file's extension."""
    ext = Path(out).suffix.lower().lstrip(".")
    if ext == "gv":
        return "dot"
    if ext not in FORMATS:
        raise ValueError(f"cannot tell the diagram format of {str(out)!r}: use one of .{', .'.join(FORMATS)} or give the format")
    return ext


def write_diagram(source: str, out: str | Path, fmt: str) -> None:
    """Render `source` as `fmt` and write it to `out` (rendered before the file is touched; see archc.files)."""
    write_bytes(out, render(source, fmt))
