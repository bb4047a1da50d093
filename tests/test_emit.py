"""`archc emit`: standalone source that imports only torch, and is what `archc.build` runs.

Every shipped spec and variant is emitted; one subprocess in which `import archc` fails
imports every emitted file, creates each model (on the meta device, and for real at a
small input where the spec has a case below) and reports state_dict keys and shapes, a
hash of the weights drawn under a seed, and eval and train-mode outputs. The parent
compares them with `archc.build` of the same spec: equal keys and shapes, bit-identical
weights and outputs.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import textwrap
import sys
from pathlib import Path

import pytest
import torch
import yaml

import archc

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

# Specs whose weights and outputs are compared for real: (variant, input shape). Small
# variants and inputs keep this quick; the other variants are compared on the meta device.
RUN = {
    "alexnet": ("torchvision", (3, 63, 63)), "capsnet": ("mnist", None), "cifar_resnet": ("20", (3, 32, 32)),
    "convnext": ("tiny", (3, 32, 32)), "densenet": ("121", (3, 32, 32)), "efficientnet": ("b0", (3, 32, 32)),
    "fractalnet": ("c3", (3, 32, 32)), "googlenet": ("torchvision", (3, 64, 64)), "lenet5": ("classic", (1, 32, 32)),
    "mnasnet": ("0_5", (3, 32, 32)), "mobilenet_v2": (None, (3, 32, 32)), "mobilenet_v3": ("small", (3, 32, 32)),
    "nin": ("cifar10", (3, 32, 32)), "resnet": ("18", (3, 32, 32)), "shufflenet_v2": ("x0_5", (3, 32, 32)),
    "squeezenet": ("1_1", (3, 64, 64)), "unet": ("padded", None), "vit": ("tiny_patch16_224", None),
    "wide_resnet_cifar": ("16_8", (3, 32, 32)), "xception": (None, (3, 71, 71)),
}


def cases() -> list[tuple[str, str | None]]:
    found = []
    for path in sorted(SPECS.glob("*.yaml")):
        variants = list(yaml.safe_load(path.read_text()).get("variants") or {}) or [None]
        found += [(path.stem, v) for v in variants]
    return found


CASES = cases()

CHILD = r"""
import hashlib, importlib.util, json, sys
sys.modules["archc"] = None  # the emitted files must not need archc
import torch

