"""IR stage: a cache bounded in entries and in the IR nodes its entries hold.

Loading, expanding and generating code for a spec are cached so that building the same spec
again is quick, but a cache bounded only by its number of entries keeps gigabytes: a
60,000-node network holds about 90 MB, and a sweep over its params made eight of them.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """At most `entries` values holding at most `nodes` IR nodes in all; the least recently
    used go first, and a value larger than the whole budget is never kept. Thread-safe."""

    def __init__(self, entries: int, nodes: int, on_drop: Callable[[Hashable, V], None] | None = None) -> None:
        self.entries, self.nodes, self.on_drop = entries, nodes, on_drop
        self._values: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            hit = self._values.get(key)
            if hit is None:
                return None
            self._values.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: V, nodes: int) -> None:
        if nodes > self.nodes:
            return
        dropped = []
        with self._lock:
            self._values.pop(key, None)
            while self._values and (len(self._values) >= self.entries or self._held() + nodes > self.nodes):
                dropped.append(self._values.popitem(last=False))
            self._values[key] = (value, nodes)
        if self.on_drop is not None:
            for old_key, (old, _) in dropped:
                self.on_drop(old_key, old)

    def __len__(self) -> int:
        return len(self._values)

    def _held(self) -> int:
        return sum(n for _, n in self._values.values())


def node_count(graph: Any) -> int:
    """IR nodes in a graph, nested ones included."""
    return sum(1 for _ in graph.walk())
