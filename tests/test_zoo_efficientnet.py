"""EfficientNet B0-B7 against torchvision."""
import pytest
import torch
import torchvision
from torchvision.models.efficientnet import MBConv

import archc
from archc.backends.pytorch.runtime import StochasticDepth
from zoo import SPECS, assert_matches_reference

VARIANTS = [f"b{k}" for k in range(8)]


def reference(variant):
    return getattr(torchvision.models, f"efficientnet_{variant}")


@pytest.mark.parametrize("variant", VARIANTS)
def test_efficientnet_matches_torchvision(variant):
    # 32x32 is the smallest input that survives the five stride-2 stages (1x1 at features.8).
    assert_matches_reference("efficientnet.yaml", variant, reference(variant), (3, 32, 32))


def test_num_classes_override():
    assert_matches_reference("efficientnet.yaml", "b0", lambda: torchvision.models.efficientnet_b0(num_classes=10), (3, 32, 32), num_classes=10)


@pytest.mark.parametrize("variant", ["b0", "b3", "b7"])
def test_stochastic_depth_rates_match(variant):
    ref = reference(variant)().train()
    model = archc.build(SPECS / "efficientnet.yaml", variant).train()
    # torchvision gives every MBConv a StochasticDepth but only applies it on residual blocks;
    # the spec has one exactly where it is applied.
    expected = [m.stochastic_depth.p for m in ref.modules() if isinstance(m, MBConv) and m.use_res_connect]
    got = [m.p for m in model.modules() if isinstance(m, StochasticDepth)]
    assert expected and got == expected
    assert all(isinstance(m, torchvision.ops.StochasticDepth) for m in ref.modules() if isinstance(m, MBConv) for m in [m.stochastic_depth])
    assert [m.mode for m in model.modules() if isinstance(m, StochasticDepth)] == ["row"] * len(got)


def test_norm_settings_per_variant():
    for variant in VARIANTS:
        bn = archc.build(SPECS / "efficientnet.yaml", variant).features[0][1]
        ref_bn = reference(variant)().features[0][1]
        assert (bn.eps, bn.momentum) == (ref_bn.eps, ref_bn.momentum)
