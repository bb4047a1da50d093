"""Time to build a model with `archc.build` against the torchvision constructor, CPU.

Prints one line per model with the median times and the ratio archc / torchvision (goal:
at most 0.8). Runs alternate (torchvision, archc, torchvision, ...) in one process so
drift on a shared machine hits both alike; one build of each comes first, so imports and
first-call caches are not counted on either side. That first archc build (which loads,
expands and generates the code that later builds of the same spec reuse) is printed too.
Usage: python bench/build_time.py [--repeats N] [--models resnet152,...]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torchvision

import archc

SPECS = Path(__file__).resolve().parent.parent / "specs"

CASES: dict[str, tuple[str, str | None, Callable[[], nn.Module]]] = {
    "resnet152": ("resnet.yaml", "152", torchvision.models.resnet152),
    "efficientnet_b7": ("efficientnet.yaml", "b7", torchvision.models.efficientnet_b7),
    "densenet121": ("densenet.yaml", "121", torchvision.models.densenet121),
    "googlenet": ("googlenet.yaml", None, lambda: torchvision.models.googlenet(init_weights=True)),
    "vgg16": ("vgg.yaml", "16", torchvision.models.vgg16),
}


def timed(make: Callable[[], nn.Module]) -> float:
    start = time.perf_counter()
    make()
    return time.perf_counter() - start


def measure(name: str, repeats: int) -> tuple[float, float, float]:
    spec, variant, reference = CASES[name]

    def ours() -> nn.Module:
        return archc.build(SPECS / spec, variant)

    reference()  # warm-up: imports, allocator
    first = timed(ours)  # and archc's caches
    ref_times, our_times = [], []
    for _ in range(repeats):
        ref_times.append(timed(reference))
        our_times.append(timed(ours))
    return statistics.median(ref_times), statistics.median(our_times), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(CASES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'model':<18} {'torchvision s':>13} {'archc s':>9} {'ratio':>7} {'archc first s':>14}")
    for name in args.models.split(","):
        ref, ours, first = measure(name, args.repeats)
        print(f"{name:<18} {ref:>13.3f} {ours:>9.3f} {ours / ref:>7.3f} {first:>14.3f}", flush=True)


if __name__ == "__main__":
    main()
