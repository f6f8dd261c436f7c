"""Prompt caching and access programs (issue 19): each option applied, passed on, or a 400 naming it.

Through the official SDK against the scripted upstreams (in process): a `/v1/responses` upstream
takes every option as sent; a chat-completions upstream takes the prompt-caching options OpenAI's
chat completions take when its profile says so (`openai`), and answers a 400 naming the option
otherwise; `comparison_response_id` fills `prompt_cache_diagnostics` from the usage Respond recorded.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.responses import Response

from tests.spec import body_of, check_response

BREAKPOINT_INPUT = [{"role": "user", "content": [
    {"type": "input_text", "text": "A long shared prefix.", "prompt_cache_breakpoint": {"mode": "explicit"}},
    {"type": "input_text", "text": "The question."}]}]


@pytest.fixture
def responses_kind(app_factory: Any, upstream: Any, database: str) -> Any:
    """On SQLite and PostgreSQL: diagnostics read the compared response from the store."""
    return app_factory("--backend", f"openai_responses:base_url={upstream.base_url}", "--embedded", "off",
                       "--api-key", "k1", "--api-key", "k2", database=database)


def test_responses_upstream_takes_every_option(responses_kind: Any, upstream: Any) -> None:
    client = responses_kind.client("k1")
    r = client.responses.create(model="scripted", input=BREAKPOINT_INPUT,
                                prompt_cache_options={"mode": "explicit", "ttl": "12h"},
                                prompt_cache_retention="24h", access_programs={"cyber": "daybreak_blue"})
    assert r.status == "completed"
    (sent,) = upstream.requests()
    assert sent["prompt_cache_options"] == {"mode": "explicit", "ttl": "12h"}
    assert sent["prompt_cache_retention"] == "24h" and sent["access_programs"] == {"cyber": "daybreak_blue"}
    first, second = sent["input"][0]["content"]
    assert first["prompt_cache_breakpoint"] == {"mode": "explicit"} and "prompt_cache_breakpoint" not in second
    # the echo is in the shapes the SDK's Response (and Open Responses) type
    raw = responses_kind.http("k1").get(f"/responses/{r.id}").json()
    check_response(raw)
    Response.model_validate(raw, strict=True)
    assert raw["prompt_cache_options"] == {"mode": "explicit", "ttl": "12h", "comparison_response_id": None}
    assert raw["access_programs"] == {"cyber": "daybreak_blue"} and raw["prompt_cache_diagnostics"] is None


def test_responses_upstream_prewarm(responses_kind: Any, upstream: Any) -> None:
    client = responses_kind.client("k1")
    r = client.responses.create(model="scripted", input="Warm this prefix.", prompt_cache_options={"prewarm": True})
    assert r.status == "completed" and r.output == [] and r.usage is not None and r.usage.output_tokens == 0
    assert r.prompt_cache_options is not None and r.prompt_cache_options.ttl == "30m"
    (sent,) = upstream.requests()
    assert sent["prompt_cache_options"] == {"prewarm": True}


def test_cache_diagnostics_from_recorded_usage(responses_kind: Any, upstream: Any) -> None:
    client = responses_kind.client("k1")
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]
    upstream.reply({"content": "one"}, {"content": "two", "cached_tokens": 9}, {"content": "three"},
                   {"content": "four"}, {"content": "five"})
    first = client.responses.create(model="scripted", input="Question one.")
    assert first.prompt_cache_diagnostics is None
    hit = client.responses.create(model="scripted", input="Question one.",
                                  prompt_cache_options={"comparison_response_id": first.id})
    assert hit.prompt_cache_diagnostics is not None and hit.prompt_cache_diagnostics.type == "cache_hit"
    assert hit.prompt_cache_options is not None and hit.prompt_cache_options.comparison_response_id == first.id
    miss = client.responses.create(model="scripted", input="Question one.", tools=tools,
                                   prompt_cache_options={"comparison_response_id": first.id})
    diag = miss.prompt_cache_diagnostics
    assert diag is not None and diag.type == "cache_miss" and diag.reason == "tools_changed"
    assert miss.usage is not None and diag.cache_missed_tokens == miss.usage.input_tokens > 0
    assert first.usage is not None and diag.comparison_reusable_tokens == first.usage.input_tokens
    changed = client.responses.create(model="scripted", input="Another question.",
                                      prompt_cache_options={"comparison_response_id": first.id})
    diag = changed.prompt_cache_diagnostics
    assert diag is not None and diag.type == "cache_miss" and diag.reason == "input_changed"
    # another key's response is as unknown as a missing one: nothing of its usage leaks
    other = responses_kind.client("k2").responses.create(model="scripted", input="Question one.",
                                                          prompt_cache_options={"comparison_response_id": first.id})
    assert other.prompt_cache_diagnostics is not None
    assert other.prompt_cache_diagnostics.type == "comparison_response_not_found"
    stored = responses_kind.http("k1").get(f"/responses/{miss.id}").json()
    Response.model_validate(stored, strict=True)
    assert stored["prompt_cache_diagnostics"]["reason"] == "tools_changed"


CHAT_REFUSED = [
    ({"prompt_cache_options": {"ttl": "30m"}}, "prompt_cache_options.ttl"),
    ({"prompt_cache_options": {"mode": "explicit"}}, "prompt_cache_options.mode"),
    ({"prompt_cache_options": {"prewarm": True}}, "prompt_cache_options.prewarm"),
    ({"prompt_cache_retention": "in_memory"}, "prompt_cache_retention"),
    ({"access_programs": {"cyber": "standard"}}, "access_programs"),
    ({"input": BREAKPOINT_INPUT}, "input"),
]


@pytest.mark.parametrize(("patch", "param"), CHAT_REFUSED, ids=[p for _, p in CHAT_REFUSED])
def test_chat_upstream_without_the_profile_refuses(app_factory: Any, upstream: Any, patch: dict[str, Any],
                                                   param: str) -> None:
    app = app_factory("--upstream", upstream.base_url, "--embedded", "off")
    body = {"model": "scripted", "input": "x", **patch}
    for stream in (False, True):
        resp = app.http().post("/responses", json={**body, "stream": stream})
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["param"] == param and error["code"] == "unsupported_parameter"
        name = param if param != "input" else "prompt_cache_breakpoint"
        assert name in error["message"]
    assert upstream.requests() == []


def test_chat_upstream_with_the_openai_profile_passes_on(app_factory: Any, upstream: Any) -> None:
    app = app_factory("--backend", f"openai_compat:base_url={upstream.base_url},profile=openai", "--embedded", "off")
    client = app.client()
    r = client.responses.create(model="scripted", input=BREAKPOINT_INPUT, prompt_cache_retention="in_memory",
                                prompt_cache_options={"mode": "explicit", "ttl": "30m"})
    assert r.status == "completed"
    (sent,) = upstream.requests()
    assert sent["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}
    assert sent["prompt_cache_retention"] == "in_memory"
    parts = sent["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "A long shared prefix.",
                        "prompt_cache_breakpoint": {"mode": "explicit"}}
    for patch, param in (({"prompt_cache_options": {"ttl": "12h"}}, "prompt_cache_options.ttl"),
                         ({"prompt_cache_options": {"prewarm": True}}, "prompt_cache_options.prewarm"),
                         ({"access_programs": {"cyber": "standard"}}, "access_programs")):
        with pytest.raises(openai.BadRequestError) as err:
            client.responses.create(model="scripted", input="x", **patch)
        assert body_of(err)["param"] == param
    assert len(upstream.requests()) == 1


@pytest.mark.parametrize(("breakpoint", "param"), [
    ({"mode": "implicit"}, "input[0].content[0].prompt_cache_breakpoint.mode"),
    ({"mode": "explicit", "ttl": "1d"}, "input[0].content[0].prompt_cache_breakpoint.ttl"),
    ({"mode": "explicit", "size": 3}, "input[0].content[0].prompt_cache_breakpoint.size"),
    ("explicit", "input[0].content[0].prompt_cache_breakpoint"),
])
def test_breakpoint_shape_is_validated(responses_kind: Any, upstream: Any, breakpoint: Any, param: str) -> None:
    part = {"type": "input_text", "text": "x", "prompt_cache_breakpoint": breakpoint}
    resp = responses_kind.http("k1").post("/responses", json={
        "model": "scripted", "input": [{"role": "user", "content": [part]}]})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param
    assert upstream.requests() == []


def test_scripted_backend_refuses_what_it_cannot_apply(app_factory: Any) -> None:
    app = app_factory("--backend", "scripted", "--embedded", "off")
    resp = app.http().post("/responses", json={"model": "scripted", "input": "x",
                                               "prompt_cache_options": {"prewarm": True}})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "prompt_cache_options.prewarm"
    plain = app.http().post("/responses", json={"model": "scripted", "input": "x",
                                                "prompt_cache_options": {"comparison_response_id": "resp_x"}})
    assert plain.status_code == 200, plain.text  # diagnostics are Respond's own: any backend
    assert plain.json()["prompt_cache_diagnostics"] == {"type": "comparison_response_not_found"}
