"""`archc draw` figures: block calls with their arguments, inline sequences vs repeats, sibling
branches at one depth, no position numbers, shapes once, folded conv-bn-relu runs, --dpi and
the warning before cairo's PNG size cap."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torchvision

import archc
from archc.backends.graphviz import to_dot

ROOT = Path(__file__).resolve().parent.parent
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (make dot)")
NODE_LINE = re.compile(r'^\s*"(?:in|n|out):([^"]*)" \[label=<(.*?)>(?:, [a-z]+=|\];)', re.M)


def labels(dot: str) -> dict[str, str]:
    return dict(NODE_LINE.findall(dot))


def draw(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archc", "draw", *args], capture_output=True, cwd=cwd, timeout=120)


def test_block_boxes_show_their_call_arguments():
    effnet = labels(to_dot(archc.load_spec("efficientnet", "b0")))
    assert "stage (mbconv x 2)" in effnet["features.2"]
    assert "expand=6" in effnet["features.2"] and "kernel=3" in effnet["features.2"] and "stride=2" in effnet["features.2"]
    assert "kernel=5" in effnet["features.3"]
    googlenet = labels(to_dot(archc.load_spec("googlenet"), depth=2))
    assert "out=64, kernel=1" in googlenet["inception3a.branch1"]
    # A repeat's instances differ in stride only in the first: shown in order.
    assert "stride=2|1" in labels(to_dot(archc.load_spec("resnet", "50")))["layer2"]


def test_an_inline_sequence_is_not_labelled_as_a_repeat():
    branch2 = labels(to_dot(archc.load_spec("googlenet"), depth=2))["inception3a.branch2"]
    assert " x 2" not in branch2
    first, second = branch2.index("kernel=1"), branch2.index("kernel=3")
    assert first < second  # a 1x1, then a 3x3
    densenet = labels(to_dot(archc.load_spec("densenet", "121")))
    assert "dense_layer x 6" in densenet["features.denseblock1"]  # a true repeat still is one


def test_depth_opens_sibling_branches_alike():
    drawn = labels(to_dot(archc.load_spec("googlenet"), depth=3))
    # branch1 is a block call, branch2 a group of two calls: at one depth both show their ops.
    assert "inception3a.branch1.conv" in drawn
    assert "inception3a.branch2.0.conv" in drawn and "inception3a.branch2.1.conv" in drawn
    assert "inception3a.branch4.1.conv" in drawn


def test_unnamed_nodes_show_no_numbers_and_shapes_appear_once():
    dot = to_dot(archc.load_spec("lenet5"))
    drawn = labels(dot)
    assert drawn["1"] == "tanh" and drawn["7"] == "flatten"
    assert "32" not in drawn["input"]  # the input's edge carries 1x32x32
    assert '"in:input" -> "n:c1" [label=<1x32x32>' in dot
    resnet = labels(to_dot(archc.load_spec("resnet", "18")))
    assert "x56x56" not in resnet["layer1"]
    inner = labels(to_dot(archc.load_spec("efficientnet", "b0"), depth=3))
    assert not any(re.search(r">\d+</font>", text) for key, text in inner.items() if key != "output")


def test_long_conv_bn_relu_runs_fold_and_keep_their_parameters():
    dot = to_dot(archc.load_spec("vgg", "19_bn"), show_params=True)
    drawn = labels(dot)
    folded = {k: v for k, v in drawn.items() if "<b>x " in v}
    assert [re.search(r"<b>x (\d+)</b>", v).group(1) for v in folded.values()][:5] == ["2", "2", "4", "4", "4"]
    assert drawn["features.0"].startswith("conv2d 3x3, 64 \u203a batchnorm2d \u203a relu")
    reference = torchvision.models.vgg19_bn().features
    first_stage = sum(p.numel() for p in reference[0:6].parameters())
    assert f"{first_stage:,} params" in drawn["features.0"]
    # Every edge still joins drawn boxes, and the stage's output shape is on its edge.
    assert '"n:features.0" -> "n:features.6" [label=<64x224x224>' in dot
    assert "<b>x " not in to_dot(archc.load_spec("vgg", "19_bn"), expand=True)


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


@needs_dot
def test_dpi_scales_the_png(tmp_path):
    for dpi in ("48", "96"):
        assert draw("lenet5", "-o", str(tmp_path / f"{dpi}.png"), "--dpi", dpi).returncode == 0
    small, large = png_size((tmp_path / "48.png").read_bytes()), png_size((tmp_path / "96.png").read_bytes())
    assert abs(large[1] / small[1] - 2) < 0.1
    wrong = draw("lenet5", "-o", str(tmp_path / "x.svg"), "--dpi", "300")
    assert wrong.returncode == 2 and b"--dpi applies to PNG output only" in wrong.stderr


@needs_dot
def test_warns_before_cairo_scales_a_huge_png(tmp_path):
    result = draw("resnet", "--variant", "152", "--depth", "3", "-o", str(tmp_path / "r.png"))
    assert result.returncode == 0
    warning = result.stderr.decode()
    assert "archc draw: warning: the PNG would be" in warning and "SVG or PDF" in warning and "--rankdir LR" in warning
    height = png_size((tmp_path / "r.png").read_bytes())[1]
    assert height == 32767  # what the warning was about: dot shrank it to the cap
    quiet = draw("resnet", "--variant", "18", "-o", str(tmp_path / "ok.png"))
    assert b"warning" not in quiet.stderr
