"""CapsNet (Sabour, Frosst & Hinton 2017) against a module written from the paper.

The reference follows the paper's equations: squash (eq. 1), u_hat = W u (eq. 2), and
Procedure 1 (routing-by-agreement, 3 iterations); the decoder sees the label's capsule in
training and the longest capsule in eval.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archc
from zoo import SPECS, param_count


def squash(s):
    norm = s.norm(dim=-1, keepdim=True)
    return norm ** 2 / (1 + norm ** 2) * s / norm.clamp_min(1e-12)


class PrimaryCaps(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(256, 32 * 8, 9, stride=2)

    def forward(self, x):
        u = self.conv(x).view(x.shape[0], 32, 8, 6, 6)  # 32 capsule types x 8 dims on 6x6
        return squash(u.permute(0, 1, 3, 4, 2).reshape(x.shape[0], 1152, 8))


class DigitCaps(nn.Module):
    def __init__(self, iterations=3):
        super().__init__()
        self.iterations = iterations
        self.W = nn.Parameter(0.01 * torch.randn(1152, 10, 16, 8))

    def forward(self, u):
        u_hat = (self.W @ u[:, :, None, :, None]).squeeze(-1)  # N x 1152 x 10 x 16
        b = torch.zeros(u_hat.shape[:3])
        for r in range(self.iterations):
            c = F.softmax(b, dim=2)
            v = squash((c[..., None] * u_hat).sum(1))
            if r < self.iterations - 1:
                b = b + torch.einsum("nijd,njd->nij", u_hat, v)
        return v


class CapsNet(nn.Module):
    def __init__(self, decoder=True):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 256, 9)
        self.primary = PrimaryCaps()
        self.digit = DigitCaps()
        if decoder:
            self.decoder = nn.Sequential(
                nn.Linear(160, 512), nn.ReLU(inplace=True), nn.Linear(512, 1024), nn.ReLU(inplace=True),
                nn.Linear(1024, 784), nn.Sigmoid(),
            )

    def forward(self, image, label):
        v = self.digit(self.primary(F.relu(self.conv1(image))))
        lengths = v.norm(dim=-1)
        if not hasattr(self, "decoder"):
            return (lengths,)
        mask = label if self.training else F.one_hot(lengths.argmax(1), 10).float()
        return lengths, self.decoder((v * mask[..., None]).flatten(1))


COUNTS = {"mnist": 8_215_568, "no_decoder": 6_804_224}  # the reference notes' hand arithmetic


def _pair(variant):
    torch.manual_seed(0)
    reference = CapsNet(decoder=variant == "mnist")
    with torch.no_grad():  # capsules of length ~0.5 rather than ~0.001, so routing shows in the outputs
        reference.digit.W.mul_(30)
    model = archc.build(SPECS / "capsnet.yaml", variant)
    model.load_state_dict(reference.state_dict(), strict=True)
    return model, reference


def _outputs(out):
    return [out] if isinstance(out, torch.Tensor) else list(out)


@pytest.mark.parametrize("variant", list(COUNTS))
def test_matches_paper_module_in_eval_and_training(variant):
    model, reference = _pair(variant)
    assert param_count(model) == param_count(reference) == COUNTS[variant]
    assert archc.load_spec(SPECS / "capsnet.yaml", variant).total_params == COUNTS[variant]
    g = torch.Generator().manual_seed(1)
    image = torch.rand(3, 1, 28, 28, generator=g)
    label = F.one_hot(torch.tensor([3, 7, 1]), 10).float()
    for mode in (False, True):
        model.train(mode), reference.train(mode)
        with torch.no_grad():
            got, expected = _outputs(model(image, label)), _outputs(reference(image, label))
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_decoder_sees_the_label_in_training_and_the_longest_capsule_in_eval():
    model, _ = _pair("mnist")
    image = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    a, b = F.one_hot(torch.tensor([0, 1]), 10).float(), F.one_hot(torch.tensor([5, 9]), 10).float()
    with torch.no_grad():
        model.train()
        assert not torch.allclose(model(image, a).reconstruction, model(image, b).reconstruction)
        model.eval()
        torch.testing.assert_close(model(image, a).reconstruction, model(image, b).reconstruction)


def test_routing_gives_capsules_shorter_than_one_that_agree_more_each_round():
    """Procedure 1: more iterations concentrate the coupling on the agreeing output capsule."""
    model, _ = _pair("no_decoder")
    image = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        u = model.primary(F.relu(model.conv1(image)))
        lengths = []
        for iterations in (1, 3):
            model.digit.iterations = iterations
            lengths.append(model.digit(u).norm(dim=-1))
    assert bool((lengths[1] < 1).all()) and bool((lengths[1] > 0).all())
    # Routing moves mass towards the most-agreeing capsule: the longest one grows.
    assert bool((lengths[1].max(1).values > lengths[0].max(1).values).all())
