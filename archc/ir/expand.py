"""IR stage: expanding a validated spec into the shape-annotated network graph.

Expansion resolves variants and params, evaluates every expression, unrolls repeats,
instantiates blocks, drops absent optional nodes, resolves `from` references to
earlier nodes, and runs each op's shape rule as it goes (expressions may read the
shape of a node's input, e.g. `in_channels // 2`), so the result carries every
tensor shape, parameter count and multiply-add count before any weight exists.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any, Mapping

from archc.errors import Collector, Diagnostic, Location, SpecError, spec_error
from archc.ir.bind import argument_order_warning, bind, call_of, evaluate, expression_names, param_value, template, validate_attrs
from archc.ir.graph import Graph, Node, Output, Ref
from archc.ir.scope import FAILED, INPUT, Broken, Scope, check_node_name, input_names_env, inputs_env
from archc.ops import OPS, ShapeError
from archc.ops.base import Shape, fmt
from archc.ir.follow import follow_op
from archc.shapes.symbolic import SymShape, Tracer, specialize_all, tracing
from archc.spec.expr import did_you_mean
from archc.spec.limits import DEFAULT_LIMITS, Limits
from archc.spec.schema import BlockFields, NodeFields, NodeSpec, OutputFields, SpecFields
from archc.spec.source import DataPath, Source

PROVISIONAL_COUNT = 2**31
# An entry of an expression environment that no expression can name: the names bound there
# that hide a spec param of the same name (block params, a repeat's `i` and `as:` index).
SHADOWING = "\x00shadowing"


class LimitError(SpecError):
    """A resource limit was reached: stop expanding at once (every later item would hit it
    too), keeping the independent errors found so far."""


class Expander:
    """One expansion of a spec with fixed params. `block_totals` feeds `block_count`."""

    def __init__(
        self, spec: SpecFields, body: tuple[NodeSpec, ...], blocks: dict[str, tuple[NodeSpec, ...]],
        source: Source, params: dict[str, Any], block_totals: Mapping[str, int], limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.spec, self.body, self.blocks, self.source = spec, body, blocks, source
        self.params = params
        self.block_totals = block_totals
        self.limits = limits
        self.block_seen: Counter[str] = Counter()
        self.stack: list[str] = []  # blocks being expanded, to name a cycle
        self.prefix: list[str] = []  # names of the enclosing groups, for messages ('layer1.0.conv1')
        self.node_count = 0
        self.repeats: list[_RepeatProgress] = []  # the repeats being expanded, outermost first
        # The first problem found at each place: a place in a block reached again from
        # another instance (with another instance path in its message) is not reported twice.
        self.reported: dict[Location, Diagnostic] = {}
        self.warnings: dict[Location, Diagnostic] = {}  # the first at each place, as errors
        self.reads_block_count = False
        # Guards on the input's sizes, where the input has sizes that may vary (archc.shapes).
        self.tracer: Tracer | None = None

    # Whole network --------------------------------------------------------------

    def network(self, input_shapes: tuple[tuple[str, Shape], ...]) -> Graph:
        scope = Scope(input_shapes)
        with tracing(self.tracer):
            self.sequence(self.body, scope, dict(self.params), depth=0)
            outputs = self.outputs(scope)
        where = self.source.at(("input",)) if self.spec.input is not None else self.source.key_at(("inputs",))
        warnings = tuple(sorted(self.warnings.values(), key=lambda d: (d.location.line, d.location.col)))
        guards = tuple(self.tracer.guards.values()) if self.tracer is not None else ()
        return Graph(input_shapes, tuple(scope.nodes), outputs, input_location=where, warnings=warnings, guards=guards)

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
        """Expand items in order. After an error, later items that do not read the failed
        one are still expanded, so independent errors are all reported, and those that do
        are skipped silently: one mistake, one message."""
        if depth > self.limits.max_nesting and items:
            chain = f"blocks being expanded: {' -> '.join(self.stack[-8:])}" if self.stack else ""
            raise spec_error(self.where(items[0]), f"blocks, groups and repeats nest deeper than {self.limits.max_nesting} levels (Limits.max_nesting)", *([chain] if chain else []))
        outer_pending = dict(scope.pending)
        scope.pending = {s.name: self.where(s) for s in items if s.name and "{" not in s.name} | outer_pending
        errors = Collector()
        silent = False
        for spec in items:
            scope.pending.pop(spec.name or "", None)
            try:
                self.item(spec, scope, env, depth)
            except LimitError as exc:
                errors.add(exc)
                raise LimitError(errors.diagnostics) from None
            except SpecError as exc:
                fresh = [d for d in exc.diagnostics if self.reported.setdefault(d.location, d) is d]
                errors.add(SpecError(fresh))
                silent = silent or not fresh
                self.failed(spec, scope, env)
            except Broken:
                silent = True
                self.failed(spec, scope, env)
        scope.pending = outer_pending
        errors.raise_if_any()
        if silent:
            raise Broken()  # what failed here is reported elsewhere

    def failed(self, spec: NodeSpec, scope: Scope, env: Mapping[str, Any]) -> None:
        """Record what a failed item would have defined, so nothing reading it is reported."""
        if spec.name is not None:
            try:
                scope.broken.add(template(spec.name, env, self.where(spec)))
            except SpecError:
                scope.lenient = True
        for name in _names_inside(spec.items or ()):
            if "{" in name:
                scope.lenient = True  # names only known once expanded
            scope.broken.add(name)
        if spec.name is None and spec.items is None:
            scope.broken.add(str(scope.position))
            scope.position += 1
        if spec.fields.repeat is not None and spec.name is None:
            scope.lenient = True  # its instances' names are not known
        scope.broken.add(FAILED)
        scope.prev = Ref(FAILED)

    def item(self, spec: NodeSpec, scope: Scope, env: dict[str, Any], depth: int) -> None:
        f = spec.fields
        if spec.alternatives is not None or spec.otherwise is not None:
            chosen = self.alternative(spec, scope, env)
            if chosen is not None:
                return self.item(chosen, scope, env, depth)
            self.count_node(spec)
            scope.current = spec.name
            scope.skip(self.name(spec, env) if spec.name else None, self.first_input_if_any(spec, scope, env))
            return None
        self.count_node(spec)
        scope.current = spec.name
        if self.tracer is not None:  # guards recorded from here on are this node's
            self.tracer.where, self.tracer.why = ".".join(self.prefix + [spec.name or str(scope.position)]), ""
        if f.if_ is not None and not _reads_input(f.if_, scope) and not self.truth(f.if_, env, self.at(spec, "if")):
            # Decided before `from` is resolved: an absent node may name inputs that are absent too.
            scope.skip(self.name(spec, env) if spec.name else None, self.first_input_if_any(spec, scope, env))
            return
        inputs = self.inputs(spec, scope, env)
        local = env | _input_env(scope, inputs)
        if f.if_ is not None and _reads_input(f.if_, scope) and not self.truth(f.if_, local, self.at(spec, "if")):
            scope.skip(self.name(spec, env) if spec.name else None, inputs[0])
            return
        if f.repeat is not None:
            self.repeat(spec, scope, inputs, env, local, depth)
        elif spec.name is None and spec.items is not None:
            scope.prev = inputs[0]
            self.sequence(spec.items, scope, env, depth + 1)
        else:
            name = self.name(spec, env) if spec.name else str(scope.position)
            if spec.items is not None:
                node = self.group(name, None, spec.items, inputs, scope, env, spec, depth)
            else:
                node = self.call(name, spec, inputs, scope, local, depth)
            scope.add(replace(node, condition=f.if_) if isinstance(f.if_, str) else node)

    def alternative(self, spec: NodeSpec, scope: Scope, env: dict[str, Any]) -> NodeSpec | None:
        """The node a `switch` (first case whose `if` holds) or an `if`/`else` stands for, named
        as the node and reading its `from` unless the case has its own; None when none holds."""
        f = spec.fields
        if spec.alternatives is not None:
            cases = [(c.fields.if_, c, self.at(c, "if")) for c in spec.alternatives]
        else:
            plain = f.model_copy(update={"else_": None, "if_": None})
            cases = [(f.if_, spec.model_copy(update={"fields": plain, "otherwise": None}), self.at(spec, "if"))]
        for condition, case, where in cases:
            local = env | _input_env(scope, self.inputs(spec, scope, env)) if _reads_input(condition, scope) else env
            if self.truth(condition, local, where):
                return self.adopt(spec, case, decided=True)
        return self.adopt(spec, spec.otherwise, decided=False) if spec.otherwise is not None else None

    def adopt(self, spec: NodeSpec, case: NodeSpec, decided: bool) -> NodeSpec:
        if case.path == spec.path:
            return case
        fields = case.fields.model_copy(update={
            "if_": None if decided else case.fields.if_,
            "from_": case.fields.from_ if case.fields.from_ is not None else spec.fields.from_,
        })
        return case.model_copy(update={"name": spec.name, "fields": fields})

    def first_input_if_any(self, spec: NodeSpec, scope: Scope, env: Mapping[str, Any] | None = None) -> Ref | None:
        try:
            return self.inputs(spec, scope, env)[0]
        except (SpecError, Broken):
            return None

    def inputs(self, spec: NodeSpec, scope: Scope, env: Mapping[str, Any] | None = None) -> list[Ref]:
        """The node's inputs. `from` entries are name templates (`"enc{depth - i}"`) and may
        name a node inside an earlier group or block instance (`backbone.layer3`)."""
        raw = spec.fields.from_
        if raw is None:
            return [scope.previous()]
        refs = raw if isinstance(raw, list) else [raw]
        base: DataPath = spec.path + ("from",)
        if not refs:
            raise spec_error(self.source.at(base), "'from' needs at least one node")
        result = []
        for i, r in enumerate(refs):
            where = self.source.at(base + ((i,) if isinstance(raw, list) else ()))
            text = template(r, env, where) if env is not None and isinstance(r, str) else str(r)
            result.append(self.reference(text, scope, where))
        return result

    def reference(self, text: str, scope: Scope, where: Location) -> Ref:
        head, dot, rest = text.partition(".")
        group = scope.node(head) if dot and not rest.isdigit() else None
        if group is None or group.body is None:
            return scope.resolve(text, where)
        exposed, index = _exposed(group, rest, where)
        # The group now also passes that inner node's output out (its module returns a tuple).
        scope.own_outputs.setdefault(group.name, len(group.out_shapes))
        scope.replace(group, exposed)
        scope.shapes[group.name] = exposed.out_shapes
        return Ref(group.name, index)

    def name(self, spec: NodeSpec, env: Mapping[str, Any]) -> str:
        where = self.where(spec)
        name = template(spec.name or "", env, where)
        check_node_name(name, where)
        return name

    def repeat(self, spec: NodeSpec, scope: Scope, inputs: list[Ref], env: dict[str, Any], local: dict[str, Any], depth: int) -> None:
        f = spec.fields
        count = self.repeat_count(spec, local)
        inner_fields = f.model_copy(update={"repeat": None, "names": None, "from_": None, "if_": None, "as_": None})
        names = f.names or ("{i}" if spec.name is not None else None)
        names_where = self.at(spec, "names") if f.names else self.where(spec)
        if names is not None and count > 1 and "{" not in names:
            raise spec_error(names_where, f"names {names!r} would give all {count} instances the same name; use '{{i}}' in it")
        target, nested = scope, depth
        if spec.name is not None:
            target, nested = Scope(((INPUT, scope.shape(inputs[0])),)), depth + 1
            self.prefix.append(self.name(spec, env))
        else:
            scope.prev = inputs[0]
        progress = _RepeatProgress(self.at(spec, "repeat"), count)
        self.repeats.append(progress)
        try:
            for i in range(count):
                local = {"i": i} | ({f.as_: i} if f.as_ else {})
                instance_env = env | local | {SHADOWING: env.get(SHADOWING, frozenset()) | frozenset(local)}
                name = _escaped(template(names, instance_env, names_where)) if names is not None else None
                progress.start(i, self.node_count)
                self.item(spec.model_copy(update={"name": name, "fields": inner_fields}), target, instance_env, nested)
                progress.finish(self.node_count)
        finally:
            self.repeats.pop()
            if spec.name is not None:
                self.prefix.pop()
        if spec.name is not None:
            scope.add(self.node_from_scope(self.name(spec, env), None, target, inputs, scope, spec))

    def repeat_count(self, spec: NodeSpec, local: dict[str, Any]) -> int:
        where = self.at(spec, "repeat")
        count = evaluate(spec.fields.repeat, local, where)
        if isinstance(count, bool) or not isinstance(count, int):
            raise spec_error(where, f"repeat count must be an int, got {count!r}")
        if count < 0:
            raise spec_error(where, f"repeat count must be 0 or more, got {count}")
        if count > self.limits.max_repeat:
            raise spec_error(where, f"repeat count {count:,} is more than the limit of {self.limits.max_repeat:,} (Limits.max_repeat)")
        return count

    def group(self, name: str, block: str | None, items: tuple[NodeSpec, ...], inputs: list[Ref], scope: Scope, env: dict[str, Any], spec: NodeSpec, depth: int, output: Any = None, input_names: list[str] | None = None) -> Node:
        """A group or block instance; a block that declares `inputs` names them in its body."""
        if len(inputs) != 1 and input_names is None:
            raise spec_error(self.at(spec, "from"), f"{'block ' + repr(block) if block else 'a group'} takes one input, got {len(inputs)}")
        names = input_names or [INPUT]
        inner = Scope(tuple((n, scope.shape(r)) for n, r in zip(names, inputs)), declared=input_names is not None)
        self.prefix.append(name)
        try:
            self.sequence(items, inner, env, depth + 1)
        finally:
            self.prefix.pop()
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
        notes = []
        if target not in OPS and target not in self.blocks and isinstance(env.get(target), str):
            target = env[target]  # a param naming the op or block to use, as `block: bottleneck`
            notes.append(f"{call.name!r} is a param whose value is {target!r}")
        args_where = {k: (self.source.key_at(spec.path + ("args", k)), self.source.at(spec.path + ("args", k))) for k in spec.fields.args}
        if target in OPS:
            return self.op_node(name, target, call, spec, inputs, scope, env, where, args_where)
        if target in self.blocks:
            return self.block_node(name, target, call, spec, inputs, scope, env, where, args_where, depth)
        known = list(OPS) + list(self.blocks)
        raise spec_error(where.shifted(call.name_offset), f"unknown op or block {target!r}{did_you_mean(target, known)}", *notes)

    def op_node(self, name, op_name, call, spec, inputs, scope, env, where, args_where) -> Node:
        op = OPS[op_name]
        what = f"{op_name} {'.'.join(self.prefix + [name])!r}"
        n = len(inputs)
        if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
            wanted = f"{op.min_inputs}" if op.min_inputs == op.max_inputs else f"at least {op.min_inputs}"
            raise spec_error(where, f"{what} takes {wanted} input{'s' if op.min_inputs > 1 else ''}, got {n}")
        bound = bind(call, spec.fields.args, list(op.Attrs.model_fields), env, where, what, args_where)
        attrs = validate_attrs(op.Attrs, bound, where, what, op_name)
        in_shapes = tuple(scope.shape(r) for r in inputs)
        warning = argument_order_warning(op_name, call, bound, in_shapes, where, what)
        if warning is not None:
            self.warnings.setdefault(warning.location, warning)
        try:
            outs = op.infer(attrs, in_shapes)
        except ShapeError as exc:
            sources = ", ".join(_source_of(r, s, scope) for r, s in zip(inputs, in_shapes))
            raise spec_error(where, f"{what}: {exc}", f"input{'s' if n > 1 else ''}: {sources}", *_absent_notes(spec, scope)) from None
        runtime: tuple[tuple[str, Any], ...] = ()
        shape_reads: tuple[Ref, ...] = ()
        if self.tracer is not None:
            outs, runtime, shape_reads = follow_op(op, attrs, bound, in_shapes, outs, ".".join(self.prefix + [name]), self.tracer)
        return Node(
            name, tuple(inputs), in_shapes, outs, self.where(spec), op=op_name, attrs=attrs,
            own_params=op.params(attrs, in_shapes), own_macs=op.macs(attrs, in_shapes, outs),
            reads=_names_read(bound), sources=_sources(bound), param_reads=self.params_read(bound, env),
            runtime=runtime, shape_reads=shape_reads,
        )

    def block_node(self, name, block, call, spec, inputs, scope, env, where, args_where, depth) -> Node:
        if block in self.stack:
            cycle = " -> ".join(self.stack[self.stack.index(block):] + [block])
            raise spec_error(where, f"block {block!r} uses itself: {cycle}")
        definition: BlockFields = self.spec.blocks[block]
        order = list(definition.params)
        names = definition.inputs or [INPUT]
        if len(inputs) != len(names) and definition.inputs is not None:
            raise self.arity_error(block, names, spec, len(inputs))
        bound = bind(call, spec.fields.args, order, env, where, f"block {block!r}", args_where)
        with tracing(self.tracer, ".".join(self.prefix + [name])):
            for param, arg in bound.items():  # a block param is one number in every instance
                specialize_all(arg.sym, f"block argument `{param}` is computed from the input size")
        block_env = dict(self.params)
        # Defaults may read the params, the block's earlier params and its inputs' shapes.
        seen = inputs_env(tuple((n, scope.shape(r)) for n, r in zip(names, inputs)), definition.inputs is not None) if len(inputs) == len(names) else {}
        for param, default in definition.params.items():
            if param in bound:
                block_env[param] = bound[param].value
            elif default is None:
                raise spec_error(where, f"block {block!r}: missing required argument {param!r}")
            else:
                block_env[param] = param_value(default, block_env | seen, self.source.at(("blocks", block, "params", param)))
        block_env[SHADOWING] = frozenset(definition.params)
        block_env["block_index"] = self.block_seen[block]
        # Before the instances are counted (first pass) a huge count keeps ratios like
        # block_index / block_count valid; the second pass uses the real total.
        block_env["block_count"] = self.block_totals.get(block, PROVISIONAL_COUNT)
        self.block_seen[block] += 1
        self.stack.append(block)
        try:
            node = self.group(name, block, self.blocks[block], inputs, scope, block_env, spec, depth, definition.output, definition.inputs)
        finally:
            self.stack.pop()
        args = tuple((p, block_env[p]) for p in definition.params)
        return replace(node, args=args, reads=_names_read(bound), sources=_sources(bound), param_reads=self.params_read(bound, env))

    def params_read(self, bound: Mapping[str, Any], env: Mapping[str, Any]) -> tuple[tuple[str, frozenset[str]], ...]:
        """Per argument, the spec params its expression reads, leaving out names that a block
        param or a repeat index of the same name hides there."""
        hidden = env.get(SHADOWING, frozenset())
        return tuple((name, names & self.params.keys() - hidden) for name, names in _names_read(bound))

    def arity_error(self, block: str, names: list[str], spec: NodeSpec, got: int) -> SpecError:
        where = self.at(spec, "from") if spec.fields.from_ is not None else self.op_where(spec)
        message = f"block {block!r} takes {len(names)} input{'s' if len(names) > 1 else ''} ({', '.join(names)}), got {got}"
        if spec.fields.from_ is None:
            listed = ", ".join(f"<{n}>" for n in names)
            return spec_error(where, message, f"without 'from' a node reads the node before it; pass the inputs in order: 'from: [{listed}]'")
        return spec_error(where, message)

    # Helpers ----------------------------------------------------------------------

    def truth(self, value: Any, env: Mapping[str, Any], where: Location) -> bool:
        result = evaluate(value, env, where)
        if not isinstance(result, bool):
            raise spec_error(where, f"condition must be true or false, got {result!r}")
        return result

    def count_node(self, spec: NodeSpec) -> None:
        # Every item counts, skipped ones too: empty repeats in repeats are work as well.
        self.node_count += 1
        limit = self.limits.max_nodes
        if self.node_count > limit:
            raise LimitError([Diagnostic(self.where(spec), f"the network expands to more than {limit:,} nodes (Limits.max_nodes)")])
        # Nested repeats multiply: stop as soon as the instances still to come, each taken as
        # big as the smallest one so far, would pass the limit, instead of expanding up to it.
        ahead = [(r.remaining * r.estimate(self.node_count), r) for r in self.repeats]
        if ahead and self.node_count + sum(a for a, _ in ahead) > limit:
            _, worst = max(ahead, key=lambda pair: pair[0])
            size = worst.estimate(self.node_count)
            note = f"its first instance has {size:,} nodes so far" if worst.done == 0 else f"its smallest instance has {size:,} nodes"
            message = f"a repeat of {worst.count:,} would expand the network past {limit:,} nodes (Limits.max_nodes)"
            raise LimitError([Diagnostic(worst.where, message, (note,))])

    def where(self, spec: NodeSpec) -> Location:
        return self.source.key_at(spec.path) if spec.name is not None else self.source.at(spec.path)

    def at(self, spec: NodeSpec, key: str) -> Location:
        return self.source.value_marks.get(spec.path + (key,)) or self.where(spec)

    def op_where(self, spec: NodeSpec) -> Location:
        return self.source.value_marks.get(spec.path + ("op",)) or self.source.at(spec.path)


class _RepeatProgress:
    """How far one repeat has got, to project how many nodes its remaining instances add."""

    def __init__(self, where: Location, count: int) -> None:
        self.where, self.count = where, count
        self.done = 0
        self.remaining = count
        self.began = 0
        self.smallest: int | None = None  # nodes in the smallest finished instance

    def start(self, index: int, node_count: int) -> None:
        self.remaining = self.count - index - 1
        self.began = node_count

    def finish(self, node_count: int) -> None:
        size = node_count - self.began
        self.smallest = size if self.smallest is None else min(self.smallest, size)
        self.done += 1

    def estimate(self, node_count: int) -> int:
        """Nodes per remaining instance: the smallest finished one, or the current one so far."""
        return self.smallest if self.smallest is not None else node_count - self.began


def _names_inside(items: tuple[NodeSpec, ...]) -> list[str]:
    """Names a spliced (unnamed) group or repeat defines in its enclosing sequence."""
    names = []
    for s in items:
        if s.name is not None:
            names.append(s.name)
        elif s.items:
            names += _names_inside(s.items)
        if s.fields.names:
            names.append(s.fields.names)
    return names


def _sources(bound: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Per argument written as an expression, its text (`planes * 4`)."""
    return tuple((name, a.source) for name, a in bound.items() if a.source)


