"""IR stage: the names visible while one node sequence is expanded."""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from archc.errors import Location, SpecError, spec_error
from archc.ir.graph import Node, Ref
from archc.ops.base import Shape
from archc.spec.expr import did_you_mean

INPUT = "input"

# Attributes every torch.nn.Module has: a node with one of these names could not be
# registered as a submodule. Kept here so that checking a spec never imports torch;
# a test compares it with dir(torch.nn.Module).
MODULE_ATTRIBUTES = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad""".split()
)


def check_node_name(name: str, where: Location) -> None:
    if name.isdigit():
        return
    if not name.isidentifier() or keyword.iskeyword(name):
        raise spec_error(where, f"invalid node name {name!r}: use letters, digits and '_' (not starting with a digit), or a plain index")
    if name == INPUT:
        raise spec_error(where, f"{INPUT!r} is reserved: it names the input of the enclosing block")
    if name in MODULE_ATTRIBUTES or name.startswith("_"):
        raise spec_error(where, f"node name {name!r} would clash with torch.nn.Module's own attribute {name!r}")


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

    def __post_init__(self) -> None:
        for name, shape in self.inputs:
            self.shapes[name] = (shape,)
        if self.inputs:
            self.prev = Ref(self.inputs[0][0])

    def shape(self, ref: Ref) -> Shape:
        return self.shapes[ref.node][ref.index]

    def add(self, node: Node) -> None:
        if node.name in self.shapes:
            first = self.defined_at.get(node.name)
            notes = [f"first defined at {first}"] if first else []
            raise spec_error(node.location, f"duplicate node name {node.name!r}", *notes)
        self.nodes.append(node)
        self.shapes[node.name] = node.out_shapes
        self.defined_at[node.name] = node.location
        self.prev = Ref(node.name)
        self.position += 1

    def skip(self, name: str | None, passes: Ref | None) -> None:
        """Record an absent optional node: references to it get what it would have read."""
        if name is not None:
            self.aliases[name] = passes

    def resolve(self, text: str | int, where: Location) -> Ref:
        name, index = _split_ref(str(text), where)
        while name in self.aliases and name not in self.shapes:
            target = self.aliases[name]
            if target is None:
                raise spec_error(where, f"node {name!r} is absent (its 'if' is false) and has no single input to pass on")
            name, index = target.node, target.index if index == 0 else index
        if name not in self.shapes:
            raise self._unknown(name, where)
        count = len(self.shapes[name])
        if index >= count:
            raise spec_error(where, f"{name!r} has {count} output{'s' if count > 1 else ''}; there is no output {index}")
        return Ref(name, index)

    def _unknown(self, name: str, where: Location) -> SpecError:
        if name in self.pending:
            return spec_error(
                where, f"node {name!r} is defined later (at {self.pending[name]}); a node can only read earlier nodes"
            )
        visible = list(self.shapes) + list(self.aliases)
        return spec_error(where, f"unknown node {name!r}{did_you_mean(name, visible)}")


def _split_ref(text: str, where: Location) -> tuple[str, int]:
    """`name` or `name.K` (output K of a multi-output node)."""
    name, dot, index = text.partition(".")
    if not dot:
        return name, 0
    if not index.isdigit():
        raise spec_error(where, f"bad reference {text!r}: expected 'name' or 'name.N' with N an output index")
    return name, int(index)
