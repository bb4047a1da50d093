"""examples/train_mnist.py: one short epoch on the real digits, in this process and under torchrun."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "train_mnist.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_mnist", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_is_fixed_stratified_and_disjoint():
    script = load_script()
    train, test = script.load_digits(seed=0)
    assert len(train) == 4000 and len(test) == 1000
    assert torch.bincount(test.tensors[1]).tolist() == [100] * 10
    # No digit image is in both sets (compared whole, as bytes).
    seen = {row.numpy().tobytes() for row in test.tensors[0]}
    assert not any(row.numpy().tobytes() in seen for row in train.tensors[0])
    again, _ = script.load_digits(seed=0)
    assert torch.equal(again.tensors[0], train.tensors[0])


def test_one_epoch_learns_the_digits(capsys):
    threads = torch.get_num_threads()
    accuracy = load_script().main(["--epochs", "1", "--quiet"])
    assert accuracy >= 0.8  # chance is 0.1; one epoch reaches 87-92% (20 reach 98%)
    assert f"test accuracy {accuracy:.2%}" in capsys.readouterr().out
    assert torch.get_num_threads() == threads  # the script's thread setting does not leak


@pytest.mark.slow
def test_runs_unchanged_under_torchrun():
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT), "--epochs", "1", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "test accuracy" in line]
    assert len(lines) == 1 and "2 processes" in lines[0]  # rank 0 alone prints
    assert float(re.search(r"test accuracy ([\d.]+)%", lines[0]).group(1)) >= 80
