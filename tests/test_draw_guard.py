"""A diagram too big for Graphviz to lay out in seconds is refused before `dot` runs."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import archc
from archc.backends.graphviz import DiagramTooBig, to_dot
from archc.backends.graphviz.layout import MAX_STATEMENTS, render
from archc.cli import main

SPECS = Path(__file__).resolve().parent.parent / "specs"
SPEC = "archc: 1\nname: net\ninput: [8]\nbody:\n  - l: {repeat: 5000, op: relu}\n"


def test_a_huge_expanded_drawing_is_refused_quickly(tmp_path, capsys):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC)
    start = time.perf_counter()
    assert main(["draw", str(path), "--expand", "-o", str(tmp_path / "x.svg")]) == 1
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert "archc draw: error: the diagram has 10,00" in err and "--depth" in err and "--format dot" in err
    assert not (tmp_path / "x.svg").exists()
    with pytest.raises(DiagramTooBig, match="boxes and arrows"):
        archc.draw(path, out=tmp_path / "x.svg", expand=True)
    # The DOT source is still there for whoever wants to lay it out, and the folded drawing is small.
    assert archc.draw(path, out=tmp_path / "x.dot", expand=True).count("->") > 5000
    assert main(["draw", str(path), "-o", str(tmp_path / "folded.dot")]) == 0


def test_the_limit_counts_statements_not_characters():
    network = archc.load_spec(SPECS / "densenet.yaml", "121")
    source = to_dot(network, expand=True)
    assert source.count("\n") < MAX_STATEMENTS  # the largest shipped drawings pass
    chain = "digraph g {\n" + "".join(f'  "n{k}" [label="x"];\n  "n{k}" -> "n{k + 1}" [weight=4];\n' for k in range(MAX_STATEMENTS // 2 + 1)) + "}\n"
    with pytest.raises(DiagramTooBig):
        render(chain, "svg")