def _names_read(bound: Mapping[str, Any]) -> tuple[tuple[str, frozenset[str]], ...]:
    """Per argument, the names its expression reads (`planes * 4` reads `planes`)."""
    return tuple((name, expression_names(a.source) if a.source else frozenset()) for name, a in bound.items())


def _exposed(group: Node, path: str, where: Location) -> tuple[Node, int]:
    """`group` with the output of the node at `path` (`layer3`, `layer3.0.conv1`, `split.1`)
    among its outputs, and that output's index."""
    name, _, deeper = path.partition(".")
    inner = next((n for n in group.body.nodes if n.name == name), None) if group.body else None
    if inner is None:
        known = [n.name for n in group.body.nodes] if group.body else []
        raise spec_error(where, f"{group.name!r} has no node {name!r}{did_you_mean(name, known)}", f"its nodes: {', '.join(known) or '(none)'}")
    body = group.body
    # `deep.1` is node '1' of a group (unnamed nodes are numbered), else output 1 of `deep`.
    opens = inner.body is not None and any(n.name == deeper.partition(".")[0] for n in inner.body.nodes)
    if deeper and (opens or not deeper.isdigit()):
        opened, index = _exposed(inner, deeper, where)
        body = Graph(body.inputs, tuple(opened if n is inner else n for n in body.nodes), body.outputs)
        ref = Ref(name, index)
        shape = opened.out_shapes[index]
    else:
        index = int(deeper) if deeper else 0
        if index >= len(inner.out_shapes):
            raise spec_error(where, f"{name!r} has {len(inner.out_shapes)} output(s); there is no output {index}")
        ref, shape = Ref(name, index), inner.out_shapes[index]
    for k, out in enumerate(body.outputs):
        if out.ref == ref:
            return replace(group, body=body), k
    outputs = body.outputs + (Output(f"{name}_{ref.index}" if ref.index else name, ref, shape),)
    return replace(group, body=Graph(body.inputs, body.nodes, outputs), out_shapes=group.out_shapes + (shape,)), len(outputs) - 1


