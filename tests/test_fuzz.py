"""Property-based tests: whatever a spec file holds, archc.load_spec answers with SpecError or a
network, and every network it accepts builds and runs one forward pass.

Three sources of specs: the shipped specs with their data mutated (keys and values dropped,
duplicated, retyped, perturbed, renamed, reordered) and re-serialised; the shipped specs'
text mutated (lines dropped or doubled, tabs, truncation, stray characters); and random
small specs. No other exception may escape (no KeyError, TypeError, RecursionError, ...);
every error points inside the file; every accepted network passes its graph lint, and
random small networks accepted by archc run in torch with the shapes archc inferred.

`make test` runs a few hundred examples in all (the same ones each run); `make fuzz` sets
ARCHC_FUZZ_EXAMPLES=20000 and draws fresh ones (hypothesis's `--hypothesis-show-statistics`
reports how many ran).
"""
from __future__ import annotations

import atexit
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archc
from archc import Limits, SpecError
from archc.ops import OPS

# A build that had to fall back from its compact file (an archc bug the check caught) fails here.
pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("error:archc:RuntimeWarning")]

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
TOTAL = int(os.environ.get("ARCHC_FUZZ_EXAMPLES", "300"))
FRESH = "ARCHC_FUZZ_EXAMPLES" in os.environ
# Small limits keep every example quick; limit errors are SpecErrors like any other.
LIMITS = Limits(max_nodes=5000, max_repeat=200)
WORKDIR = Path(tempfile.mkdtemp(prefix="archc-fuzz-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)


def examples(share: float) -> settings:
    return settings(
        max_examples=max(1, int(TOTAL * share)), deadline=None, derandomize=not FRESH, database=None,
        suppress_health_check=list(HealthCheck),
    )


def check(text: str | bytes, variant: str | None = None, params: dict[str, Any] | None = None) -> Any:
    """Load the spec; return the network or None; fail on any exception but SpecError."""
    path = WORKDIR / "spec.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        network = archc.load_spec(path, variant, params=params or {}, limits=LIMITS)
    except SpecError as exc:
        check_report(exc, path)
        return None
    assert network.graph.lint() == []
    assert isinstance(network.total_params, int) and network.total_params >= 0
    build_and_run(network)
    return network


def build_and_run(network: Any) -> None:
    """What load_spec accepts, build builds and runs (validate ok means build works).

    Small networks run for real on the CPU at the spec's input size; big ones (mutated
    shipped specs) are built and run on torch's meta device, which checks every module
    constructor, init rule and op call without computing or allocating anything.
    """
    import torch

    from archc.backends.pytorch.build import build_network
    from archc.ir.limits import check_param_count

    try:
        check_param_count(network, LIMITS.max_params)  # as archc.build does, before any weight exists
    except SpecError as exc:
        check_report(exc, Path(network.path))
        return
    small = network.total_params < 2_000_000 and network.total_macs < 200_000_000
    device = "cpu" if small else "meta"
    model = build_network(network, device=device, seed=0).eval()
    inputs = [torch.randn(1, *shape, device=device) for shape in network.input_shapes.values()]
    with torch.no_grad():
        model(*inputs)
    if small:  # and it is the network the spec describes, by the IR interpreter
        from archc.backends.pytorch.compare import output_differences, structural_differences
        from archc.backends.pytorch.interpret import interpret

        oracle = interpret(network)
        assert structural_differences(model, network, oracle) == []
        assert output_differences(model, network, tuple(inputs), oracle=oracle) == []


def check_report(exc: SpecError, path: Path) -> None:
    assert exc.diagnostics
    # Lines as YAML counts them: a lone CR, NEL and the Unicode separators end lines too.
    text = path.read_bytes().decode("utf-8", "replace")
    lines = len(re.findall("\r\n|[\r\n\x85\u2028\u2029]", text)) + 1
    for d in exc.diagnostics:
        assert d.location.path == str(path)
        assert 1 <= d.location.line <= lines and d.location.col >= 1, d
    for line in str(exc).splitlines():
        assert re.match(r"^(\S+:\d+:\d+: error: |    note: |\.\.\. and \d+ more)", line), line


# Mutating the shipped specs' data --------------------------------------------------------

SHIPPED = {p.stem: (p.read_text(), yaml.safe_load(p.read_text())) for p in SPECS}


def _keys_of(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [str(k) for k in data] + [k for v in data.values() for k in _keys_of(v)]
    if isinstance(data, list):
        return [k for v in data for k in _keys_of(v)]
    return []


NAMES = sorted({*OPS, "input", "i", "in_channels", "block_index", "block_count", "from", "if", "body", "op",
                *(k for _, data in SHIPPED.values() for k in _keys_of(data))})

scalars = st.one_of(
    st.integers(-3, 300), st.sampled_from([0, -1, 10**12, 10**30, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.sampled_from(NAMES), st.text(max_size=12),
    st.sampled_from(["conv2d(8, 3)", "x // 0", "1 if", "in_channels * 2", "'same'", "{i}", "a.b",
                     "__import__('os').system('true')", "max()", "[1, 2][5]", "(" * 60, "2 ** 99"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(NAMES), inner, max_size=3)),
    max_leaves=8,
)


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            found += paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += paths(v, prefix + (i,))
    return found


def get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def perturb(value: Any, draw: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.sampled_from([value + 1, value - 1, -value, 0, value * 1000, value // 2]))
    if isinstance(value, float):
        return draw(st.sampled_from([value * 10, -value, 0.0, math.nan, 1 - value]))
    if isinstance(value, str) and value:
        i = draw(st.integers(0, len(value)))
        kind = draw(st.sampled_from(["insert", "delete", "replace-word", "duplicate"]))
        if kind == "insert":
            return value[:i] + draw(st.sampled_from(list("(),[]{}'\":.=_-+*/ 0189xi"))) + value[i:]
        if kind == "delete":
            return value[:i] + value[i + 1:]
        if kind == "duplicate":
            return value + value
        words = re.findall(r"[A-Za-z_]\w*|\d+", value)
        if words:
            word = draw(st.sampled_from(words))
            return value.replace(word, draw(st.sampled_from(NAMES + ["0", "1", "7", "-1", "100000"])), 1)
    return draw(values)


@st.composite
def mutated_data(draw: Any) -> tuple[str, Any, str | None]:
    name = draw(st.sampled_from(sorted(SHIPPED)))
    data = yaml.safe_load(SHIPPED[name][0])  # a fresh copy
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(data)))
        if not path:
            continue
        parent, key = get(data, path[:-1]), path[-1]
        op = draw(st.sampled_from(["drop", "duplicate", "retype", "perturb", "perturb", "rename", "swap"]))
        if op == "drop":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, yaml.safe_load(yaml.safe_dump(parent[key])))
        elif op == "duplicate":
            parent[draw(st.sampled_from(NAMES))] = parent[key]
        elif op == "retype":
            parent[key] = draw(values)
        elif op == "perturb":
            parent[key] = perturb(parent[key], draw)
        elif op == "rename" and isinstance(parent, dict):
            new = perturb(str(key), draw) if draw(st.booleans()) else draw(st.sampled_from(NAMES))
            parent[str(new)] = parent.pop(key)
        elif op == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(0, len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
    variants = list(SHIPPED[name][1].get("variants", {}))
    variant = draw(st.one_of(st.none(), st.sampled_from(variants or ["none"]), st.text(max_size=4)))
    return name, data, variant


@examples(0.35)
@given(mutated_data())
def test_mutated_shipped_specs_only_raise_spec_errors(case):
    _, data, variant = case
    try:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)  # not representable as YAML (e.g. a key that is not a string)
    check(text, variant)


@examples(0.05)
@given(st.sampled_from(sorted(SHIPPED)), st.data())
def test_shipped_specs_with_odd_param_overrides(name, data):
    params = SHIPPED[name][1].get("params") or {}
    assume(params)
    chosen = data.draw(st.sampled_from(sorted(params)))
    check(SHIPPED[name][0], None, {chosen: data.draw(st.one_of(values, st.sampled_from([object(), {1, 2}, b"x"])))})


# Mutating the shipped specs' text ----------------------------------------------------------


@st.composite
def mutated_text(draw: Any) -> str:
    lines = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))][0].split("\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "double", "tab", "indent", "outdent", "truncate", "insert", "swap"]))
        if op == "drop":
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])  # often a duplicate key
        elif op == "tab":
            lines[i] = "\t" + lines[i]
        elif op == "indent":
            lines[i] = " " + lines[i]
        elif op == "outdent":
            lines[i] = lines[i][1:]
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
            del lines[i + 1:]
        elif op == "insert":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.text(min_size=1, max_size=3)) + lines[i][j:]
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        if not lines:
            lines = [""]
    return "\n".join(lines)


