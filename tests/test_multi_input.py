"""Blocks of several inputs (`inputs: [x, x_prev]`), through every stage: expansion, shapes,
the emitted source, the built model (against a hand-written module), and the diagram."""
import re

import pytest
import torch
from torch import nn

import archc
from archc.spec.expr import parse_expr

SPEC = """
archc: 1
name: cells
input: [3, 8, 8]
blocks:
  cell:
    inputs: [x, x_prev]
    params: {out: null, project: "x_prev_channels != out"}
    body:
      - left: {op: "conv2d(out, 1, bias=false)", from: x_prev, if: project}
      - right: {op: "conv2d(out, 3, padding=1)", from: x}
      - {op: add, from: [right, left]}
body:
  - c0: conv2d(4, 3, padding=1)
  - c1: conv2d(6, 3, stride=1, padding=1)
  - cell_0: {op: cell(6), from: [c1, c0]}
  - cell_1: {op: cell(6), from: [cell_0, c1]}
  - {repeat: 2, body: [{"cell_{i + 2}": {op: cell(6), from: ["cell_{i + 1}", "cell_{i}"]}}]}
  - stage: [{first: {op: cell(6), from: [input, input]}}, {second: {op: cell(6), from: [first, input]}}]
  - pool: adaptive_avgpool2d(1)
"""


class Cell(nn.Module):
    """The block written by hand: `left` only where x_prev's channels differ from `out`."""

    def __init__(self, x_channels, prev_channels, out):
        super().__init__()
        self.left = nn.Conv2d(prev_channels, out, 1, bias=False) if prev_channels != out else None
        self.right = nn.Conv2d(x_channels, out, 3, padding=1)

    def forward(self, x, x_prev):
        return self.right(x) + (self.left(x_prev) if self.left is not None else x_prev)


class Stage(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Cell(6, 6, 6)
        self.second = Cell(6, 6, 6)

    def forward(self, x):
        first = self.first(x, x)
        return self.second(first, x)


class Cells(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(3, 4, 3, padding=1)
        self.c1 = nn.Conv2d(4, 6, 3, padding=1)
        self.cell_0 = Cell(6, 4, 6)
        for i in range(1, 4):
            setattr(self, f"cell_{i}", Cell(6, 6, 6))
        self.stage = Stage()

    def forward(self, x):
        c0 = self.c0(x)
        c1 = self.c1(c0)
        cells = [self.cell_0(c1, c0)]
        cells.append(self.cell_1(cells[0], c1))
        cells.append(self.cell_2(cells[1], cells[0]))
        cells.append(self.cell_3(cells[2], cells[1]))
        return nn.functional.adaptive_avg_pool2d(self.stage(cells[3]), 1)


def test_shapes_and_counts_read_every_input():
    network = archc.loads(SPEC)
    assert network.graph.lint() == []
    cell_0, cell_1 = network.graph.node("cell_0"), network.graph.node("cell_1")
    assert [str(r) for r in cell_0.inputs] == ["c1", "c0"] and cell_0.in_shapes == ((6, 8, 8), (4, 8, 8))
    assert cell_0.body.inputs == (("x", (6, 8, 8)), ("x_prev", (4, 8, 8)))
    # x_prev_channels decides the structure: only cell_0 reads a 4-channel x_prev.
    assert [n.name for n in cell_0.body.nodes] == ["left", "right", "2"]
    assert [n.name for n in cell_1.body.nodes] == ["right", "1"]
    assert network.total_params == archc.loads(SPEC).total_params == sum(p.numel() for p in Cells().parameters())


def test_built_model_equals_a_hand_written_module():
    model = archc.build(archc.loads(SPEC)).eval()
    reference = Cells().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=1e-6)


def test_emitted_source_passes_inputs_by_name(tmp_path):
    source = archc.emit(_write(tmp_path))
    assert "def forward(self, x, x_prev):" in source
    assert "self.cell_1(cell_0, c1)" in source
    # A group of multi-input blocks is never an nn.Sequential chain.
    assert "self.stage = nn.Sequential" not in source and re.search(r"self\.second\(\w+, x\)", source)


def test_diagram_connects_both_inputs(tmp_path):
    dot = archc.draw(_write(tmp_path), depth=2)
    assert '"n:c0" -> "n:cell_0.left"' in dot and '"n:c1" -> "n:cell_0.right"' in dot
    collapsed = archc.draw(_write(tmp_path))
    assert '"n:c1" -> "n:cell_0"' in collapsed and '"n:c0" -> "n:cell_0"' in collapsed


@pytest.mark.parametrize("size,kernel,stride", [(165, 3, 2), (42, 3, 2), (42, 5, 2), (83, 7, 2), (21, 5, 2), (11, 3, 1), (8, 4, 3)])
def test_same_pad_is_timms_same_padding(size, kernel, stride):
    from timm.layers.padding import get_same_padding

    total_h = get_same_padding(size, kernel, stride, 1)
    total_w = get_same_padding(size + 1, kernel, stride, 1)
    expected = (total_w // 2, total_w - total_w // 2, total_h // 2, total_h - total_h // 2)
    assert parse_expr(f"same_pad([3, {size}, {size + 1}], {kernel}, {stride})").evaluate({}) == expected


def _write(folder) -> str:
    path = folder / "cells.yaml"
    path.write_text(SPEC)
    return str(path)
