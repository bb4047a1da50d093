"""Spec stage: the Pydantic schema of a spec file, and decoding of body items.

A body item is written in one of these forms (see README, "The spec language"):

    - relu                                  # unnamed op, gets its index as name
    - conv1: conv2d(64, 7, stride=2)        # named op or block call
    - features: [ ...items... ]             # named inline group
    - layer1: {repeat: 3, op: "bottleneck(64)"}
    - downsample: {from: input, if: "stride != 1", body: [...]}
    - {repeat: 4, body: [...]}              # unnamed: spliced into the parent sequence
"""
from __future__ import annotations

from typing import Any, Union

from typing_extensions import TypeAliasType
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError

from archc.errors import Collector, SpecError, spec_error
from archc.spec.expr import did_you_mean
from archc.spec.source import DataPath, Source

FORMAT_VERSION = 1

ParamValue = TypeAliasType(
    "ParamValue", Union[StrictBool, StrictInt, StrictFloat, str, None, list["ParamValue"]]  # type: ignore[misc]
)
Ref = Union[str, StrictInt]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NodeFields(_Strict):
    """The keys a node written as a mapping may have."""

    op: str | None = None
    args: dict[str, ParamValue] = {}
    from_: Ref | list[Ref] | None = Field(None, alias="from")
    if_: StrictBool | str | None = Field(None, alias="if")
    repeat: StrictInt | str | None = None
    names: str | None = None
    body: list[Any] | None = None
    doc: str | None = None


class OutputFields(_Strict):
    from_: Ref = Field(alias="from")
    training_only: StrictBool = False
    if_: StrictBool | str | None = Field(None, alias="if")


class BlockFields(_Strict):
    doc: str = ""
    params: dict[str, ParamValue] = {}
    body: list[Any]
    output: Ref | None = None


class SpecFields(_Strict):
    archc: StrictInt
    name: str
    doc: str = ""
    input: list[StrictInt | str] | None = None
    inputs: dict[str, list[StrictInt | str]] | None = None
    params: dict[str, ParamValue] = {}
    variants: dict[str, dict[str, ParamValue]] = {}
    default_variant: str | None = None
    blocks: dict[str, BlockFields] = {}
    body: list[Any]
    outputs: dict[str, Ref | OutputFields] | None = None


class NodeSpec(BaseModel):
    """One decoded body item: a named or unnamed op, block call, group or repeat."""

    model_config = ConfigDict(frozen=True)

    name: str | None
    fields: NodeFields
    items: tuple["NodeSpec", ...] | None  # decoded `body`
    path: DataPath  # where the item is in the source, for diagnostics

    @property
    def kind(self) -> str:
        if self.fields.repeat is not None:
            return "repeat"
        if self.items is not None:
            return "group"
        return "call"


_NODE_KEYS = frozenset(NodeFields.model_fields) - {"from_", "if_"} | {"from", "if"}


