"""Built models are the networks their specs describe: each divergence once found, as a spec.

Every case is checked by the IR interpreter (archc/backends/pytorch/interpret.py), which
shares no code with the generator: node for node (module types, arguments, parameter
shapes) and output for output, bit for bit, in eval and in training mode. Cases with
params are also built through the emitted file's `create(**params)` with values far from
the defaults, which must equal `archc.build(**params)`.
"""
from __future__ import annotations

import textwrap
import types

import pytest
import torch

import archc
from archc.backends.pytorch.check import example_inputs
from archc.backends.pytorch.compare import output_differences, structural_differences
from archc.backends.pytorch.interpret import interpret


def differences(network, model) -> list[str]:
    oracle = interpret(network)
    found = structural_differences(model, network, oracle)
    inputs = example_inputs(network, batch=2)
    found += output_differences(model, network, inputs, oracle=oracle)
    found += output_differences(model, network, inputs, training=True, oracle=oracle)
    return found


def assert_built_as_specified(text: str, **params) -> archc.Network:
    network = archc.loads(textwrap.dedent(text), **params)
    model = archc.build(network, seed=0)
    assert differences(network, model) == []
    assert sum(p.numel() for p in model.parameters()) == network.total_params
    return network


def emitted_module(text: str, tmp_path) -> types.ModuleType:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    module = types.ModuleType("emitted_case")
    exec(compile(archc.emit(path), "emitted_case", "exec"), module.__dict__)  # noqa: S102  (archc's own output)
    return module


def assert_create_equals_build(text: str, tmp_path, **params) -> None:
    module = emitted_module(text, tmp_path)
    network = archc.loads(textwrap.dedent(text), **params)
    assert differences(network, module.create(**params)) == []


GROWING_DEFAULT = """
    archc: 1
    name: grow
    input: [4, 16, 16]
    blocks:
      unit:
        params: {k: 3}
        body:
          - conv: conv2d(4, k, padding=k // 2)
          - relu
    body:
      - stack: {repeat: 3, op: "unit(k=3 + 2 * i)"}
      - dil: {repeat: 4, op: "conv2d(4, 3, padding=i + 1, dilation=i + 1)"}
"""

NEGATIVE_ATOM = """
    archc: 1
    name: neg
    input: [4, 8, 8]
    params: {base: -0.5, k: -2}
    blocks:
      act:
        params: {s: 1}
        body:
          - lr: leaky_relu(s * base ** 2)
          - opt: {op: "conv2d(4, 1)", if: "s * k ** 2 > 10"}
    body:
      - a1: act(s=3)
      - a2: act(s=2)
"""

EXPRESSION_START = """
    archc: 1
    name: start
    input: [4, 8, 8]
    params: {s: 2}
    blocks:
      unit:
        params: {c: 4}
        body:
          - conv: conv2d(c, 1)
    body:
      - stack: {repeat: 3, op: "unit(c=(s * 2 if s > 1 else 4) + 4 * i)"}
"""

PARAMS_NAMED_LIKE_CODE = """
    archc: 1
    name: named_like_code
    input: [4, 8, 8]
    blocks:
      unit:
        params: {i: 4, range: 2, super: 1, max: 3, OrderedDict: 1, Unit: 1}
        body:
          - conv: conv2d(i, 1)
          - stack: {repeat: range, op: "conv2d(4, max, padding=super * (max // 2), dilation=super)"}
          - last: conv2d(4 * OrderedDict * Unit, 1)
    body:
      - u1: unit(i=4, range=2, max=3, super=1)
      - u2: unit(i=6, range=3, max=5, super=2, OrderedDict=1)
"""

PARAM_NAMED_TRUE = """
    archc: 1
    name: named_true
    input: [4, 8, 8]
    blocks:
      unit:
        params: {true: 0, c: 4}
        body:
          - conv: conv2d(c, 1)
          - extra: {op: "conv2d(c, 1)", if: "true"}
    body:
      - u1: unit(true=0, c=4)
      - u2: unit(true=1, c=4)
"""

