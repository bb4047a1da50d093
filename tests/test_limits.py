"""Resource limits: a small spec cannot make archc do unbounded work or allocate unbounded memory.

Each limit fails fast with a located message naming the limit, and each can be raised with
archc.Limits where a real network needs more (parameters also with `archc build --max-params`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

import archc
from archc import Limits, SpecError
from archc.cli import main
from archc.spec.source import read_spec_text

ROOT = Path(__file__).resolve().parent.parent
HEADER = "archc: 1\nname: net\ninput: [3, 8, 8]\n"


def write(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def fails_fast(call, *, seconds: float = 5.0, megabytes: float | None = 30.0) -> SpecError:
    """Run `call`, which must raise SpecError, within the time and Python-heap budget.

    The budgets are loose (a shared machine is noisy): they catch a limit checked too late,
    which costs minutes and gigabytes; the sub-second figures are in the README.

    Timed and traced in separate runs: tracemalloc slows allocation-heavy code several times.
    """
    start = time.perf_counter()
    with pytest.raises(SpecError) as exc:
        call()
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f}s"
    if megabytes is None:
        return exc.value
    tracemalloc.start()
    try:
        with pytest.raises(SpecError):
            call()
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert peak < megabytes, f"peak {peak:.1f} MB of Python memory"
    return exc.value


# Parameters ------------------------------------------------------------------------------

TERA = HEADER.replace("[3, 8, 8]", "[1000000]") + "body:\n  - fc: linear(1000000)\n"  # 10^12 + 10^6 parameters


def test_a_trillion_parameters_are_refused_before_allocation(tmp_path):
    path = write(tmp_path, TERA)
    assert archc.load_spec(path).total_params == 10**12 + 10**6  # counting alone is fine
    error = fails_fast(lambda: archc.build(path))
    assert str(error) == (
        f"{path}:2:7: error: network 'net' has 1,000,001,000,000 parameters, more than the limit of "
        "10,000,000,000 (Limits.max_params)"
    )


def test_build_command_refuses_before_importing_torch(tmp_path):
    """`archc build` checks --max-params before the backend (and torch) is loaded at all."""
    path = write(tmp_path, TERA)
    code = (
        "import sys, time; from archc.cli import main; t = time.perf_counter(); "
        f"rc = main(['build', {str(path)!r}]); "
        "assert 'torch' not in sys.modules, 'torch was imported'; "
        "assert time.perf_counter() - t < 5.0; sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"{path}:2:7: error: network 'net' has 1,000,001,000,000 parameters, more than the limit of "
        "10,000,000,000 (--max-params)"
    )


def test_max_params_can_be_raised_and_lowered(tmp_path, capsys):
    path = write(tmp_path, HEADER + "body:\n  - c: conv2d(4, 3)\n")  # 4*3*3*3 + 4 = 112 parameters
    assert main(["build", str(path), "--max-params", "112"]) == 0
    assert main(["build", str(path), "--max-params", "111"]) == 1
    assert "has 112 parameters, more than the limit of 111 (--max-params)" in capsys.readouterr().err
    with pytest.raises(SpecError, match="more than the limit of 100 "):
        archc.build(path, limits=Limits(max_params=100))
    assert archc.build(path, limits=Limits(max_params=112)) is not None


# Repeats and nodes -----------------------------------------------------------------------


@pytest.mark.parametrize("body,message", [
    ("  - l: {repeat: 1000000000, op: relu}\n", "repeat count 1,000,000,000 is more than the limit of 10,000"),
    ("  - l: {repeat: \"10 ** 9\", op: relu}\n", "repeat count 1,000,000,000 is more than the limit of 10,000"),
    # 10^9 in all, every level within the repeat limit: refused after about a thousand nodes
    ("  - l1: {repeat: 1000, body: [{l2: {repeat: 1000, body: [{l3: {repeat: 1000, op: relu}}]}}]}\n",
     "a repeat of 1,000 would expand the network past 100,000 nodes (Limits.max_nodes)"),
    # 10^12 empty groups: skipped or empty items are work too
    ("  - {repeat: 10000, body: [{repeat: 10000, body: [{repeat: 10000, body: []}]}]}\n", "past 100,000 nodes"),
    ("  - {repeat: 10000, body: [{repeat: 10000, body: [{op: relu, if: false}]}]}\n", "past 100,000 nodes"),
])
def test_a_billion_repeats_fail_fast_with_little_memory(tmp_path, body, message):
    path = write(tmp_path, HEADER + "body:\n" + body)
    error = fails_fast(lambda: archc.load_spec(path))
    assert message in str(error)


def test_blocks_calling_blocks_ten_times_each(tmp_path):
    blocks = "".join(f"  b{k}: {{body: [{{repeat: 10, op: b{k + 1}}}]}}\n" for k in range(9)) + "  b9: {body: [relu]}\n"
    path = write(tmp_path, HEADER + "blocks:\n" + blocks + "body: [b0]\n")  # 10^9 relus
    error = fails_fast(lambda: archc.load_spec(path))
    assert "past 100,000 nodes" in str(error)


def test_repeat_and_node_limits_can_be_raised_and_lowered(tmp_path):
    path = write(tmp_path, HEADER + "body:\n  - l: {repeat: 30, op: relu}\n")
    assert len(archc.load_spec(path).graph.nodes[0].body.nodes) == 30
    with pytest.raises(SpecError, match="repeat count 30 is more than the limit of 29"):
        archc.load_spec(path, limits=Limits(max_repeat=29))
    with pytest.raises(SpecError, match="past 20 nodes"):
        archc.load_spec(path, limits=Limits(max_nodes=20))
    big = write(tmp_path, HEADER + "body:\n  - l: {repeat: 12000, op: relu}\n", "big.yaml")
    with pytest.raises(SpecError, match="more than the limit of 10,000"):
        archc.load_spec(big)
    assert archc.load_spec(big, limits=Limits(max_repeat=12000)).graph.nodes[0].body.nodes[-1].name == "11999"


# Nesting -----------------------------------------------------------------------------------


def chain(depth: int) -> str:
    blocks = "".join(f"  b{k}: {{body: [b{k + 1}]}}\n" for k in range(depth)) + f"  b{depth}: {{body: [relu]}}\n"
    return HEADER + "blocks:\n" + blocks + "body: [b0]\n"


def test_block_nesting_limit(tmp_path):
    path = write(tmp_path, chain(70))
    with pytest.raises(SpecError, match=r"nest deeper than 64 levels \(Limits.max_nesting\)"):
        archc.load_spec(path)
    network = archc.load_spec(path, limits=Limits(max_nesting=80))
    assert sum(1 for _ in network.graph.walk()) == 72  # 71 block instances and the relu


def test_very_deep_nesting_never_overflows_the_stack(tmp_path):
    """Even with the limit lifted, a thousand-block chain is a SpecError, not a RecursionError."""
    path = write(tmp_path, chain(1000))
    error = fails_fast(lambda: archc.load_spec(path, limits=Limits(max_nesting=10**6)), seconds=15, megabytes=100)
    assert "nests too deeply" in str(error) or "nest deeper" in str(error)


def test_deep_yaml_nesting(tmp_path):
    path = write(tmp_path, HEADER + "body: [relu]\ndoc: " + "[" * 20000 + "]" * 20000 + "\n")
    error = fails_fast(lambda: archc.load_spec(path), seconds=15)
    assert "nested too deeply" in str(error) or "nested more than" in str(error)


# Files and YAML documents ------------------------------------------------------------------


def test_file_size_limit(tmp_path):
    path = write(tmp_path, HEADER + "body: [relu]\n" + "# padding\n" * 500_000)  # 5 MB
    error = fails_fast(lambda: archc.load_spec(path), megabytes=20)
    assert str(error) == f"{path}:1:1: error: spec file is larger than 4,194,304 bytes (Limits.max_file_bytes)"
    small = write(tmp_path, HEADER + "body: [relu]\n" + "#" * 2000 + "\n", "small.yaml")
    with pytest.raises(SpecError, match="larger than 1,000 bytes"):
        archc.load_spec(small, limits=Limits(max_file_bytes=1000))
    assert archc.load_spec(small).total_params == 0


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_not_read_to_the_end():
    error = fails_fast(lambda: archc.load_spec("/dev/zero"), megabytes=20)
    assert "larger than" in str(error)


def test_the_size_limit_is_exact_and_a_small_file_is_read_in_a_buffer_of_its_size(tmp_path):
    text = HEADER + "body: [relu]\n"
    exact = write(tmp_path, text, "exact.yaml")
    assert archc.load_spec(exact, limits=Limits(max_file_bytes=len(text))).total_params == 0
    with pytest.raises(SpecError, match=f"larger than {len(text) - 1:,} bytes"):
        archc.load_spec(exact, limits=Limits(max_file_bytes=len(text) - 1))
    tracemalloc.start()
    try:
        read_spec_text(exact)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024  # not a buffer of the 4 MiB limit


def test_a_file_that_grows_while_it_is_read_is_read_on_to_the_limit(tmp_path, monkeypatch):
    import archc.spec.source as source

    path = write(tmp_path, HEADER + "body: [relu]\n" + "#" * 3000 + "\n")
    real_fstat = source.os.fstat

    def stale_fstat(fd):  # the size the file had before a writer appended to it
        info = real_fstat(fd)
        return os.stat_result((info.st_mode, *info[1:6], 100, *info[7:]))

    monkeypatch.setattr(source.os, "fstat", stale_fstat)
    assert read_spec_text(path) == Path(path).read_text()
    with pytest.raises(SpecError, match="larger than 1,000 bytes"):
        read_spec_text(path, max_bytes=1000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_read_to_its_end(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    text = HEADER + "body: [relu]\n"
    writer = threading.Thread(target=fifo.write_text, args=(text,))
    writer.start()
    try:
        assert read_spec_text(fifo) == text
    finally:
        writer.join(timeout=10)


def test_a_huge_flat_document_is_refused_while_scanning(tmp_path):
    """Composing 1.3 million YAML values would take PyYAML half a minute and a gigabyte."""
    path = write(tmp_path, HEADER + "body: [relu]\ndoc: [" + "1, " * 1_300_000 + "1]\n")
    error = fails_fast(lambda: archc.load_spec(path), seconds=10, megabytes=None)  # tracing would take 5 s
    assert "document expands to more than 100,000 values" in str(error)


def test_alias_expansion_limit(tmp_path):
    laughs = "".join(f"{k}: &{k} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, k in zip("abcdefgh", "bcdefghi"))
    path = write(tmp_path, HEADER + "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + laughs + "body: [relu]\n")
    error = fails_fast(lambda: archc.load_spec(path))
    assert "document expands to more than 100,000 values (YAML aliases?)" in str(error)
    reuse = write(tmp_path, HEADER + "a: &a [1, 2, 3]\nb: [*a, *a]\nbody: [relu]\n", "reuse.yaml")
    with pytest.raises(SpecError, match="more than 10 values"):
        archc.load_spec(reuse, limits=Limits(max_yaml_values=10))


# Reporting ---------------------------------------------------------------------------------


def test_many_errors_are_capped_with_a_count(tmp_path):
    body = "".join(f"  - {{op: relu, from: missing{k}}}\n" for k in range(30))
    path = write(tmp_path, HEADER + "body:\n  - {op: relu, from: input}\n" + body.replace("  - {op", "  - {op", 30))
    # Each item reads a different missing node from `input`'s sequence: 30 independent errors.
    with pytest.raises(SpecError) as exc:
        archc.load_spec(path)
    lines = str(exc.value).splitlines()
    assert len(exc.value.diagnostics) == 30
    assert sum(": error: " in line for line in lines) == 20
    assert lines[-1] == "... and 10 more errors"
    rows = [int(line.split(":")[1]) for line in lines if ": error: " in line]
    assert rows == sorted(rows) and rows[0] == 6


def test_limits_must_be_positive_ints():
    with pytest.raises(ValueError, match="Limits.max_nodes must be a positive int"):
        Limits(max_nodes=0)
    with pytest.raises(ValueError):
        Limits(max_params=1.5)  # type: ignore[arg-type]


# Work that no weight shows -----------------------------------------------------------------

MATMUL_CHAIN = "archc: 1\nname: mm\ninput: [4000, 4000]\nbody:\n  - a: identity\n" + "".join(
    f"  - m{k}: {{op: matmul, from: [{prev}, {prev}]}}\n" for k, prev in enumerate(["a"] + [f"m{j}" for j in range(8)]))


def test_weightless_products_count_against_the_forward_limit(tmp_path, capsys):
    # Summarised at 0 multiply-adds (as torchinfo counts), but 9 products of 4000x4000 matrices.
    path = write(tmp_path, MATMUL_CHAIN)
    assert archc.load_spec(path).total_macs == 0
    assert main(["build", str(path)]) == 1
    assert "needs 576,000,000,000 multiply-adds, more than the limit of 500,000,000,000 (--max-macs)" in capsys.readouterr().err


def test_attention_counts_its_token_by_token_products(tmp_path):
    from archc.ir.limits import forward_work

    network = archc.loads(HEADER.replace("[3, 8, 8]", "[1000, 64]") + "body:\n  - attention(4)\n")
    assert forward_work(network) == network.total_macs + 2 * 1000 * 1000 * 64


def test_buffers_count_against_the_parameter_limit(tmp_path):
    # rbf's centres are a buffer: 0 learnable parameters, 16 billion values allocated at build.
    network = archc.loads("archc: 1\nname: rbfbig\ninput: [40000]\nbody:\n  - out: rbf(400000)\n", name="rbf.yaml")
    assert network.total_params == 0
    with pytest.raises(SpecError, match=r"rbf.yaml:2:7: error: network 'rbfbig' holds 16,000,000,000 values in parameters and buffers"):
        archc.build(network)


def test_validate_refuses_what_build_refuses_by_default(tmp_path, capsys):
    path = write(tmp_path, MATMUL_CHAIN)
    assert main(["validate", str(path)]) == 1
    assert "more than the limit of 500,000,000,000 (--max-macs)" in capsys.readouterr().err


def test_a_named_pipe_nobody_writes_to_is_refused_not_waited_on_forever(tmp_path, monkeypatch, capsys):
    import archc.spec.source as source

    monkeypatch.setattr(source, "FIFO_WAIT_SECONDS", 0.2)
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    assert main(["validate", str(fifo)]) == 1
    assert capsys.readouterr().err.startswith(f"{fifo}:1:1: error: a named pipe that nothing wrote to for 0 s")
