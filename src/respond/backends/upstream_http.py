"""The HTTP transport to an OpenAI-compatible upstream: timeouts, a bounded pool, release, reply checks.

Kept apart from `openai_compat.py` (which builds chat bodies and parses deltas) so that the
transport rules live in one place:

- **Timeouts** (`UpstreamLimits`, one flag each): `connect` (TCP/TLS), `first_byte` (request sent ->
  response headers), `idle` (the longest silence from the upstream, before the headers or between
  two chunks of the body), `total` (the whole exchange).  Each ends the exchange with a `BackendError`
  (504, `upstream_timeout`).
- **A bounded pool**: at most `pool` exchanges at once; one more waits `pool_wait` seconds for a slot
  and then fails with 503 `upstream_busy` (answered with `Retry-After`) instead of queueing for ever.
- **Release**: an `Exchange` holds its slot until `close()`.  A body read to the end returns its
  connection to the pool; one cut short (the client went away, a cancel, an error) is closed, which
  also tells the upstream to stop generating.  Callers close in a `finally`, so a cancelled task
  frees its slot at once.
- **Status mapping** (`status_error`): an upstream 401/403 is the gateway's misconfiguration (502
  naming the upstream, never the client's 401); 429 stays 429 (`rate_limit_exceeded`); other 4xx
  keep their status; 5xx become 502 from the engine.
- **Reply checks**: a 2xx answer to a stream must be an event stream; anything else (an HTML error page from a
  proxy, say) is a 502 `upstream_error`; so is SSE data that is not JSON (`sse_json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from respond.backends.http1 import ConnectTimeout, HTTPError, Pool, Reply
from respond.core.errors import BackendError


@dataclass(frozen=True)
class UpstreamLimits:
    connect: float = 10.0
    first_byte: float = 120.0
    idle: float = 120.0
    total: float = 1800.0
    pool: int = 256
    pool_wait: float = 5.0


def timeout_error(what: str, base_url: str, seconds: float) -> BackendError:
    return BackendError(f"The upstream at {base_url} timed out: {what} took longer than {seconds:g} s.",
                        status=504, code="upstream_timeout")


def bad_reply(base_url: str, detail: str) -> BackendError:
    return BackendError(f"The upstream at {base_url} sent an invalid reply: {detail}.", status=502,
                        code="upstream_error")


def status_error(base_url: str, status: int, message: str, code: str | None, param: str | None) -> BackendError:
    """An upstream error status as the error the client should see."""
    if status in (401, 403):
        return BackendError(f"The upstream at {base_url} refused this server's credentials (HTTP {status}: "
                            f"{message}). This is a configuration problem of the server, not of your request.",
                            status=502, code="upstream_auth_error")
    if status == 429:
        return BackendError(message, status=429, code=code or "rate_limit_exceeded", param=param)
    if 400 <= status < 500 and code is None:
        code = "invalid_request" if status != 404 else "not_found"
    return BackendError(message, status=status, code=code, param=param)


def sse_json(base_url: str, data: bytes) -> Any:
    """One SSE `data:` payload as JSON; anything else is the upstream's fault."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise bad_reply(base_url, f"stream data that is not JSON ({data[:80]!r})") from None
    if not isinstance(value, dict):
        raise bad_reply(base_url, f"stream data that is not a JSON object ({data[:80]!r})")
    return value


