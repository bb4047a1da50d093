"""Graphviz backend: escaping, so no name, variant or attribute can change the DOT it lands in.

Every label is an HTML-like label (`label=<...>`), whose text rules are simple: XML entities
for `& < > "`, and a doubled backslash, because Graphviz expands `\\N`, `\\G` and friends
even inside HTML labels (an entity such as `&#92;` does not help: it is decoded first).
Control characters are shown as Python-style escapes (`\\n`) rather than breaking a line, so
what a reader sees is the name as written. Node and cluster ids are quoted strings built
from a safe alphabet, so quotes and backslashes never reach an id.
"""
from __future__ import annotations

from urllib.parse import quote

# Characters that stay readable in ids; everything else is percent-encoded (injective).
_ID_SAFE = "._:-"


class Html(str):
    """Text that is already a well-formed HTML-like label body (escaped, balanced tags)."""


def html(text: object) -> Html:
    """`text` as literal characters inside an HTML-like label."""
    shown = "".join(_visible(c) for c in str(text))
    shown = shown.replace("\\", "\\\\")
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        shown = shown.replace(raw, entity)
    return Html(shown)


def _visible(char: str) -> str:
    """Control characters as escapes (`\\n`, `\\x07`), every other character unchanged."""
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if ord(char) < 32 or 0x7F <= ord(char) < 0xA0:
        return f"\\x{ord(char):02x}"
    return char


def dot_id(kind: str, path: str) -> str:
    """A quoted DOT id such as `"n:layer1.0.conv1"`, unique per (kind, path)."""
    return f'"{kind}:{quote(path, safe=_ID_SAFE)}"'


def attr_value(value: object) -> str:
    """An attribute value: HTML labels as `<...>`, numbers bare, other text quoted and escaped."""
    if isinstance(value, Html):
        return f"<{value}>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = "".join(_visible(c) for c in str(value))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
