"""DeepLabV3 against torchvision's deeplabv3_resnet50 / resnet101 (no pretrained weights)."""
import pytest
import torch
import torchvision
from torchvision.models import resnet
from torchvision.models.segmentation import deeplabv3

import archc
from zoo import SPECS, param_count

VARIANTS = ["resnet50", "resnet101"]


def reference(variant: str, layers: list[int] | None = None, **kwargs) -> torch.nn.Module:
    if layers is None:
        return getattr(torchvision.models.segmentation, f"deeplabv3_{variant}")(weights=None, weights_backbone=None, **kwargs)
    # torchvision's own builder with a shorter backbone: the same code path, fewer blocks.
    backbone = resnet.ResNet(resnet.Bottleneck, layers, replace_stride_with_dilation=[False, True, True])
    return deeplabv3._deeplabv3_resnet(backbone, kwargs.get("num_classes", 21), kwargs.get("aux_loss"))


def randomized(model: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def compare(variant: str, layers: list[int] | None = None, size: int = 64) -> None:
    ref = randomized(reference(variant, layers))
    extra = {"layers": layers} if layers else {}
    model = archc.build(SPECS / "deeplabv3.yaml", variant, size=size, **extra).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x)["out"], model(x)
    assert got.shape == expected.shape == (2, 21, size, size)
    assert (got - expected).abs().max().item() <= 1e-4


@pytest.mark.parametrize("variant", VARIANTS)
def test_counts_and_keys_match_torchvision(variant):
    ref = reference(variant)
    assert archc.load_spec(SPECS / "deeplabv3.yaml", variant, size=64).total_params == param_count(ref)
    short = [1, 1, 2, 1]
    model = archc.build(SPECS / "deeplabv3.yaml", variant, size=64, layers=short)
    keys = {k: v.shape for k, v in reference(variant, short).state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == keys


def test_resnet50_equals_torchvision():
    compare("resnet50")


def test_short_backbone_equals_torchvision():
    # Dilation 2 then 4 in the later blocks of layer3 and layer4, as in the full network.
    compare("resnet101", layers=[1, 1, 3, 2])


def test_output_has_the_input_size():
    assert archc.load_spec(SPECS / "deeplabv3.yaml", size=96).output_shapes == {"out": (21, 96, 96)}


def test_aux_head_equals_torchvision():
    # The FCN head reads `backbone.layer3`, a node inside the backbone group.
    short = [1, 1, 2, 1]
    ref = randomized(reference("resnet50", short, aux_loss=True))
    model = archc.build(SPECS / "deeplabv3.yaml", size=32, layers=short, aux_loss=True).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    assert param_count(model) == param_count(ref)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), model(x)
    for name in ("out", "aux"):
        assert (getattr(got, name) - expected[name]).abs().max().item() <= 1e-4
    assert archc.load_spec(SPECS / "deeplabv3.yaml", aux_loss=True).total_params == param_count(reference("resnet50", aux_loss=True))


@pytest.mark.slow
def test_resnet101_equals_torchvision():
    compare("resnet101")
