"""Every registered op: static shape and parameter rules against what torch really does."""
from __future__ import annotations

import textwrap

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc.ops import OPS
from test_ops_paper import PAPER_SAMPLES
from test_ops_against_torch import SAMPLES as TORCH_SAMPLES

# One sample call per op: (call, input shapes, the equivalent torch computation).
F = torch.nn.functional
SAMPLES = {
    "conv2d": ("conv2d(6, 3, stride=2, padding=1, groups=2, bias=false)", [(4, 9, 9)], None),
    "conv1d": ("conv1d(6, 3, padding='same', dilation=2)", [(4, 11)], None),
    "linear": ("linear(7)", [(5,)], None),
    "batchnorm2d": ("batchnorm2d(eps=0.01)", [(4, 3, 3)], None),
    "batchnorm1d": ("batchnorm1d", [(4, 6)], None),
    "layernorm": ("layernorm(2)", [(4, 3, 5)], None),
    "lrn": ("lrn(3, alpha=0.01, beta=0.5, k=1.5)", [(5, 4, 4)], lambda x: F.local_response_norm(x, 3, 0.01, 0.5, 1.5)),
    "channel_affine": ("channel_affine(scale=[1, 2, 3], shift=[0.5, 0, -1])", [(3, 2, 2)],
                       lambda x: x * torch.tensor([1.0, 2, 3]).view(1, 3, 1, 1) + torch.tensor([0.5, 0, -1]).view(1, 3, 1, 1)),
    "relu": ("relu", [(3, 4)], torch.relu),
    "relu6": ("relu6", [(3, 4)], F.relu6),
    "leaky_relu": ("leaky_relu(0.2)", [(3, 4)], lambda x: F.leaky_relu(x, 0.2)),
    "gelu": ("gelu(approximate='tanh')", [(3, 4)], lambda x: F.gelu(x, approximate="tanh")),
    "silu": ("silu", [(3, 4)], F.silu),
    "sigmoid": ("sigmoid", [(3, 4)], torch.sigmoid),
    "tanh": ("tanh", [(3, 4)], torch.tanh),
    "hardswish": ("hardswish", [(3, 4)], F.hardswish),
    "hardsigmoid": ("hardsigmoid", [(3, 4)], F.hardsigmoid),
    "softmax": ("softmax(-1)", [(3, 4)], lambda x: torch.softmax(x, -1)),
    "maxpool2d": ("maxpool2d(3, stride=2, padding=1, ceil_mode=true)", [(2, 8, 8)],
                  lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    "avgpool2d": ("avgpool2d(3, stride=2, padding=1, count_include_pad=false)", [(2, 7, 7)],
                  lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    "adaptive_avgpool2d": ("adaptive_avgpool2d([2, 3])", [(2, 7, 7)], lambda x: F.adaptive_avg_pool2d(x, (2, 3))),
    "adaptive_maxpool2d": ("adaptive_maxpool2d(2)", [(2, 7, 7)], lambda x: F.adaptive_max_pool2d(x, 2)),
    "mean": ("mean([2, 3], keepdim=true)", [(2, 5, 5)], lambda x: x.mean([2, 3], keepdim=True)),
    "flatten": ("flatten(2)", [(2, 3, 4)], lambda x: torch.flatten(x, 2)),
    "dropout": ("dropout(0.3)", [(3, 4)], lambda x: x),
    "stochastic_depth": ("stochastic_depth(0.3)", [(3, 4)], lambda x: x),
    "identity": ("identity", [(3, 4)], lambda x: x),
    "add": ("add", [(3, 4), (3, 4), (3, 4)], lambda a, b, c: a + b + c),
    "multiply": ("multiply", [(3, 4, 4), (3, 1, 1)], lambda a, b: a * b),
    "concat": ("concat(2)", [(3, 2, 4), (3, 5, 4)], lambda a, b: torch.cat([a, b], 2)),
    "chunk": ("chunk(3, dim=-1)", [(2, 6)], lambda x: x.chunk(3, dim=-1)),
    "split": ("split([1, 4], dim=1)", [(5, 2)], lambda x: torch.split(x, [1, 4], dim=1)),
    "channel_shuffle": ("channel_shuffle(3)", [(6, 2, 2)], lambda x: F.channel_shuffle(x, 3)),
}
SAMPLES.update(PAPER_SAMPLES)  # the paper-only networks' ops keep their samples with their tests
# Language 1.1 ops: shapes and counts here, values against torch in test_ops_against_torch.py
SAMPLES.update({name: (call, shapes, None) for name, (call, shapes, _) in TORCH_SAMPLES.items()})


def spec_for(call: str, shapes: list[tuple[int, ...]], tmp_path) -> str:
    inputs = ", ".join(f"in{i}: {list(s)}" for i, s in enumerate(shapes))
    sources = ", ".join(f"in{i}" for i in range(len(shapes)))
    text = textwrap.dedent(f"""\
        archc: 1
        name: one_op
        inputs: {{{inputs}}}
        body:
          - y: {{op: "{call.replace('"', "'")}", from: [{sources}]}}
    """)
    if call.startswith(("chunk", "split")):
        parts = int(call.split("(")[1].split(",")[0]) if call.startswith("chunk") else 2
        text += "outputs:\n" + "".join(f"  o{k}: y.{k}\n" for k in range(parts))
    path = tmp_path / "op.yaml"
    path.write_text(text)
    return str(path)


def test_every_op_has_a_sample():
    assert set(SAMPLES) == set(OPS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_op_shape_params_and_values(name, tmp_path):
    call, shapes, reference = SAMPLES[name]
    path = spec_for(call, shapes, tmp_path)
    net = archc.load_spec(path)
    model = archc.build(path).eval()
    xs = [torch.randn(2, *s, generator=torch.Generator().manual_seed(i)) for i, s in enumerate(shapes)]
    with torch.no_grad():
        out = model(*[x.clone() for x in xs])
    outs = list(out) if not isinstance(out, torch.Tensor) else [out]
    assert [tuple(o.shape[1:]) for o in outs] == list(net.output_shapes.values())
    assert net.total_params == sum(p.numel() for p in model.parameters())
    if reference is not None:
        with torch.no_grad():
            expected = reference(*xs)
        expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
        for got, want in zip(outs, expected):
            torch.testing.assert_close(got, want)


def _static_or_error(call: str, shape: tuple[int, ...], tmp_path) -> tuple[int, ...] | None:
    path = spec_for(call, [shape], tmp_path)
    try:
        return archc.load_spec(path).output_shapes["output"]
    except archc.SpecError:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(1, 12), kernel=st.integers(1, 5), stride=st.integers(1, 3), padding=st.integers(0, 3),
    dilation=st.integers(1, 2), ceil_mode=st.booleans(), kind=st.sampled_from(["conv2d", "maxpool2d", "avgpool2d"]),
)
def test_window_shape_rules_agree_with_torch(tmp_path, size, kernel, stride, padding, dilation, ceil_mode, kind):
    if kind == "conv2d":
        call = f"conv2d(2, {kernel}, stride={stride}, padding={padding}, dilation={dilation})"
        module = torch.nn.Conv2d(1, 2, kernel, stride, padding, dilation)
    elif kind == "maxpool2d":
        call = f"maxpool2d({kernel}, stride={stride}, padding={padding}, dilation={dilation}, ceil_mode={ceil_mode})"
        module = torch.nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    else:
        call = f"avgpool2d({kernel}, stride={stride}, padding={padding}, ceil_mode={ceil_mode})"
        module = torch.nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil_mode)
    static = _static_or_error(call, (1, size, size), tmp_path)
    try:
        real = tuple(module(torch.zeros(1, 1, size, size)).shape[1:])
    except RuntimeError:
        real = None
    assert static == real, (call, size)
