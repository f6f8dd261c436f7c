"""Function tools through the upstream adapter: mapping out, function_call items back, outputs returned."""

from __future__ import annotations

import json

import openai
import pytest

from tests.spec import body_of, check_event, check_response

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}


def test_tool_call_roundtrip(server, upstream):
    client = server.client()
    upstream.reply({"tool_calls": [{"id": "call_abc", "name": "get_weather", "arguments": '{"city": "Oslo"}'}]})
    r = client.responses.create(model="scripted", input="Weather in Oslo?", tools=[WEATHER])
    check_response(server.http().get(f"/responses/{r.id}").json())
    call = r.output[0]
    assert call.type == "function_call" and call.id.startswith("fc_")
    assert call.call_id == "call_abc" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Oslo"} and call.status == "completed"
    sent = upstream.requests()[-1]
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER["parameters"]}}]
    assert sent["tool_choice"] == "auto" and sent["parallel_tool_calls"] is True

    upstream.reply({"content": "It is sunny in Oslo."})
    r2 = client.responses.create(model="scripted", previous_response_id=r.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": "call_abc", "output": '{"sky": "sunny"}'}])
    assert r2.output_text == "It is sunny in Oslo."
    msgs = upstream.requests()[-1]["messages"]
    assert msgs[-2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
    assert msgs[-1] == {"role": "tool", "tool_call_id": "call_abc", "content": '{"sky": "sunny"}'}


def test_parallel_calls_streamed(server, upstream):
    upstream.reply({"tool_calls": [{"name": "get_weather", "arguments": '{"city": "Rome"}'},
                                   {"name": "get_time", "arguments": "{}"}]})
    events = []
    with server.http().stream("POST", "/responses", json={
            "model": "scripted", "input": "both", "tools": [WEATHER, TIME], "stream": True}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    for ev in events:
        check_event(ev)
    types = [e["type"] for e in events]
    assert types.count("response.function_call_arguments.done") == 2
    assert "response.function_call_arguments.delta" in types
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [json.loads(d["arguments"]) for d in done] == [{"city": "Rome"}, {}]
    final = events[-1]["response"]
    assert [o["name"] for o in final["output"]] == ["get_weather", "get_time"]
    assert len({o["output_index"] for o in events if o["type"] == "response.output_item.added"}) == 2


def test_tool_choice_mapping(server, upstream):
    client = server.client()
    client.responses.create(model="scripted", input="x", tools=[WEATHER, TIME], tool_choice="required",
                            parallel_tool_calls=False)
    sent = upstream.requests()[-1]
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    r = client.responses.create(model="scripted", input="x", tools=[WEATHER, TIME],
                                tool_choice={"type": "function", "name": "get_time"})
    assert upstream.requests()[-1]["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert r.tool_choice.name == "get_time"
    client.responses.create(model="scripted", input="x", tools=[WEATHER], tool_choice="none")
    assert "tools" not in upstream.requests()[-1]
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="scripted", input="x", tools=[WEATHER],
                                tool_choice={"type": "function", "name": "nope"})
    assert body_of(err)["param"] == "tool_choice.name"


def test_text_then_tool_call(server, upstream):
    upstream.reply({"content": "Let me check.", "tool_calls": [{"name": "get_time", "arguments": "{}"}]})
    r = server.client().responses.create(model="scripted", input="time?", tools=[TIME])
    assert [o.type for o in r.output] == ["message", "function_call"]
    assert r.output[0].content[0].text == "Let me check."


def test_cached_context_is_never_modified_by_a_continuation(server, upstream):
    client = server.client()
    first = client.responses.create(model="scripted", input="hi")  # output: an assistant text message
    call = {"type": "function_call", "call_id": "call_x", "name": "get_time", "arguments": "{}"}
    client.responses.create(model="scripted", previous_response_id=first.id, tools=[TIME], input=[
        call, {"type": "function_call_output", "call_id": "call_x", "output": "noon"}])
    merged = upstream.requests()[-1]["messages"]
    assert merged[1]["tool_calls"][0]["id"] == "call_x"  # merged into the assistant message
    client.responses.create(model="scripted", previous_response_id=first.id, input="plain")
    again = upstream.requests()[-1]["messages"]
    assert again[1] == {"role": "assistant", "content": "Hello from the scripted upstream."}
