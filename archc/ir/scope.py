"""IR stage: the names visible while one node sequence is expanded."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from archc.errors import Location, SpecError, spec_error
from archc.ir.graph import Node, Ref
from archc.ops.base import Shape
from archc.shapes.symbolic import SymShape
from archc.spec.expr import did_you_mean
from archc.spec.names import check_name, is_index

INPUT = "input"

def check_node_name(name: str, where: Location) -> None:
    """The one name rule (archc.spec.names), plus `input`, which names a block's input."""
    check_name(name, where, "node", index_ok=True)
    if name == INPUT:
        raise spec_error(where, f"{INPUT!r} is reserved: it names the input of the enclosing block")


def input_names_env(name: str) -> tuple[str, str]:
    """The expression names that read the shape of a block input called `name`."""
    return f"{name}_shape", f"{name}_channels"


class Broken(Exception):
    """A node reads a node whose own error is already reported: skip it, report nothing more."""


# The name `prev` takes after a failed item; no spec name can be empty.
FAILED = ""


@dataclass
class Scope:
    """Nodes expanded so far in one graph, and how names resolve to their outputs."""

    inputs: tuple[tuple[str, Shape], ...]
    nodes: list[Node] = field(default_factory=list)
    shapes: dict[str, tuple[Shape, ...]] = field(default_factory=dict)
    aliases: dict[str, Ref | None] = field(default_factory=dict)  # absent optional nodes pass their input on
    defined_at: dict[str, Location] = field(default_factory=dict)
    pending: dict[str, Location] = field(default_factory=dict)  # names later in the sequence
    prev: Ref = Ref(INPUT)
    position: int = 0  # the index an unnamed node gets, as in nn.Sequential
    current: str | None = None  # the node being expanded, which cannot read itself
    # After an error: names the failed items would have defined. References to them are
    # not reported again (one root cause, one message); `lenient` when those names are
    # not all known (templates), so any unknown name may be one of them.
    broken: set[str] = field(default_factory=set)
    lenient: bool = False
    by_name: dict[str, Node] = field(default_factory=dict)  # `nodes` by name, for node() in constant time
    declared: bool = False  # a block's body whose `inputs:` names its inputs (`x_prev_shape` is visible)
    # How many outputs a group had before dotted paths exposed inner nodes through it: `name.N`
    # reads one of those, never a tap that an unrelated path happened to add (`layers.2.conv`).
    own_outputs: dict[str, int] = field(default_factory=dict)
    _input_env: dict[str, object] | None = None

    def __post_init__(self) -> None:
        for name, shape in self.inputs:
            self.shapes[name] = (shape,)
        if self.inputs:
            self.prev = Ref(self.inputs[0][0])

    def input_env(self) -> dict[str, object]:
        """The names that read the shapes of the enclosing block's inputs: `input_shape` and
        `input_channels` for the first, and `NAME_shape`, `NAME_channels` for each declared one."""
        if self._input_env is None:  # the same for every node of the graph
            self._input_env = inputs_env(self.inputs, self.declared)
        return self._input_env

    def shape(self, ref: Ref) -> Shape:
        return self.shapes[ref.node][ref.index]

    def previous(self) -> Ref:
        """The default input of the next node: the last node's output."""
        if self.prev.node in self.broken:
            raise Broken()
        return self.prev

    def node(self, name: str) -> Node | None:
        return self.by_name.get(name)

    def add(self, node: Node) -> None:
        if node.name in self.shapes and node.name in dict(self.inputs):
            raise spec_error(node.location, f"node name {node.name!r} is the name of an input here; rename the node")
        if node.name in self.shapes:
            first = self.defined_at.get(node.name)
            notes = [f"first defined at {first}"] if first else []
            raise spec_error(node.location, f"duplicate node name {node.name!r}", *notes)
        self.nodes.append(node)
        self.by_name[node.name] = node
        self.shapes[node.name] = node.out_shapes
        self.defined_at[node.name] = node.location
        self.prev = Ref(node.name)
        self.position += 1

    def replace(self, old: Node, new: Node) -> None:
        """Put `new` where `old` is, under the same name (a group that now exposes an inner node)."""
        self.nodes[self.nodes.index(old)] = new
        self.by_name[new.name] = new

    def skip(self, name: str | None, passes: Ref | None) -> None:
        """Record an absent optional node: references to it by name get what it would have read.

        The chain is not redirected: a node after it that reads its predecessor gets the last
        node that exists, so an optional residual `add` at the end of a block leaves the
        block's output as the branch before it (MobileNet v2's inverted residual)."""
        if name is not None:
            self.aliases[name] = passes

    def resolve(self, text: str | int, where: Location) -> Ref:
        name, index = _split_ref(str(text), where)
        while name in self.aliases and name not in self.shapes:
            target = self.aliases[name]
            if target is None:
                raise spec_error(where, f"node {name!r} is absent (its 'if' is false) and has no single input to pass on")
            name, index = target.node, target.index if index == 0 else index
        if name in self.broken or (self.lenient and name not in self.shapes):
            raise Broken()
        if name not in self.shapes:
            raise self._unknown(name, where)
        count = self.own_outputs.get(name, len(self.shapes[name]))
        if index >= count:
            raise spec_error(where, f"{name!r} has {count} output{'s' if count > 1 else ''}; there is no output {index}",
                             *([f"a dotted path reads a node inside {name!r}: '{name}.{index}.NAME'"] if name in self.own_outputs else []))
        return Ref(name, index)

    def _unknown(self, name: str, where: Location) -> SpecError:
        if name == self.current:
            return spec_error(where, f"node {name!r} cannot read its own output; 'from' names earlier nodes")
        if name in self.pending:
            return spec_error(
                where, f"node {name!r} is defined later (at {self.pending[name]}); a node can only read earlier nodes"
            )
        visible = [n for n in list(self.shapes) + list(self.aliases) if n]
        if re.fullmatch(r"-\d+", name):
            return spec_error(
                where, f"'from: {name}' counts nodes backwards, which archc does not: name the node instead "
                "(a node reads the previous one by default)", f"nodes before this one: {_listed(visible)}",
            )
        if is_index(name):
            numbered = [n for n in visible if is_index(n)]
            return spec_error(
                where, f"unknown node {name!r}: unnamed nodes are numbered by position, and only "
                f"{len(numbered)} come{'s' if len(numbered) == 1 else ''} before this one",
                f"nodes before this one: {_listed(visible)}",
            )
        hint = did_you_mean(name, visible)
        notes = [] if hint else [f"nodes before this one: {_listed(visible)}"]
        return spec_error(where, f"unknown node {name!r}{hint}", *notes)


