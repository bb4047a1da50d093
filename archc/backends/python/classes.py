"""Python source backend: the classes of a network, one per block definition, shared by its instances.

Every module of the IR (a block instance, an inline group, the network) is first written
as an instance: its `__init__` with each constant replaced by a numbered slot, and its
`forward`. Instances of one block (or of one group definition, which a repeat may make
many of) whose text is the same apart from slot values share a class. A slot whose value
is the same in every instance stays a literal; one that differs becomes a constructor
parameter, named after the block param it equals in every instance (`planes`), or
`in_channels` (the block's input channels), or what it is (`conv3_out_channels`). A value
computed from a spec param (`num_classes`) stays that param all the way up to the network
class, whose constructor takes it with the variant's value as default.

A group that is a plain chain of modules becomes an `nn.Sequential` in place, as
torchvision writes its `features` and `layer1`; runs of equal children become a loop.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from archc.backends.python.forward import forward_source, inplace_candidates, is_module, output_fields
from archc.backends.python.exprs import python_expression
from archc.backends.python.lift import liftable_params
from archc.backends.python.layout import Call, Item, compress_runs, flat, substitute
from archc.ir.graph import Network, Node
from archc.ops import OPS
from archc.pysource import PYTHON_NAMES, Namespace, Var, attribute, literal
from archc.spec.expr import ExprError, parse_expr
from archc.spec.names import class_name, is_checked, is_index

ClassKey = tuple  # ("block", name) or ("group", spec location, depth)
NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()  # a slot of an absent node


@dataclass
class Slot:
    value: Any
    label: str  # the parameter name the value gets when nothing better fits
    reads: frozenset[str]  # spec names the value was computed from
    default: Any = NO_DEFAULT  # torch's default for a keyword argument, which can be left out
    source: str | None = None  # the spec expression the value came from (`planes * 4`)
    spec_reads: frozenset[str] = frozenset()  # the spec params among `reads` that nothing hides there


@dataclass
class Instance:
    """One module written with slots: `init` is (attribute, constructor) pairs in order."""

    node: Node | None  # None for the network itself
    init: list[tuple[str, Item]]
    forward: list[str]
    slots: list[Slot]
    sequential: bool = False  # a block that is a chain of unnamed modules: an nn.Sequential subclass
    at: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)  # forward.py's Forward.at
    network: Network | None = None  # for a network's own instance: which variant
    tensors: frozenset[str] = frozenset()  # attributes that are learnable tensors, not modules

    @property
    def template(self) -> str:
        """The text that instances sharing a class have in common: no slot values, no shape comments."""
        head = "sequential\n" if self.sequential else ""
        return head + "\n".join(f"{a} = {flat(c)}" for a, c in self.init) + "\n" + "\n".join(_code(line) for line in self.forward)


@dataclass
class ClassDef:
    name: Var
    params: list[tuple[Var, Any]]  # (name, default or NO_DEFAULT)
    init: list[tuple[str, Item]]
    forward: list[str]
    doc: str = ""
    output_types: list[tuple[Var, tuple[str, ...]]] = field(default_factory=list)
    sequential: bool = False  # init is one entry: the nn.Sequential's children
    # Optional nodes decided at construction: {module attribute: condition}, and for
    # optional functional nodes (flag attribute, condition), as torchvision's use_res_connect.
    conditions: dict[str, str] = field(default_factory=dict)
    flags: list[tuple[str, str]] = field(default_factory=list)
    locals: list[tuple[str, str]] = field(default_factory=list)  # `width = planes * 64 // 64 * groups`
    tensors: frozenset[str] = frozenset()  # attributes that are learnable tensors (ViT's cls_token)


class Generator:
    """Writes the classes of one network, or of several variants of one spec sharing their
    block classes; `classes` comes out in dependency order."""

    def __init__(self, networks: Network | list[Network], reserved: frozenset[str], compact: bool = True) -> None:
        # `compact=False` writes every instance as it is: a class per module, no loops, no
        # constructor parameters but the block's own. Nothing is shared, so nothing can be
        # shared wrongly: what a build falls back to where the compact file fails its check.
        self.compact = compact
        self.networks = [networks] if isinstance(networks, Network) else list(networks)
        self.network = self.networks[0]  # the default variant
        self.class_names = Namespace(reserved | CODE_NAMES)  # a class `ValueError` would shadow the builtin
        self.classes: list[ClassDef] = []
        self.instances: dict[ClassKey, list[Node]] = {}
        self.keys: dict[int, ClassKey] = {}  # each module node's class key
        self.placed: dict[int, tuple[Var, list[tuple[str, Any, frozenset[str]]]]] = {}
        self.keep_alive: list[Node] = []
        self.defaults: dict[str, dict[str, Any]] = {}  # per block class, its parameters' defaults
        self.owner: dict[int, Network] = {}  # the network each module node belongs to
        self.liftable = frozenset.intersection(*[liftable_params(n) for n in self.networks]) if compact else frozenset()
        # Each variant: (its network class, the constructor arguments that differ from the class's defaults).
        self.variants: list[tuple[str | None, Var, dict[str, Any]]] = []
        for network in self.networks:
            self._collect(network.graph.nodes, network)

    def run(self) -> ClassDef:
        """The network classes; returns the default variant's."""
        style = "dict" if self.network.extracted else "namedtuple"
        base = class_name(self.network.name)
        types: dict[tuple, tuple[Var | None, Var | None]] = {}
        written = []
        for network in self.networks:
            graph = network.graph
            fields = (output_fields(graph, True), output_fields(graph, False)) if style == "namedtuple" else ((), ())
            if fields not in types:
                suffix = str(len(types) + 1) if types else ""
                train = self.class_names.name(f"{base}Outputs{suffix}") if fields[0] else None
                evaluation = self.class_names.name(f"{base}EvalOutputs{suffix}") if fields[1] and fields[1] != fields[0] else None
                types[fields] = (train, evaluation)
            output_type, eval_type = types[fields]
            instance = self._instance(None, graph, style, output_type, eval_type or output_type)
            instance.network = network
            written.append((instance, fields))
        by_template: dict[str, list[tuple[Instance, tuple]]] = {}
        for instance, fields in written:
            by_template.setdefault(instance.template, []).append((instance, fields))
        first = None
        for group in by_template.values():
            members = [inst for inst, _ in group]
            variant = members[0].network.variant  # type: ignore[union-attr]
            name = self.class_names.name(base if first is None else class_name(f"{self.network.name} {variant}"))
            cls, arguments = self._unify(name, members, network=True)
            fields = group[0][1]
            (train, evaluation) = types[fields]
            cls.output_types = [(t, f) for t, f in ((train, fields[0]), (evaluation, fields[1])) if t is not None]
            names = ", ".join(str(m.network.variant) for m in members)  # type: ignore[union-attr]
            cls.doc = self.network.doc if first is None else f"The network of variant{'s' * (len(members) > 1)} {names}."
            self.classes.append(cls)
            defaults = {str(p): d for p, d in cls.params}
            for inst, args in zip(members, arguments):
                given = {p: v for p, v, _ in args if not _same(v, defaults[p])}
                self.variants.append((inst.network.variant, name, given))  # type: ignore[union-attr]
            first = first or cls
        order = [n.variant for n in self.networks]
        self.variants.sort(key=lambda v: order.index(v[0]))
        return first  # type: ignore[return-value]

    def names_in_code(self) -> set[str]:
        """What a constructor's body may name besides its parameters: a parameter of the same
        name would shadow it (a block param `range`, `super`, `i` or `Unit`)."""
        return CODE_NAMES | self.class_names.taken

    # Collecting and placing instances -------------------------------------------------------

    def _collect(self, nodes: tuple[Node, ...], network: Network, depth: int = 0) -> None:
        for node in nodes:
            if node.body is None:
                continue
            self.keep_alive.append(node)
            self.owner[id(node)] = network
            if not _sequential(node):
                # A repeat container and its instances come from one spec item: their depth in
                # the enclosing block keeps them apart (one class could not hold itself).
                self.keys[id(node)] = _key(node) + ((depth,) if node.block is None else ())
                self.instances.setdefault(self.keys[id(node)], []).append(node)
            self._collect(node.body.nodes, network, 0 if node.block is not None else depth + 1)

    def _params(self, instance: Instance) -> dict[str, Any]:
        """The spec params of the variant an instance belongs to."""
        network = instance.network if instance.node is None else self.owner[id(instance.node)]
        return network.params  # type: ignore[union-attr]

    def _same_param(self, members: list[Instance], word: str) -> tuple[bool, Any]:
        """Whether a spec param has one value in every instance's variant, and that value."""
        values = [self._params(m).get(word, MISSING) for m in members]
        return all(_same(v, values[0]) for v in values) and values[0] is not MISSING, values[0]

    def _place(self, node: Node) -> tuple[Var, list[tuple[str, Any, frozenset[str]]]]:
        """The class of a module node and its constructor arguments: (param, value, names read)."""
        if id(node) not in self.placed:
            self._resolve(self.keys[id(node)])
        return self.placed[id(node)]

    def _resolve(self, key: ClassKey) -> None:
        nodes = self.instances[key]
        written = [self._instance(n, n.body, "tuple") for n in nodes]  # type: ignore[arg-type]
        by_template: dict[str, list[Instance]] = {}
        for inst in written:
            by_template.setdefault(inst.template, []).append(inst)
        base = class_name(key[1] if key[0] == "block" else _group_word(nodes[0].name), "Group")
        groups = list(by_template.values()) if self.compact else [[inst] for inst in written]
        if len(groups) > 1 and self.compact:
            try:
                name = self.class_names.name(base)
                cls, arguments = self._union(name, written)
            except _NoUnion:
                self.class_names.taken.discard(str(name))
            else:
                self._defaults(key, cls)
                self.classes.append(cls)
                for inst, args in zip(written, arguments):
                    self.placed[id(inst.node)] = (name, args)
                return
        main = max(groups, key=len)
        names = {id(main): self.class_names.name(base)}
        for members in groups:
            if id(members) not in names:
                names[id(members)] = self.class_names.name(base + _difference(members[0], main[0]))
        for members in groups:
            name = names[id(members)]
            cls, arguments = self._unify(name, members, network=False)
            self._defaults(key, cls)
            self.classes.append(cls)
            for inst, args in zip(members, arguments):
                self.placed[id(inst.node)] = (name, args)

    # Writing one instance -------------------------------------------------------------------

    def network_of_graph(self, graph: Any) -> Network:
        return next(n for n in self.networks if n.graph is graph)

    def _instance(self, node: Node | None, graph: Any, style: str, output_type: Var | None = None, eval_type: Var | None = None) -> Instance:
        slots: list[Slot] = []
        if node is not None and _chain(graph) and all(is_index(n.name) for n in graph.nodes):
            # Like torchvision's stages: an nn.Sequential subclass, indexable as model.stage2[1].
            return _renumbered(Instance(node, [("", self._sequential(node, slots, ""))], [], slots, sequential=True))
        checks = self.network_of_graph(graph).input_constraints if node is None else ()
        forward = forward_source(graph, style, output_type, eval_type, checks)
        # Every module the spec declares, also one no output reads: the summary counts its
        # parameters and its weights are in the state_dict, though forward never calls it.
        init = [(child.name, self._constructor(child, slots, child.name in forward.inplace))
                for child in graph.nodes if is_module(child)]
        tensors = frozenset(n.name for n in graph.nodes if n.body is None and OPS[n.op].holds_tensor)  # type: ignore[index]
        return _renumbered(Instance(node, init, forward.lines, slots, at=forward.at, tensors=tensors))

    def _constructor(self, node: Node, slots: list[Slot], inplace: bool) -> Item:
        def slot(value: Any, label: str, reads: frozenset[str], default: Any = NO_DEFAULT, source: str | None = None,
                 spec_reads: frozenset[str] = frozenset()) -> str:
            slots.append(Slot(value, label, reads, default, source, spec_reads))
            return f"\x00{len(slots) - 1}\x00"

        if node.body is not None and _sequential(node):
            return self._sequential(node, slots)
        if node.body is not None and node.block is None and not node.body.nodes:
            return Call("nn.Identity")
        if node.body is not None:
            cls, args = self._place(node)
            call_reads, call_params = dict(node.reads), dict(node.param_reads)
            call_sources, defaults = dict(node.sources), self.defaults.get(str(cls), {})

            def argument(p: str, v: Any, reads: frozenset[str]) -> str:
                return slot(v, _label(node.name, p), reads or call_reads.get(p, frozenset()), defaults.get(p, NO_DEFAULT),
                            call_sources.get(p) if p in call_reads else None, reads or call_params.get(p, frozenset()))

            return Call(str(cls), [argument(p, v, r) for p, v, r in args if p not in defaults],
                        [(p, argument(p, v, r)) for p, v, r in args if p in defaults])
        op = OPS[node.op]  # type: ignore[index]
        ctor = op.module(node.attrs, node.in_shapes)
        assert ctor is not None  # is_module() said so
        kwargs = list(ctor.kwargs) + ([("inplace", True)] if op.module_inplace else [])
        defaults = dict(ctor.defaults) | ({"inplace": False} if op.module_inplace else {})
        if op.module_inplace and not inplace:
            kwargs[-1] = ("inplace", False)
        labels = list(ctor.labels) + [f"arg{k}" for k in range(len(ctor.labels), len(ctor.args))]
        attribute = _attributes_by_position(node, ctor)
        node_reads, node_sources, node_params = dict(node.reads), dict(node.sources), dict(node.param_reads)

        def reads(k: int) -> frozenset[str]:
            return node_reads.get(attribute[k], frozenset()) if k in attribute else frozenset()

        def source(k: int) -> str | None:
            return node_sources.get(attribute[k]) if k in attribute else None

        def params(k: int) -> frozenset[str]:
            return node_params.get(attribute[k], frozenset()) if k in attribute else frozenset()

        first = len(ctor.args)
        return Call(
            ctor.callee,
            [slot(v, _label(node.name, label), reads(k), NO_DEFAULT, source(k), params(k))
             for k, (v, label) in enumerate(zip(ctor.args, labels))],
            [(key, slot(v, _label(node.name, key), reads(first + k), defaults.get(key, NO_DEFAULT), source(first + k),
                        params(first + k)))
             for k, (key, v) in enumerate(kwargs)],
        )

    def _sequential(self, node: Node, slots: list[Slot], word: str | None = None) -> Item:
        """An nn.Sequential of the group's modules (with names where they are not 0, 1, ...)."""
        body = node.body
        assert body is not None
        inplace = _inplace_in_chain(body)
        children = [(child.name, self._constructor(child, slots, child.name in inplace)) for child in body.nodes]
        word = _word(node.name) if word is None else word
        if [name for name, _ in children] == [str(i) for i in range(len(children))]:
            return Call("nn.Sequential", _loops(children, slots, word, named=False, fold=self.compact))
        pairs = _loops(children, slots, word, named=True, fold=self.compact)
        return Call("nn.Sequential", [Call("OrderedDict", [Call("", pairs, brackets="[]")])])

    # Sharing a class among instances ------------------------------------------------------------

    def _unify(self, name: Var, members: list[Instance], network: bool) -> tuple[ClassDef, list[list[tuple[str, Any, frozenset[str]]]]]:
        """One class for instances with one template; the slots that differ become parameters."""
        first = members[0]
        params: dict[str, tuple[list[Any], frozenset[str]]] = {}
        fill: dict[int, Item | None] = {}
        by_values: dict[tuple, str] = {}
        expressions: dict[tuple, str] = {}
        written: dict[str, list[Any]] = {}  # each expression, with the values it gives
        keywords: dict[str, Any] = {}  # spec params the class takes as keywords, with their defaults
        local = Namespace(self.names_in_code())
        # A value several slots share is named after the param one of them was computed from
        # (`planes`), not after the input width another equals.
        named_by: dict[tuple, int] = {}
        for k, slot in enumerate(first.slots):
            if slot.reads:
                named_by.setdefault(tuple((type(m.slots[k].value), m.slots[k].value) for m in members), k)
        for k, slot in enumerate(first.slots):
            values = [m.slots[k].value for m in members]
            exact = tuple((type(v), v) for v in values)
            present = [v for v in values if v is not MISSING]
            spec = self._spec_param(members, k)
            param = spec or (None if _constant(present) else self._param_name(members, named_by.get(exact, k)))
            if param is None:
                fill[k] = None if _same(values[0], slot.default) else _literal_item(values[0])
                continue
            if exact in expressions:
                fill[k] = expressions[exact]
                continue
            if param == slot.label and not network:
                # Not a param of its own but the spec's expression over the others: `planes * 4`.
                text = self._expression(members, k, params, by_values, local, keywords)
                if text is not None:
                    fill[k] = expressions[exact] = text
                    written[text] = values
                    continue
            if exact not in by_values and MISSING in values:
                # A slot of an optional node: the parameter it agrees with where the node exists.
                known = next((p for p, (vs, _) in params.items() if _agree(vs, values)), None)
                known = known or next((t for t, vs in written.items() if _agree(vs, values)), None)
                if known is not None:
                    fill[k] = known
                    continue
            elif exact not in by_values and param in params and _agree(values, params[param][0]):
                # The parameter an optional node's slot made, now known for every instance.
                params[param] = (values, params[param][1])
                by_values[exact] = param
            if exact not in by_values:
                by_values[exact] = str(local.name(param))
                reads = frozenset({param}) if param == spec else frozenset()  # a block param may have a spec param's name
                params[by_values[exact]] = (values, reads)
            fill[k] = by_values[exact]
        for param, (values, reads) in list(params.items()):
            if MISSING in values and not any(m.node is not None and param in dict(m.node.args) for m in members):
                # Read only by an optional node: where it is absent the value is unused, so the
                # class takes it as a keyword whose default is its most common value.
                present = [v for v in values if v is not MISSING]
                common = max(present, key=lambda v: sum(_same(v, u) for u in present))
                params[param] = ([common if v is MISSING else v for v in values], reads)
                keywords.setdefault(param, common)
        shared = self._shared_expressions(fill, written, first, local)
        ordered = _ordered(params, first)
        arguments = [[(p, _argument(m, p, params[p][0][j]), params[p][1]) for p in ordered] for j, m in enumerate(members)]
        ordered.sort(key=lambda p: p in keywords)  # parameters with defaults last
        arguments = [sorted(args, key=lambda a: a[0] in keywords) for args in arguments]
        spec_defaults = [(Var(p), params[p][0][0] if network else keywords.get(p, NO_DEFAULT)) for p in ordered]

        def filled(text: str) -> Item | None:
            parts = text.split("\x00")
            if len(parts) == 3 and not parts[0] and not parts[2]:
                return fill[int(parts[1])]
            # A slot inside a larger expression (a loop's `start + step * i`) is an operand: never
            # left out as a default argument would be, and parenthesised unless it is an atom.
            return "".join(_operand(fill[int(p)], first.slots[int(p)].value) if i % 2 else p for i, p in enumerate(parts))

        init = [(attr, compress_runs(substitute(ctor, filled))) for attr, ctor in first.init]
        cls = ClassDef(name, spec_defaults, init, _shared_comments(members), sequential=first.sequential, locals=shared,
                       tensors=first.tensors)
        return cls, arguments

    @staticmethod
    def _shared_expressions(fill: dict[int, Item | None], written: dict[str, list[Any]], first: Instance,
                            local: Namespace) -> list[tuple[str, str]]:
        """A long expression used more than once becomes a local variable, named after the first
        argument it is (`out_channels = round(in_channels * expand)`), as torchvision's `width`."""
        uses: dict[str, list[int]] = {}
        for k, item in fill.items():
            if isinstance(item, str) and item in written:
                uses.setdefault(item, []).append(k)
        shared = []
        for text, slots in uses.items():
            if len(slots) < 2 or len(text) <= 20:
                continue
            label = first.slots[slots[0]].label
            if not is_checked(label) or is_index(label):
                continue
            name = str(local.name(label))
            shared.append((name, text))
            for k in slots:
                fill[k] = name
        return shared

    def _spec_keyword(self, members: list[Instance], word: str, block_params: dict[str, Any], local: Namespace) -> bool:
        """Whether a spec param that a block's expression reads, and that differs between the
        variants, can be a keyword parameter of the block's class (`groups=1`, as torchvision's)."""
        return (word not in block_params and word not in _LOCAL_NAMES and _plain_name(word) and word not in local.taken
                and word in self.network.params and all(word in self._params(m) for m in members)
                and all(_scalar(self._params(m)[word]) for m in members))

    def _expression(self, members: list[Instance], k: int, params: dict[str, tuple[list[Any], frozenset[str]]],
                    by_values: dict[tuple, str], local: Namespace, keywords: dict[str, Any]) -> str | None:
        """Slot k as the spec's expression in Python over the constructor's parameters (and
        block params it reads, which become parameters), if it gives every instance's value."""
        sources = {m.slots[k].source for m in members if m.slots[k].value is not MISSING}
        if len(sources) != 1 or None in sources or members[0].node is None:
            return None
        (source,) = sources
        expression = parse_expr(source)  # type: ignore[arg-type]
        block_params = dict(members[0].node.args)
        names: dict[str, Var] = {}
        values: dict[str, Any] = {}
        added: dict[str, list[Any]] = {}
        for word in _in_order(expression.names(), source):
            if word in params:
                names[word] = Var(word)
            elif word == "input_channels" and "in_channels" in params:
                names[word] = Var("in_channels")
            elif word in block_params and _plain_name(word) and word not in local.taken:
                names[word] = Var(word)
                added[word] = [dict(m.node.args)[word] for m in members]  # type: ignore[union-attr]
            elif word not in block_params and word not in _LOCAL_NAMES and self._same_param(members, word)[0]:
                values[word] = self._same_param(members, word)[1]
            elif self._spec_keyword(members, word, block_params, local):
                names[word] = Var(word)
                added[word] = [self._params(m)[word] for m in members]
                keywords[word] = self.network.params[word]
            else:
                return None
        text = python_expression(source, names, values, frozenset(params) | frozenset(added))  # type: ignore[arg-type]
        if text is None:
            return None
        for j, m in enumerate(members):
            if m.slots[k].value is MISSING:
                continue
            env = {**values, **{w: vs[j] for w, vs in added.items()}}
            env |= {w: params[str(v)][0][j] for w, v in names.items() if str(v) in params}
            if any(v is MISSING for v in env.values()):
                return None
            try:
                if not _same(expression.evaluate(env), m.slots[k].value):
                    return None
            except ExprError:
                return None
        for word, vs in added.items():
            issued = str(local.name(word))
            params[issued] = (vs, frozenset())
            by_values.setdefault(tuple((type(v), v) for v in vs), issued)
        return text

    def _defaults(self, key: ClassKey, cls: ClassDef) -> None:
        """The block's own defaults (`stride=1`) for the constructor's last parameters named after them."""
        own = self.network.block_defaults.get(key[1], {}) if key[0] == "block" else {}
        for k in range(len(cls.params) - 1, -1, -1):
            param = str(cls.params[k][0])
            if cls.params[k][1] is not NO_DEFAULT:
                continue
            if param not in own:
                break
            cls.params[k] = (cls.params[k][0], own[param])
        self.defaults[str(cls.name)] = {str(p): d for p, d in cls.params if d is not NO_DEFAULT}

    def _union(self, name: Var, members: list[Instance]) -> tuple[ClassDef, list[list[tuple[str, Any, frozenset[str]]]]]:
        """One class for instances that differ only in which optional nodes (`if:`) they have,
        as torchvision's Bottleneck with its `downsample`: each optional module is built
        under its condition, written in Python over the constructor's parameters, and
        `forward` checks for it. Raises _NoUnion unless the condition gives each instance's
        structure and each instance's forward is the class's with its absent nodes left out."""
        full = max(members, key=lambda m: len(m.node.body.nodes))  # type: ignore[union-attr]
        order = [n.name for n in full.node.body.nodes]  # type: ignore[union-attr]
        if any(m.sequential for m in members):
            raise _NoUnion("a sequential")
        have = [set(order) - set(_absent(full.node.body.nodes, m.node.body.nodes)) for m in members]  # type: ignore[union-attr]
        optional = [n for n in order if any(n not in h for h in have)]
        nodes = {n: full.node.body.node(n) for n in optional}  # type: ignore[union-attr]
        if any(is_index(n) or nodes[n].condition is None or n not in full.at or not full.forward[full.at[n][0]].startswith("    ")
               or full.forward[full.at[n][0]].startswith("        ") for n in optional):
            raise _NoUnion("an optional node without a condition")
        aligned = [_aligned(full, m) for m in members]
        comments = {}
        for m, h in zip(members, have):
            lines = _without(full, [n for n in optional if n not in h])
            if _canonical([line for _, line in lines]) != _canonical(m.forward):
                raise _NoUnion("another forward")
            kept = [k for k, line in lines if not line.startswith(_ALIAS)]
            for k, line in zip(kept, m.forward):
                comments[k] = comments.get(k, True) and line == full.forward[k]
        lead = members.index(full)
        order_of = list(range(len(members)))
        for seq in (aligned, have, order_of):
            seq.insert(0, seq.pop(lead))
        cls, arguments = self._unify(name, aligned, network=False)
        attributes = set(order) | {a for a, _ in full.init}
        for n in optional:
            condition = self._condition(nodes[n], full, aligned, have, cls, arguments, n)
            if is_module(nodes[n]):
                cls.conditions[n] = condition
            else:
                flag = f"use_{n}"
                if flag in attributes or not is_checked(flag):
                    raise _NoUnion("no name for the flag")
                attributes.add(flag)
                cls.flags.append((flag, condition))
        rank = {p: i for i, p in enumerate(["in_channels", *[p for p, _ in full.node.args]])}  # type: ignore[union-attr]
        defaulted = {str(p) for p, d in cls.params if d is not NO_DEFAULT}
        cls.params.sort(key=lambda p: (str(p[0]) in defaulted, rank.get(str(p[0]), len(rank))))
        for args in arguments:
            args.sort(key=lambda a: (a[0] in defaulted, rank.get(a[0], len(rank))))
        cls.forward = _guarded(full, optional, {n: is_module(nodes[n]) for n in optional}, comments)
        return cls, [arguments[order_of.index(i)] for i in range(len(members))]

    def _condition(self, node: Node, full: Instance, aligned: list[Instance], have: list[set[str]], cls: ClassDef,
                   arguments: list[list[tuple[str, Any, frozenset[str]]]], name: str) -> str:
        """The node's `if:` in Python over the constructor's parameters, checked on every instance."""
        condition = parse_expr(node.condition)  # type: ignore[arg-type]
        graph = full.node.body  # type: ignore[union-attr]
        reads_input = bool(node.inputs) and node.inputs[0].node == graph.inputs[0][0]
        values: dict[str, Any] = {}
        for word in _in_order(condition.names(), node.condition):  # type: ignore[arg-type]
            if word in {str(p) for p, _ in cls.params}:
                continue
            if word == "input_channels" or (word == "in_channels" and reads_input):
                self._add_param(cls, aligned, arguments, "in_channels", lambda m: m.node.in_shapes[0][0])
                continue
            if word in dict(full.node.args):  # type: ignore[union-attr]
                self._add_param(cls, aligned, arguments, word, lambda m, w=word: dict(m.node.args)[w])
                continue
            if word not in _LOCAL_NAMES and self._same_param(aligned, word)[0]:
                values[word] = self._same_param(aligned, word)[1]
                continue
            if self._spec_keyword(aligned, word, dict(full.node.args), Namespace({str(p) for p, _ in cls.params})):  # type: ignore[union-attr]
                self._add_param(cls, aligned, arguments, word, lambda m, w=word: self._params(m)[w], self.network.params[word])
                continue
            raise _NoUnion(f"the condition reads {word!r}")
        names = {str(p): p for p, _ in cls.params}
        if "input_channels" in condition.names():
            names["input_channels"] = Var("in_channels")
        text = python_expression(node.condition, names, values, frozenset(str(p) for p, _ in cls.params))  # type: ignore[arg-type]
        if text is None:
            raise _NoUnion("a condition outside the written subset")
        for m, h, args in zip(aligned, have, arguments):
            env = {**values, **{p: v for p, v, _ in args}}
            env.setdefault("input_channels", env.get("in_channels"))
            try:
                holds = condition.evaluate(env)
            except ExprError:
                raise _NoUnion("the condition fails on an instance") from None
            if holds is not (name in h):
                raise _NoUnion("the condition does not give the structure")
        return text

    @staticmethod
    def _add_param(cls: ClassDef, aligned: list[Instance], arguments: list[list[tuple[str, Any, frozenset[str]]]],
                   param: str, value: Any, default: Any = NO_DEFAULT) -> None:
        """A constructor parameter that only a condition reads (`expand_ratio`)."""
        if param in {str(p) for p, _ in cls.params}:
            return
        if not _plain_name(param) or param in CODE_NAMES:
            raise _NoUnion(f"not a name a parameter may have: {param!r}")
        cls.params.append((Var(param), default))
        for m, args in zip(aligned, arguments):
            args.append((param, value(m), frozenset()))

    def _spec_param(self, members: list[Instance], k: int) -> str | None:
        """The spec param a slot is, when every instance computed it from that param alone."""
        reads = members[0].slots[k].spec_reads
        if len(reads) != 1 or members[0].slots[k].reads != reads:
            return None
        (p,) = reads
        if p in self.liftable:
            if all(m.slots[k].spec_reads == reads and m.slots[k].reads == reads and _same(m.slots[k].value, self._params(m)[p])
                   for m in members if m.slots[k].value is not MISSING):
                return p
        return None

    def _param_name(self, members: list[Instance], k: int) -> str:
        pairs = [(m.node, m.slots[k].value) for m in members if m.slots[k].value is not MISSING]
        nodes, values = [n for n, _ in pairs], [v for _, v in pairs]
        reads = members[0].slots[k].reads
        block_params = [p for p, _ in nodes[0].args] if nodes[0] is not None else []
        block_params.sort(key=lambda p: p not in reads)  # a param the expression reads wins a tie
        matching = [p for p in block_params if all(_same(dict(n.args).get(p), v) for n, v in zip(nodes, values))]  # type: ignore[union-attr]
        if matching and matching[0] in reads:
            return matching[0]
        # Then the input width, which the expressions of the spec can read as `in_channels`.
        if all(n is not None and n.in_shapes and n.in_shapes[0] and _same(n.in_shapes[0][0], v) for n, v in zip(nodes, values)):
            return "in_channels"
        return matching[0] if matching else members[0].slots[k].label


