"""Inception-v4 against timm."""
import timm
import torch

import archc
from zoo import SPECS, assert_matches_reference

# 75x75 is the smallest input timm's Inception-v4 runs (1x1 after Reduction-B).
INPUT = (3, 75, 75)


def test_inception_v4_matches_timm():
    model, ref = assert_matches_reference("inception_v4.yaml", None, lambda: timm.create_model("inception_v4"), INPUT)
    # The average-pool branches leave the padding out of the mean, as timm's do.
    assert model.features[6].branch3[0].count_include_pad is False
    theirs = {n: m.eps for n, m in ref.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    ours = {n: m.eps for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert ours == theirs and set(theirs.values()) == {0.001}


def test_num_classes_override():
    assert_matches_reference(
        "inception_v4.yaml", None, lambda: timm.create_model("inception_v4", num_classes=10), INPUT, num_classes=10)


def test_initialisation_matches_timm():
    # timm leaves Inception-v4 at PyTorch's own initialisation, and so does the spec.
    from test_init import assert_same_distribution

    torch.manual_seed(0)
    theirs = dict(timm.create_model("inception_v4").named_parameters())
    ours = dict(archc.build(SPECS / "inception_v4.yaml", seed=1).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
