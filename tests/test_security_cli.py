"""The command line, files, messages and API, attacked: every failure is a located message
or a usage error, never an internal error (exit 3), and -o writes what it names.

CLI cases run in a real process (`python -m archc ...`), as a user runs them.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

import archc
from archc.cli import main
from archc.ir.limits import activation_bytes
from archc.spec.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
TINY = "archc: 1\nname: tiny\ninput: [3, 8, 8]\nparams: {width: 4}\nbody:\n  - conv1: conv2d(width, 3)\n  - relu\n"


def archc_cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "archc", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
    )
    assert result.returncode != 3 and "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


def archc_in_process(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process, for cases that build (torch is imported once per test session)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code != 3 and "Traceback" not in err
    return code, out, err


def spec(tmp_path: Path, text: str = TINY, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# 1. The CLI's own failures ---------------------------------------------------------------


def test_a_closed_stdout_ends_quietly_with_exit_0():
    """`archc summary ... | head -1`: the reader went away; no BrokenPipeError, no message."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "archc", "summary", str(SPECS / "resnet.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )
    proc.stdout.close()  # before archc writes a byte: its first write meets a closed pipe
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0
    assert err == b""


def test_head_of_a_summary_through_a_shell_pipe():
    command = f"set -o pipefail; {sys.executable} -m archc summary {SPECS / 'densenet.yaml'} | head -1"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    full = subprocess.run([sys.executable, "-m", "archc", "summary", str(SPECS / "densenet.yaml")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout == full.stdout.splitlines(keepends=True)[0]


@pytest.mark.parametrize("value,message", [
    ("&a [*a]", "--set n: the value contains itself (a YAML alias of an enclosing list), got '&a [*a]'"),
    ("[" * 2000 + "]" * 2000, "--set n: the value is nested more than 32 levels deep"),
    ("[" * 40 + "]" * 40, "--set n: the value is nested more than 32 levels deep"),
    # A billion laughs: 9 aliases of 9 aliases ... stand for 9^9 values.
    ("[" + ", ".join(f"&l{i} [" + ", ".join([f"*l{i - 1}" if i else "1"] * 9) + "]" for i in range(9)) + "]",
     "--set n: the value holds more than 100,000 items (YAML aliases?)"),
])
def test_set_values_that_nest_or_refer_to_themselves_are_usage_errors(tmp_path, value, message):
    start = time.perf_counter()
    result = archc_cli("summary", str(spec(tmp_path)), "--set", f"n={value}")
    assert time.perf_counter() - start < 30
    assert result.returncode == 2
    assert result.stderr.startswith(f"archc summary: error: {message}")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("flag", ["--max-params", "--max-activation-bytes", "--max-macs"])
@pytest.mark.parametrize("value,message", [
    ("1e400", "expected a positive whole number, got '1e400'"),
    ("inf", "expected a positive number such as 5e9, got 'inf'"),
    ("nan", "expected a positive number such as 5e9, got 'nan'"),
    ("-inf", "expected a positive number such as 5e9, got '-inf'"),
    ("1.5", "expected a positive whole number, got '1.5'"),
])
def test_limit_flags_refuse_numbers_that_are_not_counts(tmp_path, flag, value, message):
    result = archc_cli("build", str(spec(tmp_path)), f"{flag}={value}")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"archc build: error: argument {flag}: {message}"


@pytest.mark.parametrize("out,message", [
    ("missing_dir/x.onnx", "-o: no such directory 'missing_dir' for 'missing_dir/x.onnx'"),
    ("existing.onnx", "-o: 'existing.onnx' is a directory; give a file name"),
    ("missing_dir/x.pt2", "-o: no such directory 'missing_dir' for 'missing_dir/x.pt2'"),
])
def test_build_output_is_checked_before_any_work(tmp_path, out, message):
    # The spec is invalid: a usage error (2), not the spec's error (1), shows -o was checked first.
    (tmp_path / "existing.onnx").mkdir()
    path = spec(tmp_path, "archc: 1\nname: bad\ninput: [3, 8, 8]\nbody: [conv2x]\n")
    result = archc_cli("build", str(path), "-o", out, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"archc build: error: {message}\n"
    assert result.stdout == ""


def test_draw_output_is_checked_before_any_work(tmp_path):
    path = spec(tmp_path, "archc: 1\nname: bad\ninput: [3, 8, 8]\nbody: [conv2x]\n")
    result = archc_cli("draw", str(path), "-o", "nowhere/x.dot", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "archc draw: error: -o: no such directory 'nowhere' for 'nowhere/x.dot'\n"


# 2. Limits of the smoke forward ------------------------------------------------------------


def test_huge_activations_are_refused_at_the_input_before_running(tmp_path):
    path = spec(tmp_path, "archc: 1\nname: wide\ninput: [3, 100000, 100000]\nbody:\n  - relu\n")
    elements = 2 * 3 * 100_000 * 100_000  # the input and relu's output, float32
    start = time.perf_counter()
    result = archc_cli("build", str(path))
    assert time.perf_counter() - start < 60
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}:3:8: error: one forward pass of 'wide' at batch 1 needs about 223.5 GiB of activations "
        f"({elements * 4:,} bytes), more than the limit of {16 * 2**30:,} (--max-activation-bytes)\n"
    )


def test_huge_multiply_adds_are_refused_at_the_input_before_running(tmp_path):
    text = "archc: 1\nname: slow\ninput: [512, 1024, 1024]\nbody:\n  - conv2d(512, 3, padding=1)\n"
    path = spec(tmp_path, text)
    macs = (512 * 512 * 3 * 3 + 512) * 1024 * 1024  # parameters x output positions (torchinfo's convention)
    result = archc_cli("build", str(path), "--max-activation-bytes", "1e13")
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}:3:8: error: one forward pass of 'slow' at batch 1 needs {macs:,} multiply-adds, "
        f"more than the limit of 500,000,000,000 (--max-macs)\n"
    )


