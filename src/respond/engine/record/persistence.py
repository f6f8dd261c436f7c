"""How a run is stored: one `RunMode` per way a response is produced, one strategy each.

| mode       | chosen when              | before the run           | while it runs      | at its end                   |
|------------|--------------------------|--------------------------|--------------------|------------------------------|
| drained    | store, not streamed      | -                        | -                  | `insert_response` (whole)    |
| streamed   | store, stream            | `start_response` (lease) | -                  | `finish_response` (job done) |
| background | background (a claimed job)| (`enqueue_response` at create) | events in batches | `finish_response`    |
| ephemeral  | store: false             | -                        | -                  | -                            |

A streamed response is stored from its start (GET works while it runs) and leased, so that a crash
of this process is noticed and the response does not hang.  Only a background run stores its events
as it goes: it is the one a client resumes (`starting_after`) while it runs.  A foreground run's
client holds the live stream itself, so none of a streamed or drained response's events are stored: a
later GET ?stream=true replays it from the stored response (engine/stream/events.py `replay`: the same
events but for the chunking of the deltas, one per part; a follower of a running one waits for its end).
Every stored end notifies the hub (waiters on that response) and, when terminal, `on_stored`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

from respond.core.ports import Store
from respond.engine.record.hub import Hub
from respond.protocol.lifecycle import TERMINAL
from respond.protocol.shapes import ResponseDict

Row = dict[str, Any]


def row(response: ResponseDict) -> Row:
    """The response as the store keeps it: a JSON object (the store reads a few keys by name)."""
    return cast(Row, response)


def rows(items: Sequence[object]) -> list[Row]:
    """Items as the store keeps them: JSON objects."""
    return cast("list[Row]", list(items))


def typed(stored: Row) -> ResponseDict:
    """A response read back from the store: the JSON object a `ResponseDict` was stored as."""
    return cast(ResponseDict, stored)
LEASE_MS = 15_000


class RunMode(Enum):
    DRAINED = "drained"
    STREAMED = "streamed"
    BACKGROUND = "background"
    EPHEMERAL = "ephemeral"

    @classmethod
    def of(cls, *, store: bool, stream: bool, background: bool) -> RunMode:
        if not store:
            return cls.EPHEMERAL
        if background:
            return cls.BACKGROUND
        return cls.STREAMED if stream else cls.DRAINED


@dataclass(slots=True)
class Record:
    """What is stored of a run: its response (updated as it runs), owner, input items, conversation."""

    response: ResponseDict
    owner: str
    input_items: list[Row]
    conversation_id: str | None = None

    @property
    def id(self) -> str:
        return self.response["id"]


class Persistence:
    """The ephemeral strategy (nothing is written), and the base of the others."""

    records_events = False  # whether events are written while the run goes on

    def __init__(self, store: Store, hub: Hub, record: Record, *, worker: str = "",
                 on_stored: Callable[[ResponseDict], None] | None = None) -> None:
        self.store = store
        self.hub = hub
        self.record = record
        self.worker = worker
        self._on_stored = on_stored

    async def begin(self) -> None:
        """Before the first event (and before the client hears anything)."""

    async def append(self, events: list[Row]) -> None:
        """A batch of events, with the response's current snapshot."""

    async def end(self, events: list[Row], joins: bool) -> None:
        """The run ended (terminal, or cancelled): its last `events`; `joins`: add it to its conversation."""

    def _stored(self) -> None:
        response = self.record.response
        if self._on_stored is not None and response["status"] in TERMINAL:
            self._on_stored(response)
        self.hub.notify(self.record.id)


class Drained(Persistence):
    async def end(self, events: list[Row], joins: bool) -> None:
        r = self.record
        await self.store.insert_response(row(r.response), r.owner, r.input_items, rows(r.response["output"]),
                                         conversation_id=r.conversation_id if joins else None)
        self._stored()


class Streamed(Persistence):
    """A foreground stream: stored at its start and at its end, its events not at all (see above)."""

    async def begin(self) -> None:
        r = self.record
        await self.store.start_response(row(r.response), r.owner, r.input_items, worker=self.worker,
                                        lease_ms=LEASE_MS)
        self.hub.live.track(r.id)

    async def end(self, events: list[Row], joins: bool) -> None:
        r = self.record
        await self.store.finish_response(row(r.response), r.owner, r.input_items, rows(r.response["output"]),
                                         events=events,
                                         conversation_id=r.conversation_id if joins else None)
        self._stored()


class Background(Streamed):
    """Its events are stored in batches as it runs (engine/record/recorder.py): a stream resumes from any of them."""

    records_events = True

    async def begin(self) -> None:
        """Stored when it was queued; a worker claimed it (its job is leased)."""
        self.hub.live.track(self.record.id)

    async def append(self, events: list[Row]) -> None:
        await self.store.append_events(self.record.id, events, row(self.record.response))
        self.hub.notify(self.record.id)


STRATEGIES: dict[RunMode, type[Persistence]] = {
    RunMode.DRAINED: Drained, RunMode.STREAMED: Streamed, RunMode.BACKGROUND: Background,
    RunMode.EPHEMERAL: Persistence,
}


def persistence(mode: RunMode, store: Store, hub: Hub, record: Record, *, worker: str = "",
                on_stored: Callable[[ResponseDict], None] | None = None) -> Persistence:
    return STRATEGIES[mode](store, hub, record, worker=worker, on_stored=on_stored)
