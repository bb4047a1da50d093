"""IR stage: from a spec file (and chosen variant and params) to a checked Network."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from archc.ir.cache import BoundedCache, node_count
from archc.errors import Collector, Location, SpecError, spec_error
from archc.ir.bind import call_of, evaluate, expression_names, param_value
from archc.ir.expand import Expander, reads_block_count
from archc.ir.check import check_bodies, raise_merged
from archc.ops.plugins import load_entry_points
from archc.ir.graph import Network
from archc.ir.init_plan import resolve_init
from archc.ir.scope import INPUT, input_names_env
from archc.ops import OPS
from archc.shapes.constraints import symbolic_inputs
from archc.shapes.symbolic import SymShape, Tracer
from archc.spec.expr import did_you_mean
from archc.spec.names import name_problem, variant_problem
from archc.spec.limits import DEFAULT_LIMITS, Limits
from archc.spec.schema import BlockFields, NodeSpec, SpecFields, described, parse_spec
from archc.spec.source import Source, load_source, read_spec_text


def load_network(
    path: str | Path, variant: str | None = None, params: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
) -> Network:
    """Read, validate and expand a spec; raise SpecError with every problem found."""
    limits = limits or DEFAULT_LIMITS
    load_entry_points()  # ops from installed packages, once
    text = read_spec_text(path, limits.max_file_bytes)
    key = _cache_key(text, str(path), variant, params or {}, limits)
    cached = _CACHE.get(key) if key is not None else None
    if cached is not None:
        return _fresh(cached[0])
    source = load_source(text, str(path), limits.max_yaml_values)
    try:
        network = expand_source(source, variant, params or {}, limits)
    except RecursionError:
        # Only reachable with limits raised far above the defaults (nesting is bounded by them).
        raise spec_error(source.at(("body",)), "the spec nests too deeply to expand (Limits.max_nesting)") from None
    if key is not None:
        _CACHE.put(key, (network, tuple(OPS.values())), node_count(network.graph))  # the ops are kept alive: their ids are in the key
    return _fresh(network)


# Expanded networks by (the file text's hash, path, variant, params, limits, registered ops): building the
# same spec again (a sweep, a test suite, `archc emit` after `archc.build`) skips loading and
# expansion. Every part of a Network is immutable except its two dicts, which each caller gets
# fresh copies of (_fresh).
_CACHE: BoundedCache[tuple[Network, tuple[Any, ...]]] = BoundedCache(entries=32, nodes=50_000)


def _cache_key(text: str, path: str, variant: str | None, params: Mapping[str, Any], limits: Limits) -> tuple[Any, ...] | None:
    """The key of a load, or None where a param value is not plain data (never cached)."""
    try:
        values = tuple(sorted((str(k), _typed(v)) for k, v in params.items()))
        digest = hashlib.sha256(text.encode()).digest()
        key = (digest, path, variant, values, limits, tuple((name, id(op)) for name, op in OPS.items()))
        hash(key)
    except (TypeError, _NotPlain):
        return None
    return key


class _NotPlain(Exception):
    pass


def _typed(value: Any, depth: int = 0) -> Any:
    """A hashable value that tells True from 1 and 1.0 (equal in Python, different params)."""
    if isinstance(value, (list, tuple)) and depth < 32:
        return ("seq", tuple(_typed(v, depth + 1) for v in value))
    if value is None or type(value) in (bool, int, float, str):
        return (type(value).__name__, value)
    raise _NotPlain()


def _fresh(network: Network) -> Network:
    """`network` with its own copies of the mutable parts (params, init plan)."""
    return replace(network, params=dict(network.params), init_plan={k: dict(v) for k, v in network.init_plan.items()})


def expand_source(source: Source, variant: str | None, overrides: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Network:
    spec, body, blocks = parse_spec(source)
    check_names(spec, source)
    check_block_cycles(spec, blocks, source)
    variant_name, params = resolve_params(spec, source, variant, overrides)
    inputs = symbolic_inputs(input_shapes(spec, source, params))
    static = check_bodies(spec, body, blocks, source)  # every block, used or not
    expander = _expander(spec, body, blocks, source, params, {}, limits, inputs)
    try:
        graph = expander.network(inputs)
    except SpecError as exc:
        raise_merged(static, exc)
    raise_merged(static, None)
    if reads_block_count(spec, body, blocks):
        # `block_count` is only known once every instance is counted: expand again with it.
        totals = dict(expander.block_seen)
        expander = _expander(spec, body, blocks, source, params, totals, limits, inputs)
        graph = expander.network(inputs)
        if dict(expander.block_seen) != totals:
            raise spec_error(source.at(("body",)), "the number of block instances depends on block_count itself")
    plan = resolve_init(spec.init, graph, params, source)
    return Network(
        spec.name, variant_name, spec.doc, params, graph, source.path, init_plan=plan, location=source.at(("name",)),
        block_defaults={b: {p: d for p, d in f.params.items() if type(d) in (int, float, bool)} for b, f in spec.blocks.items()},
        variants=tuple(sorted(spec.variants, key=lambda v: v != spec.default_variant)),
        recipe=(source.data, variant_name, dict(overrides), limits),
    )


def _expander(spec: SpecFields, body: Any, blocks: Any, source: Source, params: dict[str, Any], totals: dict[str, int],
              limits: Limits, inputs: tuple[tuple[str, Any], ...]) -> Expander:
    expander = Expander(spec, body, blocks, source, params, totals, limits)
    if any(isinstance(shape, SymShape) for _, shape in inputs):
        expander.tracer = Tracer()  # the input's sizes vary: record what the shape rules assume
    return expander


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
        elif not _plain(value):
            errors.error(source.key_at(("params", key)), f"param {key!r} must be a number, string, bool, null or list of them, got {described(value)}")
        params[key] = value
    errors.raise_if_any()
    return chosen, _evaluated(params, spec, source, chosen, overrides)


def _evaluated(params: dict[str, Any], spec: SpecFields, source: Source, variant: str | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Param values that are expressions over other params (`hidden: dim * 4`), evaluated
    after variants and overrides, each once the params it reads are known (bind.param_value)."""
    def where(key: str) -> Location:
        from_variant = key not in overrides and variant is not None and key in spec.variants[variant]
        return source.at(("variants", variant, key) if from_variant else ("params", key))

    errors = Collector()
    result: dict[str, Any] = {}
    pending = {k: _read_params(v, set(params)) for k, v in params.items()}
    while pending:
        ready = [k for k, reads in pending.items() if reads <= set(result)]
        if not ready:
            key = next(iter(pending))
            raise spec_error(where(key), f"params read each other in a cycle: {', '.join(pending)}")
        for key in ready:
            del pending[key]
            try:
                result[key] = _frozen(param_value(params[key], result, where(key)))
            except SpecError as exc:
                errors.add(exc)
                result[key] = _frozen(params[key])
    errors.raise_if_any()
    return {k: result[k] for k in params}


