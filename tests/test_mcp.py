"""The hosted `mcp` tool against a real MCP server (the SDK's MCPServer on 127.0.0.1, streamable HTTP
and SSE), with the scripted upstream as the model, on SQLite and PostgreSQL.

The Open Responses schema (tests/spec.py) has no mcp items: responses are checked against the
SDK's types; stream events against both where the schema knows them (tests.spec.check_event),
except those carrying an mcp item or a response that echoes an `mcp` tool (unknown to the schema).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests._kb import MANUAL_MD, make_store
from tests._mcp_server import McpServers, _free_port
from tests.spec import body_of, check_event

EVENT = TypeAdapter(ResponseStreamEvent)

SECRET = "s3cret-header-value"
TOKEN = "tok-abc123"


@pytest.fixture(scope="module")
def mcp_servers():
    servers = McpServers()
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def mcp_respond(module_app_factory, upstream_server, database):
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                              "--mcp-allow", "http://127.0.0.1:*", "--mcp-timeout", "3", database=database)


def mcp(url, **kw):
    return {"type": "mcp", "server_label": "demo", "server_url": url, **kw}


def call(name, arguments, id_=None):
    return {"tool_calls": [{"id": id_ or f"call_{name}", "name": name, "arguments": json.dumps(arguments)}]}


def events_of(server, body):
    events = []
    with server.http().stream("POST", "/responses", json={**body, "stream": True}) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    check_events(events)
    return events


def check_events(events):
    for ev in events:
        if "response" in ev or ev.get("item", {}).get("type", "message") != "message":
            EVENT.validate_python(ev)
        else:
            check_event(ev)


def stored(server, rid):
    """The stored response as the API returns it, checked against the SDK's Response type."""
    raw = server.http().get(f"/responses/{rid}").json()
    Response.model_validate(raw)
    return raw


def test_listing_and_call_streamable_http(mcp_respond, upstream, mcp_servers):
    client = mcp_respond.client()
    upstream.reply(call("demo__add", {"a": 2, "b": 3}), {"content": "It is 5."})
    r = client.responses.create(model="scripted", input="What is 2+3?", tools=[mcp(
        mcp_servers.http_url, require_approval="never", headers={"X-Secret": SECRET}, authorization=TOKEN)])
    listing, mcall, msg = r.output
    assert listing.type == "mcp_list_tools" and listing.server_label == "demo" and listing.error is None
    assert [t.name for t in listing.tools] == ["add", "echo", "slow", "fail"]
    assert listing.tools[0].input_schema["required"] == ["a", "b"]
    assert mcall.type == "mcp_call" and mcall.name == "add" and mcall.server_label == "demo"
    assert json.loads(mcall.arguments) == {"a": 2, "b": 3} and mcall.output == "5" and mcall.error is None
    assert mcall.status == "completed" and msg.type == "message" and r.output_text == "It is 5."
    assert ("add", {"a": 2, "b": 3}) in mcp_servers.calls
    assert {"x-secret": SECRET, "authorization": f"Bearer {TOKEN}"} in mcp_servers.headers
    first, second = upstream.requests()[-2:]
    assert {t["function"]["name"] for t in first["tools"]} == {"demo__add", "demo__echo", "demo__slow", "demo__fail"}
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_demo__add", "content": "5"}
    # headers and authorization are neither echoed nor stored
    raw = stored(mcp_respond, r.id)
    assert SECRET not in json.dumps(raw) and TOKEN not in json.dumps(raw)
    assert raw["tools"][0] == {"type": "mcp", "server_label": "demo", "server_url": mcp_servers.http_url,
                               "require_approval": "never"}
    assert SECRET not in r.model_dump_json() and TOKEN not in r.model_dump_json()


