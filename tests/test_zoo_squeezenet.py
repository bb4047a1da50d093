"""SqueezeNet 1.0 and 1.1 against torchvision."""
import pytest
import torch
import torchvision

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference

CASES = [
    ("1_0", torchvision.models.squeezenet1_0),
    ("1_1", torchvision.models.squeezenet1_1),
]


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_squeezenet_matches_torchvision(variant, reference):
    # 32x32 leaves 1x1 after the last of the three ceil-mode pools in both versions.
    assert_matches_reference("squeezenet.yaml", variant, reference, (3, 32, 32))


def test_num_classes_override():
    assert_matches_reference(
        "squeezenet.yaml", "1_1", lambda: torchvision.models.squeezenet1_1(num_classes=10), (3, 32, 32), num_classes=10)


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_initialisation_matches_torchvision(variant, reference):
    torch.manual_seed(0)
    theirs = dict(reference().named_parameters())
    ours = dict(archc.build(SPECS / "squeezenet.yaml", variant, seed=1).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