class Exchange:
    """One request in flight: its response and its pool slot, until `close()`."""

    def __init__(self, resp: Reply, slot: asyncio.Semaphore, base_url: str,
                 limits: UpstreamLimits, started: float) -> None:
        self.resp = resp
        self._slot: asyncio.Semaphore | None = slot
        self.base_url = base_url
        self.limits = limits
        self.started = started

    def check_event_stream(self) -> None:
        """A 2xx answer to a streamed chat request must be an event stream."""
        if self.resp.content_type != "text/event-stream":
            raise bad_reply(self.base_url, f"HTTP {self.resp.status} with content type "
                                           f"'{self.resp.content_type}' where an event stream was asked for")

    def lines(self) -> AsyncIterator[list[bytes]]:
        """The body's lines, those received so far in one list (the connection's own generator: a
        reader maps what it raises with `failed`, around its loop, instead of a generator layer here)."""
        return self.resp.lines()

    def failed(self, exc: OSError | HTTPError) -> BackendError:
        """What reading the body raised (`TimeoutError`: the idle or total limit) as the client's error."""
        if isinstance(exc, TimeoutError):
            return self._timed_out()
        return BackendError(f"The connection to the upstream at {self.base_url} failed mid-stream: {exc!r}",
                            status=502, code="upstream_error")

    async def read(self) -> bytes:
        try:
            return await self.resp.read()
        except TimeoutError:
            raise self._timed_out() from None
        except (HTTPError, OSError) as exc:
            raise BackendError(f"The connection to the upstream at {self.base_url} failed: {exc!r}",
                               status=502, code="upstream_error") from exc

    def _timed_out(self) -> BackendError:
        if time.monotonic() - self.started >= self.limits.total - 0.05:
            return timeout_error("the whole reply", self.base_url, self.limits.total)
        return timeout_error("the wait between two chunks", self.base_url, self.limits.idle)

    def close(self) -> None:
        """Release a fully read connection to the pool, close one cut short; free the slot."""
        if self.resp.at_eof():
            self.resp.release()
        else:
            self.resp.close()
        if self._slot is not None:
            self._slot.release()
            self._slot = None


class UpstreamTransport:
    def __init__(self, base_url: str, headers: dict[str, str], limits: UpstreamLimits) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self._headers = headers
        self._pool: Pool | None = None
        self._slots = asyncio.Semaphore(limits.pool)

    def _client(self) -> Pool:
        # Made on first use (a bad URL fails the request, as it would fail any); keep-alive connections are pooled.
        if self._pool is None:
            try:
                self._pool = Pool(self.base_url, self._headers, connect=self.limits.connect, idle=self.limits.idle)
            except ValueError as exc:
                raise HTTPError(str(exc)) from None
        return self._pool

    async def _acquire(self) -> None:
        if not self._slots.locked():  # a free slot is taken at once: no task, no timer (wait_for makes both)
            await self._slots.acquire()
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), self.limits.pool_wait)
        except TimeoutError:
            raise BackendError(f"The upstream at {self.base_url} is busy: all {self.limits.pool} connections "
                               f"are in use. Retry shortly.", status=503, code="upstream_busy") from None

    async def send(self, method: str, path: str, body: bytes | None = None) -> Exchange:
        """Send a request and wait for the response headers (bounded by `first_byte`)."""
        await self._acquire()
        started = time.monotonic()
        now = asyncio.get_running_loop().time()
        try:
            resp = await self._client().request(method, path, body, "application/json" if body is not None else None,
                                                now + self.limits.total, headers_by=now + self.limits.first_byte)
        except BaseException as exc:
            self._slots.release()
            if isinstance(exc, ConnectTimeout):
                raise timeout_error("connecting", self.base_url, self.limits.connect) from None
            if isinstance(exc, TimeoutError):
                raise timeout_error("the response headers", self.base_url, self.limits.first_byte) from None
            if isinstance(exc, (HTTPError, OSError)):
                raise BackendError(f"The upstream at {self.base_url} could not be reached: {exc!r}",
                                   status=502, code="upstream_unreachable") from exc
            raise
        return Exchange(resp, self._slots, self.base_url, self.limits, started)

    async def get_json(self, path: str) -> Any:
        ex = await self.send("GET", path)
        try:
            raw = await ex.read()
            if ex.resp.status >= 400:
                raise status_error(self.base_url, ex.resp.status, raw[:300].decode(errors="replace"), None, None)
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise bad_reply(self.base_url, f"{path} is not JSON") from None
        finally:
            ex.close()

    async def close(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(Exception):
                self._pool.close()
