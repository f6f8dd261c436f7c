"""A small HTTP/1.1 client for the upstreams: keep-alive connections on asyncio protocols, replies
parsed by httptools (llhttp, the C parser uvicorn already serves with).

It replaced aiohttp here for memory: aiohttp's client is 93 modules and ~9 MB resident (measured:
bench/memory.py, BENCHMARKS.md issue 20), for what a gateway to one upstream needs: one host, a
request written as one buffer, a reply read whole or line by line, keep-alive, TLS.  Left out, as
no upstream needs them: redirects, cookies, proxies, compression (no Accept-Encoding is sent, so
the body comes as it is), HTTP/2, 1xx.

- `Pool.request()` returns once the status line and headers are in; `Reply.lines()` / `.read()`
  then give the body.  Each wait for the peer is bounded by `idle` seconds and by the exchange's
  `deadline` (`TimeoutError`); connecting by `connect` seconds (`ConnectTimeout`).  A connection
  that fails or sends what is not HTTP raises `HTTPError`.
- `Reply.release()` returns a fully read keep-alive connection to the pool; `.close()` closes it
  (cut short: the upstream sees the connection go).  Idle connections are kept `keepalive`
  seconds; one the peer closed meanwhile is dropped from the pool as it closes.
- Flow control: reading pauses while more than `MAX_BUFFER` bytes wait for the reader.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

MAX_BUFFER = 2**20


class HTTPError(Exception):
    """The connection failed, or the peer sent what is not an HTTP/1.1 reply."""


class ConnectTimeout(TimeoutError):
    """Connecting (TCP, TLS) took longer than `connect` seconds."""


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class Reply(asyncio.Protocol):
    """One connection, and the reply being read on it (the protocol is reused for the next one)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0
        self._begin(0.0)

    def _begin(self, deadline: float) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.deadline = deadline
        self.status = 0
        self.content_type = ""
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self._eof_ends = True  # no content-length and not chunked: the body ends with the connection
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HTTPError(f"not an HTTP/1.1 reply ({exc})"))
            return
        if self._buffered > MAX_BUFFER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.headers_done and not self.complete and self._eof_ends and exc is None:
            self.complete = True  # a body delimited by the end of the connection
        elif not self.complete:
            self._error = HTTPError(f"the connection closed before the reply ended ({exc!r})" if exc else
                                    "the connection closed before the reply ended")
        self.pool.forget(self)
        self._wake()

    # -- httptools callbacks ------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key == b"content-type":
            self.content_type = value.decode("latin-1").partition(";")[0].strip().lower()
        elif key in (b"content-length", b"transfer-encoding"):
            self._eof_ends = False

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # asked here: llhttp forgets it once the message is over

    # -- the reader's side --------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self, until: float | None = None) -> None:
        """Until more arrives, bounded by `idle`, the deadline and `until` (in the loop's clock)."""
        if self._error is not None:
            raise self._error
        loop = asyncio.get_running_loop()
        fut = self._waiter = loop.create_future()
        end = min(loop.time() + self.pool.idle, self.deadline)
        timer = loop.call_at(end if until is None else min(end, until), _expire, fut)
        try:
            await fut
        finally:
            timer.cancel()
            self._waiter = None
        if self._error is not None:
            raise self._error

    def _take(self) -> bytes:
        data = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def at_eof(self) -> bool:
        return self.complete and not self._chunks

    async def read(self) -> bytes:
        parts = []
        while True:
            if self._chunks:
                parts.append(self._take())
            if self.complete:
                return b"".join(parts)
            await self._wait()

    async def lines(self) -> AsyncIterator[list[bytes]]:
        """The body's lines, without their b"\\n" (a b"\\r" before it stays): every whole line received
        so far in one list (a reader then loops over lines, not through a generator's step each)."""
        rest = b""
        while True:
            if self._chunks:
                data = rest + self._take() if rest else self._take()
                *whole, rest = data.split(b"\n")
                if whole:
                    yield whole
            elif self.complete:
                if rest:
                    yield [rest]
                return
            else:
                await self._wait()

    def release(self) -> None:
        """Back to the pool if the reply was read to its end and the connection may be kept."""
        if self.at_eof() and self.keep_alive and not self.lost:
            self.pool.keep(self)
        else:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()
        self.lost = True


