"""MobileNetV3 large and small against torchvision."""
import pytest
import torch
import torchvision

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference

CASES = [
    ("large", torchvision.models.mobilenet_v3_large),
    ("small", torchvision.models.mobilenet_v3_small),
]


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_mobilenet_v3_matches_torchvision(variant, reference):
    # 32x32 survives the five stride-2 stages (1x1 at the end).
    model, ref = assert_matches_reference("mobilenet_v3.yaml", variant, reference, (3, 32, 32))
    # eps shows in eval outputs; momentum only in training: compare both on every norm layer.
    theirs = {n: (m.eps, m.momentum) for n, m in ref.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    ours = {n: (m.eps, m.momentum) for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert ours == theirs and set(theirs.values()) == {(0.001, 0.01)}


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_initialisation_matches_torchvision(variant, reference):
    torch.manual_seed(0)
    theirs = dict(reference().named_parameters())
    ours = dict(archc.build(SPECS / "mobilenet_v3.yaml", variant, seed=1).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
