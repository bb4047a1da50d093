"""Python's cyclic garbage collector, paused while archc loads, expands, generates and builds."""
from __future__ import annotations

import functools
import gc
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"depth": 0, "saved": None}
# Generation 0's threshold at 0 turns automatic collection off, as gc.disable() does, but in a
# setting archc can tell apart from the application's own: gc.disable() or another threshold
# set meanwhile is the application's, and stays.
_PAUSED = 0


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic cycle collection inside the block; the collector is left as it was found.

    Loading, expanding, generating code for and building a large spec allocate millions of
    objects that all live to the end, and each full collection walks every one of them again:
    for a 20,000-node spec that was half of `archc.build` (1.9 s of 4). Objects are still
    freed as soon as nothing refers to them; only the search for unreachable cycles waits to
    the end of the block. The collector is process-wide: nested and concurrent blocks share
    one pause, which the last to end lifts, and only where nobody changed the setting since.
    """
    with _LOCK:
        if _STATE["depth"] == 0:
            threshold = gc.get_threshold()
            _STATE["saved"] = threshold
            gc.set_threshold(_PAUSED, *threshold[1:])
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                saved = _STATE["saved"]
                if gc.get_threshold() == (_PAUSED, *saved[1:]):
                    gc.set_threshold(*saved)


def without_cycle_collection(function: F) -> F:
    """`function`, run with the collector paused (collector_paused)."""

    @functools.wraps(function)
    def paused(*args: Any, **kwargs: Any) -> Any:
        with collector_paused():
            return function(*args, **kwargs)

    return paused  # type: ignore[return-value]