class Pool:
    """Keep-alive connections to one origin (scheme, host, port)."""

    def __init__(self, base_url: str, headers: Mapping[str, str], connect: float, idle: float,
                 keepalive: float = 60.0) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"An upstream URL is http:// or https://, got {base_url!r}.")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.tls = url.scheme == "https"
        self.prefix = url.path.rstrip("/")
        self.connect, self.idle, self.keepalive = connect, idle, keepalive
        default_port = self.port == (443 if self.tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        fixed = {"host": host if default_port else f"{host}:{self.port}", "user-agent": "respond", "accept": "*/*",
                 **{k.lower(): v for k, v in headers.items()}}
        for k, v in fixed.items():  # a line break in a configured key would start a header (or a request) of its own
            if any(c in k + v for c in "\r\n\0") or ":" in k:
                raise ValueError(f"The upstream header {k!r} holds a line break, NUL or colon: fix the configured value.")
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: list[Reply] = []
        self._ssl: ssl.SSLContext | None = None

    def keep(self, reply: Reply) -> None:
        reply.idle_since = time.monotonic()
        self._idle.append(reply)

    def forget(self, reply: Reply) -> None:
        if reply in self._idle:
            self._idle.remove(reply)

    async def _connection(self, reuse: bool, until: float) -> tuple[Reply, bool]:
        """A kept connection (and True), else a new one (connected within `connect` seconds, else
        `ConnectTimeout`, and by `until`, else `TimeoutError`)."""
        now = time.monotonic()
        while reuse and self._idle:
            reply = self._idle.pop()
            if not reply.lost and now - reply.idle_since < self.keepalive:
                return reply, True
            reply.close()
        if self.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        loop = asyncio.get_running_loop()
        by_connect = loop.time() + self.connect <= until
        try:
            async with asyncio.timeout_at(min(loop.time() + self.connect, until)):
                _, reply = await loop.create_connection(lambda: Reply(self), self.host, self.port, ssl=self._ssl)
        except TimeoutError:
            if by_connect:
                raise ConnectTimeout() from None
            raise
        except OSError as exc:
            raise HTTPError(f"cannot connect to {self.host}:{self.port} ({exc})") from exc
        return reply, False

    async def request(self, method: str, path: str, body: bytes | None, content_type: str | None,
                      deadline: float, headers_by: float | None = None) -> Reply:
        """Send a request and wait for the reply's status line and headers.  `deadline`: in the
        loop's clock (`loop.time()`), when the whole exchange must be over; `headers_by`: when the
        headers must be in (`TimeoutError`; bounded by the waits' own timers, not by a timeout scope
        around the call: one timer less a request).  A GET on a kept connection
        that the peer closed as it was sent (its keep-alive ran out) is sent again on a new one; a POST
        is not (it may have been received): what aiohttp did."""
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n{self._head}"
        if content_type is not None:
            head += f"content-type: {content_type}\r\n"
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head += f"content-length: {len(body or b'')}\r\n"
        data = head.encode("latin-1") + b"\r\n" + (body or b"")
        until = deadline if headers_by is None else min(deadline, headers_by)
        reuse = True
        while True:
            reply, reused = await self._connection(reuse, until)
            reply._begin(deadline)
            try:
                assert reply.transport is not None
                reply.transport.write(data)
                while not reply.headers_done:
                    await reply._wait(until)
            except HTTPError:
                reply.close()
                if reused and method == "GET" and not reply.headers_done:
                    reuse = False
                    continue
                raise
            except BaseException:
                reply.close()
                raise
            return reply

    def close(self) -> None:
        for reply in self._idle:
            reply.close()
        self._idle.clear()