def validate_model(model: type[BaseModel], data: Any, source: Source, path: DataPath) -> Any:
    """Validate `data` against `model`, reporting every problem at its source position."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = Collector()
        for err in exc.errors():
            where = path + tuple(p for p in err["loc"] if not _is_union_tag(p))
            errors.add(_pydantic_error(model, err, source, where))
        errors.raise_if_any()
        raise  # unreachable: a ValidationError always has errors


def _is_union_tag(part: Any) -> bool:
    # Pydantic inserts the union member's name ("str", "list[...]") into error paths.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "bool", "float", "none", "OutputFields"})


def _pydantic_error(model: type[BaseModel], err: dict, source: Source, where: DataPath) -> SpecError:
    key = where[-1] if where else None
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, source, where[:-1])
        hint = did_you_mean(str(key), allowed)
        return spec_error(source.key_at(where), f"unknown key {key!r}{hint}", f"allowed keys: {', '.join(sorted(allowed))}")
    if err["type"] == "missing":
        return spec_error(source.at(where[:-1]), f"missing required key {key!r}")
    got = err.get("input")
    return spec_error(source.at(where), f"{key}: {err['msg'].lower()}, got {_short(got)}")


def _allowed_keys(model: type[BaseModel], source: Source, parent: DataPath) -> list[str]:
    # The nested model whose keys were wrong; NodeFields for body items, else the model's own.
    fields = model.model_fields
    if parent and parent[0] == "blocks" and len(parent) == 2:
        fields = BlockFields.model_fields
    elif parent and parent[0] == "outputs":
        fields = OutputFields.model_fields
    return sorted(f.alias or name for name, f in fields.items())


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def decode_items(items: list[Any], source: Source, path: DataPath) -> tuple[NodeSpec, ...]:
    """Decode a body list; independent errors in different items are all reported."""
    errors = Collector()
    result = []
    for index, item in enumerate(items):
        try:
            result.append(decode_item(item, source, path + (index,)))
        except SpecError as exc:
            errors.add(exc)
    errors.raise_if_any()
    return tuple(result)


def decode_item(item: Any, source: Source, path: DataPath) -> NodeSpec:
    if isinstance(item, str):
        return _node(None, NodeFields(op=item), source, path)
    if isinstance(item, dict) and len(item) == 1:
        name, value = next(iter(item.items()))
        if name not in _NODE_KEYS:
            return _named_item(name, value, source, path + (name,))
        if isinstance(value, (dict, list)) and name != "body":
            raise spec_error(source.key_at(path + (name,)), f"{name!r} is a reserved key and cannot name a node")
    if isinstance(item, dict):
        return _node(None, validate_model(NodeFields, item, source, path), source, path)
    raise spec_error(
        source.at(path),
        f"expected a body item ('op', 'name: op(...)' or a mapping), got {type(item).__name__} {_short(item)}",
    )


def _named_item(name: str, value: Any, source: Source, path: DataPath) -> NodeSpec:
    if isinstance(value, str):
        return _node(name, NodeFields(op=value), source, path)
    if isinstance(value, list):
        return _node(name, NodeFields(body=value), source, path, body_path=path)
    if isinstance(value, dict):
        return _node(name, validate_model(NodeFields, value, source, path), source, path)
    raise spec_error(
        source.at(path),
        f"node {name!r}: expected 'op(args)', a list of items or a mapping, got {type(value).__name__} {_short(value)}",
    )


def _node(name: str | None, fields: NodeFields, source: Source, path: DataPath, body_path: DataPath | None = None) -> NodeSpec:
    items = None
    if fields.body is not None:
        items = decode_items(fields.body, source, body_path or path + ("body",))
    shape_error = _shape_problem(fields)
    if shape_error:
        raise spec_error(source.at(path), f"{_label(name)}: {shape_error}")
    return NodeSpec(name=name, fields=fields, items=items, path=path)


def _label(name: str | None) -> str:
    return f"node {name!r}" if name is not None else "unnamed item"


def _shape_problem(fields: NodeFields) -> str:
    if fields.op is not None and fields.body is not None:
        return "give either 'op' or 'body', not both"
    if fields.op is None and fields.body is None:
        return "missing 'op' (or 'body' for a group)"
    if fields.names is not None and fields.repeat is None:
        return "'names' goes with 'repeat'"
    if fields.args and fields.op is None:
        return "'args' goes with 'op'"
    return ""


def parse_spec(source: Source) -> tuple[SpecFields, tuple[NodeSpec, ...], dict[str, tuple[NodeSpec, ...]]]:
    """Validate a loaded document; return the top-level fields and the decoded bodies."""
    if not isinstance(source.data, dict):
        raise spec_error(source.at(()), f"a spec must be a mapping at the top level, got {type(source.data).__name__}")
    errors = Collector()
    spec = None
    try:
        spec = validate_model(SpecFields, source.data, source, ())
    except SpecError as exc:
        errors.add(exc)  # keep going: errors inside the body are independent of these
    if spec is not None:
        if spec.archc != FORMAT_VERSION:
            errors.error(source.at(("archc",)), f"unsupported format version {spec.archc}; this archc reads version {FORMAT_VERSION}")
        if (spec.input is None) == (spec.inputs is None):
            errors.error(source.at(()), "give exactly one of 'input' (one shape) or 'inputs' (named shapes)")
    body: tuple[NodeSpec, ...] = ()
    blocks: dict[str, tuple[NodeSpec, ...]] = {}
    if isinstance(source.data.get("body"), list):
        try:
            body = decode_items(source.data["body"], source, ("body",))
        except SpecError as exc:
            errors.add(exc)
    raw_blocks = source.data.get("blocks")
    for name, raw in (raw_blocks.items() if isinstance(raw_blocks, dict) else ()):
        if isinstance(raw, dict) and isinstance(raw.get("body"), list):
            try:
                blocks[name] = decode_items(raw["body"], source, ("blocks", name, "body"))
            except SpecError as exc:
                errors.add(exc)
    errors.raise_if_any()
    assert spec is not None  # validation errors were raised above
    return spec, body, blocks
