"""Spec stage: the Pydantic schema of a spec file, and decoding of body items.

A body item is written in one of these forms (see README, "The spec language"):

    - relu                                  # unnamed op, gets its index as name
    - conv1: conv2d(64, 7, stride=2)        # named op or block call
    - features: [ ...items... ]             # named inline group
    - layer1: {repeat: 3, op: "bottleneck(64)"}
    - downsample: {from: input, if: "stride != 1", body: [...]}
    - {repeat: 4, body: [...]}              # unnamed: spliced into the parent sequence
    - {name: repeat, repeat: 10, op: ...}   # `name:` names a node whose name is a key (timm's `repeat`)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import UnionType
from typing import Annotated, Any, ForwardRef, Mapping, Union, get_args, get_origin

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

    name: str | None = None  # the node's name, where `- name: {...}` cannot give it (`repeat`, `body`)
    op: str | None = None
    args: dict[str, ParamValue] = {}
    from_: Ref | list[Ref] | None = Field(None, alias="from")
    if_: StrictBool | str | None = Field(None, alias="if")
    repeat: StrictInt | str | None = None
    names: str | None = None
    as_: str | None = Field(None, alias="as")  # a name for the repeat index, besides `i`
    body: list[Any] | None = None
    switch: list[Any] | None = None  # alternatives, each with an `if`: the first that holds is the node
    else_: Any = Field(None, alias="else")  # the node when `if` (or every `switch` case) is false
    doc: str | None = None


class OutputFields(_Strict):
    from_: Ref = Field(alias="from")
    training_only: StrictBool = False
    if_: StrictBool | str | None = Field(None, alias="if")


class InitRule(_Strict):
    """One weight-initialisation rule; later rules override earlier ones for the same tensor.

    `match` is an op name (every node of that op) or a glob over dotted node paths
    (`layer*.*.bn3`); the other keys name the tensor (`weight`, `bias`) and give its scheme
    as a call, e.g. `kaiming_normal(mode='fan_out', nonlinearity='relu')`.
    """

    match: str
    weight: str | None = None
    bias: str | None = None
    if_: StrictBool | str | None = Field(None, alias="if")


class BlockFields(_Strict):
    doc: str = ""
    inputs: list[str] | None = None  # names of the block's inputs, in call order; default: one, `input`
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
    init: list[InitRule] = []


class NodeSpec(BaseModel):
    """One decoded body item: a named or unnamed op, block call, group or repeat."""

    model_config = ConfigDict(frozen=True)

    name: str | None
    fields: NodeFields
    items: tuple["NodeSpec", ...] | None  # decoded `body`
    path: DataPath  # where the item is in the source, for diagnostics
    alternatives: tuple["NodeSpec", ...] | None = None  # decoded `switch`
    otherwise: "NodeSpec | None" = None  # decoded `else`

    @property
    def kind(self) -> str:
        if self.fields.repeat is not None:
            return "repeat"
        if self.items is not None:
            return "group"
        return "call"


_NODE_KEYS = frozenset(f.alias or n for n, f in NodeFields.model_fields.items())


def validate_model(model: type[BaseModel], data: Any, source: Source, path: DataPath) -> Any:
    """Validate `data` against `model`, reporting every problem at its source position."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = Collector()
        for problem in _problems(model, exc.errors()):
            errors.add(_report(problem, source, path))
        errors.raise_if_any()
        raise  # unreachable: a ValidationError always has errors


@dataclass(frozen=True)
class _Problem:
    """One Pydantic error, its path with union member tags removed, and the model it is in."""

    where: DataPath
    kind: str
    message: str
    got: Any
    owner: type[BaseModel]
    unions: tuple[int, ...]  # the places in `where` where a union chose a member
    member_type_error: bool  # a union member simply did not have the input's type


# Pydantic error types that only say "not this type".
_EXPECTED = {
    "int_type": "an int", "int_parsing": "an int", "int_from_float": "an int", "string_type": "a string",
    "bool_type": "true/false", "bool_parsing": "true/false", "float_type": "a number",
    "float_parsing": "a number", "list_type": "a list", "tuple_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "none_required": "null",
}


def _problems(model: type[BaseModel], raw: list[Any]) -> list[_Problem]:
    """One problem per real mistake: a union reports every member's error, keep the telling ones."""
    problems = [_problem(model, err) for err in raw]
    deeper = {p.where[:u] for p in problems for u in p.unions if len(p.where) > u or not p.member_type_error}
    # A member that got further than "wrong type" says more than the members that did not.
    problems = [p for p in problems if not (p.member_type_error and p.where in deeper)]
    misspelt = {p.where[:-1] + (h,) for p in problems if p.kind == "extra_forbidden" for h in _hints(p)}
    # `bdy: [...]` is reported as unknown key 'bdy' (did you mean 'body'?), not also as missing 'body'.
    problems = [p for p in problems if not (p.kind == "missing" and p.where in misspelt)]
    by_place: dict[DataPath, list[_Problem]] = {}
    for p in problems:
        by_place.setdefault(p.where, []).append(p)
    result = []
    for place in by_place.values():
        if all(p.kind in _EXPECTED for p in place):
            kinds = list(dict.fromkeys(_EXPECTED[p.kind] for p in place))
            expected = ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]
            result.append(_Problem(place[0].where, "type", expected, place[0].got, place[0].owner, (), False))
        else:
            result += list({(p.kind, p.message): p for p in place if p.kind not in _EXPECTED}.values())
    return result


