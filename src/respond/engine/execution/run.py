"""One response being generated: backend deltas -> events -> terminal status -> storage.

`Run.events()` is the single event pipeline.  A non-streaming request drains it; a streaming
one forwards each event; a background run drains it in a worker.  Whoever stops consuming
early (client gone, cancel) closes it: the backend is closed at the next token and the stored
response ends `cancelled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from respond.core.errors import BackendError
from respond.core.types import Delta, Finish, ReasoningDelta, RefusalDelta, TextDelta, ToolCallDelta, Usage
from respond.engine.background.queue import QUEUED_EVENTS
from respond.engine.errors import response_error
from respond.engine.record.persistence import Persistence, Record
from respond.engine.record.recorder import Recorder, rows
from respond.engine.stream.events import Event, EventBuilder
from respond.engine.stream.operations import Operation
from respond.protocol.lifecycle import TerminalFields, terminal_fields, transition
from respond.protocol.response import usage_object
from respond.protocol.shapes import LifecycleType, ResponseDict, ResponseStatus, UsageDict

log = logging.getLogger("respond.run")


class Run:
    """`record`: what is stored; `deltas` (after `first`, the primed one): the model's turn;
    `builder`: numbers and shapes the events; `persistence`: how the run's mode stores it."""

    def __init__(self, record: Record, deltas: AsyncIterator[Delta | Operation],
                 first: Delta | Operation | BackendError | asyncio.Task[Any] | None, builder: EventBuilder,
                 persistence: Persistence, on_end: Callable[[ResponseDict], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.record = record
        self.clock = clock  # completed_at
        self.response = record.response
        self._deltas = deltas
        self._first = first
        self.builder = builder
        self.persistence = persistence
        self.recorder = Recorder(persistence)
        self._finished = False
        self._final: tuple[ResponseStatus, TerminalFields] = ("failed", {})
        self._on_end = on_end  # metering: called once with the final response, stored or not
        # (time, error): the end of a background run's completion window (engine/background/queue.py), on `clock`
        self.deadline: tuple[float, str] | None = None
        # True once the run was asked to stop (a background cancel): checked between deltas as well as
        # delivered as a task cancellation, which an await can swallow (3.11's `wait_for`, in the drivers)
        self.stopped: Callable[[], bool] = _never

    @property
    def id(self) -> str:
        return self.record.id

    async def visible(self) -> None:
        """Await before the client hears of the run (its first event goes out): stored by then."""
        await self.persistence.visible()

    async def events(self) -> AsyncIterator[Event]:
        """Yield every event of the response, persisting it once it is terminal."""
        b = self.builder
        self.persistence.attach()  # its lease is renewed while this task lives
        queued = self.response["status"] == "queued"
        transition(self.response, "in_progress")
        try:
            keeps = self.recorder.keep  # (the recorder is awaited only by a run that stores its events)
            if queued:  # a background run: its first events were stored when it was queued
                for type_ in QUEUED_EVENTS:
                    b.lifecycle(type_)  # (numbered then, and not again)
            else:
                created: Event = b.lifecycle("response.created")
                if keeps:
                    await self.recorder(created)
                yield created
            self._within_window()
            started: Event = b.lifecycle("response.in_progress")
            if keeps:
                await self.recorder(started)
            yield started
            # The deltas are read here, not through a generator of their own (each layer of generators
            # costs a step per delta): the primed first one, then the backend's, each within the window.
            delta = await self._first_delta()
            finish = delta if isinstance(delta, Finish) else None
            if finish is None:
                if delta is not None:
                    for ev in self._on(delta):
                        if keeps:
                            await self.recorder(ev)
                        yield ev
                async for delta in self._deltas:
                    self._within_window()
                    if isinstance(delta, Finish):
                        finish = delta
                        break
                    for ev in self._on(delta):
                        if keeps:
                            await self.recorder(ev)
                        yield ev
            for ev in self._finish(finish):
                if keeps:
                    await self.recorder(ev)
                yield ev
            yield await self._end(cast(LifecycleType, f"response.{self._final[0]}"))
        except BackendError as exc:
            for ev in self._fail(exc):
                await self.recorder(ev)
                yield ev
            yield await self._end("response.failed")
        except (asyncio.CancelledError, GeneratorExit):
            await self._abort("cancelled")
            raise
        finally:
            await self._close_deltas()

    async def _end(self, terminal_type: LifecycleType) -> Event:
        """The terminal event is stored with the terminal status before the client sees it."""
        status, fields = self._final
        transition(self.response, status, **fields)
        ev = self.builder.lifecycle(terminal_type)
        # Only a response that produced its output joins its conversation.
        if not await self._persist(self.recorder.drain(ev), joins=status in ("completed", "incomplete")):
            ev = self.builder.lifecycle("response.failed")  # what was stored instead
        return ev

    async def _first_delta(self) -> Delta | Operation | None:
        """The primed first delta (awaited if the backend had not answered when the stream began)."""
        first = self._first
        if isinstance(first, asyncio.Task):
            try:
                first = await first
            except StopAsyncIteration:
                first = Finish()
            self._first = None
        if isinstance(first, BackendError):
            raise first
        return first

    def _on(self, delta: Delta | Operation) -> list[Event]:
        """The events of one delta (not a `Finish`)."""
        b = self.builder
        if isinstance(delta, TextDelta):
            return b.text(delta) if delta.text or delta.logprobs else []
        if isinstance(delta, ToolCallDelta):
            return b.tool_call(delta)
        if isinstance(delta, ReasoningDelta):
            return b.reason(delta) if delta.text or delta.encrypted is not None else []
        if isinstance(delta, RefusalDelta):
            return b.refusal(delta) if delta.text else []
        return b.operation(cast(Operation, delta))

    def _within_window(self) -> None:
        if self.stopped():
            raise asyncio.CancelledError
        if self.deadline is not None and self.clock() > self.deadline[0]:
            raise BackendError(self.deadline[1])

    async def _close_deltas(self) -> None:
        pending = self._first
        if isinstance(pending, asyncio.Task) and not pending.done():
            # the first delta is still awaited in its own task: cancel it (which ends the backend's
            # generator and its upstream request) before closing the generator
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        aclose = getattr(self._deltas, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # pragma: no cover - a backend failing while closing changes nothing
                log.debug("backend close failed", exc_info=True)

    def _finish(self, finish: Finish | None) -> list[Event]:
        """Close the open items; the terminal fields are applied by `_end`, after these events
        are recorded, so that a stored snapshot is never terminal before all its events are."""
        if finish is None:
            raise BackendError("The model stream ended without a finish reason.")
        self._final = terminal_fields(finish.reason, _usage(finish.usage), now=self.clock())
        return self.builder.close_all("incomplete" if self._final[0] == "incomplete" else "completed")

    def _fail(self, exc: BackendError) -> list[Event]:
        log.warning("response %s failed: %s", self.id, exc.message)
        events = self.builder.close_all("incomplete")
        self._final = terminal_fields(None, _usage(None), error=response_error(exc))
        return events

    async def _abort(self, status: ResponseStatus) -> None:
        """The consumer went away or the run was cancelled: end it and store that."""
        if self._finished:
            return
        self.builder.close_all("incomplete")
        transition(self.response, status)
        await self._close_deltas()
        await self._persist(self.recorder.drain())

    async def _persist(self, events: list[Event], joins: bool = False) -> bool:
        """The final write.  An unreachable database is the store's to handle (it keeps the write in
        its journal and replays it later: store/journal.py), so a failure here is the database
        refusing this response (a value too long...): never retried, the response is stored `failed`
        at once (False) or, if even that is refused, the error goes to the client."""
        self._finished = True
        if self._on_end is not None:
            self._on_end(self.response)
        refused: BaseException | None = None
        try:
            try:
                await self.persistence.end(rows(events), joins)
                return True
            except Exception as exc:
                log.error("storing the end of %s failed (%s); storing it failed instead", self.id, exc)
                self.response.update({"status": "failed", "output": [], "error": {
                    "code": "server_error", "message": "The response could not be stored: the database refused "
                    "one of its values (too long, or not valid text)."}})
                try:
                    await self.persistence.end([], False)
                except Exception:
                    refused = exc
                    raise exc from None
                return False
        finally:
            self.persistence.settled(refused)  # (a client that has not heard of it yet waits for this)


def _usage(usage: Usage | None) -> UsageDict:
    u = usage or Usage()
    return usage_object(u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens)


def _never() -> bool:
    return False
