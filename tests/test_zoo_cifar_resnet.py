"""CIFAR ResNets (He et al. 2015, section 4.2) with option A/B shortcuts and stochastic depth.

The reference is written from the papers: option A is "extra zero entries padded for increasing
dimensions" on a stride-2 subsample, option B a 1x1 projection; stochastic depth (Huang et al.
2016) drops block l of L with probability l / L (1 - p_L), drawn by torchvision's
stochastic_depth (mode 'batch' as the paper, 'row' per sample).
"""
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import archc
from zoo import SPECS, assert_matches_reference, param_count


class CifarBasicBlock(nn.Module):
    def __init__(self, cin, planes, stride, shortcut, drop, mode):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        changes = stride != 1 or cin != planes
        self.zero_pad = (planes - cin) // 2 if changes and shortcut == "A" else None
        if changes and shortcut == "B":
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        self.drop, self.mode = drop, mode

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        out = torchvision.ops.stochastic_depth(out, self.drop, self.mode, self.training)
        if self.zero_pad is not None:
            identity = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.zero_pad, self.zero_pad))
        elif hasattr(self, "downsample"):
            identity = self.downsample(x)
        else:
            identity = x
        return F.relu(out + identity)


class CifarResNet(nn.Module):
    def __init__(self, depth, shortcut="A", p_L=1.0, mode="batch", num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin, l, L = 16, 0, 3 * n
        for s, planes in enumerate((16, 32, 64)):
            blocks = []
            for i in range(n):
                l += 1
                stride = 2 if s > 0 and i == 0 else 1
                blocks.append(CifarBasicBlock(cin, planes, stride, shortcut, l / L * (1 - p_L), mode))
                cin = planes
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# He et al.'s Table 6 depths; 110 and 1202 are the reference notes' hand arithmetic, the others 6n+2 likewise.
COUNTS = {"20": 269_722, "32": 464_154, "44": 658_586, "56": 853_018, "110": 1_727_962, "1202": 19_421_274}


@pytest.mark.parametrize("variant", ["20", "32", "110"])
def test_option_a_matches_paper_module(variant):
    assert_matches_reference("cifar_resnet.yaml", variant, lambda: CifarResNet(int(variant)), (3, 32, 32))


def test_option_b_matches_paper_module():
    model, _ = assert_matches_reference("cifar_resnet.yaml", "20", lambda: CifarResNet(20, "B"), (3, 32, 32), shortcut="B")
    # Option B adds two 1x1 projections with batch norm: 16->32 and 32->64.
    assert param_count(model) == COUNTS["20"] + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


@pytest.mark.parametrize("variant", list(COUNTS))
def test_counts(variant):
    assert archc.load_spec(SPECS / "cifar_resnet.yaml", variant).total_params == COUNTS[variant]


def test_resnet1202_reference_count():
    assert param_count(CifarResNet(1202)) == COUNTS["1202"]


@pytest.mark.slow
def test_resnet1202_matches_paper_module():
    assert_matches_reference("cifar_resnet.yaml", "1202", lambda: CifarResNet(1202), (3, 8, 8))


def test_option_a_is_one_pad_node():
    model = archc.build(SPECS / "cifar_resnet.yaml", "20")
    line = [s for s in model.layer2[0].code.splitlines() if "F.pad" in s]
    assert len(line) == 1 and "(0, 0, 0, 0, 8, 8)" in line[0], model.layer2[0].code


@pytest.mark.parametrize("mode", ["batch", "row"])
def test_stochastic_depth_train_outputs_equal_under_a_seed(mode):
    model, reference = assert_matches_reference(
        "cifar_resnet.yaml", "20", lambda: CifarResNet(20, p_L=0.5, mode=mode), (3, 32, 32), p_L=0.5, sd_mode=mode
    )
    model.train(), reference.train()
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    for seed in range(3):
        torch.manual_seed(seed)
        expected = reference(x)
        torch.manual_seed(seed)
        torch.testing.assert_close(model(x), expected)


def test_stochastic_depth_linear_decay_rule():
    model = archc.build(SPECS / "cifar_resnet.yaml", "32", p_L=0.5)
    drops = [block.drop.p for layer in (model.layer1, model.layer2, model.layer3) for block in layer]
    L = len(drops)
    assert L == 15
    assert drops == pytest.approx([l / L * 0.5 for l in range(1, L + 1)])  # p_l = 1 - l/L (1 - p_L)
    assert archc.build(SPECS / "cifar_resnet.yaml", "20").layer1[0].code.count("drop") == 0


@pytest.mark.parametrize("mode", ["batch", "row"])
def test_stochastic_depth_survival_rates(mode):
    """Over many training passes each block survives with its p_l: per batch, or per sample."""
    model = archc.build(SPECS / "cifar_resnet.yaml", "20", p_L=0.2, sd_mode=mode).train()
    blocks = [b for layer in (model.layer1, model.layer2, model.layer3) for b in layer]
    kept: dict[int, list[float]] = {i: [] for i in range(len(blocks))}
    for i, block in enumerate(blocks):
        block.drop.register_forward_hook(
            lambda m, ins, out, i=i: kept[i].extend((out.flatten(1).abs().sum(1) > 0).float().tolist())
        )
    torch.manual_seed(0)
    batch = 4
    with torch.no_grad():
        for _ in range(150):
            model(torch.randn(batch, 3, 8, 8))
    L = len(blocks)
    for i, flags in kept.items():
        flags_t = torch.tensor(flags).view(150, batch)
        if mode == "batch":  # the whole mini-batch is kept or dropped together
            assert bool(((flags_t.sum(1) == 0) | (flags_t.sum(1) == batch)).all())
        else:  # samples are dropped independently: mixed batches occur
            assert bool(((flags_t.sum(1) > 0) & (flags_t.sum(1) < batch)).any())
        survival = 1 - (i + 1) / L * 0.8
        draws = flags_t[:, 0] if mode == "batch" else flags_t.flatten()
        sigma = (survival * (1 - survival) / len(draws)) ** 0.5
        assert abs(draws.mean().item() - survival) <= 4.5 * sigma + 1e-9, (i, draws.mean().item(), survival)
    # Eval: every block runs, deterministically.
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(x), model(x))
