"""Every spec-language feature, exercised through small specs and checked on the built model."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

import archc
from archc import SpecError

SPECS = Path(__file__).resolve().parent / "specs"
FEATURES = SPECS / "features.yaml"


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_header_fields_and_input_shape():
    net = archc.load_spec(FEATURES)
    assert net.name == "features"
    assert net.doc.startswith("A small network")
    assert net.input_shapes == {"input": (8, 16, 16)}
    assert net.variant == "wide"  # default_variant


def test_params_override_from_api_and_variants():
    assert archc.load_spec(FEATURES).params["stages"] == 3
    assert archc.load_spec(FEATURES, "tiny").params["stages"] == 1
    net = archc.load_spec(FEATURES, "tiny", num_classes=7)
    assert net.output_shapes["logits"] == (7,)
    model = archc.build(FEATURES, "tiny", num_classes=7).eval()
    assert model(torch.randn(1, 8, 16, 16)).shape == (1, 7)


def test_blocks_with_default_params_and_nesting_give_state_dict_keys():
    keys = set(archc.build(FEATURES).state_dict())
    # se_res(16) uses squeeze_excite with its default reduction 4: 16 -> 4 -> 16.
    assert "stages.stage1.se.fc1.weight" in keys
    model = archc.build(FEATURES)
    assert model.stages.stage1.se.fc1.out_channels == 4
    assert model.stages.stage1.bn.eps == 0.001


def test_unnamed_nodes_are_numbered_like_sequential():
    keys = set(archc.build(FEATURES).state_dict())
    assert {"stem.0.weight", "2.branch.0.weight", "3.branch.0.weight", "aux.1.weight"} <= keys


def test_repeat_count_expression_name_template_and_block_index():
    model = archc.build(FEATURES)
    assert [n for n, _ in model.stages.named_children()] == ["stage1", "stage2", "stage3"]
    drops = [m.p for m in model.modules() if type(m).__name__ == "StochasticDepth"]
    # p_l = drop_final * l / L with L = 3 instances of se_res in the whole network.
    assert drops == pytest.approx([0.0, 0.2 / 3, 0.4 / 3])


def test_multi_output_ops_are_addressable_and_merges_compute_what_they_say():
    model = archc.build(FEATURES).eval()
    x = torch.randn(2, 8, 16, 16)
    unit = getattr(model, "2")
    y = torch.randn(2, 16, 16, 16)
    a, b = y.chunk(2, dim=1)
    branch = unit.branch(b)
    expected = torch.cat([a, branch], 1).view(2, 2, 8, 16, 16).transpose(1, 2).reshape(2, 16, 16, 16)
    torch.testing.assert_close(unit(y), expected)
    se = model.stages.stage1.se
    z = torch.randn(2, 16, 16, 16)
    gate = torch.sigmoid(se.fc2(torch.relu(se.fc1(z.mean((2, 3), keepdim=True)))))
    torch.testing.assert_close(se(z), z * gate)
    assert model(x).shape == (2, 5)


def test_training_only_outputs_follow_the_mode():
    model = archc.build(FEATURES)
    x = torch.randn(2, 8, 16, 16)
    model.train()
    out = model(x)
    assert out._fields == ("logits", "aux") and out.aux.shape == (2, 5)
    model.eval()
    assert isinstance(model(x), torch.Tensor)
    # With the condition off the aux head and its output are gone entirely.
    tiny = archc.build(FEATURES, "tiny").train()
    assert isinstance(tiny(x), torch.Tensor)
    assert not any(k.startswith("aux.") for k in tiny.state_dict())


def test_macs_exclude_training_only_heads():
    with_aux = archc.load_spec(FEATURES)
    without = archc.load_spec(FEATURES, with_aux=False)
    assert with_aux.total_macs == without.total_macs
    assert with_aux.total_params == without.total_params + 4 * 5 + 5


def test_optional_node_absent_gives_identity_shortcut(tmp_path):
    spec = write(tmp_path, """
        archc: 1
        name: opt
        input: [4, 8, 8]
        params: {proj: false}
        body:
          - conv: conv2d(4, 3, padding=1)
          - shortcut: {from: input, if: proj, op: "conv2d(4, 1)"}
          - add: {op: add, from: [conv, shortcut]}
    """)
    model = archc.build(spec).eval()
    x = torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(model(x), model.conv(x) + x)
    assert "shortcut" not in dict(model.named_children())
    assert "shortcut" in dict(archc.build(spec, proj=True).named_children())


def test_condition_reading_input_shape(tmp_path):
    spec = write(tmp_path, """
        archc: 1
        name: cond
        input: [4, 8, 8]
        body:
          - a: {op: "conv2d(8, 1)", if: in_channels == 4}
          - b: {op: "conv2d(8, 1)", if: in_channels == 4}
    """)
    net = archc.load_spec(spec)
    assert [n.name for n in net.graph.nodes] == ["a"]


def test_string_param_names_the_block_to_use(tmp_path):
    spec = write(tmp_path, """
        archc: 1
        name: pick
        input: [4, 8, 8]
        params: {unit: wide}
        blocks:
          narrow: {params: {c: 4}, body: ["conv2d(c, 1)"]}
          wide: {params: {c: 4}, body: ["conv2d(2 * c, 1)"]}
        body:
          - u: unit(c=8)
    """)
    assert archc.load_spec(spec).output_shapes["output"] == (16, 8, 8)
    assert archc.load_spec(spec, unit="narrow").output_shapes["output"] == (8, 8, 8)


def test_block_output_key_and_explicit_edges(tmp_path):
    spec = write(tmp_path, """
        archc: 1
        name: edges
        input: [3, 8, 8]
        blocks:
          two_heads:
            output: left
            body:
              - left: conv2d(5, 1)
              - right: {from: input, op: "conv2d(7, 1)"}
        body:
          - b: two_heads
          - c: {op: concat, from: [b, input]}
    """)
    assert archc.load_spec(spec).output_shapes["output"] == (8, 8, 8)


def test_unnamed_spliced_repeat_numbers_on(tmp_path):
    spec = write(tmp_path, """
        archc: 1
        name: vggish
        input: [3, 16, 16]
        params: {cfg: [8, M, 16, M]}
        body:
          - features:
              - repeat: len(cfg)
                body:
                  - {op: "maxpool2d(2)", if: "cfg[i] == 'M'"}
                  - {if: "cfg[i] != 'M'", body: ["conv2d(cfg[i], 3, padding=1)", relu]}
    """)
    model = archc.build(spec)
    assert set(model.state_dict()) == {"features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias"}
    assert archc.load_spec(spec).output_shapes["output"] == (16, 4, 4)


def test_named_inputs(tmp_path):
    spec = write(tmp_path, """
        archc: 1
        name: two
        inputs: {image: [3, 8, 8], mask: [1, 8, 8]}
        body:
          - cat: {op: concat, from: [image, mask]}
          - conv: conv2d(2, 1)
    """)
    model = archc.build(spec)
    assert model(torch.randn(1, 3, 8, 8), torch.randn(1, 1, 8, 8)).shape == (1, 2, 8, 8)


@pytest.mark.parametrize("expression,expected", [
    ("make_divisible(32 * 1.1, 8)", 32),
    ("scale_width(40, 1.4)", 56),
    ("scale_depth(3, 1.1)", 4),
    ("max(1, 16 // 4) + round(2.5) + ceil(0.2) + floor(1.9)", 4 + 2 + 1 + 1),
    ("[1, 2, 3][1] if 2 > 1 else 0", 2),
])
def test_expression_helpers_in_specs(tmp_path, expression, expected):
    spec = write(tmp_path, f"""
        archc: 1
        name: expr
        input: [3, 4, 4]
        body:
          - fc: {{op: "conv2d({expression}, 1)"}}
    """)
    assert archc.load_spec(spec).output_shapes["output"] == (expected, 4, 4)


def test_block_count_with_nested_repeats(tmp_path):
    spec = write(tmp_path, """
        archc: 1
        name: count
        input: [4, 4, 4]
        blocks:
          unit: {body: ["stochastic_depth(block_index / block_count)"]}
          stage: {params: {n: 1}, body: [{repeat: n, op: unit}]}
        body:
          - s1: stage(2)
          - s2: stage(3)
    """)
    model = archc.build(spec)
    assert [m.p for m in model.modules() if type(m).__name__ == "StochasticDepth"] == pytest.approx([0, .2, .4, .6, .8])


def test_recursive_block_is_an_error_naming_the_cycle(tmp_path):
    spec = write(tmp_path, """
        archc: 1
        name: cycle
        input: [3, 4, 4]
        blocks:
          a: {body: [b]}
          b: {body: [relu, c]}
          c: {body: [a]}
        body: [a]
    """)
    with pytest.raises(SpecError) as exc:
        archc.load_spec(spec)
    assert "a -> b -> c -> a" in str(exc.value)
