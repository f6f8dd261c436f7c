"""The in-process lane: the real app, built by the composition root, served without a process.

`AppServer(*args, database=...)` turns `respond serve` flags into `Settings` exactly as the command line
does, builds the app with `respond.bootstrap.build_app`, enters its lifespan (store, workers, tools)
on an event loop of its own in a daemon thread, and offers the same interface as a real server
(tests/conftest.py's `Server`): `base_url`, `client()` (the official `openai.OpenAI`), `http()`,
`aclient()` (`openai.AsyncOpenAI`).  Requests go through `StreamingASGITransport`, never a socket.

Why not `httpx.ASGITransport` as is: it waits for the whole body before it returns a response, so
a test that reads the first events of a stream and then cancels, or leaves, would hang; and it
never tells the app that the client went away.  `StreamingASGITransport` is the same ASGI call
with the body handed over chunk by chunk and `http.disconnect` sent when the client closes.
`SyncTransport` lets the synchronous SDK client drive it on the app's loop.

What needs a real process stays in tests/conftest.py's `Server` (marked `process`): signals,
crashes, replicas, the embedded model, external clients, the browser, WebSockets, outages.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, MutableMapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import httpx
from openai import AsyncOpenAI, OpenAI
from starlette.applications import Starlette

from respond.bootstrap import build_app
from respond.cli import build_parser
from respond.config import Settings
from respond.config_file import settings_with

T = TypeVar("T")
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]
BASE = "http://respond.inprocess"


class Clock:
    """An injectable clock (`build_app(settings, clock=...)`): the wall clock until a test moves it on
    with `advance()`, instead of sleeping for a timestamp to change."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def settings_for(args: list[str], database: str) -> Settings:
    """`respond serve ARGS --database DATABASE`, parsed by the real command line (a `--config` file
    read as `respond serve` reads it: flags, then RESPOND_*, then the file)."""
    parsed = build_parser(explicit_only=True).parse_args(["serve", *args, "--database", database])
    return settings_with({k: v for k, v in vars(parsed).items() if k != "command"})


class _Body(httpx.AsyncByteStream):
    """The response body as the app sends it; closing it tells the app the client left."""

    def __init__(self, chunks: asyncio.Queue[bytes | None], task: asyncio.Task[None],
                 disconnected: asyncio.Event) -> None:
        self.chunks, self.task, self.disconnected = chunks, task, disconnected

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.chunks.get()) is not None:
            yield chunk
        if self.task.done() and not self.task.cancelled() and self.task.exception() is not None:
            raise self.task.exception()  # type: ignore[misc]

    async def aclose(self) -> None:
        self.disconnected.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 30)
        except TimeoutError:  # an app that ignores the disconnect: as a server would, drop it
            self.task.cancel()


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """httpx.ASGITransport that streams the response body and reports the client's disconnect.

    `app`: returns the ASGI app of the moment (a restarted AppServer builds a new one)."""

    def __init__(self, app: Callable[[], ASGIApp], client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self.current = app
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": request.method, "headers": [(k.lower(), v) for k, v in request.headers.raw],
                 "scheme": request.url.scheme, "path": request.url.path,
                 "raw_path": request.url.raw_path.split(b"?")[0], "query_string": request.url.query,
                 "server": (request.url.host, request.url.port or 80), "client": self.client, "root_path": ""}
        started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        disconnected = asyncio.Event()
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if not started.done():  # done: the client already gave up (cancelled)
                    started.set_result(message)
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    chunks.put_nowait(message["body"])
                if not message.get("more_body", False):
                    chunks.put_nowait(None)

        async def run() -> None:
            try:
                await self.current()(scope, receive, send)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise
            finally:
                chunks.put_nowait(None)
                if not started.done():
                    started.set_exception(RuntimeError("the app returned without a response"))

        task = asyncio.create_task(run())
        try:
            start = await started
        except asyncio.CancelledError:  # the client gave up before the headers: as if it closed the socket
            disconnected.set()
            raise
        return httpx.Response(start["status"], headers=start.get("headers", []),
                              stream=_Body(chunks, task, disconnected), request=request)


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, server: AppServer, stream: httpx.AsyncByteStream, timeout: float | None) -> None:
        self.server, self.stream, self.timeout = server, stream, timeout
        self.loop = server.loop  # the loop of the app that serves this body
        self.chunks = stream.__aiter__()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self.server.run(self.chunks.__anext__(), self.timeout)
            except StopAsyncIteration:
                return

    def close(self) -> None:
        if self.server.serving(self.loop):  # else that app has stopped: nobody is left to tell (a stream
            self.server.run(self.stream.aclose())  # closed late, e.g. by the garbage collector)


