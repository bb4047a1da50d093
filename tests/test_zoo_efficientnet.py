"""EfficientNet B0-B7 against torchvision."""
import pytest
import torch
import torchvision
from torchvision.models.efficientnet import MBConv

import archc
from zoo import SPECS, assert_matches_reference

VARIANTS = [f"b{k}" for k in range(8)]


def reference(variant, **kwargs):
    return lambda: getattr(torchvision.models, f"efficientnet_{variant}")(**kwargs)


def norm_settings(model):
    return [(m.eps, m.momentum) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_efficientnet_matches_torchvision(variant):
    # 32x32 is the smallest input that survives the five stride-2 stages (1x1 at features.8).
    model, ref = assert_matches_reference("efficientnet.yaml", variant, reference(variant), (3, 32, 32))
    # Eval outputs show a wrong eps, not a wrong momentum: compare both (B5-B7 differ).
    assert norm_settings(model) == norm_settings(ref)
    assert model.classifier[0].p == ref.classifier[0].p


def test_num_classes_override():
    assert_matches_reference("efficientnet.yaml", "b0", reference("b0", num_classes=10), (3, 32, 32), num_classes=10)


@pytest.mark.parametrize("variant", ["b0", "b7"])
def test_stochastic_depth_rates_match(variant):
    ref = reference(variant)().train()
    model = archc.build(SPECS / "efficientnet.yaml", variant).train()
    # torchvision gives every MBConv a StochasticDepth but applies it only on residual blocks;
    # the spec has one exactly where it is applied.
    expected = [(m.stochastic_depth.p, m.stochastic_depth.mode) for m in ref.modules() if isinstance(m, MBConv) and m.use_res_connect]
    got = [(m.p, m.mode) for m in model.modules() if type(m).__name__ == "StochasticDepth"]  # the emitted copy of the runtime class
    assert expected and got == expected


def test_train_mode_matches_with_same_seed():
    # Same random draws in the same order: stochastic depth per residual block, then dropout.
    ref = reference("b0")().train()
    model = archc.build(SPECS / "efficientnet.yaml", "b0").train()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    expected = ref(x)
    torch.manual_seed(3)
    got = model(x)
    assert (got - expected).abs().max().item() <= 1e-5
