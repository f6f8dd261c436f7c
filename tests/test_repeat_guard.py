"""The repeat guard in front of a scripted upstream that repeats a call (`--repeat-guard on`).

A client runs a function loop with the official SDK: the model calls `get_weather`, the client
sends the output back, and the upstream calls `get_weather` again with the same arguments (spaced
and ordered differently).  The guard keeps that call out of the response (items and stream events),
asks the upstream again with `tool_choice: none` (the tools still sent), and the answer is the
response.  With the default (`embedded`) an upstream's calls go through untouched.  A hosted
file_search call repeated in the next round is not run again: the next turn is asked with calls ruled out.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests._kb import MANUAL_MD, make_store

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather of a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                          "required": ["city"]}}
FIRST = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'}
AGAIN = {"id": "call_2", "name": "get_weather", "arguments": '{ "unit":"C",  "city":"Paris" }'}


@pytest.fixture(scope="module")
def guarded(module_app_factory: Any, upstream_server: Any) -> Any:
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                              "--repeat-guard", "on")


@pytest.fixture(scope="module")
def plain(module_app_factory: Any, upstream_server: Any) -> Any:
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off")


def first_turn(server: Any, upstream: Any) -> Any:
    upstream.reply({"tool_calls": [FIRST]})
    r = server.client().responses.create(model="scripted", input="Weather in Paris?", tools=[WEATHER])
    assert [(i.type, i.name, i.call_id) for i in r.output] == [("function_call", "get_weather", "call_1")]
    return r


OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "Sunny, 21 C"}


def test_a_repeated_client_call_is_not_returned(guarded: Any, upstream: Any) -> None:
    r1 = first_turn(guarded, upstream)
    upstream.reply({"tool_calls": [AGAIN]}, {"content": "Sunny and 21 C in Paris."})
    r2 = guarded.client().responses.create(model="scripted", previous_response_id=r1.id, input=[OUTPUT],
                                           tools=[WEATHER])
    assert r2.status == "completed"
    assert [i.type for i in r2.output] == ["message"] and r2.output_text == "Sunny and 21 C in Paris."
    asked, again = upstream.requests()[-2:]
    assert asked["tool_choice"] == "auto"
    assert again["tool_choice"] == "none" and [t["function"]["name"] for t in again["tools"]] == ["get_weather"]
    assert again["messages"] == asked["messages"]  # the same context: nothing about the suppressed call
    assert r2.usage is not None and r2.usage.output_tokens > 0
    stored = guarded.http().get(f"/responses/{r2.id}").json()
    assert [i["type"] for i in stored["output"]] == ["message"]


def test_streamed_the_suppressed_call_sends_no_event(guarded: Any, upstream: Any) -> None:
    # the call and its output sent by value (a client that does not store), streamed
    upstream.reply({"tool_calls": [AGAIN]}, {"content": "Sunny."})
    call = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": FIRST["arguments"]}
    events = list(guarded.client().responses.create(
        model="scripted", input=[{"role": "user", "content": "Weather in Paris?"}, call, OUTPUT], tools=[WEATHER],
        stream=True))
    kinds = [e.type for e in events]
    assert not [k for k in kinds if "function_call" in k]
    assert kinds[-1] == "response.completed" and events[-1].response.output_text == "Sunny."
    assert json.dumps([e.model_dump() for e in events]).count("call_2") == 0
    assert upstream.requests()[-1]["tool_choice"] == "none"


def test_a_new_call_goes_through(guarded: Any, upstream: Any) -> None:
    r1 = first_turn(guarded, upstream)
    oslo = {"id": "call_3", "name": "get_weather", "arguments": '{"city": "Oslo", "unit": "C"}'}
    upstream.reply({"tool_calls": [AGAIN, oslo]})
    r2 = guarded.client().responses.create(model="scripted", previous_response_id=r1.id, input=[OUTPUT],
                                           tools=[WEATHER])
    assert [(i.type, i.call_id) for i in r2.output] == [("function_call", "call_3")]
    assert len(upstream.requests()) == 2  # not asked again


def test_without_the_guard_an_upstream_call_is_returned(plain: Any, upstream: Any) -> None:
    r1 = first_turn(plain, upstream)
    upstream.reply({"tool_calls": [AGAIN]})
    r2 = plain.client().responses.create(model="scripted", previous_response_id=r1.id, input=[OUTPUT],
                                         tools=[WEATHER])
    assert [(i.type, i.call_id) for i in r2.output] == [("function_call", "call_2")]
    assert len(upstream.requests()) == 2


def test_a_hosted_search_is_not_run_twice(guarded: Any, upstream: Any) -> None:
    client = guarded.client()
    store, files = make_store(client, {"manual.md": (MANUAL_MD, {"kind": "manual"})})
    search = '{"query": "warranty length"}'
    upstream.reply({"tool_calls": [{"id": "call_fs1", "name": "file_search", "arguments": search}]},
                   {"tool_calls": [{"id": "call_fs2", "name": "file_search", "arguments": '{"query":"warranty length"}'}]},
                   {"content": "Two years."})
    r = client.responses.create(model="scripted", input="How long is the warranty?",
                                tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
    assert [i.type for i in r.output] == ["file_search_call", "message"] and r.output_text == "Two years."
    assert r.output[0].queries == ["warranty length"]
    first, second, third = upstream.requests()
    assert (first["tool_choice"], second["tool_choice"], third["tool_choice"]) == ("auto", "auto", "none")
    assert third["messages"] == second["messages"]  # the search ran once; its output is in the context
    assert [m["role"] for m in third["messages"]][-2:] == ["assistant", "tool"]
    assert r.output[0].status == "completed" and files["manual.md"].id
    # the next turn of the chain asks for the same search: its results are in the context already
    upstream.reset()
    upstream.reply({"tool_calls": [{"id": "call_fs3", "name": "file_search", "arguments": search}]},
                   {"content": "Still two years."})
    r2 = client.responses.create(model="scripted", previous_response_id=r.id, input="And the warranty?",
                                 tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
    assert [i.type for i in r2.output] == ["message"] and r2.output_text == "Still two years."
    assert [q["tool_choice"] for q in upstream.requests()] == ["auto", "none"]
