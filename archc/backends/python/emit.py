"""Python source backend: a whole network as one standalone module that imports only torch.

`emit_network(network)` returns the module's source. `archc emit` writes it to a file and
`archc.build` executes it, so the file a user reads is exactly the code that runs.
The layout of the file is a jinja2 template; everything that decides what goes into it
is here, and every piece of text in it comes from the namespace or the literal writer.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from archc.backends.python.classes import CODE_NAMES, NO_DEFAULT, ClassDef, Generator
from archc.backends.python.layout import WIDTH, Call, render
from archc.ir.graph import Network
from archc.pysource import Namespace, Var, attribute, field_names, literal
from archc.spec.names import identifier, is_index

RUNTIME = Path(__file__).resolve().parent.parent / "pytorch" / "runtime.py"
SELF = Var("self")
# Names the emitted module defines besides its classes.
MODULE_NAMES = frozenset({"OrderedDict", "NamedTuple", "Optional", "create", "init_weights", "VARIANT", "VARIANTS", "VARIANT_INIT", "PARAMS", "INIT", "Tensor", "_init_rules", "_reset", "_NO_RESET", "_STATS_SET", "_init_plan", "_run", "_initialise", "_Undrawn"})

_TEMPLATE = jinja2.Environment(
    loader=jinja2.PackageLoader("archc.backends.python", "templates"),
    keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False,
    undefined=jinja2.StrictUndefined,
).get_template("module.py.j2")


@dataclass(frozen=True)
class Emitted:
    source: str
    network_class: str
    class_sources: dict[str, str]  # each class's own text, for `model.code`
    variant_classes: dict = field(default_factory=dict)  # {variant: its network class}


def emit_variants(networks: list[Network]) -> Emitted:
    """The file `archc emit` writes for a spec: every variant (the default first) where they
    share their classes well, the file being at most twice the default variant's alone;
    else the variants that the default's network class covers, with their own arguments."""
    alone = emit_network(networks[0])
    if len(networks) == 1:
        return alone
    every = emit_network(networks)
    if _code_lines(every.source) <= 2 * _code_lines(alone.source):
        return every
    shared = [n for n in networks if every.variant_classes[n.variant] == every.network_class]
    others = [str(n.variant) for n in networks if n not in shared]
    return emit_network(shared, others) if len(shared) > 1 else emit_network(networks[0], others)


def _code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def emit_network(network: Network | list[Network], others: list[str] | None = None, compact: bool = True) -> Emitted:
    """One network, or the variants of one spec (the default variant first), as one module;
    `others` names the spec's variants left for files of their own, for the docstring.
    `compact=False`: every instance written as it is (see Generator)."""
    networks = [network] if isinstance(network, Network) else list(network)
    network = networks[0]
    helpers = _runtime_helpers()
    from archc.ops.plugins import MODULES

    generator = Generator(networks, MODULE_NAMES | frozenset(helpers) | frozenset(MODULES), compact)
    network_class = generator.run()
    class_sources = {str(c.name): class_source(c) for c in generator.classes}
    body = "\n\n\n".join(class_sources.values())
    used = _used_helpers(helpers, body)
    network_classes = {str(name) for _, name, _ in generator.variants}
    output_types = [t for c in generator.classes if str(c.name) in network_classes for t in c.output_types]
    training_only = set().union(*(_training_only(n) for n in networks))
    tables = {n.variant: _init_table(n, used, set(class_sources)) for n in networks}
    source = _TEMPLATE.render(
        docstring=_docstring(_summary(networks, others or []), ""),
        ordered_dict="OrderedDict(" in body,
        math="math." in body or any("math." in text for text in used.values()),
        named_tuple=bool(output_types),
        optional="Optional[Tensor]" in body,
        helpers=list(used.values()),
        imports=_plugin_imports(body),
        output_types=[_output_type(name, fields, training_only) for name, fields in output_types],
        classes=list(class_sources.values()),
        network_class=str(network_class.name) if len(network_classes) == 1 else "nn.Module",
        variant=literal(network.variant),
        variants=[render_row(f"{literal(v)}: ({name}, {_arguments(args)})") for v, name, args in generator.variants],
        init=tables[network.variant],
        params=literal(tuple(dict.fromkeys(str(p) for c in generator.classes if str(c.name) in network_classes
                                           for p, _ in c.params if str(p) in generator.liftable))),
        variant_init=[(literal(v), t) for v, t in tables.items() if t != tables[network.variant]],
        factories=_factories(networks, network_class, MODULE_NAMES | frozenset(class_sources) | frozenset(helpers),
                             len(network_classes) == 1),
    )
    return Emitted(source, str(network_class.name), class_sources, {v: str(c) for v, c, _ in generator.variants})


