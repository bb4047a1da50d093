"""The ops of the paper-only networks against torch: pad (and, below, join, capsules, LeNet-5's units)."""
from __future__ import annotations

import textwrap

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc

F = torch.nn.functional

# One sample call per op, as tests/test_ops.py SAMPLES (which runs them too).
PAPER_SAMPLES = {
    "pad": ("pad([0, 0, 0, 0, 2, 3], stride=2)", [(3, 5, 6)], lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 2, 3))),
    "scaled_tanh": ("scaled_tanh(2.0, slope=0.5)", [(3, 4)], lambda x: 2.0 * torch.tanh(0.5 * x)),
    # Modules with weights: shapes and counts here; values in the tests below.
    "subsample": ("subsample(2)", [(3, 6, 5)], None),
    "table_conv2d": ("table_conv2d([[0], [1, 2], [0, 2]], 3)", [(3, 5, 5)], None),
    "rbf": ("rbf(4)", [(6,)], None),
    "columns": ("columns", [(2, 3, 3), (2, 2, 3, 3)], lambda a, b: torch.cat([a.unsqueeze(1), b], 1)),
    "join": ("join", [(2, 3, 3), (2, 2, 3, 3)], lambda a, b: torch.cat([a.unsqueeze(1), b], 1).mean(1)),
    "drop_path_plan": ("drop_path_plan(3)", [(2, 3)], lambda x: x),
    "squash": ("squash", [(4, 3)], lambda s: s * s.norm(dim=-1, keepdim=True) / (1 + s.pow(2).sum(-1, keepdim=True))),
    "length": ("length(1)", [(4, 3)], lambda x: x.norm(dim=1)),
    "capsule_routing": ("capsule_routing(3, 5, iterations=2)", [(6, 4)], None),
    # In eval the longest capsule is kept, whatever the label says.
    "capsule_mask": ("capsule_mask", [(3, 2), (3,)],
                     lambda c, label: c * F.one_hot(c.norm(dim=-1).argmax(1), 3)[..., None]),
}



def spec_for(call: str, shapes: list[tuple[int, ...]], tmp_path) -> str:
    """A one-node spec applying `call` to inputs of these shapes."""
    inputs = ", ".join(f"in{i}: {list(s)}" for i, s in enumerate(shapes))
    sources = ", ".join(f"in{i}" for i in range(len(shapes)))
    path = tmp_path / "op.yaml"
    path.write_text(f"archc: 1\nname: one_op\ninputs: {{{inputs}}}\nbody:\n  - y: {{op: \"{call}\", from: [{sources}]}}\n")
    return str(path)


PAD_CASES = [
    ("pad([1, 2])", (3, 4), lambda x: F.pad(x, (1, 2))),
    ("pad([1, 2, 0, 1], mode='reflect')", (2, 4, 5), lambda x: F.pad(x, (1, 2, 0, 1), mode="reflect")),
    ("pad([2, 2, 3, 1], mode='replicate')", (2, 4, 5), lambda x: F.pad(x, (2, 2, 3, 1), mode="replicate")),
    ("pad([1, 3], mode='circular')", (2, 4), lambda x: F.pad(x, (1, 3), mode="circular")),
    ("pad([-1, 1, 0, 0, 1, 1], value=-2.5)", (2, 4, 5), lambda x: F.pad(x, (-1, 1, 0, 0, 1, 1), value=-2.5)),
    ("pad([1, 1, 1, 1], stride=3)", (2, 7, 5), lambda x: F.pad(x[:, :, ::3, ::3], (1, 1, 1, 1))),
]