CODE_NAMES = PYTHON_NAMES

# Names an expression may read that are no spec param, though a spec param may have their name.
_LOCAL_NAMES = frozenset({"in_channels", "in_shape", "input_channels", "input_shape", "i", "block_index", "block_count"})


def _in_order(names: frozenset[str], source: str) -> list[str]:
    """An expression's names in the order the text first names them: a set's order depends
    on the process's hash seed, and emitted source must not."""
    def first(name: str) -> tuple[int, str]:
        found = re.search(rf"(?<![\w.]){re.escape(name)}\b", source)
        return (found.start() if found else len(source), name)

    return sorted(names, key=first)


def _plain_name(name: str) -> bool:
    """A spec name that a namespace issues as it is (no soft keyword such as `match`), so
    that text written with it before it is issued names the same parameter."""
    return is_checked(name) and not keyword.issoftkeyword(name) and not is_index(name)


def _argument(member: Instance, param: str, value: Any) -> Any:
    """A constructor argument; for a slot of a node the instance lacks, the value of the
    block param (or the input width) the parameter is named after."""
    if value is not MISSING:
        return value
    node = member.node
    args = dict(node.args) if node is not None else {}
    if param in args:
        return args[param]
    if param == "in_channels" and node is not None and node.in_shapes and node.in_shapes[0]:
        return node.in_shapes[0][0]
    raise _NoUnion(f"no value for {param!r}")


