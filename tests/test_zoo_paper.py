"""Paper-only networks without a library builder: ZFNet, Network in Network, CIFAR Wide ResNets.

Each reference below is a plain nn.Module written from its paper (and, where the paper leaves
widths open, the authors' released code), not from archc's output. The totals are the hand
arithmetic of the reference notes; the tests load the reference's weights into the archc model
strictly (same names), and compare parameter counts and outputs.
"""
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import archc
from test_zoo_lenet_alexnet import PaperLRN
from zoo import SPECS, assert_matches_reference, param_count


class ZFNet(nn.Module):
    """Zeiler & Fergus 2013, Fig. 3: 7x7/2 conv1, 5x5/2 conv2, dense conv3-5; 110/55/26/13/6 maps."""

    def __init__(self, num_classes=1000):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731  (Caffe rounds pooled sizes up)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 7, stride=2, padding=1), nn.ReLU(inplace=True), PaperLRN(), pool(),
            nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(inplace=True), PaperLRN(), pool(),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True), pool(),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        assert x.shape[1:] == (256, 6, 6)
        return self.classifier(torch.flatten(x, 1))


def mlpconv(cin, widths, kernel, stride=1, padding=0):
    """Lin et al.'s mlpconv layer: a conv and two 1x1 convs ("cccp"), each with ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, widths[0], kernel, stride, padding), nn.ReLU(inplace=True),
        nn.Conv2d(widths[0], widths[1], 1), nn.ReLU(inplace=True),
        nn.Conv2d(widths[1], widths[2], 1), nn.ReLU(inplace=True),
    )


class NiNCIFAR10(nn.Module):
    """The authors' released CIFAR-10 model: three mlpconv layers, global average pooling, no fc."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            mlpconv(3, (192, 160, 96), 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.Dropout(0.5),
            mlpconv(96, (192, 192, 192), 5, padding=2), nn.AvgPool2d(3, 2, ceil_mode=True), nn.Dropout(0.5),
            mlpconv(192, (192, 192, num_classes), 3, padding=1), nn.AvgPool2d(8, 1),
        )

    def forward(self, x):
        return torch.flatten(self.features(x), 1)


