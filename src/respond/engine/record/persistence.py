"""How a run is stored: one `RunMode` per way a response is produced, one strategy each.

| mode       | chosen when              | before the run           | while it runs      | at its end                   |
|------------|--------------------------|--------------------------|--------------------|------------------------------|
| drained    | store, not streamed      | -                        | -                  | `insert_response` (whole)    |
| streamed   | store, stream            | -                        | `start_response` (lease) before its first event goes out | `finish_response` (job done), or `insert_response` (whole) |
| background | background (a claimed job)| (`enqueue_response` at create) | events in batches | `finish_response`    |
| ephemeral  | store: false             | -                        | -                  | -                            |

A streamed response is stored before its client hears of it (`visible`: before its first event goes
out, so GET works while it runs) and leased, so that a crash of this process is noticed and the
response does not hang; a stream whose whole answer was at hand by then (its run ended before its
first event went out) is stored once, whole, at its end, as a drained one: one write instead of two.  Only a background run stores its events
as it goes: it is the one a client resumes (`starting_after`) while it runs.  A foreground run's
client holds the live stream itself, so none of a streamed or drained response's events are stored: a
later GET ?stream=true replays it from the stored response (engine/stream/events.py `replay`: the same
events but for the chunking of the deltas, one per part; a follower of a running one waits for its end).
Every stored end notifies the hub (waiters on that response) and, when terminal, `on_stored`.
"""

from __future__ import annotations

import asyncio
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

    def attach(self) -> None:
        """The current task runs the run's events (its lease is renewed while the task lives)."""
        self.hub.live.attach(self.record.id)

    async def visible(self) -> None:
        """Before the client hears of the run (its first event goes out): it is stored by then."""

    async def append(self, events: list[Row]) -> None:
        """A batch of events, with the response's current snapshot."""

    async def end(self, events: list[Row], joins: bool) -> None:
        """The run ended (terminal, or cancelled): its last `events`; `joins`: add it to its conversation."""

    def settled(self, refused: BaseException | None) -> None:
        """The run's last word on its end (engine/execution/run.py `_persist`): stored, as it ended or as
        `failed` (None), or refused even as `failed` (`refused`: its client must hear an error)."""

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
    """A foreground stream: stored before its first event goes out, or once, whole, at its end if it
    ended before that (see above); its events not at all."""

    def __init__(self, store: Store, hub: Hub, record: Record, *, worker: str = "",
                 on_stored: Callable[[ResponseDict], None] | None = None) -> None:
        super().__init__(store, hub, record, worker=worker, on_stored=on_stored)
        self._first: asyncio.Future[None] | None = None  # the first write: the start, or the whole response
        self._whole = False
        self._task: asyncio.Task[Any] | None = None
        self._settled: asyncio.Future[BaseException | None] | None = None  # `settled`'s word, for `visible`

    def attach(self) -> None:
        self._task = asyncio.current_task()  # leased later (`visible`): the lease is tied to this task then

    async def visible(self) -> None:
        if self._first is None:
            self._first = asyncio.ensure_future(self._start())
        await asyncio.wait([self._first])  # (the write goes on if the client leaves meanwhile)
        if not self._whole:
            self._first.result()  # not stored: the client hears an error instead
            return
        # Its run ended first and stored it whole: its events go out once that end is settled.  A whole write
        # refused stores `failed` instead (its events say so); refused that way too, the client hears an error.
        refused = await self._settle()
        if refused is not None:
            raise refused

    def _settle(self) -> asyncio.Future[BaseException | None]:
        if self._settled is None:
            self._settled = asyncio.get_running_loop().create_future()
        return self._settled

    def settled(self, refused: BaseException | None) -> None:
        settle = self._settle()
        if not settle.done():
            settle.set_result(refused)

    async def _start(self) -> None:
        r = self.record
        await self.store.start_response(row(r.response), r.owner, r.input_items, worker=self.worker,
                                        lease_ms=LEASE_MS)
        self.hub.live.track(r.id, self._task)

    async def end(self, events: list[Row], joins: bool) -> None:
        r = self.record
        conversation_id = r.conversation_id if joins else None
        if self._first is None or self._whole:  # nobody has heard of it (or this stores `failed` instead)
            self._whole = True
            self._first = asyncio.ensure_future(self.store.insert_response(
                row(r.response), r.owner, r.input_items, rows(r.response["output"]), conversation_id=conversation_id))
            await asyncio.shield(self._first)
            self.settled(None)  # stored (refused, the run says what it stored instead: `settled`)
        else:
            await asyncio.shield(self._first)  # the start, if still being written
            await self._finish(events, conversation_id)
        self._stored()

    async def _finish(self, events: list[Row], conversation_id: str | None) -> None:
        r = self.record
        await self.store.finish_response(row(r.response), r.owner, r.input_items, rows(r.response["output"]),
                                         events=events, conversation_id=conversation_id)


class Background(Streamed):
    """Its events are stored in batches as it runs (engine/record/recorder.py): a stream resumes from any of them."""

    records_events = True

    async def begin(self) -> None:
        """Stored when it was queued; a worker claimed it (its job is leased)."""
        self.hub.live.track(self.record.id)

    def attach(self) -> None:
        self.hub.live.attach(self.record.id)

    async def visible(self) -> None:
        """Stored when it was queued."""

    async def end(self, events: list[Row], joins: bool) -> None:
        await self._finish(events, self.record.conversation_id if joins else None)
        self._stored()

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
