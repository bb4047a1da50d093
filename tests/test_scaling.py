"""Large specs: what made loading and building slow must not change what they produce."""
from __future__ import annotations

from pathlib import Path

import archc

BLOCK = (
    "archc: 1\nname: net\ninput: [8]\nparams:\n  widths: {widths}\nblocks:\n  unit:\n    params: {{w: null}}\n"
    "    body: [linear(w), relu, linear(8), relu]\nbody:\n  - units: {{repeat: {count}, op: \"unit(widths[i])\"}}\n"
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return path


def test_repeated_runs_of_instances_build(tmp_path):
    """Runs of instances (8, 9, 10, 11) that repeat are emitted as valid Python (no nested unpacking)."""
    widths = [8, 9, 10, 11] * 4
    model = archc.build(write(tmp_path, BLOCK.format(widths=widths, count=len(widths))))
    assert [unit[0].out_features for unit in model.units] == widths


def test_a_list_param_read_by_every_instance_gives_each_its_own_entry(tmp_path):
    widths = [8 + (k * 7) % 5 for k in range(300)]
    network = archc.load_spec(write(tmp_path, BLOCK.format(widths=widths, count=len(widths))))
    units = network.graph.nodes[0].body.nodes
    assert [unit.body.nodes[0].out_shapes[0][0] for unit in units] == widths


def test_a_list_param_built_from_yaml_aliases(tmp_path):
    text = (
        "archc: 1\nname: net\ninput: [8]\nparams:\n  a: &a [8, 9, 10]\n  b: [*a, *a, [4, 5, 6]]\n"
        "body:\n  - l: {repeat: 9, op: \"linear(b[i // 3][i % 3])\"}\n"
    )
    network = archc.load_spec(write(tmp_path, text))
    assert [n.out_shapes[0][0] for n in network.graph.nodes[0].body.nodes] == [8, 9, 10, 8, 9, 10, 4, 5, 6]
