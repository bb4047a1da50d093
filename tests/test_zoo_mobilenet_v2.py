"""MobileNetV2 against torchvision, at three widths."""
import pytest
import torch
import torchvision

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference

WIDTHS = [1.0, 0.5, 1.4]


@pytest.mark.parametrize("width_mult", WIDTHS)
def test_mobilenet_v2_matches_torchvision(width_mult):
    # 32x32 is the smallest input that survives the five stride-2 convs (1x1 at the end).
    assert_matches_reference(
        "mobilenet_v2.yaml", None, lambda: torchvision.models.mobilenet_v2(width_mult=width_mult), (3, 32, 32),
        width_mult=width_mult)


def test_initialisation_matches_torchvision():
    torch.manual_seed(0)
    theirs = dict(torchvision.models.mobilenet_v2().named_parameters())
    ours = dict(archc.build(SPECS / "mobilenet_v2.yaml", seed=1).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
