"""Keys own what they create; a client that disconnects stops the generation."""

from __future__ import annotations

import logging
import time

import httpx
import openai
import pytest

from tests.spec import body_of


@pytest.fixture
def keyed(app_factory, upstream, database):
    return app_factory("--upstream", upstream.base_url, "--embedded", "off", "--api-key", "key-a",
                          "--api-key", "key-b", database=database)


def test_keys_required_and_isolated(keyed, upstream):
    with pytest.raises(openai.AuthenticationError) as err:
        keyed.client(api_key="wrong").responses.create(model="scripted", input="x")
    assert body_of(err)["code"] == "invalid_api_key"
    resp = keyed.http(api_key=None).post("/responses", json={"model": "scripted", "input": "x"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "missing_api_key"

    a, b = keyed.client(api_key="key-a"), keyed.client(api_key="key-b")
    r = a.responses.create(model="scripted", input="mine")
    assert a.responses.retrieve(r.id).id == r.id
    with pytest.raises(openai.NotFoundError):
        b.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        b.responses.input_items.list(r.id)
    with pytest.raises(openai.NotFoundError) as missing:
        b.responses.create(model="scripted", input="x", previous_response_id=r.id)
    assert body_of(missing)["code"] == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        b.responses.delete(r.id)
    assert a.responses.retrieve(r.id).status == "completed"  # b's delete did nothing


def test_no_keys_means_anonymous_owner(app_factory, upstream):
    srv = app_factory("--upstream", upstream.base_url, "--embedded", "off")
    r = srv.client(api_key="anything").responses.create(model="scripted", input="x")
    assert srv.client(api_key="other").responses.retrieve(r.id).id == r.id


def test_client_disconnect_stops_generation(server, upstream):
    upstream.reply({"content": "word " * 200, "chunks": 200, "chunk_delay": 0.02})
    http = server.http()
    rid = None
    with http.stream("POST", "/responses", json={"model": "scripted", "input": "go", "stream": True}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: ") and '"response.output_text.delta"' in line:
                break
            if line.startswith("data: ") and rid is None and '"response.created"' in line:
                import json

                rid = json.loads(line[6:])["response"]["id"]
    # the stream is closed here, well before the 4 s the upstream would need
    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        got = http.get(f"/responses/{rid}")
        if got.status_code == 200 and got.json()["status"] != "in_progress":
            status = got.json()["status"]
            break
        time.sleep(0.1)
    assert status == "cancelled"
    text = got.json()["output"][0]["content"][0]["text"]
    assert len(text) < len("word " * 200)


def test_client_disconnect_cancels_a_non_streamed_run(app_factory, upstream, caplog):
    """A non-streamed create whose client leaves (here: its read timeout) is cancelled at once, its upstream
    request closed, and stored `cancelled` with what was generated until then (api/routes.py `_unless_gone`)."""
    upstream.reply({"content": "word " * 200, "chunks": 200, "chunk_delay": 0.02})
    app = app_factory("--upstream", upstream.base_url, "--embedded", "off")
    caplog.set_level(logging.INFO, logger="respond.run")
    with httpx.Client(base_url=app.base_url, timeout=0.5, transport=app.transport()) as http, \
            pytest.raises(httpx.ReadTimeout):
        http.post("/responses", json={"model": "scripted", "input": "go"})
    deadline, ended = time.monotonic() + 10, None
    while ended is None and time.monotonic() < deadline:  # the engine's line: "response <id> <status> (...)"
        ended = next((r.getMessage().split()[1:3] for r in caplog.records if r.name == "respond.run"
                      and r.getMessage().startswith("response resp_")), None)
        time.sleep(0.05)
    assert ended is not None and ended[1] == "cancelled", ended
    stored = app.http().get(f"/responses/{ended[0]}").json()
    assert stored["status"] == "cancelled"
    assert len(stored["output"][0]["content"][0]["text"]) < len("word " * 200)