@examples(0.2)
@given(mutated_text())
def test_mutated_spec_text_only_raises_spec_errors(text):
    check(text)


@examples(0.05)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_spec_errors(raw):
    check(raw)


# Random small specs ------------------------------------------------------------------------

ARG = st.one_of(
    st.integers(-1, 9), st.sampled_from([1, 2, 3, 8, 16, "'same'", "'valid'", "[1, 2]", "[2, 2]", "0.5", "true",
                                         "in_channels", "in_channels // 2", "i", "n", "-1"]),
)
OP_NAMES = sorted(OPS) + ["blk", "blk2", "nope"]


@st.composite
def call(draw: Any) -> str:
    op = draw(st.sampled_from(OP_NAMES))
    args = draw(st.lists(ARG, max_size=3))
    kwargs = draw(st.dictionaries(st.sampled_from(["stride", "padding", "dim", "groups", "bias", "p", "dims", "size"]),
                                  ARG, max_size=2))
    parts = [str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()]
    return f"{op}({', '.join(parts)})" if parts or draw(st.booleans()) else op


@st.composite
def body(draw: Any, depth: int = 0) -> list[Any]:
    items: list[Any] = []
    names: list[str] = []
    for k in range(draw(st.integers(1, 5))):
        op = draw(call())
        name = draw(st.sampled_from([None, f"n{k}", f"n{k}", "input", "x{i}", "0"]))
        fields: dict[str, Any] = {}
        if draw(st.integers(0, 3)) == 0:
            refs = names + ["input", "nope", str(k + 1), "n9"]
            picked = draw(st.lists(st.sampled_from(refs), min_size=1, max_size=3))
            fields["from"] = picked if len(picked) > 1 or draw(st.booleans()) else picked[0]
        if draw(st.integers(0, 4)) == 0:
            fields["if"] = draw(st.sampled_from([True, False, "n > 1", "in_channels > 4", "i == 0", "nope"]))
        if draw(st.integers(0, 4)) == 0:
            fields["repeat"] = draw(st.sampled_from([0, 1, 2, 3, "n", -1, "i + 1"]))
        if depth < 2 and draw(st.integers(0, 5)) == 0:
            fields["body"] = draw(body(depth + 1))
        else:
            fields["op"] = op
        item: Any = fields if name is None else {name: fields}
        if not set(fields) - {"op"}:
            item = op if name is None else {name: op}
        items.append(item)
        if name:
            names.append(name)
    return items


