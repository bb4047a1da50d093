"""VGG family against torchvision."""
import functools

import pytest
import torchvision

import archc
from zoo import SPECS, assert_matches_reference

VARIANTS = ["11", "13", "16", "19", "11_bn", "13_bn", "16_bn", "19_bn"]


def reference(variant, **kwargs):
    # Keep torchvision's init_weights: its larger activations make a wrong layer (e.g. a batch-norm
    # eps of 1e-3) show ~1e-3 in the outputs, against ~1.6e-5 with PyTorch's default init.
    return functools.partial(getattr(torchvision.models, "vgg" + variant), **kwargs)


@pytest.mark.parametrize("variant", VARIANTS)
def test_vgg_matches_torchvision(variant):
    # 32x32 is the smallest input that survives the five max-pools (1x1); the adaptive pool then yields 7x7.
    assert_matches_reference("vgg.yaml", variant, reference(variant), (3, 32, 32))


def test_num_classes_override():
    assert_matches_reference("vgg.yaml", "11_bn", reference("11_bn", num_classes=10), (3, 32, 32), num_classes=10)


def test_dropout_param():
    model = archc.build(SPECS / "vgg.yaml", "11", dropout=0.3)
    # Index by name: archc's Sequential holds only the modules with state (relu is functional).
    assert [getattr(model.classifier, k).p for k in ("2", "5")] == [0.3, 0.3]
