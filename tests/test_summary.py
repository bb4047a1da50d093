"""`archc summary` against torchinfo's figures, computed here from the reference torch models themselves:
trainable split, sizes in MB, the forward/backward activation estimate, kernels, depth, units, formats."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archc", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def torchinfo_figures(model: torch.nn.Module, shape: tuple[int, ...]) -> dict[str, float]:
    """torchinfo's totals by its own definitions (model_statistics.py): parameters at 4 bytes,
    the input at batch 1, and twice the output bytes of every leaf module that has parameters."""
    outputs = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel() * out.element_size()))
        for m in model.modules()
        if not list(m.children()) and any(True for _ in m.parameters(recurse=False))
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "Total params": params, "Trainable params": trainable, "Non-trainable params": params - trainable,
        "Input size (MB)": round(math.prod(shape) * 4 / 1e6, 2),
        "Forward/backward pass size (MB)": round(2 * sum(outputs) / 1e6, 2),
        "Params size (MB)": round(sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6, 2),
    }


def footer(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if line.startswith(("Total", "Trainable", "Non-", "Input size", "Forward", "Params size")))


@pytest.mark.parametrize("spec,variant,make,shape", [
    ("resnet", "18", torchvision.models.resnet18, (3, 224, 224)),
    ("resnet", "18", torchvision.models.resnet18, (3, 160, 160)),
    ("shufflenet_v2", "x1_0", torchvision.models.shufflenet_v2_x1_0, (3, 224, 224)),
    ("densenet", "121", torchvision.models.densenet121, (3, 128, 128)),
])
def test_totals_match_torchinfo_definitions(spec, variant, make, shape):
    args = ["summary", spec, "--raw", "--input", "x".join(map(str, shape))] + (["--variant", variant] if variant else [])
    result = run(*args)
    assert result.returncode == 0, result.stderr
    got = footer(result.stdout)
    for key, value in torchinfo_figures(make(), shape).items():
        expected = f"{value:,}" if isinstance(value, int) else f"{value:.2f}"
        assert got[key] == expected, key


def test_human_units_and_raw():
    human = run("summary", "resnet", "--variant", "18").stdout
    assert "Total mult-adds: 1.81 G (1,814,083,944)" in human  # torchinfo: "Total mult-adds (G): 1.81"
    assert "Total params: 11.69 M (11,689,512)" in human
    conv1 = next(line for line in human.splitlines() if line.startswith("conv1 "))
    assert conv1.split()[-2:] == ["9.41", "K"] or "9.41 K" in conv1
    raw = run("summary", "resnet", "--variant", "18", "--raw").stdout
    assert "9,408" in next(line for line in raw.splitlines() if line.startswith("conv1 "))


def test_title_first_and_default_depth_three():
    out = run("summary", "efficientnet", "--variant", "b7").stdout.splitlines()
    assert out[1] == "efficientnet (b7)"
    data = json.loads(run("summary", "efficientnet", "--variant", "b7", "--json").stdout)
    deepest = max(n["depth"] for n in data["nodes"])
    assert deepest >= 3  # there is something to hide
    shown = sum(1 for n in data["nodes"] if n["depth"] < 3)
    every = run("summary", "efficientnet", "--variant", "b7", "--all").stdout.splitlines()
    assert len(out) - shown == len(every) - len(data["nodes"])  # same frame, fewer rows
    assert len(run("summary", "efficientnet", "--variant", "b7", "--depth", "1").stdout.splitlines()) < len(out)


def test_kernel_column_matches_torchvision():
    data = json.loads(run("summary", "resnet", "--variant", "18", "--json").stdout)
    kernels = {n["name"]: n["kernel"] for n in data["nodes"] if n["kernel"]}
    modules = dict(torchvision.models.resnet18().named_modules())
    convs = {name: list(m.kernel_size) for name, m in modules.items() if isinstance(m, torch.nn.Conv2d)}
    assert {k: v for k, v in kernels.items() if k in convs} == convs
    assert kernels["maxpool"] == [3, 3]
    table = run("summary", "resnet", "--variant", "18").stdout
    assert "7x7" in next(line for line in table.splitlines() if line.startswith("conv1 "))


def test_unnamed_nodes_show_their_op():
    table = run("summary", "vgg", "--variant", "11", "--depth", "2").stdout
    rows = [line.split() for line in table.splitlines() if line.startswith("  ")]
    assert rows[0][:2] == ["(conv2d)", "conv2d"] and rows[1][:2] == ["(relu)", "relu"]


def test_markdown_format():
    text = run("summary", "resnet", "--variant", "18", "--format", "markdown", "--depth", "1").stdout
    lines = text.splitlines()
    assert lines[0] == "### resnet (18)"
    assert lines[2] == "| layer | op | kernel | output shape | params | mult-adds |"
    assert any(line.startswith("| fc | linear |") for line in lines)
    assert "- Params size (MB): 46.76" in lines


def test_bad_input_flag_is_a_usage_error():
    result = run("summary", "resnet", "--input", "3xax2")
    assert result.returncode == 2 and "3x160x160" in result.stderr
