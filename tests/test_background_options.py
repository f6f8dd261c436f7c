"""`background_options` through the official SDK, on SQLite and PostgreSQL: validation, the queue's order
(completion windows, continuation chains) written by one app and honoured by another on the same database,
runs past their window ending `failed` (the injectable clock, no sleeps), and `response.queued`."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from respond.core.ports import JobOrder
from respond.engine.background.queue import job_order
from respond.store.sql import SqlStore
from tests.conftest import UpstreamThread
from tests.inprocess import AppServer, Clock
from tests.spec import body_of, check_event, check_response
from tests.test_background import wait_status

HOUR = 3600.0




def _inputs(upstream: UpstreamThread) -> list[str]:
    return [r["messages"][-1]["content"] for r in upstream.requests()]


@pytest.fixture
def app(app_factory: Any, upstream: UpstreamThread, database: str) -> AppServer:
    srv: AppServer = app_factory("--upstream", upstream.base_url, "--embedded", "off", database=database)
    return srv


@pytest.mark.parametrize(("params", "param"), [
    ({"background_options": {"completion_window": "2h"}}, "background_options.completion_window"),
    ({"background": True, "stream": True, "background_options": {"completion_window": "8h"}},
     "background_options.completion_window"),
    ({"background": True, "service_tier": "flex", "background_options": {"completion_window": "2h"}},
     "background_options.completion_window"),
    ({"background": True, "background_options": {"completion_window": "1h"}}, "background_options.completion_window"),
    ({"background_options": {"continuation_id": "chain"}}, "background_options.continuation_id"),
    ({"background": True, "background_options": {"continuation_id": "x" * 129}},
     "background_options.continuation_id"),
    ({"background": True, "background_options": {"continuation_id": 7}}, "background_options.continuation_id"),
    ({"background": True, "background_options": {"window": "2h"}}, "background_options.window"),
])
def test_background_options_are_validated_as_the_sdk_documents(app: AppServer, upstream: UpstreamThread,
                                                               params: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        app.client().responses.create(model="scripted", input="x", **params)
    assert body_of(caught)["param"] == param
    assert upstream.requests() == []


def test_soonest_is_what_every_response_gets(app: AppServer) -> None:
    client = app.client()
    r = client.responses.create(model="scripted", input="x", background_options={"completion_window": "soonest"})
    assert r.status == "completed"
    r = client.responses.create(model="scripted", input="x", background=True, service_tier="default",
                                background_options={"completion_window": "2h", "continuation_id": "c"})
    check_response(app.http().get(f"/responses/{r.id}").json())
    assert wait_status(client, r.id, {"completed"}).output_text


def test_the_queue_order_is_the_databases(app_factory: Any, upstream: UpstreamThread, database: str) -> None:
    """One app queues (it runs no worker); another, on the same database, runs them in the queue's order."""
    writer = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0", database=database)
    client = writer.client()
    queued = [
        client.responses.create(model="scripted", input="8h", background=True,
                                background_options={"completion_window": "8h"}),
        client.responses.create(model="scripted", input="chain 1", background=True,
                                background_options={"completion_window": "8h", "continuation_id": "job-7"}),
        client.responses.create(model="scripted", input="2h", background=True,
                                background_options={"completion_window": "2h"}),
        client.responses.create(model="scripted", input="chain 2", background=True,
                                background_options={"continuation_id": "job-7"}),  # soonest, but chained
        client.responses.create(model="scripted", input="soonest", background=True),
    ]
    assert {r.status for r in queued} == {"queued"}
    writer.stop()
    runner = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "1", database=database)
    for r in queued:
        wait_status(runner.client(), r.id, {"completed"})
    assert _inputs(upstream) == ["soonest", "2h", "8h", "chain 1", "chain 2"]


