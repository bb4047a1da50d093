"""archc pauses Python's cycle collector while it loads and builds (a full collection walks the
whole IR again each time), and leaves it as it found it."""
from __future__ import annotations

import gc
import weakref

import pytest

import archc
from archc.cli import main
from archc.gc_pause import collector_paused

SPEC = "archc: 1\nname: net\ninput: [8]\nbody:\n  - l: {repeat: 3000, op: linear(8)}\n"


@pytest.fixture
def collections():
    seen = []

    def count(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(count)
    yield seen
    gc.callbacks.remove(count)


def test_loading_and_building_run_no_cycle_collection(tmp_path, collections):
    path = tmp_path / "net.yaml"
    path.write_text(SPEC)
    archc.load_spec.__wrapped__(path)  # the same load with the collector running
    assert len(collections) > 10
    calls = [
        lambda: archc.loads(SPEC), lambda: archc.load_spec(path), lambda: archc.build(path),
        lambda: archc.emit(path), lambda: main(["summary", str(path)]),
    ]
    for call in calls:
        call()  # first imports (the CLI's commands, gettext) collect outside archc's work
        gc.collect()  # generation counts from earlier tests would make the one on resuming an old one
        collections.clear()
        call()
        assert len(collections) <= 1 and 2 not in collections  # at most the young one on resuming
        assert gc.isenabled()


def test_the_collector_is_left_as_it_was_found(collections):
    threshold = gc.get_threshold()
    with pytest.raises(archc.SpecError):
        archc.loads("archc: 1\nname: net\ninput: [8]\nbody: [nope]\n")
    assert gc.isenabled() and gc.get_threshold() == threshold
    gc.disable()
    try:
        with collector_paused():
            with collector_paused():
                pass
        archc.loads(SPEC)
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()
    assert gc.get_threshold() == threshold


def test_a_collector_the_application_turns_off_meanwhile_stays_off():
    # Another thread (or a callback) disables the collector while archc has it paused.
    try:
        with collector_paused():
            gc.disable()
        assert not gc.isenabled()
        with collector_paused():
            gc.set_threshold(5000, 20, 20)
        assert gc.get_threshold() == (5000, 20, 20)
    finally:
        gc.enable()
        gc.set_threshold(700, 10, 10)


def test_no_collection_runs_inside_nested_pauses(collections):
    garbage = []
    with collector_paused():
        with collector_paused():
            for _ in range(20000):
                node: list = []
                node.append(node)
                garbage.append(node)
            assert collections == []
        assert collections == []


def test_garbage_cycles_made_meanwhile_are_collected_afterwards():
    class Node:
        pass

    with collector_paused():
        refs = []
        for _ in range(2000):
            node = Node()
            node.self = node
            refs.append(weakref.ref(node))
        del node
        alive_inside = sum(ref() is not None for ref in refs)
    gc.collect()
    assert alive_inside == 2000 and all(ref() is None for ref in refs)
