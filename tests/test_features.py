"""Feature extraction: named intermediate outputs, computing only what they need."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor

import archc
from archc import SpecError

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_resnet_backbone_matches_torchvision_feature_extractor():
    reference = torchvision.models.resnet50().eval()
    model = archc.build(SPECS / "resnet.yaml", "50", outputs=["layer2", "layer3", "layer4"]).eval()
    model.load_state_dict(reference.state_dict(), strict=False)
    theirs = create_feature_extractor(reference, return_nodes=["layer2", "layer3", "layer4"])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours, expected = model(x), theirs(x)
    assert list(ours) == ["layer2", "layer3", "layer4"]
    for name in ours:
        torch.testing.assert_close(ours[name], expected[name])
    # Only what the outputs need is built: no avgpool/fc.
    assert not any(k.startswith("fc.") for k in model.state_dict())


def test_nested_outputs_in_densenet():
    reference = torchvision.models.densenet121().eval()
    # ("denselayer4" itself differs: torchvision returns only its new features, archc the running concat.)
    names = ["features.denseblock2", "features.transition2.conv", "features.denseblock3.denselayer4.conv2"]
    model = archc.build(SPECS / "densenet.yaml", "121", outputs=names).eval()
    model.load_state_dict(reference.state_dict(), strict=False)
    theirs = create_feature_extractor(reference, return_nodes=names)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours, expected = model(x), theirs(x)
    for name in names:
        torch.testing.assert_close(ours[name], expected[name])
    assert not any(k.startswith("features.denseblock4") for k in model.state_dict())


def test_static_shapes_without_torch():
    code = (
        "import sys, archc\n"
        f"net = archc.load_spec({str(SPECS / 'resnet.yaml')!r}, '50', outputs=['layer2', 'layer4'])\n"
        "assert 'torch' not in sys.modules\n"
        "print(net.output_shapes)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'layer2': (512, 28, 28), 'layer4': (2048, 7, 7)}"


def test_unknown_names_get_a_hint():
    with pytest.raises(SpecError, match="no node 'layer5' to output; did you mean 'layer4'"):
        archc.load_spec(SPECS / "resnet.yaml", outputs=["layer5"])
    with pytest.raises(SpecError, match="no node 'features.denseblok2' to output; did you mean 'features.denseblock2'"):
        archc.load_spec(SPECS / "densenet.yaml", outputs=["features.denseblok2"])
    with pytest.raises(SpecError, match="'fc' is a single op"):
        archc.load_spec(SPECS / "resnet.yaml", outputs=["fc.weight"])


def test_outputs_of_a_block_and_inside_it_together():
    model = archc.build(SPECS / "resnet.yaml", "18", outputs=["layer1", "layer1.0.conv1", "layer2"]).eval()
    full = archc.build(SPECS / "resnet.yaml", "18").eval()
    model.load_state_dict(full.state_dict(), strict=False)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        stem = torch.nn.functional.max_pool2d(torch.relu(full.bn1(full.conv1(x))), 3, 2, 1)
        torch.testing.assert_close(out["layer1.0.conv1"], full.layer1[0].conv1(stem))
        torch.testing.assert_close(out["layer1"], full.layer1(stem))
        torch.testing.assert_close(out["layer2"], full.layer2(full.layer1(stem)))


def test_feature_extractor_exports():
    model = archc.build(SPECS / "resnet.yaml", "18", outputs=["layer3", "layer4"]).eval()
    program = torch.export.export(model, (torch.randn(1, 3, 32, 32),))
    out = program.module()(torch.randn(1, 3, 32, 32))
    assert set(out) == {"layer3", "layer4"}


@pytest.mark.parametrize("spec,names", [
    ("resnet.yaml", ["layer1", "layer1.0.conv1", "layer4"]),
    ("densenet.yaml", ["features.denseblock2", "features.transition2.conv"]),
    ("googlenet.yaml", ["inception4a", "aux1.fc2"]),
])
def test_extracted_graphs_are_well_formed(spec, names):
    net = archc.load_spec(SPECS / spec, outputs=names)
    assert net.graph.lint() == []
    assert list(net.output_shapes) == names
    assert net.total_params < archc.load_spec(SPECS / spec).total_params
