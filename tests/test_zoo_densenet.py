"""DenseNet family against torchvision."""
import pytest
import torchvision

import archc
from zoo import SPECS, assert_matches_reference

CASES = [
    ("121", torchvision.models.densenet121),
    ("161", torchvision.models.densenet161),
    ("169", torchvision.models.densenet169),
    ("201", torchvision.models.densenet201),
    # torchvision has no densenet264 builder; its DenseNet class with the paper's Table 1 layout.
    ("264", lambda: torchvision.models.DenseNet(32, (6, 12, 64, 48), 64)),
]


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_densenet_matches_torchvision(variant, reference):
    # 32x32 is the smallest input that survives stem (/4) and three 2x2 transitions (1x1 at block 4).
    assert_matches_reference("densenet.yaml", variant, reference, (3, 32, 32))


def test_dropout_variant_matches_torchvision():
    # drop_rate > 0 adds a parameterless dropout; eval outputs and keys are unchanged.
    model, _ = assert_matches_reference(
        "densenet.yaml", "121", lambda: torchvision.models.densenet121(drop_rate=0.2, num_classes=10), (3, 32, 32),
        drop_rate=0.2, num_classes=10)
    assert model.features.denseblock1.denselayer1.dropout.p == 0.2


def test_state_dict_keys_like_torchvision():
    keys = archc.build(SPECS / "densenet.yaml", "121").state_dict().keys()
    assert "features.denseblock1.denselayer1.norm1.weight" in keys
    assert "features.transition3.conv.weight" in keys and "features.transition4.conv.weight" not in keys