@st.composite
def small_spec(draw: Any) -> dict[str, Any]:
    shape = draw(st.sampled_from([[3, 8, 8], [4, 6, 6], [8, 16, 16], [5], [4, 10], [3, 1, 1], [2, 5, 7]]))
    spec: dict[str, Any] = {"archc": 1, "name": "fuzz", "input": shape, "params": {"n": draw(st.integers(0, 4))}}
    if draw(st.booleans()):
        spec["blocks"] = {
            "blk": {"params": {"c": draw(st.sampled_from([None, 4, 8]))}, "body": draw(body(1))},
            "blk2": {"body": draw(body(1))},
        }
    spec["body"] = draw(body())
    if draw(st.integers(0, 4)) == 0:
        spec["outputs"] = {"y": draw(st.sampled_from(["n0", "n1", "input", "nope"]))}
    return spec


@examples(0.2)
@given(small_spec())
def test_random_small_specs_only_raise_spec_errors(spec):
    check(yaml.safe_dump(spec, sort_keys=False))


MENU = [  # calls that often fit a CxHxW input, so that most plausible specs are valid
    "conv2d({c}, {k}, stride={s}, padding={p})", "conv2d({c}, 1, bias=false)", "conv2d({c}, {k}, groups=1, dilation={s})",
    "batchnorm2d", "relu", "relu6", "silu", "sigmoid", "hardswish", "leaky_relu(0.1)", "gelu", "identity",
    "maxpool2d({k}, stride={s}, padding={p}, ceil_mode=true)", "avgpool2d({k}, stride={s}, count_include_pad=false)",
    "adaptive_avgpool2d({s})", "adaptive_maxpool2d([{s}, {k}])", "dropout(0.2)", "channel_shuffle(1)",
    "lrn(3)", "layernorm(2)", "softmax(1)", "stochastic_depth(0.1)", "conv2d({c}, {k}, padding='same')",
]


@st.composite
def plausible_spec(draw: Any) -> dict[str, Any]:
    items: list[Any] = []
    for k in range(draw(st.integers(1, 6))):
        template = draw(st.sampled_from(MENU))
        kernel = draw(st.sampled_from([1, 3, 3, 5]))
        op = template.format(c=draw(st.sampled_from([2, 4, 8])), k=kernel, s=draw(st.sampled_from([1, 1, 2])),
                             p=draw(st.integers(0, kernel // 2)))
        merge = draw(st.integers(0, 5))
        if merge == 0 and k > 0:
            items.append({f"n{k}": {"op": draw(st.sampled_from(["add", "multiply", "concat"])), "from": [f"n{k - 1}", "input"]}})
        elif merge == 1:
            items.append({f"n{k}": {"repeat": draw(st.integers(0, 3)), "op": op}})
        else:
            items.append({f"n{k}": op})
    tail = draw(st.sampled_from([[], ["flatten", "linear(10)"], [{"out": {"op": "chunk(1)"}}], ["mean([2, 3])"]]))
    shape = [draw(st.sampled_from([2, 4, 8])), draw(st.integers(4, 17)), draw(st.integers(4, 17))]
    return {"archc": 1, "name": "fuzz", "input": shape, "body": items + tail}


@examples(0.15)
@given(plausible_spec())
def test_random_small_specs_that_pass_run_in_torch_with_the_inferred_shapes(spec):
    """What archc accepts, torch runs, with exactly the shapes archc inferred."""
    network = check(yaml.safe_dump(spec, sort_keys=False))
    assume(network is not None and network.total_params < 2_000_000)
    import torch

    from archc.backends.pytorch.build import build_network

    model = build_network(network).eval()
    inputs = {name: torch.randn(1, *shape) for name, shape in network.input_shapes.items()}
    with torch.no_grad():
        out = model(*inputs.values())
    outs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape[1:]) for o in outs] == [tuple(s) for s in network.output_shapes.values()]