def _arguments(args: dict) -> str:
    return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in args.items()) + "}"


def _factories(networks: list[Network], network_class: ClassDef, taken: frozenset[str], one_class: bool) -> list[tuple[str, str, str]]:
    """(function name, variant literal, return annotation) for `def resnet_50(**params)`, one per variant."""
    names = Namespace(taken | {str(network_class.name)} | CODE_NAMES)  # `def super()` would shadow the builtin
    found = []
    for network in networks:
        base = identifier(f"{network.name}_{network.variant}" if network.variant else network.name)
        found.append((str(names.name(base)), literal(network.variant), str(network_class.name) if one_class else "nn.Module"))
    return found


def class_source(cls: ClassDef) -> str:
    lines = [f"class {cls.name}({'nn.Sequential' if cls.sequential else 'nn.Module'}):"]
    if cls.doc:
        lines.append(_docstring(cls.doc, "    "))
        lines.append("")
    signature = ["self"] + [str(p) if d is NO_DEFAULT else f"{p}={literal(d)}" for p, d in cls.params]
    head = f"    def __init__({', '.join(signature)}):"
    if len(head) > WIDTH:
        head = "    def __init__(\n" + "".join(f"        {part},\n" for part in signature) + "    ):"
    local = [f"        {name} = {text}" for name, text in cls.locals]
    if cls.sequential:
        (_, chain), = cls.init
        call = Call("super().__init__", chain.args) if isinstance(chain, Call) else chain
        return "\n".join(lines + [head, *local, "        " + render(call, "        ", WIDTH - 8)])
    lines += [head, "        super().__init__()", *local]
    lines += [f"        {attribute(SELF, flag)} = {condition}" for flag, condition in cls.flags]
    for attr, ctor in cls.init:
        if attr in cls.conditions:
            # An optional module, built where its condition holds, else None (as torchvision's downsample).
            target = attribute(SELF, attr)
            lines.append(f"        if {cls.conditions[attr]}:")
            lines.append(f"            {target} = {render(ctor, '            ', WIDTH - 15 - len(target))}")
            lines += ["        else:", f"            {target} = None"]
        elif is_index(attr):
            # An unnamed module keeps its index as its name, as in nn.Sequential.
            register = "register_parameter" if attr in cls.tensors else "add_module"
            text = render(ctor, "        ", WIDTH - 37)
            lines.append(f"        self.{register}({literal(attr)}, {text})")
        else:
            target = attribute(SELF, attr)
            lines.append(f"        {target} = {render(ctor, '        ', WIDTH - 11 - len(target))}")
    lines.append("")
    lines += ["    " + _fitted(line) for line in cls.forward]
    return "\n".join(lines)


def _fitted(line: str) -> str:
    """A forward line within the width: its shape comment goes first."""
    if len(line) + 4 > WIDTH and "  # " in line:
        return line.split("  # ", 1)[0]
    return line


def _output_type(name: Var, fields: tuple[str, ...], optional: set[str]) -> str:
    lines = [f"class {name}(NamedTuple):"]
    lines += [f"    {var}: {'Optional[Tensor]' if f in optional else 'Tensor'}" for f, var in zip(fields, field_names(list(fields)))]
    return "\n".join(lines)


def _training_only(network: Network) -> set[str]:
    """Outputs that exist only in training mode: None in a scripted model's eval outputs."""
    return {o.name for o in network.graph.outputs if o.training_only}


def _summary(networks: list[Network], others: list[str]) -> str:
    network = networks[0]
    variants = [str(n.variant) for n in networks if n.variant is not None]
    which = f", variant {variants[0]}" if len(variants) == 1 else f", variants {', '.join(variants)}" if variants else ""
    text = f"{network.name}{which}: written by `archc emit` from {Path(network.path).name}. Edit the spec, not this file."
    if others:
        text += f" The other variants ({', '.join(others)}) have network classes of their own: `archc emit --variant NAME`."
    return text  # the spec's doc is the network class's docstring


def _docstring(text: str, indent: str) -> str:
    """A docstring that is one literal per line of text, from the literal writer.

    Adjacent literals in parentheses are one string to Python, so this is a docstring,
    and no character of the spec's text is ever written outside a literal.
    """
    words = text.split(" ")
    lines, current = [], ""
    for word in words:
        if current and len(current) + len(word) > 90:
            lines.append(current)
            current = ""
        current += word + " "
    lines.append(current.rstrip())
    if len(lines) == 1:
        return indent + literal(lines[0])
    inner = "".join(f"{indent}    {literal(line)}\n" for line in lines)
    return f"{indent}(\n{inner}{indent})"