def load(path):
    spec = importlib.util.spec_from_file_location(path.replace("/", "_").replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

def tensors(out):
    return list(out) if isinstance(out, tuple) else list(out.values()) if isinstance(out, dict) else [out]

results, modules = {}, {}
for job in json.loads(sys.stdin.read()):
    module = modules[job["file"]] = modules.get(job["file"]) or load(job["file"])
    with torch.device("meta"):
        model = module.create(job["variant"])
    result = {"keys": {k: list(v.shape) for k, v in model.state_dict().items()}, "class": type(model).__name__}
    if job["input"] is not None:
        torch.manual_seed(0)
        model = module.create(job["variant"])
        digest = hashlib.sha256()
        for value in model.state_dict().values():
            digest.update(value.detach().contiguous().numpy().tobytes())
        result["weights"] = digest.hexdigest()
        generator = torch.Generator().manual_seed(1)
        x = [torch.randn(2, *shape, generator=generator) for shape in job["input"]]
        with torch.no_grad():
            result["eval"] = [t.tolist() for t in tensors(model.eval()(*x))]
            torch.manual_seed(3)
            result["train"] = [t.tolist() for t in tensors(model.train()(*x))]
    results[job["name"]] = result
print(json.dumps(results))
"""


def case_name(spec: str, variant: str | None) -> str:
    return f"{spec}-{variant}" if variant else spec


def input_of(spec: str, variant: str | None) -> list[tuple[int, ...]] | None:
    """The input shapes to run a case at, or None to compare it on the meta device only."""
    if spec not in RUN or RUN[spec][0] != variant:
        return None
    shape = RUN[spec][1]
    return [shape] if shape else list(archc.load_spec(SPECS / f"{spec}.yaml", variant).input_shapes.values())


def variants_in(source: str) -> list[str | None]:
    """The keys of an emitted file's VARIANTS table."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "VARIANTS":
            return [ast.literal_eval(key) for key in node.value.keys]  # type: ignore[attr-defined]
    raise AssertionError("no VARIANTS table")


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """Every case emitted into a folder, and what a process without archc makes of each."""
    folder = tmp_path_factory.mktemp("emitted")
    jobs = []
    for spec, variant in CASES:
        path = folder / f"{spec}.py"  # one file holds the variants that share their classes well
        if not path.exists():
            path.write_text(archc.emit(SPECS / f"{spec}.yaml"))
        if variant not in variants_in(path.read_text()):
            path = folder / f"{case_name(spec, variant).replace('-', '_')}.py"
            path.write_text(archc.emit(SPECS / f"{spec}.yaml", variant))
        jobs.append({"name": case_name(spec, variant), "file": str(path), "variant": variant, "input": input_of(spec, variant)})
    run = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(jobs), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return folder, json.loads(run.stdout)


@pytest.mark.parametrize("spec,variant", CASES, ids=[case_name(*c) for c in CASES])
def test_emitted_module_is_what_build_builds(emitted, spec, variant):
    folder, results = emitted
    result = results[case_name(spec, variant)]
    with torch.device("meta"):
        model = archc.build(SPECS / f"{spec}.yaml", variant)
    assert result["keys"] == {k: list(v.shape) for k, v in model.state_dict().items()}
    # Other variants may have network classes of their own (`Resnet18`) in the file of every variant.
    assert result["class"] == type(model).__name__ or variant != archc.load_spec(SPECS / f"{spec}.yaml").variant
    shape = input_of(spec, variant)
    if shape is None:
        return
    import hashlib

    model = archc.build(SPECS / f"{spec}.yaml", variant, seed=0)
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(value.detach().contiguous().numpy().tobytes())
    assert result["weights"] == digest.hexdigest(), "weights drawn under one seed differ"
    generator = torch.Generator().manual_seed(1)
    x = [torch.randn(2, *s, generator=generator) for s in shape]
    with torch.no_grad():
        assert [t.tolist() for t in _tensors(model.eval()(*x))] == result["eval"]
        torch.manual_seed(3)
        assert [t.tolist() for t in _tensors(model.train()(*x))] == result["train"]


def _tensors(out):
    return list(out) if isinstance(out, tuple) else list(out.values()) if isinstance(out, dict) else [out]


@pytest.mark.parametrize("spec,variant", CASES, ids=[case_name(*c) for c in CASES])
def test_emitted_source_is_plain_python_within_120_columns(emitted, spec, variant):
    folder, _ = emitted
    # The file of every variant, and the one network's source that archc.build runs.
    every = (folder / f"{spec}.py").read_text()
    # A variant with a network class of its own is left to a file of its own, and the docstring says so.
    assert variant in variants_in(every) or re.search(rf"\b{variant}\b", ast.get_docstring(ast.parse(every)) or "")
    for source in (every, archc.emit(SPECS / f"{spec}.yaml", variant)):
        compile(source, "emitted.py", "exec")
        assert max(len(line) for line in source.splitlines()) <= 120
        imported = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
        assert imported <= {"torch", "collections", "typing", "math"}, imported


def test_py_compile_accepts_an_emitted_file(tmp_path):
    out = tmp_path / "resnet.py"
    run = subprocess.run([sys.executable, "-m", "archc", "emit", str(SPECS / "resnet.yaml"), "-o", str(out)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(out)
    check = subprocess.run([sys.executable, "-m", "py_compile", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_emit_writes_into_generated_by_default(tmp_path):
    run = subprocess.run([sys.executable, "-m", "archc", "emit", str(SPECS / "lenet5.yaml"), "--variant", "mnist"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(Path("generated") / "lenet5.py")
    assert "def lenet5_mnist(**params)" in (tmp_path / "generated" / "lenet5.py").read_text()


def test_emit_never_imports_torch(tmp_path):
    code = ("import sys, archc; archc.emit(sys.argv[1], '50'); "
            "assert 'torch' not in sys.modules, 'emit imported torch'")
    run = subprocess.run([sys.executable, "-c", code, str(SPECS / "resnet.yaml")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_create_takes_the_params_that_stay_parametric(tmp_path):
    namespace: dict = {}
    exec(compile(archc.emit(SPECS / "resnet.yaml", "18"), "resnet18.py", "exec"), namespace)  # noqa: S102
    model = namespace["create"](num_classes=10)
    assert model.fc.out_features == 10
    torch.manual_seed(0)
    built = archc.build(SPECS / "resnet.yaml", "18", num_classes=10, seed=0)
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="no variant '50' in this file; it holds 18"):
        namespace["create"]("50")


def test_one_file_holds_every_variant_with_a_factory_each():
    namespace: dict = {}
    exec(compile(archc.emit(SPECS / "resnet.yaml"), "resnet.py", "exec"), namespace)  # noqa: S102
    for variant in ("18", "50", "resnext50_32x4d", "wide_resnet101_2"):
        factory = namespace[f"resnet_{variant}"]
        with torch.device("meta"):
            model, built = factory(num_classes=10), archc.build(SPECS / "resnet.yaml", variant, num_classes=10)
        assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in built.state_dict().items()}
    assert namespace["VARIANT"] == "50" and namespace["create"]().fc.in_features == 2048
    with pytest.raises(ValueError, match="no variant '99'"):
        namespace["create"]("99")


def test_shared_block_classes_read_like_torchvision():
    source = archc.emit(SPECS / "resnet.yaml", "50")
    assert source.count("class Bottleneck") == 1  # the downsample branch is built where its condition holds
    assert "self.layer3 = nn.Sequential(" in source and "for _ in range(5)]" in source
    assert "def forward(self, x):" in source and "self.relu = nn.ReLU(inplace=True)" in source
    assert "def __init__(self, num_classes=1000):" in source


# Built models behave like torchvision's ---------------------------------------------------


def test_named_parameter_free_nodes_are_modules_that_can_be_replaced():
    model = archc.build(SPECS / "resnet.yaml", "18").eval()
    assert isinstance(model.relu, torch.nn.ReLU) and isinstance(model.maxpool, torch.nn.MaxPool2d)
    assert isinstance(model.avgpool, torch.nn.AdaptiveAvgPool2d)
    x = torch.randn(1, 3, 64, 64)
    seen = []
    model.avgpool.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model(x)
    assert seen == [torch.Size([1, 512, 1, 1])]
    model.avgpool = torch.nn.AdaptiveMaxPool2d(1)
    with torch.no_grad():
        features = torch.flatten(torch.nn.functional.adaptive_max_pool2d(
            model.layer4(model.layer3(model.layer2(model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x)))))))), 1), 1)
        torch.testing.assert_close(model(x), model.fc(features), rtol=0, atol=0)


def test_the_model_class_is_the_network_and_errors_name_it():
    model = archc.build(SPECS / "resnet.yaml", "18")
    assert type(model).__name__ == "Resnet"
    with pytest.raises(RuntimeError, match="for Resnet"):
        model.load_state_dict({}, strict=True)


@pytest.mark.parametrize("spec,variant", sorted({(s, v) for s, v in CASES if s not in RUN or RUN[s][0] == v}))
def test_fx_symbolic_trace_works_on_built_models(spec, variant):
    with torch.device("meta"):
        model = archc.build(SPECS / f"{spec}.yaml", variant)
    if spec == "fractalnet":
        model.eval()  # in training, which columns a join keeps is drawn at run time: control flow fx cannot trace
    traced = torch.fx.symbolic_trace(model)
    assert any(node.op == "call_module" for node in traced.graph.nodes)


def test_create_feature_extractor_equals_build_outputs():
    from torchvision.models.feature_extraction import create_feature_extractor

    model = archc.build(SPECS / "resnet.yaml", "18", seed=0).eval()
    backbone = archc.build(SPECS / "resnet.yaml", "18", outputs=["layer4"], seed=0).eval()
    backbone.load_state_dict(model.state_dict(), strict=False)
    extractor = create_feature_extractor(model, {"layer4": "feat"})
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(extractor(x)["feat"], backbone(x)["layer4"])


@pytest.mark.parametrize("spec,variant", [("resnet", "18"), ("shufflenet_v2", "x0_5"), ("densenet", "121"),
                                          ("vit", "tiny_patch16_224"), ("googlenet", "torchvision")])
def test_jit_script_works_on_emitted_models(spec, variant):
    model = archc.build(SPECS / f"{spec}.yaml", variant).eval()
    scripted = torch.jit.script(model)
    shape = next(iter(archc.load_spec(SPECS / f"{spec}.yaml", variant).input_shapes.values()))
    x = torch.randn(1, *(shape if spec == "vit" else (3, 64, 64)))
    with torch.no_grad():
        out = scripted(x)
        if spec == "googlenet":  # as torchvision's: a scripted model returns every output, aux None in eval
            assert out.aux_logits1 is None and out.aux_logits2 is None
            out = out.logits
        torch.testing.assert_close(out, model(x))


def test_export_with_a_named_dynamic_batch():
    model = archc.build(SPECS / "resnet.yaml", "18").eval()
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.randn(2, 3, 64, 64),), dynamic_shapes={"x": {0: batch}})
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))


