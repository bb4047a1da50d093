"""Inception-v4 and Inception-ResNet-v2 against timm."""
import pytest
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


def inception_resnet_v2(**kwargs):
    return timm.create_model("inception_resnet_v2", pretrained=False, **kwargs)


def test_inception_resnet_v2_matches_timm():
    # 75x75 is the smallest input here too (Reduction-B's valid 3x3/2 convs meet a 3x3 map).
    model, ref = assert_matches_reference("inception_v4.yaml", "resnet_v2", inception_resnet_v2, INPUT)
    # The residual scales: timm keeps them as plain attributes, the spec as `scale` nodes.
    theirs = {name + ".scale": m.scale for name, m in ref.named_modules() if hasattr(m, "scale")}
    network = archc.load_spec(SPECS / "inception_v4.yaml", "resnet_v2")
    ours = {path: node.attrs.value for path, node in network.graph.walk() if node.op == "scale"}
    assert ours == theirs and list(theirs.values()) == [0.17] * 10 + [0.1] * 20 + [0.2] * 9 + [1.0]
    assert ref.block8.relu is None and not any(isinstance(m, torch.nn.ReLU) for m in model.block8.modules())
    assert sum(isinstance(m, torch.nn.Conv2d) and m.bias is not None for m in model.modules()) == 40


def test_inception_resnet_v2_num_classes_override():
    assert_matches_reference(
        "inception_v4.yaml", "resnet_v2", lambda: inception_resnet_v2(num_classes=10), INPUT, num_classes=10)


def test_smallest_input_is_the_references():
    # One pixel less and both networks refuse it: timm when it runs, archc statically.
    smaller = (3, INPUT[1] - 1, INPUT[2] - 1)
    for variant, make in (("v4", lambda: timm.create_model("inception_v4")), ("resnet_v2", inception_resnet_v2)):
        with pytest.raises(archc.SpecError):
            archc.load_spec(SPECS / "inception_v4.yaml", variant, input_shape=smaller)
        with pytest.raises(RuntimeError), torch.no_grad():
            make().eval()(torch.zeros(1, *smaller))
