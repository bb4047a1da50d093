"""Xception against timm's legacy_xception."""
import timm
import torch

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference


def test_xception_matches_timm():
    # 32x32 leaves 1x1 after the stem's two unpadded convs and the four strided blocks.
    model, _ = assert_matches_reference("xception.yaml", None, lambda: timm.create_model("legacy_xception"), (3, 32, 32))
    # The middle flow's shortcuts are identities: no projection modules there.
    assert not hasattr(model.block4, "skip") and model.block12.skip.stride == (2, 2)


def test_num_classes_override():
    assert_matches_reference(
        "xception.yaml", None, lambda: timm.create_model("legacy_xception", num_classes=10), (3, 32, 32), num_classes=10)


def test_initialisation_matches_timm():
    torch.manual_seed(0)
    theirs = dict(timm.create_model("legacy_xception").named_parameters())
    ours = dict(archc.build(SPECS / "xception.yaml", seed=1).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
