"""Reports: the per-node table and JSON summary of an expanded network (no torch).

The totals follow torchinfo's conventions, so the two can be read side by side: parameters
at 4 bytes each, the input at batch 1, and the forward/backward activation estimate as
twice (value and gradient) the outputs of every op that has parameters, in MB of 10^6 bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from archc.ir.graph import Network, Node
from archc.ops.base import Shape

DEFAULT_DEPTH = 3  # torchinfo's default
BYTES_PER_VALUE = 4  # float32
MB = 1e6  # as torchinfo


def shape_text(shapes: tuple[Shape, ...]) -> str:
    return ", ".join("x".join(map(str, s)) for s in shapes)


def human(count: float) -> str:
    """`1.81 G`, `11.69 M`, `9.41 K`, `128`: three significant places, as torchinfo's totals."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(count) >= scale:
            return f"{count / scale:.2f} {unit}"
    return f"{count:,}" if isinstance(count, int) else f"{count:.2f}"


@dataclass(frozen=True)
class Totals:
    """Whole-network figures as torchinfo prints them (batch 1)."""

    params: int
    trainable_params: int
    macs: int
    input_bytes: int
    forward_backward_bytes: int
    param_bytes: int

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.forward_backward_bytes + self.param_bytes


def totals(network: Network) -> Totals:
    # Every parameter a spec declares is learnable (fixed tensors such as LeNet's RBF codes
    # are buffers and not counted as parameters), so all are trainable, as in the built model.
    activations = sum(
        math.prod(node.out_shapes[0]) for _, node in network.graph.walk() if node.is_op and node.own_params > 0
    )
    inputs = sum(math.prod(s) for s in network.input_shapes.values())
    return Totals(
        params=network.total_params, trainable_params=network.total_params, macs=network.total_macs,
        input_bytes=inputs * BYTES_PER_VALUE, forward_backward_bytes=2 * activations * BYTES_PER_VALUE,
        param_bytes=network.total_params * BYTES_PER_VALUE,
    )


def rows(network: Network, max_depth: int | None = None) -> list[dict[str, Any]]:
    result = []
    for path, node in network.graph.walk():
        depth = path.count(".")
        if max_depth is not None and depth >= max_depth:
            continue
        result.append(_row(path, depth, node))
    return result


def kernel_of(node: Node) -> list[int] | None:
    """A conv's or pool's kernel as [h, w] (or [k] for 1-d), else None."""
    kernel = getattr(node.attrs, "kernel", None) if node.is_op else None
    if isinstance(kernel, bool) or kernel is None:
        return None
    if isinstance(kernel, int):
        rank = max(len(node.in_shapes[0]) - 1, 1) if node.in_shapes else 2
        return [kernel] * rank
    if isinstance(kernel, (list, tuple)) and all(isinstance(k, int) for k in kernel):
        return list(kernel)
    return None


def _row(path: str, depth: int, node: Node) -> dict[str, Any]:
    return {
        "name": path,
        "depth": depth,
        "op": node.kind,
        "kernel": kernel_of(node),
        "output_shape": list(node.out_shapes[0]) if len(node.out_shapes) == 1 else [list(s) for s in node.out_shapes],
        # The same shape over the input's symbols: `(H - 1) // 2 + 1` where it follows the input.
        "symbolic_shape": _symbolic(node.out_shapes[0]) if len(node.out_shapes) == 1 else [_symbolic(s) for s in node.out_shapes],
        "params": node.params,
        "macs": node.macs,
    }


def as_json(network: Network, max_depth: int | None = None) -> dict[str, Any]:
    inputs = network.input_shapes
    outputs = network.output_shapes
    t = totals(network)
    return {
        "name": network.name,
        "variant": network.variant,
        "params": network.total_params,
        "trainable_params": t.trainable_params,
        "non_trainable_params": t.non_trainable_params,
        "macs": network.total_macs,
        "input_bytes": t.input_bytes,
        "forward_backward_bytes": t.forward_backward_bytes,
        "param_bytes": t.param_bytes,
        "input_shape": list(next(iter(inputs.values()))) if len(inputs) == 1 else {k: list(v) for k, v in inputs.items()},
        "output_shape": list(next(iter(outputs.values()))) if len(outputs) == 1 else {k: list(v) for k, v in outputs.items()},
        "param_values": {k: list(v) if isinstance(v, tuple) else v for k, v in network.params.items()},
        # The sizes each input takes (archc.shapes): the figures above are at the declared one.
        "input_sizes": {c.name: c.as_json() for c in network.input_constraints},
        "nodes": rows(network, max_depth),
    }