@pytest.mark.parametrize("call,shape,reference", PAD_CASES, ids=[c[0] for c in PAD_CASES])
def test_pad_equals_torch(call, shape, reference, tmp_path):
    path = spec_for(call, [shape], tmp_path)
    model = archc.build(path)
    x = torch.randn(2, *shape)
    expected = reference(x)
    assert archc.load_spec(path).output_shapes["output"] == tuple(expected.shape[1:])
    torch.testing.assert_close(model(x), expected)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rank=st.integers(1, 3), sizes=st.lists(st.integers(1, 5), min_size=3, max_size=3),
    widths=st.lists(st.integers(-2, 5), min_size=2, max_size=6).filter(lambda w: len(w) % 2 == 0),
    mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]),
)
def test_pad_shape_rule_agrees_with_torch(tmp_path, rank, sizes, widths, mode):
    """The static rule accepts exactly what torch accepts, with torch's output shape."""
    shape = tuple(sizes[:rank])
    call = f"pad({widths}, mode='{mode}')"
    try:
        static = archc.load_spec(spec_for(call, [shape], tmp_path)).output_shapes["output"]
    except archc.SpecError:
        static = None
    try:
        real = tuple(F.pad(torch.zeros(2, *shape), tuple(widths), mode=mode).shape[1:])
        real = real if min(real) >= 1 else None
    except (RuntimeError, ValueError, NotImplementedError):
        real = None
    # archc is stricter in three places: no mode pads the batch; non-constant modes never pad the
    # channel dim (torch would read the sample as an unbatched tensor and pad the batch), nor crop.
    if len(widths) // 2 > rank or mode != "constant" and (len(widths) // 2 >= rank or min(widths) < 0):
        assert static is None or static == real, (call, shape)
    else:
        assert static == real, (call, shape)


def _diagnostic(text: str, tmp_path) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(archc.SpecError) as info:
        archc.load_spec(path)
    return str(info.value)


BODY = """\
    archc: 1
    name: bad
    input: [3, 8, 8]
    body:
      - stem: conv2d(4, 3)
      - p: {call}
"""


@pytest.mark.parametrize("call,message", [
    ("pad([1, 2, 3])", "bad.yaml:6:13: error: pad 'p': pad: value error, widths come in (before, after) pairs"),
    ("pad([1, 1], mode='wrap')", "bad.yaml:6:21: error: pad 'p': mode: input should be 'constant', 'reflect', 'replicate' or 'circular', got 'wrap'"),
    ("pad([1, 1], stride=0)", "bad.yaml:6:21: error: pad 'p': stride: input should be greater than or equal to 1, got 0"),
    ("pad([0, 0, 0, 0, 1, 1], mode='reflect')", "bad.yaml:6:9: error: pad 'p': mode 'reflect' pads exactly the 2 spatial dims of a 4x6x6 sample (4 widths), got 6 widths"),
    ("pad([6, 0, 0, 0], mode='reflect')", "bad.yaml:6:9: error: pad 'p': mode 'reflect' pads a dim of size 6 by at most 5, got 6, 0"),
    ("pad([1, 1, 1, 1], mode='replicate', value=1)", "bad.yaml:6:9: error: pad 'p': value=1.0 applies to mode 'constant' only"),
    ("pad([0, 0, -3, -3])", "bad.yaml:6:9: error: pad 'p': widths -3, -3 on a dim of size 6 crop more than it has"),
    ("pad([1, 1, 1, 1, 1, 1, 1, 1])", "bad.yaml:6:9: error: pad 'p': 8 widths pad 4 dims, but a 4x6x6 sample has 3"),
])
def test_pad_bad_arguments_are_located(call, message, tmp_path):
    assert message in _diagnostic(BODY.format(call=f'"{call}"'), tmp_path)


def _one_op_model(call, shapes, tmp_path):
    path = spec_for(call, shapes, tmp_path)
    return archc.load_spec(path), archc.build(path)


def test_subsample_is_a_weighted_window_sum(tmp_path):
    net, model = _one_op_model("subsample(2)", [(3, 6, 5)], tmp_path)
    layer = model.y
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, -1.0, 2.0]))
        layer.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    x = torch.randn(2, 3, 6, 5)
    sums = x[:, :, :6, :4].unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
    expected = sums * torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1) + torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    torch.testing.assert_close(model(x), expected)
    assert net.total_params == 6 and net.output_shapes["output"] == (3, 3, 2)


