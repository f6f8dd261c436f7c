"""SSE framing (api/sse.py), the batching of a pipeline's events (engine/execution/detach.py): how
many ASGI messages, and so socket writes, a stream costs; and the JSON-once events of a watched run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson

from respond.api.sse import EventStream, frame, framed
from respond.core.types import TextDelta
from respond.engine.execution.detach import detached
from respond.engine.stream.events import EventBuilder
from respond.protocol.shapes import ResponseDict, StreamEvent


def _ev(type_: str, n: int) -> StreamEvent:
    return cast(StreamEvent, {"type": type_, "sequence_number": n})


async def _messages(chunks: AsyncIterator[tuple[bytes, bool]], headers_with_first: bool = False
                    ) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await EventStream(chunks, headers_with_first=headers_with_first)({"type": "http"}, receive, send)
    return sent


async def _batches(*batches: list[StreamEvent]) -> AsyncIterator[list[StreamEvent]]:
    for batch in batches:
        yield batch


async def test_the_terminal_event_ends_the_body_in_the_same_message() -> None:
    sent = await _messages(framed(_batches([_ev("response.created", 0), _ev("response.in_progress", 1)],
                                           [_ev("response.completed", 2)]), False))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body", "http.response.body"]
    assert [m["more_body"] for m in sent[1:]] == [True, False]
    assert sent[2]["body"].startswith(b"event: response.completed\ndata: ")


async def test_a_stream_without_a_terminal_event_ends_with_an_empty_body() -> None:
    sent = await _messages(framed(_batches([_ev("response.created", 0)], [_ev("error", 1)]), False))
    assert [(m.get("body", b"")[:12], m.get("more_body")) for m in sent[1:]] == [
        (b"event: respo", True), (b"event: error", True), (b"", False)]


async def test_detached_batches_what_is_ready_and_ends() -> None:
    async def events() -> AsyncIterator[int]:
        for n in range(3):
            yield n
        await asyncio.sleep(0)  # the consumer gets what was ready before this
        yield 3

    assert [batch async for batch in detached(events())] == [[0, 1, 2], [3]]


async def test_detached_hands_an_error_on_after_the_events_before_it() -> None:
    async def events() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("boom")

    got: list[list[int]] = []
    try:
        async for batch in detached(events()):
            got.append(batch)
    except RuntimeError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the error was swallowed")
    assert got == [[1]]


async def test_a_client_that_left_a_waiting_stream_is_heard_and_its_chunks_closed() -> None:
    """No chunk comes (the upstream is slow) and the client has gone: the stream's watcher (armed
    after `WATCH_AFTER`) cancels it, the response ends without error and its chunks' generator is closed."""
    closed = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def chunks() -> AsyncIterator[tuple[bytes, bool]]:
        try:
            yield b"event: response.created\ndata: {}\n\n", False
            await asyncio.Event().wait()  # never another chunk
            yield b"", True  # pragma: no cover
        finally:
            closed.set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(EventStream(chunks())({"type": "http"}, receive, send), 30)
    assert closed.is_set()
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


def _run(as_json: bool) -> list[StreamEvent]:
    """The events of a two-delta answer, framed only once the whole run is over."""
    response = cast(ResponseDict, {"id": "resp_1", "object": "response", "status": "in_progress", "output": [],
                                   "usage": None, "metadata": {"k": "v"}})
    b = EventBuilder(response, as_json=as_json, include=[])
    events: list[StreamEvent] = [b.lifecycle("response.created")]
    for text in ("Hel", "lo"):
        events += b.text(TextDelta(text))
    events += b.close_all()
    response["status"] = "completed"
    events.append(b.lifecycle("response.completed"))
    return events


def test_json_once_events_frame_as_copied_ones_and_keep_what_they_showed() -> None:
    copied, once = _run(as_json=False), _run(as_json=True)
    ids = {orjson.loads(orjson.dumps(ev[1]))["item"]["id"]: "msg" for ev in (copied, once)}

    def wire(events: list[StreamEvent]) -> list[bytes]:
        out = [frame(ev) for ev in events]
        for rid, name in ids.items():
            out = [f.replace(rid.encode(), name.encode()) for f in out]
        return out

    assert wire(once) == wire(copied)
    added = orjson.loads(orjson.dumps(once[1]))
    assert added["type"] == "response.output_item.added" and added["item"]["content"] == []  # as it was then
    assert orjson.loads(orjson.dumps(once[0]))["response"]["output"] == []
