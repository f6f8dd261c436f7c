"""One MCP session per server per response, on the official `mcp` SDK (`mcp.Client`).

The SDK's transports run anyio task groups, whose scopes must be entered and left by one task;
a response's steps are not (a streamed response moves between the request's task and the
stream's).  So each `Connection` owns a task that opens the session, serves requests from a
queue, and closes it: `list_tools` / `call_tool` post work there and wait, with a timeout.
`close()` ends the session (and the task) whatever state it is in; a run that is interrupted
closes its connections through the hosted loop's `finally`.

Transport: a URL whose path ends in `/sse` speaks the legacy HTTP+SSE transport, any other the
streamable HTTP transport.  The URL is checked against the `NetworkPolicy` (core/netpolicy.py)
before connecting, and every connection again at connect time (tools/netguard.py: no DNS
rebinding); the SDK follows redirects only within the same origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from respond.core.netpolicy import BlockedURL, NetworkPolicy
from respond.tools.mcp.results import CallError

if TYPE_CHECKING:  # the SDK (and httpx2, anyio, trio...) is imported by the first MCP session, not at start
    from mcp import Client

log = logging.getLogger("respond.mcp")
# The SDK's HTTP client logs every request at INFO: one line per MCP message is debug detail here.
logging.getLogger("httpx2").setLevel(logging.WARNING)  # (a logger needs no import of its package)

T = TypeVar("T")
REQUEST_TIMEOUT = -32001  # MCP's JSON-RPC code for a request that timed out


class McpFailure(Exception):
    """A failure as an `mcp_call.error` object (mcp_protocol_error, http_error) and a short text."""

    def __init__(self, error: CallError) -> None:
        super().__init__(error["message"])
        self.error = error

    @property
    def text(self) -> str:
        return self.error["message"]


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def failure(exc: BaseException) -> McpFailure:
    """Any exception from the SDK or the network as an `mcp_call.error`-shaped failure."""
    exc = _leaf(exc)
    if isinstance(exc, McpFailure):
        return exc
    import httpx2
    from mcp.shared.exceptions import MCPError

    if isinstance(exc, MCPError):
        return McpFailure({"type": "mcp_protocol_error", "code": exc.code, "message": exc.message})
    if isinstance(exc, httpx2.HTTPStatusError):
        return McpFailure({"type": "http_error", "code": exc.response.status_code,
                           "message": f"The MCP server answered HTTP {exc.response.status_code}."})
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        return McpFailure({"type": "mcp_protocol_error", "code": REQUEST_TIMEOUT,
                           "message": "The MCP server did not answer in time."})
    if isinstance(exc, BlockedURL):
        return McpFailure({"type": "http_error", "code": 403, "message": str(exc)})
    if isinstance(exc, httpx2.HTTPError | OSError):
        return McpFailure({"type": "http_error", "code": 502,
                           "message": f"Cannot reach the MCP server: {exc or type(exc).__name__}."})
    return McpFailure({"type": "mcp_protocol_error", "code": -32603,
                       "message": f"MCP error: {exc or type(exc).__name__}."})


Job = tuple[Callable[["Client"], Awaitable[Any]], "asyncio.Future[Any]"]


class Connection:
    def __init__(self, url: str, headers: dict[str, str], policy: NetworkPolicy, timeout: float) -> None:
        self.url = url
        self.headers = headers
        self.policy = policy
        self.timeout = timeout
        self._queue: asyncio.Queue[Job | None] = asyncio.Queue()
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        if self._task is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._serve(), name=f"mcp {self.url}")
        assert self._ready is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self.timeout)
        except TimeoutError:
            await self.close()
            raise McpFailure({"type": "http_error", "code": 504,
                              "message": f"Connecting to the MCP server took longer than {self.timeout:g}s."}) from None

    async def _serve(self) -> None:
        assert self._ready is not None
        try:
            await self.policy.check(self.url)
            from mcp import Client

            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(Client(self._transport(stack),
                                                                read_timeout_seconds=self.timeout, cache=None))
                self._ready.set_result(None)
                while (job := await self._queue.get()) is not None:
                    fn, fut = job
                    try:
                        result = await fn(client)
                    except Exception as exc:  # noqa: BLE001 - every failure goes to the caller
                        if not fut.done():
                            fut.set_exception(failure(exc))
                    else:
                        if not fut.done():
                            fut.set_result(result)
        except (Exception, ExceptionGroup) as exc:  # noqa: BLE001
            log.info("MCP session with %s ended: %s", self.url, _leaf(exc))
            if not self._ready.done():
                self._ready.set_exception(failure(exc))
        finally:
            self._fail_pending()

    def _transport(self, stack: AsyncExitStack) -> Any:
        import httpx2
        from mcp.client.sse import sse_client
        from mcp.client.streamable_http import streamable_http_client

        from respond.tools.netguard import guarded_client

        if self.url.split("?", 1)[0].rstrip("/").endswith("/sse"):
            return sse_client(self.url, headers=self.headers, timeout=self.timeout,
                              sse_read_timeout=max(self.timeout, 300.0),
                              httpx_client_factory=partial(guarded_client, self.policy))
        http = guarded_client(self.policy, headers=self.headers, timeout=httpx2.Timeout(self.timeout))
        stack.push_async_callback(http.aclose)
        return streamable_http_client(self.url, http_client=http)

    def _fail_pending(self) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None and not job[1].done():
                job[1].set_exception(McpFailure({"type": "http_error", "code": 502,
                                                 "message": "The MCP session ended."}))

    async def request(self, fn: Callable[[Client], Awaitable[T]]) -> T:
        await self._open()
        if self._task is None or self._task.done():
            raise McpFailure({"type": "http_error", "code": 502, "message": "The MCP session ended."})
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((fn, fut))
        try:
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise failure(TimeoutError()) from None

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(task), 5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