OUTPUTS_MATCH = """
    archc: 1
    name: match_outputs
    input: [3, 8, 8]
    body:
      - a: conv2d(3, 1)
      - b: {op: "conv2d(2, 1)", from: input}
    outputs:
      match: b
      match_: a
"""

DEAD_NODE = """
    archc: 1
    name: dead
    input: [3, 8, 8]
    body:
      - conv: conv2d(4, 3, padding=1)
      - unused: {op: "conv2d(5, 1)", from: conv}
      - relu: {op: relu, from: conv}
"""

NAMES_GENERATED_CODE_CALLS = """
    archc: 1
    name: sorted
    input: [4, 8, 8]
    body:
      - getattr: conv2d(4, 1)
      - channel_shuffle: {op: "channel_shuffle(2)", from: getattr}
      - range: {op: add, from: [getattr, channel_shuffle]}
      - {repeat: 2, body: ["conv2d(4, 1)", relu]}
      - len: {op: "chunk(2)"}
      - out: {op: concat, from: [len.0, len.1]}
"""

TAPPED = """
    archc: 1
    name: taps
    input: [4, 8, 8]
    body:
      - layers: {repeat: 3, body: ["conv2d(4, 1)", relu]}
      - side: {op: "conv2d(3, 1)", from: layers.2.0}
      - head: {op: "conv2d(2, 1)", from: layers.1}
      - out: {op: concat, from: [head, side]}
"""


CASES = {
    "growing argument from its default": GROWING_DEFAULT,
    "negative value where an atom is expected": NEGATIVE_ATOM,
    "loop start that is an expression": EXPRESSION_START,
    "block params named like what generated code calls": PARAMS_NAMED_LIKE_CODE,
    "block param named true": PARAM_NAMED_TRUE,
    "outputs match and match_": OUTPUTS_MATCH,
    "a node no output reads": DEAD_NODE,
    "nodes named like functions generated code calls": NAMES_GENERATED_CODE_CALLS,
    "a repeat an inner node of which is tapped": TAPPED.replace("from: layers.1}", "from: layers}"),
    "a spec named super": NAMES_GENERATED_CODE_CALLS.replace("name: sorted", "name: super"),
    "a spec named getattr": NAMES_GENERATED_CODE_CALLS.replace("name: sorted", "name: getattr"),
    "a spec named value error": NAMES_GENERATED_CODE_CALLS.replace("name: sorted", "name: value error"),
}


@pytest.mark.parametrize("text", CASES.values(), ids=list(CASES))
def test_built_model_equals_the_interpreted_spec(text):
    assert_built_as_specified(text)


def test_growing_argument_from_its_default_has_the_specified_kernels():
    network = assert_built_as_specified(GROWING_DEFAULT)
    model = archc.build(network)
    assert [model.stack[k].conv.kernel_size for k in range(3)] == [(3, 3), (5, 5), (7, 7)]
    assert [model.dil[k].dilation for k in range(4)] == [(1, 1), (2, 2), (3, 3), (4, 4)]


def test_negative_params_keep_their_sign():
    model = archc.build(archc.loads(textwrap.dedent(NEGATIVE_ATOM)))
    assert model.a1.lr.negative_slope == pytest.approx(0.75)
    assert model.a2.lr.negative_slope == pytest.approx(0.5)


def test_outputs_are_returned_by_their_own_names():
    network = assert_built_as_specified(OUTPUTS_MATCH)
    out = archc.build(network)(torch.randn(1, 3, 8, 8))
    assert out.match.shape == (1, 2, 8, 8) and out.match_.shape == (1, 3, 8, 8)


def test_a_node_no_output_reads_is_in_the_model_the_summary_counts():
    network = assert_built_as_specified(DEAD_NODE)
    assert "unused.weight" in archc.build(network).state_dict()


HEAD_WIDTH_EQUALS_NUM_CLASSES = """
    archc: 1
    name: head
    input: [3, 8, 8]
    params: {num_classes: 8}
    body:
      - conv: conv2d(8, 3, padding=1)
      - pool: adaptive_avgpool2d(1)
      - flatten
      - fc: linear(num_classes)
"""

