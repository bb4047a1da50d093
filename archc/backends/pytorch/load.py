"""PyTorch backend: executing generated source as a module, so built models are that source.

The source comes from archc's own generator (archc/backends/python), never from a spec:
identifiers come from the namespace and constants from the literal writer. It is run as
a module of its own, registered with `linecache` (as torch.fx does for its GraphModules)
so that `inspect`, tracebacks and `torch.jit.script` can read it. Generated classes cannot
be imported by name in another process, so they pickle as (source, class name, state).
"""
from __future__ import annotations

import hashlib
import linecache
import sys
import types
import weakref
from typing import Any

import torch.nn as nn

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
            value._archc_source = source  # type: ignore[attr-defined]
            value._archc_module = module  # type: ignore[attr-defined]  (keeps its linecache entry)
            if class_sources and value.__name__ in class_sources:
                value.code = class_sources[value.__name__]  # type: ignore[attr-defined]
    _LOADED.put(digest, module, len(source))  # bounded by characters of source
    return module


def _reduce_ex(self: nn.Module, protocol: int) -> tuple[Any, ...]:
    return (rebuild, (type(self)._archc_source, type(self).__qualname__), self.__dict__.copy())  # type: ignore[attr-defined]


def rebuild(source: str, qualname: str) -> nn.Module:
    """An empty instance of a generated class, for unpickling (its state is set afterwards)."""
    cls = getattr(load_generated(source), qualname)
    return cls.__new__(cls)
