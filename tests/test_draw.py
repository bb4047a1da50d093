"""`archc draw` and the Graphviz backend: completeness, golden DOT, escaping, layout bars, CLI.

Regenerate the golden files with `ARCHC_UPDATE_GOLDEN=1 pytest tests/test_draw.py` and
review the diff: they are the exact DOT text users get.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

import archc
from archc.backends.graphviz import describe, render, to_dot
from archc.backends.graphviz import layout as layout_module
from archc.cli import main
from archc.drawing import draw
from archc.errors import Location
from archc.ir.graph import Graph, Network, Node, Output, Ref
from archc.ops import OPS

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FEATURES = ROOT / "tests" / "specs" / "features.yaml"
GOLDEN = ROOT / "tests" / "golden"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (make dot)")

NODE_LINE = re.compile(r'^\s*"(in|n|out):([^"]*)" \[(.*)\];$', re.M)
EDGE_LINE = re.compile(r'^\s*"(in|n|out):([^"]*)" -> "(in|n|out):([^"]*)" \[(.*)\];$', re.M)


def _variants(path: Path) -> list[str | None]:
    import yaml

    return list((yaml.safe_load(path.read_text()) or {}).get("variants") or {}) or [None]


CASES = [(p, v) for p in sorted(SPECS.glob("*.yaml")) + [FEATURES] for v in _variants(p)]
IDS = [f"{p.stem}-{v}" for p, v in CASES]


def nodes(dot: str) -> dict[str, str]:
    """Drawn boxes: "kind:path" -> attribute text."""
    return {f"{k}:{p}": attrs for k, p, attrs in NODE_LINE.findall(dot)}


def edges(dot: str) -> list[tuple[str, str, str]]:
    return [(f"{a}:{p}", f"{b}:{q}", attrs) for a, p, b, q, attrs in EDGE_LINE.findall(dot)]


def edge(dot: str, src: str, dst: str) -> str:
    found = [attrs for s, d, attrs in edges(dot) if (s, d) == (src, dst)]
    assert len(found) == 1, f"expected one edge {src} -> {dst}, found {len(found)}"
    return found[0]


def reference_edges(graph: Graph, prefix: str, sources: dict[str, str]) -> tuple[list[tuple[str, str]], dict]:
    """Op-to-op data edges of the IR, following references through nested graphs."""
    produced: dict[str, list[str]] = {name: [src] for name, src in sources.items()}
    found: list[tuple[str, str]] = []
    for node in graph.nodes:
        srcs = [produced[r.node][r.index] for r in node.inputs]
        path = prefix + node.name
        if node.body is None:
            found += [(s, f"n:{path}") for s in srcs]
            produced[node.name] = [f"n:{path}"] * len(node.out_shapes)
        else:
            inner, made = reference_edges(node.body, path + ".", {n: s for (n, _), s in zip(node.body.inputs, srcs)})
            found += inner
            produced[node.name] = [made[o.ref.node][o.ref.index] for o in node.body.outputs]
    return found, produced


# Completeness, determinism, speed ------------------------------------------------------


@pytest.mark.parametrize("path,variant", CASES, ids=IDS)
def test_full_depth_draws_every_op_and_every_data_edge(path, variant):
    net = archc.load_spec(path, variant)
    dot = to_dot(net, expand=True)
    ops = sorted(f"n:{p}" for p, n in net.graph.walk() if n.is_op)
    assert sorted(k for k in nodes(dot) if k.startswith("n:")) == ops
    assert "cluster" in dot or all(n.body is None for n in net.graph.nodes)
    expected, _ = reference_edges(net.graph, "", {name: f"in:{name}" for name, _ in net.graph.inputs})
    drawn = [(s, d) for s, d, _ in edges(dot) if not d.startswith("out:")]
    assert Counter(drawn) == Counter(expected)
    assert len(drawn) == sum(len(n.inputs) for _, n in net.graph.walk() if n.is_op)
    assert len([e for e in edges(dot) if e[1].startswith("out:")]) == len(net.graph.outputs)


def test_feature_extractor_outputs_are_drawn_from_inside_blocks():
    net = archc.load_spec(SPECS / "resnet.yaml", "50", outputs=["layer1.0.conv1", "layer3"])
    dot = to_dot(net, expand=True)
    expected, _ = reference_edges(net.graph, "", {"input": "in:input"})
    assert Counter((s, d) for s, d, _ in edges(dot) if not d.startswith("out:")) == Counter(expected)
    assert [(s, d) for s, d, _ in edges(dot) if d.startswith("out:")] == [
        ("n:layer1.0.conv1", "out:layer1.0.conv1"), ("n:layer3.5.9", "out:layer3"),
    ]
    collapsed = to_dot(net)  # layer1 exposes its inner output: one box with two outputs
    edge(collapsed, "n:layer1", "out:layer1.0.conv1")
    assert "64x56x56" in nodes(collapsed)["out:layer1.0.conv1"]  # each shape once: here on the output
    assert "[0] 256x56x56" in edge(collapsed, "n:layer1", "n:layer2")


@pytest.mark.parametrize("path,variant", CASES, ids=IDS)
def test_default_depth_edges_carry_shapes(path, variant):
    net = archc.load_spec(path, variant)
    dot = to_dot(net)
    for _, dst, attrs in edges(dot):
        if not dst.startswith("out:"):
            assert re.search(r"label=<(\[\d+\] )?\d+(x\d+)*>", attrs), attrs


@pytest.mark.parametrize("name,variant,options", [
    ("lenet5-classic", "classic", {}),
    ("features-wide-expand", "wide", {"expand": True}),
])
def test_golden_dot(name, variant, options):
    spec = SPECS / "lenet5.yaml" if name.startswith("lenet5") else FEATURES
    dot = to_dot(archc.load_spec(spec, variant), **options)
    golden = GOLDEN / f"{name}.dot"
    if os.environ.get("ARCHC_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(dot)
    assert dot == golden.read_text(), f"DOT differs from {golden.name}; ARCHC_UPDATE_GOLDEN=1 regenerates it"


def test_dot_is_identical_across_processes():
    code = (
        "import sys, archc; from archc.backends.graphviz import to_dot; "
        f"sys.stdout.write(to_dot(archc.load_spec({str(SPECS / 'googlenet.yaml')!r}), depth=3))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert outputs == {to_dot(archc.load_spec(SPECS / "googlenet.yaml"), depth=3)}


def test_zoo_dot_without_torch_and_fast():
    cases = [(str(p), v) for p, v in CASES]
    code = f"""
