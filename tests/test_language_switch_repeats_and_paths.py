"""Language 1.1: switch/else, named repeat indices, the block's own input, param expressions,
`from` templates and paths into groups, every block checked, custom ops from Python."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import archc
from archc import SpecError
from archc.ops import OPS
from archc.ops.base import Attrs, Op, Shape, Var, call
from archc.ops.plugins import load_entry_points, unregister_op

HEADER = "archc: 1\nname: t\ninput: [3, 8, 8]\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(header + textwrap.dedent(body))
    return path


def diagnose(tmp_path: Path, body: str, header: str = HEADER, **params) -> list[str]:
    path = write(tmp_path, body, header)
    with pytest.raises(SpecError) as exc:
        archc.load_spec(path, **params)
    return [line.replace(str(path), "F") for line in str(exc.value).splitlines()]


def ops_of(net) -> list[tuple[str, str]]:
    return [(p, n.op) for p, n in net.graph.walk() if n.op]


# switch / else ---------------------------------------------------------------------------

SWITCH = """\
params: {act: relu}
body:
  - conv: conv2d(4, 1)
  - act:
      switch:
        - {if: "act == 'relu'", op: relu}
        - {if: "act == 'gelu'", op: gelu}
      else: identity
  - {if: "act == 'relu'", op: sigmoid, else: tanh}
"""


@pytest.mark.parametrize("act, expected", [("relu", ["relu", "sigmoid"]), ("gelu", ["gelu", "tanh"]), ("mish", ["identity", "tanh"])])
def test_switch_takes_the_first_case_that_holds_and_else_otherwise(tmp_path, act, expected):
    net = archc.load_spec(write(tmp_path, SWITCH), act=act)
    assert ops_of(net) == [("conv", "conv2d"), ("act", expected[0]), ("2", expected[1])]


def test_switch_without_else_is_absent_when_no_case_holds(tmp_path):
    body = "params: {act: x}\nbody:\n  - conv: conv2d(4, 1)\n  - act: {switch: [{if: \"act == 'relu'\", op: relu}]}\n  - out: {op: add, from: [conv, act]}\n"
    net = archc.load_spec(write(tmp_path, body))
    assert [n.inputs for _, n in net.graph.walk() if n.name == "out"][0][1].node == "conv"


def test_switch_case_with_a_body_and_its_own_from(tmp_path):
    body = """\
        params: {down: true}
        body:
          - conv: conv2d(4, 1)
          - short:
              switch:
                - {if: down, from: input, body: ["conv2d(4, 1)", batchnorm2d]}
              else: {op: identity, from: conv}
          - add: {op: add, from: [conv, short]}
    """
    model = archc.build(write(tmp_path, body))
    assert set(model.state_dict()) >= {"short.0.weight", "short.1.weight"}
    assert ops_of(archc.load_spec(write(tmp_path, body), down=False))[-2] == ("short", "identity")


@pytest.mark.parametrize("body, message", [
    ("body:\n  - a: {switch: [{op: relu}]}\n", "F:5:18: error: node 'a': each 'switch' case is an unnamed mapping with an 'if'"),
    ("body:\n  - a: {op: relu, else: gelu}\n", "F:5:8: error: node 'a': 'else' goes with 'if' or 'switch'"),
    ("body:\n  - a: {op: relu, switch: [{if: true, op: gelu}]}\n", "F:5:8: error: node 'a': a 'switch' node takes its 'op' or 'body' from its cases"),
    ("params: {k: 3}\nbody:\n  - a: {switch: [{if: k, op: relu}]}\n", "F:6:23: error: condition must be true or false, got 3"),
])
def test_switch_mistakes_are_located(tmp_path, body, message):
    assert message in "\n".join(diagnose(tmp_path, body))


# named repeat indices -----------------------------------------------------------------------

def test_named_repeat_index_reads_a_stage_table(tmp_path):
    body = """\
        params: {n: [1, 2, 3], c: [4, 8, 16]}
        body:
          - stages:
              repeat: 3
              as: s
              body:
                - {repeat: "n[s]", op: "conv2d(c[s], 3, padding=1)"}
    """
    net = archc.load_spec(write(tmp_path, body))
    convs = [(p, n.out_shapes[0][0]) for p, n in net.graph.walk() if n.op == "conv2d"]
    assert convs == [("stages.0.0", 4), ("stages.1.0", 8), ("stages.1.1", 8), ("stages.2.0", 16), ("stages.2.1", 16), ("stages.2.2", 16)]


def test_as_needs_a_repeat(tmp_path):
    assert diagnose(tmp_path, "body:\n  - a: {op: relu, as: s}\n")[0].startswith("F:5:8: error: node 'a': 'as' goes with 'repeat'")


# the block's own input ---------------------------------------------------------------------

BLOCK_INPUT = """\
blocks:
  inverted:
    params: {out: null, hidden: input_channels * 4}
    body:
      - expand: conv2d(hidden, 1)
      - project: conv2d(out, 1)
      - add: {op: add, from: [project, input], if: input_channels == out}
