"""SSE framing, in one place: `event:` + one `data:` line + blank line, written whole.

Stream obfuscation (`stream_options.include_obfuscation`, on unless a client turns it off, as on the
hosted API): every delta event gets an `obfuscation` field of random alphanumeric padding, so that
the size of what goes over the wire no longer tells the length of the text in it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from respond.protocol.shapes import StreamEvent

WATCH_AFTER = 0.1  # seconds a request runs (or streams) before its client's connection is watched
PAD_BLOCK = 32  # a delta's data is padded to a multiple of this, plus 0..PAD_BLOCK-1 more at random


class Watch:
    """Cancels the task that made it when the client disconnects (`left` then says so), its connection
    watched once the task has run `WATCH_AFTER` seconds: a timer set and, for most requests and streams,
    cancelled before that (`stop`) costs a fraction of a task that waits on the connection and is cancelled.
    A client that leaves sooner is heard at that point.  Used by `EventStream` and api/routes.py
    `_unless_gone`; the task decides what a cancellation by `Watch` means (`left`)."""

    __slots__ = ("_me", "_receive", "_task", "_timer", "left")

    def __init__(self, receive: Receive) -> None:
        me = asyncio.current_task()
        assert me is not None
        self._me, self._receive, self.left = me, receive, False
        self._task: asyncio.Future[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._arm)

    def _arm(self) -> None:
        self._task = asyncio.ensure_future(self._gone())

    async def _gone(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.left = True
        self._me.cancel()  # the watched task's own awaits take the cancellation: their cleanup runs

    def ours(self) -> bool:
        """Whether the cancellation the task caught is this watch's alone (the client left; taken back then),
        not also someone else's (the server stopping)."""
        return self.left and self._me.uncancel() == 0

    def uncancel(self) -> None:
        """Take back this watch's cancellation of a task that ended anyway (it swallowed it)."""
        self._me.uncancel()

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


_random = bytearray()  # the system's randomness, read 4 KiB at a time (see `padding`)


def _forget_random() -> None:
    _random.clear()  # a forked process draws its own: never the same padding as its parent's


os.register_at_fork(after_in_child=_forget_random)


def padding(size: int) -> str:
    """Random alphanumeric padding for a payload of `size` bytes (unpredictable: `os.urandom`, each byte
    used once).  PAD_BLOCK + 1 bytes a delta, taken from a buffer read 4 KiB at a time (a read of the
    system's randomness for every ~120 deltas, not for each): its first byte draws the extra length
    (uniform: 256 is a multiple of PAD_BLOCK), the other PAD_BLOCK bytes give up to 2 * PAD_BLOCK hex digits."""
    if len(_random) < PAD_BLOCK + 1:
        _random[:] = os.urandom(4096)
    raw = bytes(_random[-PAD_BLOCK - 1:])
    del _random[-PAD_BLOCK - 1:]
    count = PAD_BLOCK - size % PAD_BLOCK + raw[0] % PAD_BLOCK
    return raw[1:].hex()[:count]


def _padded(data: bytes) -> bytes:
    return data[:-1] + b',"obfuscation":"' + padding(len(data)).encode() + b'"}'


def payload(event: StreamEvent, obfuscate: bool = False) -> bytes:
    """An event's JSON; a delta event's with its `obfuscation` padding when `obfuscate`."""
    data = orjson.dumps(event)
    return _padded(data) if obfuscate and event["type"].endswith(".delta") else data


_HEADS: dict[str, bytes] = {}  # event type -> b"event: <type>\ndata: " (a few dozen types)


def frame(event: StreamEvent, obfuscate: bool = False) -> bytes:
    """`payload`, framed (inline: this runs per event)."""
    kind = event["type"]
    head = _HEADS.get(kind)
    if head is None:
        head = _HEADS[kind] = b"event: " + kind.encode() + b"\ndata: "
    data = orjson.dumps(event)
    if obfuscate and kind.endswith(".delta"):
        data = _padded(data)
    return head + data + b"\n\n"


TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete"})  # nothing comes after one


async def framed(batches: AsyncIterator[list[StreamEvent]], obfuscate: bool) -> AsyncIterator[tuple[bytes, bool]]:
    """Batches of events (those ready at once: engine/execution/detach.py) as SSE chunks, each event
    whole and a batch in one write; True with the chunk that ends in a terminal event (the last)."""
    async for batch in batches:
        yield b"".join([frame(ev, obfuscate) for ev in batch]), batch[-1]["type"] in TERMINAL


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class EventStream(Response):
    """A `text/event-stream` response of SSE chunks (each with whether it is the last).  Starlette's `StreamingResponse` watches for the
    client leaving with an anyio task group (a cancel scope and two tasks per stream) under ASGI spec
    2.3, which uvicorn declares; here one watcher task cancels the sending task when the client goes,
    as api/routes.py `_unless_gone` does for a request that is still being prepared.  Its chunks'
    generator is closed either way (the event pipeline's own task then ends the run: engine/detach.py).
    The watcher starts once the stream has run `WATCH_AFTER` seconds (a timer set, and for most streams
    cancelled: they are over by then); a client that leaves sooner is heard then, or by a failed `send`."""

    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncIterator[tuple[bytes, bool]], headers_with_first: bool = False) -> None:
        """`headers_with_first`: the headers wait for the first chunk (a live run's: it is stored before its
        first event goes out, and the store refusing it is then still an HTTP error); else they go at once
        (a resumed stream may wait long for its next event)."""
        self.chunks = chunks
        self.headers_with_first = headers_with_first
        self.status_code = 200
        self.background = None
        self.init_headers(SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = Watch(receive)
        started = ended = False
        start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        try:
            if not self.headers_with_first:
                started = True
                await send(start)
            async for chunk, last in self.chunks:
                if not started:
                    started = True
                    await send(start)
                if not ended:  # the last chunk ends the body with it: one write (and one `send`) fewer
                    await send({"type": "http.response.body", "body": chunk, "more_body": not last})
                    ended = last
            if not started:
                started = True
                await send(start)
            if not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not watch.ours():
                raise
        except OSError:  # an ASGI 2.4 server's `send` once the client has left
            if not started:
                raise
        finally:
            watch.stop()
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
