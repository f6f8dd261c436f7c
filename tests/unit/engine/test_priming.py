"""The first delta of a streamed run (engine/execution/priming.py): awaited for a while, then handed on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from respond.core.types import Delta, TextDelta
from respond.engine.execution.priming import prime


async def _slow(gate: asyncio.Event, closed: list[str]) -> AsyncIterator[Delta]:
    try:
        await gate.wait()
        yield TextDelta("hi")
    except asyncio.CancelledError:
        closed.append("cancelled")
        raise


async def test_a_first_delta_in_time_is_returned() -> None:
    gate, closed = asyncio.Event(), list[str]()
    gate.set()
    first = await prime(_slow(gate, closed), 5.0)
    assert isinstance(first, TextDelta) and first.text == "hi"


async def test_a_late_first_delta_hands_its_task_on() -> None:
    gate, closed = asyncio.Event(), list[str]()
    pending: Any = await prime(_slow(gate, closed), 0.01)
    assert isinstance(pending, asyncio.Task) and not pending.done()
    gate.set()
    assert (await pending).text == "hi"


async def test_a_request_cancelled_while_it_waits_stops_the_backend() -> None:
    """The client leaves (the request's task is cancelled) before the first delta: the backend's
    step is cancelled too, not left running on its own (its upstream request open)."""
    gate, closed = asyncio.Event(), list[str]()
    waiting = asyncio.ensure_future(prime(_slow(gate, closed), 5.0))
    await asyncio.sleep(0.01)
    waiting.cancel()
    try:
        await waiting
    except asyncio.CancelledError:
        pass
    await asyncio.sleep(0)
    assert closed == ["cancelled"]
