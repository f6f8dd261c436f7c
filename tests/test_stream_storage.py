"""When a foreground stream is stored (engine/record/persistence.py `Streamed`): before its client hears
of it, so a GET finds it while it runs; once, whole, when its run ended before its first event went out."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest

from respond.api.sse import EventStream
from respond.core.ports import Store
from respond.engine.record.hub import Hub
from respond.engine.record.persistence import Record, Streamed
from respond.protocol.shapes import ResponseDict
from tests.inprocess import AppServer

from .test_sse_framing import _messages


class _Store:
    """Records the writes; each takes a turn of the loop (or raises `fail`)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.writes: list[str] = []
        self.fail = fail

    async def _write(self, name: str) -> None:
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        self.writes.append(name)

    async def start_response(self, *args: Any, **kwargs: Any) -> None:
        await self._write("start")

    async def finish_response(self, *args: Any, **kwargs: Any) -> None:
        await self._write("finish")

    async def insert_response(self, *args: Any, **kwargs: Any) -> None:
        await self._write("insert")


def _streamed(store: _Store) -> Streamed:
    response = cast(ResponseDict, {"id": "resp_1", "status": "completed", "output": []})
    return Streamed(cast(Store, store), Hub(), Record(response, "owner", []))


async def test_a_run_that_ended_before_its_first_event_went_out_is_stored_once_whole() -> None:
    store = _Store()
    run = _streamed(store)
    await run.begin()
    ending = asyncio.ensure_future(run.end([], joins=True))
    await asyncio.sleep(0)
    await run.visible()  # the client's first events wait for that one write, not for a start of their own
    await ending
    assert store.writes == ["insert"]


async def test_a_run_whose_client_heard_of_it_first_is_stored_at_its_start_and_at_its_end() -> None:
    store = _Store()
    run = _streamed(store)
    await run.begin()
    assert store.writes == []
    await run.visible()
    assert store.writes == ["start"]
    await run.visible()  # once
    await run.end([], joins=True)
    assert store.writes == ["start", "finish"]


async def test_a_start_the_store_refuses_is_an_error_before_any_event() -> None:
    run = _streamed(_Store(fail=RuntimeError("database is away")))
    with pytest.raises(RuntimeError):
        await run.visible()


async def test_the_headers_wait_for_the_first_chunk_so_an_error_before_it_is_an_http_error() -> None:
    async def chunks() -> Any:
        raise RuntimeError("database is away")
        yield  # pragma: no cover

    sent: list[dict[str, Any]] = []
    with pytest.raises(RuntimeError):
        sent = await _messages(chunks(), headers_with_first=True)
    assert sent == []  # nothing went out: the server's error handler answers (an OpenAI error envelope)


async def test_a_resumed_stream_sends_its_headers_at_once() -> None:
    first = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def chunks() -> Any:
        await first.wait()
        yield b"event: response.completed\ndata: {}\n\n", True

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: Any) -> None:
        sent.append(message)

    streaming = asyncio.ensure_future(EventStream(chunks())({"type": "http"}, receive, send))
    for _ in range(5):
        await asyncio.sleep(0)
    assert [m["type"] for m in sent] == ["http.response.start"]  # before any event
    first.set()
    await streaming
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


def test_a_stream_is_found_by_get_as_soon_as_its_client_hears_of_it(server: AppServer, upstream: Any) -> None:
    upstream.reply({"content": "tick " * 20, "chunks": 20, "chunk_delay": 0.05})
    http = server.http()
    with http.stream("POST", "/responses", json={"model": "scripted", "input": "go", "stream": True}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                rid = json.loads(line[6:])["response"]["id"]
                got = http.get(f"/responses/{rid}")
                assert got.status_code == 200 and got.json()["status"] == "in_progress", got.text
                break
    assert http.get(f"/responses/{rid}").status_code == 200