class _NoUnion(Exception):
    """Instances that one class with optional nodes cannot stand for."""


def _attributes_by_position(node: Node, ctor: Any) -> dict[int, str]:
    """Which of the node's attributes each constructor argument is, by position (the
    positional arguments, then the keywords): the op's own constructor rule tells, by moving
    one attribute at a time and seeing which arguments follow it. An argument is an
    attribute's only where it has the attribute's value and moves with it alone: Linear(8, 8)'s
    in_features comes from the input's shape though `num_classes` is 8 too."""
    if node.attrs is None:
        return {}
    op = OPS[node.op]  # type: ignore[index]
    before = [*ctor.args, *(v for _, v in ctor.kwargs)]
    found: dict[int, set[str]] = {}
    for name, value in node.attrs.model_dump().items():
        moved = _moved(value)
        if moved is None:
            continue
        try:
            other = op.module(node.attrs.model_copy(update={name: moved}), node.in_shapes)
        except Exception:  # noqa: BLE001  (a rule that cannot take the moved value tells nothing)
            continue
        after = [*other.args, *(v for _, v in other.kwargs)] if other is not None else []
        if len(after) != len(before):
            continue
        for k, (a, b) in enumerate(zip(before, after)):
            if not _same(_frozen(a), _frozen(b)) and _same(_frozen(a), _frozen(value)):
                found.setdefault(k, set()).add(name)
    return {k: next(iter(names)) for k, names in found.items() if len(names) == 1}


