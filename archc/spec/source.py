"""Spec stage: YAML loading that keeps every value's source position.

The result is plain data (dicts with string keys, lists, scalars) plus a table from
each value's path to its location, so later stages can point at the exact key or value
a problem comes from. Only YAML's safe core schema is accepted: no Python tags, and
duplicate keys, which PyYAML would silently collapse, are errors that name both places.
"""
from __future__ import annotations

import os
import re
import select
import stat
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from archc.errors import Collector, Location, SpecError, spec_error
from archc.spec.limits import DEFAULT_LIMITS

DataPath = tuple[str | int, ...]
# The builder below recurses once per level; real specs nest fewer than 20 levels.
MAX_YAML_DEPTH = 128
# What YAML counts as the end of a line, so positions agree with PyYAML's marks.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


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


def _read_at_most(f: Any, limit: int) -> bytes:
    """At most `limit` bytes of the file.

    A regular file is read in a buffer of its own size, not of the limit: a 4 MiB buffer for
    a 3 KB spec, shrunk after the read, gives glibc's malloc a large free chunk that can make
    it return the freed heap to the system, so that the next model's weights fault in fresh
    pages (a third of ResNet-152's build time). A file that grows while it is read is read on
    to the limit. st_size says 0 for /dev/zero and pipes: those are read to the limit at once.
    """
    info = os.fstat(f.fileno())
    if not stat.S_ISREG(info.st_mode) or info.st_size >= limit:
        return f.read(limit)
    raw = f.read(info.st_size + 1)
    if len(raw) <= info.st_size:
        return raw
    return raw + f.read(limit - len(raw))


# How long a named pipe may stay without a writer, or a writer without writing, before archc
# gives up on it: opening one for reading waits for a writer, forever where none comes.
FIFO_WAIT_SECONDS = 10.0


