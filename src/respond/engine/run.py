"""One response being generated: backend deltas -> events -> terminal status -> storage.

`Run.events()` is the single event pipeline.  A non-streaming request drains it; a streaming
one forwards each event; a background run drains it in a worker.  Whoever stops consuming
early (client gone, cancel) closes it: the backend is closed at the next token and the stored
response ends `cancelled`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from respond.core.errors import BackendError
from respond.core.ports import Store
from respond.core.types import Delta, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from respond.engine.client_tools import ClientTools
from respond.engine.events import Event, EventBuilder
from respond.engine.hosted import HostedStep
from respond.engine.hub import Hub
from respond.engine.recorder import Recorder
from respond.protocol.response import TERMINAL, usage_object

log = logging.getLogger("respond.run")



class Run:
    def __init__(
        self,
        *,
        response: dict[str, Any],
        owner: str,
        input_items: list[dict[str, Any]],
        deltas: AsyncIterator[Delta | HostedStep],
        first: Delta | HostedStep | BackendError | None,
        store: Store | None,
        want_logprobs: bool = False,
        live: bool = False,
        fresh: bool = True,
        hub: Hub | None = None,
        drained: bool = False,
        include: set[str] | None = None,
        job: bool = False,
        conversation_id: str | None = None,
        on_stored: Callable[[dict[str, Any]], None] | None = None,
        tools: ClientTools | None = None,
    ) -> None:
        # A drained run (a non-streaming request) has no watcher: no event copies, none stored
        # (a later GET ?stream=true replays it from the stored response instead).
        self.builder = EventBuilder(response, want_logprobs, copies=not drained, include=include, tools=tools)
        self.response = response
        self.owner = owner
        self.input_items = input_items
        self._deltas = deltas
        self._first = first
        self._store = store
        self.recorder = Recorder(store, hub, response, live, keep=not drained)
        self._fresh = fresh  # the response row does not exist yet
        self._finished = False
        self._final: dict[str, Any] = {}
        self._job = job  # a job row tracks this run: finish it with the run
        self._conversation_id = conversation_id
        self._on_stored = on_stored

    @property
    def id(self) -> str:
        rid: str = self.response["id"]
        return rid

    async def events(self) -> AsyncIterator[Event]:
        """Yield every event of the response, persisting it once it is terminal."""
        b = self.builder
        self.response["status"] = "in_progress"
        try:
            yield await self._out(b.lifecycle("response.created"))
            yield await self._out(b.lifecycle("response.in_progress"))
            finish: Finish | None = None
            async for delta in self._all_deltas():
                if isinstance(delta, TextDelta):
                    evs = b.text(delta) if delta.text or delta.logprobs else []
                elif isinstance(delta, ToolCallDelta):
                    evs = b.tool_call(delta)
                elif isinstance(delta, Finish):
                    finish = delta
                    break
                elif isinstance(delta, ReasoningDelta):
                    evs = []
                elif isinstance(delta, HostedStep):
                    evs = delta.events(b)
                for ev in evs:
                    yield await self._out(ev)
            for ev in self._finish(finish):
                yield await self._out(ev)
            yield await self._end(f"response.{self._final['status']}")
        except BackendError as exc:
            for ev in self._fail(exc):
                yield await self._out(ev)
            yield await self._end("response.failed")
        except (asyncio.CancelledError, GeneratorExit):
            await self._abort("cancelled")
            raise
        finally:
            await self._close_deltas()

    async def _out(self, ev: Event) -> Event:
        await self.recorder(ev)
        return ev

    async def _end(self, terminal_type: str) -> Event:
        """The terminal event is stored with the terminal status before the client sees it."""
        self.response.update(self._final)
        ev = self.builder.lifecycle(terminal_type)
        # Only a response that produced its output joins its conversation.
        joins = self.response["status"] in ("completed", "incomplete")
        await self._persist(self.recorder.drain(ev), self._conversation_id if joins else None)
        return ev

    async def _all_deltas(self) -> AsyncIterator[Delta | HostedStep]:
        first = self._first
        if isinstance(first, BackendError):
            raise first
        if first is not None:
            yield first
        async for delta in self._deltas:
            yield delta

    async def _close_deltas(self) -> None:
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
        if finish.reason == "length":
            events = self.builder.close_all("incomplete")
            self._final = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
        else:
            events = self.builder.close_all("completed")
            self._final = {"status": "completed", "completed_at": int(time.time())}
        self._final["usage"] = _usage(finish.usage)
        return events

    def _fail(self, exc: BackendError) -> list[Event]:
        log.warning("response %s failed: %s", self.id, exc.message)
        events = self.builder.close_all("incomplete")
        self._final = {"status": "failed", "error": {"code": exc.code or "server_error", "message": exc.message}}
        return events

    async def _abort(self, status: str) -> None:
        """The consumer went away or the run was cancelled: end it and store that."""
        if self._finished:
            return
        self.builder.close_all("incomplete")
        self.response["status"] = status
        await self._close_deltas()
        await self._persist(self.recorder.drain())

    async def _persist(self, events: list[Event], conversation_id: str | None = None) -> None:
        self._finished = True
        if self._store is None:
            return
        outputs = self.response["output"]
        await self._store.save_response(self.response, self.owner, self.input_items, outputs,
                                        fresh=self._fresh, events=events, conversation_id=conversation_id,
                                        finish_job=self._job)
        if self._on_stored is not None and self.response["status"] in TERMINAL:
            self._on_stored(self.response)
        self.recorder.notify()


def _usage(usage: Usage | None) -> dict[str, Any]:
    u = usage or Usage()
    return usage_object(u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens)