class NiNImageNet(nn.Module):
    """The authors' released ImageNet model: four mlpconv layers, global average pooling over 6x6."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            mlpconv(3, (96, 96, 96), 11, stride=4), nn.MaxPool2d(3, 2, ceil_mode=True),
            mlpconv(96, (256, 256, 256), 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True),
            mlpconv(256, (384, 384, 384), 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True), nn.Dropout(0.5),
            mlpconv(384, (1024, 1024, num_classes), 3, padding=1), nn.AvgPool2d(6, 1),
        )

    def forward(self, x):
        return torch.flatten(self.features(x), 1)


class WideBasic(nn.Module):
    """Zagoruyko & Komodakis: BN-ReLU-conv3x3, BN-ReLU, dropout, conv3x3; 1x1 projection of the
    pre-activated input where the shape changes (as their released code)."""

    def __init__(self, cin, planes, stride, dropout):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.project = stride != 1 or cin != planes
        if self.project:
            self.shortcut = nn.Conv2d(cin, planes, 1, stride, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(o)))))
        return y + (self.shortcut(o) if self.project else x)


class WideResNetCIFAR(nn.Module):
    def __init__(self, depth=28, k=10, dropout=0.0, num_classes=10):
        super().__init__()
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        cin = 16
        for g, (width, stride) in enumerate(((16 * k, 1), (32 * k, 2), (64 * k, 2)), start=1):
            blocks = []
            for i in range(n):
                blocks.append(WideBasic(cin, width, stride if i == 0 else 1, dropout))
                cin = width
            setattr(self, f"block{g}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        x = F.relu(self.bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class BypassFire(torchvision.models.squeezenet.Fire):
    """Iandola et al. section 6: a Fire module with its input added to its output, directly
    (simple bypass) or through a 1x1 conv where the widths differ (complex bypass)."""

    def __init__(self, cin, squeeze, expand, bypass):
        super().__init__(cin, squeeze, expand, expand)
        self.mode = bypass if bypass == "complex" or cin == 2 * expand else "none"
        if self.mode == "complex" and cin != 2 * expand:
            self.bypass = nn.Conv2d(cin, 2 * expand, 1)

    def forward(self, x):
        out = super().forward(x)
        if self.mode == "none":
            return out
        return out + (self.bypass(x) if hasattr(self, "bypass") else x)


class SqueezeNetBypass(nn.Module):
    """SqueezeNet 1.0 (paper Table 1 / torchvision layout) with simple or complex bypass."""

    def __init__(self, bypass, num_classes=1000):
        super().__init__()
        fire = lambda cin, s, e: BypassFire(cin, s, e, bypass)  # noqa: E731
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 7, stride=2), nn.ReLU(inplace=True), pool(),
            fire(96, 16, 64), fire(128, 16, 64), fire(128, 32, 128), pool(),
            fire(256, 32, 128), fire(256, 48, 192), fire(384, 48, 192), fire(384, 64, 256), pool(),
            fire(512, 64, 256),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1)
        )

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


# LeCun et al. 1998, Table I: the S2 maps (rows 0-5) marked X in each C3 column 0-15.
C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5),
)


def lecun_tanh(a):
    return 1.7159 * torch.tanh(2 / 3 * a)  # Appendix A: f(a) = A tanh(S a)


class PaperSubsample(nn.Module):
    """S2/S4: "the four inputs to a unit are added, multiplied by a trainable coefficient, and added to a trainable bias"."""

    def __init__(self, maps):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(maps))
        self.bias = nn.Parameter(torch.randn(maps))

    def forward(self, x):
        return 4 * F.avg_pool2d(x, 2) * self.weight[:, None, None] + self.bias[:, None, None]


class PaperC3(nn.Module):
    """C3: map j is a 5x5 convolution over the S2 maps of Table I's column j only (one kernel per connection)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(sum(map(len, C3_TABLE)), 1, 5, 5) * 0.1)
        self.bias = nn.Parameter(torch.randn(16) * 0.1)

    def forward(self, x):
        maps, at = [], 0
        for j, inputs in enumerate(C3_TABLE):
            kernel = self.weight[at:at + len(inputs)].view(1, len(inputs), 5, 5)
            # The spec lists each column's maps in ascending order; so does this gather.
            maps.append(F.conv2d(x[:, sorted(inputs)], kernel, self.bias[j:j + 1]))
            at += len(inputs)
        return torch.cat(maps, 1)


class PaperRBF(nn.Module):
    """Output: y_i = sum_j (x_j - w_ij)^2 with fixed +-1 parameter vectors w_i (not trained)."""

    def __init__(self, classes=10):
        super().__init__()
        self.register_buffer("centres", torch.randint(0, 2, (classes, 84)).float() * 2 - 1)

    def forward(self, x):
        return torch.cdist(x, self.centres) ** 2


