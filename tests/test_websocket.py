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


def test_websocket_create_and_chain(process_server, upstream):
    client = process_server.client()
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


def test_websocket_store_false_state_is_connection_local(process_server, upstream):
    client = process_server.client()
    with client.responses.connect() as a, client.responses.connect() as b:
        a.response.create(model="scripted", input="secret one", store=False)
        first = _until_terminal(a)
        assert first[-1].type == "response.completed"
        rid = first[-1].response.id
        a.response.create(model="scripted", input="two", store=False, previous_response_id=rid)
        second = _until_terminal(a)
        assert second[-1].type == "response.completed", second[-1]
        for ev in second:
            check_event(ev.model_dump(mode="json", exclude_unset=True))
        assert [m["content"] for m in upstream.requests()[-1]["messages"]] == [
            "secret one", "Hello from the scripted upstream.", "two"]
        # another socket knows nothing of it
        b.response.create(model="scripted", input="x", previous_response_id=rid)
        err = _until_terminal(b)
        assert err[-1].type == "error" and err[-1].code == "previous_response_not_found"
        # a failed continuation evicts what it continued
        sid = second[-1].response.id
        a.response.create(model="scripted", input="x", store=False, previous_response_id=sid, temperature=9)
        assert _until_terminal(a)[-1].type == "error"
        a.response.create(model="scripted", input="y", store=False, previous_response_id=sid)
        err = _until_terminal(a)
        assert err[-1].type == "error" and err[-1].code == "previous_response_not_found"
        # the first response of the chain is still there
        a.response.create(model="scripted", input="z", store=False, previous_response_id=rid)
        assert _until_terminal(a)[-1].type == "response.completed"


def test_websocket_generate_false_prepares_without_the_model(process_server, upstream):
    client = process_server.client()
    with client.responses.connect() as conn:
        for store in (False, True):
            before = len(upstream.requests())
            conn.response.create(model="scripted", input=f"context {store}", instructions="Be brief.", store=store,
                                 generate=False)
            events = _until_terminal(conn)
            for ev in events:
                check_event(ev.model_dump(mode="json", exclude_unset=True))
            assert [e.type for e in events] == ["response.created", "response.in_progress", "response.completed"]
            prepared = events[-1].response
            assert prepared.output == [] and prepared.status == "completed"
            assert len(upstream.requests()) == before  # the model was not called
            conn.response.create(model="scripted", input="go", store=store, previous_response_id=prepared.id)
            assert _until_terminal(conn)[-1].type == "response.completed"
            assert [m["content"] for m in upstream.requests()[-1]["messages"]] == [f"context {store}", "go"]
        conn.response.create(model="scripted", input="x", generate="no")
        err = _until_terminal(conn)
        assert err[-1].type == "error" and err[-1].param == "generate"
    # a stored prepared response is an ordinary stored response
    assert client.responses.retrieve(prepared.id).output == []


def test_websocket_deltas_carry_obfuscation_unless_turned_off(process_server, upstream):
    client = process_server.client()
    with client.responses.connect() as conn:
        upstream.reply({"content": "a b c d", "chunks": 4})
        conn.response.create(model="scripted", input="x")
        deltas = [e for e in _until_terminal(conn) if e.type == "response.output_text.delta"]
        assert len(deltas) == 4 and all(getattr(e, "obfuscation", None) for e in deltas)
        upstream.reply({"content": "a b c d", "chunks": 4})
        conn.response.create(model="scripted", input="x", stream_options={"include_obfuscation": False})
        events = _until_terminal(conn)
        assert events[-1].type == "response.completed"
        assert not any(getattr(e, "obfuscation", None) for e in events)
        conn.response.create(model="scripted", input="x", stream_options={"include_obfuscation": "no"})
        err = _until_terminal(conn)
        assert err[-1].type == "error" and err[-1].param == "stream_options.include_obfuscation"


def test_websocket_turn_answering_no_call_evicts_what_it_continued(process_server, upstream):
    """Open Responses: a failed turn (here a 400: a function_call_output whose call_id matches no call)
    evicts its previous_response_id from the connection's state."""
    client = process_server.client()
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]
    with client.responses.connect() as conn:
        upstream.reply({"tool_calls": [{"id": "call_real", "name": "f", "arguments": "{}"}]})
        conn.response.create(model="scripted", input="call f", store=False, tools=tools)
        rid = _until_terminal(conn)[-1].response.id
        conn.response.create(model="scripted", store=False, tools=tools, previous_response_id=rid,
                             input=[{"type": "function_call_output", "call_id": "call_nope", "output": "1"}])
        err = _until_terminal(conn)
        assert err[-1].type == "error" and err[-1].param == "input[0].call_id"
        conn.response.create(model="scripted", store=False, tools=tools, previous_response_id=rid,
                             input=[{"type": "function_call_output", "call_id": "call_real", "output": "1"}])
        gone = _until_terminal(conn)
        assert gone[-1].type == "error" and gone[-1].code == "previous_response_not_found"
