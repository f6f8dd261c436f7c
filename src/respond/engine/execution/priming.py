"""The first delta of a run, awaited before anything is sent: a request the backend refuses is
still an HTTP error, while a slow backend does not hold back the stream's headers."""

from __future__ import annotations

import asyncio
from typing import Any

from respond.core.errors import BackendError
from respond.core.types import Delta, Finish
from respond.engine.errors import backend_to_api


async def prime(deltas: Any, wait: float | None) -> Delta | BackendError | asyncio.Task[Any]:
    """The first delta, so that a request the backend refuses is still an HTTP error.

    With `wait`, only that long: a backend slower than that (a stalled upstream, a long prefill)
    gets the still-pending task handed to the `Run`, so the stream's headers and `response.created`
    go out now and a client that leaves is noticed.  What the backend refuses after that ends the
    response `failed` (with the backend's code: 429 `rate_limit_exceeded`, `context_length_exceeded`,
    `upstream_error`, ...) instead of an HTTP error."""
    # Bounded: the first delta in a task of its own, which the Run takes over if it is late.  Unbounded
    # (a non-streaming request): awaited in place, a task and a turn of the loop fewer.
    task: asyncio.Task[Any] | None = None
    try:
        if wait is not None:
            task = asyncio.ensure_future(deltas.__anext__())
            if not await _within(task, wait):
                return task  # (a request cancelled while it waits cancels the task below)
        first: Delta = await (task if task is not None else deltas.__anext__())
        return first
    except StopAsyncIteration:
        return Finish()
    except BackendError as exc:
        if exc.is_client_error or (exc.status in (502, 503, 504) and (exc.code or "").startswith("upstream_")):
            # refused, or no valid answer from the upstream (busy, timed out, unreachable, a bad reply;
            # an upstream that answered its own 5xx still ends the response `failed`): nothing is stored
            raise backend_to_api(exc) from None
        return exc
    except asyncio.CancelledError:
        if task is not None:
            task.cancel()
        raise


def _wake(fut: asyncio.Future[bool], answered: bool) -> None:
    if not fut.done():
        fut.set_result(answered)


async def _within(task: asyncio.Task[Any], wait: float) -> bool:
    """Whether `task` ended within `wait` seconds; it goes on either way (`asyncio.wait` for one task,
    without its sets, checks and second future: this runs once per streamed request)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[bool] = loop.create_future()
    timer = loop.call_later(wait, _wake, fut, False)
    task.add_done_callback(lambda _: _wake(fut, True))
    try:
        return await fut
    finally:
        timer.cancel()
