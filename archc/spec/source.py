"""Spec stage: YAML loading that keeps every value's source position.

The result is plain data (dicts with string keys, lists, scalars) plus a table from
each value's path to its location, so later stages can point at the exact key or value
a problem comes from. Only YAML's safe core schema is accepted: no Python tags, and
duplicate keys, which PyYAML would silently collapse, are errors that name both places.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from archc.errors import Location, SpecError, spec_error

DataPath = tuple[str | int, ...]
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_YAML_NODES = 200_000


@dataclass(frozen=True)
class Source:
    """A loaded spec document: its data and where each piece of it came from."""

    path: str
    data: Any
    value_marks: dict[DataPath, Location] = field(default_factory=dict)
    key_marks: dict[DataPath, Location] = field(default_factory=dict)

    def at(self, path: DataPath) -> Location:
        """The location of the value at `path`, or of its nearest located parent."""
        for end in range(len(path), -1, -1):
            found = self.value_marks.get(path[:end])
            if found is not None:
                return found
        return Location(self.path, 1, 1)

    def key_at(self, path: DataPath) -> Location:
        """The location of the mapping key that introduces `path`."""
        return self.key_marks.get(path) or self.at(path)


def read_spec_text(path: str | FsPath) -> str:
    """Read a spec file as UTF-8 text, turning every I/O problem into a SpecError."""
    name = str(path)
    where = Location(name, 1, 1)
    p = FsPath(path)
    try:
        if p.is_dir():
            raise spec_error(where, "is a directory, not a spec file")
        if p.stat().st_size > MAX_FILE_BYTES:
            raise spec_error(where, f"spec file is larger than {MAX_FILE_BYTES} bytes")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise spec_error(where, "no such file") from None
    except PermissionError:
        raise spec_error(where, "permission denied") from None
    except OSError as exc:
        raise spec_error(where, f"cannot read file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise spec_error(Location(name, line, 1), "file is not valid UTF-8 text") from None


def load_source(text: str, path: str) -> Source:
    """Parse YAML text with positions; raise SpecError on any YAML problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _location(path, mark) if mark else Location(path, 1, 1)
        raise spec_error(loc, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise spec_error(Location(path, 1, 1), f"invalid YAML: {exc}") from None
    except RecursionError:
        raise spec_error(Location(path, 1, 1), "YAML is nested too deeply") from None
    if root is None:
        raise spec_error(Location(path, 1, 1), "empty spec file; expected a mapping")
    source = Source(path, None)
    builder = _Builder(source)
    data = builder.convert(root, ())
    return Source(path, data, source.value_marks, source.key_marks)


def _location(path: str, mark: yaml.Mark) -> Location:
    return Location(path, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns a composed YAML node tree into plain data, recording marks on the way."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def convert(self, node: yaml.Node, path: DataPath) -> Any:
        self.count += 1
        if self.count > MAX_YAML_NODES:
            # Aliases let a small file expand to billions of values; count expanded nodes.
            raise spec_error(self.loc(node), f"document expands to more than {MAX_YAML_NODES} values (YAML aliases?)")
        loc = self.loc(node)
        if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
            # Point inside the quotes, so offsets into an expression line up with its text.
            loc = loc.shifted(1)
        self.source.value_marks[path] = loc
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise spec_error(self.loc(node), f"unsupported YAML tag {node.tag!r}; specs hold plain data only")
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def loc(self, node: yaml.Node) -> Location:
        return _location(self.source.path, node.start_mark)

    def mapping(self, node: yaml.MappingNode, path: DataPath) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise spec_error(self.loc(node), f"unsupported YAML tag {node.tag!r}")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise spec_error(self.loc(key_node), "YAML merge keys ('<<') are not supported; write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise spec_error(self.loc(key_node), "mapping keys must be plain names, not collections")
            key = str(self.scalar(key_node))
            if key in result:
                first = self.source.key_marks[path + (key,)]
                raise spec_error(self.loc(key_node), f"duplicate key {key!r}", f"first defined at {first}")
            self.source.key_marks[path + (key,)] = self.loc(key_node)
            result[key] = self.convert(value_node, path + (key,))
        return result

    def scalar(self, node: yaml.Node) -> Any:
        if node.style is None and isinstance(node.value, str) and node.value.count("(") != node.value.count(")"):
            raise spec_error(
                self.loc(node),
                f"unbalanced parentheses in {node.value!r}: inside YAML [...] and {{...}} commas split values, "
                "so write calls with several arguments in quotes there",
            )
        if node.tag not in _SAFE_SCALAR_TAGS:
            raise spec_error(self.loc(node), f"unsupported YAML tag {node.tag!r}; specs hold plain data only")
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise spec_error(self.loc(node), f"invalid value: {exc}") from None


_SAFE_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null")
)