def _read_fifo(path: FsPath, limit: int, where: Location) -> bytes:
    """At most `limit` bytes of a named pipe, read until its writer closes it; a SpecError
    when no byte comes for FIFO_WAIT_SECONDS (no writer, or a writer that went quiet)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # returns at once, writer or not
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        chunks: list[bytes] = []
        total = 0
        while total < limit:
            if not poller.poll(FIFO_WAIT_SECONDS * 1000):
                raise spec_error(where, f"a named pipe that nothing wrote to for {FIFO_WAIT_SECONDS:.0f} s")
            try:
                chunk = os.read(fd, min(1 << 16, limit - total))
            except BlockingIOError:
                continue
            if not chunk:
                break  # the writer closed it
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_spec_text(path: str | FsPath, max_bytes: int = DEFAULT_LIMITS.max_file_bytes) -> str:
    """Read a spec file as UTF-8 text, turning every I/O problem into a SpecError."""
    name = str(path)
    where = Location(name, 1, 1)
    p = FsPath(path)
    try:
        if p.is_dir():
            raise spec_error(where, "is a directory, not a spec file")
        if p.is_fifo():
            raw = _read_fifo(p, max_bytes + 1, where)
        else:
            with p.open("rb") as f:
                raw = _read_at_most(f, max_bytes + 1)
    except FileNotFoundError:
        raise spec_error(where, "no such file") from None
    except PermissionError:
        raise spec_error(where, "permission denied") from None
    except OSError as exc:
        raise spec_error(where, f"cannot read file: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise spec_error(where, f"spec file is larger than {max_bytes:,} bytes (Limits.max_file_bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = len(raw[: exc.start].rsplit(b"\n", 1)[-1].decode("utf-8", "replace")) + 1
        raise spec_error(Location(name, line, col), f"file is not valid UTF-8 text (byte 0x{raw[exc.start]:02x})") from None


def load_source(text: str, path: str, max_values: int = DEFAULT_LIMITS.max_yaml_values) -> Source:
    """Parse YAML text with positions; raise SpecError on any YAML problem."""
    try:
        _prescan(text, path, max_values)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, path) from None
    except yaml.reader.ReaderError as exc:  # a control character; it knows its offset only
        breaks = list(_LINE_BREAK.finditer(text, 0, exc.position))
        col = exc.position - (breaks[-1].end() if breaks else 0) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise spec_error(Location(path, len(breaks) + 1, col), f"invalid YAML: control character U+{code:04X} is not allowed") from None
    except yaml.YAMLError as exc:
        raise spec_error(Location(path, 1, 1), f"invalid YAML: {exc}") from None
    except RecursionError:
        raise spec_error(Location(path, 1, 1), "YAML is nested too deeply") from None
    except (ValueError, OverflowError):  # PyYAML's chr() of an escape past U+10FFFF ("\UFFFFFFFF")
        raise _bad_escape(text, path) from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag.endswith(":null") and root.value == ""):
        raise spec_error(Location(path, 1, 1), "empty spec file; expected a mapping")
    _check_expansion(root, path, max_values)
    _check_surrogates(root, path)
    source = Source(path, None)
    builder = _Builder(source, max_values, text)
    data = builder.convert(root, (), 0)
    builder.unbalanced.raise_if_any()  # every quoting mistake at once (Inception v3 had eight)
    return Source(path, data, source.value_marks, source.key_marks)


_OPENERS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSERS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _prescan(text: str, path: str, max_values: int) -> None:
    """Refuse deep nesting and huge documents from PyYAML's token stream, before composing.

    PyYAML's scanner slows down quadratically with flow nesting (`[[[[...`: 20,000 levels
    take half a minute) and composing a 4 MB list of numbers takes seconds and a gigabyte;
    counting tokens stops both early. The builder below checks the same limits exactly.
    """
    if _FAST_LOADER is not None:
        try:
            _count_tokens(text, path, max_values, _FAST_LOADER)
            return
        except yaml.YAMLError:
            pass  # libyaml's own message: PyYAML's scanner below reports the problem as everywhere else
    _count_tokens(text, path, max_values, yaml.SafeLoader)


# libyaml's scanner, where PyYAML was built with it: the same tokens, ten times faster, so a
# 4 MiB document of a million values is refused in a fraction of a second.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _count_tokens(text: str, path: str, max_values: int, loader: Any) -> None:
    depth = values = 0
    after_key = False
    for token in yaml.scan(text, Loader=loader):
        if isinstance(token, _OPENERS):
            depth += 1
            values += 1
        elif isinstance(token, _CLOSERS):
            depth -= 1
        elif isinstance(token, yaml.ScalarToken) and not after_key:
            values += 1
        after_key = isinstance(token, yaml.KeyToken)
        # The document's root collection opens one level that the builder counts as 0.
        if depth > MAX_YAML_DEPTH + 1:
            raise spec_error(_location(path, token.start_mark), f"YAML is nested more than {MAX_YAML_DEPTH} levels deep")
        if values > max_values:
            raise _too_many(_location(path, token.start_mark), max_values)


def _bad_escape(text: str, path: str) -> SpecError:
    """The escape that names no Unicode character, at its backslash: PyYAML fails in chr()
    with its reader on the escape's hex digits, two characters past the backslash."""
    scanner = yaml.SafeLoader(text)
    try:
        while scanner.check_token():
            scanner.get_token()
    except (ValueError, OverflowError):
        mark = scanner.get_mark()
        where = Location(path, mark.line + 1, max(mark.column - 1, 1))
        escape = text[mark.index - 2 : mark.index + 8]
        return spec_error(where, f"invalid YAML: escape {escape} is past the last Unicode character (\\U0010FFFF)")
    except yaml.YAMLError:
        pass
    return spec_error(Location(path, 1, 1), "invalid YAML: an escape that names no Unicode character")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_surrogates(root: yaml.Node, path: str) -> None:
    """Refuse a lone surrogate (a `"\\ud800"` escape) in any key or value: it is no character,
    so no UTF-8 file, generated module or diagram could hold the name or doc it is in."""
    seen: set[int] = set()
    stack, found = [root], []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            match = _SURROGATE.search(node.value)
            if match:
                found.append((node.start_mark.index, node.start_mark, ord(match.group())))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in node.value for item in pair)
        else:
            stack.extend(_children(node))
    if found:
        _, mark, code = min(found, key=lambda f: f[0])
        raise spec_error(_location(path, mark),
                         f"invalid text: U+{code:04X} is a lone surrogate, not a character; "
                         "write the character itself, or its \\U escape (\\U0001F600)")


def _too_many(where: Location, max_values: int) -> SpecError:
    return spec_error(where, f"document expands to more than {max_values:,} values (YAML aliases?) (Limits.max_yaml_values)")