def _symbolic(shape: Any) -> list[Any]:
    return [d if isinstance(d, int) else str(d) for d in getattr(shape, "sym", shape)]


def title(network: Network) -> str:
    return network.name + (f" ({network.variant})" if network.variant else "")


def totals_text(network: Network) -> str:
    ins = ", ".join(f"{k} {shape_text((v,))}" for k, v in network.input_shapes.items())
    outs = ", ".join(
        f"{o.name} {shape_text((o.shape,))}" + (" (training only)" if o.training_only else "") for o in network.graph.outputs
    )
    sizes = "".join(f"\n  takes:  {c.line()}" for c in network.input_constraints)
    return (
        f"{title(network)}: {network.total_params:,} params, {network.total_macs:,} multiply-adds\n"
        f"  input:  {ins}\n  output: {outs}{sizes}"
    )


def statistics_lines(network: Network, raw: bool = False) -> list[str]:
    """torchinfo's footer: parameter split, multiply-adds and the memory estimate."""
    t = totals(network)
    count = (lambda n: f"{n:,}") if raw else (lambda n: f"{human(n)} ({n:,})" if n >= 1000 else f"{n:,}")
    return [
        f"Total params: {count(t.params)}",
        f"Trainable params: {count(t.trainable_params)}",
        f"Non-trainable params: {count(t.non_trainable_params)}",
        f"Total mult-adds: {count(t.macs)}",
        f"Input size (MB): {t.input_bytes / MB:.2f}",
        f"Forward/backward pass size (MB): {t.forward_backward_bytes / MB:.2f}",
        f"Params size (MB): {t.param_bytes / MB:.2f}",
        f"Estimated total size (MB): {t.total_bytes / MB:.2f}",
    ]


HEADER = ("layer", "op", "kernel", "output shape", "params", "mult-adds")


def _cells(network: Network, max_depth: int | None, raw: bool, indent: str) -> list[tuple[str, ...]]:
    number = (lambda n: f"{n:,}") if raw else (lambda n: "--" if n == 0 else human(n))
    cells = []
    for path, node in network.graph.walk():
        depth = path.count(".")
        if max_depth is not None and depth >= max_depth:
            continue
        last = path.rsplit(".", 1)[-1]
        # An unnamed op is numbered by position (its state_dict prefix); its op says more. Block
        # instances of a repeat (`layer1.0`) keep their index: it is how they are reached.
        name = f"({node.op})" if last.isdigit() and node.is_op else last
        kernel = kernel_of(node)
        cells.append((
            indent * depth + name, node.kind, "x".join(map(str, kernel)) if kernel else "",
            shape_text(node.out_shapes), number(node.params), number(node.macs),
        ))
    return cells


def table_text(network: Network, max_depth: int | None = DEFAULT_DEPTH, raw: bool = False) -> str:
    """The summary as text: title, one row per node down to `max_depth` levels (None: all), totals."""
    cells = _cells(network, max_depth, raw, "  ")
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(HEADER)]
    rule = "=" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [rule, title(network), rule, _format_row(HEADER, widths), _format_row(tuple("-" * w for w in widths), widths)]
    lines += [_format_row(c, widths) for c in cells]
    lines += [rule, *statistics_lines(network, raw), rule, totals_text(network)]
    return "\n".join(lines)


def markdown_text(network: Network, max_depth: int | None = DEFAULT_DEPTH, raw: bool = False) -> str:
    """The summary as a Markdown table (GitHub's), with the totals as a list below it."""
    cells = _cells(network, max_depth, raw, "\u2003")  # em spaces: Markdown keeps them
    escape = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = [f"### {escape(title(network))}", "", "| " + " | ".join(HEADER) + " |", "|---|---|---|---|--:|--:|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in cells]
    lines += ["", *(f"- {line}" for line in statistics_lines(network, raw))]
    return "\n".join(lines)


def _shape_cell(shape: Any) -> str:
    if shape and isinstance(shape[0], list):
        return ", ".join("x".join(map(str, s)) for s in shape)
    return "x".join(map(str, shape))


def _format_row(cells: tuple[str, ...], widths: list[int]) -> str:
    left = [c.ljust(w) for c, w in zip(cells[:4], widths[:4])]
    right = [c.rjust(w) for c, w in zip(cells[4:], widths[4:])]
    return "  ".join(left + right).rstrip()
