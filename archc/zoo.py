"""The shipped spec zoo: specs by name (`archc.build("resnet", variant="50")`) and their listing (no torch).

The zoo is the repository's top-level `specs/` folder. A wheel carries it as `archc/specs/`
(setup.py maps that package folder onto `specs/`, so there is one copy in the source tree);
a source checkout or an editable install reads `specs/` beside the package.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archc.errors import Location, spec_error
from archc.spec.expr import did_you_mean

# What each shipped spec is checked against (tests/test_zoo_*.py); the README's table says more.
REFERENCES: dict[str, str] = {
    "alexnet": "torchvision.models.alexnet; the 2012 paper",
    "capsnet": "paper (Sabour et al., 2017)",
    "cifar_resnet": "paper (He et al., 2016, CIFAR-10 nets)",
    "convnext": "timm convnext_*",
    "deeplabv3": "torchvision.models.segmentation.deeplabv3_*",
    "densenet": "torchvision.models.densenet*",
    "efficientnet": "torchvision.models.efficientnet_b*",
    "fractalnet": "paper (Larsson et al., 2017)",
    "googlenet": "torchvision.models.googlenet; the paper",
    "inception_v3": "torchvision.models.inception_v3",
    "inception_v4": "timm inception_v4, inception_resnet_v2",
    "lenet5": "paper (LeCun et al., 1998)",
    "mnasnet": "torchvision.models.mnasnet*",
    "mobilenet_v1": "timm mobilenetv1_100",
    "mobilenet_v2": "torchvision.models.mobilenet_v2",
    "mobilenet_v3": "torchvision.models.mobilenet_v3_*",
    "nasnet": "timm nasnetalarge; keras NASNetMobile",
    "nin": "paper (Lin et al., 2014)",
    "resnet": "torchvision.models.resnet*, resnext*, wide_resnet*",
    "resnet_v2": "timm resnetv2_*",
    "senet": "timm legacy_seresnet*, legacy_senet154",
    "shufflenet_v2": "torchvision.models.shufflenet_v2_*",
    "squeezenet": "torchvision.models.squeezenet1_*; the paper's bypasses",
    "unet": "paper (Ronneberger et al., 2015)",
    "vgg": "torchvision.models.vgg*",
    "vit": "timm vit_*_patch16_224",
    "wide_resnet_cifar": "paper (Zagoruyko and Komodakis, 2016)",
    "xception": "timm legacy_xception",
    "zfnet": "paper (Zeiler and Fergus, 2014)",
}


@dataclass(frozen=True)
class ZooSpec:
    """One shipped spec: its name, file, doc, reference and parameter count per variant (default first)."""

    name: str
    path: Path
    doc: str
    reference: str
    params: dict[str | None, int]

    @property
    def variants(self) -> list[str]:
        return [v for v in self.params if v is not None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "doc": self.doc, "reference": self.reference, "variants": self.variants,
            "params": {("" if k is None else k): v for k, v in self.params.items()},
        }


def specs_dir() -> Path:
    """The folder holding the shipped specs: `archc/specs` in a wheel, `specs/` in a checkout."""
    packaged = Path(__file__).resolve().parent / "specs"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "specs"


def names() -> list[str]:
    """The shipped specs' names, sorted."""
    folder = specs_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def is_name(text: str) -> bool:
    """Whether `text` reads as a zoo name (`resnet`) rather than a path (`specs/resnet.yaml`)."""
    return text.isidentifier()


def resolve(spec: str | Path) -> str | Path:
    """The file for a spec argument: a path as given, or a shipped spec's file for a bare name.

    A bare name (an identifier: no folder, no extension) names a shipped spec unless a file of
    exactly that name exists here. An unknown bare name is a SpecError listing the shipped specs.
    """
    if isinstance(spec, Path) or not is_name(spec) or Path(spec).is_file():
        return spec
    known = names()
    if spec in known:
        return specs_dir() / f"{spec}.yaml"
    raise spec_error(
        Location(spec, 1, 1), f"no such file, and no shipped spec named {spec!r}{did_you_mean(spec, known)}",
        f"shipped specs: {', '.join(known)} (archc list)",
    )


def describe(name: str) -> ZooSpec:
    """A shipped spec with the parameter count of each of its variants (loads every variant)."""
    from archc.ir.load import load_network
    from archc.spec.schema import parse_spec
    from archc.spec.source import load_source, read_spec_text

    path = resolve(name)
    spec, _, _ = parse_spec(load_source(read_spec_text(path), str(path)))
    order: list[str | None] = list(spec.variants) or [None]
    if spec.default_variant in spec.variants:  # default first, as the README's table
        order.remove(spec.default_variant)
        order.insert(0, spec.default_variant)
    counts = {v: load_network(path, v).total_params for v in order}
    doc = " ".join(spec.doc.split())
    return ZooSpec(name, Path(path), doc, REFERENCES.get(name, ""), counts)


def list_specs() -> list[ZooSpec]:
    """Every shipped spec with its variants, parameter counts and reference (no torch; a few seconds)."""
    return [describe(n) for n in names()]
