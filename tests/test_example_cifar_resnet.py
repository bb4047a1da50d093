"""examples/train_cifar_resnet.py: the data it trains on, and a few real training steps."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "train_cifar_resnet.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_cifar_resnet", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_are_padded_to_32x32_on_three_channels():
    train, test = load_script().load_digits(seed=0, train_size=300)
    x, y = train.tensors
    assert x.shape == (300, 3, 32, 32) and len(test) == 1000
    assert torch.bincount(test.tensors[1]).tolist() == [100] * 10
    assert torch.equal(x[:, 0], x[:, 2])  # the grey digit on every channel
    border = torch.cat([x[:, :, :2].flatten(), x[:, :, -2:].flatten(), x[:, :, :, :2].flatten()])
    assert border.unique().numel() == 1  # the 2-pixel padding is blank
    assert not (set(map(bytes, train.tensors[0].numpy())) & set(map(bytes, test.tensors[0].numpy())))


def test_a_few_steps_train_with_stochastic_depth(capsys):
    accuracy = load_script().main(["--max-steps", "4", "--train-size", "256", "--batch-size", "32", "--quiet"])
    out = capsys.readouterr().out
    assert "4 steps" in out and f"test accuracy {accuracy:.2%}" in out and "p_L=0.5" in out
    assert 0.0 <= accuracy <= 1.0