body:
  - a: inverted(3)
  - b: inverted(6)
  - c: inverted(6, hidden=7)
"""


def test_block_input_names_and_defaults_read_the_block_input(tmp_path):
    net = archc.load_spec(write(tmp_path, BLOCK_INPUT))
    widths = {p: n.out_shapes[0][0] for p, n in net.graph.walk() if p.endswith("expand")}
    assert widths == {"a.expand": 12, "b.expand": 12, "c.expand": 7}
    adds = [p for p, n in net.graph.walk() if n.op == "add"]
    assert adds == ["a.add", "c.add"]  # `in_channels` at `add` would be the projection's width


# params as expressions ----------------------------------------------------------------------

def test_param_values_are_expressions_inside_lists_and_strings_stay_names(tmp_path):
    header = HEADER + textwrap.dedent("""\
        params:
          head: [3, [width * 2, num_classes]]
          width: 16
          num_classes: 10
          hidden: width * 4
          block: bottleneck
          mode: "'width'"
        variants:
          big: {width: 32}
        default_variant: big
    """)
    net = archc.load_spec(write(tmp_path, "body: [relu]\n", header))
    assert net.params["head"] == (3, (64, 10))
    assert net.params["hidden"] == 128
    assert net.params["block"] == "bottleneck" and net.params["mode"] == "width"
    assert archc.load_spec(write(tmp_path, "body: [relu]\n", header), hidden="width + 1").params["hidden"] == 33


def test_params_reading_each_other_in_a_cycle(tmp_path):
    header = HEADER + "params:\n  a: b + 1\n  b: a * 2\n"
    assert diagnose(tmp_path, "body: [relu]\n", header) == ["F:5:6: error: params read each other in a cycle: a, b"]


def test_param_expression_errors_are_located(tmp_path):
    header = HEADER + "params:\n  a: 4\n  b: a // 0\n"
    assert diagnose(tmp_path, "body: [relu]\n", header) == ["F:6:8: error: in expression 'a // 0': division by zero"]


# from: templates and paths into groups -------------------------------------------------------

def test_from_templates_connect_repeated_levels(tmp_path):
    body = """\
        body:
          - repeat: 2
            body:
              - "enc{i}": conv2d(4, 3, padding=1)
              - maxpool2d(2)
          - repeat: 2
            body:
              - "up{1 - i}": upsample(scale_factor=2)
              - "cat{1 - i}": {op: concat, from: ["enc{1 - i}", "up{1 - i}"]}
    """
    net = archc.load_spec(write(tmp_path, body))
    cats = {n.name: [r.node for r in n.inputs] for _, n in net.graph.walk() if n.op == "concat"}
    assert cats == {"cat1": ["enc1", "up1"], "cat0": ["enc0", "up0"]}


def test_from_reads_a_node_inside_an_earlier_group(tmp_path):
    body = """\
        body:
          - backbone:
              - stem: conv2d(4, 3, padding=1)
              - deep: ["conv2d(6, 1)", relu]
              - conv2d(8, 1)
          - head: conv2d(2, 1)
          - side: {op: "conv2d(2, 1)", from: backbone.deep.1}
          - stem_out: {op: identity, from: backbone.stem}
        outputs: {head: head, side: side, stem: stem_out}
    """
    path = write(tmp_path, body)
    assert archc.load_spec(path).output_shapes == {"head": (2, 8, 8), "side": (2, 8, 8), "stem": (4, 8, 8)}
    model = archc.build(path).eval()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        out = model(x)
        deep = torch.relu(model.backbone.deep[0](model.backbone.stem(x)))
        torch.testing.assert_close(out.side, model.side(deep))
        torch.testing.assert_close(out.stem, model.backbone.stem(x))


def test_from_into_a_group_names_its_nodes_when_wrong(tmp_path):
    body = "body:\n  - g: [a: relu]\n  - b: {op: relu, from: g.aa}\n"
    assert diagnose(tmp_path, body) == ["F:6:25: error: 'g' has no node 'aa'; did you mean 'a'?", "    note: its nodes: a"]


# every block checked; errors past a broken node ----------------------------------------------

def test_unused_block_is_checked(tmp_path):
    body = """\
        blocks:
          unused:
            body:
              - conv2x(4, 1)
              - {op: relu, from: nowhere}
        body: [relu]
    """
    assert diagnose(tmp_path, body) == [
        "F:7:9: error: unknown op or block 'conv2x'; did you mean 'conv2d'?",
        "F:8:26: error: unknown node 'nowhere'",
        "    note: nodes before this one: input",
    ]


def test_independent_mistakes_past_a_broken_node_are_all_reported(tmp_path):
    body = 'body:\n  - a: "conv2d(4, 1"\n  - b: "conv2d(4, 1"\n  - c: relu\n  - d: batchnrm2d\n'
    lines = [line for line in diagnose(tmp_path, body) if "error" in line]
    assert [line.split(": error")[0] for line in lines] == ["F:5:15", "F:6:15", "F:8:8"]
    assert "unknown op or block 'batchnrm2d'" in lines[-1]


def test_absent_node_passing_its_input_is_named_in_a_shape_error(tmp_path):
    body = """\
        body:
          - conv: conv2d(8, 3, stride=2, padding=1)
          - downsample: {from: input, if: false, op: "conv2d(8, 1, stride=2)"}
          - add: {op: add, from: [conv, downsample]}
    """
    assert diagnose(tmp_path, body) == [
        "F:7:15: error: add 'add': add needs inputs of one shape, got 8x4x4, 3x8x8",
        "    note: inputs: 8x4x4 from 'conv', 3x8x8 from 'input'",
        "    note: 'downsample' is absent (its 'if' is false), so 'input' arrives here",
    ]


# custom ops from Python ------------------------------------------------------------------------

class ScaledTanhAttrs(Attrs):
    scale: float = 1.0


class ScaledTanh(Op):
    name = "team_tanh"
    family = "activation"
    Attrs = ScaledTanhAttrs

    def infer(self, a: ScaledTanhAttrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def to_call(self, a: ScaledTanhAttrs, args: list[str], inplace: bool) -> str:
        return call("torch.mul", Var(call("torch.tanh", Var(args[0]))), a.scale)


@pytest.fixture
def scaled_tanh():
    archc.register_op(ScaledTanh)
    yield
    unregister_op("team_tanh")


def test_register_op_makes_it_usable_in_specs(tmp_path, scaled_tanh):
    model = archc.build(write(tmp_path, "body:\n  - team_tanh(1.7159)\n")).eval()
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(x), 1.7159 * torch.tanh(x))
    with pytest.raises(ValueError, match="already registered"):
        archc.register_op(ScaledTanh)


def test_register_op_refuses_what_is_not_an_op():
    with pytest.raises(TypeError):
        archc.register_op(object)  # type: ignore[arg-type]
    bad = type("Bad", (ScaledTanh,), {"name": "not-a-name"})
    with pytest.raises(ValueError, match="identifier"):
        archc.register_op(bad)


def test_entry_points_register_their_ops(tmp_path):
    entry = SimpleNamespace(name="team_ops", value="team.ops:OPS", load=lambda: [ScaledTanh])
    try:
        load_entry_points([entry])
        assert isinstance(OPS["team_tanh"], ScaledTanh)
        load_entry_points([entry])  # loading twice is harmless
    finally:
        unregister_op("team_tanh")
    broken = SimpleNamespace(name="broken", value="team.broken:OPS", load=lambda: 1 / 0)
    with pytest.raises(RuntimeError, match=re.escape("archc op plugin 'broken' (team.broken:OPS) failed to load")):
        load_entry_points([broken])


class Gain(torch.nn.Module):
    """A team's own module: one learned gain per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.full((channels,), 2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain.view(-1, 1, 1)


class GainOp(Op):
    name = "team_gain"
    stateful = True

    def infer(self, a: Attrs, ins: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return (ins[0],)

    def params(self, a: Attrs, ins: tuple[Shape, ...]) -> int:
        return ins[0][0]

    def module(self, a: Attrs, ins: tuple[Shape, ...]):
        from archc.ops.base import Ctor

        return Ctor("Gain", (ins[0][0],))


def test_registered_op_with_its_own_module_class(tmp_path):
    from archc.ops.plugins import MODULES

    archc.register_op(GainOp, modules={"Gain": Gain})
    try:
        path = write(tmp_path, "body:\n  - scale: team_gain\n")
        assert archc.load_spec(path).total_params == 3
        model = archc.build(path)
        assert list(model.state_dict()) == ["scale.gain"]
        x = torch.randn(1, 3, 8, 8)
        torch.testing.assert_close(model(x), 2 * x)
    finally:
        unregister_op("team_gain")
        MODULES.pop("Gain", None)