def test_streamed_events_over_sse(mcp_respond, upstream, mcp_servers):
    upstream.reply(call("demo__echo", {"text": "hi"}), {"content": "Echoed."})
    events = events_of(mcp_respond, {"model": "scripted", "input": "Echo hi",
                                     "tools": [mcp(mcp_servers.sse_url, require_approval="never")]})
    types = [e["type"] for e in events]
    expected = ["response.created", "response.in_progress", "response.output_item.added",
                "response.mcp_list_tools.in_progress", "response.mcp_list_tools.completed",
                "response.output_item.done", "response.output_item.added", "response.mcp_call.in_progress",
                "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
                "response.mcp_call.completed", "response.output_item.done", "response.output_item.added"]
    assert types[:len(expected)] == expected and types[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done[1]["type"] == "mcp_call" and done[1]["output"] == "echo: hi"
    final = events[-1]["response"]
    assert [it["type"] for it in final["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    # a response created without streaming replays the same kinds of events
    upstream.reply(call("demo__echo", {"text": "again"}), {"content": "Done."})
    r = mcp_respond.client().responses.create(model="scripted", input="Echo again",
                                              tools=[mcp(mcp_servers.sse_url, require_approval="never")])
    with mcp_respond.http().stream("GET", f"/responses/{r.id}", params={"stream": "true"}) as resp:
        replayed = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]
    check_events(replayed)
    assert [e["type"] for e in replayed if ".mcp_" in e["type"]] == [t for t in expected if ".mcp_" in t]


def test_approval_approve_and_deny(mcp_respond, upstream, mcp_servers):
    client = mcp_respond.client()
    tools = [mcp(mcp_servers.http_url)]  # require_approval defaults to "always"
    ok, no = f"approved-{uuid.uuid4().hex[:8]}", f"denied-{uuid.uuid4().hex[:8]}"  # the MCP server outlives a run
    upstream.reply(call("demo__echo", {"text": ok}))
    r1 = client.responses.create(model="scripted", input=f"Echo {ok}", tools=tools)
    assert [it.type for it in r1.output] == ["mcp_list_tools", "mcp_approval_request"] and r1.status == "completed"
    request = r1.output[1]
    assert request.name == "echo" and request.server_label == "demo" and ("echo", {"text": ok}) \
        not in mcp_servers.calls
    upstream.reply({"content": f"It said: echo: {ok}"})
    r2 = client.responses.create(model="scripted", previous_response_id=r1.id, tools=tools, input=[
        {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}])
    assert [it.type for it in r2.output] == ["mcp_call", "message"]  # the listing is reused, not redone
    assert r2.output[0].approval_request_id == request.id and r2.output[0].output == f"echo: {ok}"
    assert ("echo", {"text": ok}) in mcp_servers.calls
    sent = upstream.requests()[-1]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": request.id, "content": f"echo: {ok}"}
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "demo__echo"
    # deny
    upstream.reply(call("demo__echo", {"text": no}))
    r3 = client.responses.create(model="scripted", input=f"Echo {no}", tools=tools)
    upstream.reply({"content": "You said no."})
    r4 = client.responses.create(model="scripted", previous_response_id=r3.id, tools=tools, input=[
        {"type": "mcp_approval_response", "approval_request_id": r3.output[-1].id, "approve": False}])
    assert [it.type for it in r4.output] == ["message"]
    assert ("echo", {"text": no}) not in mcp_servers.calls
    assert "denied" in upstream.requests()[-1]["messages"][-1]["content"]
    # an approval for a request that does not exist is a 400 naming it
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="scripted", previous_response_id=r3.id, tools=tools, input=[
            {"type": "mcp_approval_response", "approval_request_id": "mcpr_nope", "approve": True}])
    assert body_of(err)["param"] == "input[0].approval_request_id"


def test_allowed_tools_and_approval_filters(mcp_respond, upstream, mcp_servers):
    client = mcp_respond.client()
    upstream.reply(call("demo__add", {"a": 1, "b": 1}), {"content": "2"})
    r = client.responses.create(model="scripted", input="1+1", tools=[mcp(
        mcp_servers.http_url, allowed_tools={"read_only": True}, require_approval={"never": {"read_only": True}})])
    assert [t.name for t in r.output[0].tools] == ["add"]
    assert r.output[1].type == "mcp_call" and r.output[1].output == "2"
    assert [t["function"]["name"] for t in upstream.requests()[-2]["tools"]] == ["demo__add"]
    upstream.reply(call("demo__echo", {"text": "x"}))
    r = client.responses.create(model="scripted", input="echo", tools=[mcp(
        mcp_servers.http_url, allowed_tools=["echo", "fail"], require_approval={"never": {"tool_names": ["fail"]}})])
    assert [t.name for t in r.output[0].tools] == ["echo", "fail"]
    assert r.output[1].type == "mcp_approval_request"


def test_listing_reused_along_a_chain_and_tool_choice(mcp_respond, upstream, mcp_servers):
    client = mcp_respond.client()
    tools = [mcp(mcp_servers.http_url, require_approval="never")]
    r1 = client.responses.create(model="scripted", input="hello", tools=tools)
    assert [it.type for it in r1.output] == ["mcp_list_tools", "message"]
    upstream.reply(call("demo__add", {"a": 4, "b": 4}), {"content": "8"})
    r2 = client.responses.create(model="scripted", input="4+4", previous_response_id=r1.id, tools=tools,
                                 tool_choice={"type": "mcp", "server_label": "demo", "name": "add"})
    assert [it.type for it in r2.output] == ["mcp_call", "message"]
    first = upstream.requests()[-2]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "demo__add"}}
    assert "demo__add" in {t["function"]["name"] for t in first["tools"]}
    # a third turn sees the earlier call as context
    client.responses.create(model="scripted", input="and now?", previous_response_id=r2.id, tools=tools)
    notes = [m["content"] for m in upstream.requests()[-1]["messages"] if m["role"] == "system"]
    assert any("demo" in n and "add" in n and "8" in n for n in notes)
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="scripted", input="x", tools=tools,
                                tool_choice={"type": "mcp", "server_label": "other"})
    assert body_of(err)["param"] == "tool_choice.server_label"