import sys, time
from archc.drawing import draw
from archc.cli import main
worst = 0.0
for path, variant in {cases!r}:
    for options in ({{}}, {{"expand": True}}):
        start = time.perf_counter()
        draw(path, variant, **options)
        worst = max(worst, time.perf_counter() - start)
assert main(["draw", {str(SPECS / 'densenet.yaml')!r}, "--format", "dot", "-o", "-"]) == 0
assert "torch" not in sys.modules, "torch was imported"
print(worst, file=sys.stderr)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert float(result.stderr.strip().splitlines()[-1]) < 1.0  # load, expand and write DOT, per spec
    assert result.stdout.startswith("digraph archc {")


# What the picture shows -------------------------------------------------------------


@pytest.mark.parametrize("op,args,expected", [
    ("conv2d", {"out": 64, "kernel": 3, "stride": 2, "padding": 1}, "3x3/2, 64"),
    ("conv2d", {"out": 256, "kernel": 1}, "1x1, 256"),
    ("conv2d", {"out": 128, "kernel": (1, 7), "groups": 32}, "1x7, 128, groups=32"),
    ("maxpool2d", {"kernel": 3, "stride": 2}, "3x3/2"),
    ("avgpool2d", {"kernel": 2}, "2x2/2"),  # stride defaults to the kernel, as in PyTorch
    ("linear", {"out": 4096}, "4096"),
    ("dropout", {"p": 0.2}, "p=0.2"),
    ("relu", {}, ""),
    ("batchnorm2d", {"eps": 0.001}, ""),
    ("concat", {}, ""),
    ("split", {"sizes": (4, 12)}, "sizes=[4, 12]"),
])
def test_describe_short_forms(op, args, expected):
    assert describe(op, OPS[op].Attrs(**args)) == expected