def test_forward_limits_can_be_lowered_and_raised(tmp_path, capsys):
    path = spec(tmp_path)
    macs = (4 * 3 * 3 * 3 + 4) * 6 * 6  # conv2d(4, 3) on 3x8x8: its 112 parameters at 6x6 output positions
    low = archc_cli("build", str(path), "--max-macs", str(macs - 1))
    assert low.returncode == 1
    assert f"needs {macs:,} multiply-adds, more than the limit of {macs - 1:,} (--max-macs)" in low.stderr
    elements = 3 * 8 * 8 + 2 * 4 * 6 * 6  # input, conv1, relu
    low = archc_cli("build", str(path), "--max-activation-bytes", str(4 * elements - 1))
    assert low.returncode == 1 and f"({4 * elements:,} bytes)" in low.stderr
    code, _, err = archc_in_process(capsys, "build", str(path), "--max-macs", str(macs), "--max-activation-bytes", str(4 * elements))
    assert code == 0, err


def test_default_forward_limits_let_efficientnet_b7_at_600_build(tmp_path):
    """The biggest shipped case: B7 at its native 600x600 (the spec ships 224x224)."""
    text = (SPECS / "efficientnet.yaml").read_text()
    assert text.count("input: [3, 224, 224]") == 1
    network = archc.load_spec(spec(tmp_path, text.replace("input: [3, 224, 224]", "input: [3, 600, 600]")), "b7")
    assert network.input_shapes["input"] == (3, 600, 600)
    limits = Limits()
    assert 3 * 2**30 < activation_bytes(network) < limits.max_activation_bytes / 4
    assert 3 * 10**10 < network.total_macs < limits.max_macs / 10


@pytest.mark.parametrize("spec_name,variant", [("resnet", "wide_resnet101_2"), ("vgg", "19_bn"), ("densenet", "161")])
def test_default_forward_limits_let_other_big_shipped_specs_build(spec_name, variant):
    network = archc.load_spec(SPECS / f"{spec_name}.yaml", variant)
    limits = Limits()
    assert activation_bytes(network) * 10 < limits.max_activation_bytes
    assert network.total_macs * 10 < limits.max_macs


def test_activation_estimate_counts_every_op_output_and_the_input(tmp_path):
    network = archc.load_spec(spec(tmp_path))
    assert activation_bytes(network) == 4 * (3 * 8 * 8 + 4 * 6 * 6 + 4 * 6 * 6)


# 3. Writes -------------------------------------------------------------------------------


def dot_of(path: Path) -> str:
    return archc.draw(path)