def _moved(value: Any) -> Any:
    """A value of the same kind that no spec would write, or None for kinds not moved."""
    if type(value) is bool:
        return not value
    if type(value) is int:
        return value + 1_000_003
    if type(value) is float:
        return value + 1_000_003.5
    if type(value) in (tuple, list) and value and all(type(v) is int for v in value):
        return type(value)(v + 1_000_003 for v in value)
    return None


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def _code(line: str) -> str:
    return line.split("  # ", 1)[0]


def _shared_comments(members: list[Instance]) -> list[str]:
    """The first instance's forward, keeping each shape comment only where all instances agree."""
    lines = []
    for i, line in enumerate(members[0].forward):
        if all(m.forward[i] == line for m in members):
            lines.append(line)
        else:
            lines.append(_code(line))
    return lines


def _ordered(params: dict[str, Any], first: Instance) -> list[str]:
    """`in_channels` first, then the block's params in definition order, then the rest as met."""
    block_order = [p for p, _ in first.node.args] if first.node is not None else []
    rank = {p: i for i, p in enumerate(["in_channels", *block_order])}
    return sorted(params, key=lambda p: rank.get(p, len(rank)))


_ATOM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9.e+]*|'[^']*'")


def _operand(item: Item | None, value: Any) -> str:
    text = literal(value) if item is None else flat(item)
    return text if _ATOM.fullmatch(text) else f"({text})"