def _check_expansion(root: yaml.Node, path: str, max_values: int) -> None:
    """Aliases let ten lines stand for 10^9 values: size the expanded tree before building it,
    and point at the value where the count passes the limit, as the builder would."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:  # depth is bounded by the prescan
        if id(node) not in sizes:
            sizes[id(node)] = 0  # an alias of an enclosing node (a cycle) adds nothing
            sizes[id(node)] = 1 + sum(size(child) for child in _children(node))
        return sizes[id(node)]

    if size(root) <= max_values:
        return
    node, before = root, 0
    while True:
        before += 1  # `node` itself
        if before > max_values:
            raise _too_many(_location(path, node.start_mark), max_values)
        for child in _children(node):
            if before + size(child) > max_values:
                node = child
                break
            before += size(child)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [value for _, value in node.value]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _yaml_error(exc: yaml.MarkedYAMLError, path: str) -> SpecError:
    """PyYAML's problem at its place, with where the unfinished construct began as a note."""
    mark = exc.problem_mark or exc.context_mark
    loc = _location(path, mark) if mark else Location(path, 1, 1)
    problem, context = exc.problem or "", exc.context or ""
    began = _location(path, exc.context_mark) if exc.context_mark else None
    notes: list[str] = []
    if problem == "second occurrence" and began:  # a repeated anchor
        problem = context.split(";")[0].replace("found ", "")
        notes.append(f"first defined at {began}")
    elif problem.startswith("but "):  # "expected a single document ..., but found another document"
        problem = f"{context}, {problem}"
    elif context and began and began != loc:
        notes.append(f"{context} started at {began}")
    if "'\\t'" in problem:
        problem += "; indent with spaces, YAML does not allow tabs there"
    return spec_error(loc, f"invalid YAML: {problem or context}", *notes)


