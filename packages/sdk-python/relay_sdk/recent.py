"""Bounded memory for deduplication."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Optional, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentDict(Generic[K, V]):
    """Keeps only the ``capacity`` most recently set keys, so a client that runs for months
    remembers enough ids to drop duplicates without growing for ever."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def set(self, key: K, value: V) -> None:
        self._items.pop(key, None)
        self._items[key] = value
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def get(self, key: K) -> Optional[V]:
        return self._items.get(key)

    def pop(self, key: K) -> Optional[V]:
        return self._items.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