def _constant(values: list[Any]) -> bool:
    return all(_same(v, values[0]) for v in values)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _scalar(value: Any) -> bool:
    return value is None or type(value) in (bool, int, float, str)


def _key(node: Node) -> ClassKey:
    if node.block is not None:
        return ("block", node.block)
    return ("group", str(node.location))


def _label(node: str, what: str) -> str:
    """A parameter name for a value: `conv3_out_channels`, or `padding` for an unnamed node."""
    return what if is_index(node) else f"{node}_{what}"


def _word(name: str) -> str:
    return f"m{name}" if is_index(name) else name


def _group_word(name: str) -> str:
    """`transition3` -> `transition`: a group made by a repeat is named once for all its instances."""
    return name.rstrip("0123456789") or "group"


def _difference(inst: Instance, main: Instance) -> str:
    """`WithDownsample`: how a structural variant of a block differs from its usual form."""
    mine, usual = [a for a, _ in inst.init if a], {a for a, _ in main.init if a}
    extra = [class_name(a) for a in mine if a not in usual and not is_index(a)]
    missing = [class_name(a) for a in usual if a not in set(mine) and not is_index(a)]
    if extra and not missing:
        return "With" + "".join(extra[:2])
    if missing and not extra:
        return "Without" + "".join(sorted(missing)[:2])
    return ""


