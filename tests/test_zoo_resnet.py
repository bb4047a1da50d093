"""ResNet family against torchvision."""
import pytest
import torchvision

from zoo import assert_matches_reference

CASES = [
    ("18", torchvision.models.resnet18),
    ("34", torchvision.models.resnet34),
    ("50", torchvision.models.resnet50),
    ("101", torchvision.models.resnet101),
    ("152", torchvision.models.resnet152),
    ("resnext50_32x4d", torchvision.models.resnext50_32x4d),
    ("wide_resnet50_2", torchvision.models.wide_resnet50_2),
    ("resnext101_32x8d", torchvision.models.resnext101_32x8d),
    ("resnext101_64x4d", torchvision.models.resnext101_64x4d),
    ("wide_resnet101_2", torchvision.models.wide_resnet101_2),
]


@pytest.mark.parametrize("variant,reference", CASES, ids=[c[0] for c in CASES])
def test_resnet_matches_torchvision(variant, reference):
    # 32x32 is the smallest input that survives the five stride-2 stages (1x1 at layer4).
    assert_matches_reference("resnet.yaml", variant, reference, (3, 32, 32))


def test_num_classes_override():
    assert_matches_reference("resnet.yaml", "18", lambda: torchvision.models.resnet18(num_classes=10), (3, 32, 32), num_classes=10)


def test_layer_access_like_torchvision():
    import archc
    from zoo import SPECS

    model = archc.build(SPECS / "resnet.yaml", "18")
    assert model.layer4[0].downsample[0].stride == (2, 2)
    import torch

    out = model.layer4(torch.randn(1, 256, 4, 4))
    assert out.shape == (1, 512, 2, 2)


def test_training_step_matches_torchvision():
    """Train-mode outputs, gradients and updated batch-norm statistics equal the reference's."""
    import torch

    model, reference = assert_matches_reference("resnet.yaml", "18", torchvision.models.resnet18, (3, 32, 32))
    model.train(), reference.train()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    ours, theirs = model(x), reference(x)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    ours.square().mean().backward()
    theirs.square().mean().backward()
    grads = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-4, atol=1e-6, msg=name)
    buffers = dict(reference.named_buffers())
    for name, b in model.named_buffers():
        torch.testing.assert_close(b, buffers[name], msg=name)
