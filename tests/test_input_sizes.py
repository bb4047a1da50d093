"""Networks run at every input size they admit: built once at the spec's size, run at others,
equal to their reference implementations run at the same sizes (symbolic shapes, archc.shapes)."""
from __future__ import annotations

import pytest
import timm
import torch
import torchvision

import archc
from archc.backends.pytorch.interpret import interpret
from zoo import SPECS, _randomize_norm_stats

ATOL = 1e-5


def _same_weights(spec: str, variant: str | None, reference: torch.nn.Module, **params):
    """(archc model, reference) in eval mode, the reference's weights loaded strictly."""
    reference = reference.eval()
    _randomize_norm_stats(reference)
    model = archc.build(SPECS / spec, variant, **params).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    return model, reference


def _close(got: torch.Tensor, expected: torch.Tensor) -> None:
    assert got.shape == expected.shape
    diff = (got - expected).abs().max().item()
    assert diff <= ATOL, f"max abs difference {diff}"


def _with_oracle(network, model: torch.nn.Module) -> torch.nn.Module:
    """The IR interpreter of `network` in eval mode, with the built model's weights."""
    oracle = interpret(network).eval()
    oracle.load_state_dict(model.state_dict(), strict=True)
    return oracle


def _line(spec: str, variant: str | None = None, **params) -> str:
    return archc.load_spec(SPECS / spec, variant, **params).input_constraints[0].line()


# DeepLabV3 --------------------------------------------------------------------------------


def test_deeplabv3_at_sizes_it_was_not_built_for():
    reference = torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=True)
    model, reference = _same_weights("deeplabv3.yaml", None, reference, aux_loss=True)
    for size in [(200, 200), (256, 320), (321, 321)]:  # built at 520 x 520
        x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
        with torch.no_grad():
            expected, got = reference(x), model(x)
        assert got.out.shape == (1, 21, *size)
        _close(got.out, expected["out"])
        _close(got.aux, expected["aux"])


def test_deeplabv3_reads_the_input_size_in_forward():
    source = archc.emit(SPECS / "deeplabv3.yaml")
    assert "F.interpolate(out, size=(x.shape[2], x.shape[3]), mode='bilinear', align_corners=False)" in source
    assert "520" not in source  # no size of the input is baked in
    assert _line("deeplabv3.yaml") == "input 3 x H x W: H, W >= 1"


# Classifiers at two sizes besides 224 --------------------------------------------------


CLASSIFIERS = [
    ("resnet.yaml", "50", lambda: torchvision.models.resnet50()),
    ("efficientnet.yaml", "b0", lambda: torchvision.models.efficientnet_b0()),
    ("densenet.yaml", "121", lambda: torchvision.models.densenet121()),
    ("googlenet.yaml", None, lambda: torchvision.models.googlenet(init_weights=True)),
    ("convnext.yaml", "tiny", lambda: timm.create_model("convnext_tiny")),
]


@pytest.mark.parametrize("spec, variant, make", CLASSIFIERS, ids=[c[0].split(".")[0] for c in CLASSIFIERS])
def test_classifier_at_other_sizes(spec, variant, make):
    torch.manual_seed(0)
    model, reference = _same_weights(spec, variant, make())
    for size in [(160, 160), (288, 256)]:
        x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(size[1]))
        with torch.no_grad():
            _close(model(x), reference(x))


# U-Net --------------------------------------------------------------------------------


@pytest.mark.parametrize("padding, sizes, line", [
    (1, [(64, 96), (128, 128)], "input 1 x H x W: H, W >= 16, multiples of 16"),
    # Unpadded (the paper's): floor pooling and the centre crops take any size from 188 on.
    (0, [(188, 188), (253, 230)], "input 1 x H x W: H, W >= 188"),
])
def test_unet_at_two_sizes(padding, sizes, line):
    network = archc.load_spec(SPECS / "unet.yaml", padding=padding)
    assert network.input_constraints[0].line() == line
    model = archc.build(SPECS / "unet.yaml", padding=padding).eval()
    oracle = _with_oracle(network, model)
    output = network.output_shapes["output"]
    for h, w in sizes:
        x = torch.randn(1, 1, h, w)
        with torch.no_grad():
            got = model(x)
            _close(got, oracle(x))
        # The output's size as the symbolic shape says it: H and W kept where padded.
        expected = tuple(d.at({"H": h, "W": w}) if hasattr(d, "at") else d for d in output.sym)
        assert tuple(got.shape[1:]) == expected
        if padding:
            assert expected[1:] == (h, w)


