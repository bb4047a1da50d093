"""The command line: exit codes, output, and that validate/summary never import torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

from archc.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FEATURES = ROOT / "tests" / "specs" / "features.yaml"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archc", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_validate_all_shipped_specs():
    result = run("validate", *sorted(str(p) for p in SPECS.glob("*.yaml")))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_validate_reports_invalid_spec_with_exit_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("archc: 1\nname: x\ninput: [3, 8, 8]\nbody: [conv2x]\n")
    result = run("validate", str(SPECS / "resnet.yaml"), str(bad))
    assert result.returncode == 1
    assert result.stderr.strip() == f"{bad}:4:8: error: unknown op or block 'conv2x'; did you mean 'conv2d'?"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["validate", "summary"])
def test_validate_and_summary_do_not_import_torch(command):
    code = (
        "import sys; from archc.cli import main; "
        f"rc = main([{command!r}, {str(SPECS / 'resnet.yaml')!r}]); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_summary_json_reports_exact_params(capsys):
    assert main(["summary", str(SPECS / "resnet.yaml"), "--variant", "18", "--set", "num_classes=10", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    reference = sum(p.numel() for p in torchvision.models.resnet18(num_classes=10).parameters())
    assert data["params"] == reference
    assert data["name"] == "resnet" and data["variant"] == "18"
    assert data["input_shape"] == [3, 224, 224] and data["output_shape"] == [10]
    names = [n["name"] for n in data["nodes"]]
    assert "layer1.0.conv1" in names and "fc" in names
    top = sum(n["params"] for n in data["nodes"] if n["depth"] == 0)
    assert top == reference


def test_summary_table(capsys):
    assert main(["summary", str(SPECS / "resnet.yaml"), "--variant", "18", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "layer4" in out and "11,689,512 params" in out and "conv1 " not in out.split("layer1")[1].split("\n")[1]


def test_set_list_value_and_bool(capsys):
    assert main(["summary", str(FEATURES), "--set", "stages=1", "--set", "with_aux=false", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output_shape"] == [5]


@pytest.mark.parametrize("args,message", [
    (["summary", "SPEC", "--set", "novalue"], "--set expects NAME=VALUE"),
    (["summary", "SPEC", "--set", "x={a: 1}"], "expected a number, string, bool or list"),
    (["build", "SPEC", "-o", "model.bin"], "expected a .pt2 or .onnx file"),
])
def test_usage_errors_exit_2(args, message, capsys):
    args = [str(FEATURES) if a == "SPEC" else a for a in args]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_argparse_usage_error_exit_2():
    result = run("summary")
    assert result.returncode == 2


@pytest.mark.parametrize("target,message", [
    ("missing.yaml", "no such file"),
    (".", "is a directory"),
])
def test_bad_paths(tmp_path, target, message, capsys):
    path = tmp_path / target if target != "." else tmp_path
    assert main(["validate", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_unknown_variant_and_param_from_cli(capsys):
    assert main(["summary", str(SPECS / "resnet.yaml"), "--variant", "51"]) == 1
    assert "unknown variant '51'" in capsys.readouterr().err
    assert main(["summary", str(SPECS / "resnet.yaml"), "--set", "num_class=3"]) == 1
    assert "did you mean 'num_classes'" in capsys.readouterr().err


def test_build_prints_totals_and_output_shape(capsys):
    assert main(["build", str(SPECS / "resnet.yaml"), "--variant", "18", "--set", "num_classes=7"]) == 0
    out = capsys.readouterr().out
    assert "forward (eval, batch 1): output 1x7" in out


def test_build_export_loads_without_archc(tmp_path):
    target = tmp_path / "tiny.pt2"
    result = run("build", str(FEATURES), "--variant", "tiny", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.exists() and not list(tmp_path.glob(".*tmp*"))
    code = (
        "import sys; sys.modules['archc'] = None\n"  # any attempt to import archc fails
        "import torch\n"
        f"program = torch.export.load({str(target)!r})\n"
        "x = torch.randn(1, 8, 16, 16)\n"
        "print(tuple(program.module()(x).shape))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "(1, 5)"


def test_build_output_failure_keeps_existing_file(tmp_path):
    target = tmp_path / "model.pt2"
    target.write_bytes(b"precious")
    bad = tmp_path / "bad.yaml"
    bad.write_text("archc: 1\nname: x\ninput: [3, 8, 8]\nbody: [conv2x]\n")
    assert main(["build", str(bad), "-o", str(target)]) == 1
    assert target.read_bytes() == b"precious"



def test_build_onnx_output_runs_in_onnxruntime(tmp_path):
    # Values against PyTorch are compared in tests/test_toolchain.py; here: the CLI path,
    # a dynamic batch size, and the spec's input name.
    import numpy as np
    import onnxruntime

    target = tmp_path / "tiny.onnx"
    assert main(["build", str(FEATURES), "--variant", "tiny", "-o", str(target)]) == 0
    session = onnxruntime.InferenceSession(str(target))
    assert [i.name for i in session.get_inputs()] == ["input"]
    (got,) = session.run(None, {"input": np.random.randn(3, 8, 16, 16).astype(np.float32)})
    assert got.shape == (3, 5) and np.isfinite(got).all()
