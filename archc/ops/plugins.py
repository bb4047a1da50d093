"""Op registry: ops added from Python (archc.register_op) and by installed packages.

Specs cannot run code: a team that needs its own module registers an op class, written
like the built-in ones (archc/ops/base.py), from Python, or names it in its package's
metadata under the entry-point group `archc.ops`:

    [project.entry-points."archc.ops"]
    my_ops = "my_package.archc_ops:OPS"     # an Op subclass or a list of them

Entry points are read once, when the first spec is loaded.
"""
from __future__ import annotations

import keyword
from typing import Any, Iterable, Mapping

from archc.ops.base import FAMILIES, OPS, Attrs, Op, register

ENTRY_POINT_GROUP = "archc.ops"
_loaded = False
# Module classes of registered ops, by the name their Ctor uses: generated code finds them
# as globals (a built model's source runs with them; an emitted file would import them).
MODULES: dict[str, type] = {}


def register_op(op: type[Op], *, modules: Mapping[str, type] | None = None) -> type[Op]:
    """Make `op` (a subclass of archc.ops.base.Op) usable in specs under `op.name`.

    `modules` holds the torch.nn.Module classes its `module()` Ctor may name besides torch.nn's
    (`Ctor("MyBlock", ...)`). Raises ValueError for a name that is taken or not an identifier,
    and TypeError for something that is not an op class. Usable as a class decorator.
    """
    if not (isinstance(op, type) and issubclass(op, Op)):
        raise TypeError(f"register_op expects a subclass of archc.ops.base.Op, got {op!r}")
    name = getattr(op, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ValueError(f"op name must be an identifier not starting with '_', got {name!r}")
    if name in OPS:
        raise ValueError(f"op {name!r} is already registered")
    if op.family not in FAMILIES:
        raise ValueError(f"op {name!r}: family must be one of {', '.join(FAMILIES)}, got {op.family!r}")
    if not (isinstance(op.Attrs, type) and issubclass(op.Attrs, Attrs)):
        raise TypeError(f"op {name!r}: Attrs must subclass archc.ops.base.Attrs (strict, no extra keys)")
    if modules:
        taken = [k for k in modules if k in MODULES and MODULES[k] is not modules[k]]
        if taken or any(not k.isidentifier() for k in modules):
            raise ValueError(f"module class names must be identifiers not yet in use, got {', '.join(taken or modules)}")
        MODULES.update(modules)
    return register(op)


def unregister_op(name: str) -> None:
    """Remove an op added with register_op (tests, notebooks)."""
    OPS.pop(name, None)


def load_entry_points(entry_points: Iterable[Any] | None = None) -> None:
    """Register the ops that installed packages declare under `archc.ops` (once)."""
    global _loaded
    if entry_points is None:
        if _loaded:
            return
        _loaded = True
        from importlib.metadata import entry_points as installed

        entry_points = installed(group=ENTRY_POINT_GROUP)
    for entry in entry_points:
        try:
            value = entry.load()
        except Exception as exc:  # a broken plugin names itself, whatever it raised
            raise RuntimeError(f"archc op plugin {entry.name!r} ({entry.value}) failed to load: {exc}") from exc
        for op in value if isinstance(value, (list, tuple)) else [value]:
            if OPS.get(getattr(op, "name", None)).__class__ is not op:
                register_op(op)
