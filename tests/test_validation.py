"""Bad input: the OpenAI error envelope, the right status, a `param` naming the field."""

from __future__ import annotations

import pytest


def _post(server, body, raw=None):
    http = server.http()
    if raw is not None:
        return http.post("/responses", content=raw, headers={"content-type": "application/json"})
    return http.post("/responses", json=body)


CASES = [
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "16"),
    ({"metadata": {"k" * 65: "v"}}, "metadata", "64"),
    ({"metadata": {"k": "v" * 513}}, "metadata.k", "512"),
    ({"metadata": {"k": 1}}, "metadata.k", "string"),
    ({"temperature": 2.5}, "temperature", "<= 2"),
    ({"temperature": -0.1}, "temperature", ">= 0"),
    ({"top_p": 1.5}, "top_p", "<= 1"),
    ({"max_output_tokens": 5}, "max_output_tokens", ">= 16"),
    ({"top_logprobs": 21}, "top_logprobs", "<= 20"),
    ({"temperature": "hot"}, "temperature", "number"),
    ({"store": "yes"}, "store", "boolean"),
    ({"bogus": 1}, "bogus", "Unknown parameter: 'bogus'."),
    ({"truncation": "sometimes"}, "truncation", "Supported values"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role", "Supported values"),
    ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id", "call_id"),
    ({"tools": [{"type": "function"}]}, "tools[0].name", "name"),
    # an output must answer a call in the context or in the same input (the hosted API's 400)
    ({"input": [{"type": "function_call_output", "call_id": "call_nowhere", "output": "x"}]},
     "input[0].call_id", "No tool call found for function_call_output with call_id call_nowhere"),
    ({"input": [{"role": "user", "content": "x"},
                {"type": "custom_tool_call_output", "call_id": "c9", "output": "x"}]}, "input[1].call_id",
     "custom_tool_call_output"),
    ({"input": [{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c2", "output": "x"}]}, "input[1].call_id", "c2"),
    ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name", "name"),
    ({"background": True, "store": False}, "background", "store"),
    ({"stream_options": {"include_obfuscation": False}}, "stream_options", "stream"),
    ({"tool_choice": "sometimes"}, "tool_choice", "Supported values"),
    # a value of the wrong kind is quoted as the client wrote it (JSON), not as Python prints it
    ({"access_programs": {"cyber": True}}, "access_programs.cyber", "Invalid value: 'true'."),
    ({"truncation": 5}, "truncation", "Invalid value: '5'."),
]


@pytest.mark.parametrize(("patch", "param", "words"), CASES, ids=[c[1] + ":" + str(i) for i, c in enumerate(CASES)])
def test_invalid_requests(server, upstream, patch, param, words):
    before = len(upstream.requests())
    resp = _post(server, {"model": "scripted", "input": "x", **patch})
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert words in err["message"]
    assert len(upstream.requests()) == before  # nothing reached the model


def test_malformed_json(server, upstream):
    resp = _post(server, None, raw=b'{"model": "scripted", "input": ')
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_json"
    assert _post(server, None, raw=b"[1, 2]").status_code == 400


def test_unknown_route_and_method(server, upstream):
    http = server.http()
    resp = http.get("/nothing-here")
    assert resp.status_code == 404 and "error" in resp.json() and "detail" not in resp.json()
    resp = http.put("/responses")
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"
    resp = http.get("/responses/resp_missing")
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == "Response with id 'resp_missing' not found."


def test_missing_model_and_input(server, upstream):
    resp = _post(server, {"input": "x"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "model"
    resp = _post(server, {"model": "scripted"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "input"


def test_output_answering_a_call_is_accepted(server, upstream):
    """In the same input, or in the chain the response continues."""
    upstream.reply({"tool_calls": [{"name": "f", "arguments": "{}"}]}, {"content": "done"})
    client = server.client()
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]
    first = client.responses.create(model="scripted", input="call f", tools=tools)
    call = next(o for o in first.output if o.type == "function_call")
    second = client.responses.create(model="scripted", previous_response_id=first.id, tools=tools,
                                     input=[{"type": "function_call_output", "call_id": call.call_id,
                                             "output": "42"}])
    assert second.output_text == "done"
    same = _post(server, {"model": "scripted", "input": [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"}]})
    assert same.status_code == 200, same.text
    # a chain that does not hold the call: the same 400 as with no chain at all
    third = _post(server, {"model": "scripted", "previous_response_id": first.id,
                           "input": [{"type": "function_call_output", "call_id": "call_other", "output": "x"}]})
    assert third.status_code == 400 and third.json()["error"]["param"] == "input[0].call_id"
