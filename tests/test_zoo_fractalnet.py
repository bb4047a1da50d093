"""FractalNet (Larsson et al. 2016) against a recursive module written from the paper.

The reference builds the fractal by the paper's expansion rule, recursively, with joins that
average the columns ending there; drop-path follows the paper's section 3.1: per mini-batch,
local (each join input dropped with probability 0.15, at least one kept) or global (one column
for the whole network). Its random draws are made in the same order as archc's modules make
theirs, so training outputs agree under one seed.
"""
import pytest
import torch
from torch import nn

import archc
from zoo import SPECS, assert_matches_reference, param_count

WIDTHS, DROPOUT = (64, 128, 256, 512, 512), (0.0, 0.1, 0.2, 0.3, 0.4)


class Plan:
    """One mini-batch's drop-path choice, shared by every join of the network."""

    def __init__(self, columns, global_fraction=0.5):
        self.columns, self.global_fraction = columns, global_fraction
        self.is_global, self.column = False, 0

    def draw(self):
        self.is_global = bool(torch.rand(()) < self.global_fraction)
        self.column = int(torch.randint(self.columns, ()))


class Join(nn.Module):
    """Element-wise mean of the columns (deepest first); drop-path in training only."""

    def __init__(self, plan, p_local=0.15):
        super().__init__()
        self.plan, self.p_local = plan, p_local

    def forward(self, columns):
        if not self.training or len(columns) == 1:
            return torch.stack(columns).mean(0)
        if self.plan.is_global:  # only the drawn column's path survives; other joins are off it
            return columns[self.plan.column] if self.plan.column < len(columns) else torch.stack(columns).mean(0)
        kept = [i for i, draw in enumerate(torch.rand(len(columns))) if draw >= self.p_local]
        if not kept:
            kept = [int(torch.randint(len(columns), ()))]
        return torch.stack([columns[i] for i in kept]).mean(0)


class ConvUnit(nn.Module):
    """conv3x3 (bias) -> dropout -> BN without scale/shift (Caffe BatchNorm, no Scale) -> ReLU."""

    def __init__(self, cin, planes, drop):
        super().__init__()
        self.conv = nn.Conv2d(cin, planes, 3, padding=1)
        if drop > 0:
            self.dropout = nn.Dropout(drop)
        self.bn = nn.BatchNorm2d(planes, affine=False)

    def forward(self, x):
        x = self.conv(x)
        if hasattr(self, "dropout"):
            x = self.dropout(x)
        return torch.relu(self.bn(x))


class Fractal(nn.Module):
    """f_C(z): the list of its C column outputs, deepest first (the caller joins them).

    f_1 = conv; f_{C+1}(z) = [f_C(join(f_C(z))) columns..., conv(z)].
    """

    def __init__(self, C, cin, planes, drop, plan):
        super().__init__()
        self.C = C
        make = (lambda c: ConvUnit(c, planes, drop)) if C == 2 else (lambda c: Fractal(C - 1, c, planes, drop, plan))
        self.deep1 = make(cin)
        self.join = Join(plan)
        self.deep2 = make(planes)
        self.shallow = ConvUnit(cin, planes, drop)

    def forward(self, z):
        as_list = lambda out: out if isinstance(out, list) else [out]  # noqa: E731
        deep = as_list(self.deep2(self.join(as_list(self.deep1(z)))))
        return deep + [self.shallow(z)]


class FractalBlock(nn.Module):
    def __init__(self, C, cin, planes, drop, plan):
        super().__init__()
        self.fractal = Fractal(C, cin, planes, drop, plan) if C > 1 else ConvUnit(cin, planes, drop)
        self.join = Join(plan)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        out = self.fractal(x)
        return self.pool(self.join(out if isinstance(out, list) else [out]))


