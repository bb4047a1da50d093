"""Caches that make building a spec again cheap: what they key on, and that callers cannot spoil them."""
from __future__ import annotations

from pathlib import Path

import archc

SPEC = "archc: 1\nname: net\ninput: [4]\nparams: {width: 8, flag: false}\nbody:\n  - fc: linear(width)\n  - {if: flag, op: relu}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return path


def test_a_reloaded_network_is_equal_and_its_dicts_are_its_own(tmp_path):
    path = write(tmp_path, SPEC)
    first = archc.load_spec(path)
    first.params["width"] = 99
    first.init_plan["fc"] = {}
    again = archc.load_spec(path)
    assert again.params == {"width": 8, "flag": False}
    assert "fc" not in again.init_plan  # the spec has no init rules
    assert again.graph == first.graph


def test_the_cache_keys_on_the_file_text_and_the_exact_param_values(tmp_path):
    path = write(tmp_path, SPEC)
    assert archc.load_spec(path).output_shapes == {"output": (8,)}
    assert archc.load_spec(path, width=3).output_shapes == {"output": (3,)}
    write(tmp_path, SPEC.replace("width: 8", "width: 5"))
    assert archc.load_spec(path).output_shapes == {"output": (5,)}
    # True == 1 in Python, but a bool is not an int param: both must be checked, not cached as one.
    assert len(archc.load_spec(path, flag=True).graph.nodes) == 2
    assert len(archc.load_spec(path, flag=False).graph.nodes) == 1


def test_a_rebuilt_model_has_fresh_weights_and_the_same_source(tmp_path):
    path = write(tmp_path, SPEC)
    a, b = archc.build(path), archc.build(path)
    assert a.source == b.source
    assert a.fc.weight.data_ptr() != b.fc.weight.data_ptr()
    a.spec_params["width"] = 1
    assert archc.build(path).spec_params["width"] == 8


def test_the_caches_are_bounded_by_the_nodes_they_hold(tmp_path):
    from archc.ir import load
    from archc.ir.cache import BoundedCache

    cache: BoundedCache[str] = BoundedCache(entries=3, nodes=100)
    for k in range(5):
        cache.put(k, str(k), 40)
    assert len(cache) == 2 and cache.get(4) == "4" and cache.get(2) is None
    cache.put("huge", "x", 101)
    assert cache.get("huge") is None
    # A network larger than the whole budget is expanded each time, never kept.
    path = tmp_path / "big.yaml"
    path.write_text("archc: 1\nname: big\ninput: [8]\nparams: {w: 8}\nbody:\n  - l: {repeat: 9000, body: [linear(w), relu, linear(w), relu, linear(w), relu]}\n")
    before = len(load._CACHE)
    for w in (8, 9):
        archc.load_spec(path, w=w, limits=archc.Limits(max_nodes=100_000))
    assert len(load._CACHE) == before


def test_models_of_many_distinct_specs_do_not_stay_loaded_forever():
    import gc
    import linecache
    import sys

    def loaded() -> tuple[int, int]:
        gc.collect()
        return (sum(n.startswith("archc_generated_") for n in sys.modules),
                sum(str(f).startswith("<archc generated") for f in linecache.cache))

    modules, lines = loaded()
    for k in range(100):
        archc.build(archc.loads(f"archc: 1\nname: n{k}\ninput: [8]\nbody:\n  - linear({k + 1})\n"))
    after = loaded()
    assert after[0] <= 64
    # Sources of modules whose classes something still holds (earlier tests' models) stay readable.
    assert after[1] <= lines + 64