DERIVED_PARAM = """
    archc: 1
    name: derived
    input: [3, 8, 8]
    params: {p: 0.2, q: round(p * 20)}
    body:
      - conv: conv2d(4, 3, padding=1)
      - pool: adaptive_avgpool2d(1)
      - flatten
      - fc: linear(q)
"""

AS_SHADOWS_A_PARAM = """
    archc: 1
    name: shadow
    input: [3, 8, 8]
    params: {stage: 4}
    body:
      - {repeat: 2, as: stage, body: ["conv2d(4 + stage, 1)"]}
      - pool: adaptive_avgpool2d(1)
      - flatten
      - fc: linear(stage)
"""

BLOCK_PARAM_SHADOWS_A_PARAM = """
    archc: 1
    name: block_shadow
    input: [3, 8, 8]
    params: {width: 4}
    blocks:
      unit:
        params: {width: 4}
        body: ["conv2d(width, 1)"]
    body:
      - u: unit
      - pool: adaptive_avgpool2d(1)
      - flatten
      - fc: linear(width)
"""


A_LAYER_ONLY_LARGE_HEADS_HAVE = """
    archc: 1
    name: large_head
    input: [3, 8, 8]
    params: {num_classes: 10}
    body:
      - conv: conv2d(8, 3, padding=1)
      - pool: adaptive_avgpool2d(1)
      - flatten
      - hidden: {op: "linear(num_classes * 2)", if: "num_classes > 100"}
      - fc: linear(num_classes)
"""

A_SHAPE_THAT_MOVES_WITH_A_PARAM_NOW_AND_THEN = """
    archc: 1
    name: padding
    input: [3, 8, 8]
    params: {p: 4, num_classes: 10}
    body:
      - conv: conv2d(8, 3, padding=p // 2)
      - flatten
      - fc: linear(num_classes)
"""


@pytest.mark.parametrize("text, params", [
    (A_LAYER_ONLY_LARGE_HEADS_HAVE, {"num_classes": 1000}),
    (A_SHAPE_THAT_MOVES_WITH_A_PARAM_NOW_AND_THEN, {"p": 6}),
    (HEAD_WIDTH_EQUALS_NUM_CLASSES, {"num_classes": 10}),
    (DERIVED_PARAM, {"q": 7}),
    (DERIVED_PARAM, {"p": 0.5}),
    (AS_SHADOWS_A_PARAM, {"stage": 9}),
    (BLOCK_PARAM_SHADOWS_A_PARAM, {"width": 9}),
], ids=["a layer only large heads have", "padding p // 2", "head width equals num_classes", "derived param", "param a derived one reads", "as: shadows a param",
        "block param shadows a param"])
def test_emitted_create_equals_build_far_from_the_defaults(text, params, tmp_path):
    module = emitted_module(text, tmp_path)
    given = {k: v for k, v in params.items() if k in module.PARAMS}
    refused = {k: v for k, v in params.items() if k not in module.PARAMS}
    if refused:  # a param the file cannot take is refused, never built wrong
        with pytest.raises(ValueError, match="no parameter of this file"):
            module.create(**refused)
    network = archc.loads(textwrap.dedent(text), **params)
    model = module.create(**given) if not refused else archc.build(network)
    assert differences(network, model) == []
    assert differences(network, archc.build(network)) == []


def test_a_lone_surrogate_is_refused_where_it_is_written():
    text = 'archc: 1\nname: "net\\ud800"\ninput: [3, 8, 8]\nbody:\n  - conv: conv2d(4, 1)\n'
    with pytest.raises(archc.SpecError) as info:
        archc.loads(text, name="spec.yaml")
    assert str(info.value).startswith("spec.yaml:2:7: error: invalid text: U+D800 is a lone surrogate")


def test_an_output_index_never_reads_a_tap_another_path_exposed():
    # `layers.1` is output 1 of `layers`, which has one; the tap `layers.2.0` adds no output to name.
    with pytest.raises(archc.SpecError, match="'layers' has 1 output; there is no output 1"):
        archc.loads(textwrap.dedent(TAPPED))


