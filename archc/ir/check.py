"""IR stage: checks of every body, before expansion and without shapes.

Expansion only sees the blocks a network uses, and stops reading a sequence's later nodes
once one fails (they would read a node whose shape is unknown). These checks read every
item of every block and of the network, used or not, for the mistakes that need no shapes:
a call that does not parse, an op or block that does not exist, a `from` naming no node of
its sequence. Their messages and places are the expansion's, so the two agree. A node
under `if` is checked for syntax only: the rest is checked where it is present.
"""
from __future__ import annotations

from archc.errors import Collector, Diagnostic, SpecError, spec_error
from archc.ir.bind import call_of
from archc.ir.scope import INPUT
from archc.ops import OPS
from archc.spec.expr import did_you_mean
from archc.spec.schema import NodeSpec, SpecFields
from archc.spec.source import DataPath, Source


def check_bodies(spec: SpecFields, body: tuple[NodeSpec, ...], blocks: dict[str, tuple[NodeSpec, ...]], source: Source) -> list[Diagnostic]:
    """Diagnostics for every body (the network's and each block's), in source order."""
    errors = Collector()
    inputs = {INPUT} if spec.inputs is None else set(spec.inputs)
    _check_sequence(body, set(spec.params), inputs, blocks, source, errors)
    for name, items in blocks.items():
        block_params = set(spec.params) | set(spec.blocks[name].params) if name in spec.blocks else set(spec.params)
        declared = spec.blocks[name].inputs if name in spec.blocks else None
        _check_sequence(items, block_params, set(declared or [INPUT]), blocks, source, errors)
    return errors.diagnostics


def _check_sequence(items: tuple[NodeSpec, ...], params: set[str], visible: set[str], blocks: dict[str, tuple[NodeSpec, ...]], source: Source, errors: Collector) -> None:
    names = _defined(items)
    lenient = any("{" in n for n in names)  # templated names are only known once expanded
    seen = set(visible)
    for s in items:
        _check_from(s, names | visible, seen, lenient, source, errors)
        for case in _cases(s):
            _check_call(case, params, blocks, source, errors)
            if case.items is not None:
                inner = (seen | names) if case.name is None else {INPUT}
                _check_sequence(case.items, params | ({case.fields.as_} if case.fields.as_ else set()) | {"i"}, inner, blocks, source, errors)
        seen |= set(_defined((s,)))


def _cases(s: NodeSpec) -> tuple[NodeSpec, ...]:
    """The item, or the cases of a switch / if-else, each of which may be the node."""
    cases = (s,) if s.alternatives is None else s.alternatives
    return cases + ((s.otherwise,) if s.otherwise is not None else ())


def _check_call(s: NodeSpec, params: set[str], blocks: dict[str, tuple[NodeSpec, ...]], source: Source, errors: Collector) -> None:
    if s.fields.op is None:
        return
    where = source.value_marks.get(s.path + ("op",)) or source.at(s.path)
    try:
        call = call_of(s.fields.op, where)
    except SpecError as exc:
        errors.add(exc)
        return
    if call.name in OPS or call.name in blocks or call.name in params or s.fields.if_ is not None:
        # A param may name the op or block to use; its value is checked when expanded. A
        # node under `if` may name what exists only where it is present (a block still to write).
        return
    errors.error(where.shifted(call.name_offset), f"unknown op or block {call.name!r}{did_you_mean(call.name, list(OPS) + list(blocks))}")


def _check_from(s: NodeSpec, known: set[str], seen: set[str], lenient: bool, source: Source, errors: Collector) -> None:
    raw = s.fields.from_
    if raw is None or s.fields.if_ is not None:
        return
    refs = raw if isinstance(raw, list) else [raw]
    for k, ref in enumerate(refs):
        head = str(ref).partition(".")[0]
        if "{" in str(ref) or head.isdigit() or head in known or lenient:
            continue
        path: DataPath = s.path + ("from",) + ((k,) if isinstance(raw, list) else ())
        notes = [] if did_you_mean(head, sorted(seen)) else [f"nodes before this one: {', '.join(sorted(n for n in seen if n)) or '(none)'}"]
        errors.error(source.at(path), f"unknown node {head!r}{did_you_mean(head, sorted(seen))}", *notes)


def _defined(items: tuple[NodeSpec, ...]) -> set[str]:
    """Names a sequence defines: its named items and those of its spliced groups and repeats."""
    names: set[str] = set()
    for s in items:
        if s.name is not None:
            names.add(s.name)
        elif s.items:
            names |= _defined(s.items)
        if s.fields.names:
            names.add(s.fields.names)
    return names


def raise_merged(static: list[Diagnostic], error: SpecError | None) -> None:
    """Raise the expansion's errors and the static ones it did not reach (one per place)."""
    found = list(error.diagnostics) if error is not None else []
    places = {d.location for d in found}
    found += [d for d in static if d.location not in places]
    if found:
        raise SpecError(found)
