"""Vision Transformer against timm's vit_*_patch16_224."""
import pytest
import timm
import torch

import archc
from zoo import SPECS, param_count

VARIANTS = ["tiny_patch16_224", "small_patch16_224", "base_patch16_224"]


def randomized(model: torch.nn.Module) -> torch.nn.Module:
    """Every tensor drawn afresh (norm weights too), so any misplaced or unused tensor shows."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if name.endswith("norm.weight") or ".norm" in name and name.endswith("weight") else 0.0))
    return model.eval()


def compare(variant: str, img_size: int, num_classes: int = 1000, depth: int = 12, atol: float = 2e-5) -> None:
    ref = randomized(timm.create_model(f"vit_{variant}", img_size=img_size, num_classes=num_classes, depth=depth))
    model = archc.build(SPECS / "vit.yaml", variant, img_size=img_size, num_classes=num_classes, depth=depth).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, img_size, img_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), model(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= atol


@pytest.mark.parametrize("variant", VARIANTS)
def test_counts_and_keys_match_timm(variant):
    ref = timm.create_model(f"vit_{variant}")
    net = archc.load_spec(SPECS / "vit.yaml", variant)
    assert net.total_params == param_count(ref)
    model = archc.build(SPECS / "vit.yaml", variant, depth=1)  # one block: keys, fast
    expected = {k: v.shape for k, v in ref.state_dict().items() if not k.startswith("blocks.") or k.startswith("blocks.0.")}
    assert {k: v.shape for k, v in model.state_dict().items()} == expected


def test_tiny_equals_timm_at_224():
    compare("tiny_patch16_224", 224)


@pytest.mark.parametrize("variant", ["small_patch16_224", "base_patch16_224"])
def test_equals_timm_at_64(variant):
    # timm's img_size changes only the position embedding's length, as the spec's param does;
    # two blocks keep it fast (every block is the same code; the slow test runs all twelve).
    compare(variant, 64, num_classes=10, depth=2)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["small_patch16_224", "base_patch16_224"])
def test_equals_timm_at_224(variant):
    compare(variant, 224)


def test_readable_forward_code():
    model = archc.build(SPECS / "vit.yaml", "tiny_patch16_224", depth=1)
    assert "self.cls_token.expand(x.shape[0], -1, -1)" in model.code
    assert "select(1, 0)" in model.code
