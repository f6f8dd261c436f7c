"""Server-side compaction (`context_management`) and `POST /responses/compact`, with the official SDK.

In process (tests/inprocess.py) in front of the scripted chat-completions upstream, on SQLite and
PostgreSQL (the compaction item is stored in the chain and read back on the next turn); the
counting path of the embedded model through the shipped scripted backend, which counts as it does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.responses import (
    CompactedResponse,
    ResponseCompactionCompactingEvent,
    ResponseCompactionItem,
    ResponseInputMessageItem,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseUsage,
)

from respond.engine.assemble.compaction import PROMPT
from tests.conftest import UpstreamThread, _new_pg_database
from tests.inprocess import AppServer

SUMMARY = "The user is Ada; she likes graphs."
CM = [{"type": "compaction", "compact_threshold": 5}]


def _error(exc: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    body = exc.value.body
    assert isinstance(body, dict)
    return body


def _text(item: dict[str, Any]) -> str:
    content = item["content"]
    return content if isinstance(content, str) else "".join(p["text"] for p in content)


def _start(server: AppServer, upstream: UpstreamThread) -> str:
    """A first turn (no compaction): the chain the next turns continue."""
    upstream.reply({"content": "Noted."})
    return server.client().responses.create(model="scripted", input="My name is Ada and I like graphs.").id


def test_compaction_past_the_threshold_on_an_upstream(server: AppServer, upstream: UpstreamThread) -> None:
    client = server.client()
    first = _start(server, upstream)
    before = len(upstream.requests())
    upstream.reply({"content": "probe"}, {"content": SUMMARY}, {"content": "Graphs."})
    second = client.responses.create(model="scripted", input="What do I like?", previous_response_id=first,
                                     context_management=CM, instructions="Be brief.")  # type: ignore[arg-type]
    sent = upstream.requests()[before:]
    assert len(sent) == 3
    assert sent[0]["max_tokens"] == 1  # the count: prompt tokens of a one-token generation
    assert sent[1]["messages"][-1] == {"role": "user", "content": PROMPT}
    assert sent[1]["messages"][-3]["content"] == "Noted."  # the summary read the whole context
    # the model answers from the compacted window: instructions, the user's messages, the summary
    assert sent[2]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My name is Ada and I like graphs."},
        {"role": "user", "content": "What do I like?"},
        {"role": "system", "content": f"Summary of the earlier conversation:\n{SUMMARY}"}]
    assert [o.type for o in second.output] == ["compaction", "message"] and second.output_text == "Graphs."
    item = ResponseCompactionItem.model_validate(second.output[0].model_dump())
    assert item.encrypted_content and SUMMARY not in item.encrypted_content and item.id.startswith("cmp")
    assert second.usage is not None and second.usage.input_tokens > 0
    # usage counts the summary's pass as well as the answer's (the count is not billed)
    prompt = sum(len(str(m.get("content") or "")) // 4 + 1 for r in sent[1:] for m in r["messages"])
    assert second.usage.input_tokens == prompt
    # stored with the response; the next turn reads the compacted window, not the whole chain
    stored = client.responses.retrieve(second.id)
    assert [o.type for o in stored.output] == ["compaction", "message"]
    assert stored.output[0].model_dump()["encrypted_content"] == item.encrypted_content
    replayed = [e.type for e in client.responses.retrieve(second.id, stream=True)]
    assert replayed[2:5] == ["response.output_item.added", "response.compaction.compacting",
                             "response.output_item.done"]
    upstream.reply({"content": "Ada."})
    client.responses.create(model="scripted", input="And my name?", previous_response_id=second.id)
    assert upstream.requests()[-1]["messages"] == [
        {"role": "user", "content": "My name is Ada and I like graphs."},
        {"role": "user", "content": "What do I like?"},
        {"role": "system", "content": f"Summary of the earlier conversation:\n{SUMMARY}"},
        {"role": "assistant", "content": "Graphs."},
        {"role": "user", "content": "And my name?"}]
    # stateless chaining: the whole input sent back (items before the compaction item included) reads the same
    raw = server.http().get(f"/responses/{second.id}/input_items", params={"order": "asc"}).json()["data"]
    upstream.reply({"content": "Ada."})
    resent: Any = [{"role": "user", "content": "My name is Ada and I like graphs."},
                   {"role": "assistant", "content": "Noted."}, *raw,
                   *[o.model_dump(exclude_none=True) for o in stored.output],
                   {"role": "user", "content": "And my name?"}]
    client.responses.create(model="scripted", input=resent)
    assert upstream.requests()[-1]["messages"][:3] == [
        {"role": "user", "content": "My name is Ada and I like graphs."},
        {"role": "user", "content": "What do I like?"},
        {"role": "system", "content": f"Summary of the earlier conversation:\n{SUMMARY}"}]


def test_no_compaction_under_the_threshold(server: AppServer, upstream: UpstreamThread) -> None:
    first = _start(server, upstream)
    before = len(upstream.requests())
    upstream.reply({"content": "Graphs."})
    r = server.client().responses.create(model="scripted", input="What do I like?", previous_response_id=first,
                                         context_management=[{"type": "compaction", "compact_threshold": 100_000}])
    # the text cannot pass the threshold: the upstream is not even asked to count
    assert len(upstream.requests()) == before + 1
    assert [o.type for o in r.output] == ["message"]
    # past a threshold the text could pass, the upstream counts; under it, nothing is compacted
    upstream.reply({"content": "x", "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31}},
                   {"content": "Graphs."})
    r = server.client().responses.create(model="scripted", input="What do I like?", previous_response_id=first,
                                         context_management=[{"type": "compaction", "compact_threshold": 30}])
    assert len(upstream.requests()) == before + 3 and [o.type for o in r.output] == ["message"]


def test_compaction_stream_events(server: AppServer, upstream: UpstreamThread) -> None:
    first = _start(server, upstream)
    upstream.reply({"content": "probe"}, {"content": SUMMARY, "chunks": 3}, {"content": "Graphs."})
    with server.client().responses.stream(model="scripted", input="What do I like?", previous_response_id=first,
                                          context_management=CM) as stream:  # type: ignore[arg-type]
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    added = events[2]
    assert isinstance(added, ResponseOutputItemAddedEvent) and added.item.type == "compaction"
    assert added.output_index == 0
    compacting = [e for e in events if e.type == "response.compaction.compacting"]
    assert len(compacting) == 3  # one per piece of summary sampled, none carrying it
    for ev in compacting:
        checked = ResponseCompactionCompactingEvent.model_validate(ev.model_dump(), strict=True)
        assert checked.item_id == added.item.id and checked.output_index == 0
        assert SUMMARY not in str(ev.model_dump())
    done = events[3 + len(compacting)]
    assert isinstance(done, ResponseOutputItemDoneEvent) and done.item.type == "compaction"
    assert ResponseCompactionItem.model_validate(done.item.model_dump()).encrypted_content
    assert types[4 + len(compacting)] == "response.output_item.added"  # then the answer
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [o.type for o in final.output] == ["compaction", "message"] and final.output_text == "Graphs."
    assert final.output[0].model_dump() == done.item.model_dump()


def test_compaction_on_a_counting_backend(app_factory: Any, database: str) -> None:
    """The embedded model's path: the backend counts (core.ports.TokenCounter), nothing is generated
    to count; the scripted backend counts words as its usage does."""
    app = app_factory("--backend", f"scripted:model=counted,reply={SUMMARY}", "--embedded", "off",
                      database=database)
    client = app.client()
    first = client.responses.create(model="counted", input="one two three")
    cm: Any = [{"type": "compaction", "compact_threshold": 12}]
    r = client.responses.create(model="counted", input="four five", previous_response_id=first.id,
                                context_management=cm)
    assert [o.type for o in r.output] == ["message"]  # 3 + 7 (the answer) + 2 words: not past 12
    r = client.responses.create(model="counted", input="four five six", previous_response_id=first.id,
                                context_management=cm)
    assert [o.type for o in r.output] == ["compaction", "message"]  # 13 words
    n = client.responses.input_tokens.count(model="counted", input="What now?", previous_response_id=r.id)
    # the compacted window: the two user messages, the summary, the answer, the new message
    summary = f"Summary of the earlier conversation:\n{SUMMARY}"
    assert n.input_tokens == 3 + 3 + len(summary.split()) + len(SUMMARY.split()) + 2


@pytest.fixture
def own_database(database: str, tmp_path: Path) -> str:
    """A database of its own, of the module's kind: no other app's workers claim its background jobs."""
    return f"sqlite:///{tmp_path / 'own.db'}" if database.startswith("sqlite") else _new_pg_database()


def test_compaction_on_a_responses_upstream_in_the_background(app_factory: Any, upstream_server: Any,
                                                              upstream: UpstreamThread, own_database: str) -> None:
    """The /v1/responses upstream kind, and a background run: the worker compacts as a foreground run does."""
    app = app_factory("--backend", f"openai_responses:base_url={upstream_server.base_url}",
                      "--embedded", "off", "--workers", "1", database=own_database)
    client = app.client()
    upstream.reply({"content": "Noted."})
    first = client.responses.create(model="scripted", input="My name is Ada and I like graphs.")
    upstream.reply({"content": "probe"}, {"content": SUMMARY}, {"content": "Graphs."})
    r = client.responses.create(model="scripted", input="What do I like?", previous_response_id=first.id,
                                context_management=CM, background=True)
    deadline = time.monotonic() + 60
    while r.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.1)
        r = client.responses.retrieve(r.id)
    assert r.status == "completed" and [o.type for o in r.output] == ["compaction", "message"]
    assert r.output_text == "Graphs."
    probe, summary, answer = upstream.requests()[1:]
    assert probe["max_output_tokens"] == 16 and _text(summary["input"][-1]) == PROMPT
    assert [(i["role"], _text(i)) for i in answer["input"]] == [
        ("user", "My name is Ada and I like graphs."), ("user", "What do I like?"),
        ("system", f"Summary of the earlier conversation:\n{SUMMARY}")]
    # the stored chain: the next turn reads the compacted window
    upstream.reply({"content": "Ada."})
    client.responses.create(model="scripted", input="And my name?", previous_response_id=r.id)
    assert [i.get("role") for i in upstream.requests()[-1]["input"]] == ["user", "user", "system", "assistant", "user"]


def test_context_management_is_checked(server: AppServer) -> None:
    http = server.http()
    for cm, param in (([{"type": "compaction"}], "context_management[0].compact_threshold"),
                      ([{"type": "compaction", "compact_threshold": 9}, {"type": "compaction",
                                                                         "compact_threshold": 9}],
                       "context_management[1]"),
                      ([{"type": "summary", "compact_threshold": 9}], "context_management[0].type"),
                      ([{"type": "compaction", "compact_threshold": -1}],
                       "context_management[0].compact_threshold")):
        got = http.post("/responses", json={"model": "scripted", "input": "x", "context_management": cm})
        assert got.status_code == 400 and got.json()["error"]["param"] == param, got.json()


def test_a_forged_or_foreign_compaction_item_is_refused(server: AppServer, upstream: UpstreamThread) -> None:
    """Attack: a client writes its own summary (a system message) through a compaction item."""
    http = server.http()
    for blob in ("gAAAA" + "x" * 40, ""):
        got = http.post("/responses", json={"model": "scripted", "input": [
            {"type": "compaction", "encrypted_content": blob}, {"role": "user", "content": "hi"}]})
        assert got.status_code == 400 and got.json()["error"]["param"] == "input[0].encrypted_content"


def test_compact_output_and_options(server: AppServer, upstream: UpstreamThread) -> None:
    first = _start(server, upstream)
    upstream.reply({"content": SUMMARY})
    got = server.http().post("/responses/compact", json={
        "model": "scripted", "previous_response_id": first, "input": "Remember that.", "instructions": "Be brief.",
        "image": {"context_compression": "auto"}, "safety_identifier": "user-7", "service_tier": "flex",
        "prompt_cache_key": "k1"})
    assert got.status_code == 200, got.text
    body = got.json()
    sent = upstream.requests()[-1]
    assert (sent["user"], sent["service_tier"], sent["prompt_cache_key"]) == ("user-7", "flex", "k1")
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["image"] == {"context_compression": "disabled"}  # images reach the model as given
    assert (body["safety_identifier"], body["service_tier"]) == ("user-7", "flex")
    # The hosted API returns the kept user messages as input message items (`input_text` parts); the SDK
    # types CompactedResponse.output as output items, whose only message is the assistant's.  Each item
    # is checked against the SDK type it is, the rest against CompactedResponse itself.
    users = [o for o in body["output"] if o["type"] == "message"]
    assert [ResponseInputMessageItem.model_validate(m).content[0].type for m in users] == ["input_text"] * 2
    rest = CompactedResponse.model_validate({**body, "output": body["output"][len(users):]})
    assert [o.type for o in rest.output] == ["compaction"] and rest.object == "response.compaction"
    ResponseUsage.model_validate(body["usage"], strict=True)
    sdk = server.client().responses.compact(model="scripted", input="x")
    assert sdk.output[0].role == "user"  # type: ignore[union-attr]
    # every option the SDK's compact params take: applied, passed on, or a 400 naming it (this upstream's
    # profile takes no prompt-caching options: the backend names the one it cannot pass on)
    http = server.http()
    for extra, param in (({"prompt_cache_retention": "24h"}, "prompt_cache_retention"),
                         ({"prompt_cache_options": {"mode": "explicit"}}, "prompt_cache_options.mode"),
                         ({"prompt_cache_options": {"prewarm": True}}, "prompt_cache_options.prewarm"),
                         ({"prompt_cache_options": {"ttl": "12h"}}, "prompt_cache_options.ttl"),
                         ({"service_tier": "scale"}, "service_tier"),
                         ({"image": {"context_compression": "small"}}, "image.context_compression"),
                         ({"safety_identifier": "x" * 200}, "safety_identifier"),
                         ({"store": True}, "store")):
        bad = http.post("/responses/compact", json={"model": "scripted", "input": "x", **extra})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == param, (extra, bad.json())
    # image.context_compression "enabled" is applied as on a create (tests/test_image_compression.py)
    enabled = http.post("/responses/compact", json={"model": "scripted", "input": "x",
                                                    "image": {"context_compression": "enabled"}})
    assert enabled.status_code == 200 and enabled.json()["image"] == {"context_compression": "enabled"}


def test_compact_passes_prompt_caching_on(app_factory: Any, upstream: UpstreamThread) -> None:
    """An upstream whose profile takes OpenAI's prompt-caching options gets them with the summary request."""
    app = app_factory("--backend", f"openai_compat:base_url={upstream.base_url},profile=openai", "--embedded", "off")
    upstream.reply({"content": SUMMARY})
    got = app.http().post("/responses/compact", json={
        "model": "scripted", "input": "My name is Ada.", "prompt_cache_retention": "in_memory",
        "prompt_cache_options": {"mode": "explicit", "ttl": "30m"}})
    assert got.status_code == 200, got.text
    sent = upstream.requests()[-1]
    assert sent["prompt_cache_retention"] == "in_memory"
    assert sent["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}


def test_input_tokens_honours_reasoning_and_truncation(server: AppServer, upstream: UpstreamThread) -> None:
    client = server.client()
    first = client.responses.create(model="scripted", input="one", instructions="Keep me.")
    second = client.responses.create(model="scripted", input="two", previous_response_id=first.id)
    upstream.reply({"content": "x", "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}})
    got = client.responses.input_tokens.count(model="scripted", input="three", reasoning={"effort": "low"})
    assert got.input_tokens == 9 and upstream.requests()[-1]["reasoning_effort"] == "low"
    # truncation: the count is of what the model would read
    upstream.reply({"content": "x", "max_messages": 3})
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.input_tokens.count(model="scripted", input="three", previous_response_id=second.id,
                                            instructions="Keep me.")
    assert _error(err)["code"] == "context_length_exceeded"
    got = client.responses.input_tokens.count(model="scripted", input="three", previous_response_id=second.id,
                                              instructions="Keep me.", truncation="auto")
    sent = upstream.requests()[-1]["messages"]
    assert len(sent) <= 3 and sent[0] == {"role": "system", "content": "Keep me."}
    assert got.input_tokens == sum(len(m["content"]) // 4 + 1 for m in sent)


def test_compaction_in_a_conversation(server: AppServer, upstream: UpstreamThread) -> None:
    """The conversation holds the compaction item; its next turn reads the compacted window."""
    client = server.client()
    conv = client.conversations.create()
    upstream.reply({"content": "Noted."})
    client.responses.create(model="scripted", input="My name is Ada and I like graphs.", conversation=conv.id)
    upstream.reply({"content": "probe"}, {"content": SUMMARY}, {"content": "Graphs."})
    r = client.responses.create(model="scripted", input="What do I like?", conversation=conv.id,
                                context_management=CM)  # type: ignore[arg-type]
    assert [o.type for o in r.output] == ["compaction", "message"]
    kinds = [i.type for i in client.conversations.items.list(conv.id, order="asc")]
    assert kinds == ["message", "message", "message", "compaction", "message"]
    upstream.reply({"content": "Ada."})
    client.responses.create(model="scripted", input="And my name?", conversation=conv.id)
    assert [m["role"] for m in upstream.requests()[-1]["messages"]] == ["user", "user", "system", "assistant", "user"]


def test_another_keys_compaction_item_is_refused(app_factory: Any, upstream_server: Any,
                                                 upstream: UpstreamThread) -> None:
    """Attack: a tenant sends another key's compaction item (from server-side compaction) to read its
    summary into its own context."""
    app = app_factory("--upstream", upstream_server.base_url, "--embedded", "off", "--api-key", "k1",
                      "--api-key", "k2")
    upstream.reply({"content": "Noted."})
    first = app.client(api_key="k1").responses.create(model="scripted", input="The launch code is 0000.")
    upstream.reply({"content": "probe"}, {"content": "The launch code is 0000."}, {"content": "OK."})
    r = app.client(api_key="k1").responses.create(model="scripted", input="Keep it.", previous_response_id=first.id,
                                                  context_management=CM)
    item = r.output[0].model_dump(exclude_none=True)
    assert item["type"] == "compaction"
    n = len(upstream.requests())
    stolen = app.http("k2").post("/responses", json={"model": "scripted", "input": [
        item, {"role": "user", "content": "What is the launch code?"}]})
    assert stolen.status_code == 400 and stolen.json()["error"]["param"] == "input[0].encrypted_content"
    assert len(upstream.requests()) == n  # nothing reached the model
    upstream.reply({"content": "0000."})
    own = app.http("k1").post("/responses", json={"model": "scripted", "input": [
        item, {"role": "user", "content": "What is the launch code?"}]})
    assert own.status_code == 200, own.text


def test_a_refused_summary_is_an_http_error_and_a_failed_one_fails(server: AppServer,
                                                                    upstream: UpstreamThread) -> None:
    first = _start(server, upstream)
    client = server.client()
    upstream.reply({"content": "probe"}, {"error": {"status": 400, "message": "no summaries today"}})
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="scripted", input="What do I like?", previous_response_id=first,
                                context_management=CM)  # type: ignore[arg-type]
    upstream.reply({"content": "probe"}, {"error": {"status": 500, "message": "upstream crashed"}})
    r = client.responses.create(model="scripted", input="What do I like?", previous_response_id=first,
                                context_management=CM)  # type: ignore[arg-type]
    assert r.status == "failed" and r.output == [] and r.error is not None