def test_tool_error_timeout_and_dead_server(mcp_respond, upstream, mcp_servers):
    client = mcp_respond.client()
    tools = [mcp(mcp_servers.http_url, require_approval="never")]
    upstream.reply(call("demo__fail", {"reason": "boom"}), {"content": "It failed."})
    r = client.responses.create(model="scripted", input="fail", tools=tools)
    mcall = r.output[1]
    assert mcall.status == "failed" and mcall.output is None and mcall.error.type == "mcp_tool_execution_error"
    assert "boom" in json.dumps(mcall.error.content) and r.output_text == "It failed."
    assert "boom" in upstream.requests()[-1]["messages"][-1]["content"]
    upstream.reply(call("demo__slow", {"seconds": 6}), {"content": "Too slow."})
    started = time.monotonic()
    r = client.responses.create(model="scripted", input="slow", tools=tools)
    assert time.monotonic() - started < 6
    assert r.output[1].status == "failed" and r.output[1].error.type == "mcp_protocol_error"
    assert r.output[1].error.code == -32001 and r.output_text == "Too slow."
    dead = f"http://127.0.0.1:{_free_port()}/mcp"
    r = client.responses.create(model="scripted", input="hello", tools=[mcp(dead, require_approval="never")])
    assert r.status == "completed" and r.output[0].type == "mcp_list_tools" and r.output[0].error
    assert r.output[0].tools == [] and r.output[1].type == "message"
    assert "tools" not in upstream.requests()[-1]


