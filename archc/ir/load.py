"""IR stage: from a spec file (and chosen variant and params) to a checked Network."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from archc.errors import Collector, Location, SpecError, spec_error
from archc.ir.bind import call_of, evaluate
from archc.ir.expand import Expander, reads_block_count
from archc.ir.graph import Network
from archc.ir.scope import INPUT
from archc.ops import OPS
from archc.spec.expr import did_you_mean
from archc.spec.schema import NodeSpec, SpecFields, parse_spec
from archc.spec.source import Source, load_source, read_spec_text


def load_network(path: str | Path, variant: str | None = None, params: Mapping[str, Any] | None = None) -> Network:
    """Read, validate and expand a spec; raise SpecError with every problem found."""
    source = load_source(read_spec_text(path), str(path))
    return expand_source(source, variant, params or {})


def expand_source(source: Source, variant: str | None, overrides: Mapping[str, Any]) -> Network:
    spec, body, blocks = parse_spec(source)
    check_block_cycles(spec, blocks, source)
    variant_name, params = resolve_params(spec, source, variant, overrides)
    inputs = input_shapes(spec, source, params)
    expander = Expander(spec, body, blocks, source, params, {})
    graph = expander.network(inputs)
    if reads_block_count(spec, body, blocks):
        # `block_count` is only known once every instance is counted: expand again with it.
        totals = dict(expander.block_seen)
        expander = Expander(spec, body, blocks, source, params, totals)
        graph = expander.network(inputs)
        if dict(expander.block_seen) != totals:
            raise spec_error(source.at(("body",)), "the number of block instances depends on block_count itself")
    return Network(spec.name, variant_name, spec.doc, params, graph, source.path)


def resolve_params(
    spec: SpecFields, source: Source, variant: str | None, overrides: Mapping[str, Any],
) -> tuple[str | None, dict[str, Any]]:
    """Defaults, then the variant's presets, then the caller's overrides."""
    errors = Collector()
    chosen = variant if variant is not None else spec.default_variant
    params = dict(spec.params)
    if chosen is not None:
        chosen = str(chosen)
        if chosen not in spec.variants:
            where = source.at(("default_variant",)) if variant is None else source.at(("variants",))
            known = ", ".join(spec.variants) or "(none)"
            raise spec_error(where, f"unknown variant {chosen!r}{did_you_mean(chosen, spec.variants)}", f"variants: {known}")
        for key, value in spec.variants[chosen].items():
            if key not in params:
                errors.error(source.key_at(("variants", chosen, key)), f"variant {chosen!r} sets unknown param {key!r}{did_you_mean(key, params)}")
            params[key] = value
    elif spec.variants:
        raise spec_error(source.at(("variants",)), "this spec has variants: choose one or set 'default_variant'", f"variants: {', '.join(spec.variants)}")
    for key, value in overrides.items():
        if key not in spec.params:
            errors.error(source.key_at(("params",)), f"unknown param {key!r}{did_you_mean(key, spec.params)}", f"params: {', '.join(spec.params) or '(none)'}")
        params[key] = value
    errors.raise_if_any()
    return chosen, {k: _frozen(v) for k, v in params.items()}


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def input_shapes(spec: SpecFields, source: Source, params: dict[str, Any]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    named = {INPUT: spec.input} if spec.input is not None else dict(spec.inputs or {})
    result = []
    for name, dims in named.items():
        base = ("input",) if spec.input is not None else ("inputs", name)
        shape = tuple(evaluate(d, params, source.at(base + (i,))) for i, d in enumerate(dims))
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise spec_error(source.at(base), f"input shape must be positive ints (channels first, no batch), got {list(shape)}")
        result.append((name, shape))
    return tuple(result)


def check_block_cycles(spec: SpecFields, blocks: dict[str, tuple[NodeSpec, ...]], source: Source) -> None:
    """A block that uses itself, directly or through others, is an error naming the cycle."""
    uses = {name: _called_blocks(items, blocks, source) for name, items in blocks.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name):] + [name]
            raise spec_error(source.key_at(("blocks", cycle[0])), f"block {cycle[0]!r} uses itself: {' -> '.join(cycle)}")
        if name in done:
            return
        for callee in uses[name]:
            visit(callee, path + [name])
        done.add(name)

    for name in blocks:
        visit(name, [])


def _called_blocks(items: tuple[NodeSpec, ...], blocks: dict[str, Any], source: Source) -> list[str]:
    called = []
    for s in items:
        if s.fields.op is not None:
            try:
                name = call_of(s.fields.op, Location(source.path, 1, 1)).name
            except SpecError:
                continue  # reported with its location during expansion
            if name in blocks and name not in OPS:
                called.append(name)
        if s.items:
            called += _called_blocks(s.items, blocks, source)
    return called
