"""MobileNet v1 at four widths against timm, and against keras' published trainable counts."""
import pytest
import timm
import torch
from timm.models.efficientnet import _gen_mobilenet_v1

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference


def timm_mobilenet_v1(alpha):
    # timm registers only the 1.0 model; its generator takes the width multiplier.
    if alpha == 1.0:
        return timm.create_model("mobilenetv1_100")
    return _gen_mobilenet_v1("mobilenetv1_100", alpha)


# keras.applications.MobileNet(alpha=...) trainable parameters (the shared zoo reference
# table): keras does not round widths to multiples of 8, but at these alphas every width
# already is one, so the counts agree with timm's.
KERAS_TRAINABLE = {"100": 4_231_976, "075": 2_585_560, "050": 1_331_592, "025": 470_072}
CASES = [("100", 1.0), ("075", 0.75), ("050", 0.5), ("025", 0.25)]


@pytest.mark.parametrize("variant,alpha", CASES, ids=[c[0] for c in CASES])
def test_mobilenet_v1_matches_timm(variant, alpha):
    # 32x32 survives the five stride-2 convs (1x1 at the end).
    assert_matches_reference("mobilenet_v1.yaml", variant, lambda: timm_mobilenet_v1(alpha), (3, 32, 32))


@pytest.mark.parametrize("variant", KERAS_TRAINABLE)
def test_count_equals_keras_trainable(variant):
    assert archc.load_spec(SPECS / "mobilenet_v1.yaml", variant).total_params == KERAS_TRAINABLE[variant]


def test_resolution_changes_multiply_adds_only():
    full = archc.load_spec(SPECS / "mobilenet_v1.yaml")
    small = archc.load_spec(SPECS / "mobilenet_v1.yaml", resolution=128)
    assert small.total_params == full.total_params
    assert small.input_shapes == {"input": (3, 128, 128)}
    # Every layer but the classifier scales with the number of positions, (128 / 224) ** 2.
    classifier = 1024 * 1000 + 1000
    ratio = (small.total_macs - classifier) / (full.total_macs - classifier)
    assert abs(ratio - (128 / 224) ** 2) < 1e-3


def test_initialisation_matches_timm():
    torch.manual_seed(0)
    theirs = dict(timm.create_model("mobilenetv1_100").named_parameters())
    ours = dict(archc.build(SPECS / "mobilenet_v1.yaml", seed=1).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
