"""Nothing in a spec can run code, and what `validate` accepts, `build` builds.

Names: one rule, checked once at load, for every name a spec supplies. Generated source:
identifiers only from the namespace, constants only from the literal writer, so hostile
text in any field either is refused with a location or ends up inside a literal.
"""
from __future__ import annotations

import ast
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archc
from archc.pysource import Namespace, UnsafeName, attribute, literal
from archc.spec.names import RESERVED_ATTRIBUTES, class_name

MARKER = Path("/tmp/archc-security-marker")
PAYLOAD = "a=x)\n__import__('os').system('touch /tmp/archc-security-marker')#"


@pytest.fixture(autouse=True)
def no_marker():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a spec ran code"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def errors(path: Path, **kwargs) -> list[str]:
    with pytest.raises(archc.SpecError) as info:
        archc.load_spec(path, **kwargs)
    return [d.format() for d in info.value.diagnostics]


def test_the_reported_exploit_is_refused_at_its_key(tmp_path):
    path = write(tmp_path, '''
        archc: 1
        name: evil
        input: [3, 8, 8]
        body: [{conv: "conv2d(4, 3)"}, {pool: adaptive_avgpool2d(1)}, flatten, {fc: linear(2)}]
        outputs:
          "a=x)\\n__import__('os').system('touch /tmp/archc-security-marker')#": fc
          b: pool
    ''')
    (message,) = errors(path)
    assert message.startswith(f'{path}:6:4: error: invalid output name "a=x)\\n__import__(')
    run = subprocess.run([sys.executable, "-m", "archc", "build", str(path)], capture_output=True, text=True)
    assert run.returncode == 1 and "invalid output name" in run.stderr


HOSTILE_NAMES = [PAYLOAD, "x; import os", "forward", "training", "__class__", "_private", "class", "self", "1x", "a.b",
                 "ﬁ", "ｆｏｒｗａｒｄ", "²", "a\x1b[31m", "é", ""]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
@pytest.mark.parametrize("field", ["node", "block", "param", "block_param", "output", "input", "variant", "template"])
def test_hostile_names_are_refused_in_every_field(tmp_path, field, name):
    quoted = _yaml_str(name)
    specs = {
        "node": f"body:\n  - {quoted}: relu\n",
        "block": f"blocks:\n  {quoted}: {{body: [relu]}}\nbody: [relu]\n",
        "param": f"params:\n  {quoted}: 1\nbody: [relu]\n",
        "block_param": f"blocks:\n  b: {{params: {{{quoted}: 1}}, body: [relu]}}\nbody: [b]\n",
        "output": f"body: [{{r: relu}}]\noutputs:\n  {quoted}: r\n  other: r\n",
        "input": f"inputs:\n  {quoted}: [3, 4, 4]\nbody: [relu]\n",
        "variant": f"params: {{n: 1}}\nvariants:\n  {quoted}: {{n: 2}}\ndefault_variant: {quoted}\nbody: [relu]\n",
        "template": f"params: {{s: {quoted}}}\nbody:\n  - \"n{{s}}\": relu\n",
    }
    head = "archc: 1\nname: t\n" + ("input: [3, 4, 4]\n" if field != "input" else "")
    path = tmp_path / "spec.yaml"
    path.write_text(head + specs[field])
    allowed = (
        # `1x`, `class`, `self`, `forward`: fine variant names (the factory is `t_1x`, `t_class`)
        (field == "variant" and name.isascii() and name.replace("_", "a").isalnum() and not name.startswith("_"))
        # `n1x`, `nclass`, `nforward`: ordinary node names once the template is filled in
        or (field == "template" and name.isascii() and (name == "" or name.replace("_", "a").isalnum()))
    )
    if allowed:
        assert archc.build(path) is not None
        return
    if name == "" and field in ("block", "input"):
        assert errors(path)  # an empty key is a schema error of its own
        return
    messages = errors(path)
    assert any("name" in m for m in messages), messages
    for m in messages:
        assert "\x1b" not in m and "\n" not in m.split("\n    note:")[0]


def _yaml_str(name: str) -> str:
    """A YAML double-quoted scalar for any name."""
    escaped = name.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'"{escaped}"'