class LeNet5Paper(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = PaperSubsample(6)
        self.c3 = PaperC3()
        self.s4 = PaperSubsample(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = PaperRBF()

    def forward(self, x):
        x = lecun_tanh(self.s2(lecun_tanh(self.c1(x))))
        x = lecun_tanh(self.s4(lecun_tanh(self.c3(x))))
        x = lecun_tanh(torch.flatten(self.c5(x), 1))
        return self.output(lecun_tanh(self.f6(x)))


# The reference notes' hand arithmetic (and, for NiN ImageNet and WRN-16-8/40-4, ours: see the specs' docs).
COUNTS = {
    ("zfnet.yaml", None): 62_357_608,
    ("nin.yaml", "cifar10"): 966_986,
    ("nin.yaml", "imagenet"): 7_595_176,
    ("wide_resnet_cifar.yaml", "28_10"): 36_479_194,
    ("wide_resnet_cifar.yaml", "16_8"): 10_961_370,
    ("wide_resnet_cifar.yaml", "40_4"): 8_949_210,
    ("squeezenet.yaml", "1_0_simple_bypass"): 1_248_424,
    ("squeezenet.yaml", "1_0_complex_bypass"): 1_589_672,
    ("lenet5.yaml", "paper"): 60_000,
}

CASES = [
    ("zfnet.yaml", None, ZFNet, (3, 224, 224)),
    ("nin.yaml", "cifar10", NiNCIFAR10, (3, 32, 32)),
    ("nin.yaml", "imagenet", NiNImageNet, (3, 224, 224)),
    ("wide_resnet_cifar.yaml", "28_10", lambda: WideResNetCIFAR(28, 10), (3, 16, 16)),
    ("wide_resnet_cifar.yaml", "16_8", lambda: WideResNetCIFAR(16, 8), (3, 32, 32)),
    ("wide_resnet_cifar.yaml", "40_4", lambda: WideResNetCIFAR(40, 4), (3, 32, 32)),
    ("squeezenet.yaml", "1_0_simple_bypass", lambda: SqueezeNetBypass("simple"), (3, 64, 64)),
    ("squeezenet.yaml", "1_0_complex_bypass", lambda: SqueezeNetBypass("complex"), (3, 64, 64)),
]


@pytest.mark.parametrize("spec,variant,reference,shape", CASES, ids=[f"{c[0][:-5]}-{c[1]}" for c in CASES])
def test_matches_hand_written_module(spec, variant, reference, shape):
    assert_matches_reference(spec, variant, reference, shape)


@pytest.mark.parametrize("spec,variant", list(COUNTS), ids=[f"{s[:-5]}-{v}" for s, v in COUNTS])
def test_hand_arithmetic_counts(spec, variant):
    assert archc.load_spec(SPECS / spec, variant).total_params == COUNTS[spec, variant]


def test_squeezenet_bypass_variants_load_torchvision_weights():
    """The bypasses keep the Fire names: torchvision's 1.0 weights load (complex: plus its 4 convs)."""
    weights = torchvision.models.squeezenet1_0().state_dict()
    archc.build(SPECS / "squeezenet.yaml", "1_0_simple_bypass").load_state_dict(weights, strict=True)
    missing = archc.build(SPECS / "squeezenet.yaml", "1_0_complex_bypass").load_state_dict(weights, strict=False)
    assert sorted(missing.missing_keys) == [f"features.{i}.bypass.{t}" for i in (10, 3, 5, 8) for t in ("bias", "weight")]
    assert missing.unexpected_keys == []


def test_lenet5_paper_matches_hand_written_module():
    # RBF outputs are sums of 84 squares (about 100): cdist's float error is about 1e-5 there.
    assert_matches_reference("lenet5.yaml", "paper", LeNet5Paper, (1, 32, 32), atol=1e-4)


def test_lenet5_paper_c3_sees_only_table_i():
    """Output map j of C3 depends on S2 map i exactly where Table I has an X."""
    model = archc.build(SPECS / "lenet5.yaml", "paper")
    for j, inputs in enumerate(C3_TABLE):
        x = torch.randn(1, 6, 14, 14, requires_grad=True)
        model.c3(x)[0, j].sum().backward()
        touched = {i for i in range(6) if x.grad[0, i].abs().sum() > 0}
        assert touched == set(inputs), j
    assert [k for k in model.state_dict() if "centres" in k] == ["output.centres"]  # fixed: a buffer, not counted
    assert set(model.output.centres.unique().tolist()) == {-1.0, 1.0}


def test_zfnet_feature_map_sizes_are_fig3():
    net = archc.load_spec(SPECS / "zfnet.yaml")
    sizes = [node.out_shapes[0][1] for _, node in net.graph.walk() if node.op in ("conv2d", "maxpool2d")]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]


def test_wide_resnet_dropout_between_the_convs():
    model, reference = assert_matches_reference(
        "wide_resnet_cifar.yaml", "16_8", lambda: WideResNetCIFAR(16, 8, dropout=0.3), (3, 16, 16), dropout=0.3
    )
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3] * 6
    # In training, dropout draws the same masks in the same order as the reference.
    model.train(), reference.train()
    x = torch.randn(2, 3, 16, 16)
    torch.manual_seed(5)
    expected = reference(x)
    torch.manual_seed(5)
    torch.testing.assert_close(model(x), expected)
    assert param_count(model) == COUNTS["wide_resnet_cifar.yaml", "16_8"]
