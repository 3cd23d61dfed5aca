"""What is derived from a parsed document's nodes alone, kept for the next execution.

A known query (`gql.known`) runs the same parsed document again and again, so whatever is
computed from its nodes (a row plan, the names a field selects) is the same every time.
`NodeMemo` keeps such values by the nodes' identities, least recently used first out. An
entry holds its nodes, so their ids stay theirs while it lives: an id then matches only
the very node it was computed from.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")


class NodeMemo(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: LRUCache[Hashable, tuple[tuple[Any, ...], V]] = LRUCache(size)

    @staticmethod
    def key(nodes: Iterable[Any], *extra: Hashable) -> Hashable:
        return (*extra, *map(id, nodes))

    def get(self, key: Hashable) -> V | None:
        found = self._entries.get(key)
        return None if found is None else found[1]

    def put(self, key: Hashable, nodes: Iterable[Any], value: V) -> None:
        self._entries[key] = (tuple(nodes), value)

    def __len__(self) -> int:
        return len(self._entries)
