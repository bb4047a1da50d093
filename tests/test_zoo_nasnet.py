"""NASNet-A: `large` against timm's nasnetalarge; `mobile` against keras NASNetMobile's count and
against timm's own cell modules wired as keras wires NASNetMobile (skip_reduction=False)."""
import re

import pytest
import timm
import torch
from timm.models.nasnet import NASNetALarge

import archc
from test_init import assert_same_distribution
from zoo import SPECS, assert_matches_reference, param_count

SPEC = SPECS / "nasnet.yaml"
KERAS_NASNET_MOBILE_TRAINABLE = 5_289_978  # zoo.md: keras NASNetMobile(weights=None), trainable params


def test_large_matches_timm_at_a_reduced_size():
    # 96x96 gives 47, 24, 12 and 6 before the strided cells: TF 'SAME' pads both evenly (odd
    # sizes) and with the extra row after (even ones), and the offset path crops an even map.
    assert_matches_reference("nasnet.yaml", "large", lambda: timm.create_model("nasnetalarge"), (3, 96, 96), resolution=96)


@pytest.mark.slow
def test_large_matches_timm_at_331():
    assert_matches_reference("nasnet.yaml", "large", lambda: timm.create_model("nasnetalarge"), (3, 331, 331))


def test_large_static_counts_and_keys_match_timm():
    # At the full 331x331, without allocating a weight on either side.
    with torch.device("meta"):
        reference = timm.create_model("nasnetalarge")
        model = archc.build(SPEC, "large", device="meta")
    assert archc.load_spec(SPEC, "large").total_params == param_count(reference) == 88_753_150
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}


# NASNetMobile is timm's NASNet-A at 4 @ 1056 with a 32-channel stem and four normal cells per
# stage: timm's cells 0-3, 6-9 and 12-15, renumbered on as the spec numbers them.
KEPT = [0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 15]


def _timm_mobile() -> NASNetALarge:
    return NASNetALarge(stem_size=32, num_features=1056)


def _mobile_forward(t: NASNetALarge, x: torch.Tensor) -> torch.Tensor:
    """keras' NASNet(skip_reduction=False): every cell reads the two outputs before it, the one
    after a reduction cell included (timm's large model skips the reduction there)."""
    conv0 = t.conv0(x)
    prev, cur = conv0, t.cell_stem_0(conv0)
    prev, cur = cur, t.cell_stem_1(conv0, cur)
    for stage in range(3):
        if stage:
            prev, cur = cur, getattr(t, f"reduction_cell_{stage - 1}")(cur, prev)
        for k in KEPT[4 * stage: 4 * stage + 4]:
            prev, cur = cur, getattr(t, f"cell_{k}")(cur, prev)
    return t.last_linear(t.global_pool(t.act(cur)))


def _mobile_state_dict(t: NASNetALarge) -> dict[str, torch.Tensor]:
    renamed = {f"cell_{k}": f"cell_{n}" for n, k in enumerate(KEPT)}
    result = {}
    for key, value in t.state_dict().items():
        head, _, rest = key.partition(".")
        if head.startswith("cell_") and not head.startswith("cell_stem"):
            if head not in renamed:
                continue
            head = renamed[head]
        result[f"{head}.{rest}"] = value
    return result


def test_mobile_count_is_keras_nasnetmobile():
    assert archc.load_spec(SPEC, "mobile").total_params == KERAS_NASNET_MOBILE_TRAINABLE


def test_mobile_matches_timm_cells_wired_as_keras():
    torch.manual_seed(0)
    reference = _timm_mobile().eval()
    model = archc.build(SPEC, "mobile").eval()
    state = _mobile_state_dict(reference)
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k) == KERAS_NASNET_MOBILE_TRAINABLE
    g = torch.Generator().manual_seed(2)
    for key, value in state.items():  # random batch-norm statistics, so a wrong eps shows
        if key.endswith("running_mean"):
            value.copy_(torch.randn(value.shape, generator=g) * 0.1)
        elif key.endswith("running_var"):
            value.copy_(torch.rand(value.shape, generator=g) * 0.5 + 0.75)
    model.load_state_dict(state, strict=True)
    assert param_count(model) == KERAS_NASNET_MOBILE_TRAINABLE
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = _mobile_forward(reference, x), model(x)
    assert (got - expected).abs().max().item() <= 1e-5


def test_cells_read_the_two_cells_before_them():
    large, mobile = (archc.load_spec(SPEC, v).graph for v in ("large", "mobile"))
    reads = lambda graph, name: [str(r) for r in graph.node(name).inputs]  # noqa: E731
    assert reads(large, "cell_stem_1") == ["cell_stem_0", "conv0"]
    assert reads(large, "cell_6") == ["reduction_cell_0", "cell_4"]  # skip_reduction
    assert reads(mobile, "cell_4") == ["reduction_cell_0", "cell_3"]
    assert reads(large, "cell_17") == ["cell_16", "cell_15"] and reads(mobile, "cell_11") == ["cell_10", "cell_9"]


def test_emitted_cells_take_two_inputs():
    source = archc.emit(SPEC, "mobile")
    assert "def forward(self, x, x_prev):" in source
    assert re.search(r"self\.cell_stem_1\(cell_stem_0, \w+\)", source)
    assert "self.cell_5(cell_4, reduction_cell_0)" in source


def test_initialisation_matches_timm():
    torch.manual_seed(0)
    theirs = _mobile_state_dict(_timm_mobile())
    ours = dict(archc.build(SPEC, "mobile", seed=1).named_parameters())
    assert set(ours) <= set(theirs)
    for name, tensor in ours.items():
        assert_same_distribution(name, tensor, theirs[name])
