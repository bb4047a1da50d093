"""Emitted block classes are parametric in the block's params: the spec's expressions
(`planes * 4`) and conditions (`if stride != 1 or ...`) are Python in `__init__`, an optional
module is None where its condition fails and `forward` checks for it, as torchvision's
Bottleneck does with its `downsample`. Each is checked on every instance; what cannot be
written so (a condition on `block_index`) falls back to a class per structure.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

import archc
from archc.backends.python.exprs import python_expression
from archc.pysource import Var
from archc.spec.expr import parse_expr

SPECS = Path(__file__).resolve().parent.parent / "specs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def classes(source: str) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef) and node.name[0] != "_"}


def test_resnet_bottleneck_is_one_class_with_its_downsample_condition():
    source = archc.emit(SPECS / "resnet.yaml", "50")
    assert [name for name in classes(source) if name.startswith("Bottleneck")] == ["Bottleneck"]
    assert "def __init__(self, in_channels, planes, stride=1):" in source
    assert "self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)" in source
    assert "        if stride != 1 or in_channels != planes * 4:\n            self.downsample = nn.Sequential(" in source
    assert "            self.downsample = None" in source
    assert "        if self.downsample is not None:\n            downsample = self.downsample(x)" in source
    assert "Bottleneck(256, 128, stride=2), *[Bottleneck(512, 128) for _ in range(3)]" in source
    model = archc.build(SPECS / "resnet.yaml", "50")
    assert model.layer1[1].downsample is None and isinstance(model.layer2[0].downsample, torch.nn.Sequential)


def test_the_class_builds_every_instance_as_the_spec_says(tmp_path):
    """Each instance's structure comes from the condition evaluated in Python at construction:
    compared with the IR's, node by node, for instances that take both branches."""
    path = write(tmp_path, """
        archc: 1
        name: net
        input: [4, 8, 8]
        blocks:
          unit:
            params: {out: null, stride: 1, expand: 1}
            body:
              - conv: conv2d(out * expand, 3, stride=stride, padding=1)
              - proj: {if: expand != 1, op: "conv2d(out, 1)"}
              - shortcut: {from: input, if: stride != 1 or in_channels != out, op: "conv2d(out, 1, stride=stride)"}
              - add: {op: add, from: [proj, shortcut]}
        body:
          - {repeat: 4, op: "unit(4 + 4 * (i // 2), stride=1 + i % 2, expand=1 + i % 3)"}
    """)
    source = archc.emit(path)
    assert list(classes(source)) == ["Unit", "Net"]
    assert "if expand != 1:" in source and "if stride != 1 or in_channels != out:" in source
    network = archc.load_spec(path)
    model = archc.build(path, seed=0)
    expected = {p for p, n in network.graph.walk() if n.op == "conv2d"}
    built = {name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert built == expected
    x = torch.randn(2, 4, 8, 8)
    assert model(x).shape == (2, *network.output_shapes["output"])


def test_an_optional_functional_node_is_a_flag(tmp_path):
    path = write(tmp_path, """
        archc: 1
        name: net
        input: [4, 8, 8]
        blocks:
          unit:
            params: {stride: 1}
            body:
              - conv: conv2d(4, 3, stride=stride, padding=1)
              - add: {op: add, from: [conv, input], if: stride == 1}
        body: [unit, "unit(stride=2)", unit]
    """)
    source = archc.emit(path)
    assert "self.use_add = stride == 1" in source and "if self.use_add:" in source
    model = archc.build(path, seed=0).eval()
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        a = model[0].conv(x) + x if hasattr(model, "__getitem__") else None
        first = getattr(model, "0")
        a = first.conv(x) + x
        b = getattr(model, "1").conv(a)
        c = getattr(model, "2").conv(b) + b
        torch.testing.assert_close(model(x), c, rtol=0, atol=0)
    assert first.use_add and not getattr(model, "1").use_add


def test_a_condition_that_python_cannot_restate_keeps_a_class_per_structure(tmp_path):
    path = write(tmp_path, """
        archc: 1
        name: net
        input: [4, 8, 8]
        blocks:
          unit:
            body:
              - conv: conv2d(4, 3, padding=1)
              - extra: {if: block_index == 0, op: "conv2d(4, 1)"}
        body: [unit, unit]
    """)
    source = archc.emit(path)
    assert len([name for name in classes(source) if name.startswith("Unit")]) == 2  # one per structure
    model = archc.build(path)
    assert hasattr(getattr(model, "0"), "extra") and not hasattr(getattr(model, "1"), "extra")


def test_strings_in_conditions_reach_the_source_only_as_literals(tmp_path):
    payload = "x' or __import__('os').system('touch /tmp/archc-security-marker') or '"
    spec = {
        "archc": 1, "name": "net", "input": [4, 8, 8],
        "blocks": {"unit": {"params": {"mode": "'a'"}, "body": [
            {"conv": "conv2d(4, 3, padding=1)"},
            {"extra": {"if": "mode == " + repr(payload), "op": "conv2d(4, 1)"}},
        ]}},
        "body": ["unit", "unit(mode=" + repr(payload) + ")"],
    }
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(spec))
    source = archc.emit(path)
    assert "if mode == " in source  # the condition is Python, with the payload as a string constant
    tree = ast.parse(source)
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert payload in texts
    assert not any(isinstance(n, ast.Attribute) and n.attr == "system" for n in ast.walk(tree))
    model = archc.build(path)
    assert hasattr(getattr(model, "1"), "extra") and getattr(model, "0").extra is None
    assert not Path("/tmp/archc-security-marker").exists()


@pytest.mark.parametrize("text", [
    "-(2 ** a)", "(-a) ** 2", "2 ** -a", "a - (b - c)", "a - b - c", "(a if c else b) + 1", "a if c else b + 1",
    "not (a and b)", "not a and b", "a < b < c", "(1, 2, a)[a % 3]", "min(a, b) * 2", "(a + b) * c",
    "a // b * c", "a // (b * c)", "a ** b ** 2", "(a ** b) ** 2", "a / b", "-a // b", "a in [1, 2]",
    "a != 1 or b != c * 4", "[a, b] == [1, 2]", "true and not false", "null is null if false else a",
])
def test_python_expressions_evaluate_as_the_spec_does(text):
    env = {"a": 3, "b": 2, "c": 5}
    try:
        expected = parse_expr(text).evaluate(env)
    except Exception:  # noqa: BLE001 - outside the language (`is`): the writer must give None
        assert python_expression(text, {k: Var(k) for k in env}, {}) is None
        return
    written = python_expression(text, {k: Var(k) for k in env}, {})
    assert written is not None
    assert eval(written, {"__builtins__": {"min": min}}, dict(env)) == expected  # noqa: S307
