"""Reasoning, refusals, logprobs and upstream parameters, through the SDK, in front of the scripted
upstream (which streams `reasoning_content`/`reasoning`, `refusal` and logprobs)."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import openai
import pytest

from tests.replays import as_replayed
from tests.spec import body_of, check_event, check_response

THOUGHT = "The user greets me. I should greet back, briefly."


@pytest.fixture(scope="module")
def wire(module_app_factory, upstream_server, database):
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                              "--secret-key", "test-secret-one", database=database)


def _stream(server, body: dict[str, Any]) -> list[dict[str, Any]]:
    with server.http().stream("POST", "/responses", json={**body, "stream": True,
                                                          "stream_options": {"include_obfuscation": False}}) as resp:
        assert resp.status_code == 200
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]
    for ev in events:
        check_event(ev)
    return events


def _replay(server, rid: str) -> list[dict[str, Any]]:
    with server.http().stream("GET", f"/responses/{rid}", params={"stream": "true",
                                                                 "include_obfuscation": "false"}) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]
    for ev in events:
        check_event(ev)
    return events


def test_parameters_reach_the_upstream(wire, upstream):
    client = wire.client()
    r = client.responses.create(
        model="scripted", input="hi", reasoning={"effort": "high"}, text={"verbosity": "low"},
        service_tier="flex", prompt_cache_key="cache-1", safety_identifier="user-42", top_p=0.5,
        extra_body={"client_metadata": {"x-codex-turn": "1"}})
    check_response(wire.http().get(f"/responses/{r.id}").json())
    sent = upstream.requests()[-1]
    assert sent["reasoning_effort"] == "high"
    assert sent["verbosity"] == "low"
    assert sent["service_tier"] == "flex"
    assert sent["prompt_cache_key"] == "cache-1"
    assert sent["user"] == "user-42"
    assert sent["top_p"] == 0.5 and r.top_p == 0.5
    assert "client_metadata" not in sent
    assert r.reasoning is not None and r.reasoning.effort == "high"
    plain = client.responses.create(model="scripted", input="hi")
    sent = upstream.requests()[-1]
    assert plain.status == "completed"
    for key in ("reasoning_effort", "verbosity", "service_tier", "prompt_cache_key", "logprobs", "top_p"):
        assert key not in sent


ENUMS = [
    ({"reasoning": {"effort": "bogus"}}, "reasoning.effort"),
    ({"reasoning": {"summary": "long"}}, "reasoning.summary"),
    ({"reasoning": {"nonsense": 1}}, "reasoning.nonsense"),
    ({"text": {"verbosity": "ultra"}}, "text.verbosity"),
    ({"service_tier": "gold"}, "service_tier"),
    ({"prompt_cache_retention": "forever"}, "prompt_cache_retention"),
    ({"prompt_cache_options": {"ttl": "1y"}}, "prompt_cache_options.ttl"),
    ({"truncation": "smart"}, "truncation"),
    ({"image": {"context_compression": "max"}}, "image.context_compression"),
    ({"moderation": {"policy": {}}}, "moderation.model"),
    ({"moderation": {"model": "m", "policy": {"input": {"mode": "ban"}}}}, "moderation.policy.input.mode"),
    ({"context_management": [{"type": "summarize"}]}, "context_management[0].type"),
    ({"background_options": {"completion_window": "1d"}}, "background_options.completion_window"),
    ({"access_programs": {"cyber": "red"}}, "access_programs.cyber"),
    ({"stream": True, "stream_options": {"include_obfuscation": "no"}}, "stream_options.include_obfuscation"),
    ({"prompt": {"version": "1"}}, "prompt.id"),
    # a valid shape this server cannot act on (no --moderation-upstream): a 400 naming it, never an echo
    ({"moderation": {"model": "omni-moderation-latest"}}, "moderation"),
]


@pytest.mark.parametrize(("patch", "param"), ENUMS, ids=[p for _, p in ENUMS])
def test_every_enum_is_validated(wire, upstream, patch, param):
    resp = wire.http().post("/responses", json={"model": "scripted", "input": "x", **patch})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param
    assert upstream.requests() == []


def test_reasoning_stream_becomes_a_reasoning_item(wire, upstream):
    upstream.reply({"reasoning": THOUGHT, "content": "Hello!"})
    events = _stream(wire, {"model": "scripted", "input": "hi", "reasoning": {"effort": "low", "summary": "auto"}})
    types = [e["type"] for e in events]
    for kind in ("response.reasoning_text.delta", "response.reasoning_text.done",
                 "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                 "response.reasoning_summary_text.done", "response.reasoning_summary_part.done"):
        assert kind in types, kind
    # reasoning closes before the message opens
    assert types.index("response.reasoning_text.done") < types.index("response.output_text.delta")
    assert "".join(e["delta"] for e in events if e["type"] == "response.reasoning_text.delta") == THOUGHT
    final = events[-1]["response"]
    check_response(final)
    item, message = final["output"]
    assert item["type"] == "reasoning" and item["status"] == "completed"
    assert item["content"] == [{"type": "reasoning_text", "text": THOUGHT}]
    assert item["summary"] == [{"type": "summary_text", "text": THOUGHT}]
    assert "encrypted_content" not in item
    assert message["content"][0]["text"] == "Hello!"
    assert wire.http().get(f"/responses/{final['id']}").json() == final
    # replayed for GET ?stream=true as streamed (but for the chunking of its text: tests/replays.py)
    assert _replay(wire, final["id"]) == as_replayed(events)


def test_generate_summary_is_the_deprecated_name_of_summary(wire, upstream):
    upstream.reply({"reasoning": THOUGHT, "content": "Hello!"})
    events = _stream(wire, {"model": "scripted", "input": "hi", "reasoning": {"generate_summary": "concise"}})
    assert "response.reasoning_summary_text.done" in [e["type"] for e in events]
    final = events[-1]["response"]
    assert final["reasoning"]["summary"] == "concise" and final["output"][0]["summary"][0]["text"] == THOUGHT


def test_ollama_reasoning_field_not_streamed_no_summary(wire, upstream):
    upstream.reply({"reasoning": THOUGHT, "reasoning_field": "reasoning", "content": "Hi."})
    r = wire.client().responses.create(model="scripted", input="hi")
    assert [o.type for o in r.output] == ["reasoning", "message"]
    assert r.output[0].summary == [] and r.output[0].content[0].text == THOUGHT
    body = wire.http().get(f"/responses/{r.id}").json()
    check_response(body)
    events = _replay(wire, r.id)  # rebuilt from the stored response
    assert [e["delta"] for e in events if e["type"] == "response.reasoning_text.delta"] == [THOUGHT]
    assert "response.reasoning_summary_text.delta" not in [e["type"] for e in events]
    assert events[-1]["response"] == body
    # sealed on demand by a retrieve that includes it, and it opens like one made at creation
    sealed = wire.client().responses.retrieve(r.id, include=["reasoning.encrypted_content"]).output[0]
    assert isinstance(sealed.encrypted_content, str)
    wire.client().responses.create(model="scripted", store=False, input=[
        {"role": "user", "content": "hi"}, sealed.model_dump(exclude_none=True) | {"content": []},
        {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "so?"}])
    assert upstream.requests()[-1]["messages"][1]["reasoning_content"] == THOUGHT
    # listed back and sent back: the next turn's upstream request carries the reasoning
    client = wire.client()
    client.responses.create(model="scripted", input="and?", previous_response_id=r.id)
    assistant = upstream.requests()[-1]["messages"][1]
    assert assistant == {"role": "assistant", "content": "Hi.", "reasoning_content": THOUGHT}


def test_encrypted_reasoning_round_trip_with_store_false(wire, upstream, app_factory):
    client = wire.client()
    upstream.reply({"reasoning": THOUGHT, "content": "Hello!"})
    r1 = client.responses.create(model="scripted", input="hi", store=False,
                                 include=["reasoning.encrypted_content"])
    check_response(json.loads(r1.model_dump_json(exclude_unset=True)))
    item = r1.output[0]
    assert item.type == "reasoning" and isinstance(item.encrypted_content, str)
    assert THOUGHT not in item.encrypted_content
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r1.id)
    # turn 2, stateless: the client sends the items back; the reasoning travels only sealed
    sent_back = item.model_dump(exclude_none=True) | {"content": []}
    history = [{"role": "user", "content": "hi"}, sent_back, r1.output[1].model_dump(exclude_none=True)]
    r2 = client.responses.create(model="scripted", input=[*history, {"role": "user", "content": "more"}],
                                 store=False)
    assert r2.status == "completed"
    messages = upstream.requests()[-1]["messages"]
    assert messages[1] == {"role": "assistant", "content": "Hello!", "reasoning_content": THOUGHT}
    # a changed byte, or another server's blob, is a 400 naming the item
    blob = item.encrypted_content
    tampered = blob[:40] + ("A" if blob[40] != "A" else "B") + blob[41:]
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="scripted", input=[sent_back | {"encrypted_content": tampered},
                                                         {"role": "user", "content": "x"}], store=False)
    assert body_of(err)["param"] == "input[0].encrypted_content"
    assert body_of(err)["code"] == "invalid_encrypted_content"
    other = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--secret-key", "another-secret")
    with pytest.raises(openai.BadRequestError) as err:
        other.client().responses.create(model="scripted", input=[sent_back, {"role": "user", "content": "x"}])
    assert body_of(err)["param"] == "input[0].encrypted_content"


def test_generated_key_file_is_private_and_kept(server_factory, upstream, tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    args = ("--upstream", upstream.base_url, "--embedded", "off")
    first = server_factory(*args, env=env)
    key = tmp_path / "data" / "respond" / "secret.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and len(key.read_bytes()) == 32
    upstream.reply({"reasoning": THOUGHT, "content": "ok"})
    r1 = first.client().responses.create(model="scripted", input="hi", store=False,
                                         include=["reasoning.encrypted_content"])
    first.stop()
    again = server_factory(*args, env=env)
    reasoning = r1.output[0].model_dump(exclude_none=True) | {"content": []}
    r2 = again.client().responses.create(model="scripted", store=False, input=[
        {"role": "user", "content": "hi"}, reasoning, r1.output[1].model_dump(exclude_none=True),
        {"role": "user", "content": "next"}])
    assert r2.status == "completed"
    assert upstream.requests()[-1]["messages"][1] == {"role": "assistant", "content": "ok",
                                                      "reasoning_content": THOUGHT}


def test_refusal_is_a_refusal_part(wire, upstream):
    upstream.reply({"refusal": "I can't help with that."})
    events = _stream(wire, {"model": "scripted", "input": "something bad"})
    types = [e["type"] for e in events]
    assert "response.refusal.delta" in types and "response.refusal.done" in types
    done = next(e for e in events if e["type"] == "response.refusal.done")
    assert done["refusal"] == "I can't help with that."
    final = events[-1]["response"]
    check_response(final)
    assert final["status"] == "completed"
    assert final["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]
    assert _replay(wire, final["id"]) == as_replayed(events)
    upstream.reply({"refusal": "No."})
    r = wire.client().responses.create(model="scripted", input="again")
    assert r.output[0].content[0].type == "refusal" and r.output[0].content[0].refusal == "No."
    assert [e["type"] for e in _replay(wire, r.id)].count("response.refusal.delta") == 1


def test_logprobs_include_alone(wire, upstream):
    client = wire.client()
    r = client.responses.create(model="scripted", input="hi", include=["message.output_text.logprobs"])
    sent = upstream.requests()[-1]
    assert sent["logprobs"] is True and "top_logprobs" not in sent
    part = r.output[0].content[0]
    assert part.logprobs and "".join(lp.token for lp in part.logprobs) == part.text
    assert all(lp.logprob == -0.25 and lp.top_logprobs == [] for lp in part.logprobs)
    events = _stream(wire, {"model": "scripted", "input": "hi", "include": ["message.output_text.logprobs"],
                            "top_logprobs": 2})
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert deltas and all(len(e["logprobs"]) == 1 and len(e["logprobs"][0]["top_logprobs"]) == 2 for e in deltas)
    # without the include: asked for none, shows none
    plain = client.responses.create(model="scripted", input="hi")
    assert "logprobs" not in upstream.requests()[-1]
    assert not plain.output[0].content[0].logprobs


def test_reasoning_before_a_tool_call_goes_back_with_it(wire, upstream):
    client = wire.client()
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}},
              "strict": False}]
    upstream.reply({"reasoning": "I need the weather.", "tool_calls": [{"name": "get_weather", "arguments": "{}"}]})
    events = _stream(wire, {"model": "scripted", "input": "Weather?", "tools": tools})
    final = events[-1]["response"]
    assert [o["type"] for o in final["output"]] == ["reasoning", "function_call"]
    call = final["output"][1]
    client.responses.create(model="scripted", previous_response_id=final["id"], tools=tools, input=[
        {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}])
    assistant = upstream.requests()[-1]["messages"][1]
    assert assistant["reasoning_content"] == "I need the weather." and assistant["tool_calls"]


def test_sdk_stream_helper_accepts_reasoning_and_refusal(wire, upstream):
    client = wire.client()
    upstream.reply({"reasoning": THOUGHT, "content": "Hello!"}, {"refusal": "No.", "content": "But here is why."})
    with client.responses.stream(model="scripted", input="hi", reasoning={"summary": "detailed"}) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.reasoning_summary_text.delta" in kinds
    assert final.output[0].type == "reasoning" and final.output_text == "Hello!"
    with client.responses.stream(model="scripted", input="again") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert [p.type for p in final.output[0].content] == ["refusal", "output_text"]


@pytest.mark.parametrize("asked", ["auto", "disabled"])
def test_image_policy_echoed_as_the_response_carries_it(wire, upstream, asked):
    """The request's `auto` is a choice the server makes: the Response names the effective policy,
    in the shape the SDK's `Response.image` accepts (the raw request value used to break it)."""
    from openai.types.responses import Response

    r = wire.http().post("/responses", json={"model": "scripted", "input": "x",
                                             "image": {"context_compression": asked}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image"] == {"context_compression": "disabled"} and body["moderation"] is None
    Response.model_validate(body, strict=True)
    plain = wire.http().post("/responses", json={"model": "scripted", "input": "x"}).json()
    assert plain["image"] is None


@pytest.mark.parametrize("context", ["current_turn", "all_turns", "auto"])
def test_reasoning_context_decides_whether_earlier_reasoning_goes_back(wire, upstream, context):
    client = wire.client()
    upstream.reply({"reasoning": THOUGHT, "content": "Hello!"})
    first = client.responses.create(model="scripted", input="hi", reasoning={"effort": "low"})
    second = client.responses.create(model="scripted", input="again", previous_response_id=first.id,
                                     reasoning={"effort": "low", "context": context})
    earlier = [m for m in upstream.requests()[-1]["messages"] if m["role"] == "assistant"]
    assert earlier and earlier[0]["content"] == "Hello!"
    assert ("reasoning_content" in earlier[0]) == (context != "current_turn"), earlier
    assert second.reasoning is not None
    assert second.reasoning.context == ("current_turn" if context == "current_turn" else "all_turns")
    check_response(wire.http().get(f"/responses/{second.id}").json())


def test_reasoning_mode_other_than_standard_needs_an_upstream_that_takes_it(wire, upstream):
    client = wire.client()
    r = client.responses.create(model="scripted", input="hi", reasoning={"mode": "standard"})
    assert r.reasoning is not None and r.reasoning.mode == "standard"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="scripted", input="hi", reasoning={"mode": "pro"})
    assert body_of(caught)["param"] == "reasoning.mode"


def test_input_tokens_counts_what_reasoning_context_leaves(wire, upstream):
    client = wire.client()
    upstream.reply({"reasoning": THOUGHT, "content": "Hello!"})
    first = client.responses.create(model="scripted", input="hi")
    for context, kept in (("current_turn", False), ("all_turns", True)):
        client.responses.input_tokens.count(model="scripted", input="again", previous_response_id=first.id,
                                            reasoning={"context": context})
        earlier = [m for m in upstream.requests()[-1]["messages"] if m["role"] == "assistant"][0]
        assert ("reasoning_content" in earlier) == kept, (context, earlier)