def _problem(model: type[BaseModel], err: Mapping[str, Any]) -> _Problem:
    tp: Any = model
    owner = model
    where: list[str | int] = []
    unions: list[int] = []
    at_tag = False
    for part in err["loc"]:
        tp = _unwrap(tp)
        if _is_union(tp):
            unions.append(len(where))
            tp, at_tag = _member(tp, str(part)), True
            continue
        at_tag = False
        where.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner = tp
            tp = _field_type(tp, str(part))
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            tp = Any
    # "Not this type" from a member, right at the union: says nothing a sibling does not.
    member_type_error = at_tag and err["type"] in _EXPECTED
    return _Problem(tuple(where), err["type"], str(err["msg"]), err.get("input"), owner, tuple(unions), member_type_error)


# The schema's only self-reference; named here so type walking needs no globals().
_FORWARD_REFS: dict[str, Any] = {"ParamValue": ParamValue}


def _unwrap(tp: Any) -> Any:
    while True:
        if isinstance(tp, (str, ForwardRef)):  # `list["ParamValue"]`
            tp = _FORWARD_REFS.get(tp if isinstance(tp, str) else tp.__forward_arg__, Any)
        elif isinstance(tp, TypeAliasType):
            tp = tp.__value__
        elif get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif _is_union(tp, 1):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp


def _is_union(tp: Any, members: int | None = None) -> bool:
    if get_origin(tp) not in (Union, UnionType):
        return False
    count = len([a for a in get_args(tp) if a is not type(None)])
    return count == members if members is not None else count > 1


def _member(union: Any, tag: str) -> Any:
    """The union member Pydantic names `tag` in error paths ("int", "list[...]", "OutputFields")."""
    for member in get_args(union):
        plain = _unwrap(member)
        name = getattr(get_origin(plain) or plain, "__name__", "")
        if tag == name or tag.startswith(name + "["):
            return plain
    return Any