def test_table_conv2d_equals_a_masked_dense_conv(tmp_path):
    table = [[0], [1, 2], [0, 2]]
    net, model = _one_op_model(f"table_conv2d({table}, 3)", [(3, 5, 5)], tmp_path)
    dense = torch.zeros(3, 3, 3, 3)
    at = 0
    for j, inputs in enumerate(table):
        for i in inputs:
            dense[j, i] = model.y.weight[at, 0].detach()
            at += 1
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(model(x), F.conv2d(x, dense, model.y.bias.detach()))
    assert net.total_params == 5 * 9 + 3 == sum(p.numel() for p in model.parameters())


def test_rbf_is_squared_distance_to_fixed_centres(tmp_path):
    net, model = _one_op_model("rbf(4)", [(6,)], tmp_path)
    x = torch.randn(3, 6)
    centres = model.y.centres
    assert centres.shape == (4, 6) and set(centres.unique().tolist()) <= {-1.0, 1.0}
    torch.testing.assert_close(model(x), torch.cdist(x, centres) ** 2, rtol=1e-5, atol=1e-5)
    assert net.total_params == 0 and list(model.parameters()) == []
    # The same centres in every build (a fixed code, not the global random state).
    torch.manual_seed(123)
    assert torch.equal(archc.build(spec_for("rbf(4)", [(6,)], tmp_path)).y.centres, centres)


@pytest.mark.parametrize("call,message", [
    ("table_conv2d([[0, 1], []], 3)", "table_conv2d 'p': table: value error, output map 1 reads no input map"),
    ("table_conv2d([[0, 0]], 3)", "table_conv2d 'p': table: value error, output map 0 must list distinct input maps >= 0, got [0, 0]"),
    ("table_conv2d([[0, 4]], 3)", "table_conv2d 'p': the table reads input map 4, but the input has 4 maps"),
    ("subsample(0)", "subsample 'p': kernel: input should be greater than or equal to 1, got 0"),
    ("join(p_local=1)", "join 'p': p_local: input should be less than 1, got 1"),
    ("drop_path_plan(0)", "drop_path_plan 'p': columns: input should be greater than or equal to 1, got 0"),
    ("rbf(3)", "rbf 'p': expected a feature vector, got 4x6x6"),
    ("capsule_routing(10, 0)", "capsule_routing 'p': dim: input should be greater than or equal to 1, got 0"),
    ("capsule_routing(10, 16)", "capsule_routing 'p': expected capsules x dims, got 4x6x6"),
    ("squash(dim=4)", "squash 'p': dim 4 is out of range for a 3-d sample"),
])
def test_paper_op_bad_arguments_are_located(call, message, tmp_path):
    text = _diagnostic(BODY.format(call=f'"{call}"'), tmp_path)
    assert "bad.yaml:6:" in text and message in text, text


def test_capsule_routing_is_procedure_1(tmp_path):
    """Against the paper's loop, written out with explicit sums."""
    net, model = _one_op_model("capsule_routing(3, 5, iterations=3)", [(6, 4)], tmp_path)
    with torch.no_grad():
        model.y.W.normal_(0, 0.5)
    W = model.y.W.detach()
    assert W.shape == (6, 3, 5, 4) and net.total_params == W.numel()
    u = torch.randn(2, 6, 4)
    u_hat = torch.stack([torch.stack([W[i, j] @ u[:, i].T for j in range(3)], 1) for i in range(6)], 1).permute(3, 1, 2, 0)
    b = torch.zeros(2, 6, 3)

    def squash(s):
        n2 = (s ** 2).sum(-1, keepdim=True)
        return n2 / (1 + n2) * s / n2.sqrt()

    for r in range(3):
        c = b.exp() / b.exp().sum(2, keepdim=True)
        v = squash(sum(c[:, i, :, None] * u_hat[:, i] for i in range(6)))
        b = b + (u_hat * v[:, None]).sum(-1)
    torch.testing.assert_close(model(u), v)
