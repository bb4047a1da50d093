"""Time to build a model with `archc.build` against the torchvision constructor, CPU.

Prints one line per model (goal: a ratio archc / torchvision of at most 0.8), one thread:
- warm: builds alternate (torchvision, archc, torchvision, ...) in one process, after one
  build of each, so imports and archc's caches (loading, expansion, generated code) are not
  counted; the times are medians, and the ratio is the median of the ratios of adjacent
  pairs, which drift on a shared machine hits alike;
- first: each build in a fresh process (imports done before the clock starts), so archc
  pays for loading, expanding and generating the code; fresh processes alternate too.
Usage: python bench/build_time.py [--repeats N] [--first-runs N] [--models resnet152,...]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

SPECS = Path(__file__).resolve().parent.parent / "specs"

# model: (spec file, variant, torchvision.models function, its keyword arguments)
CASES: dict[str, tuple[str, str | None, str, dict[str, bool]]] = {
    "resnet152": ("resnet.yaml", "152", "resnet152", {}),
    "efficientnet_b7": ("efficientnet.yaml", "b7", "efficientnet_b7", {}),
    "densenet121": ("densenet.yaml", "121", "densenet121", {}),
    "googlenet": ("googlenet.yaml", None, "googlenet", {"init_weights": True}),
    "vgg16": ("vgg.yaml", "16", "vgg16", {}),
}

# One build in a fresh process: prints its seconds. argv: model, "archc" or "torchvision".
FRESH = """
import sys, time
import torch, torchvision, archc
torch.set_num_threads(1)
spec, variant, function, kwargs = {cases}[sys.argv[1]]
if sys.argv[2] == "archc":
    make = lambda: archc.build({specs!r} + "/" + spec, variant)
else:
    make = lambda: getattr(torchvision.models, function)(**kwargs)
start = time.perf_counter()
make()
print(time.perf_counter() - start)
"""


def timed(make: Callable[[], object]) -> float:
    start = time.perf_counter()
    make()
    return time.perf_counter() - start


def warm(name: str, repeats: int) -> tuple[float, float, float]:
    """Median torchvision and archc seconds, and the median ratio of adjacent pairs."""
    import torchvision

    import archc

    spec, variant, function, kwargs = CASES[name]
    reference = getattr(torchvision.models, function)

    def ours() -> object:
        return archc.build(SPECS / spec, variant)

    reference(**kwargs)
    ours()
    ref_times, our_times = [], []
    for _ in range(repeats):
        ref_times.append(timed(lambda: reference(**kwargs)))
        our_times.append(timed(ours))
    ratios = [o / r for o, r in zip(our_times, ref_times)]
    return statistics.median(ref_times), statistics.median(our_times), statistics.median(ratios)


def first(name: str, runs: int) -> tuple[float, float]:
    """Median seconds of the first torchvision and the first archc build, each in a fresh process."""
    code = FRESH.format(cases=repr(CASES), specs=str(SPECS))
    times: dict[str, list[float]] = {"torchvision": [], "archc": []}
    for _ in range(runs):
        for side in times:
            out = subprocess.run([sys.executable, "-c", code, name, side], capture_output=True, text=True, check=True)
            times[side].append(float(out.stdout.split()[-1]))
    return statistics.median(times["torchvision"]), statistics.median(times["archc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="warm builds of each, alternating")
    parser.add_argument("--first-runs", type=int, default=3, help="fresh processes for each side's first build (0: skip)")
    parser.add_argument("--models", default=",".join(CASES))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"{'model':<16} {'warm: torchvision s':>19} {'archc s':>8} {'ratio':>6}"
          f"   {'first: torchvision s':>20} {'archc s':>8} {'ratio':>6}")
    for name in args.models.split(","):
        ref, ours, ratio = warm(name, args.repeats)
        line = f"{name:<16} {ref:>19.3f} {ours:>8.3f} {ratio:>6.3f}"
        if args.first_runs:
            ref_first, our_first = first(name, args.first_runs)
            line += f"   {ref_first:>20.3f} {our_first:>8.3f} {our_first / ref_first:>6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