async def test_claims_follow_the_order_and_chains_are_per_owner(database: str) -> None:
    """The claim query itself, as two processes would use it: due first; a chain waits for its unfinished
    earlier runs of the same owner only (another tenant's chain of the same name is another chain)."""
    store = SqlStore(database)
    await store.open()
    try:
        now = time.time() + 10 * HOUR  # after whatever other tests left queued
        jobs = [("a-late", "alice", JobOrder(*_us(now, 8 * HOUR), "shared")),
                ("a-next", "alice", JobOrder(*_us(now + 1, 0), "shared")),
                ("b-next", "bob", JobOrder(*_us(now + 2, 0), "shared")),
                ("a-2h", "alice", JobOrder(*_us(now + 3, 2 * HOUR)))]
        for name, owner, order in jobs:
            response = {"id": f"resp_{name}_{now}", "created_at": int(now), "status": "queued", "background": True,
                        "output": []}
            await store.enqueue_response(response, owner, [], request={}, lease_ms=1000, order=order)
        claimed = [await store.claim_job(f"worker-{i % 2}", 60_000) for i in range(3)]
        assert [j["response_id"].split("_")[1] if j else None for j in claimed] == ["b-next", "a-2h", "a-late"]
        assert await store.claim_job("worker-0", 60_000) is None  # a-next waits for a-late, still running
        await store.finish_job(f"resp_a-late_{now}")
        last = await store.claim_job("worker-1", 60_000)
        assert last is not None and last["response_id"] == f"resp_a-next_{now}"
        for name, _, _ in jobs:
            await store.finish_job(f"resp_{name}_{now}")
    finally:
        await store.close()


def _us(queued: float, window: float) -> tuple[int, int]:
    return int(queued * 1_000_000), int((queued + window) * 1_000_000)


def test_job_order_of_the_windows() -> None:
    soonest, two, eight = (job_order({"completion_window": w}, 100.0) for w in ("soonest", "2h", "8h"))
    assert soonest == job_order(None, 100.0) == JobOrder(100_000_000, 100_000_000, None)
    assert (two.due_us - two.queued_us, eight.due_us - eight.queued_us) == (7200_000_000, 28800_000_000)
    assert job_order({"continuation_id": "c"}, 1.0).chain == "c"


def test_a_run_claimed_after_its_window_ends_failed(app_factory: Any, upstream: UpstreamThread,
                                                    database: str) -> None:
    clock = Clock()
    writer = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0", database=database,
                         clock=clock)
    r = writer.client().responses.create(model="scripted", input="late", background=True,
                                         background_options={"completion_window": "2h"})
    writer.stop()
    clock.advance(2 * HOUR + 1)
    runner = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "1", database=database,
                         clock=clock)
    client = runner.client()
    failed = wait_status(client, r.id, {"failed"})
    assert failed.error is not None and failed.error.code == "server_error"
    assert "completion window ('2h')" in failed.error.message and "due by" in failed.error.message
    assert upstream.requests() == []  # the model was never asked
    check_response(runner.http().get(f"/responses/{r.id}").json())
    events = list(client.responses.retrieve(r.id, stream=True))
    assert [e.type for e in events] == ["response.created", "response.queued", "response.failed"]
    assert [e.sequence_number for e in events] == [0, 1, 2]


def test_a_run_past_its_window_while_it_runs_ends_failed(app_factory: Any, upstream: UpstreamThread,
                                                         database: str) -> None:
    clock = Clock()
    srv = app_factory("--upstream", upstream.base_url, "--embedded", "off", database=database, clock=clock)
    client = srv.client()
    upstream.reply({"content": "tick " * 40, "chunks": 40, "chunk_delay": 0.05})
    r = client.responses.create(model="scripted", input="long", background=True,
                                background_options={"completion_window": "8h"})
    end = time.monotonic() + 20
    while not (cur := client.responses.retrieve(r.id)).output and time.monotonic() < end:
        time.sleep(0.02)
    assert cur.status == "in_progress" and cur.output
    clock.advance(8 * HOUR + 1)
    failed = wait_status(client, r.id, {"failed"})
    assert failed.error is not None and "completion window ('8h')" in failed.error.message
    assert failed.output[0].status == "incomplete"
    assert len(failed.output_text) < len("tick " * 40)


def test_a_background_stream_is_queued_first(app: AppServer) -> None:
    client = app.client()
    events = [e.model_dump(mode="json", exclude_unset=True)
              for e in client.responses.create(model="scripted", input="go", background=True, stream=True)]
    for ev in events:
        check_event(ev)
    assert [e["type"] for e in events[:3]] == ["response.created", "response.queued", "response.in_progress"]
    assert events[0]["response"]["status"] == events[1]["response"]["status"] == "queued"
    assert events[2]["response"]["status"] == "in_progress" and events[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    # a foreground stream is never queued
    assert [e.type for e in client.responses.create(model="scripted", input="go", stream=True)][:2] == [
        "response.created", "response.in_progress"]
    # a background response that was not streamed has the same beginning when streamed later
    r = client.responses.create(model="scripted", input="go", background=True)
    wait_status(client, r.id, {"completed"})
    later = list(client.responses.retrieve(r.id, stream=True))
    assert [e.type for e in later[:3]] == ["response.created", "response.queued", "response.in_progress"]