def test_describe_one_spatial_dim():
    assert describe("conv1d", OPS["conv1d"].Attrs(out=8, kernel=5, stride=2), spatial=1) == "5/2, 8"


def test_op_labels_name_op_and_attributes():
    dot = to_dot(archc.load_spec(SPECS / "resnet.yaml", "50"), show_params=True)
    conv1 = nodes(dot)["n:conv1"]
    assert "<b>conv1</b><br/>conv2d 7x7/2, 64" in conv1
    assert "9,408 params" in conv1  # 64 x 3 x 7 x 7, no bias
    assert "maxpool2d 3x3/2" in nodes(dot)["n:maxpool"]
    assert "linear 1000" in nodes(dot)["n:fc"]
    assert "25,557,032 params" in dot  # the title's total, as torchvision's resnet50
    assert "params" not in nodes(to_dot(archc.load_spec(SPECS / "resnet.yaml", "50")))["n:conv1"]


def test_repeats_collapse_to_one_box_per_container():
    dot = to_dot(archc.load_spec(SPECS / "densenet.yaml", "121"))
    drawn = nodes(dot)
    for block, layers in zip((1, 2, 3, 4), (6, 12, 24, 16)):
        label = drawn[f"n:features.denseblock{block}"]
        assert f"dense_layer x {layers}" in label and "peripheries=2" in label
    assert not any(".denselayer" in key for key in drawn)
    resnet = nodes(to_dot(archc.load_spec(SPECS / "resnet.yaml", "152")))
    assert "<b>layer3</b><br/>bottleneck x 36<br/>" in resnet["n:layer3"] and "1024x14x14" not in resnet["n:layer3"]
    assert "1024x14x14" in edge(to_dot(archc.load_spec(SPECS / "resnet.yaml", "152")), "n:layer3", "n:layer4")


def test_default_depth_opens_groups_but_not_blocks():
    net = archc.load_spec(SPECS / "densenet.yaml", "121")
    default = to_dot(net)
    assert 'subgraph "cluster:features"' in default and 'subgraph "cluster:features.transition1"' in default
    assert "n:features.transition1.conv" in nodes(default)
    googlenet = nodes(to_dot(archc.load_spec(SPECS / "googlenet.yaml")))
    assert "<b>inception3a</b><br/>inception<br/>" in googlenet["n:inception3a"]
    effnet = nodes(to_dot(archc.load_spec(SPECS / "efficientnet.yaml", "b0")))
    assert "stage (mbconv x 2)" in effnet["n:features.2"]


def test_depth_counts_levels_like_summary():
    net = archc.load_spec(SPECS / "densenet.yaml", "121")
    top = to_dot(net, depth=1)
    assert "cluster" not in top and "group of 12" in nodes(top)["n:features"]
    two = to_dot(net, depth=2)
    assert re.findall(r'subgraph "cluster:([^"]*)"', two) == ["features"]
    assert "dense_layer x 6" in nodes(two)["n:features.denseblock1"]
    three = nodes(to_dot(net, depth=3))
    assert "n:features.denseblock1.denselayer6" in three and "n:features.denseblock1.denselayer6.conv1" not in three
    with pytest.raises(ValueError, match="depth must be 1 or more"):
        to_dot(net, depth=0)


def test_residual_shortcuts_are_dashed_and_main_path_is_not():
    dot = to_dot(archc.load_spec(SPECS / "resnet.yaml", "18"), depth=3)
    assert "dashed" in edge(dot, "n:maxpool", "n:layer1.0.add")  # identity shortcut
    assert "dashed" not in edge(dot, "n:layer1.0.bn2", "n:layer1.0.add")
    assert "dashed" not in edge(dot, "n:maxpool", "n:layer1.0.conv1")
    # The projection shortcut: the downsample branch and its edge into the add.
    assert "dashed" in edge(dot, "n:layer1.1.6", "n:layer2.0.downsample")
    assert "dashed" in edge(dot, "n:layer2.0.downsample", "n:layer2.0.add")
    assert 'shape="ellipse"' in nodes(dot)["n:layer2.0.add"]