# NASNet: TF-'SAME' padding computed from the runtime size, as timm's Conv2dSame --------


def test_nasnet_mobile_at_two_sizes_like_timm():
    from test_zoo_nasnet import _mobile_forward, _mobile_state_dict, _timm_mobile

    torch.manual_seed(0)
    reference = _timm_mobile().eval()
    state = _mobile_state_dict(reference)
    model = archc.build(SPECS / "nasnet.yaml", "mobile").eval()
    model.load_state_dict(state, strict=True)
    source = archc.emit(SPECS / "nasnet.yaml", "mobile")
    assert "x.shape[2]" in source  # the padding reads the size in forward
    for size in [(192, 192), (256, 224)]:
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            _close(model(x), _mobile_forward(reference, x))


# A network of one size says so, and refuses others with its own message ---------------


def test_vit_reports_its_fixed_size_and_refuses_160():
    line = _line("vit.yaml", "tiny_patch16_224")
    assert line == ("input 3 x 224 x 224 (fixed: `embedded` (an add) needs "
                    "((H - 16) // 16 + 1) * ((W - 16) // 16 + 1) + 1 == 197)")
    model = archc.build(SPECS / "vit.yaml", "tiny_patch16_224").eval()
    with pytest.raises(AssertionError, match=r"this network takes input height H = 224 only \(`embedded` \(an add\) needs"):
        model(torch.randn(1, 3, 160, 160))


def test_unet_refuses_a_size_that_is_not_a_multiple_of_16():
    model = archc.build(SPECS / "unet.yaml").eval()
    with pytest.raises(AssertionError, match=r"input width W >= 16, multiples of 16 \(`pool4` \(a maxpool2d\)"):
        model(torch.randn(1, 1, 64, 72))


def test_training_only_heads_ask_more_in_training():
    network = archc.load_spec(SPECS / "inception_v3.yaml")
    assert network.input_constraints[0].line() == "input 3 x H x W: H, W >= 75 (in training: H, W >= 299)"
    model = archc.build(SPECS / "inception_v3.yaml").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 75, 75)).shape == (1, 1000)  # torchvision's minimum too
    with pytest.raises(AssertionError, match=r"H >= 299 .* in training"):
        model.train()(torch.randn(2, 3, 200, 200))


# Exports with dynamic height and width --------------------------------------------------


def _exported_at_two_sizes(spec: str, variant: str | None, sizes: list[tuple[int, int]], tmp_path) -> None:
    """A .pt2 and an ONNX file of the model each run at `sizes` (neither the build size) equal to it."""
    import onnxruntime

    from archc.backends.pytorch.check import export_onnx, export_program

    network = archc.load_spec(SPECS / f"{spec}.yaml", variant)
    model = archc.build(SPECS / f"{spec}.yaml", variant, seed=0).eval()
    export_program(model, network, str(tmp_path / "model.pt2"))
    export_onnx(model, network, str(tmp_path / "model.onnx"))
    program = torch.export.load(str(tmp_path / "model.pt2")).module()
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    channels = network.graph.inputs[0][1][0]
    for size in sizes:
        x = torch.randn(2, channels, *size, generator=torch.Generator().manual_seed(size[0]))
        with torch.no_grad():
            expected = model(x)
            expected = expected[0] if isinstance(expected, tuple) else expected
            got = program(x)
        _close(got[0] if isinstance(got, tuple) else got, expected)
        onnx_out = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
        assert onnx_out.shape == expected.shape
        assert (onnx_out - expected).abs().max().item() <= 1e-4


