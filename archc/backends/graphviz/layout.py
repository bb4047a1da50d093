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


class DiagramTooBig(ValueError):
    """A diagram with more boxes and arrows than `dot` lays out in about ten seconds."""

    def __init__(self, statements: int, hint: str = "draw fewer levels (a smaller depth, or expand=False) or write the DOT source (fmt='dot')") -> None:
        self.statements = statements
        super().__init__(
            f"the diagram has {statements:,} boxes and arrows, more than the {MAX_STATEMENTS:,} that Graphviz's dot "
            f"lays out in about 10 seconds (its time grows faster than the size); {hint}"
        )


# dot's layout time grows about as the square of the drawing: a chain of 4,000 boxes (8,000
# statements) takes 5 s, 10,000 boxes took over 100 s. Refused before dot runs, above this.
MAX_STATEMENTS = 8_000


def check_size(source: str) -> None:
    """Raise DiagramTooBig for DOT source with more node and edge statements than MAX_STATEMENTS."""
    # One statement per line (dot.py writes them so); attribute lines of the graph are few.
    if source.count("\n") > MAX_STATEMENTS:
        statements = sum(1 for line in source.splitlines() if line.rstrip().endswith("];"))
        if statements > MAX_STATEMENTS:
            raise DiagramTooBig(statements)


def render(source: str, fmt: str) -> bytes:
    """The diagram in `fmt` ("dot" returns the source itself, with no program needed).

    Raises DiagramTooBig, before running dot, for a diagram too big to lay out in seconds.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown diagram format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode("utf-8")
    check_size(source)
    if shutil.which("dot") is None:
        raise DotNotFound()
    import graphviz

    try:
        return graphviz.pipe("dot", fmt, source.encode("utf-8"))
    except graphviz.ExecutableNotFound:
        raise DotNotFound() from None


# cairo, which renders Graphviz's PNGs, cannot make an image wider or taller than this; dot
# then scales the whole drawing down until it fits, which makes big networks illegible.
CAIRO_MAX_PX = 32767
DEFAULT_DPI = 96


def png_pixels(source: str, dpi: float | None = None) -> tuple[int, int]:
    """The width and height in pixels a PNG of `source` would have before cairo's cap (lays it out once)."""
    check_size(source)
    if shutil.which("dot") is None:
        raise DotNotFound()
    import graphviz

    plain = graphviz.pipe("dot", "plain", source.encode("utf-8")).decode("utf-8", "replace")
    # The first line is `graph SCALE WIDTH HEIGHT`, in inches.
    _, scale, width, height = plain.split("\n", 1)[0].split()[:4]
    per_inch = (dpi or DEFAULT_DPI) * float(scale)
    return round(float(width) * per_inch), round(float(height) * per_inch)
