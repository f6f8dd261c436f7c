"""WebSocket mode through the SDK's `client.responses.connect()`."""

from __future__ import annotations

from tests.spec import check_event


def _until_terminal(conn):
    events = []
    for event in conn:
        events.append(event)
        if event.type in ("response.completed", "response.failed", "response.incomplete", "error"):
            break
    return events


def test_websocket_create_and_chain(server, upstream):
    client = server.client()
    with client.responses.connect() as conn:
        conn.response.create(model="scripted", input="hello over ws")
        first = _until_terminal(conn)
        assert first[0].type == "response.created" and first[-1].type == "response.completed"
        for ev in first:
            check_event(ev.model_dump(mode="json", exclude_unset=True))
        rid = first[-1].response.id
        conn.response.create(model="scripted", input="and again", previous_response_id=rid)
        second = _until_terminal(conn)
        assert second[-1].type == "response.completed"
        assert second[-1].response.previous_response_id == rid
        conn.response.create(model="scripted", input="x", temperature=9)
        err = _until_terminal(conn)
        assert err[-1].type == "error" and err[-1].param == "temperature"
        conn.response.create(model="scripted", input="still open")
        assert _until_terminal(conn)[-1].type == "response.completed"
    assert client.responses.retrieve(rid).output_text == "Hello from the scripted upstream."
    assert [m["content"] for m in upstream.requests()[1]["messages"]] == [
        "hello over ws", "Hello from the scripted upstream.", "and again"]
