"""`Metered` (engine/execution/metered.py): the deltas pass unchanged, the metering port hears the first
delta once, the usage at `Finish` and an upstream failure by its kind, and the deltas below are closed
whichever way the run stops (as the async generator it replaced closed them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from respond.core.errors import BackendError
from respond.core.metrics import NullMetrics
from respond.core.types import Finish, TextDelta, Usage
from respond.engine.execution.metered import Metered


class Heard(NullMetrics):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def first_token(self, model: str, backend: str, seconds: float) -> None:
        self.calls.append(("first", (model, backend)))

    def generated(self, model: str, backend: str, usage: Usage | None, seconds: float) -> None:
        self.calls.append(("generated", usage))

    def upstream_error(self, backend: str, kind: str) -> None:
        self.calls.append(("error", kind))


class Source:
    def __init__(self, items: list[Any], fail: BaseException | None = None, hang: bool = False) -> None:
        self.items, self.fail, self.hang, self.closed = items, fail, hang, False

    async def gen(self) -> AsyncIterator[Any]:
        try:
            for item in self.items:
                yield item
            if self.hang:
                await asyncio.Event().wait()
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed = True


async def test_deltas_pass_and_are_metered() -> None:
    heard, usage = Heard(), Usage(input_tokens=3, output_tokens=2)
    src = Source([TextDelta("a"), TextDelta("b"), Finish("stop", usage)])
    m = Metered(src.gen(), heard, "model", "up")
    got = [d async for d in m]
    assert got == [TextDelta("a"), TextDelta("b"), Finish("stop", usage)]
    assert heard.calls == [("first", ("model", "up")), ("generated", usage)] and src.closed


async def test_left_at_finish_then_closed() -> None:
    heard, src = Heard(), Source([TextDelta("a"), Finish(), TextDelta("never")])
    m = Metered(src.gen(), heard, "model", "up")
    assert await m.__anext__() == TextDelta("a")
    assert await m.__anext__() == Finish()
    assert not src.closed
    await m.aclose()
    assert src.closed


async def test_an_upstream_failure_is_counted_by_kind() -> None:
    heard, src = Heard(), Source([TextDelta("a")], fail=BackendError("busy", status=503))
    m = Metered(src.gen(), heard, "model", "up")
    with pytest.raises(BackendError):
        _ = [d async for d in m]
    assert heard.calls == [("first", ("model", "up")), ("error", "http_5xx")] and src.closed


async def test_cancelled_while_waiting_closes_the_deltas() -> None:
    heard, src = Heard(), Source([], hang=True)
    m = Metered(src.gen(), heard, "model", "up")
    task = asyncio.ensure_future(m.__anext__())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert src.closed and heard.calls == []
