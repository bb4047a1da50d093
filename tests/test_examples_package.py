"""examples/finetune.py (torchvision weights into an archc ResNet-18, new head, bf16, channels_last,
torch.compile) and examples/train_mnist.py's per-epoch lines and clean piped output."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torchvision

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_finetune_model_is_torchvisions_with_a_new_head(tmp_path):
    finetune = load("finetune")
    reference = torchvision.models.resnet18().eval()
    torch.save(reference.state_dict(), tmp_path / "r18.pt")
    model = finetune.make_model(finetune.parse_args(["--weights", str(tmp_path / "r18.pt"), "--classes", "3", "--device", "cpu"]))
    assert model.fc.out_features == 3
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():  # the body is torchvision's: features before the head agree
        reference.fc = torch.nn.Identity()
        model.fc = torch.nn.Identity()
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)


def test_finetune_runs_and_fits_its_batches():
    losses = load("finetune").main(["--no-compile", "--steps", "6", "--batch-size", "4", "--image-size", "32", "--device", "cpu"])
    assert len(losses) == 6 and all(loss == loss for loss in losses)  # no NaN under bf16
    assert min(losses[3:]) < losses[0]


@pytest.mark.slow
def test_finetune_with_torch_compile():
    result = subprocess.run([sys.executable, str(EXAMPLES / "finetune.py"), "--device", "cpu"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fine-tuned resnet-18" in result.stdout


def test_train_mnist_prints_accuracy_per_epoch_and_pipes_cleanly():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_mnist.py"), "--epochs", "2"], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bars when not on a terminal
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["epoch 1/2", "epoch 2/2"]
    assert all(re.fullmatch(r"epoch \d/2: train loss [\d.]+, test acc [\d.]+%", line) for line in lines[:2])
    assert "\r" not in result.stdout and "test accuracy" in lines[2]