def test_background(mcp_respond, upstream, mcp_servers, database):
    client = mcp_respond.client()
    upstream.reply(call("demo__add", {"a": 20, "b": 22}), {"content": "42"})
    r = client.responses.create(model="scripted", input="20+22", background=True, tools=[mcp(
        mcp_servers.sse_url, require_approval="never", headers={"X-Secret": SECRET})])
    deadline = time.monotonic() + 20
    while r.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.1)
        r = client.responses.retrieve(r.id)
    assert r.status == "completed" and [it.type for it in r.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert r.output[1].output == "42" and {"x-secret": SECRET} in mcp_servers.headers
    assert SECRET not in json.dumps(stored(mcp_respond, r.id))
    if database.startswith("sqlite:///"):  # the queued job's request was stored without the header
        assert SECRET.encode() not in Path(database.removeprefix("sqlite:///")).read_bytes()


def test_bad_configs_are_400s(mcp_respond, mcp_servers):
    client = mcp_respond.client()
    cases = [({"type": "mcp", "server_url": mcp_servers.http_url}, "tools[0].server_label"),
             ({"type": "mcp", "server_label": "demo"}, "tools[0].server_url"),
             (mcp(mcp_servers.http_url, connector_id="connector_gmail"), "tools[0].connector_id"),
             (mcp(mcp_servers.http_url, require_approval="sometimes"), "tools[0].require_approval"),
             (mcp(mcp_servers.http_url, allowed_tools="add"), "tools[0].allowed_tools"),
             (mcp(mcp_servers.http_url, headers={"X": 1}), "tools[0].headers"),
             (mcp("ftp://127.0.0.1/mcp"), "tools[0].server_url")]
    for tool, param in cases:
        with pytest.raises(openai.BadRequestError) as err:
            client.responses.create(model="scripted", input="x", tools=[tool])
        assert body_of(err)["param"] == param, tool


def test_allowlist_refuses_private_addresses(app_factory, upstream, mcp_servers):
    default = app_factory("--upstream", upstream.base_url, "--embedded", "off")
    for url in (mcp_servers.http_url, "http://169.254.169.254/mcp", "http://[::1]:9/mcp", "http://10.1.2.3/mcp"):
        with pytest.raises(openai.BadRequestError) as err:
            default.client().responses.create(model="scripted", input="x", tools=[mcp(url)])
        assert body_of(err)["param"] == "tools[0].server_url" and "--mcp-allow" in body_of(err)["message"]
    only = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--mcp-allow",
                       "https://mcp.example.com")
    with pytest.raises(openai.BadRequestError) as err:
        only.client().responses.create(model="scripted", input="x", tools=[mcp(mcp_servers.http_url)])
    assert "not allowed" in body_of(err)["message"]


def test_several_hosted_tools_and_client_functions(mcp_respond, upstream, mcp_servers):
    """file_search and two MCP servers in one request, interleaved with a client function."""
    client = mcp_respond.client()
    store, files = make_store(client, {"manual.md": (MANUAL_MD, None)})
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    tools = [{"type": "file_search", "vector_store_ids": [store.id]}, weather,
             mcp(mcp_servers.http_url, require_approval="never"),
             {**mcp(mcp_servers.sse_url, require_approval="never"), "server_label": "other"}]
    upstream.reply(call("file_search", {"query": "warranty"}), call("other__add", {"a": 1, "b": 2}),
                   {"tool_calls": [{"id": "call_w", "name": "get_weather", "arguments": "{}"},
                                   {"id": "call_e", "name": "demo__echo", "arguments": '{"text": "both"}'}]})
    r1 = client.responses.create(model="scripted", input="Warranty, 1+2, weather?", tools=tools)
    assert [it.type for it in r1.output] == ["mcp_list_tools", "mcp_list_tools", "file_search_call", "mcp_call",
                                             "function_call", "mcp_call"]
    assert r1.output[3].server_label == "other" and r1.output[3].output == "3"
    assert r1.output[5].output == "echo: both" and r1.output[4].name == "get_weather"
    upstream.reply({"content": "Two years, 3, sunny."})
    r2 = client.responses.create(model="scripted", previous_response_id=r1.id, tools=tools, input=[
        {"type": "function_call_output", "call_id": "call_w", "output": "sunny"}])
    assert [it.type for it in r2.output] == ["message"]  # listings reused
    assert r2.output[0].content[0].annotations == []  # citations belong to the turn that searched
    sent = upstream.requests()[-1]["messages"]
    # every tool message directly follows the assistant message that made the call
    for i, m in enumerate(sent):
        if m["role"] == "tool":
            j = i - 1
            while sent[j]["role"] == "tool":
                j -= 1
            assert m["tool_call_id"] in {c["id"] for c in sent[j].get("tool_calls") or []}
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_w", "content": "sunny"}
    assert any("echo: both" in (m["content"] or "") for m in sent if m["role"] == "system")
    assert files["manual.md"].id


