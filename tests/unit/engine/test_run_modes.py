"""Each run mode stores what it should, when it should (engine/record/persistence.py), in process."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
import pytest

from respond.backends.scripted import ScriptedBackend
from respond.engine.execution.run import Run
from respond.engine.record.persistence import RunMode, typed
from respond.engine.service import ModelRouter, ResponsesService
from respond.engine.started import Queued, Running
from respond.engine.stream.events import replay
from respond.store.sql import SqlStore
from tests.replays import as_replayed
from tests.unit.conftest import OWNER


async def _start(service: ResponsesService, body: dict[str, Any]) -> tuple[Run, Any]:
    """A foreground create: its run and its response."""
    started = await service.create(body, OWNER)
    assert isinstance(started, Running)
    return started.run, started.response


async def _drain(run: Run) -> list[Any]:
    """The run's events as they go out (a watched run's show their objects as JSON made once)."""
    return [orjson.loads(orjson.dumps(ev)) async for ev in run.events()]


def _text(response: dict[str, Any]) -> str:
    return "".join(p["text"] for it in response["output"] for p in it.get("content", []))


def test_mode_of_request() -> None:
    assert RunMode.of(store=True, stream=False, background=False) is RunMode.DRAINED
    assert RunMode.of(store=True, stream=True, background=False) is RunMode.STREAMED
    assert RunMode.of(store=True, stream=True, background=True) is RunMode.BACKGROUND
    assert RunMode.of(store=False, stream=True, background=False) is RunMode.EPHEMERAL


async def test_drained_is_stored_once_whole_without_events(service: ResponsesService, store: SqlStore) -> None:
    run, response = await _start(service, {"model": "scripted", "input": "hi"})
    assert await store.get_response(response["id"], OWNER) is None  # nothing before the end
    events = await _drain(run)
    assert [e["type"] for e in events][-1] == "response.completed"
    stored = await store.get_response(response["id"], OWNER)
    assert stored is not None and stored["status"] == "completed" and _text(stored) == "one two three four"
    assert await store.read_events(response["id"], OWNER, -1) == ([], "completed")
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


async def test_streamed_is_stored_before_its_client_hears_of_it_and_at_its_end_and_replays_as_it_streamed(
        service: ResponsesService, store: SqlStore) -> None:
    run, response = await _start(service, {"model": "scripted", "input": "hi", "stream": True})
    assert await store.get_response(response["id"], OWNER) is None  # nobody has heard of it yet
    await run.visible()  # its first event is about to go out
    started = await store.get_response(response["id"], OWNER)
    assert started is not None and started["status"] == "in_progress"
    events = await _drain(run)
    # its events are not stored (only a background run's are): a replay rebuilds them from the response
    assert await store.read_events(response["id"], OWNER, -1) == ([], "completed")
    stored = await store.get_response(response["id"], OWNER)
    assert stored is not None and stored == events[-1]["response"]
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 1  # so that the replay's one delta per part is a real difference
    assert replay(typed(stored)) == as_replayed(events)
    assert await store.claim_job("w", 1000) is None  # its lease job is done, nothing queued


async def test_a_stream_that_ended_before_its_client_heard_of_it_is_stored_once_whole(
        service: ResponsesService, store: SqlStore) -> None:
    run, response = await _start(service, {"model": "scripted", "input": "hi", "stream": True})
    events = await _drain(run)  # its whole answer was at hand before anything went out
    await run.visible()
    stored = await store.get_response(response["id"], OWNER)
    assert stored is not None and stored == events[-1]["response"]
    assert await store.read_events(response["id"], OWNER, -1) == ([], "completed")
    assert await store.claim_job("w", 1000) is None  # it never had a lease job


async def test_ephemeral_stores_nothing(service: ResponsesService, store: SqlStore) -> None:
    for stream in (False, True):
        run, response = await _start(service, {"model": "scripted", "input": "hi", "store": False,
                                              "stream": stream})
        events = await _drain(run)
        assert events[-1]["response"]["status"] == "completed"
        assert await store.get_response(response["id"], OWNER) is None


async def test_background_is_queued_then_run_by_a_worker(service: ResponsesService, store: SqlStore) -> None:
    started = await service.create({"model": "scripted", "input": "hi", "background": True}, OWNER)
    assert isinstance(started, Queued) and started.response["status"] == "queued"
    response = started.response
    queued = await store.get_response(response["id"], OWNER)
    assert queued is not None and queued["status"] == "queued"
    job = await store.claim_job("worker-1", 10_000)
    assert job is not None and job["response_id"] == response["id"]
    run = await service.run_job(job)
    assert run is not None
    events = await _drain(run)
    assert events[0]["type"] == "response.in_progress" and events[0]["sequence_number"] == 2
    stored = await store.get_response(response["id"], OWNER)
    assert stored is not None and stored["status"] == "completed" and _text(stored) == "one two three four"
    got = await store.read_events(response["id"], OWNER, -1)
    # response.created and response.queued were stored when it was queued; the run's events follow them
    assert got is not None and [e["type"] for e in got[0][:2]] == ["response.created", "response.queued"]
    assert got[0][2:] == events


async def test_closing_a_stream_stores_it_cancelled(service: ResponsesService, store: SqlStore) -> None:
    run, response = await _start(service, {"model": "scripted", "input": "hi", "stream": True})
    events = run.events()
    seen = [await events.__anext__() for _ in range(4)]
    assert isinstance(events, AsyncGenerator)
    await events.aclose()
    stored = await store.get_response(response["id"], OWNER)
    assert stored is not None and stored["status"] == "cancelled"
    assert seen[0]["type"] == "response.created"


async def test_output_budget_ends_incomplete(store: SqlStore) -> None:
    words = " ".join(f"w{i}" for i in range(20))
    service = ResponsesService(store, ModelRouter([ScriptedBackend(reply=words)]))
    run, response = await _start(service, {"model": "scripted", "input": "hi", "max_output_tokens": 16})
    events = await _drain(run)
    assert events[-1]["type"] == "response.incomplete"
    stored = await store.get_response(response["id"], OWNER)
    assert stored is not None and stored["status"] == "incomplete"
    assert stored["incomplete_details"] == {"reason": "max_output_tokens"}
    assert _text(stored) == " ".join(words.split()[:16])


async def test_continuation_reuses_the_cached_context(service: ResponsesService, store: SqlStore) -> None:
    run, first = await _start(service, {"model": "scripted", "input": "hi"})
    await _drain(run)
    # a response that continues nothing is not cached: its continuation reads it from the store (and caches it)
    assert service.contexts.get(first["id"], OWNER) is None
    history = await service.references.history(service_req({"previous_response_id": first["id"]}), OWNER)
    assert [it["type"] for it in history.items] == ["message", "message"]
    assert history.messages is not None and history.messages[-1]["content"] == "one two three four"
    assert service.contexts.get(first["id"], OWNER) is not None
    run, second = await _start(service, {"model": "scripted", "input": "more", "previous_response_id": first["id"]})
    await _drain(run)
    cached = service.contexts.get(second["id"], OWNER)  # a chain's response is remembered when stored
    assert cached is not None and [it["type"] for it in cached[0]] == ["message"] * 4
    history = await service.references.history(service_req({"previous_response_id": second["id"]}), OWNER)
    assert history.items == cached[0] and history.messages is cached[1]


def service_req(extra: dict[str, Any]) -> Any:
    from respond.protocol.requests import parse_create
    from respond.protocol.vocabulary import CORE

    return parse_create({"model": "scripted", "input": "again", **extra}, CORE)


@pytest.mark.parametrize("heard", [True, False])
async def test_a_refused_final_write_stores_failed_at_once(service: ResponsesService, store: SqlStore,
                                                           monkeypatch: Any, heard: bool) -> None:
    """Issue 17 item 5: the database refusing the final write (a data error, not an outage) is not
    retried: the response is stored `failed` at once and the stream ends with response.failed.
    `heard`: its client heard of it before its end (stored at its start, then finished), or not (its
    one write, whole)."""
    import sqlite3
    import time

    from sqlalchemy.exc import IntegrityError

    final = "finish_response" if heard else "insert_response"
    real = getattr(store, final)
    calls: list[str] = []

    async def refuse_once(response: dict[str, Any], *args: Any, **kw: Any) -> None:
        calls.append(response["status"])
        if len(calls) == 1:
            raise IntegrityError("INSERT", {}, sqlite3.IntegrityError("refused"))
        await real(response, *args, **kw)

    monkeypatch.setattr(store, final, refuse_once)
    run, response = await _start(service, {"model": "scripted", "input": "hi", "stream": True})
    if heard:
        await run.visible()
    start = time.monotonic()
    events = await _drain(run)
    assert time.monotonic() - start < 2  # no retry wait
    assert calls == ["completed", "failed"]
    assert events[-1]["type"] == "response.failed"
    stored = await store.get_response(response["id"], OWNER)
    assert stored is not None and stored["status"] == "failed" and "could not be stored" in stored["error"]["message"]
    assert store.journal is None or not store.journal.pending  # never journaled as an outage
    if not heard:
        await run.visible()  # its client, asking now, hears the events that say `failed`: no error


async def test_a_stream_refused_even_as_failed_before_its_client_heard_of_it_is_an_error(
        service: ResponsesService, store: SqlStore, monkeypatch: Any) -> None:
    """Its run ended before its first event went out (one write, whole), and the database refused that
    write and the `failed` one after it: its client, asking for its first events after that (`visible`),
    hears the error (an HTTP error: no headers are out yet), not events of a response stored nowhere."""
    import asyncio
    import sqlite3

    from sqlalchemy.exc import IntegrityError

    calls: list[str] = []

    async def refuse(response: dict[str, Any], *args: Any, **kw: Any) -> None:
        calls.append(response["status"])
        raise IntegrityError("INSERT", {}, sqlite3.IntegrityError("refused"))

    monkeypatch.setattr(store, "insert_response", refuse)
    run, response = await _start(service, {"model": "scripted", "input": "hi", "stream": True})
    draining = asyncio.ensure_future(_drain(run))  # the pipeline runs to its end before the client asks
    await asyncio.wait([draining])
    assert isinstance(draining.exception(), IntegrityError) and calls == ["completed", "failed"]
    with pytest.raises(IntegrityError):
        await run.visible()
    assert await store.get_response(response["id"], OWNER) is None
