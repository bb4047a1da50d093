"""User errors: each reported as PATH:LINE:COL: error: MESSAGE at the right place."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import archc
from archc import SpecError

HEADER = """\
archc: 1
name: bad
input: [3, 32, 32]
"""


def diagnose(tmp_path: Path, body: str, header: str = HEADER, **params) -> list[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(header + textwrap.dedent(body))
    with pytest.raises(SpecError) as exc:
        archc.load_spec(path, **params)
    lines = str(exc.value).splitlines()
    for line in lines:
        assert re.match(r"^(\S+:\d+:\d+: error: |    note: |\.\.\. and \d+ more)", line), line
    return [line.replace(str(path), "F") for line in lines]


@pytest.mark.parametrize("body,expected", [
    # misspelt op, with a hint
    ("body:\n  - conv1: conv2x(64, 3)\n", "F:5:12: error: unknown op or block 'conv2x'; did you mean 'conv2d'?"),
    # reference to a node that does not exist / comes later
    ("body:\n  - a: relu\n  - b: {op: relu, from: aa}\n", "F:6:25: error: unknown node 'aa'; did you mean 'a'?"),
    ("body:\n  - a: {op: relu, from: b}\n  - b: relu\n", "F:5:25: error: node 'b' is defined later (at F:6:5); a node can only read earlier nodes"),
    # misspelt key in a node, with the allowed keys
    ("body:\n  - a: {op: relu, form: x}\n", "F:5:19: error: unknown key 'form'; did you mean 'from'?"),
    # bad argument name and bad values
    ("body:\n  - c: conv2d(8, 3, strid=2)\n", "F:5:21: error: conv2d 'c' has no argument 'strid'; did you mean 'stride'?"),
    ("body:\n  - c: conv2d(-8, 3)\n", "F:5:15: error: conv2d 'c': out: input should be greater than or equal to 1, got -8"),
    ("body:\n  - d: dropout(1.5)\n", "F:5:16: error: dropout 'd': p: input should be less than or equal to 1, got 1.5"),
    # expressions
    ("params: {width: 8}\nbody:\n  - c: conv2d(widht, 3)\n", "F:6:15: error: in expression 'widht': unknown name 'widht'; did you mean 'width'?"),
    ("body:\n  - c: conv2d(8 // 0, 3)\n", "error: in expression '8 // 0': division by zero"),
    ("body:\n  - c: conv2d(__import__('os'), 3)\n", "unknown function '__import__'"),
    # shape mismatches, at the node that causes them, with the shapes involved
    ("body:\n  - a: conv2d(8, 1)\n  - b: {op: \"conv2d(4, 1)\", from: input}\n  - s: {op: add, from: [a, b]}\n",
     "F:7:13: error: add 's': add needs inputs of one shape, got 8x32x32, 4x32x32"),
    ("body:\n  - a: conv2d(8, 1, stride=2)\n  - c: {op: concat, from: [a, input]}\n",
     "F:6:13: error: concat 'c': concat along dim 1 needs inputs equal in every other dim, got 8x16x16, 3x32x32"),
    ("body:\n  - f: flatten\n  - fc: linear(10, in_features=256)\n", "F:6:9: error: linear 'fc': expected 256 input features, got 3072"),
    ("body:\n  - p: maxpool2d(64)\n", "F:5:8: error: maxpool2d 'p': spatial size 32x32 is too small for kernel 64x64"),
    ("body:\n  - c: conv2d(8, 3, groups=2)\n", "groups=2 must divide both the 3 input channels and the 8 output channels"),
    ("body:\n  - fc: linear(10)\n", "F:5:9: error: linear 'fc': expected a feature vector, got 3x32x32; flatten first to get 3072 features"),
])
def test_error_location_and_message(tmp_path, body, expected):
    lines = diagnose(tmp_path, body)
    assert any(expected in line for line in lines), lines


def test_note_lines_carry_the_shapes(tmp_path):
    lines = diagnose(tmp_path, "body:\n  - a: conv2d(8, 1)\n  - s: {op: add, from: [a, input]}\n")
    assert lines[1] == "    note: inputs: 8x32x32 from 'a', 3x32x32 from 'input'"


def test_duplicate_yaml_keys_point_at_both(tmp_path):
    lines = diagnose(tmp_path, "params: {a: 1}\nparams: {a: 2}\nbody: [relu]\n")
    assert lines == ["F:5:1: error: duplicate key 'params'", "    note: first defined at F:4:1"]


def test_duplicate_node_names(tmp_path):
    lines = diagnose(tmp_path, "body:\n  - a: relu\n  - a: relu\n")
    assert lines == ["F:6:5: error: duplicate node name 'a'", "    note: first defined at F:5:5"]


def test_python_tags_are_refused(tmp_path):
    lines = diagnose(tmp_path, "body: !!python/object/apply:os.system ['echo hacked']\n")
    assert "unsupported YAML tag" in lines[0] and lines[0].startswith("F:4:7:")


def test_unknown_variant_and_param(tmp_path):
    header = HEADER + "params: {depth: 1}\nvariants: {small: {depth: 1}}\ndefault_variant: small\n"
    path = tmp_path / "v.yaml"
    path.write_text(header + "body: [relu]\n")
    with pytest.raises(SpecError, match="unknown variant 'smal'; did you mean 'small'"):
        archc.load_spec(path, "smal")
    with pytest.raises(SpecError, match="unknown param 'dept'; did you mean 'depth'"):
        archc.load_spec(path, dept=2)


def test_several_independent_errors_in_one_run(tmp_path):
    lines = diagnose(tmp_path, "bogus: 1\nbody:\n  - a: {op: relu, frm: x}\n  - 7\n")
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 3, lines
    assert [e.split(":")[1] for e in errors] == ["4", "6", "7"]  # source order


def test_missing_and_wrong_top_level(tmp_path):
    lines = diagnose(tmp_path, "", header="archc: 1\ninput: [3, 4, 4]\n")
    assert any("missing required key 'name'" in line for line in lines)
    assert any("missing required key 'body'" in line for line in lines)
    lines = diagnose(tmp_path, "", header="- 1\n- 2\n")
    assert lines == ["F:1:1: error: a spec must be a mapping at the top level, got list"]


def test_yaml_syntax_error_has_position(tmp_path):
    lines = diagnose(tmp_path, "body: [relu\n", header=HEADER)
    assert lines[0].startswith("F:5:1: error: invalid YAML")


def test_commas_in_flow_lists_get_a_hint(tmp_path):
    lines = diagnose(tmp_path, "body: [conv2d(8, 3), relu]\n")
    assert lines[0].startswith("F:4:8: error: unbalanced parentheses in 'conv2d(8'")
    assert "quotes" in lines[0]


def test_name_clashing_with_module_attribute(tmp_path):
    lines = diagnose(tmp_path, "body:\n  - training: relu\n")
    assert "would clash with the module attribute 'training'" in lines[0]


def test_every_call_split_by_flow_commas_is_reported_once(tmp_path):
    """Inception v3 by a new user: eight calls unquoted inside [...], all reported in one run."""
    lines = diagnose(tmp_path, """\
        body:
          - a: [conv2d(4, 3), relu]
          - b: [conv2d(4, 3), relu]
          - c: [conv2d(4, 1, bias=false), relu]
    """)
    hint = "inside YAML [...] and {...} commas split values, so write calls with several arguments in quotes there"
    assert lines == [f"F:{n}:9: error: unbalanced parentheses in 'conv2d(4': {hint}" for n in (HEADER.count("\n") + 2, HEADER.count("\n") + 3, HEADER.count("\n") + 4)]