def test_non_ascii_lookalikes_are_refused_with_a_clear_message(tmp_path):
    path = write(tmp_path, '''
        archc: 1
        name: t
        input: [3, 8, 8]
        body:
          - fi: conv2d(4, 3)
          - ﬁ: conv2d(4, 3)
    ''')
    (message,) = errors(path)
    assert message == f"{path}:6:5: error: invalid node name '\\ufb01': names must be ASCII (letters, digits and '_'): Python would fold non-ASCII letters into other names"


def test_superscript_digits_are_no_index(tmp_path):
    path = write(tmp_path, '''
        archc: 1
        name: t
        input: [3, 8, 8]
        body:
          - "²": relu
    ''')
    (message,) = errors(path)
    assert "invalid node name '\\xb2': names must be ASCII" in message


def test_reserved_names_cover_every_attribute_of_built_models():
    """The list is data (validate never imports torch); the classes themselves are the truth."""
    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")}
    assert public <= RESERVED_ATTRIBUTES, sorted(public - RESERVED_ATTRIBUTES)
    model = archc.build(Path(__file__).parent.parent / "specs" / "lenet5.yaml", "mnist")
    children = {name for name, _ in model.named_children()} | {name for name, _ in model.named_parameters(recurse=False)}
    own = {n for n in dir(model) if not n.startswith("_")} - public - children
    # What archc adds to a built model (spec_name, variant, source, the class's `code`) is reserved too.
    assert own <= RESERVED_ATTRIBUTES, sorted(own - RESERVED_ATTRIBUTES)
    assert {"spec_name", "variant", "spec_params", "source", "code"} <= own


def test_a_spec_name_that_is_not_a_name_becomes_a_safe_class_name(tmp_path):
    path = write(tmp_path, f'''
        archc: 1
        name: "tiny net {PAYLOAD.encode('unicode_escape').decode()}"
        doc: "\\"\\"\\"\\n__import__('os').system('touch /tmp/archc-security-marker')\\n\\"\\"\\""
        input: [3, 8, 8]
        body: [{{conv: "conv2d(4, 3)"}}, {{pool: adaptive_avgpool2d(1)}}, flatten, {{fc: linear(2)}}]
        outputs: {{a: fc, b: pool}}
    ''')
    model = archc.build(path)  # several outputs: a namedtuple type named after the network
    assert type(model).__name__.startswith("TinyNetAX")
    out = model.eval()(torch.randn(1, 3, 8, 8))
    assert out.a.shape == (1, 2) and out.b.shape == (1, 4, 1, 1)
    source = archc.emit(path)
    compile(source, "x.py", "exec")
    assert "__import__('os')" not in source.replace("\\'", "'").split("'")[0::2].__str__()


def test_class_names_from_free_text():
    assert class_name("tiny net") == "TinyNet"
    assert class_name("resnet-50") == "Resnet50"
    assert class_name("50 layers") == "Network50Layers"
    assert class_name("é!") == "Network"


# The literal writer and the namespace -----------------------------------------------------

plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(plain)
def test_literals_evaluate_to_their_value(value):
    text = literal(value)
    tree = ast.parse(text, mode="eval")
    # Only constants, containers and the spelt-out non-finite floats: nothing that could run.
    for node in ast.walk(tree):
        assert isinstance(node, (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.UnaryOp, ast.USub, ast.Load,
                                 ast.Call, ast.Name)), ast.dump(node)
        if isinstance(node, ast.Call):
            assert ast.unparse(node) in ("float('nan')", "float('inf')")
    assert text.isascii()
    back = eval(compile(tree, "literal", "eval"), {"__builtins__": {"float": float}})  # noqa: S307  (the test's own check)
    assert _same(back, value)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_the_literal_writer_refuses_anything_but_plain_data():
    class Sneaky(str):
        def __repr__(self) -> str:
            return "__import__('os')"

    for value in (Sneaky("x"), object(), {1: 2}, b"x", 1j):
        with pytest.raises(TypeError):
            literal(value)


def test_the_namespace_issues_only_checked_names():
    ns = Namespace()
    assert ns.name("out") == "out" and ns.name("out") == "out_2" and ns.name("self") == "self_2"
    for bad in (PAYLOAD, "a b", "ﬁ", "x)", ""):
        with pytest.raises(UnsafeName):
            ns.name(bad)
        with pytest.raises(UnsafeName):
            attribute(ns.name("self_"), bad)
    assert attribute(ns.name("m"), "0") == "getattr(m, '0')"


