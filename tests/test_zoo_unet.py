"""U-Net against a hand-written PyTorch module: the usual padded-conv one, and the paper's
unpadded convs with cropped skips (572x572 -> 388x388)."""
import pytest
import torch
from torch import nn

import archc
from zoo import SPECS, param_count


def double_conv(cin: int, cout: int, batchnorm: bool, padding: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in (cin, cout):
        layers.append(nn.Conv2d(c, cout, 3, padding=padding, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """Ronneberger et al. (2015); levels named enc1..encD, up/dec from the bottom. With
    padding=0 (the paper's), each skip is cropped to the centre of the upsampled map's size."""

    def __init__(self, in_channels=1, num_classes=2, width=64, depth=4, batchnorm=False, padding=1):
        super().__init__()
        self.depth = depth
        cin = in_channels
        for k in range(1, depth + 1):
            setattr(self, f"enc{k}", double_conv(cin, width * 2 ** (k - 1), batchnorm, padding))
            cin = width * 2 ** (k - 1)
        self.bottleneck = double_conv(cin, width * 2 ** depth, batchnorm, padding)
        for k in range(depth, 0, -1):
            c = width * 2 ** (k - 1)
            setattr(self, f"up{k}", nn.ConvTranspose2d(2 * c, c, 2, stride=2))
            setattr(self, f"dec{k}", double_conv(2 * c, c, batchnorm, padding))
        self.head = nn.Conv2d(width, num_classes, 1)

    @staticmethod
    def crop(skip, x):
        top, left = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
        return skip[:, :, top:top + x.shape[2], left:left + x.shape[3]]

    def forward(self, x):
        skips = []
        for k in range(1, self.depth + 1):
            x = getattr(self, f"enc{k}")(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for k in range(self.depth, 0, -1):
            x = getattr(self, f"up{k}")(x)
            x = getattr(self, f"dec{k}")(torch.cat([self.crop(skips[k - 1], x), x], dim=1))
        return self.head(x)


def test_counts_and_keys_match():
    ref = UNet()
    assert archc.load_spec(SPECS / "unet.yaml").total_params == param_count(ref) == 31_030_658
    model = archc.build(SPECS / "unet.yaml", size=32)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


@pytest.mark.parametrize("params", [
    {"width": 8},
    {"width": 4, "depth": 2, "in_channels": 3, "num_classes": 5, "batchnorm": True},
])
def test_equals_the_hand_written_module(params):
    torch.manual_seed(0)
    ref = UNet(**params).eval()
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.75, 1.25)
    model = archc.build(SPECS / "unet.yaml", size=48, **params).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, params.get("in_channels", 1), 48, 48)
    with torch.no_grad():
        expected, got = ref(x), model(x)
    assert got.shape == expected.shape == (2, params.get("num_classes", 2), 48, 48)
    assert (got - expected).abs().max().item() <= 1e-5


def test_paper_variant_maps_572_to_388():
    net = archc.load_spec(SPECS / "unet.yaml", "paper")
    assert net.input_shapes == {"input": (1, 572, 572)} and net.output_shapes == {"output": (2, 388, 388)}
    assert net.total_params == 31_030_658


@pytest.mark.parametrize("size", [44, 45])  # 45: odd sizes crop one more row at the bottom
def test_paper_variant_equals_the_hand_written_module(size):
    torch.manual_seed(0)
    params = {"width": 4, "depth": 2, "padding": 0}
    ref = UNet(**params).eval()
    model = archc.build(SPECS / "unet.yaml", "paper", size=size, width=4, depth=2).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        expected, got = ref(x), model(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5


def test_size_must_survive_the_poolings():
    with pytest.raises(archc.SpecError, match="concat"):
        archc.load_spec(SPECS / "unet.yaml", size=36)  # 36 -> 18 -> 9 -> 4: 8 != 9 at the 3rd level
