"""What is derived from a parsed document's nodes alone, kept for the next execution.

A known query (`gql.known`) runs the same parsed document again and again, so whatever is
computed from its nodes (a row plan, the names a field selects) is the same every time.
`NodeMemo` keeps such values by the nodes' identities, least recently used first out. An
entry holds its nodes, so their ids stay theirs while it lives: an id then matches only
the very node it was computed from.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class NodeMemo(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[tuple[Any, ...], V]] = OrderedDict()

    @staticmethod
    def key(nodes: Iterable[Any], *extra: Hashable) -> Hashable:
        return (*extra, *map(id, nodes))

    def get(self, key: Hashable) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, nodes: Iterable[Any], value: V) -> None:
        self._entries[key] = (tuple(nodes), value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
