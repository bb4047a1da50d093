"""The package as users install it: shipped specs by name, `archc list`, the light install without
torch, --version, specs from stdin/strings/dicts, --set lists, export of trained models, backbones."""
from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import torch
import torchvision
import yaml

import archc

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
# Blocks `import torch` in a child process, as where torch is not installed.
NO_TORCH = "import sys; sys.modules['torch'] = None; from archc.cli import main; sys.exit(main(sys.argv[1:]))"


def run(*args: str, stdin: str | None = None, no_torch: bool = False, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    head = [sys.executable, "-c", NO_TORCH] if no_torch else [sys.executable, "-m", "archc"]
    return subprocess.run([*head, *args], capture_output=True, text=True, cwd=cwd, input=stdin, timeout=300)


def project() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_mit_and_declared():
    meta = project()
    assert meta["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "torch" not in " ".join(meta["dependencies"]), "torch must be an extra, not a dependency"
    assert any(d.startswith("torch") for d in meta["optional-dependencies"]["torch"])


def test_version_flag_is_the_package_version():
    meta = project()
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"archc {meta['version']}" == f"archc {archc.__version__}"


def test_list_names_every_spec_with_counts_equal_to_the_references(tmp_path):
    result = run("list", "--json", cwd=tmp_path)  # by name from anywhere, not only the checkout
    assert result.returncode == 0, result.stderr
    listed = {s["name"]: s for s in json.loads(result.stdout)}
    assert sorted(listed) == sorted(p.stem for p in SPECS.glob("*.yaml"))
    for name, spec in listed.items():
        declared = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
        assert sorted(spec["variants"]) == sorted(declared.get("variants") or {}), name
        assert spec["reference"], name
    # Counts checked against the reference libraries themselves.
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert listed["resnet"]["params"]["18"] == count(torchvision.models.resnet18())
    assert listed["densenet"]["params"]["121"] == count(torchvision.models.densenet121())
    assert listed["resnet"]["variants"][0] == "50"  # the default first
    text = run("list").stdout
    assert "resnet" in text and "11.7M" in text and "torchvision.models.resnet" in text


def test_list_specs_api():
    specs = {s.name: s for s in archc.list_specs()}
    assert specs["vgg"].params["16"] == sum(p.numel() for p in torchvision.models.vgg16().parameters())


def test_specs_by_name_in_python_and_cli(tmp_path):
    model = archc.build("resnet", variant="18")
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in torchvision.models.resnet18().parameters())
    summary = run("summary", "resnet", "--variant", "18", cwd=tmp_path)
    assert summary.returncode == 0 and "resnet (18)" in summary.stdout
    dot = run("draw", "densenet", "--format", "dot", "-o", "-", cwd=tmp_path)
    assert dot.returncode == 0 and dot.stdout.startswith("digraph")
    by_path = run("summary", str(SPECS / "resnet.yaml"), "--variant", "18", cwd=tmp_path)
    assert by_path.stdout == summary.stdout.replace(str(SPECS / "resnet.yaml"), str(SPECS / "resnet.yaml"))


def test_a_local_file_named_like_a_shipped_spec_wins(tmp_path):
    (tmp_path / "resnet").write_text((SPECS / "lenet5.yaml").read_text())
    result = run("validate", "resnet", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("resnet: ok\n  input 1 x 32 x 32 (fixed: ")
    assert "lenet5" in run("summary", "resnet", cwd=tmp_path).stdout


def test_unknown_name_is_a_located_error_with_a_hint(tmp_path):
    result = run("summary", "resnt", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("resnt:1:1: error: no such file, and no shipped spec named 'resnt'; did you mean 'resnet'?")


def test_spec_from_stdin_string_and_dict():
    text = (SPECS / "lenet5.yaml").read_text()
    expected = archc.load_spec(SPECS / "lenet5.yaml").total_params
    ok = run("validate", "-", stdin=text)
    assert ok.returncode == 0, ok.stderr
    assert str(expected) in run("summary", "-", "--raw", stdin=text).stdout.replace(",", "")
    bad = run("validate", "-", stdin="archc: 1\nname: x\ninput: [3, 8, 8]\nbody: [rellu]\n")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "<stdin>:4:8: error: unknown op or block 'rellu'; did you mean 'relu'?"
    assert archc.loads(text).total_params == expected
    model = archc.build(archc.loads(text, "mnist"))  # build takes what loads returns
    assert sum(p.numel() for p in model.parameters()) == archc.load_spec(SPECS / "lenet5.yaml", "mnist").total_params
    assert archc.load_spec(yaml.safe_load(text)).total_params == expected
    with pytest.raises(archc.SpecError) as err:
        archc.loads("archc: 1\nname: x\ninput: [3, 8, 8]\nbody: [conv2x]\n", name="mine")
    assert err.value.format().startswith("mine:4:8: error: unknown op or block 'conv2x'")


def test_set_takes_a_bare_comma_list():
    listed = run("summary", "resnet", "--set", "layers=1,1,1,1", "--set", "block=basic", "--json")
    bracketed = run("summary", "resnet", "--set", "layers=[1, 1, 1, 1]", "--set", "block=basic", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["params"] == json.loads(bracketed.stdout)["params"]
    assert json.loads(listed.stdout)["param_values"]["layers"] == [1, 1, 1, 1]


def test_build_hints_say_nn_module():
    assert inspect.signature(archc.build).return_annotation == "torch.nn.Module"
    assert (ROOT / "archc" / "py.typed").exists()


def test_without_torch_build_says_what_to_install_and_the_rest_works(tmp_path):
    result = run("build", "lenet5", no_torch=True)
    assert result.returncode == 2
    assert "pip install 'archc[torch]'" in result.stderr and "Traceback" not in result.stderr
    for args in (["validate", "resnet"], ["summary", "resnet"], ["list"], ["draw", "resnet", "--format", "dot", "-o", "-"],
                 ["schema"], ["emit", "lenet5", "-o", "-"]):
        assert run(*args, no_torch=True, cwd=tmp_path).returncode == 0, args


def _trained_lenet() -> torch.nn.Module:
    """A LeNet whose weights are not archc's initialisation (as after training)."""
    model = archc.build("lenet5", variant="mnist", seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.1)
    return model.eval()


def test_export_pt2_has_a_dynamic_batch(tmp_path):
    model = _trained_lenet()
    archc.export(model, tmp_path / "m.pt2")
    program = torch.export.load(tmp_path / "m.pt2").module()
    for batch in (1, 3, 8):
        x = torch.randn(batch, 1, 28, 28)
        torch.testing.assert_close(program(x), model(x))


def test_export_onnx_and_cli_weights(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = _trained_lenet()
    torch.save(model.state_dict(), tmp_path / "ckpt.pt")
    archc.export(model, tmp_path / "api.onnx")
    result = run("build", "lenet5", "--variant", "mnist", "--weights", str(tmp_path / "ckpt.pt"), "-o", str(tmp_path / "cli.onnx"))
    assert result.returncode == 0, result.stderr
    x = torch.randn(4, 1, 28, 28)
    expected = model(x).detach().numpy()
    for name in ("api.onnx", "cli.onnx"):
        session = ort.InferenceSession(str(tmp_path / name))
        (got,) = session.run(None, {"input": x.numpy()})
        assert abs(got - expected).max() < 1e-4, name
    wrong = run("build", "lenet5", "--weights", str(tmp_path / "ckpt.pt"))  # classic LeNet: other shapes
    assert wrong.returncode == 2 and "does not fit this model" in wrong.stderr
    # A backbone takes the full model's checkpoint, skipping the head.
    backbone = run("build", "lenet5", "--variant", "mnist", "--outputs", "s4", "--weights", str(tmp_path / "ckpt.pt"))
    assert backbone.returncode == 0, backbone.stderr
    assert "ignored 6 tensors the backbone does not have" in backbone.stdout  # c5, f6, output: weight and bias


def test_feature_info_matches_timm_features_only():
    timm = pytest.importorskip("timm")
    reference = timm.create_model("resnet50", features_only=True, out_indices=(1, 2, 3, 4), pretrained=False)
    model = archc.build("resnet", variant="50", outputs=["layer1", "layer2", "layer3", "layer4"])
    assert model.feature_info.channels() == reference.feature_info.channels()
    assert model.feature_info.reduction() == reference.feature_info.reduction()
    assert model.feature_info.module_name() == ["layer1", "layer2", "layer3", "layer4"]


def test_full_checkpoint_loads_into_a_backbone(tmp_path):
    reference = torchvision.models.resnet18().eval()
    torch.save(reference.state_dict(), tmp_path / "r18.pt")
    backbone = archc.build("resnet", variant="18", outputs=["layer4"]).eval()
    skipped = archc.load_weights(backbone, tmp_path / "r18.pt")
    assert sorted(skipped) == ["fc.bias", "fc.weight"]
    body = torch.nn.Sequential(*list(reference.children())[:-2])  # torchvision's resnet without avgpool and fc
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(backbone(x)["layer4"], body(x))
    with pytest.raises(KeyError, match="lacks"):
        archc.load_weights(archc.build("resnet", variant="34", outputs=["layer4"]), reference.state_dict())


def _wheel(folder: Path) -> Path:
    # setuptools builds in ROOT/build and keeps what an earlier build left there (a file since
    # renamed would ship again): the folder is generated and ignored, so start it afresh.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(folder), str(ROOT)],
        check=True, capture_output=True, timeout=300, cwd=folder,
    )
    return next(folder.glob("archc-*.whl"))


def test_wheel_ships_specs_types_templates_and_license(tmp_path):
    wheel = _wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n[len("archc/specs/"):] for n in names if n.startswith("archc/specs/")) == sorted(
        p.name for p in SPECS.glob("*.yaml")
    )
    assert "archc/py.typed" in names and "archc/backends/python/templates/module.py.j2" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    shipped = {n for n in names if n.endswith(".py")}
    assert shipped == {str(p.relative_to(ROOT)) for p in (ROOT / "archc").rglob("*.py")}
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: torch")]
    assert requires and all("extra ==" in line for line in requires)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_without_torch(tmp_path):
    """pip install the wheel (and its four light dependencies) into a new virtual environment."""
    wheel = _wheel(tmp_path)
    venv.create(tmp_path / "env", with_pip=True, system_site_packages=False)
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=600)
    assert subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode != 0
    archc_bin = tmp_path / "env" / "bin" / "archc"
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for args in (["list"], ["validate", "resnet"], ["summary", "resnet"], ["draw", "resnet", "--format", "dot", "-o", "-"]):
        result = subprocess.run([str(archc_bin), *args], capture_output=True, text=True, cwd=work, env=env, timeout=120)
        assert result.returncode == 0, (args, result.stderr)
    result = subprocess.run([str(archc_bin), "build", "resnet"], capture_output=True, text=True, cwd=work, env=env)
    assert result.returncode == 2 and "archc[torch]" in result.stderr