class SyncTransport(httpx.BaseTransport):
    """A synchronous httpx transport that runs each exchange on the app's loop."""

    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.inner = StreamingASGITransport(server.started)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        timeout = request.extensions.get("timeout", {}).get("read")
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        response = self.server.run(self.inner.handle_async_request(inner), timeout)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers, request=request,
                              stream=_SyncBody(self.server, response.stream, timeout))


class _LoopTransport(httpx.AsyncBaseTransport):
    """An async transport for a client on another loop (an async test): each step runs on the app's loop."""

    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.inner = StreamingASGITransport(server.started)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        response = await self.server.arun(self.inner.handle_async_request(inner))
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers, request=request,
                              stream=_LoopBody(self.server, response.stream))


class _LoopBody(httpx.AsyncByteStream):
    def __init__(self, server: AppServer, stream: httpx.AsyncByteStream) -> None:
        self.server, self.stream = server, stream
        self.loop = server.loop
        self.chunks = stream.__aiter__()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                yield await self.server.arun(self.chunks.__anext__())
            except StopAsyncIteration:
                return

    async def aclose(self) -> None:
        if self.server.serving(self.loop):
            await self.server.arun(self.stream.aclose())


class AppServer:
    """The app of `respond serve ARGS`, in this process (see the module docstring)."""

    def __init__(self, args: list[str], database: str, settings: Settings | None = None,
                 clock: Clock | None = None) -> None:
        self.args = args
        self.clock = clock or Clock()
        self.database = database
        self.settings = settings or settings_for(args, database)
        self.base_url = f"{BASE}/v1"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread()
        self.app: Starlette | None = None
        self._stop: asyncio.Event | None = None
        self._life: asyncio.Future[None] | None = None

    def run(self, coro: Coroutine[Any, Any, T] | Awaitable[T], timeout: float | None = None) -> T:
        """Run `coro` on the app's loop and wait for its result (`timeout`: httpx.ReadTimeout)."""
        future = asyncio.run_coroutine_threadsafe(_wrap(coro), self.loop)
        try:
            return future.result(timeout)
        except TimeoutError as exc:
            future.cancel()
            raise httpx.ReadTimeout("the in-process app did not answer in time") from exc

    def serving(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True while the app started on `loop` still runs (not stopped, not restarted since)."""
        return loop is self.loop and not loop.is_closed() and self.thread.is_alive()

    async def arun(self, coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_wrap(coro), self.loop))

    def start(self) -> AppServer:
        """Build the app and enter its lifespan; again after `stop()`: a restart on the same database."""
        if self.loop.is_closed():
            self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="respond-app", daemon=True)
        self.thread.start()
        self.app = self.run(_build(self.settings, self.clock))
        entered: asyncio.Future[None] = self.loop.create_future()

        async def life() -> None:
            assert self.app is not None
            self._stop = asyncio.Event()
            context: AbstractAsyncContextManager[Any] = self.app.router.lifespan_context(self.app)
            async with context:
                entered.set_result(None)
                await self._stop.wait()

        async def begin() -> None:
            self._life = asyncio.ensure_future(life())
            self._life.add_done_callback(lambda f: None if entered.done() else entered.set_exception(
                f.exception() or RuntimeError("the lifespan ended early")))
            await entered

        self.run(begin(), 120)
        return self

    def stop(self) -> None:
        if self._life is not None and self._stop is not None:
            stop, life = self._stop, self._life
            self._life = None

            async def end() -> None:
                stop.set()
                await life

            self.run(end(), 60)
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def started(self) -> Starlette:
        assert self.app is not None, "start() the AppServer first"
        return self.app

    def transport(self) -> httpx.BaseTransport:
        return SyncTransport(self)

    def client(self, api_key: str = "test-key", **kw: Any) -> OpenAI:
        timeout = kw.pop("timeout", 60)
        http = httpx.Client(transport=self.transport(), timeout=timeout)
        # the SDK takes an httpx client at run time (its legacy path); its annotations name httpx2's
        return OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, timeout=timeout,
                      http_client=http, **kw)  # type: ignore[arg-type]

    def aclient(self, api_key: str = "test-key", **kw: Any) -> AsyncOpenAI:
        timeout = kw.pop("timeout", 60)
        http = httpx.AsyncClient(transport=_LoopTransport(self), timeout=timeout)
        return AsyncOpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, timeout=timeout,
                           http_client=http, **kw)  # type: ignore[arg-type]

    def http(self, api_key: str | None = "test-key") -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, transport=self.transport())

    def root(self, api_key: str | None = None) -> httpx.Client:
        """A client of the site's root (/metrics, /dashboard, /docs), without a key unless given."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=BASE, headers=headers, timeout=60, transport=self.transport())


async def _wrap(coro: Awaitable[T]) -> T:
    return await coro


async def _build(settings: Settings, clock: Clock) -> Starlette:
    """build_app on the app's loop: whatever it creates binds to the loop that serves it."""
    return build_app(settings, clock=clock)
