"""Built models draw each weight once (modules made with torch.nn.init's draws skipped, then given values):
every tensor still ends up with the value a plain construction plus the spec's rules gives."""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn as nn
import torchvision

import archc

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_running_statistics_are_reset_not_left_uninitialised():
    model = archc.build(SPECS / "densenet.yaml", "121", seed=0)
    reference = torchvision.models.densenet121()
    ours, theirs = dict(model.named_buffers()), dict(reference.named_buffers())
    assert ours.keys() == theirs.keys()
    for name, buffer in ours.items():
        assert torch.equal(buffer, theirs[name]), name


def test_tensors_that_no_reset_sets_keep_their_constructor_values(tmp_path):
    # TrainableSubsample sets its parameters in __init__ (ones, zeros) and has no
    # reset_parameters(); ChannelAffine's buffers come from data. Both beside an init rule.
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "archc: 1\nname: net\ninput: [2, 8, 8]\nbody:\n"
        "  - affine: {op: channel_affine, args: {scale: '[2.0, 3.0]', shift: '[0.5, -0.5]'}}\n"
        "  - c: conv2d(4, 3)\n  - s: subsample(2)\n"
        "init:\n  - {match: conv2d, weight: constant(0.25), bias: zeros}\n"
    )
    model = archc.build(spec, seed=0)
    assert model.affine.scale.flatten().tolist() == [2.0, 3.0]
    assert model.affine.shift.flatten().tolist() == [0.5, -0.5]
    assert torch.equal(model.s.weight, torch.ones(4)) and torch.equal(model.s.bias, torch.zeros(4))
    assert torch.all(model.c.weight == 0.25) and torch.all(model.c.bias == 0)


def test_a_tensor_without_a_rule_gets_pytorchs_default_distribution(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "archc: 1\nname: net\ninput: [512]\nbody:\n  - fc: linear(512)\n"
        "init:\n  - {match: linear, bias: zeros}\n"
    )
    weight = archc.build(spec, seed=3).fc.weight
    bound = 1 / 512**0.5  # nn.Linear's default: kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), +)
    assert weight.abs().max() <= bound and weight.abs().max() > 0.99 * bound
    assert abs(weight.std().item() - bound / 3**0.5) < 0.01 * bound
    assert torch.equal(weight, archc.build(spec, seed=3).fc.weight)


def test_construction_takes_nothing_from_the_random_state(tmp_path):
    # The default draw of a tensor without a rule is the first thing a seeded build draws, as
    # when PyTorch constructs the module alone: the constructors drew nothing before it.
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "archc: 1\nname: net\ninput: [8]\nbody:\n  - a: layernorm\n  - fc: linear(16)\n"
        "init:\n  - {match: linear, bias: zeros}\n"
    )
    torch.manual_seed(3)
    reference = torch.nn.Linear(8, 16)
    assert torch.equal(archc.build(spec, seed=3).fc.weight, reference.weight)
    # Whatever a constructor draws besides torch.nn.init (a tensor method, torch.randn) comes
    # from a copy of the random state, which is put back.
    undrawn = sys.modules[type(archc.build(spec)).__module__]._Undrawn
    state = torch.get_rng_state()
    with undrawn():
        torch.nn.MultiheadAttention(8, 2)
        torch.nn.Parameter(torch.randn(4))
    assert torch.equal(torch.get_rng_state(), state)


def test_norm_layers_that_skip_the_second_reset_have_their_statistics_set_by_construction():
    # The emitted _STATS_SET names the classes whose running statistics create() does not reset
    # again: constructed under _Undrawn (torch.nn.init's functions skipped), each must already
    # hold what a plain construction holds, for the torch installed here.
    from archc.backends.pytorch.load import load_generated

    model = archc.build(SPECS / "densenet.yaml", "121")
    module = load_generated(model.source, {})
    assert nn.BatchNorm2d in module._STATS_SET
    for cls in module._STATS_SET:
        with module._Undrawn():
            built = cls(6, track_running_stats=True)
        plain = cls(6, track_running_stats=True)
        buffers = dict(built.named_buffers())
        assert buffers.keys() == dict(plain.named_buffers()).keys() == {"running_mean", "running_var", "num_batches_tracked"}
        for name, buffer in plain.named_buffers():
            assert torch.equal(buffers[name], buffer), (cls, name)


def test_seeded_builds_in_threads_equal_sequential_ones():
    import threading

    network = archc.loads("archc: 1\nname: net\ninput: [3, 16, 16]\nbody:\n  - l: {repeat: 6, op: 'conv2d(3, 3, padding=1)'}\n  - dropout(0.5)\n")
    sequential = [archc.build(network, seed=s).state_dict() for s in range(6)]
    threaded: list = [None] * 6

    def build(seed: int) -> None:
        for _ in range(5):
            threaded[seed] = archc.build(network, seed=seed).state_dict()

    threads = [threading.Thread(target=build, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(sequential[s][k], threaded[s][k]) for s in range(6) for k in sequential[s])
