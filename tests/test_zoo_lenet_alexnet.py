"""LeNet-5 and AlexNet: torchvision's AlexNet, and hand-written modules for the paper-only nets.

LeNet-5 and the 2012 AlexNet have no library builder, so the references below are plain
nn.Modules written from the papers (same attribute names as the specs); the totals are the
papers'/reference notes' figures, not archc's output.
"""
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import archc
from zoo import SPECS, assert_matches_reference, param_count


class LeNet5Classic(nn.Module):
    """32x32 input, tanh, parameter-free average subsampling, C5 as a 5x5 conv, linear output."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)
        x = torch.tanh(torch.flatten(self.c5(x), 1))
        return self.output(torch.tanh(self.f6(x)))


class LeNet5MNIST(nn.Module):
    """28x28 input without padding: 28->24->12->8->4, ReLU, max-pool, 256->120->84->10."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.c5 = nn.Linear(16 * 4 * 4, 120)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        x = F.relu(self.c5(torch.flatten(x, 1)))
        return self.output(F.relu(self.f6(x)))


class PaperLRN(nn.Module):
    """Krizhevsky et al. 2012, section 3.3, literally: a / (k + alpha * sum of a^2 over n adjacent maps)^beta."""

    def __init__(self, n=5, alpha=1e-4, beta=0.75, k=2.0):
        super().__init__()
        self.n, self.alpha, self.beta, self.k = n, alpha, beta, k

    def forward(self, a):
        channels = a.shape[1]
        padded = F.pad(a.pow(2), (0, 0, 0, 0, self.n // 2, self.n // 2))
        total = sum(padded[:, j:j + channels] for j in range(self.n))
        return a / (self.k + self.alpha * total).pow(self.beta)


class AlexNet2012(nn.Module):
    """The paper's two-GPU net: the GPU split is groups=2 on conv2, conv4 and conv5."""

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True), PaperLRN(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True), PaperLRN(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


# Totals stated by the issue / reference notes (LeNet-5 hand arithmetic; AlexNet "60 million").
PAPER_COUNTS = {("lenet5.yaml", "classic"): 61_706, ("lenet5.yaml", "mnist"): 44_426, ("alexnet.yaml", "original"): 60_965_224}

CASES = [
    ("lenet5.yaml", "classic", LeNet5Classic, (1, 32, 32)),
    ("lenet5.yaml", "mnist", LeNet5MNIST, (1, 28, 28)),
    ("alexnet.yaml", "original", AlexNet2012, (3, 227, 227)),  # 227: the only size giving 55x55 after conv1
]


@pytest.mark.parametrize("spec,variant,reference,shape", CASES[:2], ids=[c[1] for c in CASES[:2]])
def test_lenet5_matches_hand_written_module(spec, variant, reference, shape):
    assert_matches_reference(spec, variant, reference, shape)


def test_alexnet_original_matches_hand_written_module():
    model, reference = assert_matches_reference("alexnet.yaml", "original", AlexNet2012, (3, 227, 227))
    # At unit-scale inputs k=2 dominates the LRN denominator, so an alpha off by the factor
    # `size` (torch's alpha/n convention) changes outputs by < 1e-6. Drive it with large inputs.
    x = 100 * torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model.features(x), reference.features(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spec,variant", list(PAPER_COUNTS), ids=[v for _, v in PAPER_COUNTS])
def test_paper_parameter_counts(spec, variant):
    expected = PAPER_COUNTS[spec, variant]
    assert archc.load_spec(SPECS / spec, variant).total_params == expected
    reference = {c[:2]: c[2] for c in CASES}[spec, variant]
    assert param_count(reference()) == expected


def test_alexnet_torchvision():
    # 63x63 is torchvision's declared min_size for AlexNet (1x1 after the last pool).
    assert_matches_reference("alexnet.yaml", "torchvision", torchvision.models.alexnet, (3, 63, 63), size=63)


def test_alexnet_torchvision_overrides():
    model, _ = assert_matches_reference(
        "alexnet.yaml", "torchvision", lambda: torchvision.models.alexnet(num_classes=10, dropout=0.3), (3, 63, 63),
        size=63, num_classes=10, dropout=0.3,
    )
    assert [m.p for m in model.classifier if isinstance(m, nn.Dropout)] == [0.3, 0.3]


def test_lenet5_num_classes_override():
    assert_matches_reference("lenet5.yaml", "mnist", lambda: LeNet5MNIST(num_classes=26), (1, 28, 28), num_classes=26)
