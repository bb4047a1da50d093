"""GoogLeNet against torchvision, including the training-only auxiliary heads."""
import pytest
import torch
import torchvision

import archc
from zoo import SPECS, assert_matches_reference

# 15x15 is the smallest input torchvision's GoogLeNet accepts (its min_size): 1x1 after
# maxpool3; the aux heads' adaptive pooling to 4x4 accepts any size.
INPUT = (3, 15, 15)
CASES = [{}, {"aux_logits": False}, {"transform_input": True}]


@pytest.fixture(scope="module", params=CASES, ids=["default", "no_aux", "transform_input"])
def models(request):
    """(archc model, torchvision model) with the same weights; eval outputs already compared."""
    # init_weights=True: torchvision warns (FutureWarning) when it is left as None.
    make = lambda: torchvision.models.googlenet(init_weights=True, **request.param)  # noqa: E731
    return assert_matches_reference("googlenet.yaml", None, make, INPUT, **request.param)


def test_eval_matches_torchvision(models):
    model, _ = models
    model.eval()
    with torch.no_grad():
        assert type(model(torch.randn(1, *INPUT))) is torch.Tensor  # the logits alone


def test_training_outputs_like_torchvision(models):
    # The auxiliary heads run where torchvision runs them, so with the same seed even the
    # dropout draws agree and the training outputs are equal, not only alike in shape.
    model, ref = models
    model.train()
    ref.train()
    x = torch.randn(2, *INPUT)
    torch.manual_seed(11)
    got = model(x)
    torch.manual_seed(11)
    expected = ref(x)
    if isinstance(expected, torch.Tensor):
        assert type(got) is torch.Tensor and got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    else:
        assert isinstance(got, tuple) and got._fields == expected._fields == ("logits", "aux_logits2", "aux_logits1")
        for ours, theirs in zip(got, expected):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_aux_heads_exist_only_with_aux_logits():
    assert archc.build(SPECS / "googlenet.yaml").aux1.fc2.out_features == 1000
    model = archc.build(SPECS / "googlenet.yaml", aux_logits=False)
    assert not hasattr(model, "aux1") and not hasattr(model, "aux2")
    published = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["num_params"]  # without the aux heads
    assert archc.load_spec(SPECS / "googlenet.yaml", aux_logits=False).total_params == published
