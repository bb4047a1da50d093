"""Every shipped spec, every variant: the built model is the network its spec describes.

Compared with the IR interpreter (archc/backends/pytorch/interpret.py) node for node and
output for output, bit for bit, in eval mode. Slow (every variant of every spec, twice
over): `make test-slow`; `make test` runs the default variants of the small specs.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import archc
from archc.backends.pytorch.check import example_inputs
from archc.backends.pytorch.compare import output_differences, structural_differences
from archc.backends.pytorch.interpret import interpret

SPECS = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "specs").glob("*.yaml"))
# Quick enough for every run: the default variant of each spec under two million parameters.
QUICK = [s for s in SPECS if archc.load_spec(s).total_params < 2_000_000]
EVERY = [(s, v) for s in SPECS for v in (archc.load_spec(s).variants or (None,))]


def compare(name: str, variant: str | None) -> list[str]:
    network = archc.load_spec(name, variant)
    model = archc.build(network, seed=0)
    oracle = interpret(network)
    return structural_differences(model, network, oracle) or output_differences(model, network, example_inputs(network), oracle=oracle)


@pytest.mark.parametrize("name", QUICK)
def test_small_shipped_specs_equal_the_interpreted_spec(name):
    assert compare(name, None) == []


@pytest.mark.slow
@pytest.mark.parametrize("name, variant", EVERY, ids=[f"{s}-{v}" for s, v in EVERY])
def test_every_shipped_variant_equals_the_interpreted_spec(name, variant):
    assert compare(name, variant) == []


def _far(value):
    """A value far from a param's default, of its kind: 7 classes, rates and scales halved."""
    return 7 if type(value) is int else value / 2 + 0.01


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_emitted_create_equals_build_at_params_far_from_the_defaults(name, tmp_path):
    import types

    source = archc.emit(name)
    module = types.ModuleType(f"emitted_{name}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)  # noqa: S102  (archc's own output)
    network = archc.load_spec(name)
    far = {p: _far(network.params[p]) for p in module.PARAMS}
    moved = archc.load_spec(name, **far)
    if moved.total_params > 30_000_000:
        pytest.skip("large: compared at the default variant's size in the fast tests")
    oracle = interpret(moved)
    model = module.create(**far)
    assert structural_differences(model, moved, oracle) == []
    assert output_differences(model, moved, example_inputs(moved), oracle=oracle) == []
