"""Shipped specs in the PyTorch toolchain: torch.compile, torch.export, ONNX, autocast,
channels_last, saving and copying, and train/eval switching.

Each archc model carries its torchvision reference's weights (and random batch-norm
statistics), so outputs have the reference's scale and train-mode results can be compared
with the reference itself. Inputs are 32x32 to keep the suite fast.
"""
from __future__ import annotations

import copy
import functools
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime
import pytest
import torch
import torchvision

import archc
from archc.backends.pytorch.check import export_onnx
from archc.cli import main
from zoo import SPECS, _randomize_norm_stats

INPUT = (3, 32, 32)  # GoogLeNet needs at least 15x15


@dataclass(frozen=True)
class Case:
    spec: str
    variant: str | None
    reference: Callable[..., torch.nn.Module]


CASES = {
    "resnet18": Case("resnet.yaml", "18", torchvision.models.resnet18),
    "efficientnet_b0": Case("efficientnet.yaml", "b0", torchvision.models.efficientnet_b0),
    "shufflenet_v2_x0_5": Case("shufflenet_v2.yaml", "x0_5", torchvision.models.shufflenet_v2_x0_5),
    # init_weights=True: torchvision warns when it is left unset.
    "googlenet": Case("googlenet.yaml", None, lambda **kw: torchvision.models.googlenet(init_weights=True, **kw)),
    "densenet121": Case("densenet.yaml", "121", torchvision.models.densenet121),
}
NAMES = list(CASES)
# torch.compile with inductor takes 10-60 s per model on a small CPU: one in the default
# suite, the other four in `make test-slow`.
COMPILE_NAMES = [name if name == "resnet18" else pytest.param(name, marks=pytest.mark.slow) for name in NAMES]

# torchvision's own tests compare transformed models (TorchScript) with eager at
# atol=rtol=1e-4 and autocast outputs with float32 ones at 0.1. Our random-weight outputs
# are much smaller than 1, so the absolute part is taken relative to the output's scale.
EXACT, AUTOCAST = 1e-4, 0.1


def reference(name: str, **params: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    model = CASES[name].reference(**params)
    _randomize_norm_stats(model)  # so a mistake in using the statistics shows in outputs
    return model


@functools.cache
def reference_state(name: str) -> dict[str, torch.Tensor]:
    return reference(name).state_dict()


def build(name: str) -> torch.nn.Module:
    """The archc model with its reference's weights, in eval mode."""
    model = archc.build(SPECS / CASES[name].spec, CASES[name].variant)
    model.load_state_dict(reference_state(name), strict=True)
    return model.eval()


def sample(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, *INPUT, generator=torch.Generator().manual_seed(seed))


def assert_close_scaled(got: torch.Tensor, expected: torch.Tensor, tol: float) -> None:
    got = torch.as_tensor(got).float()
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(got, expected, rtol=tol, atol=tol * scale)


def eval_output(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(x)
    assert type(out) is torch.Tensor  # every one of these returns the logits alone in eval mode
    return out


# torch.compile and torch.export -----------------------------------------------------


@pytest.mark.parametrize("name", COMPILE_NAMES)
def test_torch_compile_fullgraph_matches_eager(name):
    model = build(name)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)  # fullgraph: any graph break is an error
    x = sample()
    with torch.no_grad():
        assert_close_scaled(compiled(x), eval_output(model, x), EXACT)


@pytest.fixture(scope="module")
def cli_programs(tmp_path_factory) -> dict[str, Any]:
    """The torch.export round trip as users make it: `archc build -o NAME.pt2` (export and
    save) for every case, then one fresh process, where archc cannot be imported, loads and
    runs them all. Returns {name: (artifact, input, output from that process)}."""
    folder = tmp_path_factory.mktemp("programs")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(4))  # the specs' input size
    torch.save(x, folder / "input.pt")
    for name, case in CASES.items():
        args = ["build", str(SPECS / case.spec), "-o", str(folder / f"{name}.pt2")]
        assert main(args + (["--variant", case.variant] if case.variant else [])) == 0
    code = (
        "import sys; sys.modules['archc'] = None\n"  # any attempt to import archc fails
        "import torch\n"
        "x = torch.load('input.pt')\n"
        f"for name in {NAMES!r}:\n"
        "    with torch.no_grad():\n"
        "        torch.save(torch.export.load(name + '.pt2').module()(x), name + '.out.pt')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=folder, timeout=300)
    assert result.returncode == 0, result.stderr
    return {name: (folder / f"{name}.pt2", x, torch.load(folder / f"{name}.out.pt")) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_exported_program_runs_without_archc(name, cli_programs):
    path, x, fresh_output = cli_programs[name]
    program = torch.export.load(str(path))
    # The artifact's weights carry the spec's state_dict names: they load into a new build.
    model = build(name)
    model.load_state_dict(program.state_dict, strict=True)
    assert_close_scaled(fresh_output, eval_output(model, x), EXACT)


# ONNX --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_runs_in_onnxruntime(name, tmp_path):
    model = build(name)
    network = archc.load_spec(SPECS / CASES[name].spec, CASES[name].variant)
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, network, str(path))
    assert not list(tmp_path.glob(".*tmp*"))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == list(network.output_shapes)[:1]
    # The file has the spec's input size; its batch dimension is dynamic (exported with 2).
    x = torch.randn(3, *network.input_shapes["input"], generator=torch.Generator().manual_seed(5))
    (got,) = session.run(None, {"input": x.numpy()})
    assert isinstance(got, np.ndarray) and got.shape == (3, 1000)
    assert_close_scaled(torch.from_numpy(got), eval_output(model, x), EXACT)


# Autocast and channels_last ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_autocast_bfloat16_stays_close_to_float32(name):
    model = build(name)
    x = sample()
    expected = eval_output(model, x)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(x)
    assert got.dtype == torch.bfloat16  # autocast really ran the layers in bfloat16
    assert_close_scaled(got, expected, AUTOCAST)


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_matches_contiguous(name):
    model = build(name)
    x = sample()
    expected = eval_output(model, x)
    model = model.to(memory_format=torch.channels_last)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert_close_scaled(eval_output(model, x.to(memory_format=torch.channels_last)), expected, EXACT)


# Saving and copying ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_through_a_file(name, tmp_path):
    model = build(name)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    torch.manual_seed(123)  # a fresh build has other random weights until the file is loaded
    fresh = archc.build(SPECS / CASES[name].spec, CASES[name].variant).eval()
    x = sample()
    assert not torch.allclose(eval_output(fresh, x), eval_output(model, x))
    fresh.load_state_dict(torch.load(path, weights_only=True), strict=True)
    assert torch.equal(eval_output(fresh, x), eval_output(model, x))


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))], ids=["deepcopy", "pickle"])
@pytest.mark.parametrize("name", NAMES)
def test_copies_are_equal_and_independent(name, clone):
    model = build(name)
    twin = clone(model)
    x = sample()
    assert torch.equal(eval_output(twin, x), eval_output(model, x))
    assert twin.code == model.code
    twin.train()  # modes and weights of the copy are its own
    assert not model.training
    with torch.no_grad():
        next(twin.parameters()).add_(1.0)
    assert not torch.equal(next(twin.parameters()), next(model.parameters()))