def _location(path: str, mark: yaml.Mark) -> Location:
    return Location(path, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns a composed YAML node tree into plain data, recording marks on the way."""

    def __init__(self, source: Source, max_values: int, text: str = "") -> None:
        self.source = source
        self.text = text
        self.count = 0
        self.max_values = max_values
        self.constructor = yaml.SafeLoader("")
        # Calls split by flow-collection commas: independent mistakes, reported together.
        self.unbalanced = Collector()
        self.split_open = False  # the last scalar opened a call that a comma split

    def convert(self, node: yaml.Node, path: DataPath, depth: int) -> Any:
        self.count += 1
        if self.count > self.max_values:  # unreachable after _check_expansion; kept as the invariant
            raise _too_many(self.loc(node), self.max_values)
        if depth > MAX_YAML_DEPTH:
            raise spec_error(self.loc(node), f"YAML is nested more than {MAX_YAML_DEPTH} levels deep")
        self.source.value_marks[path] = self.inner_loc(node)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise _tag_error(self.loc(node), node.tag)
            return [self.convert(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def loc(self, node: yaml.Node) -> Location:
        return _location(self.source.path, node.start_mark)

    def inner_loc(self, node: yaml.Node) -> Location:
        # Inside the quotes, so offsets into an expression or name template line up with its text.
        loc = self.loc(node)
        if not isinstance(node, yaml.ScalarNode):
            return loc
        chars = _char_positions(self.text, node)
        if chars is not None:  # over several lines, or with escapes: each character's own place
            return Location(loc.path, *chars[0], chars)
        return loc.shifted(1) if node.style in ("'", '"') else loc

    def mapping(self, node: yaml.MappingNode, path: DataPath, depth: int) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise _tag_error(self.loc(node), node.tag)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise spec_error(self.loc(key_node), "YAML merge keys ('<<') are not supported; write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise spec_error(self.loc(key_node), "mapping keys must be plain names, not collections")
            self.scalar(key_node)  # refuses tags
            # The key as written: `true:` names a node 'true', not 'True'.
            key = key_node.value
            if key in result:
                first = self.source.key_marks[path + (key,)]
                raise spec_error(self.inner_loc(key_node), f"duplicate key {key!r}", f"first defined at {first}")
            self.source.key_marks[path + (key,)] = self.inner_loc(key_node)
            result[key] = self.convert(value_node, path + (key,), depth + 1)
        return result

    def scalar(self, node: yaml.Node) -> Any:
        opened = self.split_open
        self.split_open = False
        if opened and node.style is None and isinstance(node.value, str) and node.value.count("(") == node.value.count(")") == 0:
            self.split_open = True  # a middle argument of the same split call
        elif node.style is None and isinstance(node.value, str) and node.value.count("(") != node.value.count(")"):
            self.split_open = node.value.count("(") > node.value.count(")")
            if opened and not self.split_open:
                return node.value  # the rest of a call already reported at its start
            self.unbalanced.error(
                self.loc(node),
                f"unbalanced parentheses in {node.value!r}: inside YAML [...] and {{...}} commas split values, "
                "so write calls with several arguments in quotes there",
            )
        if node.tag not in _SAFE_SCALAR_TAGS:
            raise _tag_error(self.loc(node), node.tag)
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise spec_error(self.loc(node), f"invalid value: {exc}") from None


def _char_positions(text: str, node: yaml.ScalarNode) -> tuple[tuple[int, int], ...] | None:
    """(line, col) of each character of a scalar's value and of its end, where they are not
    simply one after another on the scalar's first line; None where they are.

    YAML folds line breaks into spaces, strips indentation and decodes escapes, so the value's
    characters are matched in order against the source's: each escape counts as the one
    character it stands for, a line break as a space or a newline, and anything else the
    value lacks (indentation, quotes, a block header) is passed over.
    """
    start, end = node.start_mark.index, node.end_mark.index
    raw = text[start:end]
    escaped = (node.style == '"' and "\\" in raw) or (node.style == "'" and "''" in raw)
    if not text or not (escaped or _LINE_BREAK.search(raw)):
        return None
    places = _raw_places(raw, node.start_mark.line + 1, node.start_mark.column + 1)
    units = _units(raw, node.style)
    positions: list[tuple[int, int]] = []
    j = 0
    for ch in node.value:
        while j < len(units):
            index, produced = units[j]
            j += 1
            if produced == ch or (produced == "\n" and ch in " \n"):
                positions.append(places[index])
                break
        else:  # cannot happen for a value PyYAML made from this text; point at the last match
            positions.append(positions[-1] if positions else places[0])
    positions.append(places[units[j][0]] if j < len(units) else places[len(raw)])
    return tuple(positions)


def _raw_places(raw: str, line: int, col: int) -> list[tuple[int, int]]:
    """(line, col) of each index of `raw` and of its end, counting line breaks as YAML does."""
    places = []
    i = 0
    while i <= len(raw):
        places.append((line, col))
        brk = _LINE_BREAK.match(raw, i) if i < len(raw) else None
        if brk:
            places += [(line, col + 1)] * (brk.end() - i - 1)  # the \n of \r\n
            i, line, col = brk.end(), line + 1, 1
        else:
            i, col = i + 1, col + 1
    return places


def _units(raw: str, style: str | None) -> list[tuple[int, str]]:
    """The source characters of a scalar as (index, the character they stand for); line breaks
    as "\n". An opening quote and a block scalar's header line are skipped; a double-quoted escape is one unit."""
    first = 1 if style in ("'", '"') else 0
    if style in ("|", ">"):
        brk = _LINE_BREAK.search(raw)
        first = brk.end() if brk else len(raw)
    units: list[tuple[int, str]] = []
    i = first
    while i < len(raw):
        brk = _LINE_BREAK.match(raw, i)
        if brk:
            units.append((i, "\n"))
            i = brk.end()
        elif style == '"' and raw[i] == "\\" and i + 1 < len(raw):
            units.append((i, _escape(raw, i)))
            i += 2 + _ESCAPE_CODES.get(raw[i + 1], 0)
        else:
            units.append((i, raw[i]))
            i += 1
    return units


_ESCAPE_CODES = yaml.scanner.Scanner.ESCAPE_CODES  # \x41, \u0041, \U00000041: hex digits after


def _escape(raw: str, i: int) -> str:
    """The character the escape at raw[i] stands for ("" for an escaped line break)."""
    code = raw[i + 1]
    if code in _ESCAPE_CODES:
        digits = raw[i + 2 : i + 2 + _ESCAPE_CODES[code]]
        try:
            return chr(int(digits, 16))
        except ValueError:
            return ""
    return yaml.scanner.Scanner.ESCAPE_REPLACEMENTS.get(code, "")


def _tag_error(where: Location, tag: str) -> SpecError:
    if tag == "tag:yaml.org,2002:timestamp":
        # PyYAML reads an unquoted 2024-01-31 as a date.
        return spec_error(where, "dates are not supported; quote the value to write a string")
    return spec_error(where, f"unsupported YAML tag {tag!r}; specs hold plain data only")


_SAFE_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null")
)
