"""Median forward latency of archc models against their references, batch 1, one CPU thread.

Prints one line per model with the ratio archc / reference (1.00 = equal; below 1 is faster).
Runs are interleaved (reference, archc, reference, ...) so drift on a shared machine hits
both alike. Usage: python bench/forward_latency.py [--repeats N] [--models resnet50,...]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import archc

SPECS = Path(__file__).resolve().parent.parent / "specs"


class LeNet5(nn.Module):
    """LeNet-5 (the 28x28 `mnist` variant: ReLU, max pooling) written by hand, as a tutorial would."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.c5 = nn.Linear(256, 120)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.c5(x))
        x = F.relu(self.f6(x))
        return self.output(x)


CASES: dict[str, tuple[str, str, Callable[[], nn.Module], tuple[int, ...]]] = {
    "resnet50": ("resnet.yaml", "50", torchvision.models.resnet50, (3, 224, 224)),
    # The goal (at most 1.02): at 64x64 the Python overhead per module call dominates.
    "resnet18@64": ("resnet.yaml", "18", torchvision.models.resnet18, (3, 64, 64)),
    "resnet18": ("resnet.yaml", "18", torchvision.models.resnet18, (3, 224, 224)),
    "shufflenet_v2_x0_5@64": ("shufflenet_v2.yaml", "x0_5", torchvision.models.shufflenet_v2_x0_5, (3, 64, 64)),
    "shufflenet_v2_x0_5": ("shufflenet_v2.yaml", "x0_5", torchvision.models.shufflenet_v2_x0_5, (3, 224, 224)),
    "densenet121@64": ("densenet.yaml", "121", torchvision.models.densenet121, (3, 64, 64)),
    "densenet121": ("densenet.yaml", "121", torchvision.models.densenet121, (3, 224, 224)),
    "lenet5": ("lenet5.yaml", "mnist", LeNet5, (1, 28, 28)),
}


# Timed runs per model by default: fewer for the slow ones.
REPEATS = {"resnet50": 50, "resnet18": 100, "densenet121": 50, "densenet121@64": 200, "shufflenet_v2_x0_5": 200}


def time_once(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return time.perf_counter() - start


def measure(name: str, repeats: int, warmup: int) -> tuple[float, float]:
    spec, variant, make_reference, shape = CASES[name]
    reference = make_reference().eval()
    model = archc.build(SPECS / spec, variant).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, *shape)
    ref_times, our_times = [], []
    with torch.inference_mode():
        for _ in range(warmup):
            reference(x), model(x)
        for _ in range(repeats):
            ref_times.append(time_once(reference, x))
            our_times.append(time_once(model, x))
    return statistics.median(ref_times), statistics.median(our_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=0, help="timed runs per model (default: by model size)")
    parser.add_argument("--models", default=",".join(CASES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'model':<22} {'reference ms':>12} {'archc ms':>10} {'ratio':>7}")
    for name in args.models.split(","):
        repeats = args.repeats or REPEATS.get(name, 500)
        ref, ours = measure(name, repeats, warmup=max(5, repeats // 10))
        print(f"{name:<22} {ref * 1e3:>12.3f} {ours * 1e3:>10.3f} {ours / ref:>7.3f}")


if __name__ == "__main__":
    main()