def _escaped(name: str) -> str:
    # A rendered name goes through template() again; braces from a param value stay literal.
    return name.replace("{", "{{").replace("}", "}}")


def _source_of(ref: Ref, shape: Shape, scope: Scope) -> str:
    """`9216 from 'flatten' (flattened from 256x6x6)`: where an input came from, for notes."""
    text = f"{fmt(shape)} from {str(ref)!r}"
    node = scope.node(ref.node)
    if node is not None and node.op == "flatten" and node.in_shapes[0] != shape:
        text += f" (flattened from {fmt(node.in_shapes[0])})"
    return text


def _absent_notes(spec: NodeSpec, scope: Scope) -> list[str]:
    """Where `from` names an absent optional node: what arrived in its place."""
    raw = spec.fields.from_
    notes = []
    for ref in raw if isinstance(raw, list) else [] if raw is None else [raw]:
        name = str(ref).partition(".")[0]
        passed = scope.aliases.get(name) if name not in scope.shapes else None
        if passed is not None:
            notes.append(f"{name!r} is absent (its 'if' is false), so {str(passed)!r} arrives here")
    return notes


def _reads_input(condition: Any, scope: Scope) -> bool:
    """Whether a condition reads a shape, so can only be decided once the inputs are known."""
    names = expression_names(condition)
    if names & {"in_channels", "in_shape", "input_channels", "input_shape"}:
        return True
    return scope.declared and any(word in names for n, _ in scope.inputs for word in input_names_env(n))


def _input_env(scope: Scope, inputs: list[Ref]) -> dict[str, Any]:
    """Names an expression can use to read the shape of the node's (first) input, and of
    the enclosing block's own input (`input_channels`: the same at every node of a block)."""
    shape = scope.shape(inputs[0])
    tagged = shape.tagged(inputs[0]) if isinstance(shape, SymShape) else shape
    return {"in_shape": tagged, "in_channels": shape[0] if shape else 0} | scope.input_env()


def reads_block_count(spec: SpecFields, body: tuple[NodeSpec, ...], blocks: dict[str, tuple[NodeSpec, ...]]) -> bool:
    """Whether any expression uses `block_count`, which needs a first pass to count instances."""
    def walk(items: tuple[NodeSpec, ...]) -> bool:
        for s in items:
            f = s.fields
            texts = [f.op, f.if_, f.repeat, *f.args.values()]
            if any("block_count" in str(t) for t in texts if t is not None):
                return True
            inner = (s.items or ()) + (s.alternatives or ()) + ((s.otherwise,) if s.otherwise else ())
            if inner and walk(inner):
                return True
        return False

    return walk(body) or any(walk(b) for b in blocks.values())