@pytest.mark.slow
@pytest.mark.parametrize("spec,variant", [("lenet5", "mnist"), ("resnet", "18"), ("efficientnet", "b0")])
def test_torch_compile_fullgraph_on_emitted_models(spec, variant):
    model = archc.build(SPECS / f"{spec}.yaml", variant).eval()
    shape = (1, 28, 28) if spec == "lenet5" else (3, 64, 64)
    x = torch.randn(2, *shape)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


# generated/ -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_generated_folder_is_up_to_date(path):
    """generated/ holds every shipped spec at its default variant; `make generated` rewrites it."""
    from archc.commands.emit import default_name

    network = archc.load_spec(path)
    target = ROOT / "generated" / default_name(network.name)
    assert target.exists(), f"{target.name} is missing: run `make generated`"
    assert target.read_text() == archc.emit(path), f"{target.name} is stale: run `make generated`"


@pytest.mark.parametrize("spec,variant", CASES, ids=[case_name(*c) for c in CASES])
def test_every_variant_runs_on_the_meta_device(spec, variant):
    """Every class and loop of the generated source wires the shapes archc inferred."""
    network = archc.load_spec(SPECS / f"{spec}.yaml", variant)
    model = archc.build(SPECS / f"{spec}.yaml", variant, device="meta").eval()
    inputs = [torch.randn(2, *shape, device="meta") for shape in network.input_shapes.values()]
    with torch.no_grad():
        out = model(*inputs)
    shapes = [tuple(t.shape[1:]) for t in _tensors(out)]
    eval_shapes = [s for o, s in zip(network.graph.outputs, network.output_shapes.values()) if not o.training_only]
    assert shapes == [tuple(s) for s in eval_shapes]


