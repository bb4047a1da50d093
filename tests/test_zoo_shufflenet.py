"""ShuffleNet V2 family against torchvision."""
import pytest
import torch
import torchvision

from zoo import assert_matches_reference

CASES = [
    ("x0_5", torchvision.models.shufflenet_v2_x0_5),
    ("x1_0", torchvision.models.shufflenet_v2_x1_0),
    ("x1_5", torchvision.models.shufflenet_v2_x1_5),
    ("x2_0", torchvision.models.shufflenet_v2_x2_0),
]


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_shufflenet_v2_matches_torchvision(variant, reference):
    # 16x16 keeps stage2 at 2x2 (so the strided depthwise convs see their padding) and
    # stage3/stage4 at 1x1; torchvision's own minimum is 1x1.
    assert_matches_reference("shufflenet_v2.yaml", variant, reference, (3, 16, 16))


def test_num_classes_override():
    assert_matches_reference(
        "shufflenet_v2.yaml", "x0_5", lambda: torchvision.models.shufflenet_v2_x0_5(num_classes=10), (3, 16, 16),
        num_classes=10,
    )


def test_units_match_torchvision_units():
    # Stride-1 units pass the first channel half through and shuffle; compare unit by unit
    # at a spatial size where the 3x3 depthwise kernels are fully used.
    model, reference = assert_matches_reference("shufflenet_v2.yaml", "x0_5", torchvision.models.shufflenet_v2_x0_5, (3, 16, 16))
    assert not hasattr(model.stage2[1], "branch1")
    x = torch.randn(2, 24, 8, 8)
    with torch.no_grad():
        for got, expected in zip(model.stage2, reference.stage2):
            y = expected(x)
            assert torch.allclose(got(x), y, atol=1e-5)
            x = y

