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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from respond.core.errors import BackendError
from respond.core.ports import ResponseStore
from respond.core.types import Delta, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from respond.engine.events import Event, EventBuilder
from respond.protocol.response import usage_object

log = logging.getLogger("respond.run")

EventSink = Callable[[Event], Awaitable[None]]


class Run:
    def __init__(
        self,
        *,
        response: dict[str, Any],
        owner: str,
        input_items: list[dict[str, Any]],
        deltas: AsyncIterator[Delta],
        first: Delta | BackendError,
        store: ResponseStore | None,
        want_logprobs: bool = False,
        sink: EventSink | None = None,
    ) -> None:
        self.builder = EventBuilder(response, want_logprobs)
        self.response = response
        self.owner = owner
        self.input_items = input_items
        self._deltas = deltas
        self._first = first
        self._store = store
        self._sink = sink
        self._finished = False

    @property
    def id(self) -> str:
        rid: str = self.response["id"]
        return rid

    async def events(self) -> AsyncIterator[Event]:
        """Yield every event of the response, persisting it once it is terminal."""
        b = self.builder
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
                for ev in evs:
                    yield await self._out(ev)
            for ev in self._finish(finish):
                yield await self._out(ev)
            await self._persist()
            yield await self._out(b.lifecycle(f"response.{self._terminal_event()}"))
        except BackendError as exc:
            for ev in self._fail(exc):
                yield await self._out(ev)
            await self._persist()
            yield await self._out(b.lifecycle("response.failed"))
        except (asyncio.CancelledError, GeneratorExit):
            await self._abort("cancelled")
            raise
        finally:
            await self._close_deltas()

    async def _out(self, ev: Event) -> Event:
        if self._sink is not None:
            await self._sink(ev)
        return ev

    async def _all_deltas(self) -> AsyncIterator[Delta]:
        first = self._first
        if isinstance(first, BackendError):
            raise first
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

    def _terminal_event(self) -> str:
        status: str = self.response["status"]
        return status

    def _finish(self, finish: Finish | None) -> list[Event]:
        r = self.response
        if finish is None:
            raise BackendError("The model stream ended without a finish reason.")
        if finish.reason == "length":
            events = self.builder.close_all("incomplete")
            r["status"] = "incomplete"
            r["incomplete_details"] = {"reason": "max_output_tokens"}
        else:
            events = self.builder.close_all("completed")
            r["status"] = "completed"
            r["completed_at"] = int(time.time())
        r["usage"] = _usage(finish.usage)
        return events

    def _fail(self, exc: BackendError) -> list[Event]:
        log.warning("response %s failed: %s", self.id, exc.message)
        events = self.builder.close_all("incomplete")
        self.response["status"] = "failed"
        self.response["error"] = {"code": exc.code or "server_error", "message": exc.message}
        return events

    async def _abort(self, status: str) -> None:
        """The consumer went away or the run was cancelled: end it and store that."""
        if self._finished:
            return
        self.builder.close_all("incomplete")
        self.response["status"] = status
        await self._close_deltas()
        await self._persist()

    async def _persist(self) -> None:
        self._finished = True
        if self._store is None or not self.response.get("store", True):
            return
        outputs = self.response["output"]
        await self._store.save_response(self.response, self.owner, self.input_items, outputs)


def _usage(usage: Usage | None) -> dict[str, Any]:
    u = usage or Usage()
    return usage_object(u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens)
