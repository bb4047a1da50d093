"""Every shipped spec and variant: valid, well-formed IR, and static counts that hold."""
from __future__ import annotations

from pathlib import Path

import pytest

import archc
from archc.spec.schema import parse_spec
from archc.spec.source import load_source, read_spec_text

SPECS = Path(__file__).resolve().parent.parent / "specs"


def all_variants() -> list[tuple[str, str | None]]:
    cases = []
    for path in sorted(SPECS.glob("*.yaml")):
        spec, _, _ = parse_spec(load_source(read_spec_text(path), str(path)))
        cases += [(path.name, v) for v in spec.variants] or [(path.name, None)]
    return cases


CASES = all_variants()


def test_the_zoo_is_complete():
    names = {p.stem for p in SPECS.glob("*.yaml")}
    assert {"lenet5", "alexnet", "vgg", "resnet", "googlenet", "densenet", "efficientnet", "shufflenet_v2",
            "squeezenet", "mobilenet_v2", "mobilenet_v3", "mnasnet", "inception_v3",
            "mobilenet_v1", "resnet_v2", "senet", "xception", "inception_v4",
            "zfnet", "nin", "wide_resnet_cifar", "cifar_resnet", "fractalnet", "capsnet",
            "convnext", "vit", "deeplabv3", "unet", "nasnet"} <= names


@pytest.mark.parametrize("spec,variant", CASES, ids=[f"{s}-{v}" for s, v in CASES])
def test_variant_expands_to_a_well_formed_graph(spec, variant):
    net = archc.load_spec(SPECS / spec, variant)
    assert net.graph.lint() == []
    assert net.doc
    assert net.total_params > 0 and net.total_macs > 0
    for path, node in net.graph.walk():
        assert node.params >= 0 and all(min(s, default=1) >= 1 for s in node.out_shapes), path
