"""Imported by `respond serve` under bench/timeline.py (before respond.cli runs): a timeline per request
and the process's stalls, written as JSON to $TIMELINE_OUT when the server is stopped (SIGTERM).

Per request, keyed by the client's `x-trace` header: when uvicorn parsed its head (`recv`), the ASGI
app started (`app`), the upstream request was written (`up_req`) and answered (`up_end`), its quick
writes were queued and committed (`store`: the group commit, store/sqlite_threads.py), the last byte
was handed to the transport (`sent`); and the time and the await chain of every suspension of the
request's task (`yields`).  Process-wide: garbage collections, group commits (size), WAL checkpoints
and event-loop lags over 4 ms (a 1 ms ticker).  A diagnostic: it patches private names of uvicorn and
Respond, and breaks when they move.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import signal
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import orjson

now = time.monotonic
REQ: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("timeline", default=None)
requests: list[dict[str, Any]] = []
events: list[tuple[str, float, float, int]] = []  # (kind, start, end, size)
_gc_start = [0.0]
_tasks: set[asyncio.Task[None]] = set()


def _gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_start[0] = now()
    else:
        events.append((f"gc{info['generation']}", _gc_start[0], now(), info.get("collected", 0)))


def _dump(*_: object) -> None:
    with open(os.environ["TIMELINE_OUT"], "wb") as f:
        f.write(orjson.dumps({"requests": requests, "events": events}))
    os._exit(0)  # uvicorn re-raises the SIGTERM it shut down for, which would skip atexit


def _chain(co: Any) -> str:
    names: list[str] = []
    while co is not None:
        code = getattr(co, "cr_code", None) or getattr(co, "gi_code", None) or getattr(co, "ag_code", None)
        if code is None:
            names.append(type(co).__name__)
            break
        frame = getattr(co, "cr_frame", None) or getattr(co, "gi_frame", None)
        names.append(f"{code.co_name}:{frame.f_lineno if frame else '?'}")
        co = getattr(co, "cr_await", None) or getattr(co, "gi_yieldfrom", None) or getattr(co, "ag_await", None)
    return " > ".join(names[-4:])


class _Counted:
    """Awaits `coro`, noting the time and await chain of each of its suspensions."""

    def __init__(self, coro: Awaitable[Any], record: dict[str, Any]) -> None:
        self.coro, self.record = coro, record

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self.coro.__await__()
        ys: list[tuple[float, str]] = self.record.setdefault("yields", [])
        value: Any = None
        exc: BaseException | None = None
        while True:
            try:
                y = it.throw(exc) if exc is not None else it.send(value)
            except StopIteration as stop:
                return stop.value
            ys.append((now(), _chain(self.coro)))
            value, exc = None, None
            try:
                value = yield y
            except BaseException as e:  # noqa: BLE001 - passed on into the coroutine
                exc = e


def install() -> None:
    import uvicorn.server
    from uvicorn.protocols.http import httptools_impl

    import respond.backends.http1 as http1
    import respond.bootstrap as bootstrap
    import respond.store.sqlite_checkpoint as checkpoint
    import respond.store.sqlite_threads as threads

    gc.callbacks.append(_gc)
    signal.signal(signal.SIGTERM, _dump)

    build = bootstrap.build_app

    def build_app(settings: Any) -> Any:
        app = build(settings)

        async def traced(scope: dict[str, Any], receive: Any, send: Callable[[Any], Awaitable[None]]) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)
            r: dict[str, Any] = {"recv": scope.get("_timeline_recv"), "app": now()}
            r["id"] = next((int(v) for k, v in scope["headers"] if k == b"x-trace"), None)
            REQ.set(r)
            requests.append(r)

            async def timed_send(msg: dict[str, Any]) -> None:
                await send(msg)
                if msg["type"] == "http.response.body" and not msg.get("more_body"):
                    r["sent"] = now()

            await _Counted(app(scope, receive, timed_send), r)

        return traced

    bootstrap.build_app = build_app

    init = httptools_impl.RequestResponseCycle.__init__

    def cycle_init(self: Any, *a: Any, **k: Any) -> None:
        init(self, *a, **k)
        self.scope["_timeline_recv"] = now()

    httptools_impl.RequestResponseCycle.__init__ = cycle_init  # type: ignore[method-assign]

    request = http1.Pool.request

    async def up_request(self: Any, *a: Any, **k: Any) -> Any:
        r = REQ.get()
        if r is not None:
            r.setdefault("up_req", now())
        reply = await request(self, *a, **k)
        if r is not None:
            r["up_end"] = now()
        return reply

    http1.Pool.request = up_request  # type: ignore[method-assign]
    read = http1.Reply.read

    async def up_read(self: Any) -> bytes:
        body = await read(self)
        r = REQ.get()
        if r is not None:
            r["up_end"] = now()
        return body

    http1.Reply.read = up_read  # type: ignore[method-assign]

    grouped = threads.SqliteThreads.grouped

    def timed_grouped(self: Any, fn: Any, lock: Any) -> Any:
        fut = grouped(self, fn, lock)
        r = REQ.get()
        if r is not None:
            slot = [now(), 0.0]
            r.setdefault("store", []).append(slot)
            fut.add_done_callback(lambda _f: slot.__setitem__(1, now()))
        return fut

    threads.SqliteThreads.grouped = timed_grouped  # type: ignore[method-assign]
    commit = threads.SqliteThreads._commit_group

    def timed_commit(self: Any, lock: Any) -> None:
        n, t, retries = len(self._group or []), now(), len(self._retries)
        commit(self, lock)  # a group that could not commit at once goes to _one_by_one, one write a turn
        events.append(("commit" if len(self._retries) == retries else "commit failed", t, now(), n))

    threads.SqliteThreads._commit_group = timed_commit  # type: ignore[method-assign]
    run = checkpoint.Checkpointer._checkpoint

    def timed_checkpoint(self: Any) -> None:
        t = now()
        run(self)
        events.append(("checkpoint", t, now(), 0))

    checkpoint.Checkpointer._checkpoint = timed_checkpoint  # type: ignore[method-assign]
    write = threads.SqliteThreads.write

    async def timed_write(self: Any, fn: Any, quick: bool = False) -> Any:
        t = now()
        try:
            return await write(self, fn, quick)
        finally:
            name = "quick write" if quick else f"thread write ({getattr(fn, '__qualname__', '?')})"
            events.append((name, t, now(), 0))

    threads.SqliteThreads.write = timed_write  # type: ignore[method-assign]

    async def ticker() -> None:
        while True:
            t = now()
            await asyncio.sleep(0.001)
            if now() - t > 0.004:
                events.append(("loop lag", t, now(), 0))

    startup = uvicorn.server.Server.startup

    async def timed_startup(self: Any, *a: Any, **k: Any) -> None:
        _tasks.add(asyncio.get_running_loop().create_task(ticker()))
        await startup(self, *a, **k)

    uvicorn.server.Server.startup = timed_startup  # type: ignore[method-assign]


install()
