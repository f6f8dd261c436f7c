"""Run an event pipeline in its own task, so the consumer going away cannot break its ending.

An HTTP stream's generator is cancelled (with every later await in it) when the client
disconnects; the pipeline must still close the backend and store the response.  Here the
pipeline runs in a task that the consumer cancels explicitly when it stops early; the task
handles that cancellation like any other and finishes its bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
_tasks: set[asyncio.Task[None]] = set()


async def detached(events: AsyncIterator[T], before: Callable[[], Awaitable[None]] | None = None
                   ) -> AsyncIterator[list[T]]:
    """Yield the pipeline's events in batches: everything that is ready when the consumer asks comes
    in one list, so that a consumer can send them with one socket write instead of one each.  (A deque
    and one future to wake the consumer: an asyncio.Queue costs several times as much per event.)
    `before` is awaited once, when the first events are ready, before they are handed on (a streamed
    run is stored then: `Run.visible`), while the pipeline goes on."""
    ready: deque[Any] = deque()
    waiter: asyncio.Future[None] | None = None
    over = False  # the pipeline has ended (`ending`: how, if by an error)
    ending: BaseException | None = None

    async def pump() -> None:
        nonlocal over, ending
        try:
            async for ev in events:  # (the consumer's wake-up inline: this runs per event)
                ready.append(ev)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        except BaseException as exc:  # noqa: B036 - handed to the consumer, re-raised there
            ending = exc
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            over = True
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    loop = asyncio.get_running_loop()
    task = loop.create_task(pump())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    try:
        while True:
            if not ready and not over:
                waiter = loop.create_future()
                try:
                    await waiter
                finally:
                    waiter = None
            if before is not None:
                await before()
                before = None
            if ready:  # (the pipeline may go on while this batch is handed on: the next one is taken after)
                batch = list(ready)
                ready.clear()
                yield batch
            elif over:
                if ending is not None and not isinstance(ending, asyncio.CancelledError):
                    raise ending
                return
    finally:
        if not task.done():
            task.cancel()
