"""The one caching approach: answers about immutable inputs, built once and kept.

* ``LRU``: a few recent answers keyed by what they are about (a complete snapshot,
  a graph's filters); complete snapshots never change, so nothing needs invalidating.
* ``ClusterModel.derived(key, build)``: what is computed from one model (indexes,
  flows, what-if facts) lives and dies with that model.

Builders run outside the lock, so a slow build never blocks readers of other keys; two
threads asking for the same missing key may both build it (``LRU`` keeps the last,
``derived`` the first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class LRU:
    """At most ``size`` answers, the least recently used dropped first."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]  # type: ignore[return-value]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