# An op that says its output is fresh lets the next op overwrite it in place (ReLU(inplace=True));
# its backward must not read that output. One row per such op that takes a small input as it is.
FRESH_OUTPUTS = {
    "length": ([8, 4], "length"), "squash": ([8, 4], "squash"), "scaled_tanh": ([8], "scaled_tanh"),
    "capsule_routing": ([32, 8], "capsule_routing(10, 16)"), "lrn": ([4, 6, 6], "lrn(3)"),
    "maxpool2d": ([4, 6, 6], "maxpool2d(2)"), "adaptive_maxpool2d": ([4, 6, 6], "adaptive_maxpool2d(2)"),
    "mean": ([4, 6, 6], "mean([2, 3])"), "prelu": ([4, 6, 6], "prelu"), "rbf": ([8], "rbf(4)"),
    "scale": ([4, 6, 6], "scale(2.0)"), "subsample": ([4, 6, 6], "subsample(2)"),
    "layernorm": ([4, 6], "layernorm(1)"), "batchnorm2d": ([4, 6, 6], "batchnorm2d"),
    "attention": ([5, 8], "attention(2)"), "interpolate": ([4, 6, 6], "interpolate(scale_factor=2)"),
}


@pytest.mark.parametrize("shape, call", FRESH_OUTPUTS.values(), ids=list(FRESH_OUTPUTS))
def test_a_relu_after_an_op_keeps_training_possible(shape, call):
    network = archc.loads(f"archc: 1\nname: t\ninput: {shape}\nbody:\n  - a: \"{call}\"\n  - relu\n")
    model = archc.build(network).train()
    x = torch.randn(2, *shape, requires_grad=True)
    model(x).sum().backward()  # "modified by an inplace operation" where the op's backward reads its output
    assert x.grad is not None


def test_a_compact_file_that_fails_its_check_falls_back_to_every_instance_written_out(monkeypatch):
    # Stand in for a generator bug: the compact source of another network (kernels 3, not 5).
    from archc.backends.pytorch import build as build_module

    network = archc.loads(textwrap.dedent(GROWING_DEFAULT))
    wrong = archc.loads(textwrap.dedent(GROWING_DEFAULT).replace("3 + 2 * i", "3"))
    real = build_module.emitted_source
    monkeypatch.setattr(build_module, "emitted_source", lambda n: real(wrong) if n is network else real(n))
    with pytest.warns(RuntimeWarning, match="is not the network its spec describes: stack.1.conv: 148 parameters, the spec has 404"):
        model = archc.build(network, seed=0)
    assert differences(network, model) == []
    assert "class Unit_3(nn.Module)" in model.source  # each instance its own class


def test_a_mismatch_that_survives_the_fallback_is_an_internal_error(monkeypatch):
    from archc.backends.pytorch import build as build_module
    from archc.errors import BuildMismatch

    network = archc.loads(textwrap.dedent(DEAD_NODE))
    wrong = build_module.emit_network(archc.loads(textwrap.dedent(DEAD_NODE).replace("conv2d(5, 1)", "conv2d(6, 1)")))
    monkeypatch.setattr(build_module, "emit_network", lambda n, compact=True: wrong)
    monkeypatch.setattr(build_module, "emitted_source", lambda n: wrong)
    with pytest.raises(BuildMismatch, match="unused: 30 parameters, the spec has 25"):
        archc.build(network)


def test_archc_build_checks_the_shapes_its_forward_returns():
    from archc.backends.pytorch.check import check_forward, run_once
    from archc.errors import BuildMismatch

    network = archc.loads(textwrap.dedent(OUTPUTS_MATCH))
    shapes = run_once(archc.build(network), network)
    check_forward(shapes, network)
    with pytest.raises(BuildMismatch, match=r"forward returns match 1x2x8x8, match_ 1x2x8x8, the spec infers match 1x2x8x8, match_ 1x3x8x8"):
        check_forward({"match": (1, 2, 8, 8), "match_": (1, 2, 8, 8)}, network)