def test_a_symlinked_output_is_written_through(tmp_path):
    path = spec(tmp_path)
    target = tmp_path / "figures" / "net.dot"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "net.dot"
    link.symlink_to(target)
    result = archc_cli("draw", str(path), "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == dot_of(path)
    assert sorted(p.name for p in target.parent.iterdir()) == ["net.dot"]  # no temporary file left


def test_a_dangling_symlink_creates_its_target(tmp_path):
    path = spec(tmp_path)
    link = tmp_path / "net.dot"
    link.symlink_to(tmp_path / "made.dot")
    assert archc_cli("draw", str(path), "-o", str(link)).returncode == 0
    assert link.is_symlink() and (tmp_path / "made.dot").read_text() == dot_of(path)


def test_an_existing_file_keeps_its_permissions(tmp_path):
    path = spec(tmp_path)
    out = tmp_path / "net.dot"
    out.write_text("old")
    out.chmod(0o640)
    assert archc_cli("draw", str(path), "-o", str(out)).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text() == dot_of(path)


def test_a_fifo_is_written_into_not_replaced(tmp_path):
    path = spec(tmp_path)
    fifo = tmp_path / "pipe.dot"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = archc_cli("draw", str(path), "-o", str(fifo), timeout=120)
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received == [dot_of(path).encode()]


def test_dev_stdout_is_written_into(tmp_path):
    path = spec(tmp_path)
    result = archc_cli("draw", str(path), "--format", "dot", "-o", "/dev/stdout")
    assert result.returncode == 0, result.stderr
    assert result.stdout == dot_of(path) + "/dev/stdout\n"
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").is_file()


def test_sigterm_while_writing_removes_the_temporary_file(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    code = (
        "import os, signal, sys, time\n"
        "from archc.files import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    print(tmp, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    tmp = Path(result.stdout.strip())
    assert tmp.parent == tmp_path and tmp.name.startswith(".model.onnx.")
    assert not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"] and target.read_bytes() == b"old"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # this process: untouched


def test_sigterm_handler_is_restored_after_writing(tmp_path):
    from archc.files import write_bytes

    before = signal.getsignal(signal.SIGTERM)
    write_bytes(tmp_path / "x.bin", b"data")
    assert signal.getsignal(signal.SIGTERM) is before
    assert (tmp_path / "x.bin").read_bytes() == b"data"


def test_pt2_bytes_do_not_depend_on_the_file_name(tmp_path):
    """torch.export.save names the archive after its file: archc saves to memory, then writes."""
    from archc.backends.pytorch.check import export_program

    path = spec(tmp_path)
    network = archc.load_spec(path)
    for name in ("a.pt2", "another_name.pt2"):
        export_program(archc.build(path, seed=0), network, str(tmp_path / name))
    assert (tmp_path / "a.pt2").read_bytes() == (tmp_path / "another_name.pt2").read_bytes()
    names = zipfile.ZipFile(tmp_path / "a.pt2").namelist()
    assert all(n.startswith("archive/") for n in names), names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt2", "another_name.pt2", "net.yaml"]


@pytest.mark.slow
def test_pt2_output_is_byte_reproducible(tmp_path):
    """Two `archc build -o` runs in fresh processes: the same bytes (weights seeded by --seed 0)."""
    path = spec(tmp_path)
    outs = []
    for name in ("a.pt2", "b.pt2"):
        result = archc_cli("build", str(path), "-o", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    names = zipfile.ZipFile(tmp_path / "a.pt2").namelist()
    assert all(n.startswith("archive/") for n in names), names  # no temporary file's name inside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt2", "b.pt2", "net.yaml"]


# 4. Messages -----------------------------------------------------------------------------

TORCH_ORDER = "archc: 1\nname: net\ninput: [3, 8, 8]\nbody:\n  - conv1: conv2d(3, 8, 3)\n  - conv2: conv2d(8, 3, padding=1)\n"
TORCH_WARNING = (
    "5:19: warning: conv2d 'conv1': conv2d(3, 8, 3) means out=3, kernel=8, stride=3; archc infers the 3 input "
    "channels and takes the output channels first: PyTorch's Conv2d(3, 8, 3) is conv2d(8, 3)"
)


def test_pytorch_argument_order_is_a_warning_in_the_api(tmp_path):
    path = spec(tmp_path, TORCH_ORDER)
    network = archc.load_spec(path)
    assert [w.format() for w in network.warnings] == [f"{path}:{TORCH_WARNING}"]
    assert [w.severity for w in network.warnings] == ["warning"]
    assert archc.load_spec(path, outputs=["conv1"]).warnings == network.warnings


@pytest.mark.parametrize("command", ["validate", "summary", "draw"])
def test_pytorch_argument_order_warning_is_printed_by_every_command(tmp_path, command):
    path = spec(tmp_path, TORCH_ORDER)
    result = archc_cli(command, str(path), *(["--format", "dot", "-o", str(tmp_path / "x.dot")] if command == "draw" else []))
    assert result.returncode == 0
    assert result.stderr == f"{path}:{TORCH_WARNING}\n"


def test_pytorch_argument_order_warning_is_printed_by_build(tmp_path, capsys):
    path = spec(tmp_path, TORCH_ORDER)
    code, out, err = archc_in_process(capsys, "build", str(path))
    # Read as archc reads it: conv1 an 8x8 kernel at stride 3 on 3x8x8 -> 3x1x1; conv2 (8, 3, padding 1) -> 8x1x1.
    assert code == 0 and "forward (eval, batch 1): output 1x8x1x1" in out
    assert err == f"{path}:{TORCH_WARNING}\n"


@pytest.mark.parametrize("body", [
    "conv2d(8, 3, 1)",  # first argument is not the input's 3 channels
    "conv2d(3, 3)",  # no third positional
    "conv2d(3, 3, stride=2)",
])
def test_no_warning_without_the_pytorch_pattern(tmp_path, body):
    path = spec(tmp_path, f"archc: 1\nname: net\ninput: [3, 8, 8]\nbody:\n  - c: {body}\n")
    assert archc.load_spec(path).warnings == ()


ESC = "\x1b"


def test_terminal_escapes_in_names_are_shown_escaped(tmp_path, capsys):
    text = TINY.replace("name: tiny", 'name: "tiny\\e]0;pwned\\a\\e[2J\\u202e"')
    path = spec(tmp_path, text)
    result = archc_cli("summary", str(path))
    code, build_out, _ = archc_in_process(capsys, "build", str(path))
    assert result.returncode == 0 and code == 0, result.stderr
    for out in (result.stdout, build_out):
        assert ESC not in out and "\a" not in out and "\u202e" not in out
        assert "tiny\\x1b]0;pwned\\x07\\x1b[2J\\u202e: 112 params" in out
    broken = spec(tmp_path, text.replace("relu", "relu(1)"), "bad.yaml")
    result = archc_cli("summary", str(broken))
    assert result.returncode == 1 and ESC not in result.stderr


def test_a_long_flat_sum_is_not_called_nested(tmp_path):
    total = "+".join(["1"] * 60)
    path = spec(tmp_path, f'archc: 1\nname: net\ninput: [3, 8, 8]\nbody:\n  - r: {{repeat: "{total}", op: relu}}\n')
    assert len(archc.load_spec(path).graph.node("r").body.nodes) == 60
    nested = "-(" * 60 + "1" + ")" * 60  # real nesting keeps its bound
    path = spec(tmp_path, f'archc: 1\nname: net\ninput: [3, 8, 8]\nbody:\n  - r: {{repeat: "{nested}", op: relu}}\n', "deep.yaml")
    with pytest.raises(archc.SpecError, match="nested too deeply"):
        archc.load_spec(path)


# 5. Python API types ---------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,message", [
    ({"outputs": "conv1"}, "outputs must be a list of node names, not a string: write outputs=['conv1']"),
    ({"outputs": [1]}, "outputs must be node names (strings such as 'layer3'), got 1 (int)"),
    ({"outputs": 5}, "outputs must be a list of node names, got int"),
    ({"limits": {"max_params": 10}}, "limits must be an archc.Limits, such as archc.Limits(max_params=10**11), got dict"),
    ({"params": ["width", 8]}, "params must be a mapping of param names to values, got list"),
])
@pytest.mark.parametrize("function", [archc.load_spec, archc.build])
def test_api_arguments_of_the_wrong_type_raise_type_error(tmp_path, function, kwargs, message):
    with pytest.raises(TypeError) as exc:
        function(spec(tmp_path), **kwargs)
    assert str(exc.value) == message


def test_a_string_of_one_output_name_is_not_split_into_letters(tmp_path):
    assert archc.load_spec(spec(tmp_path), outputs=["conv1"]).output_shapes == {"conv1": (4, 6, 6)}


def test_no_marker_file_appears(tmp_path):
    """A spec with code in an output name: it never runs, through any command."""
    marker = tmp_path / "owned"
    text = (
        "archc: 1\nname: evil\ninput: [3, 8, 8]\n"
        'body: [{conv: "conv2d(4, 3)"}, {pool: adaptive_avgpool2d(1)}, flatten, {fc: linear(2)}]\n'
        "outputs:\n"
        f"  \"a=x)\\n__import__('os').system('touch {marker}')#\": fc\n"
        "  b: pool\n"
    )
    path = spec(tmp_path, text)
    for command in ("validate", "summary", "build", "draw"):
        result = archc_cli(command, str(path), *(["-o", str(tmp_path / "x.dot")] if command == "draw" else []))
        assert result.returncode in (0, 1)
    assert not marker.exists()


def test_emit_replaces_a_link_planted_at_its_default_path_instead_of_writing_through_it(tmp_path, monkeypatch):
    # generated/NAME.py is named by the spec, not by the user: a symlink there was planted.
    from archc.cli import main

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "generated").mkdir()
    (tmp_path / "generated" / "net.py").symlink_to(victim)
    spec = tmp_path / "net.yaml"
    spec.write_text("archc: 1\nname: net\ninput: [8]\nbody:\n  - linear(4)\n")
    monkeypatch.chdir(tmp_path)
    assert main(["emit", str(spec)]) == 0
    assert victim.read_text() == "precious"
    written = tmp_path / "generated" / "net.py"
    assert not written.is_symlink() and "class Net(nn.Module)" in written.read_text()
    # A path the user names is theirs: a symlink there is followed, as before.
    chosen = tmp_path / "chosen.py"
    chosen.symlink_to(victim)
    assert main(["emit", str(spec), "-o", str(chosen)]) == 0
    assert "class Net(nn.Module)" in victim.read_text()
