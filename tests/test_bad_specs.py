"""The bad-spec corpus: every file in tests/bad_specs/ must fail with exactly the errors its header names.

A case is one YAML file whose leading comment lines say what archc must answer:

    # expect: LINE:COL: message fragment     one line per error, in source order; no other errors
    # note: fragment                         must appear in a `note:` line (optional)
    # variant: NAME                          load this variant (optional)
    # set: NAME=VALUE                        a param override, as `--set` (optional, repeatable)
    # why: text                              what the case shows (optional)

Adding a case is adding a file. Each case runs through the API (archc.load_spec raises
SpecError with exactly those errors) and through the CLI (`archc summary` exits 1 and prints
the same text on stderr, without a traceback).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import archc
from archc.cli import main
from archc.commands._common import parse_set

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "bad_specs"
HEADER = re.compile(rb"^# (expect|note|variant|set|why): ?(.*)$")
EXPECT = re.compile(r"^(\d+):(\d+): (.+)$")


@dataclass
class Case:
    path: Path
    expects: list[tuple[int, int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    variant: str | None = None
    sets: list[str] = field(default_factory=list)

    @property
    def cli_args(self) -> list[str]:
        args = ["--variant", self.variant] if self.variant is not None else []
        return args + [a for s in self.sets for a in ("--set", s)]


def read_case(path: Path) -> Case:
    case = Case(path)
    for raw in path.read_bytes().split(b"\n"):
        match = HEADER.match(raw)
        if not match:
            break
        kind, value = match.group(1).decode(), match.group(2).decode()
        if kind == "expect":
            found = EXPECT.match(value)
            assert found, f"{path.name}: bad expect line {value!r}"
            case.expects.append((int(found.group(1)), int(found.group(2)), found.group(3)))
        elif kind == "note":
            case.notes.append(value)
        elif kind == "variant":
            case.variant = value
        elif kind == "set":
            case.sets.append(value)
    assert case.expects, f"{path.name}: no '# expect: LINE:COL: message' line"
    return case


CASES = sorted(CORPUS.glob("*.yaml"))


def check_report(case: Case, text: str) -> None:
    """`text` holds exactly the expected errors, at their places, in order, and the notes."""
    lines = text.splitlines()
    errors = [line for line in lines if ": error: " in line]
    shown = "\n".join(lines)
    assert len(errors) == len(case.expects), f"expected {len(case.expects)} error(s), got:\n{shown}"
    for line, (row, col, fragment) in zip(errors, case.expects):
        prefix = f"{case.path}:{row}:{col}: error: "
        assert line.startswith(prefix), f"expected an error at {row}:{col}, got:\n{shown}"
        assert fragment in line, f"expected {fragment!r} in:\n{shown}"
    notes = [line for line in lines if line.startswith("    note: ")]
    for fragment in case.notes:
        assert any(fragment in note for note in notes), f"expected a note with {fragment!r}, got:\n{shown}"
    for line in lines:
        assert re.match(r"^(\S+:\d+:\d+: error: |    note: |\.\.\. and \d+ more)", line), line


def test_corpus_is_large_and_covers_every_category():
    assert len(CASES) >= 150
    names = {p.stem for p in CASES}
    categories = {name.split("_")[0] for name in names}
    assert {"yaml", "top", "keys", "type", "value", "unknown", "ref", "cycle", "shape", "spatial",
            "expr", "dup", "bomb", "tag"} <= categories
    for op in ("add", "concat", "multiply", "chunk", "split", "shuffle"):
        assert any(n.startswith(f"shape_{op}_") for n in names), f"no shape case for {op}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_api_reports_exactly_the_expected_errors(path):
    case = read_case(path)
    with pytest.raises(archc.SpecError) as exc:
        archc.load_spec(path, case.variant, params=parse_set(case.sets))
    check_report(case, str(exc.value))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_cli_prints_the_same_errors_and_exits_1(path, capsys):
    case = read_case(path)
    assert main(["summary", str(path), *case.cli_args]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err and "internal error" not in err
    check_report(case, err)
    with pytest.raises(archc.SpecError) as exc:
        archc.load_spec(path, case.variant, params=parse_set(case.sets))
    assert err.rstrip("\n") == str(exc.value)


def test_cli_in_a_real_process_validates_the_whole_corpus():
    """One `archc validate` run over every case: exit 1, each file's first error, no traceback."""
    cases = [read_case(p) for p in CASES]
    plain = [c for c in cases if c.variant is None and not c.sets]
    result = subprocess.run(
        [sys.executable, "-m", "archc", "validate", *(str(c.path) for c in plain)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for c in plain:
        row, col, fragment = c.expects[0]
        prefix = f"{c.path}:{row}:{col}: error: "
        assert any(line.startswith(prefix) and fragment in line for line in result.stderr.splitlines()), c.path.name


# The three failures of the most used YAML model format, and archc's answers --------------


def _spec(tmp_path: Path, body: str, header: str = "archc: 1\nname: net\ninput: [3, 32, 32]\n") -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(header + body)
    return path


def _archc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archc", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_misspelt_op_gets_a_located_did_you_mean(tmp_path):
    path = _spec(tmp_path, "body:\n  - conv1: Conv2d(64, 3)\n  - bn1: batchnrm2d\n")
    result = _archc("build", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:5:12: error: unknown op or block 'Conv2d'; did you mean 'conv2d'?",
        # reads the broken conv1, and is still checked for what needs no shapes
        f"{path}:6:10: error: unknown op or block 'batchnrm2d'; did you mean 'batchnorm2d'?",
    ]


def test_reference_past_the_end_gets_a_located_message(tmp_path):
    path = _spec(tmp_path, "body:\n  - conv2d(8, 3)\n  - relu\n  - {op: add, from: [1, 5]}\n")
    result = _archc("build", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:7:25: error: unknown node '5': unnamed nodes are numbered by position, and only 2 come before this one",
        "    note: nodes before this one: input, 0, 1",
    ]


CODE = "__import__('os').system('touch {marker}')"


@pytest.mark.parametrize("where", [
    "params:\n  activation: \"{code}\"\nbody:\n  - act: activation\n",  # a param naming the activation
    "body:\n  - act: \"{code}\"\n",  # in place of an op
    "body:\n  - {{op: relu, if: \"{code}\"}}\n",  # a condition
    "body:\n  - {{op: relu, repeat: \"{code}\"}}\n",  # a repeat count
    "body:\n  - c: {{op: conv2d, args: {{out: 8, kernel: \"{code}\"}}}}\n",  # an argument
    "body:\n  - {{repeat: 1, body: [{{\"x{{{code}}}\": relu}}]}}\n",  # a name template
    "input: [3, \"{code}\", 8]\nbody: [relu]\n",  # an input dim
    "body: !!python/object/apply:os.system ['touch {marker}']\n",  # a YAML Python tag
])
def test_code_in_a_field_is_never_run(tmp_path, where):
    marker = tmp_path / "pwned"
    header = "archc: 1\nname: net\n" + ("input: [3, 8, 8]\n" if not where.startswith("input") else "")
    path = _spec(tmp_path, where.format(code=CODE.format(marker=marker), marker=marker), header)
    with pytest.raises(archc.SpecError):
        archc.load_spec(path)
    result = _archc("build", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not marker.exists(), "code in the spec was executed"


def test_the_activation_field_is_answered_precisely(tmp_path):
    path = _spec(tmp_path, f"params:\n  activation: \"{CODE.format(marker='x')}\"\nbody:\n  - act: activation\n")
    with pytest.raises(archc.SpecError) as exc:
        archc.load_spec(path)
    assert str(exc.value).splitlines() == [
        f"{path}:7:10: error: unknown op or block \"__import__('os').system('touch x')\"",
        "    note: 'activation' is a param whose value is \"__import__('os').system('touch x')\"",
    ]


# Command-line misuse -------------------------------------------------------------------


GOOD = "archc: 1\nname: net\ninput: [3, 8, 8]\nparams: {width: 8}\nvariants: {small: {width: 4}}\ndefault_variant: small\nbody:\n  - c: conv2d(width, 3)\n"


def _run_cli(args: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("args,code,message", [
    (["validate", "{dir}/missing.yaml"], 1, "{dir}/missing.yaml:1:1: error: no such file"),
    (["summary", "{dir}"], 1, "{dir}:1:1: error: is a directory, not a spec file"),
    (["validate", "{dir}/loop.yaml"], 1, "{dir}/loop.yaml:1:1: error: cannot read file:"),
    (["build", "/dev/null"], 1, "/dev/null:1:1: error: empty spec file; expected a mapping"),
    (["summary", "{spec}", "--set", "width"], 2, "archc summary: error: --set expects NAME=VALUE, got 'width'"),
    (["summary", "{spec}", "--set", "=3"], 2, "--set expects NAME=VALUE, got '=3'"),
    (["summary", "{spec}", "--set", "1x=3"], 2, "--set expects NAME=VALUE, got '1x=3'"),
    (["summary", "{spec}", "--set", "width=[1"], 2, "--set width: cannot read value '[1'"),
    (["summary", "{spec}", "--set", "width={{a: 1}}"], 2, "expected a number, string, bool or list"),
    (["summary", "{spec}", "--set", "widht=4"], 1, "{spec}:4:1: error: unknown param 'widht'; did you mean 'width'?"),
    (["summary", "{spec}", "--variant", "smal"], 1, "{spec}:5:11: error: unknown variant 'smal'; did you mean 'small'?"),
    (["validate", "{spec}", "--variant", "large"], 1, "unknown variant 'large'"),
    (["build", "{spec}", "--max-params", "lots"], 2, "--max-params: expected a positive number such as 5e9, got 'lots'"),
    (["build", "{spec}", "--max-params", "0"], 2, "--max-params: expected a positive whole number, got '0'"),
    # variant small: conv2d(4, 3) on 3 channels has 4 x 3 x 3 x 3 weights + 4 biases = 112
    (["build", "{spec}", "--max-params", "10"], 1, "{spec}:2:7: error: network 'net' has 112 parameters, more than the limit of 10 (--max-params)"),
    (["build", "{spec}", "-o", "model.h5"], 2, "expected a .pt2 or .onnx file"),
    (["summary", "{spec}", "--depth", "0"], 2, "--depth must be 1 or more"),
    (["summary"], 2, "the following arguments are required: SPEC"),
    (["compile", "{spec}"], 2, "invalid choice: 'compile'"),
])
def test_command_line_misuse(tmp_path, capsys, args, code, message):
    spec = tmp_path / "net.yaml"
    spec.write_text(GOOD)
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    fill = {"dir": str(tmp_path), "spec": str(spec)}
    got, err = _run_cli([a.format(**fill) for a in args], capsys)
    assert got == code
    assert message.format(**fill) in err


def test_unreadable_file(tmp_path, capsys):
    spec = tmp_path / "secret.yaml"
    spec.write_text(GOOD)
    spec.chmod(0)
    try:
        if os.access(spec, os.R_OK):
            pytest.skip("running with privileges that read files whatever their mode (root): chmod 000 does not stop reading")
        got, err = _run_cli(["validate", str(spec)], capsys)
        assert got == 1
        assert err.strip() == f"{spec}:1:1: error: permission denied"
    finally:
        spec.chmod(0o644)
