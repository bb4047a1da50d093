"""Language 1.1 ops: static shapes and parameter counts, and values equal to torch's own."""
from __future__ import annotations

import textwrap

import pytest
import torch

import archc

F = torch.nn.functional
nn = torch.nn


def _copy(module: nn.Module, model: nn.Module, prefix: str = "y") -> nn.Module:
    """The reference module with the archc module's weights."""
    state = {k[len(prefix) + 1:]: v for k, v in model.state_dict().items() if k.startswith(prefix + ".")}
    module.load_state_dict(state, strict=True)
    return module.eval()


def _attention(model, x):
    from timm.layers import Attention

    ref = _copy(Attention(12, num_heads=3, qkv_bias=True), model)
    return ref(x)


# call, input shapes, reference(model, *inputs)
SAMPLES = {
    "upsample": ("upsample(scale_factor=2)", [(3, 4, 5)], lambda m, x: F.interpolate(x, scale_factor=2)),
    "interpolate": ("interpolate(size=[7, 9], mode='bilinear', align_corners=true)", [(3, 4, 5)],
                    lambda m, x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True)),
    "conv_transpose2d": ("conv_transpose2d(4, 3, stride=2, padding=1, output_padding=1)", [(6, 5, 5)],
                         lambda m, x: _copy(nn.ConvTranspose2d(6, 4, 3, 2, 1, output_padding=1), m)(x)),
    "conv_transpose1d": ("conv_transpose1d(4, 2, stride=2, groups=2, bias=false)", [(6, 7)],
                         lambda m, x: _copy(nn.ConvTranspose1d(6, 4, 2, 2, groups=2, bias=False), m)(x)),
    "layernorm2d": ("layernorm2d", [(6, 3, 4)], lambda m, x: _timm_layernorm2d(m, x)),
    "groupnorm": ("groupnorm(2, eps=0.001)", [(6, 3, 4)], lambda m, x: _copy(nn.GroupNorm(2, 6, eps=1e-3), m)(x)),
    "instancenorm2d": ("instancenorm2d(affine=true)", [(6, 3, 4)], lambda m, x: _copy(nn.InstanceNorm2d(6, affine=True), m)(x)),
    "parameter": ("parameter([2, 5], init='normal', std=1.0)", [(3, 4)], lambda m, x: m.y.expand(x.shape[0], -1, -1)),
    "layer_scale": ("layer_scale(0.5)", [(6, 3, 4)], lambda m, x: x * 0.5),
    "reshape": ("reshape([-1, 2])", [(3, 4)], lambda m, x: x.reshape(2, 6, 2)),
    "permute": ("permute([0, 2, 3, 1])", [(3, 4, 5)], lambda m, x: x.permute(0, 2, 3, 1)),
    "transpose": ("transpose(1, -1)", [(3, 4, 5)], lambda m, x: x.transpose(1, 3)),
    "select": ("select(1, 0)", [(3, 4)], lambda m, x: x[:, 0]),
    "slice": ("slice(2, 1, -1)", [(3, 6, 4)], lambda m, x: x[:, :, 1:-1]),
    "expand": ("expand([3, -1])", [(1, 4)], lambda m, x: x.expand(2, 3, 4)),
    "matmul": ("matmul", [(2, 3, 4), (2, 4, 5)], lambda m, a, b: a @ b),
    "center_crop": ("center_crop", [(3, 6, 5), (2, 3, 2)], lambda m, x, like: x[:, :, 1:4, 1:3]),
    "attention": ("attention(3)", [(5, 12)], _attention),
    "mish": ("mish", [(3, 4)], lambda m, x: F.mish(x)),
    "elu": ("elu(0.5)", [(3, 4)], lambda m, x: F.elu(x, 0.5)),
    "prelu": ("prelu(init=0.1)", [(3, 4, 4)], lambda m, x: F.prelu(x, torch.full((3,), 0.1))),
    "dropout2d": ("dropout2d(0.3)", [(3, 4, 4)], lambda m, x: x),
    "dropout_path": ("dropout_path(0.3)", [(3, 4, 4)], lambda m, x: x),
    "scale": ("scale(0.17)", [(3, 4, 4)], lambda m, x: x * 0.17),
}


def _timm_layernorm2d(model, x):
    from timm.layers import LayerNorm2d

    ref = _copy(LayerNorm2d(6), model)
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
        model.y.load_state_dict(ref.state_dict())
    return ref(x)