def _field_type(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return Any


def _hints(p: _Problem) -> list[str]:
    match = did_you_mean(str(p.where[-1]), _keys(p.owner))
    return [match.split("'")[1]] if match else []


def _keys(model: type[BaseModel]) -> list[str]:
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _report(p: _Problem, source: Source, base: DataPath) -> SpecError:
    where = base + p.where
    key = p.where[-1] if p.where else None
    if p.kind == "extra_forbidden":
        allowed = _keys(p.owner)
        hint = did_you_mean(str(key), allowed)
        return spec_error(source.key_at(where), f"unknown key {key!r}{hint}", f"allowed keys: {', '.join(allowed)}")
    if p.kind == "missing":
        return spec_error(source.at(where[:-1]), f"missing required key {key!r}")
    label = _label_path(p.where)
    if p.kind == "type":
        return spec_error(source.at(where), f"{label}: expected {p.message}, got {_short(p.got)}")
    message = p.message[0].lower() + p.message[1:]
    return spec_error(source.at(where), f"{label}: {message}, got {_short(p.got)}")


def _label_path(where: DataPath) -> str:
    """`params.width`, `input[1]`, `from[0]`: the path of a value as a person would write it."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "value"


def _short(value: Any) -> str:
    """A value as YAML writes it (true, null), cut to a line's worth."""
    text = {True: "true", False: "false", None: "null"}.get(value, None) if isinstance(value, (bool, type(None))) else None
    text = text or repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind_of(value: Any, article: bool = True) -> str:
    """What a YAML value is, in YAML's words: `null`, `an int`, `a list` (or `list`)."""
    if value is None:
        return "null"
    kinds = {bool: "a bool", int: "an int", float: "a number", str: "a string", list: "a list", dict: "a mapping"}
    kind = kinds.get(type(value), type(value).__name__)
    return kind if article else kind.split(" ")[-1]


def described(value: Any) -> str:
    """A YAML value with its kind: `null`, `an int 5`, `a list ['relu']`."""
    return "null" if value is None else f"{kind_of(value)} {_short(value)}"


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
    if isinstance(item, dict) and len(item) > 1 and not _NODE_KEYS & set(item):
        second = list(item)[1]
        raise spec_error(
            source.key_at(path + (second,)),
            f"one body item names several nodes ({', '.join(map(repr, item))}); start each with '- '",
        )
    if isinstance(item, dict):
        try:
            fields = validate_model(NodeFields, item, source, path)
            return _node(fields.name, fields, source, path)
        except SpecError as exc:
            raise _with_indent_hint(exc, item, source, path) from None
    raise spec_error(
        source.at(path),
        f"expected a body item ('op', 'name: op(...)' or a mapping), got {described(item)}",
    )


def _with_indent_hint(error: SpecError, item: dict[str, Any], source: Source, path: DataPath) -> SpecError:
    """`- conv1:` with its keys written below it at its own indentation: YAML reads one mapping
    {conv1: null, op: ...}, and 'conv1' is an unknown key. Say that indenting is the fix."""
    names = [k for k in item if k not in _NODE_KEYS]
    keys = [k for k in item if k in _NODE_KEYS]
    if len(names) != 1 or not isinstance(item[names[0]], (dict, type(None))):
        return error
    name = names[0]
    where = source.key_at(path + (name,))
    listed = ", ".join(f"'{k}:'" for k in keys)
    note = (
        f"{listed} {'is' if len(keys) == 1 else 'are'} at the indentation of '{name}:', so YAML puts them in "
        f"one mapping; indent {listed} under '{name}:' to give {'it' if len(keys) == 1 else 'them'} to node {name!r}"
    )
    return SpecError([
        replace(d, notes=d.notes + (note,)) if d.location == where else d for d in error.diagnostics
    ])


def _named_item(name: str, value: Any, source: Source, path: DataPath) -> NodeSpec:
    if name == "":
        raise spec_error(source.key_at(path), "a node name cannot be empty; leave the name out for an unnamed node ('- op')")
    if isinstance(value, str):
        return _node(name, NodeFields(op=value), source, path)
    if isinstance(value, list):
        return _node(name, NodeFields(body=value), source, path, body_path=path)
    if isinstance(value, dict):
        fields = validate_model(NodeFields, value, source, path)
        if fields.name is not None:
            fix = (
                "did you mean 'names' (the names of the repeat's instances)?" if fields.repeat is not None and fields.names is None
                else f"write '- {{name: ..., ...}}' or '- {name}: {{...}}'"
            )
            raise spec_error(source.key_at(path + ("name",)), f"node {name!r} is named twice, by its key and by 'name:'; {fix}")
        return _node(name, fields, source, path)
    raise spec_error(
        source.at(path),
        f"node {name!r}: expected 'op(args)', a list of items or a mapping, got {described(value)}",
    )


def _node(name: str | None, fields: NodeFields, source: Source, path: DataPath, body_path: DataPath | None = None) -> NodeSpec:
    items = None
    if fields.body is not None:
        items = decode_items(fields.body, source, body_path or path + ("body",))
    shape_error = _shape_problem(fields)
    if shape_error:
        raise spec_error(source.at(path), f"{_label(name)}: {shape_error}")
    alternatives = otherwise = None
    if fields.switch is not None:
        alternatives = decode_items(fields.switch, source, path + ("switch",))
        for k, case in enumerate(alternatives):
            if case.fields.if_ is None or case.name is not None:
                raise spec_error(source.at(path + ("switch", k)), f"{_label(name)}: each 'switch' case is an unnamed mapping with an 'if' (and 'op' or 'body'); the node's name is the switch's")
    if fields.else_ is not None:
        otherwise = decode_item(fields.else_, source, path + ("else",))
    return NodeSpec(name=name, fields=fields, items=items, path=path, alternatives=alternatives, otherwise=otherwise)


def _label(name: str | None) -> str:
    return f"node {name!r}" if name is not None else "unnamed item"


def _shape_problem(fields: NodeFields) -> str:
    if fields.switch is not None:
        if fields.op is not None or fields.body is not None or fields.repeat is not None or fields.if_ is not None:
            return "a 'switch' node takes its 'op' or 'body' from its cases: give no 'op', 'body', 'repeat' or 'if' beside it"
        return "" if fields.switch else "'switch' needs at least one case"
    if fields.else_ is not None and fields.if_ is None:
        return "'else' goes with 'if' or 'switch'"
    if fields.as_ is not None and (fields.repeat is None or not fields.as_.isidentifier()):
        return "'as' goes with 'repeat' and names the index (a name such as 'stage')"
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
        raise spec_error(source.at(()), f"a spec must be a mapping at the top level, got {kind_of(source.data, article=False)}")
    errors = Collector()
    spec = None
    try:
        spec = validate_model(SpecFields, source.data, source, ())
    except SpecError as exc:
        errors.add(exc)  # keep going: errors inside the body are independent of these
    if spec is not None:
        if spec.archc != FORMAT_VERSION:
            errors.error(source.at(("archc",)), f"unsupported format version {spec.archc}; this archc reads version {FORMAT_VERSION}")
        if spec.input is not None and spec.inputs is not None:
            errors.error(source.key_at(("inputs",)), "give either 'input' (one shape) or 'inputs' (named shapes), not both")
        elif spec.input is None and spec.inputs is None:
            errors.error(source.at(()), "missing required key 'input' (one shape) or 'inputs' (named shapes)")
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
