"""The evaluator's process-wide, byte-bounded cache of decoded segment arrays.

Segments never change apart from deletions, so the arrays decoded from them (postings,
lengths, sort keys, facet tables, spelling tables, phrase matches) are kept here keyed
by index directory and segment id; a merge or rebuild makes new segments and the old
keys just age out. ``configure`` sets the budget (``SEARCH_CACHE_MB``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

CACHE_BYTES = 64 * 1024 * 1024


class ByteLRU:
    """A thread-safe LRU bounded by the bytes of the arrays it holds."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.used = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key, value, nbytes: int) -> None:
        nbytes += 200  # key and bookkeeping
        if nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.used -= old[1]
            self._items[key] = (value, nbytes)
            self.used += nbytes
            while self.used > self.max_bytes and self._items:
                _key, (_value, size) = self._items.popitem(last=False)
                self.used -= size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0

    def __len__(self) -> int:
        return len(self._items)


cache = ByteLRU(CACHE_BYTES)


def configure(max_bytes: int) -> None:
    """Set the cache's byte budget (items beyond it are evicted as others arrive)."""
    cache.max_bytes = max(1, int(max_bytes))