def _literal_item(value: Any) -> Item:
    """A literal; a long tuple as a tree, so that the layout can break it over lines."""
    text = literal(value)
    if type(value) is tuple and len(value) > 1 and len(text) > 60:
        return Call("", [_literal_item(v) for v in value])
    return text


def _renumbered(instance: Instance) -> Instance:
    """Slots numbered in the order they appear in the text, without those a loop folded away,
    so that instances differing only in a loop's length have the same template."""
    order: dict[int, int] = {}
    for _, ctor in instance.init:
        for k in flat(ctor).split("\x00")[1::2]:
            order.setdefault(int(k), len(order))

    def renumber(text: str) -> str:
        parts = text.split("\x00")
        return "".join(f"\x00{order[int(p)]}\x00" if i % 2 else p for i, p in enumerate(parts))

    init = [(attr, substitute(ctor, renumber)) for attr, ctor in instance.init]
    slots = [instance.slots[k] for k in sorted(order, key=order.__getitem__)]
    return Instance(instance.node, init, instance.forward, slots, instance.sequential, instance.at, tensors=instance.tensors)


def _loops(children: list[tuple[str, Item]], slots: list[Slot], word: str, named: bool, fold: bool = True) -> list[Item]:
    """Runs of like children as one starred comprehension, as torchvision's loops: equal ones
    (`*[Unit(58) for _ in range(3)]`) and ones whose numbers grow by a step, with names that
    count up (`*[('denselayer%d' % (i + 1), DenseLayer(64 + 32 * i)) for i in range(6)]`).
    The count, start and step are slots of their own, so instances may differ in them."""
    names = [n for n, _ in children]
    shapes = [_MARKER.sub("#", flat(c)) for _, c in children]
    marks = [[int(k) for k in flat(c).split("\x00")[1::2]] for _, c in children]
    result: list[Item] = []
    i = 0
    if not fold:
        return [Call("", [literal(n), c]) if named else c for n, c in children]
    while i < len(children):
        j = i
        # Each child is checked against the run so far, not the whole run again: linear in the
        # number of children (a 10,000-instance repeat).
        while j + 1 < len(children) and shapes[j + 1] == shapes[i] and _extends(slots, marks, i, j + 1) \
                and (not named or _counts_on(names, i, j + 1)):
            j += 1
        steps = _steps(slots, marks, i, j)
        if j > i and (j - i >= 2 or not (named or any(steps))):
            result.append(_loop(children[i], marks[i], steps, names[i] if named else None, j - i + 1, slots, word))
            i = j + 1
        else:
            result.append(Call("", [literal(names[i]), children[i][1]]) if named else children[i][1])
            i += 1
    return result


