"""Client-run tool types through the official SDK: offered upstream as functions, calls returned as
their own item types (with their stream events), outputs carried back into the model's context.

The Open Responses schema knows only message / function_call / function_call_output / reasoning /
compaction items and function tools, so responses and events carrying other items or tools are
checked against the SDK's types alone (`check`); the others against both (tests/spec.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import openai
import pytest
from openai.types.responses import Response, ResponseInputItem, ResponseItem, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.spec import body_of, check_event, check_response

OPEN_RESPONSES_ITEMS = {"message", "function_call", "function_call_output", "reasoning", "compaction"}
LISTED = TypeAdapter(ResponseItem)
INPUT = TypeAdapter(ResponseInputItem)
EVENT = TypeAdapter(ResponseStreamEvent)


def check(obj: dict[str, Any]) -> None:
    """A Response or a stream event: both contracts where the schema covers its items, else the SDK's."""
    response = obj if obj.get("object") == "response" else obj.get("response") or {}
    items = [obj["item"]] if "item" in obj else response.get("output") or []
    covered = all(it["type"] in OPEN_RESPONSES_ITEMS for it in items) and all(
        t["type"] == "function" for t in response.get("tools") or [])
    if obj.get("object") == "response":
        check_response(obj) if covered else Response.model_validate(obj)
    elif covered:
        check_event(obj)
    else:
        EVENT.validate_python(obj)


