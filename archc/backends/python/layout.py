"""Python source backend: calls as small trees, laid out within a line width.

`Call("nn.Sequential", [a, b])` renders on one line when it fits, and otherwise with one
argument per line, as black would write it. Leaves are source text that was already made
safe (a literal from the literal writer, a name from a namespace, or a slot marker).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

WIDTH = 120
INDENT = "    "

Item = Union["Call", str]


@dataclass
class Call:
    fn: str
    args: list[Item] = field(default_factory=list)
    kwargs: list[tuple[str, Item]] = field(default_factory=list)
    # `nn.Sequential(*[Block(...) for _ in range(3)])`: rendered as written, a starred comprehension.
    brackets: str = "()"
    sep: str = ", "  # " " for a comprehension: `[Block(...) for _ in range(3)]`

    def flat(self) -> str:
        parts = [flat(a) for a in self.args] + [f"{k}={flat(v)}" for k, v in self.kwargs]
        return f"{self.fn}{self.brackets[0]}{self.sep.join(parts)}{self.brackets[1]}"


def flat(item: Item) -> str:
    return item if isinstance(item, str) else item.flat()


def render(item: Item, indent: str, first_width: int) -> str:
    """`item` laid out for a line that starts at `indent` and has `first_width` columns left."""
    one_line = flat(item)
    if isinstance(item, str) or len(_visible(one_line)) <= first_width:
        return one_line
    if item.sep != ", ":
        suffix = " ".join(flat(a) for a in item.args[1:])
        inner = render(item.args[0], indent, first_width - len(item.fn) - 3 - len(suffix))
        return f"{item.fn}{item.brackets[0]}{inner} {suffix}{item.brackets[1]}"
    hugged = _hug(item, indent, first_width)
    if hugged is not None:
        return hugged
    inner = indent + INDENT
    lines = []
    for arg in item.args:
        lines.append(inner + render(arg, inner, WIDTH - len(inner) - 1) + ",")
    for key, value in item.kwargs:
        lines.append(inner + f"{key}=" + render(value, inner, WIDTH - len(inner) - len(key) - 2) + ",")
    return f"{item.fn}{item.brackets[0]}\n" + "\n".join(lines) + f"\n{indent}{item.brackets[1]}"


def _hug(item: Call, indent: str, first_width: int) -> str | None:
    """`nn.Sequential(OrderedDict([` ... `]))` and `('name', nn.Sequential(` ... `))`: a call
    whose last argument is the only long one opens that argument on its own first line."""
    last = item.args[-1] if item.args else None
    if item.kwargs or not isinstance(last, Call) or last.sep != ", " or not all(isinstance(a, str) for a in item.args[:-1]):
        return None
    head = f"{item.fn}{item.brackets[0]}" + "".join(f"{a}, " for a in item.args[:-1])
    if len(_visible(head)) + len(last.fn) + 2 > first_width:
        return None
    return head + render(last, indent, first_width - len(_visible(head)) - 1) + item.brackets[1]


def _visible(text: str) -> str:
    """Text without slot markers' delimiters: a slot renders about as long as its value."""
    return text.replace("\x00", "")


def substitute(item: Item, fill: Callable[[str], Item | None]) -> Item:
    """The tree with every leaf passed through `fill` (slot markers become names or literals);
    a keyword argument whose value `fill` turns into None is left out (it is the default)."""
    if isinstance(item, str):
        return fill(item) or ""
    kwargs = [(k, substitute(v, fill)) for k, v in item.kwargs if isinstance(v, Call) or fill(v) is not None]
    return Call(item.fn, [substitute(a, fill) for a in item.args], kwargs, item.brackets, item.sep)


def compress_runs(item: Item) -> Item:
    """`nn.Sequential(a, b, b, b)` -> `nn.Sequential(a, *[b for _ in range(3)])`, bottom up."""
    if isinstance(item, str):
        return item
    args = [compress_runs(a) for a in item.args]
    kwargs = [(k, compress_runs(v)) for k, v in item.kwargs]
    if item.fn == "nn.Sequential":
        runs: list[Item] = []
        texts = [flat(a) for a in args]
        i = 0
        while i < len(args):
            j = i
            while j + 1 < len(args) and texts[j + 1] == texts[i]:
                j += 1
            count = j - i + 1
            if texts[i].startswith("*"):
                runs.extend(args[i:j + 1])  # already unpacked: Python cannot unpack inside a comprehension
            else:
                runs.append(Call("*", [args[i], f"for _ in range({count})"], brackets="[]", sep=" ") if count > 2 else args[i])
                if count == 2:
                    runs.append(args[i])
            i = j + 1
        args = runs
    return Call(item.fn, args, kwargs, item.brackets, item.sep)
