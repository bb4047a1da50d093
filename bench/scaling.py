"""Time (and memory) of archc on specs at the documented limits: every stage should be linear.

Each case runs in a fresh process (no cache carries over) and prints its wall time, or
">T s" when it runs past the timeout. The specs are written to a temporary folder:
  nodes-20k     5,000 repeats of a 4-node block, each reading a 5,000-entry list param
  aliases       a ~600-byte spec whose list param is built from YAML aliases (10,000 leaves)
  list-90k      a 90,000-value list param read by 10,000 nodes
  nodes-100k    100,000 nodes: the Limits.max_nodes default
  values-1m     a 4 MiB file with a million values (refused)
  draw-10k      `archc draw --expand -o x.svg` on a 10,000-node spec (refused before dot runs)
  repeats-2x10k two 10,000-instance repeats, emitted and built (loop folding was quadratic: 65 s)
  loads-60k     8 loads of a 60,000-node spec at other params, dropped: resident memory after
Goals: nodes-20k validates < 2 s and builds < 5 s, nodes-100k validates < 10 s,
values-1m is refused < 1 s, `archc summary` on nodes-100k peaks under 500 MB.
Usage: python bench/scaling.py [--timeout S] [--cases nodes-20k,...]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "archc: 1\nname: net\n"


def nodes_20k() -> str:
    widths = ", ".join(str(8 + k % 4) for k in range(5000))
    return HEADER + f"""input: [8]
params:
  widths: [{widths}]
blocks:
  unit:
    params: {{w: null}}
    body: [linear(w), relu, linear(8), relu]
body:
  - units: {{repeat: 5000, op: "unit(widths[i])"}}
"""


def aliases() -> str:
    # 10 x 10 x 10 x 10 leaves from four aliased rows: a small file, a large param.
    return HEADER + """input: [8]
params:
  a: &a [8, 9, 8, 9, 8, 9, 8, 9, 8, 9]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
body:
  - l: {repeat: 10000, op: "linear(d[i // 1000][i // 100 % 10][i // 10 % 10][i % 10])"}
"""


def list_90k() -> str:
    values = ", ".join(str(8 + k % 4) for k in range(90_000))
    return HEADER + f"""input: [8]
params:
  w: [{values}]
body:
  - l: {{repeat: 10000, op: "linear(w[i * 9])"}}
"""


def nodes_100k() -> str:
    # 10 containers of 9,999 nodes: 100,000 items, exactly Limits.max_nodes.
    body = "".join(f"  - s{k}: {{repeat: 9999, op: linear(8)}}\n" for k in range(10))
    return HEADER + "input: [8]\nbody:\n" + body


def values_1m() -> str:
    return HEADER + "input: [8]\nbody: [relu]\ndoc: [" + "1, " * 999_999 + "1]\n"


def repeats_2x10k() -> str:
    return HEADER + "input: [4, 8, 8]\nbody:\n  - a: {repeat: 10000, op: relu}\n  - b: {repeat: 10000, op: 'conv2d(4, 1)'}\n"


def nodes_60k() -> str:
    return HEADER + "input: [8]\nparams: {w: 8}\nbody:\n  - l: {repeat: 10000, body: [linear(w), relu, linear(w), relu, linear(w), relu]}\n"


# Eight loads at other params, each dropped: what the caches keep shows in the resident memory.
DROPPED = (
    "import archc, gc, sys\nfor w in range(8, 16):\n    archc.load_spec(sys.argv[1], w=w)\ngc.collect()\n"
    "print(f'resident after: {int(open(\"/proc/self/statm\").read().split()[1]) * 4096 / 1e6:.0f} MB', file=sys.stderr)\n"
)


def nodes_10k() -> str:
    return HEADER + "input: [8]\nbody:\n  - l: {repeat: 10000, op: relu}\n"


LOAD = "import archc, sys; archc.load_spec(sys.argv[1])"
BUILD = "import archc, sys; archc.build(sys.argv[1])"
REFUSE = "import archc, sys\ntry:\n    archc.load_spec(sys.argv[1])\nexcept archc.SpecError as e:\n    print(str(e)[-60:], file=sys.stderr)\nelse:\n    sys.exit('accepted')"
CLI = "import sys; from archc.cli import main; sys.exit(main(sys.argv[1:]))"

# name: (spec, what, python code or CLI arguments)
CASES = [
    ("nodes-20k validate", nodes_20k, LOAD, None),
    ("nodes-20k build", nodes_20k, BUILD, None),
    ("aliases validate", aliases, LOAD, None),
    ("list-90k validate", list_90k, LOAD, None),
    ("nodes-100k validate", nodes_100k, LOAD, None),
    ("values-1m refuse", values_1m, REFUSE, None),
    ("nodes-100k summary", nodes_100k, CLI, ["summary", "{spec}"]),
    ("draw-10k", nodes_10k, CLI, ["draw", "{spec}", "--expand", "-o", "{dir}/x.svg"]),
    ("repeats-2x10k emit", repeats_2x10k, CLI, ["emit", "{spec}", "-o", "{dir}/x.py"]),
    ("repeats-2x10k build", repeats_2x10k, BUILD, None),
    ("loads-60k dropped", nodes_60k, DROPPED, None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    args = parser.parse_args()
    wanted = set(args.cases.split(",")) if args.cases else None
    print(f"{'case':<22} {'time':>10} {'peak RSS':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for name, make, code, cli in CASES:
            if wanted and name not in wanted:
                continue
            spec = Path(folder) / f"{make.__name__}.yaml"
            if not spec.exists():
                spec.write_text(make())
            argv = [a.format(spec=spec, dir=folder) for a in cli] if cli else [str(spec)]
            elapsed, peak = measure(code, argv, args.timeout)
            print(f"{name:<22} {elapsed:>10} {peak:>10}", flush=True)


def measure(code: str, argv: list[str], timeout: float) -> tuple[str, str]:
    """Wall time and peak resident memory (MB) of the case in a fresh process."""
    wrapper = (
        "import resource, sys, time\n"
        "start = time.perf_counter()\n"
        "try:\n"
        f"    exec(compile({code!r}, '<case>', 'exec'))\n"
        "finally:\n"
        "    print(f'{time.perf_counter() - start:.2f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}', file=sys.stderr)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", wrapper, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return f">{timeout:.0f} s", "-"
    lines = err.strip().splitlines()
    timing = [line for line in lines if re.fullmatch(r"[\d.]+ \d+", line)]
    seconds, megabytes = timing[-1].split() if timing else ("?", "?")
    problem = next((line for line in reversed(lines) if "Error" in line or "error:" in line), "")
    for line in lines:
        if line.startswith("resident after:"):
            megabytes += f" ({line})"
    status = "" if process.returncode == 0 else f" (exit {process.returncode}: {problem.strip()[:80]})"
    return f"{seconds} s{status}", f"{megabytes} MB"


if __name__ == "__main__":
    main()