def test_parallel_branches_are_not_shortcuts():
    dot = to_dot(archc.load_spec(SPECS / "googlenet.yaml"), depth=3)
    into_concat = [attrs for _, dst, attrs in edges(dot) if dst == "n:inception3a.concat"]
    assert len(into_concat) == 4 and not any("dashed" in a for a in into_concat)


def test_dense_block_is_a_running_concatenation_chain():
    dot = to_dot(archc.load_spec(SPECS / "densenet.yaml", "121"), expand=True)
    block = "n:features.denseblock1."
    for k in range(2, 7):
        prev, this = f"{block}denselayer{k - 1}.concat", f"{block}denselayer{k}"
        assert "dashed" not in edge(dot, prev, f"{this}.norm1")
        assert "dashed" in edge(dot, prev, f"{this}.concat")
    # Each concat reads exactly its own layer's new features and the running concatenation.
    assert all(len([e for e in edges(dot) if e[1] == f"{block}denselayer{k}.concat"]) == 2 for k in range(1, 7))


def test_training_only_heads_are_marked():
    dot = to_dot(archc.load_spec(SPECS / "googlenet.yaml"))
    drawn = nodes(dot)
    for aux in ("aux1", "aux2"):
        assert "dashed" in drawn[f"n:{aux}"]
    assert "training only" in drawn["out:aux_logits1"] and "training only" not in drawn["out:logits"]
    assert "dotted" in edge(dot, "n:inception4a", "n:aux1")
    assert "dashed" not in drawn["n:inception4b"]
    assert "13,004,888 params" in dot


def test_multi_output_edges_say_which_output():
    dot = to_dot(archc.load_spec(FEATURES, "wide"), expand=True)
    assert "[1] 12x16x16" in edge(dot, "n:parts", "n:head.0")
    assert "[0] 4x16x16" in edge(dot, "n:parts", "n:aux.0")


# Escaping ---------------------------------------------------------------------------

NASTY = ['q"uote', "<b>angle</b>", "{brace}];", "back\\slash\\N\\G\\", "new\nline", "-> x [label=1]", "/* c */ //"]


def visible(name: str) -> str:
    return name.replace("\n", "\\n")


def nasty_network() -> Network:
    """A hand-built IR whose every name is hostile; a spec cannot contain such node names."""
    where = Location("x.yaml", 1, 1)
    shape = (4, 8, 8)
    conv = OPS["conv2d"].Attrs(out=4, kernel=3, padding=1)
    inner = Graph((("input", shape),), (Node(NASTY[0], (Ref("input"),), (shape,), (shape,), where, op="conv2d", attrs=conv),),
                  (Output("output", Ref(NASTY[0]), shape),))
    body = [
        Node(NASTY[1], (Ref(NASTY[6]),), (shape,), (shape,), where, op="relu", attrs=OPS["relu"].Attrs()),
        Node(NASTY[2], (Ref(NASTY[1]),), (shape,), (shape,), where, body=inner, block=NASTY[3]),
        Node(NASTY[4], (Ref(NASTY[2]), Ref(NASTY[6])), (shape, shape), (shape,), where, op="add", attrs=OPS["add"].Attrs()),
    ]
    graph = Graph(((NASTY[6], shape),), tuple(body), (Output(NASTY[5], Ref(NASTY[4]), shape),))
    return Network(NASTY[3] + NASTY[4], NASTY[0] + NASTY[1], "doc", {}, graph, "x.yaml")