# train() and eval() ---------------------------------------------------------------------


def _train_forward(model: torch.nn.Module, x: torch.Tensor, seed: int) -> Any:
    torch.manual_seed(seed)
    return model(x)


@pytest.mark.parametrize("name", NAMES)
def test_train_and_eval_modes_follow_the_reference(name):
    """Train mode: batch statistics, dropout, stochastic depth and auxiliary heads as in the
    reference (same seed, same random draws); eval mode: running statistics, no randomness."""
    # archc runs GoogLeNet's training-only aux heads after the main path, torchvision before
    # it: the same dropout draws land in other places. Without dropout the values must agree.
    params = {"dropout": 0.0, "dropout_aux": 0.0} if name == "googlenet" else {}
    ref = reference(name, **params)
    model = archc.build(SPECS / CASES[name].spec, CASES[name].variant, **params)
    model.load_state_dict(ref.state_dict(), strict=True)
    x = sample(batch=4)

    model.train(), ref.train()
    assert all(m.training for m in model.modules())
    got, expected = _train_forward(model, x, 7), _train_forward(ref, x, 7)
    assert type(got) is type(expected) or (isinstance(got, tuple) and got._fields == expected._fields)
    for ours, theirs in zip(*(((o,) if isinstance(o, torch.Tensor) else o) for o in (got, expected))):
        assert_close_scaled(ours, theirs.detach(), EXACT)
    buffers = dict(ref.named_buffers())
    for key, value in model.named_buffers():  # running statistics updated alike
        torch.testing.assert_close(value, buffers[key], msg=key)

    model.eval(), ref.eval()
    assert not any(m.training for m in model.modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first, second = eval_output(model, x), _train_forward(model, x, 8).detach()
    assert torch.equal(first, second)  # deterministic whatever the seed
    assert_close_scaled(first, eval_output(ref, x), EXACT)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # statistics frozen


@pytest.mark.parametrize("name", ["efficientnet_b0", "googlenet"])
def test_random_layers_are_active_only_in_training(name):
    """Dropout (and EfficientNet's stochastic depth) draw in train mode only."""
    model = build(name).train()
    x = sample(batch=4)

    def logits(seed: int) -> torch.Tensor:
        out = _train_forward(model, x, seed)
        return out if isinstance(out, torch.Tensor) else out.logits

    first = logits(1)
    assert not torch.allclose(first, logits(2))
    assert torch.equal(first, logits(1))  # the randomness is torch's seeded generator
    model.eval()
    assert torch.equal(logits(1), logits(2))
