"""The `responses` upstream kind: Respond (keeping all state) in front of a stateless /v1/responses
server (the scripted upstream's stateless mode), driven by the official SDK.

Every upstream request must be stateless: `store: false`, no `previous_response_id`, the whole
input Respond built; reasoning round-trips with the upstream's own encrypted content.
"""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from tests._kb import MANUAL_MD, make_store


@pytest.fixture(scope="module")
def rserver(module_app_factory: Any, upstream_server: Any) -> Any:
    return module_app_factory("--backend", f"openai_responses:base_url={upstream_server.base_url}",
                              "--embedded", "off", "--workers", "1")


def _stateless(req: dict[str, Any]) -> None:
    assert req["store"] is False and "previous_response_id" not in req and req["stream"] is True
    assert "conversation" not in req


def _kinds(req: dict[str, Any]) -> list[str]:
    return [f"{i['type']}:{i.get('role', '')}" for i in req["input"]]


def test_text_and_usage_with_cached_tokens(rserver: Any, upstream: Any) -> None:
    upstream.reply({"content": "Plain answer.", "cached_tokens": 7,
                    "usage": None})
    client = rserver.client()
    r = client.responses.create(model="scripted", input="hi", instructions="Be brief.", temperature=0.5,
                                max_output_tokens=50)
    assert r.status == "completed" and r.output_text == "Plain answer."
    assert r.usage is not None and r.usage.input_tokens_details.cached_tokens == 7 and r.usage.output_tokens > 0
    (req,) = upstream.requests()
    _stateless(req)
    assert req["temperature"] == 0.5 and req["max_output_tokens"] == 50
    assert _kinds(req) == ["message:system", "message:user"]
    assert req["include"] == ["reasoning.encrypted_content"]


