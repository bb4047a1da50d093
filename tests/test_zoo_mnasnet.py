"""MNASNet at four depth multipliers against torchvision."""
import pytest
import torch
import torchvision

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference

CASES = [
    ("0_5", torchvision.models.mnasnet0_5),
    ("0_75", torchvision.models.mnasnet0_75),
    ("1_0", torchvision.models.mnasnet1_0),
    ("1_3", torchvision.models.mnasnet1_3),
]


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_mnasnet_matches_torchvision(variant, reference):
    # 32x32 survives the five stride-2 convs (1x1 at the end).
    model, ref = assert_matches_reference("mnasnet.yaml", variant, reference, (3, 32, 32))
    # The momentum (1 - 0.9997) shows only in training: compare it on every norm layer.
    theirs = {n: (m.eps, m.momentum) for n, m in ref.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    ours = {n: (m.eps, m.momentum) for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert ours == theirs and len(set(theirs.values())) == 1


def test_initialisation_matches_torchvision():
    torch.manual_seed(0)
    theirs = dict(torchvision.models.mnasnet1_0().named_parameters())
    ours = dict(archc.build(SPECS / "mnasnet.yaml", "1_0", seed=1).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