def svg_node_texts(svg: bytes, kind: str = "node") -> list[str]:
    """The text of each drawn node (or cluster, or the graph's title) in an SVG from dot."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg)
    if kind == "graph":
        return ["".join(t.text or "" for t in root.findall("./s:g/s:text", ns))]
    groups = root.findall(f".//s:g[@class='{kind}']", ns)
    return ["".join(t.text or "" for t in g.findall(".//s:text", ns)) for g in groups]


@needs_dot
@pytest.mark.parametrize("depth", [None, 2])
def test_hostile_names_render_literally(depth):
    svg = render(to_dot(nasty_network(), depth=depth), "svg")
    boxes = sorted(svg_node_texts(svg))
    # Shapes appear once: on edges, and in the output box (whose edge has none).
    block = [visible(NASTY[2] + NASTY[3])] if depth is None else [visible(NASTY[0]) + "conv2d 3x3, 4"]
    expected = block + [
        visible(NASTY[6]), visible(NASTY[1]) + "relu", visible(NASTY[4]) + " add", visible(NASTY[5]) + "4x8x8",
    ]
    assert boxes == sorted(expected)  # input, relu, the block (one box, or a cluster of its conv), add, output
    if depth is not None:
        assert svg_node_texts(svg, "cluster") == [visible(NASTY[2] + " " + NASTY[3])]
    title = svg_node_texts(svg, "graph")[0]
    assert title == visible(f"{NASTY[3]}{NASTY[4]} ({NASTY[0]}{NASTY[1]})") + "0 params, 0 multiply-adds"


@needs_dot
def test_hostile_free_text_from_a_spec(tmp_path):
    spec = tmp_path / "weird.yaml"
    spec.write_text(
        'archc: 1\nname: "n\\"<x>{y}\\\\N\\nz"\ndoc: "</font>\\\\G"\ninput: [3, 8, 8]\n'
        'default_variant: v1\nvariants: {v1: {}}\nbody:\n  - c: conv2d(4, 3, padding=1)\n'
    )
    # Names follow the name rule (variants included); the spec's name and doc are free text.
    net = archc.load_spec(spec)
    assert net.name == 'n"<x>{y}\\N\nz' and net.variant == 'v1'
    svg = render(to_dot(net), "svg")
    assert svg_node_texts(svg, "graph")[0].startswith('n"<x>{y}\\N\\nz (v1)')
    assert sorted(svg_node_texts(svg)) == ["cconv2d 3x3, 4", "input", "output4x8x8"]


# Rendering and the command line -------------------------------------------------------

MAGIC = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF", "dot": b"digraph archc {"}


@needs_dot
@pytest.mark.parametrize("fmt", sorted(MAGIC))
def test_every_format_from_the_extension(tmp_path, fmt, capsys):
    out = tmp_path / f"lenet.{fmt}"
    assert main(["draw", str(SPECS / "lenet5.yaml"), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(MAGIC[fmt])
    assert capsys.readouterr().out.strip() == str(out)


@needs_dot
def test_format_option_wins_and_default_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", str(SPECS / "resnet.yaml"), "--variant", "18"]) == 0
    assert capsys.readouterr().out.strip() == "resnet-18.svg"
    assert (tmp_path / "resnet-18.svg").read_bytes().startswith(MAGIC["svg"])
    assert main(["draw", str(SPECS / "lenet5.yaml"), "-o", "x.svg", "--format", "png"]) == 0
    assert (tmp_path / "x.svg").read_bytes().startswith(MAGIC["png"])
    assert main(["draw", str(SPECS / "googlenet.yaml"), "--format", "pdf"]) == 0
    assert (tmp_path / "googlenet-torchvision.pdf").read_bytes().startswith(MAGIC["pdf"])  # the default variant


@pytest.mark.parametrize("args,message", [
    (["-o", "x.jpeg"], "cannot tell the diagram format"),
    (["--depth", "0"], "--depth must be 1 or more"),
    (["-o", "no/such/dir/x.dot"], "no such directory"),
])
def test_usage_errors_exit_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", str(SPECS / "lenet5.yaml"), *args]) == 2
    assert message in capsys.readouterr().err


def test_depth_and_expand_are_exclusive():
    result = subprocess.run([sys.executable, "-m", "archc", "draw", str(SPECS / "lenet5.yaml"), "--depth", "2", "--expand"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "not allowed with" in result.stderr


def test_missing_dot_is_explained_and_dot_format_still_works(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(layout_module.shutil, "which", lambda name: None)
    out = tmp_path / "lenet.svg"
    out.write_text("before")
    assert main(["draw", str(SPECS / "lenet5.yaml"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Graphviz's 'dot' program was not found" in err and "apt-get install graphviz" in err and "--format dot" in err
    assert out.read_text() == "before"  # nothing written over
    assert main(["draw", str(SPECS / "lenet5.yaml"), "-o", str(tmp_path / "lenet.dot")]) == 0
    assert (tmp_path / "lenet.dot").read_text().startswith("digraph archc {")


def test_default_file_name_is_plain(tmp_path, monkeypatch, capsys):
    from archc.commands.draw import default_name

    assert default_name("resnet", "50", "svg") == "resnet-50.svg"
    assert default_name("../a/b\"c", "x y", "png") == "_a_b_c-x_y.png"
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "s.yaml"
    spec.write_text("archc: 1\nname: ../up\ninput: [3, 8, 8]\nbody: [relu]\n")
    assert main(["draw", str(spec), "--format", "dot"]) == 0
    assert capsys.readouterr().out.strip() == "_up.dot" and (tmp_path / "_up.dot").exists()


def test_api_returns_dot_and_writes_file(tmp_path):
    out = tmp_path / "net.dot"
    source = draw(SPECS / "resnet.yaml", "18", out=out, depth=1, num_classes=10)
    assert out.read_text() == source
    assert "linear 10" in nodes(source)["n:fc"] and "n:layer1" in nodes(source)
    assert draw(SPECS / "lenet5.yaml", params={"num_classes": 7}).count("linear 7") == 1


# Quality bars (real layout) ------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def text_boxes(svg: bytes) -> list[tuple[float, float, float, float, str]]:
    """Each text run's box as laid out by dot, its width estimated at 0.55 em per character."""
    found = []
    for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text"):
        text, size = (t.text or "").strip(), float(t.get("font-size", "14"))
        if not text:
            continue
        width, x, y = 0.55 * size * len(t.text or ""), float(t.get("x", 0)), float(t.get("y", 0))
        left = {"middle": x - width / 2, "end": x - width}.get(t.get("text-anchor", "start"), x)
        found.append((left, y - 0.75 * size, left + width, y, text))
    return found


