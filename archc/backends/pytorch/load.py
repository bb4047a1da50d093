"""PyTorch backend: executing generated source as a module, so built models are that source.

The source comes from archc's own generator (archc/backends/python), never from a spec:
identifiers come from the namespace and constants from the literal writer. It is run as
a module of its own, registered with `linecache` (as torch.fx does for its GraphModules)
so that `inspect`, tracebacks and `torch.jit.script` can read it. Generated classes cannot
be imported by name in another process, so they pickle as (their spec, class name, state),
and unpickling compiles the spec again (rebuild): a pickle never carries code.
"""
from __future__ import annotations

import dataclasses
import hashlib
import linecache
import pickle
import sys
import types
import weakref
from typing import Any

import torch.nn as nn
import yaml

from archc.ir.cache import BoundedCache
from archc.ops.plugins import MODULES

def _forget(digest: str, module: types.ModuleType) -> None:
    """A module dropped from the cache leaves sys.modules now, and linecache once no class or
    model of it is left (each generated class holds its module)."""
    sys.modules.pop(module.__name__, None)
    filename = module.__file__
    weakref.finalize(module, linecache.cache.pop, filename, None)


# Modules by the digest of their source: the same source gives the same classes. Bounded, so
# that a process building thousands of distinct specs does not keep every one.
_LOADED: BoundedCache[types.ModuleType] = BoundedCache(entries=64, nodes=64 * 1024 * 1024, on_drop=_forget)


def load_generated(source: str, class_sources: dict[str, str] | None = None) -> types.ModuleType:
    """The module that `source` defines; the same source gives the same module (and classes)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    hit = _LOADED.get(digest)
    if hit is not None:
        return hit
    name = f"archc_generated_{digest}"
    filename = f"<archc generated {digest}>"
    module = types.ModuleType(name)
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    sys.modules[name] = module
    module.__dict__.update(MODULES)  # module classes of ops registered from Python (archc.register_op)
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102  (archc's generated code)
    for value in list(module.__dict__.values()):
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == name:
            value.__reduce_ex__ = _reduce_ex  # type: ignore[method-assign]
            value._archc_module = module  # type: ignore[attr-defined]  (keeps its linecache entry)
            if class_sources and value.__name__ in class_sources:
                value.code = class_sources[value.__name__]  # type: ignore[attr-defined]
    _LOADED.put(digest, module, len(source))  # bounded by characters of source
    return module


def _reduce_ex(self: nn.Module, protocol: int) -> tuple[Any, ...]:
    return (rebuild, (_recipe_of(type(self)), type(self).__qualname__), self.__dict__.copy())


def attach_recipe(module: types.ModuleType, network: Any, compact: bool = True) -> None:
    """Let the module's classes pickle as the spec they were compiled from (see rebuild)."""
    for value in list(module.__dict__.values()):
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module.__name__:
            if getattr(value, "_archc_network", None) is None:
                value._archc_network = (network.recipe, network.path, tuple(network.extracted), compact)  # type: ignore[attr-defined]


def _recipe_of(cls: type) -> tuple[Any, ...]:
    """(YAML text, path, variant, params as YAML, limits, outputs): plain data, made once per class
    so that pickle writes it once for all the modules of a model."""
    made = cls.__dict__.get("_archc_recipe")
    if made is not None:
        return made
    held = getattr(cls, "_archc_network", None)
    if held is None or held[0] is None:
        raise pickle.PicklingError(f"{cls.__qualname__}: only models that archc.build made can be pickled")
    (data, variant, params, limits), path, outputs, compact = held
    try:
        made = (yaml.safe_dump(data, sort_keys=False, allow_unicode=True), str(path), variant,
                yaml.safe_dump(dict(params), sort_keys=False, allow_unicode=True),
                tuple((f.name, getattr(limits, f.name)) for f in dataclasses.fields(limits)), outputs, compact)
    except yaml.YAMLError as exc:
        raise pickle.PicklingError(f"{cls.__qualname__}: its params are not plain data: {exc}") from None
    cls._archc_recipe = made  # type: ignore[attr-defined]
    return made


def rebuild(recipe: Any, qualname: str) -> nn.Module:
    """An empty instance of a generated class, for unpickling (its state is set afterwards).

    The pickle carries the spec, not code: the spec is compiled again, which runs nothing it
    holds, and the class is taken from the source archc writes for it. So allowing this
    function in `torch.load(weights_only=True)` lets a checkpoint name a spec, never run code.
    """
    if not (isinstance(recipe, tuple) and len(recipe) == 7 and isinstance(qualname, str)):
        raise pickle.UnpicklingError(
            "not an archc model pickle (a model pickled by an earlier archc carries source code, which archc no "
            "longer runs: build it again with archc.build and load its state_dict)"
        )
    module = _compiled(recipe)
    cls = module.__dict__.get(qualname) if qualname.isidentifier() else None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and cls.__module__ == module.__name__):
        raise pickle.UnpicklingError(f"the spec's compiled module has no class {qualname!r}")
    return cls.__new__(cls)


def _compiled(recipe: tuple[Any, ...]) -> types.ModuleType:
    from archc.api import loads
    from archc.backends.python.emit import emit_network
    from archc.backends.pytorch.build import emitted_source
    from archc.spec.limits import Limits

    text, path, variant, params, limits, outputs, compact = recipe
    network = loads(text, variant, name=path, params=yaml.safe_load(params) or {}, limits=Limits(**dict(limits)),
                    outputs=list(outputs) or None)
    emitted = emitted_source(network) if compact is True else emit_network(network, compact=False)
    module = load_generated(emitted.source, emitted.class_sources)
    attach_recipe(module, network, compact is True)
    return module
