"""Pre-activation ResNet (v2) against timm."""
import pytest
import timm
import torch

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference

VARIANTS = ["50", "101", "152"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_resnet_v2_matches_timm(variant):
    # 32x32 survives the five stride-2 stages (1x1 at the last stage).
    assert_matches_reference("resnet_v2.yaml", variant, lambda: timm.create_model(f"resnetv2_{variant}"), (3, 32, 32))


def test_num_classes_override():
    assert_matches_reference(
        "resnet_v2.yaml", "50", lambda: timm.create_model("resnetv2_50", num_classes=10), (3, 32, 32), num_classes=10)


@pytest.mark.parametrize("zero_init_last", [False, True])
def test_initialisation_matches_timm(zero_init_last):
    torch.manual_seed(0)
    theirs = dict(timm.create_model("resnetv2_50", zero_init_last=zero_init_last).named_parameters())
    ours = dict(archc.build(SPECS / "resnet_v2.yaml", "50", seed=1, zero_init_last=zero_init_last).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