def overlapping_text(svg: bytes) -> list[tuple[str, str]]:
    boxes = text_boxes(svg)
    return [
        (a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
        if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
    ]


@needs_dot
@pytest.mark.parametrize("spec,variant", [
    ("densenet", "121"), ("googlenet", None), ("resnet", "152"), ("efficientnet", "b7"), ("vgg", "19_bn"),
])
def test_default_depth_fits_4000_px_and_text_does_not_overlap(spec, variant):
    source = to_dot(archc.load_spec(SPECS / f"{spec}.yaml", variant))
    start = time.perf_counter()
    width, height = png_size(render(source, "png"))  # dot's PNG output is 96 dpi
    assert time.perf_counter() - start < 5
    assert max(width, height) <= 4000 and min(width, height) >= 200
    svg = render(source, "svg")
    assert len(text_boxes(svg)) > 40 and overlapping_text(svg) == []


@needs_dot
@pytest.mark.parametrize("spec,variant,options", [
    ("googlenet", None, {"depth": 3}), ("resnet", "18", {"depth": 3}), ("shufflenet_v2", "x1_0", {"expand": True}),
])
def test_opened_blocks_text_does_not_overlap(spec, variant, options):
    svg = render(to_dot(archc.load_spec(SPECS / f"{spec}.yaml", variant), **options), "svg")
    assert overlapping_text(svg) == []


@needs_dot
@pytest.mark.parametrize("spec", sorted(p.stem for p in SPECS.glob("*.yaml")))
def test_every_spec_renders_at_default_depth(spec):
    assert render(to_dot(archc.load_spec(SPECS / f"{spec}.yaml")), "svg").startswith(MAGIC["svg"])


@pytest.mark.slow
@needs_dot
@pytest.mark.parametrize("path,variant", CASES, ids=IDS)
def test_every_variant_renders_at_every_depth(path, variant):
    net = archc.load_spec(path, variant)
    for options in ({}, {"depth": 2}, {"depth": 3}, {"expand": True}, {"rankdir": "LR"}):
        assert render(to_dot(net, **options), "svg").startswith(MAGIC["svg"])
