"""Background runs, cancel, resumable streams, crash safety, graceful stop (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from typing import Any

import httpx
import openai
import pytest

from tests.replays import as_replayed
from tests.spec import check_event, check_response

SLOW = {"content": "tick " * 40, "chunks": 40, "chunk_delay": 0.1}  # about 4 s of streaming


def wait_status(client: openai.OpenAI, rid: str, statuses: set[str], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.responses.retrieve(rid)
        if r.status in statuses:
            return r
        time.sleep(0.05)
    raise AssertionError(f"{rid} still {r.status} after {timeout}s")


def sse_events(resp: httpx.Response, stop_after: int | None = None) -> list[dict[str, Any]]:
    events = []
    for line in resp.iter_lines():
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
            events[-1].pop("obfuscation", None)  # random padding, different on every delivery
            if stop_after is not None and len(events) >= stop_after:
                break
    return events


@pytest.fixture
def bg(app_factory, upstream, database):
    return app_factory("--upstream", upstream.base_url, "--embedded", "off", database=database)


def test_background_runs_and_shows_progress(bg, upstream):
    client = bg.client()
    upstream.reply(SLOW)
    r = client.responses.create(model="scripted", input="go", background=True)
    assert r.status in ("queued", "in_progress") and r.background is True
    check_response(bg.http().get(f"/responses/{r.id}").json())
    # output appears while it runs
    deadline = time.monotonic() + 10
    partial = None
    while time.monotonic() < deadline:
        cur = client.responses.retrieve(r.id)
        if cur.status == "in_progress" and cur.output and cur.output[0].content and \
                cur.output[0].content[0].text:
            partial = cur
            break
        time.sleep(0.05)
    assert partial is not None, "no progress visible while running"
    done = wait_status(client, r.id, {"completed"})
    assert done.output_text == "tick " * 40
    assert len(partial.output[0].content[0].text) < len(done.output_text)


def test_cancel(bg, upstream):
    client = bg.client()
    upstream.reply(SLOW)
    r = client.responses.create(model="scripted", input="go", background=True)
    wait_status(client, r.id, {"in_progress"})
    time.sleep(0.3)
    c1 = client.responses.cancel(r.id)
    assert c1.status == "cancelled"
    c2 = client.responses.cancel(r.id)
    assert c2.status == "cancelled" and c2.model_dump() == c1.model_dump()
    check_response(bg.http().get(f"/responses/{r.id}").json())
    time.sleep(0.5)
    assert client.responses.retrieve(r.id).status == "cancelled"
    fg = client.responses.create(model="scripted", input="fg")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(fg.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_nope")


def test_cancel_holds_when_an_await_swallows_the_cancellation(bg, upstream):
    """Python 3.11's `asyncio.wait_for` (in the database drivers) returns its result instead of raising when
    a cancellation and that result arrive together: the run's task then goes on as if never cancelled.  A
    cancel must still end the run `cancelled` (the run also checks a stop flag between deltas)."""
    runs = bg.app.state.runs
    service = runs.service
    original = service.run_job
    started = threading.Event()

    async def swallowing(job):  # the claimed job's setup, where the cancel lands and is lost
        started.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            pass
        return await original(job)

    service.run_job = swallowing
    try:
        client = bg.client()
        upstream.reply(SLOW)
        r = client.responses.create(model="scripted", input="go", background=True)
        assert started.wait(10)
        begun = time.monotonic()
        assert client.responses.cancel(r.id).status == "cancelled"
        assert time.monotonic() - begun < 5  # not the cancel's 10 s wait running out
        assert wait_status(client, r.id, {"cancelled", "completed"}).status == "cancelled"
    finally:
        service.run_job = original


def test_cancel_queued(app_factory, upstream, database):
    srv = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0",
                         database=database)
    client = srv.client()
    r = client.responses.create(model="scripted", input="never runs", background=True)
    assert r.status == "queued"
    assert client.responses.cancel(r.id).status == "cancelled"
    assert client.responses.retrieve(r.id).status == "cancelled"
    assert upstream.requests() == []


def test_background_stream_resume(bg, upstream):
    upstream.reply(SLOW)
    http = bg.http()
    with http.stream("POST", "/responses", json={"model": "scripted", "input": "go", "background": True,
                                                 "stream": True}) as resp:
        head = sse_events(resp, stop_after=6)
    rid = head[0]["response"]["id"]
    last = head[-1]["sequence_number"]
    with http.stream("GET", f"/responses/{rid}", params={"stream": "true", "starting_after": last}) as resp:
        tail = sse_events(resp)
    events = head + tail
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    for ev in events:
        check_event(ev)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "tick " * 40
    # after the end, a replay from the start gives the same events
    with http.stream("GET", f"/responses/{rid}", params={"stream": "true"}) as resp:
        assert sse_events(resp) == events
    # the SDK's own resume call
    client = bg.client()
    replay = list(client.responses.retrieve(rid, stream=True, starting_after=last))
    assert [e.sequence_number for e in replay] == [e["sequence_number"] for e in tail]


def test_foreground_stream_replay(bg, upstream):
    """A foreground stream's events are not stored: GET ?stream=true replays it from the stored response,
    equal to the live stream but for the chunking of its text (tests/replays.py says exactly what)."""
    upstream.reply({"content": "Hello from the scripted upstream.", "chunks": 5})
    http = bg.http()
    with http.stream("POST", "/responses", json={"model": "scripted", "input": "x", "stream": True}) as resp:
        live = sse_events(resp)
    assert len([e for e in live if e["type"] == "response.output_text.delta"]) == 5
    rid = live[0]["response"]["id"]
    with http.stream("GET", f"/responses/{rid}", params={"stream": "true"}) as resp:
        replayed = sse_events(resp)
    assert replayed == as_replayed(live)
    assert len([e for e in replayed if e["type"] == "response.output_text.delta"]) == 1  # not stored ones
    with http.stream("GET", f"/responses/{rid}", params={"stream": "true", "starting_after": 2}) as resp:
        assert sse_events(resp) == replayed[3:]


def test_following_a_running_foreground_stream_replays_it_once_ended(bg, upstream):
    upstream.reply({"content": "tick " * 10, "chunks": 10, "chunk_delay": 0.1})
    http = bg.http()
    followed: list[dict[str, Any]] = []
    with http.stream("POST", "/responses", json={"model": "scripted", "input": "x", "stream": True}) as resp:
        lines = resp.iter_lines()
        head: list[dict[str, Any]] = []
        for line in lines:
            if line.startswith("data: "):
                head.append(json.loads(line[6:]))
                if len(head) == 4:
                    break
        rid = head[0]["response"]["id"]

        def follow() -> None:
            with bg.http().stream("GET", f"/responses/{rid}", params={"stream": "true"}) as got:
                followed.extend(sse_events(got))

        follower = threading.Thread(target=follow)
        follower.start()
        time.sleep(0.3)  # the follower waits while the run goes on
        live = head + [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    follower.join(10)
    assert live[-1]["type"] == "response.completed"
    assert followed == as_replayed(live)


def test_kill_9_then_restart(server_factory, upstream, database):
    srv = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "1",
                         database=database)
    client = srv.client()
    upstream.reply({"content": "tock " * 100, "chunks": 100, "chunk_delay": 0.1})
    running = client.responses.create(model="scripted", input="long", background=True)
    wait_status(client, running.id, {"in_progress"})
    queued = client.responses.create(model="scripted", input="next", background=True)
    assert client.responses.retrieve(queued.id).status == "queued"  # the one worker is busy
    time.sleep(0.5)
    srv.kill()

    again = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "1",
                           database=database, start=False)
    again.port = srv.port
    again.base_url = srv.base_url
    again.start()
    c2 = again.client()
    done = wait_status(c2, queued.id, {"completed"}, timeout=30)
    assert done.output_text == "Hello from the scripted upstream."
    failed = wait_status(c2, running.id, {"failed"}, timeout=30)
    assert failed.error is not None and "interrupted" in failed.error.message
    check_response(again.http().get(f"/responses/{running.id}").json())


def test_sigterm_requeues_running(server_factory, upstream, database):
    srv = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "1",
                         "--shutdown-grace", "0.5", database=database)
    client = srv.client()
    upstream.reply({"content": "slow " * 100, "chunks": 100, "chunk_delay": 0.1})
    r = client.responses.create(model="scripted", input="long", background=True)
    wait_status(client, r.id, {"in_progress"})
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    assert "requeued" in srv.log_path.read_text()
    again = server_factory("--upstream", upstream.base_url, "--embedded", "off", database=database)
    done = wait_status(again.client(), r.id, {"completed"}, timeout=30)
    assert done.output_text == "Hello from the scripted upstream."  # re-run from scratch


def test_replay_of_a_response_that_was_not_streamed(bg, upstream):
    upstream.reply({"content": "Checking.", "tool_calls": [{"name": "get_time", "arguments": "{}"}]})
    client = bg.client()
    r = client.responses.create(model="scripted", input="time?", tools=[
        {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}])
    with bg.http().stream("GET", f"/responses/{r.id}", params={"stream": "true"}) as resp:
        events = sse_events(resp)
    for ev in events:
        check_event(ev)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"] == bg.http().get(f"/responses/{r.id}").json()
    added = [e["item"]["id"] for e in events if e["type"] == "response.output_item.added"]
    assert added == [o.id for o in r.output]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "Checking."
    with bg.http().stream("GET", f"/responses/{r.id}", params={"stream": "true", "starting_after": 4}) as resp:
        assert sse_events(resp) == events[5:]
    # the SDK's stream helper state machine accepts the replay
    replayed = list(client.responses.retrieve(r.id, stream=True))
    assert replayed[-1].response.output[1].name == "get_time"
