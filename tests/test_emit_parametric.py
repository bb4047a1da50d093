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


def test_helpers_in_expressions_are_carried_by_the_file_and_equal_the_spec_s(tmp_path):
    path = write(tmp_path, """
        archc: 1
        name: net
        input: [8, 8, 8]
        params: {width: 0.75}
        blocks:
          unit:
            params: {channels: null}
            body:
              - conv: conv2d(make_divisible(channels * width, 4), 3, padding=1)
              - bn: batchnorm2d
        body: ["unit(8)", "unit(20)", "unit(36)"]
    """)
    source = archc.emit(path)
    assert "make_divisible(channels * 0.75, divisor=4)" in source or "make_divisible(channels * 0.75, 4)" in source
    namespace: dict = {}
    exec(compile(source, "net.py", "exec"), namespace)  # noqa: S102
    for args in [(32 * 0.5,), (16 * 1.4,), (3.2, 4), (10, 8, 16), (0.1,)]:
        spec_text = "make_divisible(" + ", ".join(map(repr, args)) + ")"
        assert namespace["make_divisible"](*args) == parse_expr(spec_text).evaluate({})
    model, built = namespace["create"](), archc.build(path)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in built.state_dict().items()}


def test_a_call_a_parameter_shadows_is_not_written():
    assert python_expression("max(a, 2)", {"a": Var("a")}, {}) == "max(a, 2)"
    assert python_expression("max(a, 2)", {"a": Var("a")}, {}, frozenset({"max"})) is None
    assert python_expression("make_divisible(a * 2, divisor=4)", {"a": Var("a")}, {}) == "make_divisible(a * 2, divisor=4)"
    assert python_expression("ceil(a / 2)", {"a": Var("a")}, {}) == "math.ceil(a / 2)"


def test_create_refuses_params_the_file_resolved():
    namespace: dict = {}
    exec(compile(archc.emit(SPECS / "resnet.yaml"), "resnet.py", "exec"), namespace)  # noqa: S102
    assert namespace["PARAMS"] == ("num_classes",)
    with pytest.raises(ValueError, match=r"'layers' is no parameter of this file: `archc emit --set layers=\.\.\.`"):
        namespace["create"]("50", layers=[1, 1, 1, 1])
    with torch.device("meta"):
        assert namespace["create"]("101", num_classes=7).fc.out_features == 7


def test_a_block_param_named_as_a_soft_keyword_still_builds(tmp_path):
    path = write(tmp_path, """
        archc: 1
        name: net
        input: [4, 8, 8]
        blocks:
          unit:
            params: {match: 1}
            body:
              - conv: conv2d(4 * match, 3, padding=1)
              - extra: {if: match != 1, op: "conv2d(4, 1)"}
        body: [unit, "unit(match=2)"]
    """)
    model = archc.build(path)
    assert getattr(model, "0").conv.out_channels == 4 and getattr(model, "1").conv.out_channels == 8
    assert model(torch.randn(1, 4, 8, 8)).shape == (1, 4, 8, 8)


def test_emitted_source_does_not_depend_on_the_hash_seed():
    """Sets of names iterate in an order that depends on PYTHONHASHSEED: emitted text must not."""
    import os
    import subprocess
    import sys

    code = "import archc, sys; sys.stdout.write(archc.emit('resnet') + archc.emit('senet') + archc.emit('convnext'))"
    texts = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")]
    assert texts[0] and texts[0] == texts[1] == texts[2]


@pytest.mark.parametrize("body", [
    # An empty repeat given two inputs is an nn.Identity: it passes the first on.
    [{"n0": {"from": ["input", "input"], "repeat": 0, "op": "adaptive_avgpool2d"}}],
    # An unnamed learnable tensor is registered as a parameter under its index.
    [{"from": "input", "op": "layer_scale"}],
])
def test_specs_the_fuzzer_found_build_and_run(tmp_path, body):
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump({"archc": 1, "name": "fuzz", "input": [3, 8, 8], "body": body}))
    network = archc.load_spec(path)
    model = archc.build(path, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 8, 8))
    assert out.shape == (2, *network.output_shapes[next(iter(network.output_shapes))])
    assert sum(p.numel() for p in model.parameters()) == network.total_params
