"""The listing port: the operator's queries over stored responses and runs (dashboard, CLI, metrics).

Every query takes `owner`: a key's digest limits it to what that key created; `None` (the admin
key, the CLI on the database itself) sees all.  Pages are newest first, keyed by
(created_at, id) so that a page costs the same at any depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Row = dict[str, Any]


@dataclass(slots=True)
class ResponseFilter:
    model: str | None = None
    status: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # key=value pairs, all must match
    created_after: int | None = None  # unix seconds, inclusive
    created_before: int | None = None  # unix seconds, exclusive
    text: str | None = None  # substring of the first input's text (case-insensitive)
    background: bool | None = None


@dataclass(slots=True)
class Page:
    rows: list[Row]
    next_cursor: str | None  # pass back as `cursor` for the next (older) page


@dataclass(slots=True)
class QueueStats:
    queued: int
    running: int
    oldest_queued_age: float  # seconds; 0 when nothing is queued


class ListingStore(Protocol):
    async def list_responses(self, owner: str | None, flt: ResponseFilter, *, cursor: str | None,
                             limit: int) -> Page:
        """Summaries: id, owner, created_at, status, model, background, previous_response_id,
        preview (the first input's text, cut), metadata, usage."""
        ...

    async def response_owner(self, response_id: str) -> str | None: ...

    async def next_responses(self, response_id: str, owner: str | None) -> list[Row]:
        """Responses whose previous_response_id is this one (summaries)."""
        ...

    async def chain_ids(self, response_id: str, owner: str | None, limit: int = 50) -> list[Row]:
        """The chain of previous responses, oldest first, ending with this one (summaries)."""
        ...

    async def all_events(self, response_id: str, limit: int = 5000) -> list[Row]: ...

    async def all_items(self, response_id: str) -> tuple[list[Row], list[Row]]:
        """(input items, output items) of a response."""
        ...

    async def list_runs(self, owner: str | None, states: list[str], *, limit: int) -> list[Row]: ...

    async def queue_stats(self) -> QueueStats: ...

    async def list_conversations(self, owner: str | None, *, limit: int) -> list[Row]: ...

    async def conversation_owner(self, conv_id: str) -> str | None: ...

    async def activity(self, owner: str | None, since: int, limit: int) -> list[Row]:
        """The newest `limit` responses created at or after `since`: created_at, model, status,
        usage, completed_at (for the charts)."""
        ...