def spec_for(call: str, shapes: list[tuple[int, ...]], tmp_path) -> str:
    inputs = ", ".join(f"in{i}: {list(s)}" for i, s in enumerate(shapes))
    sources = ", ".join(f"in{i}" for i in range(len(shapes)))
    path = tmp_path / "op.yaml"
    path.write_text(textwrap.dedent(f"""\
        archc: 1
        name: one_op
        inputs: {{{inputs}}}
        body:
          - y: {{op: "{call}", from: [{sources}]}}
    """))
    return str(path)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_op_shape_params_and_values(name, tmp_path):
    call, shapes, reference = SAMPLES[name]
    path = spec_for(call, shapes, tmp_path)
    net = archc.load_spec(path)
    model = archc.build(path, seed=0).eval()
    xs = [torch.randn(2, *s, generator=torch.Generator().manual_seed(i)) for i, s in enumerate(shapes)]
    with torch.no_grad():
        expected = reference(model, *xs)  # may set the model's weights first
        got = model(*[x.clone() for x in xs])
    assert tuple(got.shape[1:]) == net.output_shapes["output"]
    assert net.total_params == sum(p.numel() for p in model.parameters())
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, shapes", [
    ("upsample(size=3, mode='bilinear')", [(2, 4, 4)]),
    ("upsample(scale_factor=[1.5, 2.5], mode='nearest')", [(2, 5, 3)]),
    ("interpolate(scale_factor=0.5, mode='bilinear', align_corners=false)", [(2, 7, 9)]),
    ("conv_transpose2d(3, [2, 3], stride=[2, 1], padding=[0, 1], dilation=2, output_padding=[1, 0])", [(4, 5, 6)]),
])
def test_resample_shapes_agree_with_torch(call, shapes, tmp_path):
    path = spec_for(call, shapes, tmp_path)
    model = archc.build(path).eval()
    x = torch.randn(1, *shapes[0])
    with torch.no_grad():
        assert tuple(model(x).shape[1:]) == archc.load_spec(path).output_shapes["output"]


def test_conv_transpose_counts_as_torchinfo(tmp_path):
    net = archc.load_spec(spec_for("conv_transpose2d(4, 2, stride=2)", [(6, 5, 5)], tmp_path))
    node = net.graph.node("y")
    assert node.own_params == 6 * 4 * 4 + 4
    assert node.own_macs == node.own_params * 10 * 10  # weights x output positions


def test_attention_state_dict_is_timms(tmp_path):
    from timm.layers import Attention

    model = archc.build(spec_for("attention(3)", [(5, 12)], tmp_path))
    assert {k[2:]: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in Attention(12, 3, qkv_bias=True).state_dict().items()}


def test_parameter_is_a_tensor_of_the_enclosing_module(tmp_path):
    model = archc.build(spec_for("parameter([1, 4])", [(3, 4)], tmp_path))
    assert list(model.state_dict()) == ["y"] and tuple(model.y.shape) == (1, 1, 4)
    assert "self.y.expand(" in model.code


@pytest.mark.parametrize("call, shapes, message", [
    ("layernorm", [(8, 4, 4)], "layernorm would normalise over the last dim (4, the width) only: use layernorm2d"),
    ("upsample(size=4, scale_factor=2)", [(2, 4, 4)], "give exactly one of size and scale_factor"),
    ("upsample(scale_factor=2, align_corners=true)", [(2, 4, 4)], "align_corners only applies to modes"),
    ("upsample(scale_factor=2, mode='linear')", [(2, 4, 4)], "mode 'linear' does not fit a 2x4x4 input"),
    ("conv_transpose2d(4, 3, stride=2, output_padding=2)", [(2, 4, 4)], "output_padding 2x2 must be smaller"),
    ("permute([1, 0, 2])", [(2, 4)], "the batch dim must stay first"),
    ("permute([0, 1])", [(2, 4)], "must order all of 0..2"),
    ("reshape([5, -1])", [(2, 4)], "cannot reshape 2x4 (8 values) into [5, -1]"),
    ("select(1, 3)", [(2, 4)], "index 3 is out of range for size 2"),
    ("slice(2, 4, 2)", [(2, 4)], "is empty"),
    ("expand([3, 5])", [(2, 4)], "only sizes of 1 expand"),
    ("attention(5)", [(3, 12)], "5 heads do not divide the 12 features"),
    ("attention(3)", [(3, 12, 2)], "expected a TxD (tokens x features) input"),
    ("groupnorm(4)", [(6, 2, 2)], "4 groups do not divide the 6 channels"),
    ("center_crop", [(2, 4, 4), (2, 5, 4)], "cannot crop 2x4x4 to the larger 5x4 of 2x5x4"),
    ("layer_scale(dim=1)", [(6, 2, 2)], "dim: input should be less than or equal to -1"),
])
def test_bad_uses_are_spec_errors_at_the_node(call, shapes, message, tmp_path):
    path = spec_for(call, shapes, tmp_path)
    with pytest.raises(archc.SpecError) as info:
        archc.load_spec(path)
    text = str(info.value)
    assert message in text, text
    assert ":5:" in text.splitlines()[0]  # the node's line


def test_matmul_shape_errors(tmp_path):
    with pytest.raises(archc.SpecError, match="last dim of the first input to equal"):
        archc.load_spec(spec_for("matmul", [(2, 3, 4), (2, 3, 4)], tmp_path))


def test_layernorm_on_a_channels_last_map_is_allowed_when_said(tmp_path):
    net = archc.load_spec(spec_for("layernorm(dims=1)", [(4, 4, 8)], tmp_path))
    assert net.total_params == 16


def test_dropout_path_in_training_drops_whole_samples(tmp_path):
    model = archc.build(spec_for("dropout_path(0.5)", [(3, 4, 4)], tmp_path)).train()
    torch.manual_seed(0)
    out = model(torch.ones(64, 3, 4, 4))
    per_sample = out.flatten(1)
    assert set(per_sample.min(1).values.tolist()) <= {0.0, 2.0}
    assert (per_sample.min(1).values == per_sample.max(1).values).all()
