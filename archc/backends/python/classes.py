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

import re
from dataclasses import dataclass, field
from typing import Any

from archc.backends.python.forward import forward_source, inplace_candidates, is_module, output_fields
from archc.backends.python.lift import liftable_params
from archc.backends.python.layout import Call, Item, compress_runs, flat, substitute
from archc.ir.graph import Network, Node
from archc.ops import OPS
from archc.pysource import Namespace, Var, literal
from archc.spec.names import class_name, is_index

ClassKey = tuple[str, str]
NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()


@dataclass
class Slot:
    value: Any
    label: str  # the parameter name the value gets when nothing better fits
    reads: frozenset[str]  # spec names the value was computed from
    default: Any = NO_DEFAULT  # torch's default for a keyword argument, which can be left out


@dataclass
class Instance:
    """One module written with slots: `init` is (attribute, constructor) pairs in order."""

    node: Node | None  # None for the network itself
    init: list[tuple[str, Item]]
    forward: list[str]
    slots: list[Slot]
    sequential: bool = False  # a block that is a chain of unnamed modules: an nn.Sequential subclass

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


class Generator:
    """Writes the classes of one network; `classes` comes out in dependency order."""

    def __init__(self, network: Network, reserved: frozenset[str]) -> None:
        self.network = network
        self.class_names = Namespace(reserved)
        self.classes: list[ClassDef] = []
        self.instances: dict[ClassKey, list[Node]] = {}
        self.placed: dict[int, tuple[Var, list[tuple[str, Any, frozenset[str]]]]] = {}
        self.keep_alive: list[Node] = []
        self.liftable = liftable_params(network)
        self._collect(network.graph.nodes)

    def run(self) -> ClassDef:
        graph = self.network.graph
        style = "dict" if self.network.extracted else "namedtuple"
        name = self.class_names.name(class_name(self.network.name))
        types: list[tuple[Var, tuple[str, ...]]] = []
        train_fields, eval_fields = output_fields(graph, True), output_fields(graph, False)
        output_type = eval_type = None
        if style == "namedtuple" and train_fields:
            output_type = self.class_names.name(f"{name}Outputs")
            types.append((output_type, train_fields))
        if style == "namedtuple" and eval_fields and eval_fields != train_fields:
            eval_type = self.class_names.name(f"{name}EvalOutputs")
            types.append((eval_type, eval_fields))
        instance = self._instance(None, graph, style, output_type, eval_type or output_type)
        network_class = self._unify(name, [instance], network=True)[0]
        network_class.output_types = types
        network_class.doc = self.network.doc
        self.classes.append(network_class)
        return network_class

    # Collecting and placing instances -------------------------------------------------------

    def _collect(self, nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if node.body is None:
                continue
            self.keep_alive.append(node)
            if not _sequential(node):
                self.instances.setdefault(_key(node), []).append(node)
            self._collect(node.body.nodes)

    def _place(self, node: Node) -> tuple[Var, list[tuple[str, Any, frozenset[str]]]]:
        """The class of a module node and its constructor arguments: (param, value, names read)."""
        if id(node) not in self.placed:
            self._resolve(_key(node))
        return self.placed[id(node)]

    def _resolve(self, key: ClassKey) -> None:
        nodes = self.instances[key]
        written = [self._instance(n, n.body, "tuple") for n in nodes]  # type: ignore[arg-type]
        by_template: dict[str, list[Instance]] = {}
        for inst in written:
            by_template.setdefault(inst.template, []).append(inst)
        base = class_name(key[1] if key[0] == "block" else _group_word(nodes[0].name), "Group")
        groups = list(by_template.values())
        main = max(groups, key=len)
        names = {id(main): self.class_names.name(base)}
        for members in groups:
            if id(members) not in names:
                names[id(members)] = self.class_names.name(base + _difference(members[0], main[0]))
        for members in groups:
            name = names[id(members)]
            cls, arguments = self._unify(name, members, network=False)
            self.classes.append(cls)
            for inst, args in zip(members, arguments):
                self.placed[id(inst.node)] = (name, args)

    # Writing one instance -------------------------------------------------------------------

    def _instance(self, node: Node | None, graph: Any, style: str, output_type: Var | None = None, eval_type: Var | None = None) -> Instance:
        slots: list[Slot] = []
        if node is not None and _chain(graph) and all(is_index(n.name) for n in graph.nodes):
            # Like torchvision's stages: an nn.Sequential subclass, indexable as model.stage2[1].
            return _renumbered(Instance(node, [("", self._sequential(node, slots, ""))], [], slots, sequential=True))
        forward = forward_source(graph, style, output_type, eval_type)
        needed = graph.nodes_needed(training=True)
        init = [(child.name, self._constructor(child, slots, child.name in forward.inplace))
                for child in graph.nodes if is_module(child) and child.name in needed]
        return _renumbered(Instance(node, init, forward.lines, slots))

    def _constructor(self, node: Node, slots: list[Slot], inplace: bool) -> Item:
        def slot(value: Any, label: str, reads: frozenset[str], default: Any = NO_DEFAULT) -> str:
            slots.append(Slot(value, label, reads, default))
            return f"\x00{len(slots) - 1}\x00"

        if node.body is not None and _sequential(node):
            return self._sequential(node, slots)
        if node.body is not None and node.block is None and not node.body.nodes:
            return Call("nn.Identity")
        if node.body is not None:
            cls, args = self._place(node)
            call_reads = dict(node.reads)
            return Call(str(cls), [slot(v, _label(node.name, p), reads or call_reads.get(p, frozenset())) for p, v, reads in args])
        op = OPS[node.op]  # type: ignore[index]
        ctor = op.module(node.attrs, node.in_shapes)
        assert ctor is not None  # is_module() said so
        kwargs = list(ctor.kwargs) + ([("inplace", True)] if op.module_inplace else [])
        defaults = dict(ctor.defaults) | ({"inplace": False} if op.module_inplace else {})
        if op.module_inplace and not inplace:
            kwargs[-1] = ("inplace", False)
        labels = list(ctor.labels) + [f"arg{k}" for k in range(len(ctor.labels), len(ctor.args))]
        reads = _reads_by_value(node)
        return Call(
            ctor.callee,
            [slot(v, _label(node.name, label), reads(v)) for v, label in zip(ctor.args, labels)],
            [(k, slot(v, _label(node.name, k), reads(v), defaults.get(k, NO_DEFAULT))) for k, v in kwargs],
        )

    def _sequential(self, node: Node, slots: list[Slot], word: str | None = None) -> Item:
        """An nn.Sequential of the group's modules (with names where they are not 0, 1, ...)."""
        body = node.body
        assert body is not None
        inplace = _inplace_in_chain(body)
        children = [(child.name, self._constructor(child, slots, child.name in inplace)) for child in body.nodes]
        word = _word(node.name) if word is None else word
        if [name for name, _ in children] == [str(i) for i in range(len(children))]:
            return Call("nn.Sequential", _loops(children, slots, word, named=False))
        pairs = _loops(children, slots, word, named=True)
        return Call("nn.Sequential", [Call("OrderedDict", [Call("", pairs, brackets="[]")])])

    # Sharing a class among instances ------------------------------------------------------------

    def _unify(self, name: Var, members: list[Instance], network: bool) -> tuple[ClassDef, list[list[tuple[str, Any, frozenset[str]]]]]:
        """One class for instances with one template; the slots that differ become parameters."""
        first = members[0]
        params: dict[str, tuple[list[Any], frozenset[str]]] = {}
        fill: dict[int, Item | None] = {}
        by_values: dict[tuple, str] = {}
        local = Namespace()
        for k, slot in enumerate(first.slots):
            values = [m.slots[k].value for m in members]
            exact = tuple((type(v), v) for v in values)
            param = self._spec_param(members, k) or (None if _constant(values) else self._param_name(members, k))
            if param is None:
                fill[k] = None if _same(values[0], slot.default) else _literal_item(values[0])
                continue
            if exact not in by_values:
                by_values[exact] = str(local.name(param))
                reads = frozenset({param}) if param in self.network.params else frozenset()
                params[by_values[exact]] = (values, reads)
            fill[k] = by_values[exact]
        ordered = _ordered(params, first)
        arguments = [[(p, params[p][0][j], params[p][1]) for p in ordered] for j in range(len(members))]
        spec_defaults = [(Var(p), params[p][0][0] if network else NO_DEFAULT) for p in ordered]

        def filled(text: str) -> Item | None:
            parts = text.split("\x00")
            if len(parts) == 3 and not parts[0] and not parts[2]:
                return fill[int(parts[1])]
            return "".join(flat(fill[int(p)] or "") if i % 2 else p for i, p in enumerate(parts))

        init = [(attr, compress_runs(substitute(ctor, filled))) for attr, ctor in first.init]
        return ClassDef(name, spec_defaults, init, _shared_comments(members), sequential=first.sequential), arguments

    def _spec_param(self, members: list[Instance], k: int) -> str | None:
        """The spec param a slot is, when every instance computed it from that param alone."""
        reads = members[0].slots[k].reads
        if len(reads) != 1:
            return None
        (p,) = reads
        if p in self.liftable:
            if all(m.slots[k].reads == reads and _same(m.slots[k].value, self.network.params[p]) for m in members):
                return p
        return None

    def _param_name(self, members: list[Instance], k: int) -> str:
        values = [m.slots[k].value for m in members]
        nodes = [m.node for m in members]
        reads = members[0].slots[k].reads
        block_params = [p for p, _ in nodes[0].args] if nodes[0] is not None else []
        block_params.sort(key=lambda p: p not in reads)  # a param the expression reads wins a tie
        for p in block_params:
            if all(_same(dict(n.args).get(p), v) for n, v in zip(nodes, values)):  # type: ignore[union-attr]
                return p
        if all(n is not None and n.in_shapes[0] and _same(n.in_shapes[0][0], v) for n, v in zip(nodes, values)):
            return "in_channels"
        return members[0].slots[k].label


def _reads_by_value(node: Node) -> Any:
    """What a constructor argument was computed from: the names read by the node's arguments
    of that value (a constructor argument is one of the op's attributes, maybe renamed)."""
    attrs = node.attrs.model_dump() if node.attrs is not None else {}
    reads = dict(node.reads)

    def of(value: Any) -> frozenset[str]:
        # Two attributes of one value (padding=1, groups=1) leave it unknown which one this is.
        found = {reads.get(name, frozenset()) for name, v in attrs.items() if _same(_frozen(v), _frozen(value))}
        return next(iter(found)) if len(found) == 1 else frozenset()

    return of


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
    return Instance(instance.node, init, instance.forward, slots, instance.sequential)


def _loops(children: list[tuple[str, Item]], slots: list[Slot], word: str, named: bool) -> list[Item]:
    """Runs of like children as one starred comprehension, as torchvision's loops: equal ones
    (`*[Unit(58) for _ in range(3)]`) and ones whose numbers grow by a step, with names that
    count up (`*[('denselayer%d' % (i + 1), DenseLayer(64 + 32 * i)) for i in range(6)]`).
    The count, start and step are slots of their own, so instances may differ in them."""
    names = [n for n, _ in children]
    shapes = [_MARKER.sub("#", flat(c)) for _, c in children]
    marks = [[int(k) for k in flat(c).split("\x00")[1::2]] for _, c in children]
    result: list[Item] = []
    i = 0
    while i < len(children):
        j = i
        while j + 1 < len(children) and shapes[j + 1] == shapes[i] and _steady(slots, marks, i, j + 1) \
                and (not named or _counting(names, i, j + 1)):
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


def _steady(slots: list[Slot], marks: list[list[int]], first: int, last: int) -> bool:
    """Whether every slot of children first..last is one value, or ints growing by one step."""
    for k in range(len(marks[first])):
        values = [slots[marks[c][k]].value for c in range(first, last + 1)]
        if all(_same(v, values[0]) for v in values):
            continue
        if not all(type(v) is int for v in values):
            return False
        if any(b - a != values[1] - values[0] for a, b in zip(values, values[1:])):
            return False
    return True


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
        if op is not None and (op.holds_tensor or (not op.stateful and op.module(child.attrs, child.in_shapes) is None)):
            return False
        previous = child.name
    return body.outputs[0].ref.node == previous and body.outputs[0].ref.index == 0


def _inplace_in_chain(graph: Any) -> set[str]:
    """Modules of a chain that may overwrite their input (nn.ReLU(inplace=True) after a conv)."""
    return inplace_candidates(graph)