def test_streaming_text_and_refusal(rserver: Any, upstream: Any) -> None:
    upstream.reply({"content": "one two three four", "chunks": 4}, {"refusal": "I cannot help with that."})
    client = rserver.client()
    events = list(client.responses.create(model="scripted", input="count", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "one two three four" and len(deltas) == 4
    assert events[-1].type == "response.completed" and events[-1].response.usage.output_tokens > 0
    r = client.responses.create(model="scripted", input="bad")
    assert r.output[0].type == "message" and r.output[0].content[0].type == "refusal"
    assert r.output[0].content[0].refusal == "I cannot help with that."


def test_function_call_loop(rserver: Any, upstream: Any) -> None:
    upstream.reply({"tool_calls": [{"id": "call_w", "name": "weather", "arguments": '{"city": "Paris"}'}]},
                   {"content": "Sunny in Paris."})
    client = rserver.client()
    tools = [{"type": "function", "name": "weather", "description": "Weather of a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    r1 = client.responses.create(model="scripted", input="Weather in Paris?", tools=tools, tool_choice="required")
    (call,) = r1.output
    assert call.type == "function_call" and call.name == "weather" and call.arguments == '{"city": "Paris"}'
    r2 = client.responses.create(model="scripted", previous_response_id=r1.id, tools=tools, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert r2.output_text == "Sunny in Paris."
    first, second = upstream.requests()
    _stateless(first)
    _stateless(second)
    assert first["tools"][0]["name"] == "weather" and first["tool_choice"] == "required"
    assert _kinds(second) == ["message:user", "function_call:", "function_call_output:"]
    assert second["input"][1]["call_id"] == "call_w" and second["input"][2]["output"] == "sunny"


def test_reasoning_round_trips_with_encrypted_content(rserver: Any, upstream: Any) -> None:
    upstream.reply({"reasoning": "Think about it.", "reasoning_summary": "Thought.", "content": "42",
                    "encrypted_content": "UPSTREAM-BLOB-1"}, {"content": "Still 42."})
    client = rserver.client()
    r1 = client.responses.create(model="scripted", input="answer?", reasoning={"summary": "auto"})
    rs = r1.output[0]
    assert rs.type == "reasoning" and rs.summary[0].text == "Thought." and rs.content is not None
    assert rs.content[0].text == "Think about it." and rs.encrypted_content is None
    raw = rserver.http().get(f"/responses/{r1.id}").json()
    assert "_upstream" not in raw["output"][0] and "UPSTREAM-BLOB-1" not in json.dumps(raw)
    client.responses.create(model="scripted", input="again?", previous_response_id=r1.id)
    first, second = upstream.requests()
    assert first["reasoning"] == {"summary": "auto"}
    sent = second["input"][1]
    assert sent["type"] == "reasoning" and sent["encrypted_content"] == "UPSTREAM-BLOB-1" and sent["id"] == "rs_up1"
    assert _kinds(second) == ["message:user", "reasoning:", "message:assistant", "message:user"]
    _stateless(second)


def test_reasoning_round_trips_for_a_store_false_client(rserver: Any, upstream: Any) -> None:
    """A client that keeps the state itself: Respond's sealed blob carries the upstream's inside it."""
    upstream.reply({"reasoning": "Hmm.", "content": "Yes.", "encrypted_content": "UPSTREAM-BLOB-2"},
                   {"content": "Done."})
    client = rserver.client()
    r1 = client.responses.create(model="scripted", input="q", store=False, include=["reasoning.encrypted_content"])
    rs = r1.output[0]
    assert rs.type == "reasoning" and rs.encrypted_content and "UPSTREAM-BLOB-2" not in rs.encrypted_content
    history = [{"role": "user", "content": "q"}, *[o.model_dump(exclude_none=True) for o in r1.output],
               {"role": "user", "content": "next"}]
    client.responses.create(model="scripted", input=history, store=False)
    sent = upstream.requests()[1]["input"]
    assert [i["type"] for i in sent][:2] == ["message", "reasoning"]
    assert sent[1]["encrypted_content"] == "UPSTREAM-BLOB-2"


def test_client_cannot_inject_upstream_reasoning_state(rserver: Any, upstream: Any) -> None:
    """Attack: a reasoning item carrying Respond's private key must not reach the upstream as its state."""
    upstream.reply({"content": "ok"})
    client = rserver.client()
    client.responses.create(model="scripted", input=[
        {"role": "user", "content": "q"},
        {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "mine"}],
         "_upstream": {"id": "rs_forged", "encrypted_content": "FORGED"}},
        {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}])
    sent = json.dumps(upstream.requests()[0])
    assert "FORGED" not in sent and "rs_forged" not in sent and "mine" in sent


def test_chain_of_turns_sends_full_history_statelessly(rserver: Any, upstream: Any) -> None:
    client = rserver.client()
    previous = None
    for n in range(4):
        upstream.reply({"content": f"answer {n}"})
        r = client.responses.create(model="scripted", input=f"question {n}", previous_response_id=previous)
        assert r.output_text == f"answer {n}"
        previous = r.id
    requests = upstream.requests()
    assert len(requests) == 4
    for n, req in enumerate(requests):
        _stateless(req)
        assert _kinds(req) == ["message:user", "message:assistant"] * n + ["message:user"]
        assert req["input"][-1]["content"] == f"question {n}"
    assert requests[3]["input"][1]["content"][0]["text"] == "answer 0"


def test_background_mode(rserver: Any, upstream: Any) -> None:
    upstream.reply({"content": "In the background.", "chunk_delay": 0.01})
    client = rserver.client()
    r = client.responses.create(model="scripted", input="bg", background=True)
    assert r.status in ("queued", "in_progress")
    deadline = time.monotonic() + 60
    while r.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.1)
        r = client.responses.retrieve(r.id)
    assert r.status == "completed" and r.output_text == "In the background."
    _stateless(upstream.requests()[0])


def test_file_search_runs_in_respond_the_upstream_sees_a_function(rserver: Any, upstream: Any) -> None:
    client = rserver.client()
    store, _ = make_store(client, {"manual.md": (MANUAL_MD, {"kind": "manual"})})
    upstream.reset()
    upstream.reply({"tool_calls": [{"id": "call_fs", "name": "file_search", "arguments": '{"query": "warranty"}'}]},
                   {"content": "Two years."})
    r = client.responses.create(model="scripted", input="How long is the warranty?",
                                tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
                                include=["file_search_call.results"])
    assert [o.type for o in r.output] == ["file_search_call", "message"]
    assert r.output[0].results and "two years" in r.output[0].results[0].text.lower()
    first, second = upstream.requests()
    assert [(t["type"], t["name"]) for t in first["tools"]] == [("function", "file_search")]
    _stateless(second)
    out = next(i for i in second["input"] if i["type"] == "function_call_output")
    assert out["call_id"] == "call_fs" and "two years" in out["output"].lower()


def test_upstream_error_and_failed_stream(rserver: Any, upstream: Any) -> None:
    upstream.reply({"error": {"status": 400, "message": "bad temperature"}},
                   {"content": "partial", "fail": {"message": "the model crashed", "code": "server_error"}})
    client = rserver.client()
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="scripted", input="x")
    assert "bad temperature" in err.value.message
    r = client.responses.create(model="scripted", input="y")
    assert r.status == "failed" and r.error is not None and "the model crashed" in r.error.message


@pytest.fixture(scope="module")
def native_server(module_app_factory: Any, upstream_server: Any) -> Any:
    spec = f"openai_responses:base_url={upstream_server.base_url},native_tools=custom"
    return module_app_factory("--backend", spec, "--embedded", "off")


@pytest.mark.parametrize("no_deltas", [False, True])
def test_custom_tools_pass_through_natively(native_server: Any, upstream: Any, no_deltas: bool) -> None:
    patch = 'line one\n"quoted" \\ back\u00e9'
    upstream.reply({"custom_calls": [{"id": "call_c", "name": "patcher", "input": patch}], "no_deltas": no_deltas},
                   {"content": "Patched."})
    client = native_server.client()
    tools = [{"type": "custom", "name": "patcher", "description": "Apply a patch",
              "format": {"type": "grammar", "syntax": "regex", "definition": "(?s).*"}},
             {"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {}}}]
    events = list(client.responses.create(model="scripted", input="patch it", tools=tools,
                                          tool_choice={"type": "custom", "name": "patcher"}, stream=True))
    final = events[-1].response
    (call,) = final.output
    assert call.type == "custom_tool_call" and call.name == "patcher" and call.input == patch
    assert "".join(e.delta for e in events if e.type == "response.custom_tool_call_input.delta") == patch
    r2 = client.responses.create(model="scripted", previous_response_id=final.id, tools=tools,
                                 input=[{"type": "custom_tool_call_output", "call_id": "call_c", "output": "ok"}])
    assert r2.output_text == "Patched."
    first, second = upstream.requests()
    assert [t["type"] for t in first["tools"]] == ["custom", "function"]
    assert first["tools"][0]["format"] == {"type": "grammar", "syntax": "regex", "definition": "(?s).*"}
    assert first["tool_choice"] == {"type": "custom", "name": "patcher"}
    assert [i["type"] for i in second["input"]] == ["message", "custom_tool_call", "custom_tool_call_output"]
    assert second["input"][1]["input"] == patch and second["input"][2]["output"] == "ok"


def test_streamed_reasoning_never_shows_the_upstream_state(rserver: Any, upstream: Any) -> None:
    """The upstream's encrypted content stays server-side in every event a client can see."""
    upstream.reply({"reasoning": "Private thoughts.", "content": "Done.", "encrypted_content": "UPSTREAM-BLOB-3"},
                   {"reasoning": "More.", "content": "Again.", "encrypted_content": "UPSTREAM-BLOB-4"})
    client = rserver.client()
    events = list(client.responses.create(model="scripted", input="q", stream=True))
    assert "UPSTREAM-BLOB" not in json.dumps([e.model_dump() for e in events])
    final = events[-1].response
    assert final.usage.output_tokens_details.reasoning_tokens == len("Private thoughts.") // 4
    live = list(client.responses.create(model="scripted", input="q", background=True, stream=True))
    replayed = list(client.responses.retrieve(live[0].response.id, stream=True))
    assert replayed and "UPSTREAM-BLOB" not in json.dumps([e.model_dump() for e in replayed])


def test_failed_or_cut_upstream_streams_fail_the_response(rserver: Any, upstream: Any) -> None:
    upstream.reply({"content": "partial", "fail": {"message": "overloaded", "code": "server_error"}},
                   {"content": "partial", "cut": True})
    client = rserver.client()
    last = list(client.responses.create(model="scripted", input="x", stream=True))[-1]
    assert last.type == "response.failed" and "overloaded" in last.response.error.message
    last = list(client.responses.create(model="scripted", input="x", stream=True))[-1]
    assert last.type == "response.failed" and "without response.completed" in last.response.error.message
    assert last.response.output[0].content[0].text == "partial"


def test_config_file_upstream_of_kind_responses_next_to_a_chat_one(server_factory: Any, upstream: Any,
                                                                   tmp_path: Any) -> None:
    """`[[upstreams]]` of both kinds in a --config file: a chain alternating them keeps its history, the
    responses kind stays stateless, and `[upstreams.options]` reach the backend (a profile)."""
    config = tmp_path / "respond.toml"
    config.write_text(f'''
embedded = "off"
[[upstreams]]
name = "chatty"
kind = "chat"
urls = ["{upstream.base_url}"]
models = ["chat-model"]

[[upstreams]]
name = "stateless"
kind = "responses"
urls = ["{upstream.base_url}"]
models = ["resp-model"]
[upstreams.options]
profile = "llama-cpp-server"
''')
    server = server_factory("--config", str(config))
    client = server.client()
    previous = None
    for n, model in enumerate(["resp-model", "chat-model", "resp-model"]):
        upstream.reply({"content": f"answer {n}"})
        r = client.responses.create(model=model, input=f"question {n}", previous_response_id=previous)
        assert r.output_text == f"answer {n}" and r.model == model
        previous = r.id
    first, second, third = upstream.requests()
    _stateless(first)
    assert [m["content"] for m in second["messages"]] == ["question 0", "answer 0", "question 1"]
    _stateless(third)
    assert [i["content"] if isinstance(i["content"], str) else i["content"][0]["text"] for i in third["input"]] == \
        ["question 0", "answer 0", "question 1", "answer 1", "question 2"]
    upstream.reply({"content": '{"city": "Oslo", "days": 2}'})
    r = client.responses.create(model="resp-model", input="trip", text=FORMAT_JSON)
    assert r.status == "completed"
    # the profile's structured form: json_object with the schema, validated by Respond
    assert upstream.requests()[-1]["text"]["format"] == {"type": "json_object", "schema": SCHEMA_JSON}


SCHEMA_JSON = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
               "required": ["city", "days"]}
FORMAT_JSON = {"format": {"type": "json_schema", "name": "trip", "schema": SCHEMA_JSON}}


def test_reasoning_before_a_hosted_call_reaches_the_next_round(rserver: Any, upstream: Any) -> None:
    """Within one response: the upstream reasons, calls file_search (Respond runs it), and its next
    round gets the reasoning back with its encrypted content, before the call and its output."""
    client = rserver.client()
    store, _ = make_store(client, {"manual.md": (MANUAL_MD, {"kind": "manual"})})
    upstream.reset()
    upstream.reply({"reasoning": "I should search the manual.", "encrypted_content": "BLOB-FS",
                    "tool_calls": [{"id": "call_fs2", "name": "file_search", "arguments": '{"query": "warranty"}'}]},
                   {"content": "Two years."})
    r = client.responses.create(model="scripted", input="Warranty?",
                                tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
    assert [o.type for o in r.output] == ["reasoning", "file_search_call", "message"]
    second = upstream.requests()[1]
    _stateless(second)
    kinds = [i["type"] for i in second["input"]]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    assert second["input"][1]["encrypted_content"] == "BLOB-FS" and second["input"][1]["id"] == "rs_up1"


def test_items_sent_only_whole_are_streamed_on(rserver: Any, upstream: Any) -> None:
    """A server that streams no deltas (items only in output_item.done): nothing is lost."""
    upstream.reply({"reasoning": "Whole thought.", "reasoning_summary": "Sum.", "content": "Whole text.",
                    "encrypted_content": "BLOB-W", "no_deltas": True,
                    "tool_calls": [{"id": "call_w2", "name": "weather", "arguments": '{"city": "Oslo"}'}]},
                   {"content": "ok"})
    client = rserver.client()
    tools = [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {}}}]
    events = list(client.responses.create(model="scripted", input="q", tools=tools, stream=True,
                                          reasoning={"summary": "auto"}))
    final = events[-1].response
    assert [o.type for o in final.output] == ["reasoning", "message", "function_call"]
    assert final.output[0].content[0].text == "Whole thought." and final.output[0].summary[0].text == "Sum."
    assert final.output_text == "Whole text." and final.output[2].arguments == '{"city": "Oslo"}'
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Whole text."
    client.responses.create(model="scripted", previous_response_id=final.id, tools=tools,
                            input=[{"type": "function_call_output", "call_id": "call_w2", "output": "cold"}])
    sent = upstream.requests()[1]["input"]
    assert [i["type"] for i in sent] == ["message", "reasoning", "message", "function_call", "function_call_output"]
    assert sent[1]["encrypted_content"] == "BLOB-W"


def test_reasoning_mode_and_context_are_passed_on(rserver: Any, upstream: Any) -> None:
    r = rserver.client().responses.create(model="scripted", input="hi",
                                          reasoning={"effort": "high", "mode": "pro", "context": "all_turns"})
    assert r.reasoning is not None and r.reasoning.mode == "pro" and r.reasoning.context == "all_turns"
    sent = upstream.requests()[-1]
    assert sent["reasoning"] == {"effort": "high", "mode": "pro", "context": "all_turns"}, sent
