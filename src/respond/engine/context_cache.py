"""A per-process LRU of stored responses' whole contexts, so continuing a chain costs the same at
turn 200 as at turn 2.

Filled when a stored response ends (its context = its history + input + output, the same items
the store's recursive query would return); checked before that query.  With several processes
(PostgreSQL) a hit is confirmed with a primary-key read of the previous response, so a delete in
another process is still seen; SQLite serves one process, whose deletes clear the cache.
Any local delete clears the cache (a deleted ancestor must drop out of every chain).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

Items = list[dict[str, Any]]
Messages = list[dict[str, Any]]


class ContextCache:
    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, Items, Messages]] = OrderedDict()

    def get(self, response_id: str, owner: str) -> tuple[Items, Messages] | None:
        entry = self._entries.get(response_id)
        if entry is None or entry[0] != owner:
            return None
        self._entries.move_to_end(response_id)
        return entry[1], entry[2]

    def put(self, response_id: str, owner: str, items: Items, messages: Messages) -> None:
        """`messages`: the chat messages of `items` (shared with later entries: never modified)."""
        self._entries[response_id] = (owner, items, messages)
        self._entries.move_to_end(response_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
