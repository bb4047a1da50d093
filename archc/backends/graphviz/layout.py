"""Graphviz backend: laying out DOT source with Graphviz's `dot` program (svg, png, pdf)."""
from __future__ import annotations

import shutil

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = (
    "Install Graphviz: 'sudo apt-get install graphviz' (Debian, Ubuntu), 'brew install graphviz' (macOS), "
    "or see https://graphviz.org/download/; '--format dot' writes the DOT source without it"
)


class DotNotFound(Exception):
    """Graphviz's `dot` program is not on PATH."""

    def __init__(self) -> None:
        super().__init__(f"Graphviz's 'dot' program was not found on PATH; it is needed to render diagrams. {INSTALL_HINT}")


def render(source: str, fmt: str) -> bytes:
    """The diagram in `fmt` ("dot" returns the source itself, with no program needed)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown diagram format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode("utf-8")
    if shutil.which("dot") is None:
        raise DotNotFound()
    import graphviz

    try:
        return graphviz.pipe("dot", fmt, source.encode("utf-8"))
    except graphviz.ExecutableNotFound:
        raise DotNotFound() from None
