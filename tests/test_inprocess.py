"""The in-process harness itself (tests/inprocess.py): streams arrive piece by piece, and a stream the
client closes late, after its app stopped, closes quietly."""

from __future__ import annotations

from typing import Any


def test_a_stream_is_read_before_it_ends_and_closed_after_the_app_stopped(app_factory: Any) -> None:
    app = app_factory("--backend", "scripted:model=demo,reply=one two three")
    http = app.http()
    request = http.build_request("POST", "/responses", json={"model": "demo", "input": "x", "stream": True})
    resp = http.send(request, stream=True)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    first = next(line for line in resp.iter_lines() if line.startswith("data: "))
    assert '"response.created"' in first
    app.stop()
    resp.close()  # the garbage collector may do this long after the test that opened it: no error
