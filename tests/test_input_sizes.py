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
    oracle = interpret(network).eval()
    oracle.load_state_dict(model.state_dict(), strict=True)
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
    assert line.startswith("input 3 x 224 x 224 (fixed: `embedded` needs ")
    assert "== 197" in line
    model = archc.build(SPECS / "vit.yaml", "tiny_patch16_224").eval()
    with pytest.raises(AssertionError, match=r"this network takes input height H = 224 only \(`embedded` needs"):
        model(torch.randn(1, 3, 160, 160))


def test_unet_refuses_a_size_that_is_not_a_multiple_of_16():
    model = archc.build(SPECS / "unet.yaml").eval()
    with pytest.raises(AssertionError, match=r"input width W >= 16, multiples of 16 \(`pool4`"):
        model(torch.randn(1, 1, 64, 72))


def test_training_only_heads_ask_more_in_training():
    network = archc.load_spec(SPECS / "inception_v3.yaml")
    assert network.input_constraints[0].line() == "input 3 x H x W: H, W >= 75 (in training: H, W >= 299)"
    model = archc.build(SPECS / "inception_v3.yaml").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 75, 75)).shape == (1, 1000)  # torchvision's minimum too
    with pytest.raises(AssertionError, match=r"H >= 299 .* in training"):
        model.train()(torch.randn(2, 3, 200, 200))
