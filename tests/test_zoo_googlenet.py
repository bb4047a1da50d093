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


# --- Variant `paper`: true 5x5 kernels in the third branch ------------------------------
# A module written here from the paper's Table 1 (Szegedy et al., 2014: #1x1, #3x3 reduce,
# #3x3, #5x5 reduce, #5x5, pool proj per inception module), with torchvision's conventions
# for everything the variant keeps (conv + batch norm eps 0.001 + relu, ceil-mode pools, no
# LRN, aux heads with a 4x4 adaptive pool) and torchvision's attribute names, so that the
# state_dicts can be exchanged.

TABLE_1 = {  # name: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


class ConvBN(torch.nn.Sequential):
    def __init__(self, cin, cout, kernel, stride=1):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)
        self.bn = torch.nn.BatchNorm2d(cout, eps=0.001)
        self.relu = torch.nn.ReLU()


class PaperInception(torch.nn.Module):
    def __init__(self, cin, n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj):
        super().__init__()
        self.branch1 = ConvBN(cin, n1x1, 1)
        self.branch2 = torch.nn.Sequential(ConvBN(cin, n3x3red, 1), ConvBN(n3x3red, n3x3, 3))
        self.branch3 = torch.nn.Sequential(ConvBN(cin, n5x5red, 1), ConvBN(n5x5red, n5x5, 5))
        self.branch4 = torch.nn.Sequential(torch.nn.MaxPool2d(3, 1, 1, ceil_mode=True), ConvBN(cin, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class PaperAux(torch.nn.Module):
    def __init__(self, cin, num_classes):
        super().__init__()
        self.conv = ConvBN(cin, 128, 1)
        self.fc1 = torch.nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = torch.nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.conv(torch.nn.functional.adaptive_avg_pool2d(x, 4)).flatten(1)
        x = torch.nn.functional.dropout(torch.relu(self.fc1(x)), 0.7, self.training)
        return self.fc2(x)


class PaperGoogLeNet(torch.nn.Module):
    def __init__(self, aux_logits=True, num_classes=1000):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = ConvBN(3, 64, 7, 2), ConvBN(64, 64, 1), ConvBN(64, 192, 3)
        cin = 192
        for name, row in TABLE_1.items():
            setattr(self, f"inception{name}", PaperInception(cin, *row))
            cin = row[0] + row[2] + row[4] + row[5]
        self.aux_logits = aux_logits
        if aux_logits:
            self.aux1, self.aux2 = PaperAux(512, num_classes), PaperAux(528, num_classes)
        self.fc = torch.nn.Linear(1024, num_classes)

    def forward(self, x):
        pool = lambda t, k=3: torch.nn.functional.max_pool2d(t, k, 2, ceil_mode=True)  # noqa: E731
        x = pool(self.conv3(self.conv2(pool(self.conv1(x)))))
        x = pool(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux_logits and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux_logits and self.training else None
        x = pool(self.inception4e(x), 2)
        x = self.inception5b(self.inception5a(x))
        x = torch.nn.functional.dropout(x.mean([2, 3]), 0.2, self.training)
        x = self.fc(x)
        return (x, aux2, aux1) if aux1 is not None else x


@pytest.mark.parametrize("aux_logits", [True, False])
def test_paper_variant_matches_a_module_written_from_the_paper(aux_logits):
    model, ref = assert_matches_reference(
        "googlenet.yaml", "paper", lambda: PaperGoogLeNet(aux_logits), INPUT, aux_logits=aux_logits)
    assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
    model.train(), ref.train()
    x = torch.randn(2, *INPUT)
    torch.manual_seed(11)
    got = model(x)
    torch.manual_seed(11)
    expected = ref(x)
    assert isinstance(got, tuple) == aux_logits
    for ours, theirs in zip(got, expected) if aux_logits else [(got, expected)]:
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_paper_variant_count_is_torchvision_plus_the_larger_kernels():
    # Each third branch gains (25 - 9) * in * out weights (380,928 in all).
    extra = sum(16 * row[3] * row[4] for row in TABLE_1.values())
    tv = archc.load_spec(SPECS / "googlenet.yaml", aux_logits=False).total_params
    assert archc.load_spec(SPECS / "googlenet.yaml", "paper", aux_logits=False).total_params == tv + extra == 7_005_832
