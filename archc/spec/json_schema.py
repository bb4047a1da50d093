"""Spec stage, for editors: the JSON Schema of the spec format, built from the Pydantic schema.

`archc schema` prints it; editors that speak JSON Schema (VS Code's YAML extension, through
yaml-language-server) then check and complete specs as they are typed. The Pydantic models
in archc.spec.schema describe the top-level keys, blocks, outputs and node mappings, but
leave body items loosely typed (`list[Any]`) because items come in several written forms
that the loader decodes by hand; here those forms get a schema of their own, and so do the
rules the loader checks beyond the types (op or body, `names` with `repeat`, one of
`input`/`inputs`, the argument names of each op).

Draft-07 is used because it is the draft yaml-language-server supports fully. Never
imports torch.
"""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from archc.ops import OPS
from archc.spec.schema import FORMAT_VERSION, NodeFields, SpecFields

DRAFT = "http://json-schema.org/draft-07/schema#"
REF = "#/definitions/{model}"

# Shown by editors on hover; the README's table of top-level keys.
TOP_LEVEL_DOCS = MappingProxyType({
    "archc": "Format version; this archc reads version 1.",
    "name": "The network's name.",
    "doc": "A short description of the network.",
    "input": "One input shape, channels first, without the batch dimension: [3, 224, 224]. Entries may be expressions.",
    "inputs": "Named input shapes: {image: [3, 224, 224]}. Give either `input` or `inputs`.",
    "params": "Parameters with their defaults (numbers, strings, bools, lists); override with variants, --set or build(**params).",
    "variants": "Named presets of params.",
    "default_variant": "The variant used when none is chosen.",
    "blocks": "Reusable blocks: `params` (defaults; null marks a required one), `body`, optional `inputs` (names, for a block of several inputs), `output` and `doc`.",
    "body": "The network: a list of nodes.",
    "outputs": "Named outputs: {logits: fc}, or {from: aux1, training_only: true, if: aux_logits}. Default: the last node.",
    "init": "Weight initialisation rules: {match: OP-or-GLOB, weight: SCHEME, bias: SCHEME}; later rules win.",
})


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) that every valid spec file satisfies."""
    schema = SpecFields.model_json_schema(by_alias=True, ref_template=REF)
    node = NodeFields.model_json_schema(by_alias=True, ref_template=REF)
    definitions = {**schema.pop("$defs", {}), **node.pop("$defs", {})}
    definitions["NodeFields"] = _node_fields(node)
    definitions["NamedItem"] = _named_item()
    definitions["BodyItem"] = _body_item()
    for owner in (schema, definitions["BlockFields"]):
        owner["properties"]["body"]["items"] = _ref("BodyItem")
    properties = schema["properties"]
    properties["archc"]["const"] = FORMAT_VERSION
    for key, text in TOP_LEVEL_DOCS.items():
        if key in properties:
            properties[key]["description"] = text
    # Exactly one of the two; a key given as null counts as absent, as in the loader.
    schema["oneOf"] = [
        {"required": ["input"], "properties": {"input": {"type": "array"}}},
        {"required": ["inputs"], "properties": {"inputs": {"type": "object"}}},
    ]
    body = _draft07(_drop_titles({**schema, "definitions": definitions}))
    return {"$schema": DRAFT, "title": "archc network spec", **body}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _body_item() -> dict[str, Any]:
    return {
        "description": (
            "A node: `relu` or `conv2d(64, 3)` (unnamed), `conv1: conv2d(64, 3)` (named), "
            "`features: [...]` (a named group), `name: {op: ..., from: ..., if: ...}`, or an unnamed "
            "mapping such as {repeat: N, body: [...]}, spliced into the enclosing body."
        ),
        "anyOf": [
            {"type": "string", "description": "An op or block call: `op(positional, ..., key=value)`."},
            _ref("NamedItem"),
            _ref("NodeFields"),
        ],
    }


def _named_item() -> dict[str, Any]:
    """`name: value`: a single key that is not one of the node keys (those make a NodeFields)."""
    return {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "propertyNames": {"not": {"enum": sorted(_node_keys())}},
        "additionalProperties": {
            "anyOf": [
                {"type": "string", "description": "An op or block call."},
                {"type": "array", "items": _ref("BodyItem"), "description": "A named group of items."},
                _ref("NodeFields"),
            ],
        },
    }


def _node_keys() -> set[str]:
    return {field.alias or name for name, field in NodeFields.model_fields.items()}


def _node_fields(node: dict[str, Any]) -> dict[str, Any]:
    """NodeFields with its body typed and the loader's rules between keys."""
    node["properties"]["body"]["anyOf"][0]["items"] = _ref("BodyItem")
    # The loader: exactly one of op and body; `names` only with `repeat`; `args` only with `op`.
    node["oneOf"] = [{"type": "object", "required": ["op"]}, {"type": "object", "required": ["body"]}]
    node["dependencies"] = {"names": ["repeat"], "args": ["op"]}
    node["allOf"] = [_op_arguments(name, list(op.Attrs.model_fields)) for name, op in sorted(OPS.items())]
    return node


def _op_arguments(op: str, arguments: list[str]) -> dict[str, Any]:
    """When `op` calls this op (ops take precedence over blocks of the same name), `args`
    may only name its arguments."""
    return {
        "if": {"required": ["op"], "properties": {"op": {"type": "string", "pattern": rf"^\s*{re.escape(op)}\s*(\(|$)"}}},
        "then": {"properties": {"args": {"propertyNames": {"enum": arguments}}}},
    }


def _drop_titles(value: Any) -> Any:
    """Pydantic's generated titles ("Default Variant") only repeat the key; editors show them."""
    if isinstance(value, dict):
        return {k: _drop_titles(v) for k, v in value.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(value, list):
        return [_drop_titles(v) for v in value]
    return value


def _draft07(value: Any) -> Any:
    """Draft-07 ignores keywords beside `$ref`; move the reference into an allOf."""
    if isinstance(value, dict):
        value = {k: _draft07(v) for k, v in value.items()}
        if "$ref" in value and len(value) > 1:
            ref = value.pop("$ref")
            value["allOf"] = [{"$ref": ref}] + value.get("allOf", [])
        return value
    if isinstance(value, list):
        return [_draft07(v) for v in value]
    return value
