"""Inception v3 against torchvision, including the training-only auxiliary classifier."""
import pytest
import torch
import torchvision

import archc
from zoo import SPECS, assert_matches_reference

# 75x75 is the smallest input torchvision's Inception v3 runs in eval mode (1x1 after
# Mixed_7a). The aux head needs 17x17 at Mixed_6e (its 5x5/3 pool, then a 5x5 conv), which
# only 299x299 gives, so training mode with the aux head is checked at full size.
SMALL, FULL = (3, 75, 75), (3, 299, 299)
CASES = [{}, {"aux_logits": False}, {"transform_input": True}]


@pytest.fixture(scope="module", params=CASES, ids=["default", "no_aux", "transform_input"])
def case(request):
    # init_weights=False: the reference's weights are replaced by ours in the comparison anyway.
    make = lambda: torchvision.models.inception_v3(init_weights=False, **request.param)  # noqa: E731
    model, ref = assert_matches_reference("inception_v3.yaml", None, make, SMALL, **request.param)
    return request.param, model, ref


def test_eval_returns_the_logits_alone(case):
    _, model, _ = case
    with torch.no_grad():
        out = model.eval()(torch.randn(1, *SMALL))
    assert type(out) is torch.Tensor and out.shape == (1, 1000)


def test_training_outputs_like_torchvision(case):
    # The aux head runs where torchvision runs it (before Mixed_7a), so with one seed even
    # the dropout draws agree and the training outputs are equal.
    params, model, ref = case
    aux = params.get("aux_logits", True)
    x = torch.randn(2, *(FULL if aux else SMALL), generator=torch.Generator().manual_seed(3))
    model.train(), ref.train()
    torch.manual_seed(11)
    got = model(x)
    torch.manual_seed(11)
    expected = ref(x)
    if not aux:
        assert type(got) is torch.Tensor and type(expected) is torch.Tensor
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        return
    assert isinstance(got, tuple) and got._fields == expected._fields == ("logits", "aux_logits")
    for ours, theirs in zip(got, expected):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_counts_with_and_without_the_aux_head():
    published = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.meta["num_params"]  # with AuxLogits
    assert archc.load_spec(SPECS / "inception_v3.yaml").total_params == published
    with torch.device("meta"):
        no_aux = torchvision.models.inception_v3(aux_logits=False, init_weights=False)
    assert archc.load_spec(SPECS / "inception_v3.yaml", aux_logits=False).total_params == sum(
        p.numel() for p in no_aux.parameters())


def test_initialisation_like_torchvision():
    # torchvision's init_weights: trunc-normal std 0.1, but 0.01 and 0.001 in the aux head.
    model = archc.build(SPECS / "inception_v3.yaml", seed=0)
    for name, std in [("Mixed_6b.branch7x7_2.conv", 0.1), ("AuxLogits.conv1.conv", 0.01), ("AuxLogits.fc", 0.001)]:
        w = model.get_submodule(name).weight
        assert abs(w.std().item() - std) < 0.05 * std, name