_MARKER = re.compile("\x00[0-9]+\x00")


def _extends(slots: list[Slot], marks: list[list[int]], first: int, last: int) -> bool:
    """Whether child `last` continues the run first..last-1: each slot one value throughout,
    or ints growing by one step."""
    for k in range(len(marks[first])):
        start, new = slots[marks[first][k]].value, slots[marks[last][k]].value
        if last - first == 1:
            if not _same(new, start) and not (type(start) is int and type(new) is int):
                return False
            continue
        second, previous = slots[marks[first + 1][k]].value, slots[marks[last - 1][k]].value
        if _same(second, start):
            if not _same(new, start):
                return False
        elif type(new) is not int or new - previous != second - start:
            return False
    return True


def _counts_on(names: list[str], first: int, last: int) -> bool:
    """Whether name `last` continues the counting names first..last-1 (see _counting)."""
    if last - first == 1:
        return _counting(names, first, last)
    prefix = names[first].rstrip("0123456789")
    number = names[last][len(prefix):]
    return names[last].startswith(prefix) and is_index(number) and int(number) == int(names[last - 1][len(prefix):]) + 1


def _steps(slots: list[Slot], marks: list[list[int]], first: int, last: int) -> list[int]:
    if last == first:
        return [0] * len(marks[first])
    return [slots[marks[first + 1][k]].value - slots[marks[first][k]].value
            if type(slots[marks[first][k]].value) is int else 0 for k in range(len(marks[first]))]


def _counting(names: list[str], first: int, last: int) -> bool:
    """`denselayer1`, `denselayer2`, ...: one prefix, consecutive numbers."""
    prefix = names[first].rstrip("0123456789")
    numbers = [n[len(prefix):] for n in names[first:last + 1]]
    if not prefix or any(not n.startswith(prefix) or not is_index(d) for n, d in zip(names[first:last + 1], numbers)):
        return False
    return all(int(b) - int(a) == 1 for a, b in zip(numbers, numbers[1:]))


def _loop(child: tuple[str, Item], marks: list[int], steps: list[int], name: str | None, count: int,
          slots: list[Slot], word: str) -> Item:
    """The comprehension for one run: growing slots become `start + step * i`."""
    grows = {m: step for m, step in zip(marks, steps) if step}

    def growing(text: str) -> str:
        parts = text.split("\x00")
        out = []
        for n, part in enumerate(parts):
            if n % 2 and int(part) in grows:
                slots.append(Slot(grows[int(part)], f"{slots[int(part)].label}_step", frozenset()))
                out.append(f"\x00{part}\x00 + \x00{len(slots) - 1}\x00 * i")
            else:
                out.append(f"\x00{part}\x00" if n % 2 else part)
        return "".join(out)

    item = substitute(child[1], growing) if grows else child[1]
    index = "i" if grows or name is not None else "_"
    if name is not None:
        prefix = name.rstrip("0123456789")
        start = int(name[len(prefix):])
        label = f"{literal(prefix + '%d')} % " + (f"(i + {start})" if start else "i")
        item = Call("", [label, item])
    slots.append(Slot(count, f"{word}_count" if word else "count", frozenset()))
    return Call("*", [item, f"for {index} in range(\x00{len(slots) - 1}\x00)"], brackets="[]", sep=" ")