def test_max_tool_calls_caps_hosted_calls(mcp_respond, upstream, mcp_servers):
    client = mcp_respond.client()
    upstream.reply(call("demo__add", {"a": 1, "b": 1}), call("demo__add", {"a": 2, "b": 2}, "call_2"),
                   {"content": "Enough."})
    r = client.responses.create(model="scripted", input="add twice", max_tool_calls=1,
                                tools=[mcp(mcp_servers.http_url, require_approval="never")])
    assert [it.type for it in r.output] == ["mcp_list_tools", "mcp_call", "message"] and r.max_tool_calls == 1
    assert ("add", {"a": 2, "b": 2}) not in mcp_servers.calls
    second, third = upstream.requests()[-2:]
    assert "tools" not in second  # the cap reached: no hosted function offered any more
    assert "max_tool_calls" in third["messages"][-1]["content"]


def test_upstream_refusal_is_still_an_http_error(mcp_respond, upstream, mcp_servers, monkeypatch):
    """The listing happens first, but nothing is answered before the model accepted the request.
    (The app runs in this process: its stream waits for the model's answer as long as this test needs,
    so that a loaded machine, where the listing and the refusal take longer than the 0.25 s a stream
    waits, does not turn the refusal into a `failed` stream.)"""
    from respond.engine.execution import launch

    monkeypatch.setattr(launch, "HEADERS_WAIT", 60.0)
    upstream.reply({"error": {"status": 400, "message": "The upstream refuses this request."}})
    with pytest.raises(openai.BadRequestError) as err:
        mcp_respond.client().responses.create(model="scripted", input="x", stream=True,
                                              tools=[mcp(mcp_servers.http_url, require_approval="never")])
    assert "refuses" in body_of(err)["message"]


def test_cancelled_background_run_closes_its_session(mcp_respond, upstream, mcp_servers):
    """An interrupted run closes its MCP sessions (here an SSE stream, which the server sees end)."""
    client = mcp_respond.client()
    token = uuid.uuid4().hex[:8]
    seconds = 2.5 + int(token, 16) % 100 / 1000  # tells this run's call from another's
    upstream.reply(call("demo__slow", {"seconds": seconds}), {"content": "late"})
    before = mcp_servers.open_streams
    r = client.responses.create(model="scripted", input=f"slow {token}", background=True,
                                tools=[mcp(mcp_servers.sse_url, require_approval="never")])
    deadline = time.monotonic() + 15
    while ("slow", {"seconds": seconds}) not in mcp_servers.calls:
        assert time.monotonic() < deadline, "the slow tool was never called"
        time.sleep(0.05)
    assert mcp_servers.open_streams == before + 1
    assert client.responses.cancel(r.id).status == "cancelled"
    while mcp_servers.open_streams > before:
        assert time.monotonic() < deadline, "the MCP session was not closed"
        time.sleep(0.05)
    assert client.responses.retrieve(r.id).status == "cancelled"


def test_failed_listing_and_call_stream_their_failed_events(mcp_respond, upstream, mcp_servers):
    upstream.reply(call("demo__fail", {"reason": "boom"}), {"content": "It failed."})
    events = events_of(mcp_respond, {"model": "scripted", "input": "fail",
                                     "tools": [mcp(mcp_servers.http_url, require_approval="never")]})
    kinds = [e["type"] for e in events]
    assert "response.mcp_call.failed" in kinds and "response.mcp_call.completed" not in kinds, kinds
    dead = f"http://127.0.0.1:{_free_port()}/mcp"
    events = events_of(mcp_respond, {"model": "scripted", "input": "hello",
                                     "tools": [mcp(dead, require_approval="never")]})
    kinds = [e["type"] for e in events]
    assert "response.mcp_list_tools.failed" in kinds and "response.mcp_list_tools.completed" not in kinds, kinds
