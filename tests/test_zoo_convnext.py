"""ConvNeXt against timm's convnext_tiny / small / base."""
import pytest
import timm
import torch

import archc
from zoo import SPECS, param_count

VARIANTS = ["tiny", "small", "base"]


def randomized(model: torch.nn.Module) -> torch.nn.Module:
    """Every tensor drawn afresh: layer scales near 1 (not 1e-6), so each residual branch shows."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            centre = 1.0 if name.endswith("gamma") or ("norm" in name and name.endswith("weight")) else 0.0
            p.copy_(torch.randn(p.shape, generator=g) * 0.1 + centre)
    return model.eval()


def compare(variant: str, depths: list[int] | None = None, size: int = 64, atol: float = 2e-5) -> None:
    extra = {"depths": depths} if depths else {}
    ref = randomized(timm.create_model(f"convnext_{variant}", num_classes=10, **({"depths": tuple(depths)} if depths else {})))
    model = archc.build(SPECS / "convnext.yaml", variant, num_classes=10, **extra).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), model(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= atol


@pytest.mark.parametrize("variant", VARIANTS)
def test_counts_and_keys_match_timm(variant):
    assert archc.load_spec(SPECS / "convnext.yaml", variant).total_params == param_count(timm.create_model(f"convnext_{variant}"))
    short = [1, 1, 2, 1]
    ref = timm.create_model(f"convnext_{variant}", depths=tuple(short))
    model = archc.build(SPECS / "convnext.yaml", variant, depths=short)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_tiny_equals_timm():
    compare("tiny")


@pytest.mark.parametrize("variant", ["small", "base"])
def test_equals_timm_with_short_stages(variant):
    compare(variant, depths=[1, 1, 2, 1])


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["small", "base"])
def test_equals_timm_full_depth(variant):
    compare(variant)


def test_drop_path_rates_match_timm():
    ref = timm.create_model("convnext_tiny", drop_path_rate=0.1)
    model = archc.build(SPECS / "convnext.yaml", "tiny", drop_path_rate=0.1)
    expected = [m.drop_prob for m in ref.modules() if type(m).__name__ == "DropPath"]
    got = [m.p for m in model.modules() if type(m).__name__ == "DropPath"]
    assert len(got) == 17 and got == pytest.approx(expected)
