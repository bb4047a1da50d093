"""`archc schema`: the JSON Schema of the spec format accepts every shipped spec and rejects
what the loader rejects (the loader is the oracle for every invalid case)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

import archc
from archc.cli import main
from archc.spec.json_schema import spec_json_schema

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs").glob("*.yaml"))

HEAD = "archc: 1\nname: t\ninput: [3, 8, 8]\n"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = spec_json_schema()
    jsonschema.Draft7Validator.check_schema(schema)  # a well-formed draft-07 schema
    return jsonschema.Draft7Validator(schema)


def test_shipped_specs_exist():
    assert len(SHIPPED) >= 9


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_spec_is_valid(path, validator):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


VALID = {
    "named_inputs": "archc: 1\nname: t\ninputs: {image: [3, 8, 8]}\nbody: [relu]\n",
    "args_mapping": HEAD + "body:\n  - conv: {op: conv2d, args: {out: 4, kernel: 3, padding: 1}}\n",
    "string_param_names_op": HEAD + "params: {act: relu}\nbody:\n  - {op: act, args: {}}\n",
    "repeat_with_names": HEAD + "body:\n  - stages: {repeat: 2, names: 'stage{i+1}', op: relu}\n",
    "unnamed_splice": HEAD + "body:\n  - {repeat: 2, body: [relu, 'conv2d(3, 1)']}\n  - {if: true, body: [relu]}\n",
    "group_and_edges": HEAD + "body:\n  - a: [relu]\n  - b: {from: input, body: [relu]}\n  - add: {op: add, from: [a, b]}\n",
    "block_call_args": (
        HEAD + "blocks:\n  unit:\n    params: {width: null}\n    body: ['conv2d(width, 1)']\n"
        "body:\n  - u: {op: unit, args: {width: 4}}\n"
    ),
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_valid_snippets_are_accepted(text, tmp_path, validator):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    archc.load_spec(path)  # the loader accepts it ...
    assert list(validator.iter_errors(yaml.safe_load(text))) == []  # ... and so does the schema


INVALID = {
    "unknown_top_level_key": "archc: 1\nname: t\ninput: [3, 8, 8]\nbdy: [relu]\n",
    "missing_body": HEAD,
    "wrong_version": "archc: 2\nname: t\ninput: [3, 8, 8]\nbody: [relu]\n",
    "input_and_inputs": HEAD + "inputs: {x: [3, 8, 8]}\nbody: [relu]\n",
    "no_input": "archc: 1\nname: t\nbody: [relu]\n",
    "number_as_item": HEAD + "body: [relu, 3]\n",
    "number_as_named_value": HEAD + "body:\n  - conv1: 5\n",
    "op_and_body": HEAD + "body:\n  - x: {op: relu, body: [relu]}\n",
    "neither_op_nor_body": HEAD + "body:\n  - x: {from: input}\n",
    "names_without_repeat": HEAD + "body:\n  - x: {names: 'a{i}', op: relu}\n",
    "args_without_op": HEAD + "body:\n  - x: {args: {p: 1}, body: [relu]}\n",
    "unknown_node_key": HEAD + "body:\n  - x: {op: relu, form: input}\n",
    "unknown_op_argument": HEAD + "body:\n  - x: {op: conv2d, args: {out: 4, kernal: 3}}\n",
    "reserved_key_as_name": HEAD + "body:\n  - if: {op: relu}\n",
    "block_without_body": HEAD + "blocks:\n  unit: {params: {}}\nbody: [relu]\n",
    "bad_output_flag": HEAD + "body: [relu]\noutputs:\n  y: {from: 0, training_only: maybe}\n",
    "bad_param_value": HEAD + "params: {p: {nested: 1}}\nbody: [relu]\n",
}


@pytest.mark.parametrize("text", INVALID.values(), ids=INVALID.keys())
def test_invalid_specs_are_rejected(text, tmp_path, validator):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(archc.SpecError):
        archc.load_spec(path)  # the loader rejects it ...
    assert list(validator.iter_errors(yaml.safe_load(text))) != []  # ... and so does the schema


def test_schema_command_prints_the_schema(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == spec_json_schema()


def test_schema_command_is_deterministic_and_does_not_import_torch():
    code = "import sys; from archc.cli import main; rc = main(['schema']); assert 'torch' not in sys.modules; sys.exit(rc)"
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
