"""The compiled modules in the PyTorch toolchain: compile, export, copies, state, devices."""
from __future__ import annotations

import copy
import io
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import archc

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ROOT / "tests" / "specs" / "features.yaml"
RESNET = ROOT / "specs" / "resnet.yaml"


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return archc.build(FEATURES, "tiny").eval()


def sample() -> torch.Tensor:
    return torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(3))


def test_torch_compile_fullgraph_matches_eager(tiny):
    compiled = torch.compile(tiny, fullgraph=True)  # fullgraph: archc causes no graph break
    with torch.no_grad():
        torch.testing.assert_close(compiled(sample()), tiny(sample()), rtol=1e-4, atol=1e-5)


def test_torch_export_round_trip(tiny, tmp_path):
    program = torch.export.export(tiny, (sample(),))
    path = tmp_path / "tiny.pt2"
    torch.export.save(program, str(path))
    loaded = torch.export.load(str(path))
    with torch.no_grad():
        torch.testing.assert_close(loaded.module()(sample()), tiny(sample()))


def test_state_dict_round_trip_through_a_file(tiny, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(tiny.state_dict(), path)
    other = archc.build(FEATURES, "tiny").eval()
    other.load_state_dict(torch.load(path))
    with torch.no_grad():
        torch.testing.assert_close(other(sample()), tiny(sample()))


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))], ids=["deepcopy", "pickle"])
def test_copies_are_independent_and_equal(tiny, clone):
    twin = clone(tiny)
    with torch.no_grad():
        torch.testing.assert_close(twin(sample()), tiny(sample()))
        next(twin.parameters()).add_(1.0)
    assert not torch.equal(next(twin.parameters()), next(tiny.parameters()))


def test_blocks_are_callable_and_children_replaceable():
    model = archc.build(RESNET, "18").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        stem = torch.nn.functional.max_pool2d(torch.relu(model.bn1(model.conv1(x))), 3, 2, 1)
        features = model.layer4(model.layer3(model.layer2(model.layer1(stem))))
    assert features.shape == (1, 512, 2, 2)
    model.fc = nn.Linear(512, 3)
    assert model(x).shape == (1, 3)
    assert model.layer4[-1] is model.layer4[1]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        model.layer4[5]


def test_dtype_and_device_arguments():
    model = archc.build(FEATURES, "tiny", dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    meta = archc.build(RESNET, "50", device="meta")
    assert all(p.is_meta for p in meta.parameters())


def test_train_and_eval_modes_change_behaviour():
    model = archc.build(FEATURES)  # has stochastic depth and a training-only head
    x = sample()
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    assert hasattr(model(x), "aux")


def test_generated_code_is_readable(tiny):
    model = archc.build(RESNET, "50")
    code = model.layer1[0].code
    forward = code[code.index("    def forward"):].splitlines()
    assert forward == [
        "    def forward(self, x):",
        "        out = self.conv1(x)",
        "        out = self.bn1(out)",
        "        out = torch.relu_(out)",
        "        out = self.conv2(out)",
        "        out = self.bn2(out)",
        "        out = torch.relu_(out)",
        "        out = self.conv3(out)",
        "        out = self.bn3(out)",
        "        downsample = x",
        "        if self.downsample is not None:",
        "            downsample = self.downsample(x)",
        "        out = out.add_(downsample)",
        "        out = torch.relu_(out)",
        "        return out",
    ]
    assert type(model).__name__ == "Resnet" and type(model.layer1[0]).__name__ == type(model.layer1[1]).__name__ == "Bottleneck"
    # The network's own forward, used once, keeps its shape comments.
    assert "x = self.layer1(x)  # N x 256 x 56 x 56" in model.code


def test_training_backward_with_in_place_ops():
    """In-place relu/add in generated code must leave autograd's saved tensors intact."""
    for spec, variant, shape in [(RESNET, "18", (3, 32, 32)), (ROOT / "specs" / "efficientnet.yaml", "b0", (3, 32, 32)),
                                 (ROOT / "specs" / "shufflenet_v2.yaml", "x0_5", (3, 32, 32)), (FEATURES, None, (8, 16, 16))]:
        model = archc.build(spec, variant).train()
        out = model(torch.randn(2, *shape))
        loss = (out if isinstance(out, torch.Tensor) else sum(out)).sum()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda(tiny):
    model = copy.deepcopy(tiny).to("cuda")
    with torch.no_grad():
        torch.testing.assert_close(model(sample().cuda()).cpu(), tiny(sample()), rtol=1e-3, atol=1e-4)
