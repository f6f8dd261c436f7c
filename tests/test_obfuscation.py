"""Stream obfuscation (`stream_options.include_obfuscation`): on by default as on the hosted API, a random
padding `obfuscation` field on every delta event and on no other; off when asked, on create and on resume."""

from __future__ import annotations

import json
import os
import re
from typing import Any, cast

import httpx
import openai
import pytest

from respond.api.sse import PAD_BLOCK, frame, padding
from respond.protocol.shapes import StreamEvent
from tests.conftest import UpstreamThread
from tests.inprocess import AppServer
from tests.spec import body_of, check_event

PAD = re.compile(r"[0-9a-f]+")


def _events(resp: httpx.Response) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.read()
    return [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]


def _check_padding(events: list[dict[str, Any]]) -> list[str]:
    pads = []
    for ev in events:
        if ev["type"].endswith(".delta"):
            assert PAD.fullmatch(ev["obfuscation"]), ev
            pads.append(ev["obfuscation"])
        else:
            assert "obfuscation" not in ev, ev
        check_event(ev)
    return pads


@pytest.fixture(scope="module")
def app(module_app_factory: Any, upstream_server: UpstreamThread) -> AppServer:
    srv: AppServer = module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off")
    return srv


def test_deltas_are_padded_by_default(app: AppServer, upstream: UpstreamThread) -> None:
    upstream.reply({"content": "a b c d e f g h i j k l", "chunks": 12})
    with app.http().stream("POST", "/responses", json={"model": "scripted", "input": "x", "stream": True}) as resp:
        events = _events(resp)
    pads = _check_padding(events)
    assert len(pads) == 12 and len(set(pads)) > 1  # random, of random lengths
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "a b c d e f g h i j k l"
    # the SDK reads them (an extra field of its delta event types)
    upstream.reply({"content": "one two", "chunks": 2})
    deltas = [e for e in app.client().responses.create(model="scripted", input="x", stream=True)
              if e.type == "response.output_text.delta"]
    assert all(getattr(e, "obfuscation", None) for e in deltas)


def test_padding_is_off_when_asked(app: AppServer, upstream: UpstreamThread) -> None:
    upstream.reply({"content": "a b c d", "chunks": 4})
    body = {"model": "scripted", "input": "x", "stream": True, "stream_options": {"include_obfuscation": False}}
    with app.http().stream("POST", "/responses", json=body) as resp:
        events = _events(resp)
    assert not any("obfuscation" in e for e in events)
    upstream.reply({"content": "a b", "chunks": 2})
    events2 = list(app.client().responses.create(model="scripted", input="x", stream=True,
                                                 stream_options={"include_obfuscation": True}))
    assert all(getattr(e, "obfuscation", None) for e in events2 if e.type == "response.output_text.delta")


def test_function_call_argument_deltas_are_padded(app: AppServer, upstream: UpstreamThread) -> None:
    upstream.reply({"tool_calls": [{"id": "call_1", "name": "f", "arguments": '{"a": 1}'}]})
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]
    with app.http().stream("POST", "/responses", json={"model": "scripted", "input": "x", "stream": True,
                                                       "tools": tools}) as resp:
        events = _events(resp)
    assert any(e["type"] == "response.function_call_arguments.delta" for e in events)
    _check_padding(events)


def test_resumed_streams_follow_include_obfuscation(app: AppServer, upstream: UpstreamThread) -> None:
    client = app.client()
    upstream.reply({"content": "a b c", "chunks": 3})
    rid = client.responses.create(model="scripted", input="x").id
    with app.http().stream("GET", f"/responses/{rid}", params={"stream": "true"}) as resp:
        assert len(_check_padding(_events(resp))) == 1  # replayed: one delta per content part
    plain = list(client.responses.retrieve(rid, stream=True, include_obfuscation=False))
    assert plain and not any("obfuscation" in e.model_dump(exclude_unset=True) for e in plain)
    bad = app.http().get(f"/responses/{rid}", params={"stream": "true", "include_obfuscation": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "include_obfuscation"
    assert app.http().get(f"/responses/{rid}", params={"include_obfuscation": "1"}).status_code == 400
    assert client.responses.retrieve(rid, include_obfuscation=False).id == rid


def test_bad_stream_options(app: AppServer) -> None:
    client = app.client()
    bad: list[tuple[Any, str]] = [({"include_obfuscation": "no"}, "stream_options.include_obfuscation"),
                                  ({"pad": True}, "stream_options.pad")]
    for options, param in bad:
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model="scripted", input="x", stream=True, stream_options=options)
        assert body_of(caught)["param"] == param
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="scripted", input="x", stream_options={"include_obfuscation": False})
    assert body_of(caught)["param"] == "stream_options"


def test_padding_hides_the_length_of_a_delta() -> None:
    """Two deltas of different lengths give the same frame sizes, at random, over many draws."""
    where = {"sequence_number": 3, "item_id": "msg_1", "output_index": 0, "content_index": 0}

    def sizes(text: str) -> set[int]:
        event = cast(StreamEvent, {"type": "response.output_text.delta", **where, "delta": text, "logprobs": []})
        return {len(frame(event, True)) for _ in range(400)}

    assert sizes("a") & sizes("abcdefghij")
    assert all(1 <= len(padding(n)) < 2 * PAD_BLOCK + 1 for n in range(200))
    done = cast(StreamEvent, {"type": "response.output_text.done", **where, "text": "a", "logprobs": []})
    assert b"obfuscation" not in frame(done, True)


def test_a_forked_process_draws_its_own_padding() -> None:
    """The padding's randomness is read ahead into a buffer: a child forked from a process that holds
    some must not draw the same bytes as its parent."""
    padding(0)  # the buffer holds randomness now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, "".join(padding(0) for _ in range(8)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        child = f.read().decode()
    os.waitpid(pid, 0)
    assert child and child != "".join(padding(0) for _ in range(8))
