"""The Responses API through the official SDK, against a real server on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import openai
import pytest

from tests.spec import body_of, check_event, check_response


def test_create_retrieve_roundtrip(server, upstream):
    client = server.client()
    created = client.responses.create(model="scripted", input="Hello?", metadata={"k": "v"}, user="u1")
    assert created.status == "completed"
    assert created.id.startswith("resp_")
    assert created.output_text == "Hello from the scripted upstream."
    assert created.output[0].id.startswith("msg_")
    assert created.metadata == {"k": "v"}
    assert created.usage is not None and created.usage.total_tokens == created.usage.input_tokens + \
        created.usage.output_tokens
    raw = server.http().get(f"/responses/{created.id}").json()
    check_response(raw)
    assert raw["store"] is True and raw["completed_at"] is not None
    assert raw == json.loads(created.model_dump_json(exclude_unset=True)) | {k: raw[k] for k in raw} and \
        raw["output"] == [o.model_dump(exclude_unset=True) for o in created.output]
    sent = upstream.requests()[-1]
    assert sent["model"] == "scripted"
    assert sent["messages"] == [{"role": "user", "content": "Hello?"}]


def test_non_stream_body_matches_schema(server, upstream):
    body = server.http().post("/responses", json={"model": "scripted", "input": "hi"}).json()
    check_response(body)
    assert body["object"] == "response"


def test_stream_events_and_stored_equal(server, upstream):
    client = server.client()
    http = server.http()
    with http.stream("POST", "/responses", json={"model": "scripted", "input": "hi", "stream": True}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = []
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    seqs = [e["sequence_number"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for ev in events:
        check_event(ev)
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.output_text.delta" in types and "response.content_part.done" in types
    final = events[-1]["response"]
    stored = http.get(f"/responses/{final['id']}").json()
    assert stored == final
    # the SDK's stream helper accepts the same stream
    with client.responses.stream(model="scripted", input=[{"role": "user", "content": "yo"}]) as stream:
        for _ in stream:
            pass
        assert stream.get_final_response().output_text == "Hello from the scripted upstream."


def test_previous_response_chain_and_instructions(server, upstream):
    client = server.client()
    r1 = client.responses.create(model="scripted", input="one", instructions="Be terse.")
    r2 = client.responses.create(model="scripted", input="two", previous_response_id=r1.id)
    r3 = client.responses.create(model="scripted", input="three", previous_response_id=r2.id,
                                 instructions="New rules.")
    assert r3.previous_response_id == r2.id
    msgs = upstream.requests()
    assert msgs[0]["messages"][0] == {"role": "system", "content": "Be terse."}
    # instructions are not carried over; history is input + output of every earlier turn, in order
    assert msgs[1]["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "Hello from the scripted upstream."},
        {"role": "user", "content": "two"},
    ]
    assert msgs[2]["messages"][0] == {"role": "system", "content": "New rules."}
    assert [m["content"] for m in msgs[2]["messages"][1:]] == [
        "one", "Hello from the scripted upstream.", "two", "Hello from the scripted upstream.", "three"]


def test_unknown_previous_response(server, upstream):
    with pytest.raises(openai.NotFoundError) as err:
        server.client().responses.create(model="scripted", input="x", previous_response_id="resp_nope")
    assert body_of(err)["code"] == "previous_response_not_found"
    assert body_of(err)["param"] == "previous_response_id"


def test_store_false_is_not_retrievable(server, upstream):
    client = server.client()
    r = client.responses.create(model="scripted", input="secret", store=False)
    assert r.status == "completed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="scripted", input="more", previous_response_id=r.id)


def test_delete(server, upstream):
    client = server.client()
    r = client.responses.create(model="scripted", input="bye")
    body = server.http().delete(f"/responses/{r.id}").json()
    assert body == {"id": r.id, "object": "response.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(r.id)


def test_input_items_paging(server, upstream):
    client = server.client()
    items = [{"role": "user", "content": f"m{i}"} for i in range(25)]
    r = client.responses.create(model="scripted", input=items)
    page = client.responses.input_items.list(r.id)
    assert len(page.data) == 20 and page.has_more
    assert page.data[0].content[0].text == "m24"  # default order desc
    every = [it.content[0].text for it in client.responses.input_items.list(r.id, order="asc", limit=7)]
    assert every == [f"m{i}" for i in range(25)]  # the SDK paginates with after=<last id>
    raw = server.http().get(f"/responses/{r.id}/input_items", params={"limit": 3, "order": "asc"}).json()
    assert raw["object"] == "list" and raw["first_id"] == raw["data"][0]["id"] and raw["has_more"] is True
    nxt = server.http().get(f"/responses/{r.id}/input_items",
                            params={"limit": 3, "order": "asc", "after": raw["last_id"]}).json()
    assert [d["content"][0]["text"] for d in nxt["data"]] == ["m3", "m4", "m5"]
    bad = server.http().get(f"/responses/{r.id}/input_items", params={"limit": 101})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"


def test_max_output_tokens_incomplete(server, upstream):
    upstream.reply({"content": "This is cut", "finish_reason": "length"})
    r = server.client().responses.create(model="scripted", input="long story", max_output_tokens=16)
    assert r.status == "incomplete"
    assert r.incomplete_details is not None and r.incomplete_details.reason == "max_output_tokens"
    assert upstream.requests()[-1]["max_tokens"] == 16
    check_response(server.http().get(f"/responses/{r.id}").json())


def test_usage_with_cached_tokens(server, upstream):
    upstream.reply({"content": "ok", "usage": {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53,
                                               "prompt_tokens_details": {"cached_tokens": 32},
                                               "completion_tokens_details": {"reasoning_tokens": 1}}})
    r = server.client().responses.create(model="scripted", input="x")
    assert r.usage.input_tokens == 50 and r.usage.output_tokens == 3 and r.usage.total_tokens == 53
    assert r.usage.input_tokens_details.cached_tokens == 32
    assert r.usage.output_tokens_details.reasoning_tokens == 1


def test_text_format_json_schema_is_forwarded(server, upstream):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    upstream.reply({"content": '{"a": 1}'})
    r = server.client().responses.create(
        model="scripted", input="json please",
        text={"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}})
    assert json.loads(r.output_text) == {"a": 1}
    assert r.text.format.type == "json_schema"
    sent = upstream.requests()[-1]["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "thing", "schema": schema, "strict": True}}
    upstream.reply({"content": "{}"})
    server.client().responses.create(model="scripted", input="j", text={"format": {"type": "json_object"}})
    assert upstream.requests()[-1]["response_format"] == {"type": "json_object"}


def test_upstream_failure_ends_failed_and_is_stored(server, upstream):
    upstream.reply({"error": {"status": 500, "message": "boom"}})
    r = server.client().responses.create(model="scripted", input="x")
    assert r.status == "failed"
    assert r.error is not None and "boom" in r.error.message
    stored = server.http().get(f"/responses/{r.id}").json()
    check_response(stored)
    assert stored["status"] == "failed" and stored["error"]["code"] == "server_error"


def test_upstream_client_error_reaches_client(server, upstream):
    upstream.reply({"error": {"status": 404, "message": "The model `nope` does not exist", "code": "model_not_found"}})
    with pytest.raises(openai.NotFoundError) as err:
        server.client().responses.create(model="nope", input="x")
    assert "does not exist" in err.value.message
    upstream.reply({"error": {"status": 400, "message": "bad thing"}})
    with pytest.raises(openai.BadRequestError):
        server.client().responses.create(model="scripted", input="x", stream=True)


def test_models_passthrough(server, upstream):
    models = server.client().models.list()
    assert [m.id for m in models.data] == ["scripted"]


def test_retrieve_include_image_url(server, upstream):
    img = "data:image/png;base64,iVBORw0KGgo="
    r = server.client().responses.create(model="scripted", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is this"}, {"type": "input_image", "image_url": img}]}])
    sent = upstream.requests()[-1]["messages"][0]["content"]
    assert sent[1] == {"type": "image_url", "image_url": {"url": img, "detail": "auto"}}
    plain = server.http().get(f"/responses/{r.id}/input_items").json()["data"][0]["content"][1]
    assert "image_url" not in plain
    full = server.http().get(f"/responses/{r.id}/input_items",
                             params={"include[]": "message.input_image.image_url"}).json()
    assert full["data"][0]["content"][1]["image_url"] == img
    for inc in ("file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
                "computer_call_output.output.image_url", "code_interpreter_call.outputs",
                "reasoning.encrypted_content", "message.output_text.logprobs", "message.input_image.image_url"):
        assert server.http().get(f"/responses/{r.id}", params={"include[]": inc}).status_code == 200


def test_input_tokens_count(server, upstream):
    upstream.reply({"content": "x", "usage": {"prompt_tokens": 42, "completion_tokens": 1, "total_tokens": 43}})
    got = server.client().responses.input_tokens.count(model="scripted", input="count me",
                                                       instructions="Be brief.")
    assert got.input_tokens == 42
    sent = upstream.requests()[-1]
    assert sent["max_tokens"] == 1 and sent["messages"][0] == {"role": "system", "content": "Be brief."}
    bad = server.http().post("/responses/input_tokens", json={"model": "scripted", "input": "x", "stream": True})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "stream"


def test_truncation(server, upstream):
    client = server.client()
    first = client.responses.create(model="scripted", input="one", instructions="Keep me.")
    second = client.responses.create(model="scripted", input="two", previous_response_id=first.id)
    upstream.reply({"content": "fits", "max_messages": 3})
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="scripted", input="three", previous_response_id=second.id,
                                instructions="Keep me.")
    assert body_of(err)["code"] == "context_length_exceeded"
    r = client.responses.create(model="scripted", input="three", previous_response_id=second.id,
                                instructions="Keep me.", truncation="auto")
    assert r.output_text == "fits" and r.truncation == "auto"
    sent = upstream.requests()[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Keep me."}  # instructions are never dropped
    assert sent[-1] == {"role": "user", "content": "three"} and len(sent) <= 3


def test_compact_and_continue(server, upstream):
    client = server.client()
    first = client.responses.create(model="scripted", input="My name is Ada and I like graphs.")
    upstream.reply({"content": "The user is Ada; she likes graphs."},
                   {"content": "The user is Ada; she likes graphs."})
    compacted = client.responses.compact(model="scripted", previous_response_id=first.id,
                                         input="Remember that.")
    assert compacted.object == "response.compaction"
    kinds = [o.type for o in compacted.output]
    assert kinds == ["message", "message", "compaction"]
    summary_request = upstream.requests()[-1]["messages"]
    assert summary_request[-1]["role"] == "user" and "Summarize" in summary_request[-1]["content"]
    assert compacted.usage.input_tokens > 0
    # the compacted items are the next request's context
    raw = server.http().post("/responses/compact", json={"model": "scripted", "previous_response_id": first.id})
    assert raw.status_code == 200
    client.responses.create(model="scripted", input=[
        *raw.json()["output"], {"role": "user", "content": "What do I like?"}])
    sent = upstream.requests()[-1]["messages"]
    assert sent[-2] == {"role": "system",
                        "content": "Summary of the earlier conversation:\nThe user is Ada; she likes graphs."}
    assert sent[0] == {"role": "user", "content": "My name is Ada and I like graphs."}
    assert sent[-1] == {"role": "user", "content": "What do I like?"}
    bad = server.http().post("/responses/compact", json={"input": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "model"


def test_response_carries_every_sdk_field(server, upstream):
    from openai.types.responses import Response

    body = server.http().post("/responses", json={"model": "scripted", "input": "hi"}).json()
    assert set(Response.model_fields) <= set(body)


def test_item_reference_resolves_a_stored_item(server, upstream):
    client = server.client()
    first = client.responses.create(model="scripted", input="Remember: the code word is plum.")
    said = first.output[0].id
    client.responses.create(model="scripted", input=[{"type": "item_reference", "id": said},
                                                     {"role": "user", "content": "Say it again."}])
    sent = upstream.requests()[-1]["messages"]
    assert sent[0] == {"role": "assistant", "content": "Hello from the scripted upstream."}, sent
    missing = server.http().post("/responses", json={"model": "scripted", "input": [
        {"type": "item_reference", "id": "msg_nowhere"}]})
    assert missing.status_code in (400, 404) and missing.json()["error"]["param"] == "input[0].id", missing.text
