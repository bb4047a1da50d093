"""Spec-declared weight initialisation, checked statistically against torchvision's models."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torchvision

import archc
from archc import SpecError

SPECS = Path(__file__).resolve().parent.parent / "specs"

CASES = [
    ("resnet.yaml", "50", {}, lambda: torchvision.models.resnet50()),
    ("resnet.yaml", "50", {"zero_init_residual": True}, lambda: torchvision.models.resnet50(zero_init_residual=True)),
    ("resnet.yaml", "18", {"zero_init_residual": True}, lambda: torchvision.models.resnet18(zero_init_residual=True)),
    ("googlenet.yaml", None, {}, lambda: torchvision.models.googlenet(init_weights=True)),
    ("densenet.yaml", "121", {}, lambda: torchvision.models.densenet121()),
    ("vgg.yaml", "11_bn", {}, lambda: torchvision.models.vgg11_bn()),
    ("efficientnet.yaml", "b0", {}, lambda: torchvision.models.efficientnet_b0()),
    ("shufflenet_v2.yaml", "x0_5", {}, lambda: torchvision.models.shufflenet_v2_x0_5()),
    ("alexnet.yaml", "torchvision", {}, lambda: torchvision.models.alexnet()),
]


def assert_same_distribution(name: str, ours: torch.Tensor, theirs: torch.Tensor) -> None:
    """Equal constants exactly; otherwise means and standard deviations within sampling error."""
    ours, theirs = ours.double().flatten(), theirs.double().flatten()
    if theirs.numel() == 1 or theirs.std() == 0:
        assert torch.equal(ours, theirs), f"{name}: expected the constant {theirs[0].item()}"
        return
    n = theirs.numel()
    sigma = theirs.std().item()
    # Six standard errors: a wrong scheme or fan mode is off by far more, chance almost never.
    assert abs(ours.mean().item() - theirs.mean().item()) <= 6 * sigma * math.sqrt(2 / n), f"{name}: mean"
    assert abs(ours.std().item() - sigma) <= 6 * sigma * math.sqrt(1 / n) + 1e-12, f"{name}: std {ours.std().item()} vs {sigma}"


@pytest.mark.parametrize("spec,variant,params,reference", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_initialisation_matches_torchvision(spec, variant, params, reference):
    torch.manual_seed(0)
    theirs = dict(reference().named_parameters())
    ours = dict(archc.build(SPECS / spec, variant, seed=1, **params).named_parameters())
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])


def test_seed_gives_bit_identical_weights_and_keeps_global_rng():
    state = torch.random.get_rng_state()
    a = archc.build(SPECS / "resnet.yaml", "18", seed=7).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    b = archc.build(SPECS / "resnet.yaml", "18", seed=7).state_dict()
    c = archc.build(SPECS / "resnet.yaml", "18", seed=8).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


def test_init_rules_errors(tmp_path):
    path = tmp_path / "init.yaml"
    path.write_text(
        "archc: 1\nname: x\ninput: [3, 8, 8]\nbody: [\"conv2d(4, 3)\"]\ninit:\n"
        "  - {match: conv2d, weight: kaiming_normall()}\n"
        "  - {match: 'layer*', weight: zeros}\n"
        "  - {match: conv2d, weight: \"kaiming_normal(mode='fan_up')\"}\n"
    )
    with pytest.raises(SpecError) as exc:
        archc.load_spec(path)
    text = str(exc.value)
    assert f"{path}:6:29: error: unknown init scheme 'kaiming_normall'; did you mean 'kaiming_normal'?" in text
    assert f"{path}:7:14: error: init rule matches no node: 'layer*'" in text
    assert "mode must be one of fan_in, fan_out, got 'fan_up'" in text
