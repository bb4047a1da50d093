"""Diagnostics: source locations and the one error type a user ever sees."""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_REPORTED = 20


@dataclass(frozen=True)
class Location:
    """A position in a spec file; line and column are 1-based, as editors count."""

    path: str
    line: int
    col: int
    # Where each character of a value is, from here on, when that is not simply further along
    # the line: a value over several lines (a `|` block, a wrapped plain scalar) or one with
    # escapes in double quotes. Not part of the location's identity.
    chars: tuple[tuple[int, int], ...] | None = field(default=None, compare=False, repr=False)

    def shifted(self, offset: int) -> "Location":
        """The location of the character `offset` characters further into the value."""
        if self.chars:
            index = min(max(offset, 0), len(self.chars) - 1)
            line, col = self.chars[index]
            return Location(self.path, line, col, self.chars[index:])
        return Location(self.path, self.line, self.col + offset)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    location: Location
    message: str
    notes: tuple[str, ...] = ()
    severity: str = "error"  # or "warning": a likely mistake in a valid spec

    def format(self) -> str:
        lines = [f"{self.location}: {self.severity}: {self.message}"]
        lines += [f"    note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class SpecError(Exception):
    """One or more user errors in a spec, each with its location."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The same problem reached twice (a bad block used in two places) is reported once.
        self.diagnostics = list(dict.fromkeys(self.diagnostics))
        super().__init__(self.format())

    def format(self) -> str:
        shown = sorted(self.diagnostics, key=_source_order)[:MAX_REPORTED]
        text = "\n".join(d.format() for d in shown)
        rest = len(self.diagnostics) - len(shown)
        if rest > 0:
            text += f"\n... and {rest} more error{'s' if rest > 1 else ''}"
        return text

    def __str__(self) -> str:
        return self.format()


def _source_order(d: Diagnostic) -> tuple[str, int, int]:
    return (d.location.path, d.location.line, d.location.col)


def spec_error(location: Location, message: str, *notes: str) -> SpecError:
    return SpecError([Diagnostic(location, message, tuple(notes))])


class Collector:
    """Gathers independent errors so one run reports them all."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def add(self, error: SpecError) -> None:
        self.diagnostics.extend(error.diagnostics)

    def error(self, location: Location, message: str, *notes: str) -> None:
        self.diagnostics.append(Diagnostic(location, message, tuple(notes)))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(list(self.diagnostics))


class BuildMismatch(RuntimeError):
    """A built model is not the network its spec describes: an archc bug, never the spec's fault."""

    def __init__(self, network: str, problems: list[str]) -> None:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        super().__init__(f"the model built for {network} is not the network its spec describes: {shown}")
        self.problems = problems