def test_an_op_registered_from_python_is_imported_by_the_emitted_file(tmp_path, monkeypatch):
    from archc.ops.plugins import MODULES, unregister_op

    (tmp_path / "team_ops_for_emit.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        from archc.ops.base import Ctor, Op

        class Twice(nn.Module):
            def forward(self, x):
                return 2 * x

        class TwiceOp(Op):
            name = "team_twice"
            stateful = True

            def infer(self, a, ins):
                return (ins[0],)

            def module(self, a, ins):
                return Ctor("Twice")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import team_ops_for_emit

    archc.register_op(team_ops_for_emit.TwiceOp, modules={"Twice": team_ops_for_emit.Twice})
    try:
        spec = tmp_path / "spec.yaml"
        spec.write_text("archc: 1\nname: t\ninput: [3, 4, 4]\nbody:\n  - d: team_twice\n  - relu\n")
        (tmp_path / "emitted_twice.py").write_text(archc.emit(spec))
        assert "from team_ops_for_emit import Twice" in (tmp_path / "emitted_twice.py").read_text()
        import emitted_twice

        x = torch.ones(1, 3, 4, 4)
        assert torch.equal(emitted_twice.create()(x), archc.build(spec)(x))
    finally:
        unregister_op("team_twice")
        MODULES.pop("Twice", None)