def _init_table(network: Network, helpers: dict[str, str], classes: set[str]) -> list[str]:
    """INIT rows: (tensor, init function, keyword arguments, module paths), grouped by call.

    Applied in module order (init_weights below), exactly as the spec's `init` rules say.
    """
    groups: dict[tuple, list[str]] = {}
    for path, calls in network.init_plan.items():
        for tensor, call in sorted(calls.items()):
            if call.scheme != "default":
                groups.setdefault((tensor, f"{call.scheme}_", tuple(call.kwargs)), []).append(path)
    types = _module_types(network)
    # A type that a helper class also makes inside itself is named by paths, not by type.
    inner = {t for t in set(types.values()) for text in helpers.values() if re.search(rf"\b{t}\(", text)}
    types = {p: t for p, t in types.items() if t not in inner and t not in classes}
    rows = []
    for (tensor, function, kwargs), paths in groups.items():
        # Every module of one type: name the type (as torchvision's `isinstance(m, nn.Conv2d)` loops).
        whole = [t for t in dict.fromkeys(types.get(p) for p in paths)
                 if t is not None and {p for p, u in types.items() if u == t} <= set(paths)]
        rest = tuple(p for p in paths if types.get(p) not in whole)
        for where in [*whole, *([rest] if rest else [])]:
            rows.append(render_row(f"({literal(tensor)}, {literal(function)}, {_kwargs(kwargs)}, {literal(where)})"))
    return rows


def _module_types(network: Network) -> dict[str, str]:
    """{module path: class name} for every op that becomes a module of its own."""
    from archc.ops import OPS

    types = {}
    for path, node in network.graph.walk():
        if node.op is not None and not OPS[node.op].holds_tensor and not node.runtime:
            ctor = OPS[node.op].module(node.attrs, node.in_shapes)
            if ctor is not None:
                types[path] = ctor.callee.rpartition(".")[2]
    return types


def _kwargs(kwargs: tuple[tuple[str, object], ...]) -> str:
    return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in kwargs) + "}"


def render_row(row: str) -> str:
    """A table row wrapped to the line width at commas between quoted paths."""
    if len(row) + 8 <= WIDTH:
        return row
    out, line = [], ""
    for piece in re.split(r"(?<=,) ", row):
        if line and len(line) + len(piece) + 9 > WIDTH:
            out.append(line.rstrip())
            line = ""
        line += piece + " "
    out.append(line.rstrip())
    return "\n        ".join(out)


def _plugin_imports(body: str) -> list[str]:
    """`from team_ops.blocks import MyBlock` for the module classes of ops registered from
    Python (archc.register_op) that the classes use: their text comes from the classes' own
    `__module__` and `__qualname__` (checked to be dotted identifiers), never from a spec."""
    from archc.ops.plugins import MODULES

    lines = []
    for name, cls in sorted(MODULES.items()):
        module, qualname = getattr(cls, "__module__", ""), getattr(cls, "__qualname__", "")
        if not re.search(rf"\b{name}\(", body):
            continue
        if not all(part.isidentifier() for part in f"{module}.{qualname}".split(".")) or "." in qualname:
            raise ValueError(f"cannot import the module class {cls!r} of a registered op in an emitted file")
        lines.append(f"from {module} import {qualname}" + (f" as {name}" if qualname != name else ""))
    return lines


def _used_helpers(helpers: dict[str, str], body: str) -> dict[str, str]:
    """The helpers the classes use, and the helpers those use, in the runtime's order."""
    used: set[str] = set()
    texts = [body]
    while texts:
        text = texts.pop()
        for name, source in helpers.items():
            if name not in used and re.search(rf"\b{name}\b", text):
                used.add(name)
                texts.append(source)
    return {name: source for name, source in helpers.items() if name in used}


def _runtime_helpers() -> dict[str, str]:
    """Top-level classes and functions of the torch runtime that emitted code may use, as source."""
    return dict(_helpers_in(RUNTIME.read_text()))


@functools.lru_cache(maxsize=4)
def _helpers_in(text: str) -> tuple[tuple[str, str], ...]:
    # Cached by the file's text: parsing it and cutting out each definition takes 0.1 s.
    tree = ast.parse(text)
    helpers = []
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not node.name.startswith("_") and node.name not in _NOT_HELPERS:
            helpers.append((node.name, ast.get_source_segment(text, node) or ""))
    return tuple(helpers)


# runtime.py's own machinery, which emitted files never need.
_NOT_HELPERS = frozenset({"instantiate", "load_generated", "rebuild", "install"})
