"""Squeeze-and-excitation networks against timm's legacy SENet models."""
import pytest
import timm
import torch

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference

CASES = [
    ("se_resnet50", "legacy_seresnet50"),
    ("se_resnet101", "legacy_seresnet101"),
    ("se_resnet152", "legacy_seresnet152"),
    ("se_resnext50_32x4d", "legacy_seresnext50_32x4d"),
    ("senet154", "legacy_senet154"),
]
HEAVY = {"senet154"}   # 115M parameters: compared in full only under -m slow


def cases(heavy):
    return [pytest.param(v, r, id=v, marks=[pytest.mark.slow] if v in heavy else []) for v, r in CASES]


@pytest.mark.parametrize("variant,reference", cases(HEAVY))
def test_senet_matches_timm(variant, reference):
    # 32x32 survives the stride-2 stem, the ceil-mode pool and three stride-2 stages.
    assert_matches_reference("senet.yaml", variant, lambda: timm.create_model(reference), (3, 32, 32))


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_static_counts_and_keys_match_timm(variant, reference):
    # Every variant, including SENet-154, without allocating a weight on either side.
    with torch.device("meta"):
        ref = timm.create_model(reference)
        model = archc.build(SPECS / "senet.yaml", variant, device="meta")
    assert archc.load_spec(SPECS / "senet.yaml", variant).total_params == sum(p.numel() for p in ref.parameters())
    theirs = {k: v.shape for k, v in ref.state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == theirs


def test_initialisation_matches_timm():
    torch.manual_seed(0)
    theirs = dict(timm.create_model("legacy_seresnet50").named_parameters())
    ours = dict(archc.build(SPECS / "senet.yaml", "se_resnet50", seed=1).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
