"""Spec stage: the one rule every name a spec supplies must follow.

Node, block, param, output, input and variant names all become Python text somewhere:
module attributes and `state_dict` keys, constructor arguments, namedtuple fields,
factory functions in emitted source. They are checked here, once, at load, so that the
code generators can rely on them (see archc/backends/source.py, which accepts no other).

The rule: an ASCII identifier that is not a Python keyword, does not start with `_`,
and is not an attribute of torch.nn.Module or of archc's own module class; or, where
the language allows one (node names), a plain decimal index. ASCII only, because Python
folds identifiers to NFKC: `ﬁ` would be the attribute `fi`, and `ｆｏｒｗａｒｄ` would be
`forward`, so two different spec names could silently be one module.
"""
from __future__ import annotations

import keyword
import re

from archc.errors import Location, SpecError, spec_error

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INDEX = re.compile(r"(0|[1-9][0-9]*)\Z")
_VARIANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*\Z")

# Attributes of torch.nn.Module and of archc's module class (runtime.ArchcModule): a node
# with one of these names could not be a submodule, or would shadow what archc sets.
# Kept as data so that checking a spec never imports torch; tests/test_security.py checks
# it against ArchcModule.reserved_names(), which reads the classes themselves.
RESERVED_ATTRIBUTES = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children code compile cpu cuda
    double dump_patches eval eval_output_fields eval_output_type extra_repr float forward get_buffer
    get_extra_state get_parameter get_submodule half ipu kind load_state_dict modules mtia
    named_buffers named_children named_modules named_parameters output_fields output_type parameters
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory spec_name
    source spec_params input_shapes output_shapes feature_info state_dict to to_empty train training type variant xpu zero_grad""".split()
)

# Names generated code itself uses: `self`, and the modules it imports.
RESERVED_IN_CODE = frozenset({"self", "torch", "nn", "F", "math"})


def ascii_problem(name: str) -> str | None:
    if name.isascii():
        return None
    return "names must be ASCII (letters, digits and '_'): Python would fold non-ASCII letters into other names"


def name_problem(name: str, what: str, index_ok: bool = False) -> str | None:
    """Why `name` cannot be a `what` name, or None when it can."""
    shown = _shown(name)
    problem = ascii_problem(name)
    if problem:
        return f"invalid {what} name {shown}: {problem}"
    if index_ok and _INDEX.match(name):
        return None
    if not _IDENTIFIER.match(name) or keyword.iskeyword(name):
        index = " or a plain index" if index_ok else ""
        return f"invalid {what} name {shown}: use letters, digits and '_', not starting with a digit{index}, and not a Python keyword"
    if name.startswith("_"):
        return f"{what} name {shown} starts with '_', which Python and torch.nn.Module keep for their own attributes"
    if name in RESERVED_ATTRIBUTES:
        return f"{what} name {shown} would clash with the module attribute {name!r} (torch.nn.Module's or archc's own)"
    if name in RESERVED_IN_CODE:
        return f"{what} name {shown} is reserved: generated code uses {name!r} itself"
    return None


def variant_problem(name: str) -> str | None:
    """Variant names also name factory functions (`resnet_50`): letters, digits and '_'."""
    problem = ascii_problem(name)
    if problem:
        return f"invalid variant name {_shown(name)}: {problem}"
    if not _VARIANT.match(name):
        return f"invalid variant name {_shown(name)}: use letters, digits and '_', not starting with '_'"
    return None


def check_name(name: str, where: Location, what: str, index_ok: bool = False) -> None:
    problem = name_problem(name, what, index_ok)
    if problem:
        raise spec_error(where, problem)


def check_variant(name: str, where: Location) -> None:
    problem = variant_problem(name)
    if problem:
        raise spec_error(where, problem)


def is_index(name: str) -> bool:
    return bool(_INDEX.match(name))


def is_checked(name: str, index_ok: bool = True) -> bool:
    """Whether `name` passes the rule (the code generators refuse anything else)."""
    return name_problem(name, "", index_ok) is None


def class_name(text: str, fallback: str = "Network") -> str:
    """A CamelCase class name from free text: `tiny net` -> `TinyNet`, `resnet-50` -> `Resnet50`.

    Only ASCII letters and digits survive, so the result is always a safe identifier.
    """
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name:
        return fallback
    if name[0].isdigit():
        name = fallback + name
    return name


def identifier(text: str, fallback: str = "network") -> str:
    """A lower_snake identifier from free text: `tiny net` -> `tiny_net` (for function names)."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "_".join(w.lower() for w in words)
    if not name:
        return fallback
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"{fallback}_{name}"
    return name


def _shown(name: str) -> str:
    """A name quoted for a message, with control characters escaped (never sent raw to a terminal)."""
    return ascii(name) if not name.isprintable() or not name.isascii() else repr(name)


__all__ = [
    "RESERVED_ATTRIBUTES", "RESERVED_IN_CODE", "SpecError", "check_name", "check_variant", "class_name",
    "identifier", "is_checked", "is_index", "name_problem", "variant_problem",
]