def _read_params(value: Any, names: set[str]) -> set[str]:
    """The params an expression-valued param reads (none for a plain string or number)."""
    if isinstance(value, (list, tuple)):
        return set().union(*(_read_params(v, names) for v in value)) if value else set()
    read = expression_names(value) if isinstance(value, str) else frozenset()
    return set(read) if read <= names else set()


def _plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, (list, tuple)):
        return depth < 32 and all(_plain(v, depth + 1) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def input_shapes(spec: SpecFields, source: Source, params: dict[str, Any]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    named = {INPUT: spec.input} if spec.input is not None else dict(spec.inputs or {})
    if not named:
        raise spec_error(source.at(("inputs",)), "'inputs' needs at least one named input shape")
    errors = Collector()
    result = []
    for name, dims in named.items():
        base = ("input",) if spec.input is not None else ("inputs", name)
        try:
            result.append((name, _shape(dims, base, source, params)))
        except SpecError as exc:
            errors.add(exc)
    errors.raise_if_any()
    return tuple(result)


def _shape(dims: list[Any], base: tuple[str, ...], source: Source, params: dict[str, Any]) -> tuple[int, ...]:
    if not dims:
        raise spec_error(source.at(base), "an input shape needs at least one dim (channels first, no batch)")
    shape = []
    for i, d in enumerate(dims):
        value = evaluate(d, params, source.at(base + (i,)))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise spec_error(source.at(base + (i,)), f"input dims must be positive ints (channels first, no batch), got {value!r}")
        shape.append(value)
    return tuple(shape)


def check_names(spec: SpecFields, source: Source) -> None:
    """Every name the spec supplies, by the one rule (archc.spec.names), each at its key.

    Node names, which templates may make, are checked as each node is expanded.
    """
    errors = Collector()

    def check(name: str, path: tuple[Any, ...], what: str) -> None:
        problem = name_problem(name, what)
        if problem:
            errors.error(source.key_at(path), problem)

    for name, block in spec.blocks.items():
        if name in OPS:
            errors.error(source.key_at(("blocks", name)), f"block {name!r} has the name of an op; rename the block")
        else:
            check(name, ("blocks", name), "block")
        for param in block.params:
            check(param, ("blocks", name, "params", param), "param")
        _check_block_inputs(name, block, spec, source, errors)
    for param in spec.params:
        check(param, ("params", param), "param")
    for variant, values in spec.variants.items():
        problem = variant_problem(variant)
        if problem:
            errors.error(source.key_at(("variants", variant)), problem)
    for name in spec.inputs or {}:
        if name != INPUT:
            check(name, ("inputs", name), "input")
    for name in spec.outputs or {}:
        check(name, ("outputs", name), "output")
    errors.raise_if_any()


def _check_block_inputs(name: str, block: BlockFields, spec: SpecFields, source: Source, errors: Collector) -> None:
    """A block's `inputs`: names by the one rule, each once; their shape names (`x_prev_shape`,
    `x_prev_channels`) may not be hidden by a param of the same name."""
    if block.inputs is None:
        return
    if not block.inputs:
        errors.error(source.at(("blocks", name, "inputs")), f"block {name!r}: 'inputs' needs at least one name")
    seen: set[str] = set()
    for k, input_name in enumerate(block.inputs):
        where = source.at(("blocks", name, "inputs", k))
        problem = name_problem(input_name, "input")
        if problem:
            errors.error(where, problem)
        elif input_name in seen:
            errors.error(where, f"block {name!r} names input {input_name!r} twice")
        for word in input_names_env(input_name):
            if word in block.params or word in spec.params:
                errors.error(where, f"input {input_name!r} gives the name {word!r} (its shape), which a param of that name would hide; rename one of them")
        seen.add(input_name)


def check_block_cycles(spec: SpecFields, blocks: dict[str, tuple[NodeSpec, ...]], source: Source) -> None:
    """A block that uses itself, directly or through others, is an error naming the cycle."""
    uses = {name: _called_blocks(items, blocks, source) for name, items in blocks.items()}
    done: set[str] = set()
    for root in blocks:
        # Depth-first without recursion: a spec may chain thousands of blocks.
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            name, next_callee = stack.pop()
            if next_callee == 0:
                if name in path:
                    cycle = path[path.index(name):] + [name]
                    raise spec_error(source.key_at(("blocks", cycle[0])), f"block {cycle[0]!r} uses itself: {' -> '.join(cycle)}")
                if name in done:
                    continue
                path.append(name)
            if next_callee < len(uses[name]):
                stack += [(name, next_callee + 1), (uses[name][next_callee], 0)]
            else:
                done.add(path.pop())


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
        inner = (s.items or ()) + (s.alternatives or ()) + ((s.otherwise,) if s.otherwise else ())
        if inner:
            called += _called_blocks(inner, blocks, source)
    return called