@pytest.mark.parametrize("spec, variant", [("resnet", "18"), ("unet", None)])
def test_exports_take_other_sizes(spec, variant, tmp_path):
    _exported_at_two_sizes(spec, variant, [(64, 96), (128, 160)], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("spec, variant", [("resnet", "50"), ("deeplabv3", None)])
def test_exports_of_resnet50_and_deeplabv3_take_other_sizes(spec, variant, tmp_path):
    _exported_at_two_sizes(spec, variant, [(160, 192), (257, 224)], tmp_path)


def test_export_dims_start_where_no_inner_size_is_one():
    from archc.backends.pytorch.check import dynamic_shapes

    (dims,) = dynamic_shapes(archc.load_spec(SPECS / "resnet.yaml", "18"))
    # ResNet's last map is 1x1 below 33: torch.export would take that 1 as a constant.
    assert dims[2].min == 33 and dims[3].min == 33
    (dims,) = dynamic_shapes(archc.load_spec(SPECS / "vit.yaml", "tiny_patch16_224"))
    assert set(dims) == {0}  # fixed height and width stay static


# Property: every size the derived rule admits runs; a size it refuses gets archc's error ---


from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz import FRESH, TOTAL, check, plausible_spec  # noqa: E402

# Nodes whose arguments are computed from sizes, which the forward reads at run time.
SIZED = [
    {"same": "pad(same_pad(in_shape, 3, 2))"}, {"pooled": "maxpool2d(3, stride=2)"},
    {"back": "upsample(size=input_shape[1:], mode='bilinear', align_corners=false)"},
    {"crop": {"op": "center_crop", "from": ["input", "back"]}},
]


@st.composite
def sized_spec(draw):
    spec = draw(plausible_spec())
    if draw(st.booleans()):
        body = [item for item in spec["body"] if not (isinstance(item, str) and item == "flatten")]
        body = [item for item in body if item not in ("linear(10)",)]
        spec["body"] = body + SIZED[: draw(st.integers(1, len(SIZED)))]
    return spec


def _sizes_admitted(rule, draw_index) -> int:
    if rule.fixed:
        return rule.declared
    admitted = [n for n in range(rule.minimum, rule.minimum + 6 * rule.step + 12) if rule.admits(n)]
    return admitted[draw_index % len(admitted)]


def _refused(rule) -> int | None:
    if rule.fixed:
        return rule.declared + 1
    if rule.minimum > 1:
        return rule.minimum - 1
    return next((n for n in range(rule.minimum, rule.minimum + rule.step) if not rule.admits(n)), None)


RAN = {"networks": 0, "flexible": 0, "refused": 0}


@pytest.mark.fuzz
@settings(max_examples=max(1, TOTAL // 5), deadline=None, derandomize=not FRESH, database=None,
          suppress_health_check=list(HealthCheck))
@given(spec=sized_spec(), picks=st.lists(st.integers(0, 100), min_size=6, max_size=6))
def test_fuzzed_specs_run_at_admitted_sizes_and_refuse_others(spec, picks):
    import yaml

    from archc.backends.pytorch.build import build_network

    network = check(yaml.safe_dump(spec, sort_keys=False))
    assume(network is not None and network.total_params < 2_000_000)
    RAN["networks"] += 1
    (constraints,) = network.input_constraints
    model = build_network(network, seed=0).eval()
    oracle = _with_oracle(network, model)
    symbols = [d for d in constraints.shape[1:]]
    rules = {r.symbol: r for r in constraints.rules}
    for k in range(3):
        sizes = {s: _sizes_admitted(rules[s], picks[2 * k + j]) for j, s in enumerate(symbols)}
        x = torch.randn(1, constraints.declared[0], *sizes.values())
        with torch.no_grad():
            got, expected = model(x), oracle(x)
        outs = got if isinstance(got, tuple) else (got,)
        shapes = list(network.output_shapes.values())
        for out, want, shape in zip(outs, expected if isinstance(expected, tuple) else (expected,), shapes):
            assert torch.equal(out, want)
            # The symbolic shape says what the output is at these sizes.
            sym = getattr(shape, "sym", shape)
            assert tuple(out.shape[1:]) == tuple(d.at(sizes) if hasattr(d, "at") else d for d in sym)
    RAN["flexible"] += constraints.flexible
    for s in symbols:
        bad = _refused(rules[s])
        if bad is None:
            continue
        RAN["refused"] += 1
        sizes = {t: (bad if t == s else constraints.declared[1 + symbols.index(t)]) for t in symbols}
        x = torch.randn(1, constraints.declared[0], *sizes.values())
        with pytest.raises(AssertionError, match="this network takes input"):
            model(x)


@pytest.mark.fuzz
def test_report_how_many_fuzzed_networks_ran_at_other_sizes(capsys):
    with capsys.disabled():
        print(f"\nfuzzed networks run at admitted sizes: {RAN}")


def test_export_keeps_the_declared_size_where_torch_export_cannot_follow(tmp_path):
    # torch.export's own symbolic shapes fail on GoogLeNet's ceil-mode pooling chain: the program
    # is written with a dynamic batch only, and the warning says so.
    from archc.backends.pytorch.check import export_program

    network = archc.load_spec(SPECS / "googlenet.yaml")
    model = archc.build(SPECS / "googlenet.yaml", seed=0).eval()
    with pytest.warns(UserWarning, match="archc export: torch.export could not keep the input's height and width dynamic"):
        export_program(model, network, str(tmp_path / "g.pt2"))
    program = torch.export.load(str(tmp_path / "g.pt2")).module()
    x = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        _close(program(x), model(x))


# The commands print the sizes ------------------------------------------------------------


def test_validate_and_summary_print_the_sizes(capsys):
    import json

    from archc.cli import main

    assert main(["validate", str(SPECS / "unet.yaml"), str(SPECS / "vit.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  input 1 x H x W: H, W >= 16, multiples of 16"
    assert out[3].startswith("  input 3 x 224 x 224 (fixed: `embedded` (an add) needs ")
    assert main(["summary", str(SPECS / "inception_v3.yaml")]) == 0
    assert "  takes:  input 3 x H x W: H, W >= 75 (in training: H, W >= 299)" in capsys.readouterr().out
    assert main(["summary", str(SPECS / "unet.yaml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nodes"][0]["symbolic_shape"] == [64, "H", "W"]  # enc1's first conv keeps the size
    assert data["nodes"][0]["output_shape"] == [64, 256, 256]
    sizes = data["input_sizes"]["input"]
    assert sizes["shape"] == [1, "H", "W"] and sizes["declared"] == [1, 256, 256]
    assert sizes["sizes"]["H"] == {"min": 16, "step": 16, "residues": [0], "max": None,
                                   "because": "`pool4` (a maxpool2d); `cat1` (a concat)"}


def test_a_block_upsamples_to_the_size_of_an_input_it_names():
    # FPN's top-down step, as torchvision writes it: F.interpolate(top, size=lateral.shape[-2:]).
    text = """
archc: 1
name: tiny_fpn
input: [3, 64, 64]
blocks:
  merge:
    inputs: [lateral, top]
    body:
      - up: {op: "upsample(size=lateral_shape[1:])", from: top}
      - sum: {op: add, from: [lateral, up]}
body:
  - c4: conv2d(8, 3, stride=2, padding=1)
  - c5: conv2d(8, 3, stride=2, padding=1)
  - p4: {op: merge, from: [c4, c5]}
"""
    network = archc.loads(text)
    assert network.input_constraints[0].line() == "input 3 x H x W: H, W >= 1"
    import yaml

    assert "F.interpolate(top, size=(lateral.shape[2], lateral.shape[3]))" in archc.emit(yaml.safe_load(text))
    model = archc.build(network, seed=0).eval()
    oracle = _with_oracle(network, model)
    for size in [(65, 70), (33, 31)]:  # odd sizes: the upsampled map is cut to the lateral's size
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            got = model(x)
            assert torch.equal(got, oracle(x))
        assert got.shape[2:] == ((size[0] + 1) // 2, (size[1] + 1) // 2)


def test_patches_reshaped_at_the_runtime_size_equal_pixel_unshuffle():
    # MobileViT and Swin cut maps into patches and windows with reshapes whose sizes come from the
    # input: they are read in forward, and the rule is the one the patches need (even sizes).
    text = """
archc: 1
name: patches
input: [4, 32, 32]
body:
  - conv: conv2d(4, 3, padding=1)
  - unfold: "reshape([4, input_shape[1] // 2, 2, input_shape[2] // 2, 2])"
  - mix: "permute([0, 1, 3, 5, 2, 4])"
  - fold: "reshape([16, input_shape[1] // 2, input_shape[2] // 2])"
"""
    network = archc.loads(text)
    assert network.input_constraints[0].line() == "input 4 x H x W: H, W >= 2, multiples of 2"
    model = archc.build(network, seed=0).eval()
    for size in [(8, 12), (30, 6)]:
        x = torch.randn(2, 4, *size)
        with torch.no_grad():
            assert torch.equal(model(x), torch.nn.functional.pixel_unshuffle(model.conv(x), 2))
    with pytest.raises(AssertionError, match=r"input height H >= 2, multiples of 2 \(`unfold` \(a reshape\)\)"):
        model(torch.randn(2, 4, 9, 12))
