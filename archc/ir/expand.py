"""IR stage: expanding a validated spec into the shape-annotated network graph.

Expansion resolves variants and params, evaluates every expression, unrolls repeats,
instantiates blocks, drops absent optional nodes, resolves `from` references to
earlier nodes, and runs each op's shape rule as it goes (expressions may read the
shape of a node's input, e.g. `in_channels // 2`), so the result carries every
tensor shape, parameter count and multiply-add count before any weight exists.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

from archc.errors import Collector, Location, SpecError, spec_error
from archc.ir.bind import bind, call_of, evaluate, expression_names, template, validate_attrs
from archc.ir.graph import Graph, Node, Output, Ref
from archc.ir.scope import INPUT, Scope, check_node_name
from archc.ops import OPS, ShapeError
from archc.ops.base import Shape, fmt
from archc.spec.expr import did_you_mean
from archc.spec.schema import BlockFields, NodeFields, NodeSpec, OutputFields, SpecFields
from archc.spec.source import DataPath, Source

MAX_REPEAT = 100_000
MAX_NODES = 1_000_000
MAX_NESTING = 64
PROVISIONAL_COUNT = 2**31


class Expander:
    """One expansion of a spec with fixed params. `block_totals` feeds `block_count`."""

    def __init__(
        self, spec: SpecFields, body: tuple[NodeSpec, ...], blocks: dict[str, tuple[NodeSpec, ...]],
        source: Source, params: dict[str, Any], block_totals: Mapping[str, int],
    ) -> None:
        self.spec, self.body, self.blocks, self.source = spec, body, blocks, source
        self.params = params
        self.block_totals = block_totals
        self.block_seen: Counter[str] = Counter()
        self.stack: list[str] = []  # blocks being expanded, to name a cycle
        self.node_count = 0
        self.reads_block_count = False

    # Whole network --------------------------------------------------------------

    def network(self, input_shapes: tuple[tuple[str, Shape], ...]) -> Graph:
        scope = Scope(input_shapes)
        self.sequence(self.body, scope, dict(self.params), depth=0)
        return Graph(input_shapes, tuple(scope.nodes), self.outputs(scope))

    def outputs(self, scope: Scope) -> tuple[Output, ...]:
        if self.spec.outputs is None:
            return (Output("output", scope.prev, scope.shape(scope.prev)),)
        errors = Collector()
        result = []
        for name, raw in self.spec.outputs.items():
            fields = raw if isinstance(raw, OutputFields) else OutputFields(**{"from": raw})
            path: DataPath = ("outputs", name) if not isinstance(raw, OutputFields) else ("outputs", name, "from")
            try:
                if fields.if_ is not None and not self.truth(fields.if_, self.params, self.source.at(("outputs", name, "if"))):
                    continue
                ref = scope.resolve(fields.from_, self.source.at(path))
                result.append(Output(name, ref, scope.shape(ref), fields.training_only))
            except SpecError as exc:
                errors.add(exc)
        errors.raise_if_any()
        if not any(not o.training_only for o in result):
            raise spec_error(self.source.at(("outputs",)), "the network needs at least one output that is not training-only")
        return tuple(result)

    # Sequences and items --------------------------------------------------------

    def sequence(self, items: tuple[NodeSpec, ...], scope: Scope, env: dict[str, Any], depth: int) -> None:
        if depth > MAX_NESTING:
            raise spec_error(self.where(items[0]) if items else Location(self.source.path, 1, 1), f"blocks and groups nest deeper than {MAX_NESTING} levels")
        outer_pending = dict(scope.pending)
        scope.pending = {s.name: self.where(s) for s in items if s.name and "{" not in s.name} | outer_pending
        errors = Collector()
        for spec in items:
            scope.pending.pop(spec.name or "", None)
            try:
                self.item(spec, scope, env, depth)
            except SpecError as exc:
                # Later items would mostly fail again on what this one did not define.
                errors.add(exc)
                break
        scope.pending = outer_pending
        errors.raise_if_any()

    def item(self, spec: NodeSpec, scope: Scope, env: dict[str, Any], depth: int) -> None:
        f = spec.fields
        if f.if_ is not None and not _reads_input(f.if_) and not self.truth(f.if_, env, self.at(spec, "if")):
            # Decided before `from` is resolved: an absent node may name inputs that are absent too.
            scope.skip(self.name(spec, env) if spec.name else None, self.first_input_if_any(spec, scope))
            return
        inputs = self.inputs(spec, scope)
        local = env | _input_env(scope, inputs)
        if f.if_ is not None and _reads_input(f.if_) and not self.truth(f.if_, local, self.at(spec, "if")):
            scope.skip(self.name(spec, env) if spec.name else None, inputs[0])
            return
        if f.repeat is not None:
            self.repeat(spec, scope, inputs, env, local, depth)
        elif spec.name is None and spec.items is not None:
            scope.prev = inputs[0]
            self.sequence(spec.items, scope, env, depth)
        else:
            name = self.name(spec, env) if spec.name else str(scope.position)
            if spec.items is not None:
                scope.add(self.group(name, None, spec.items, inputs, scope, env, spec, depth))
            else:
                scope.add(self.call(name, spec, inputs, scope, local, depth))

    def first_input_if_any(self, spec: NodeSpec, scope: Scope) -> Ref | None:
        try:
            return self.inputs(spec, scope)[0]
        except SpecError:
            return None

    def inputs(self, spec: NodeSpec, scope: Scope) -> list[Ref]:
        raw = spec.fields.from_
        if raw is None:
            return [scope.prev]
        refs = raw if isinstance(raw, list) else [raw]
        base: DataPath = spec.path + ("from",)
        if not refs:
            raise spec_error(self.source.at(base), "'from' needs at least one node")
        return [scope.resolve(r, self.source.at(base + ((i,) if isinstance(raw, list) else ()))) for i, r in enumerate(refs)]

    def name(self, spec: NodeSpec, env: Mapping[str, Any]) -> str:
        where = self.where(spec)
        name = template(spec.name or "", env, where)
        check_node_name(name, where)
        return name

    def repeat(self, spec: NodeSpec, scope: Scope, inputs: list[Ref], env: dict[str, Any], local: dict[str, Any], depth: int) -> None:
        f = spec.fields
        count = evaluate(f.repeat, local, self.at(spec, "repeat"))
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPEAT:
            raise spec_error(self.at(spec, "repeat"), f"repeat count must be an int from 0 to {MAX_REPEAT}, got {count!r}")
        inner_fields = f.model_copy(update={"repeat": None, "names": None, "from_": None, "if_": None})
        names = f.names or ("{i}" if spec.name is not None else None)
        instances = [
            spec.model_copy(update={"name": names, "fields": inner_fields}) for _ in range(count)
        ]
        if spec.name is None:
            scope.prev = inputs[0]
            for i, instance in enumerate(instances):
                self.item(instance, scope, env | {"i": i}, depth)
            return
        container = Scope(((INPUT, scope.shape(inputs[0])),))
        for i, instance in enumerate(instances):
            self.item(instance, container, env | {"i": i}, depth + 1)
        name = self.name(spec, env)
        scope.add(self.node_from_scope(name, None, container, inputs, scope, spec))

    def group(self, name: str, block: str | None, items: tuple[NodeSpec, ...], inputs: list[Ref], scope: Scope, env: dict[str, Any], spec: NodeSpec, depth: int, output: Any = None) -> Node:
        if len(inputs) != 1:
            raise spec_error(self.at(spec, "from"), f"{'block ' + repr(block) if block else 'a group'} takes one input, got {len(inputs)}")
        inner = Scope(((INPUT, scope.shape(inputs[0])),))
        self.sequence(items, inner, env, depth + 1)
        if output is not None:
            inner.prev = inner.resolve(output, self.source.at(("blocks", block or "", "output")))
        return self.node_from_scope(name, block, inner, inputs, scope, spec)

    def node_from_scope(self, name: str, block: str | None, inner: Scope, inputs: list[Ref], scope: Scope, spec: NodeSpec) -> Node:
        out = inner.shape(inner.prev)
        graph = Graph(inner.inputs, tuple(inner.nodes), (Output("output", inner.prev, out),))
        in_shapes = tuple(scope.shape(r) for r in inputs)
        return Node(name, tuple(inputs), in_shapes, (out,), self.where(spec), body=graph, block=block)

    # Calls: ops and blocks ------------------------------------------------------

    def call(self, name: str, spec: NodeSpec, inputs: list[Ref], scope: Scope, env: dict[str, Any], depth: int) -> Node:
        where = self.op_where(spec)
        call = call_of(spec.fields.op or "", where)
        target = call.name
        if target not in OPS and target not in self.blocks and isinstance(env.get(target), str):
            target = env[target]  # a param naming the op or block to use, as `block: bottleneck`
        args_where = {k: self.source.at(spec.path + ("args", k)) for k in spec.fields.args}
        if target in OPS:
            return self.op_node(name, target, call, spec, inputs, scope, env, where, args_where)
        if target in self.blocks:
            return self.block_node(name, target, call, spec, inputs, scope, env, where, args_where, depth)
        known = list(OPS) + list(self.blocks)
        raise spec_error(where.shifted(call.name_offset), f"unknown op or block {target!r}{did_you_mean(target, known)}")

    def op_node(self, name, op_name, call, spec, inputs, scope, env, where, args_where) -> Node:
        op = OPS[op_name]
        what = f"{op_name} {name!r}"
        n = len(inputs)
        if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
            wanted = f"{op.min_inputs}" if op.min_inputs == op.max_inputs else f"at least {op.min_inputs}"
            raise spec_error(where, f"{what} takes {wanted} input{'s' if op.min_inputs > 1 else ''}, got {n}")
        bound = bind(call, spec.fields.args, list(op.Attrs.model_fields), env, where, what, args_where)
        attrs = validate_attrs(op.Attrs, bound, where, what)
        in_shapes = tuple(scope.shape(r) for r in inputs)
        try:
            outs = op.infer(attrs, in_shapes)
        except ShapeError as exc:
            sources = ", ".join(f"{fmt(s)} from {r.node!r}" for r, s in zip(inputs, in_shapes))
            raise spec_error(where, f"{what}: {exc}", f"input{'s' if n > 1 else ''}: {sources}") from None
        self.count_node(where)
        return Node(
            name, tuple(inputs), in_shapes, outs, self.where(spec), op=op_name, attrs=attrs,
            own_params=op.params(attrs, in_shapes), own_macs=op.macs(attrs, in_shapes, outs),
        )

    def block_node(self, name, block, call, spec, inputs, scope, env, where, args_where, depth) -> Node:
        if block in self.stack:
            cycle = " -> ".join(self.stack[self.stack.index(block):] + [block])
            raise spec_error(where, f"block {block!r} uses itself: {cycle}")
        definition: BlockFields = self.spec.blocks[block]
        order = list(definition.params)
        bound = bind(call, spec.fields.args, order, env, where, f"block {block!r}", args_where)
        block_env = dict(self.params)
        for param, default in definition.params.items():
            if param in bound:
                block_env[param] = bound[param].value
            elif default is None:
                raise spec_error(where, f"block {block!r} needs argument {param!r}")
            else:
                block_env[param] = evaluate(default, dict(self.params), self.source.at(("blocks", block, "params", param))) if not isinstance(default, str) else default
        block_env["block_index"] = self.block_seen[block]
        # Before the instances are counted (first pass) a huge count keeps ratios like
        # block_index / block_count valid; the second pass uses the real total.
        block_env["block_count"] = self.block_totals.get(block, PROVISIONAL_COUNT)
        self.block_seen[block] += 1
        self.stack.append(block)
        try:
            return self.group(name, block, self.blocks[block], inputs, scope, block_env, spec, depth, definition.output)
        finally:
            self.stack.pop()

    # Helpers ----------------------------------------------------------------------

    def truth(self, value: Any, env: Mapping[str, Any], where: Location) -> bool:
        result = evaluate(value, env, where)
        if not isinstance(result, bool):
            raise spec_error(where, f"condition must be true or false, got {result!r}")
        return result

    def count_node(self, where: Location) -> None:
        self.node_count += 1
        if self.node_count > MAX_NODES:
            raise spec_error(where, f"the network expands to more than {MAX_NODES} nodes")

    def where(self, spec: NodeSpec) -> Location:
        return self.source.key_at(spec.path) if spec.name is not None else self.source.at(spec.path)

    def at(self, spec: NodeSpec, key: str) -> Location:
        return self.source.value_marks.get(spec.path + (key,)) or self.where(spec)

    def op_where(self, spec: NodeSpec) -> Location:
        return self.source.value_marks.get(spec.path + ("op",)) or self.source.at(spec.path)


def _reads_input(condition: Any) -> bool:
    return bool(expression_names(condition) & {"in_channels", "in_shape"})


def _input_env(scope: Scope, inputs: list[Ref]) -> dict[str, Any]:
    """Names an expression can use to read the shape of the node's (first) input."""
    shape = scope.shape(inputs[0])
    return {"in_shape": shape, "in_channels": shape[0] if shape else 0}


def reads_block_count(spec: SpecFields, body: tuple[NodeSpec, ...], blocks: dict[str, tuple[NodeSpec, ...]]) -> bool:
    """Whether any expression uses `block_count`, which needs a first pass to count instances."""
    def walk(items: tuple[NodeSpec, ...]) -> bool:
        for s in items:
            f = s.fields
            texts = [f.op, f.if_, f.repeat, *f.args.values()]
            if any("block_count" in str(t) for t in texts if t is not None):
                return True
            if s.items and walk(s.items):
                return True
        return False

    return walk(body) or any(walk(b) for b in blocks.values())