class FractalNet(nn.Module):
    def __init__(self, C=3, num_classes=10):
        super().__init__()
        self.plan = Plan(C)
        cins = (3,) + WIDTHS[:-1]
        self.features = nn.Sequential(*[FractalBlock(C, c, w, d, self.plan) for c, w, d in zip(cins, WIDTHS, DROPOUT)])
        self.fc = nn.Linear(WIDTHS[-1], num_classes)

    def forward(self, x):
        if self.training:
            self.plan.draw()
        return self.fc(torch.flatten(self.features(x), 1))


COUNTS = {"c3": 33_714_314, "c4": 76_084_554}  # the reference notes' hand arithmetic


def test_c3_matches_paper_module():
    assert_matches_reference("fractalnet.yaml", "c3", lambda: FractalNet(3), (3, 32, 32))


@pytest.mark.parametrize("variant", list(COUNTS))
def test_counts(variant):
    assert archc.load_spec(SPECS / "fractalnet.yaml", variant).total_params == COUNTS[variant]
    assert param_count(FractalNet(int(variant[1:]))) == COUNTS[variant]


@pytest.mark.slow
def test_c4_matches_paper_module():
    assert_matches_reference("fractalnet.yaml", "c4", lambda: FractalNet(4), (3, 32, 32))


def test_training_outputs_equal_under_a_seed():
    """Drop-path (local and global mini-batches), dropout and batch norm, draw for draw."""
    model, reference = assert_matches_reference("fractalnet.yaml", "c3", lambda: FractalNet(3), (3, 32, 32))
    model.train(), reference.train()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    modes = set()
    for seed in range(6):
        torch.manual_seed(seed)
        expected = reference(x)
        modes.add(reference.plan.is_global)
        torch.manual_seed(seed)
        torch.testing.assert_close(model(x), expected)
    assert modes == {False, True}  # both kinds of mini-batch were compared


def _join_model(tmp_path, p_local=0.15, global_fraction=0.5):
    """A plan and a 3-input join over inputs 1, 10, 100: the output says which inputs were kept."""
    path = tmp_path / "join.yaml"
    path.write_text(
        "archc: 1\nname: j\ninputs: {a: [1, 1, 1], b: [1, 1, 1], c: [1, 1, 1]}\nbody:\n"
        f"  - plan: {{op: 'drop_path_plan(3, {global_fraction})', from: a}}\n"
        f"  - join: {{op: 'join({p_local})', from: [plan, b, c]}}\n"
    )
    return archc.build(path).train()


def test_drop_path_statistics(tmp_path):
    model = _join_model(tmp_path)
    ones = torch.ones(1, 1, 1, 1)
    values = (1.0, 10.0, 100.0)
    subsets = {round(sum(values[i] for i in s) / len(s), 4): s for s in
               [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]}
    torch.manual_seed(0)
    n = 4000
    singles, kept = [0, 0, 0], [0, 0, 0]
    local = 0
    plan = type(model.plan)  # the plan's class in the built model's own namespace
    with torch.no_grad():
        for _ in range(n):
            out = model(ones * values[0], ones * values[1], ones * values[2]).item()
            subset = subsets[round(out, 4)]
            if plan.current[0]:  # global: exactly the drawn column
                assert subset == (plan.current[1],)
                singles[subset[0]] += 1
            else:
                local += 1
                for i in subset:
                    kept[i] += 1
    # Half the mini-batches are global, their column uniform; locally each input survives with
    # 0.85 plus its share of the all-dropped case (0.15^3 / 3).
    assert abs((n - local) / n - 0.5) < 4.5 * (0.25 / n) ** 0.5
    for count in singles:
        assert abs(count / (n - local) - 1 / 3) < 4.5 * ((2 / 9) / (n - local)) ** 0.5
    survive = 0.85 + 0.15 ** 3 / 3
    for count in kept:
        assert abs(count / local - survive) < 4.5 * (survive * (1 - survive) / local) ** 0.5
    # Eval: the plain mean, nothing drawn.
    model.eval()
    state = torch.get_rng_state()
    assert model(ones, ones * 10, ones * 100).item() == pytest.approx(37.0)
    assert torch.equal(state, torch.get_rng_state())
