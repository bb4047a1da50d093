"""Reports: the per-node table and JSON summary of an expanded network (no torch)."""
from __future__ import annotations

from typing import Any

from archc.ir.graph import Network, Node
from archc.ops.base import Shape


def shape_text(shapes: tuple[Shape, ...]) -> str:
    return ", ".join("x".join(map(str, s)) for s in shapes)


def rows(network: Network, max_depth: int | None = None) -> list[dict[str, Any]]:
    result = []
    for path, node in network.graph.walk():
        depth = path.count(".")
        if max_depth is not None and depth >= max_depth:
            continue
        result.append(_row(path, depth, node))
    return result


def _row(path: str, depth: int, node: Node) -> dict[str, Any]:
    return {
        "name": path,
        "depth": depth,
        "op": node.kind,
        "output_shape": list(node.out_shapes[0]) if len(node.out_shapes) == 1 else [list(s) for s in node.out_shapes],
        "params": node.params,
        "macs": node.macs,
    }


def as_json(network: Network, max_depth: int | None = None) -> dict[str, Any]:
    inputs = network.input_shapes
    outputs = network.output_shapes
    return {
        "name": network.name,
        "variant": network.variant,
        "params": network.total_params,
        "macs": network.total_macs,
        "input_shape": list(next(iter(inputs.values()))) if len(inputs) == 1 else {k: list(v) for k, v in inputs.items()},
        "output_shape": list(next(iter(outputs.values()))) if len(outputs) == 1 else {k: list(v) for k, v in outputs.items()},
        "param_values": {k: list(v) if isinstance(v, tuple) else v for k, v in network.params.items()},
        "nodes": rows(network, max_depth),
    }


def totals_text(network: Network) -> str:
    title = network.name + (f" ({network.variant})" if network.variant else "")
    ins = ", ".join(f"{k} {shape_text((v,))}" for k, v in network.input_shapes.items())
    outs = ", ".join(
        f"{o.name} {shape_text((o.shape,))}" + (" (training only)" if o.training_only else "") for o in network.graph.outputs
    )
    return (
        f"{title}: {network.total_params:,} params, {network.total_macs:,} multiply-adds\n"
        f"  input:  {ins}\n  output: {outs}"
    )


def table_text(network: Network, max_depth: int | None = None) -> str:
    data = rows(network, max_depth)
    header = ("name", "op", "output shape", "params", "mult-adds")
    cells = [
        ("  " * r["depth"] + r["name"].rsplit(".", 1)[-1], r["op"], _shape_cell(r["output_shape"]), f"{r['params']:,}", f"{r['macs']:,}")
        for r in data
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = [_format_row(header, widths), _format_row(tuple("-" * w for w in widths), widths)]
    lines += [_format_row(c, widths) for c in cells]
    return "\n".join(lines) + "\n\n" + totals_text(network)


def _shape_cell(shape: Any) -> str:
    if shape and isinstance(shape[0], list):
        return ", ".join("x".join(map(str, s)) for s in shape)
    return "x".join(map(str, shape))


def _format_row(cells: tuple[str, ...], widths: list[int]) -> str:
    left = [c.ljust(w) for c, w in zip(cells[:3], widths[:3])]
    right = [c.rjust(w) for c, w in zip(cells[3:], widths[3:])]
    return "  ".join(left + right).rstrip()
