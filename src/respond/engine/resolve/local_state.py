"""Connection-local state of a WebSocket (`client.responses.connect()`).

A `store: false` response is kept nowhere but here, on the connection that made it, so that the
next `response.create` on the same socket can continue it with `previous_response_id` (another
socket, or any HTTP request, gets `previous_response_not_found`, as Open Responses requires).  A
failed turn evicts the response it continued.  `generate: false` puts a response here (or in the
store, when stored) without calling the model.
"""

from __future__ import annotations

from typing import Any

from respond.core.types import Message
from respond.engine.record.persistence import Persistence

Item = dict[str, Any]
MAX_KEPT = 64  # responses kept per connection (the oldest go first)


class LocalState:
    def __init__(self) -> None:
        self._contexts: dict[str, tuple[list[Item], list[Message]]] = {}

    def get(self, response_id: str) -> tuple[list[Item], list[Message]] | None:
        return self._contexts.get(response_id)

    def put(self, response_id: str, items: list[Item], messages: list[Message]) -> None:
        self._contexts[response_id] = (items, messages)
        while len(self._contexts) > MAX_KEPT:
            del self._contexts[next(iter(self._contexts))]

    def evict(self, response_id: str | None) -> None:
        if response_id is not None:
            self._contexts.pop(response_id, None)


class Connection(Persistence):
    """The persistence of an unstored run on a WebSocket: nothing is written, but its end is
    reported (`on_stored`), so the connection keeps its context."""

    async def end(self, events: list[dict[str, Any]], joins: bool) -> None:
        self._stored()