def inputs_env(inputs: tuple[tuple[str, Shape], ...], declared: bool) -> dict[str, object]:
    """`input_shape`, `input_channels` (the first input, or the one called `input`), and for
    inputs a block declares, `NAME_shape` and `NAME_channels` for each."""
    if not declared:
        return next((_shape_env(INPUT, shape) for name, shape in inputs if name == INPUT), {})
    env = _shape_env(INPUT, inputs[0][1])
    for name, shape in inputs:
        env.update(_shape_env(name, shape))
    return env


def _shape_env(name: str, shape: Shape) -> dict[str, object]:
    shape_name, channels_name = input_names_env(name)
    if isinstance(shape, SymShape):
        shape = shape.tagged(Ref(name))  # read at run time from that input
    return {shape_name: shape, channels_name: shape[0] if shape else 0}


def _listed(names: list[str], most: int = 12) -> str:
    shown = ", ".join(names[-most:])
    return ("..., " if len(names) > most else "") + shown


def _split_ref(text: str, where: Location) -> tuple[str, int]:
    """`name` or `name.K` (output K of a multi-output node)."""
    name, dot, index = text.partition(".")
    if not dot:
        return name, 0
    if not is_index(index):
        raise spec_error(where, f"bad reference {text!r}: expected 'name' or 'name.N' with N an output index")
    return name, int(index)
