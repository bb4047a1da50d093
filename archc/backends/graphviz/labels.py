"""Graphviz backend: label text (escaped HTML-like labels) and the short form of op attributes.

`describe` reads an op's attributes generically from its Pydantic schema (a window
`kernel[/stride]`, required fields, a few fields when they differ from their default), so
no op is named here; the op registry stays the one place that knows ops.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from archc.ir.graph import Network, Node
from archc.ops.base import Shape, fmt

from archc.backends.graphviz.escape import Html, html
from archc.backends.graphviz.view import composition, repeated_block

# Optional fields worth a reader's attention when they differ from their default.
_SHOWN_WHEN_SET = frozenset({"groups", "dilation", "p", "dim", "dims", "size", "chunks", "sizes", "mode", "approximate"})
_WINDOW_FIELDS = frozenset({"kernel", "stride", "dilation"})
_MAX_VALUE_CHARS = 28
_GREY = "#666666"


def describe(op_name: str, attrs: Any, spatial: int = 2) -> str:
    """Key attributes in short form: `3x3/2, 64` (conv), `3x3/2` (pool), `4096` (linear), `p=0.2`.

    `spatial` is the number of spatial dims a single int kernel stands for (1 for conv1d).
    """
    if not isinstance(attrs, BaseModel):
        return ""
    fields = type(attrs).model_fields
    parts = [_window(attrs, spatial)] if "kernel" in fields else []
    for name, info in fields.items():
        if name in _WINDOW_FIELDS and name != "dilation":
            continue
        value = getattr(attrs, name)
        if info.is_required() or (name in _SHOWN_WHEN_SET and value != info.default):
            parts.append(_field(name, value))
    return ", ".join(p for p in parts if p)


def _window(attrs: Any, spatial: int) -> str:
    """`3x3/2`: kernel, then stride when it is not 1 (a stride of None means the kernel's)."""
    kernel = _grid(attrs.kernel, spatial)
    stride = getattr(attrs, "stride", 1)
    stride = attrs.kernel if stride is None else stride
    if stride in (1, (1,) * spatial):
        return kernel
    return f"{kernel}/{stride if isinstance(stride, int) else _grid(stride, spatial)}"


def _grid(value: int | tuple[int, ...], spatial: int) -> str:
    return "x".join(map(str, (value,) * spatial if isinstance(value, int) else value))


def _field(name: str, value: Any) -> str:
    if name == "out":
        return str(value)
    text = f"{name}={_value(value)}"
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "\u2026"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def shape_text(shape: Shape) -> str:
    return fmt(shape)


def _small(text: str, size: int = 9, colour: str = _GREY) -> str:
    return f'<font point-size="{size}" color="{colour}">{text}</font>'


def _params_line(node: Node, show_params: bool) -> str:
    return f"<br/>{_small(html(f'{node.params:,} params'))}" if show_params and node.params else ""


def op_text(node: Node) -> str:
    """`conv2d 7x7/2, 64`: the op and its key attributes."""
    assert node.op is not None  # called for op nodes only
    spatial = max(1, len(node.in_shapes[0]) - 1) if node.in_shapes else 2
    return " ".join(filter(None, (node.op, describe(node.op, node.attrs, spatial))))


def op_label(node: Node, show_params: bool) -> Html:
    """`conv1` over `conv2d 7x7/2, 64`; one line for unnamed ops (`conv2d 1x1, 32`: the position
    number is no name a reader needs) and for ops named as themselves (`relu`)."""
    op_line = html(op_text(node))
    if node.name == node.op or node.name.isdigit():
        text = op_line
    elif len(node.inputs) > 1:
        text = f"<b>{html(node.name)}</b> {op_line}"
    else:
        text = f"<b>{html(node.name)}</b><br/>{op_line}"
    return Html(text + _params_line(node, show_params))


def collapsed_label(node: Node, show_params: bool) -> Html:
    """`layer3` / `bottleneck x 6` / the call's arguments: name, what it holds, how it was called.

    The output shape is on the box's outgoing edges, so it is not repeated here.
    """
    repeated = repeated_block(node) if node.block is None else None
    children = node.body.nodes if node.body is not None else ()
    lines: list[str] = []
    if repeated is not None:
        kind = f"{repeated[0]} x {repeated[1]}"
        lines = _args_lines([dict(c.args) for c in children])
    elif node.block is not None:
        runs = ", ".join(b if n == 1 else f"{b} x {n}" for b, n in composition(node))
        kind = f"{node.block} ({runs})" if runs else node.block
        lines = _args_lines([dict(node.args)])
    elif children and len(children) <= _MAX_SEQUENCE and all(c.block is not None or c.is_op for c in children):
        # A short inline sequence: each call on its own line, in order (a 1x1, then a 3x3).
        kind = ""
        lines = [html(op_text(c) if c.is_op else f"{c.block}({_args_text(dict(c.args), _MAX_ARGS)})") for c in children]
    else:
        kind = f"group of {len(children)}"
    # An unnamed node's position number is no name a reader needs.
    heading = [] if node.name.isdigit() else [f"<b>{html(node.name)}</b>"]
    text = "<br/>".join(heading + ([html(kind)] if kind else []) + [_small(line) for line in lines])
    return Html(text + _params_line(node, show_params))


_MAX_ARGS = 4  # per line of a box
_MAX_SEQUENCE = 4  # calls listed one per line


def _args_text(args: dict[str, Any], limit: int) -> str:
    items = [f"{k}={_value(v)}" for k, v in args.items()]
    return ", ".join(items[:limit]) + (", \u2026" if len(items) > limit else "")


def _args_lines(instances: list[dict[str, Any]]) -> list[str]:
    """A block call's arguments, at most two lines; across a repeat's instances a value that
    changes is shown as its values in order (`stride=2|1`)."""
    if not instances or not instances[0]:
        return []
    parts = []
    for key in instances[0]:
        values: list[str] = []
        for args in instances:
            text = _value(args.get(key))
            if text not in values:
                values.append(text)
        shown = "|".join(values[:3]) + ("|\u2026" if len(values) > 3 else "")
        parts.append(f"{key}={shown}")
    rows = [", ".join(parts[i:i + _MAX_ARGS]) for i in range(0, min(len(parts), 2 * _MAX_ARGS), _MAX_ARGS)]
    if len(parts) > 2 * _MAX_ARGS:
        rows[-1] += ", \u2026"
    return [html(r) for r in rows]


def fold_label(run: tuple[Node, ...], repeats: int, show_params: bool) -> Html:
    """A folded run of one op pattern: the ops of one period, then `x N`; parameters of the whole run."""
    ops = " \u203a ".join(op_text(n) for n in run[: len(run) // repeats])  # a chevron between the ops
    params = sum(n.params for n in run)
    line = f"<br/>{_small(html(f'{params:,} params'))}" if show_params and params else ""
    return Html(f"{html(ops)}<br/><b>x {repeats}</b>{line}")


def cluster_label(node: Node) -> Html:
    """The opened node's name, and its block (or `block x N` for a repeat container)."""
    repeated = repeated_block(node)
    kind = node.block or (f"{repeated[0]} x {repeated[1]}" if repeated else "")
    if node.name.isdigit():  # unnamed: what it is, without its position number
        return Html(f"<b>{html(kind)}</b>" if kind else "")
    return Html(f"<b>{html(node.name)}</b>" + (f" {_small(html(kind), 9)}" if kind else ""))


def io_label(name: str, shape: Shape | None, training_only: bool = False) -> Html:
    """An input (shape None: its edges carry it) or an output (with its shape: its edge has none)."""
    note = f"<br/>{_small('<i>training only</i>')}" if training_only else ""
    shape_line = f"<br/>{_small(html(shape_text(shape)), 9)}" if shape is not None else ""
    return Html(f"<b>{html(name)}</b>{shape_line}{note}")


def edge_label(shape: Shape, index: int | None) -> Html:
    prefix = f"[{index}] " if index is not None else ""
    return html(prefix + shape_text(shape))


def title_label(network: Network) -> Html:
    """Name (variant), then totals: the figure's caption."""
    variant = f' <font point-size="12">({html(network.variant)})</font>' if network.variant else ""
    totals = f"{network.total_params:,} params, {_compact(network.total_macs)} multiply-adds"
    return Html(f'<font point-size="16"><b>{html(network.name)}</b></font>{variant}<br/>{_small(html(totals), 10, "#333333")}')


def _compact(n: int) -> str:
    for value, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if n >= value:
            return f"{n / value:.3g}{suffix}"
    return str(n)
