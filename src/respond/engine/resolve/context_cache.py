"""A per-process LRU of stored responses' whole contexts, so continuing a chain costs the same at
turn 200 as at turn 2.

Filled when a stored response ends (its context = its history + input + output, the same items
the store's recursive query would return); checked before that query.  With several processes
(PostgreSQL, or SQLite with `--processes N`) a hit is confirmed by one primary-key read: the
store's deletion epoch, a counter every response deletion moves in its own transaction, must
equal the one read before the entry's items were.  So a delete of any ancestor, through any process, is seen and a deleted response
never reaches a model again from any replica.  An entry made without an epoch (a response that
continues nothing) is confirmed by reading that response's id instead.  SQLite served by one
process (`--processes 1`) trusts its cache: its own deletes clear it.  Any local delete clears the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

Items = list[dict[str, Any]]
Messages = list[dict[str, Any]]


class ContextCache:
    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, Items, Messages, int | None]] = OrderedDict()

    def get(self, response_id: str, owner: str) -> tuple[Items, Messages, int | None] | None:
        """(items, messages, deletion epoch) of a cached context."""
        entry = self._entries.get(response_id)
        if entry is None or entry[0] != owner:
            return None
        self._entries.move_to_end(response_id)
        return entry[1], entry[2], entry[3]

    def put(self, response_id: str, owner: str, items: Items, messages: Messages, epoch: int | None) -> None:
        """`messages`: the chat messages of `items` (shared with later entries: never modified);
        `epoch`: the deletion epoch read before `items` were (None: a response continuing nothing)."""
        self._entries[response_id] = (owner, items, messages, epoch)
        self._entries.move_to_end(response_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