def _sequential(node: Node) -> bool:
    """A group (not a block) that is a plain chain of modules: written as an nn.Sequential."""
    return node.block is None and _chain(node.body)


def _chain(body: Any) -> bool:
    """A graph that is a plain chain of modules, each reading the one before."""
    if body is None or len(body.inputs) != 1 or len(body.outputs) != 1 or not body.nodes:
        return False
    previous = body.inputs[0][0]
    for child in body.nodes:
        if [r.node for r in child.inputs] != [previous] or any(r.index for r in child.inputs) or len(child.out_shapes) != 1:
            return False
        op = OPS[child.op] if child.body is None else None  # type: ignore[index]
        if child.runtime or child.shape_reads:
            return False
        if op is not None and (op.holds_tensor or (not op.stateful and op.module(child.attrs, child.in_shapes) is None)):
            return False
        previous = child.name
    return body.outputs[0].ref.node == previous and body.outputs[0].ref.index == 0


def _inplace_in_chain(graph: Any) -> set[str]:
    """Modules of a chain that may overwrite their input (nn.ReLU(inplace=True) after a conv)."""
    return inplace_candidates(graph)


def _slot_ids(item: Item) -> list[int]:
    return [int(k) for k in flat(item).split("\x00")[1::2]]


def _aligned(full: Instance, member: Instance) -> Instance:
    """The member's slots in the order of the instance with every optional node, MISSING
    for the slots of the nodes it lacks."""
    if [k for _, ctor in full.init for k in _slot_ids(ctor)] != list(range(len(full.slots))):
        raise _NoUnion("slots out of order")
    if member is full:
        return member
    mine = dict(member.init)
    if [a for a, _ in member.init] != [a for a, _ in full.init if a in mine]:
        raise _NoUnion("other modules")
    slots: list[Slot] = []
    for attr, ctor in full.init:
        if attr not in mine:
            slots += [Slot(MISSING, "", frozenset())] * len(_slot_ids(ctor))
        elif _MARKER.sub("#", flat(mine[attr])) != _MARKER.sub("#", flat(ctor)):
            raise _NoUnion("another constructor")
        else:
            slots += [member.slots[k] for k in _slot_ids(mine[attr])]
    return Instance(member.node, full.init, full.forward, slots, at=full.at, tensors=full.tensors)


def _without(full: Instance, absent: list[str]) -> list[tuple[int, str]]:
    """The full instance's forward (line index, line) with each absent node's line replaced
    by an alias: its variable then holds what an absent node passes on, its first input."""
    dropped = {}
    for name in absent:
        index, target, first = full.at[name]
        if first is None:
            raise _NoUnion("an optional node without inputs")
        dropped[index] = f"{_ALIAS}{target} {first}"
    return [(k, dropped.get(k, line)) for k, line in enumerate(full.forward)]


_ALIAS = "\x00alias "


def _guarded(full: Instance, optional: list[str], modules: dict[str, bool], comments: dict[int, bool]) -> list[str]:
    """The class's forward: each optional node's line runs only where the node exists, and
    its variable otherwise holds what the absent node passes on."""
    guards = {full.at[n][0]: n for n in optional}
    lines = []
    for k, line in enumerate(full.forward):
        text = line if comments.get(k, True) else _code(line)
        if k not in guards:
            lines.append(text)
            continue
        name = guards[k]
        _, target, first = full.at[name]
        check = f"{attribute(Var('self'), name)} is not None" if modules[name] else f"self.use_{name}"
        if target != first:
            lines.append(f"    {target} = {first}")
        lines += [f"    if {check}:", "    " + text]
    return lines


def _absent(full: tuple[Node, ...], mine: tuple[Node, ...]) -> list[str]:
    """The named nodes of `full` that `mine` lacks, `mine` being `full` without them. Unnamed
    nodes are numbered by position, so after an absent node their numbers differ by one."""
    absent, k = [], 0
    for node in full:
        if k < len(mine) and (mine[k].name == node.name or (
                is_index(mine[k].name) and is_index(node.name) and mine[k].op == node.op and mine[k].op is not None)):
            k += 1
        elif is_index(node.name):
            raise _NoUnion("an unnamed optional node")
        else:
            absent.append(node.name)
    if k != len(mine):
        raise _NoUnion("not one node list")
    return absent


def _agree(known: list[Any], values: list[Any]) -> bool:
    """Whether `values` equals `known` wherever it is not MISSING (and `known` has a value)."""
    return all(v is MISSING or (k is not MISSING and _same(k, v)) for k, v in zip(known, values))


_TOKEN = re.compile(r"\w+|\S")


def _canonical(lines: list[str]) -> list[str]:
    """A forward with its local variables numbered by assignment, as in SSA form, so that
    forwards that compute the same thing under other variable names compare equal. An alias
    line (`_without`) makes a variable another name for a value, and is no line itself."""
    env: dict[str, str] = {}
    out = []
    made = 0
    for line in lines:
        if line.startswith(_ALIAS):
            target, first = line[len(_ALIAS):].split(" ")
            env[target] = env.get(first, first)
            continue
        code = _code(line)
        indent = code[: len(code) - len(code.lstrip())]
        text = code.strip()
        if text.startswith("def forward("):
            params = [p.strip() for p in text[len("def forward("):].split(")")[0].split(",")[1:]]
            env = {p: f"%p{k}" for k, p in enumerate(params)}
            out.append(f"def forward({len(params)})")
            continue
        assigns = " = " in text and not text.startswith(("return ", "if "))
        targets, rhs = text.split(" = ", 1) if assigns else ("", text)
        tokens = _TOKEN.findall(rhs)
        rhs = " ".join(env.get(t, t) if k == 0 or tokens[k - 1] != "." else t for k, t in enumerate(tokens))
        if assigns:
            names = [t.strip().split(":")[0].strip() for t in targets.split(",")]
            for name in names:
                made += 1
                env[name] = f"%a{made}"
            targets = ", ".join(env[name] for name in names)
            out.append(f"{indent}{targets} = {rhs}")
        else:
            out.append(f"{indent}{rhs}")
    return out
