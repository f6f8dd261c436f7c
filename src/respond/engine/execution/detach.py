"""Run an event pipeline in its own task, so the consumer going away cannot break its ending.

An HTTP stream's generator is cancelled (with every later await in it) when the client
disconnects; the pipeline must still close the backend and store the response.  Here the
pipeline runs in a task that the consumer cancels explicitly when it stops early; the task
handles that cancellation like any other and finishes its bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

_DONE = object()
T = TypeVar("T")
_tasks: set[asyncio.Task[None]] = set()


async def detached(events: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    """Yield the pipeline's events in batches: everything that is ready when the consumer asks comes
    in one list, so that a consumer can send them with one socket write instead of one each."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for ev in events:
                queue.put_nowait(ev)
        except BaseException as exc:  # noqa: B036 - handed to the consumer, re-raised there
            queue.put_nowait(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            queue.put_nowait(_DONE)

    task = asyncio.create_task(pump())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    try:
        while True:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            batch: list[T] = []
            for item in items:
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, asyncio.CancelledError):
                        break
                    if batch:
                        yield batch
                    raise item
                batch.append(item)
            if batch:
                yield batch
            if len(batch) < len(items):
                return
    finally:
        if not task.done():
            task.cancel()