# validate ok means build works --------------------------------------------------------------

CONV = 'body: [{c: "conv2d(4, 1)"}]\n'
CASES = {
    "mean_repeated_dim": ("body:\n  - mean([2, 2])\n", "5:5", "dims [2, 2] name the same dimension twice"),
    "mean_same_dim_twice": ("body:\n  - mean([3, -1])\n", "5:5", "dims [3, -1] name the same dimension twice"),
    "uniform_bounds": (CONV + "init:\n  - {match: conv2d, weight: 'uniform(1, -1)'}\n", "6:30",
                       "uniform: the lower bound a=1 is above the upper bound b=-1"),
    "trunc_normal_bounds": (CONV + "init:\n  - {match: conv2d, weight: 'trunc_normal(a=2, b=-2)'}\n",
                            "6:30", "trunc_normal: the lower bound a=2 must be below the upper bound b=-2"),
    "xavier_on_bias": (CONV + "init:\n  - {match: conv2d, bias: xavier_uniform}\n", "6:27",
                       "xavier_uniform needs a tensor with at least 2 dims to compute fan-in and fan-out; c.bias has 1"),
    "kaiming_on_norm": ("body: [{b: batchnorm2d}]\ninit:\n  - {match: batchnorm2d, weight: kaiming_normal}\n", "6:34",
                        "kaiming_normal needs a tensor with at least 2 dims to compute fan-in and fan-out; b.weight has 1"),
    "nan_std": ("params: {s: .nan}\n" + CONV + "init:\n  - {match: conv2d, weight: 'normal(0, s)'}\n",
                "7:30", "normal: std must be a finite number, got nan"),
    "negative_gain": (CONV + "init:\n  - {match: conv2d, weight: 'xavier_normal(-1)'}\n", "6:30",
                      "xavier_normal: gain must be >= 0, got -1"),
    "inf_eps": ("params: {e: .inf}\nbody:\n  - batchnorm2d(eps=e)\n", "6:17", "eps: input should be a finite number"),
    "nan_affine": ("params: {v: .nan}\nbody:\n  - channel_affine(scale=[1, 1, v], shift=[0, 0, 0])\n", "6:20",
                   "scale[2]: input should be a finite number"),
    "inf_slope": ("params: {v: .inf}\nbody:\n  - leaky_relu(v)\n", "6:16", "negative_slope: input should be a finite number"),
    "nan_lrn": ("params: {v: .nan}\nbody:\n  - lrn(3, alpha=v)\n", "6:12", "alpha: input should be a finite number"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_what_would_fail_at_build_is_refused_at_load(tmp_path, case):
    body, where, message = CASES[case]
    path = tmp_path / "spec.yaml"
    path.write_text("archc: 1\nname: t\ninput: [3, 8, 8]\n" + body)
    messages = errors(path)
    assert any(m.startswith(f"{path}:{where}: error: ") and message in m for m in messages), messages


def test_several_outputs_and_a_spec_name_with_spaces_build(tmp_path):
    path = write(tmp_path, '''
        archc: 1
        name: my tiny net
        input: [3, 8, 8]
        body: [{conv: "conv2d(4, 3)"}, {pool: adaptive_avgpool2d(1)}, flatten, {fc: linear(2)}]
        outputs: {logits: fc, pooled: pool}
    ''')
    out = archc.build(path).eval()(torch.randn(2, 3, 8, 8))
    assert type(out).__name__ == "MyTinyNetOutputs" and out.logits.shape == (2, 2)


def test_a_pickle_carries_the_spec_and_never_code(tmp_path):
    # Allowing `rebuild` for torch.load(weights_only=True) must not let a checkpoint run code.
    import pickle

    import torch

    from archc.backends.pytorch.load import rebuild

    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return (rebuild, (f"import pathlib\npathlib.Path({str(marker)!r}).touch()\nclass X: pass\n", "X"))

    with pytest.raises(pickle.UnpicklingError, match="not an archc model pickle"):
        pickle.loads(pickle.dumps(Planted()))
    assert not marker.exists()
    model = archc.build(archc.loads("archc: 1\nname: net\ninput: [8]\nbody:\n  - fc: linear(4)\n")).eval()
    twin = pickle.loads(pickle.dumps(model))
    x = torch.randn(2, 8)
    assert torch.equal(twin(x), model(x)) and twin.source == model.source
