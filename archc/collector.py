"""Python's cyclic garbage collector, paused while archc loads, expands, generates and builds."""
from __future__ import annotations

import functools
import gc
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection inside the block; the collector is left as it was found.

    Loading, expanding, generating code for and building a large spec allocate millions of
    objects that all live to the end, and each full collection walks every one of them again:
    for a 20,000-node spec that was half of `archc.build` (1.9 s of 4). Objects are still
    freed as soon as nothing refers to them; only the search for unreachable cycles waits to
    the end of the block. The collector is process-wide, so another thread's cycles wait as
    long (a nested or concurrent block never turns it back on while it was off outside).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def without_cycle_collection(function: F) -> F:
    """`function`, run with the collector paused (collector_paused)."""

    @functools.wraps(function)
    def paused(*args: Any, **kwargs: Any) -> Any:
        with collector_paused():
            return function(*args, **kwargs)

    return paused  # type: ignore[return-value]