def stream(server, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    with server.http().stream("POST", "/responses", json={**body, "stream": True}) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    for ev in events:
        check(ev)
    return events


def listed(server, response_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = server.http().get(f"/responses/{response_id}/input_items",
                                                   params={"order": "asc"}).json()["data"]
    for item in data:
        LISTED.validate_python(item)
    return data


CASES: list[tuple[dict[str, Any], str, dict[str, Any], str, dict[str, Any]]] = [
    # tool param, function the upstream is offered, arguments it calls with, the item, its fields
    ({"type": "custom", "name": "run_sql", "description": "SQL on the shop DB"}, "run_sql",
     {"input": "SELECT 1"}, "custom_tool_call", {"name": "run_sql", "input": "SELECT 1"}),
    ({"type": "shell"}, "shell", {"commands": ["ls -la", "pwd"], "timeout_ms": 5000},
     "shell_call", {"action": {"commands": ["ls -la", "pwd"], "timeout_ms": 5000}}),
    ({"type": "local_shell"}, "local_shell", {"command": ["ls", "-la"], "working_directory": "/tmp"},
     "local_shell_call", {"action": {"type": "exec", "command": ["ls", "-la"], "env": {},
                                     "working_directory": "/tmp"}}),
    ({"type": "apply_patch"}, "apply_patch", {"type": "create_file", "path": "a.txt", "diff": "+hi\n"},
     "apply_patch_call", {"operation": {"type": "create_file", "path": "a.txt", "diff": "+hi\n"}}),
    ({"type": "computer_use_preview", "display_width": 1024, "display_height": 768, "environment": "browser"},
     "computer", {"type": "click", "x": 10, "y": 20, "button": "left"},
     "computer_call", {"action": {"type": "click", "x": 10, "y": 20, "button": "left"},
                       "pending_safety_checks": []}),
    ({"type": "computer"}, "computer", {"type": "screenshot"}, "computer_call",
     {"action": {"type": "screenshot"}}),
]
OUTPUTS: dict[str, tuple[dict[str, Any], str]] = {
    "custom_tool_call": ({"type": "custom_tool_call_output", "call_id": "call_1", "output": "1 row"}, "1 row"),
    "shell_call": ({"type": "shell_call_output", "call_id": "call_1", "output": [
        {"stdout": "a.txt\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}]}, "a.txt\n\n(exit code 0)"),
    "local_shell_call": ({"type": "local_shell_call_output", "id": "call_1", "output": "a.txt"}, "a.txt"),
    "apply_patch_call": ({"type": "apply_patch_call_output", "call_id": "call_1", "status": "completed",
                          "output": "created"}, "completed: created"),
    "computer_call": ({"type": "computer_call_output", "call_id": "call_1", "output": {
        "type": "computer_screenshot", "image_url": "data:image/png;base64,iVBORw0KGgo="}},
        "Screenshot taken (attached in the next message)."),
}


@pytest.mark.parametrize(("tool", "offered", "args", "kind", "fields"), CASES,
                         ids=[c[0]["type"] for c in CASES])
def test_client_tool_roundtrip(server, upstream, tool, offered, args, kind, fields):
    client = server.client()
    upstream.reply({"tool_calls": [{"id": "call_1", "name": offered, "arguments": json.dumps(args)}]})
    r = client.responses.create(model="scripted", input="do it", tools=[tool])
    raw = server.http().get(f"/responses/{r.id}").json()
    check(raw)
    (item,) = raw["output"]
    assert item["type"] == kind and item["call_id"] == "call_1" and item["status"] == "completed"
    assert {k: item[k] for k in fields} == fields
    sent = upstream.requests()[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == [offered]
    assert sent["tools"][0]["function"]["parameters"]["type"] == "object"

    # the client ran it: its output goes back, and the model sees call and output
    output, text = OUTPUTS[kind]
    upstream.reply({"content": "Done."})
    r2 = client.responses.create(model="scripted", previous_response_id=r.id, input=[output], tools=[tool])
    assert r2.output_text == "Done."
    msgs = upstream.requests()[-1]["messages"]
    call_msg = next(m for m in msgs if m.get("tool_calls"))
    call = call_msg["tool_calls"][0]
    assert call["id"] == "call_1" and call["function"]["name"] == offered
    assert json.loads(call["function"]["arguments"])  # the call's fields, as arguments
    tool_msg = next(m for m in msgs if m["role"] == "tool")
    assert tool_msg == {"role": "tool", "tool_call_id": "call_1", "content": text}
    if kind == "computer_call":
        assert msgs[-1]["role"] == "user" and msgs[-1]["content"][0]["type"] == "image_url"
    (stored,) = listed(server, r2.id)
    assert stored["type"] == output["type"] and stored["status"]

    # sent back by value (store: false clients do this) the call item is accepted and listed too
    upstream.reply({"content": "Again."})
    r3 = client.responses.create(model="scripted", input=[item, output], tools=[tool])
    kinds = [i["type"] for i in listed(server, r3.id)]
    assert kinds == [kind, output["type"]]
    assert upstream.requests()[-1]["messages"][0]["tool_calls"][0]["id"] == "call_1"


@pytest.mark.parametrize(("tool", "offered", "args", "kind", "fields"), CASES[:4],
                         ids=[c[0]["type"] for c in CASES[:4]])
def test_client_tool_streamed(server, upstream, tool, offered, args, kind, fields):
    upstream.reply({"content": "Let me check. ", "tool_calls": [
        {"id": "call_s", "name": offered, "arguments": json.dumps(args)}]})
    events = stream(server, {"model": "scripted", "input": "go", "tools": [tool]})
    types = [e["type"] for e in events]
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [a["item"]["type"] for a in added] == ["message", kind]
    assert [a["output_index"] for a in added] == [0, 1]
    done = [e for e in events if e["type"] == "response.output_item.done"]
    assert done[-1]["item"]["type"] == kind and done[-1]["item"]["status"] == "completed"
    if kind == "custom_tool_call":
        deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
        (fin,) = [e for e in events if e["type"] == "response.custom_tool_call_input.done"]
        assert "".join(deltas) == fin["input"] == "SELECT 1"
        last_done = len(types) - 1 - types[::-1].index("response.output_item.done")
        assert types.index("response.custom_tool_call_input.done") < last_done
    if kind == "shell_call":
        cmds = [e["command"] for e in events if e["type"] == "response.shell_call_command.done"]
        assert cmds == ["ls -la", "pwd"]
    final = events[-1]["response"]
    assert events[-1]["type"] == "response.completed"
    assert server.http().get(f"/responses/{final['id']}").json() == final
    # a GET ?stream=true replay of a stored response carries the same items
    with server.http().stream("GET", f"/responses/{final['id']}", params={"stream": "true"}) as resp:
        replayed = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]
    for ev in replayed:
        check(ev)
    assert replayed[-1]["response"]["output"] == final["output"]


def test_custom_tool_grammar_and_forced_choice(server, upstream):
    tool = {"type": "custom", "name": "math", "format": {"type": "grammar", "syntax": "regex",
                                                         "definition": "[0-9]+ [+*] [0-9]+"}}
    upstream.reply({"tool_calls": [{"name": "math", "arguments": '{"input": "2 + 2"}'}]})
    r = server.client().responses.create(model="scripted", input="add", tools=[tool],
                                         tool_choice={"type": "custom", "name": "math"})
    assert r.output[0].type == "custom_tool_call" and r.output[0].input == "2 + 2"
    sent = upstream.requests()[-1]
    prop = sent["tools"][0]["function"]["parameters"]["properties"]["input"]
    assert prop["pattern"] == "[0-9]+ [+*] [0-9]+" and "regex grammar" in prop["description"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "math"}}


def test_namespace_tools(server, upstream):
    ns = {"type": "namespace", "name": "crm", "description": "Customer tools", "tools": [
        {"type": "function", "name": "find_customer", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}}},
        {"type": "custom", "name": "note"}]}
    plain = {"type": "function", "name": "note", "parameters": {"type": "object", "properties": {}}}
    upstream.reply({"tool_calls": [{"id": "c1", "name": "find_customer", "arguments": '{"q": "ada"}'},
                                   {"id": "c2", "name": "crm__note", "arguments": '{"input": "vip"}'}]})
    r = server.client().responses.create(model="scripted", input="x", tools=[plain, ns])
    raw = server.http().get(f"/responses/{r.id}").json()
    check(raw)
    fc, ct = raw["output"]
    assert fc["type"] == "function_call" and fc["name"] == "find_customer" and fc["namespace"] == "crm"
    assert ct["type"] == "custom_tool_call" and ct["name"] == "note" and ct["namespace"] == "crm"
    assert ct["input"] == "vip"
    names = [t["function"]["name"] for t in upstream.requests()[-1]["tools"]]
    assert names == ["note", "find_customer", "crm__note"]
    # the namespaced call goes back with its namespace and is listed as sent
    upstream.reply({"content": "ok"})
    r2 = server.client().responses.create(model="scripted", tools=[plain, ns], input=[
        {"type": "function_call", "call_id": "c1", "name": "find_customer", "arguments": "{}", "namespace": "crm"},
        {"type": "function_call_output", "call_id": "c1", "output": "Ada"}])
    assert listed(server, r2.id)[0]["namespace"] == "crm"


def test_web_search_accepted_not_offered(server, upstream, caplog):
    # a warning once per process, then debug: the in-process lane has warned for an earlier module
    caplog.set_level(logging.DEBUG)
    r = server.client().responses.create(model="scripted", input="news?", tools=[
        {"type": "web_search"}, {"type": "web_search_preview"},
        {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}])
    assert r.status == "completed"
    assert [t["function"]["name"] for t in upstream.requests()[-1]["tools"]] == ["f"]
    assert "web_search has no search provider" in caplog.text
    with pytest.raises(openai.BadRequestError) as err:
        server.client().responses.create(model="scripted", input="x", tools=[{"type": "web_search"}],
                                         tool_choice={"type": "web_search_preview"})
    assert body_of(err)["param"] == "tool_choice.type"


def test_allowed_tools_restricts_offer(server, upstream):
    f = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}
    g = {"type": "function", "name": "g", "parameters": {"type": "object", "properties": {}}}
    server.client().responses.create(model="scripted", input="x", tools=[f, g, {"type": "shell"}], tool_choice={
        "type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "g"}, {"type": "shell"}]})
    sent = upstream.requests()[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["g", "shell"]
    assert sent["tool_choice"] == "required"
    # a call of an excluded tool cannot happen: it was never offered
    with pytest.raises(openai.BadRequestError) as err:
        server.client().responses.create(model="scripted", input="x", tools=[f], tool_choice={
            "type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "nope"}]})
    assert body_of(err)["param"] == "tool_choice.tools[0].name"


@pytest.mark.parametrize(("choice", "param"), [
    ({"type": "function", "name": "missing"}, "tool_choice.name"),
    ({"type": "custom", "name": "f"}, "tool_choice.name"),
    ({"type": "shell"}, "tool_choice.type"),
    ({"type": "apply_patch"}, "tool_choice.type"),
    ({"type": "computer_use_preview"}, "tool_choice.type"),
    ({"type": "file_search"}, "tool_choice.type"),
    ({"type": "mcp", "server_label": "x"}, "tool_choice.server_label"),
])
def test_tool_choice_for_absent_tool_is_400(server, upstream, choice, param):
    f = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}
    with pytest.raises(openai.BadRequestError) as err:
        server.client().responses.create(model="scripted", input="x", tools=[f], tool_choice=choice)
    assert body_of(err)["param"] == param and "not one of the tools" in body_of(err)["message"]


def test_tool_choice_builtin_forces_it(server, upstream):
    upstream.reply({"tool_calls": [{"name": "apply_patch", "arguments": '{"type": "delete_file", "path": "x"}'}]})
    r = server.client().responses.create(model="scripted", input="rm x", tools=[{"type": "apply_patch"}],
                                         tool_choice={"type": "apply_patch"})
    assert r.output[0].type == "apply_patch_call"
    assert r.output[0].operation.type == "delete_file" and r.output[0].operation.path == "x"
    assert upstream.requests()[-1]["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}


@pytest.mark.parametrize("kind", ["program", "program_output", "tool_search_call", "tool_search_output",
                                  "additional_tools", "compaction_trigger", "configuration_update", "nonsense"])
def test_unsupported_input_item_is_400(server, upstream, kind):
    r = server.http().post("/responses", json={"model": "scripted", "input": [
        {"role": "user", "content": "hi"}, {"type": kind}]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "input[1].type" and kind in err["message"]


def test_every_listed_item_validates(server, upstream):
    """Each accepted input item type, sent with only its required fields, is listed back in a shape
    the SDK's ResponseItem accepts (ids and statuses filled in)."""
    items: list[dict[str, Any]] = [
        {"role": "user", "content": "hi"},
        {"type": "message", "role": "assistant", "content": "hello"},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": "x"},
        {"type": "custom_tool_call", "call_id": "b", "name": "c", "input": "raw"},
        {"type": "custom_tool_call_output", "call_id": "b", "output": "ok"},
        {"type": "shell_call", "call_id": "s", "action": {"commands": ["ls"]}},
        {"type": "shell_call_output", "call_id": "s", "output": [
            {"stdout": "", "stderr": "", "outcome": {"type": "timeout"}}]},
        {"type": "local_shell_call", "id": "ls1", "call_id": "ls1", "status": "completed",
         "action": {"type": "exec", "command": ["ls"], "env": {}}},
        {"type": "local_shell_call_output", "id": "ls1", "output": "x"},
        {"type": "apply_patch_call", "call_id": "p", "status": "completed",
         "operation": {"type": "delete_file", "path": "x"}},
        {"type": "apply_patch_call_output", "call_id": "p", "status": "failed"},
        {"type": "computer_call", "id": "cu_1", "call_id": "k", "action": {"type": "wait"},
         "pending_safety_checks": [], "status": "completed"},
        {"type": "computer_call_output", "call_id": "k", "output": {
            "type": "computer_screenshot", "image_url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
    ]
    for it in items:
        INPUT.validate_python(it)  # each is a valid SDK input item
    r = server.client().responses.create(model="scripted", input=items)
    assert r.status == "completed"
    got = listed(server, r.id)
    assert [g["type"] for g in got] == [it.get("type", "message") for it in items]
    msgs = upstream.requests()[-1]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant", "tool", "assistant", "tool",
                                         "assistant", "tool", "assistant", "tool", "assistant", "tool", "user",
                                         "system"]


def test_custom_tool_input_streams_as_it_arrives(server, upstream):
    code = 'print("héllo")\nfor i in range(3):\n    print(i)  # \\ and "quotes"\n'
    upstream.reply({"tool_calls": [{"name": "python", "arguments": json.dumps({"input": code})}]})
    events = stream(server, {"model": "scripted", "input": "run", "tools": [{"type": "custom", "name": "python"}]})
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    (fin,) = [e for e in events if e["type"] == "response.custom_tool_call_input.done"]
    assert len(deltas) >= 2 and "".join(deltas) == fin["input"] == code
    assert events[-1]["response"]["output"][0]["input"] == code
