"""`moderation` (issue 19) through a real scripted moderation upstream on 127.0.0.1 (its
`/v1/moderations` flags text holding the word "violent"), driven by the official SDK.

`score` records results in `Response.moderation` as the SDK types them; `block` ends the response
`incomplete` (`content_filter`) with nothing of the flagged side delivered; without
`--moderation-upstream` the parameter is a 400 naming it.
"""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from openai.types.responses import Response

from tests.spec import body_of, check_response

SCORE = {"model": "omni-moderation-latest"}
BLOCK_INPUT = {"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}}
BLOCK_OUTPUT = {"model": "omni-moderation-latest", "policy": {"output": {"mode": "block"}}}


def moderations(upstream: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = upstream.http.get("/_control/requests").json()["moderations"]
    return found


@pytest.fixture
def server(app_factory: Any, upstream: Any, database: str) -> Any:
    """On SQLite and PostgreSQL: the results are stored with the response."""
    return app_factory("--upstream", upstream.base_url, "--embedded", "off",
                       "--moderation-upstream", upstream.base_url, database=database)


def test_without_an_upstream_moderation_is_a_400(app_factory: Any, upstream: Any) -> None:
    app = app_factory("--upstream", upstream.base_url, "--embedded", "off")
    with pytest.raises(openai.BadRequestError) as err:
        app.client().responses.create(model="scripted", input="hi", moderation=SCORE)
    assert body_of(err)["param"] == "moderation" and "--moderation-upstream" in body_of(err)["message"]
    assert upstream.requests() == [] and moderations(upstream) == []


def test_score_records_both_sides(server: Any, upstream: Any) -> None:
    upstream.reply({"content": "A calm answer."}, {"content": "A violent answer."})
    client = server.client()
    r = client.responses.create(model="scripted", input="A calm question.", moderation=SCORE)
    assert r.status == "completed" and r.output_text == "A calm answer."
    assert r.moderation is not None
    inp, out = r.moderation.input, r.moderation.output
    assert inp.type == "moderation_result" and out.type == "moderation_result"
    assert not inp.flagged and not out.flagged and inp.model == "omni-moderation-latest"
    assert inp.category_scores["violence"] == 0.01 and inp.category_applied_input_types["violence"] == ["text"]
    sent = moderations(upstream)
    assert [m["input"] for m in sent] == ["A calm question.", "A calm answer."]
    assert all(m["model"] == "omni-moderation-latest" for m in sent)
    # score only records: flagged output is still delivered
    flagged = client.responses.create(model="scripted", input="Tell me.", moderation=SCORE)
    assert flagged.status == "completed" and flagged.output_text == "A violent answer."
    assert flagged.moderation is not None and flagged.moderation.output.type == "moderation_result"
    assert flagged.moderation.output.flagged and flagged.moderation.output.categories["violence"]
    stored = server.http().get(f"/responses/{flagged.id}").json()
    check_response(stored)
    Response.model_validate(stored, strict=True)
    assert stored["moderation"]["output"]["flagged"] is True


def test_block_input_never_reaches_the_model(server: Any, upstream: Any) -> None:
    client = server.client()
    r = client.responses.create(model="scripted", input="Something violent.", moderation=BLOCK_INPUT)
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "content_filter" and r.output == []
    assert r.moderation is not None and r.moderation.input.type == "moderation_result" and r.moderation.input.flagged
    assert r.moderation.output.type == "error"
    events = list(client.responses.create(model="scripted", input="More violent words.", stream=True,
                                          moderation=BLOCK_INPUT))
    assert events[-1].type == "response.incomplete"
    assert not [e for e in events if e.type == "response.output_text.delta"]
    assert upstream.requests() == []  # the model was never asked
    ok = client.responses.create(model="scripted", input="Something calm.", moderation=BLOCK_INPUT)
    assert ok.status == "completed" and ok.output_text and len(upstream.requests()) == 1


def test_block_output_withholds_it(server: Any, upstream: Any) -> None:
    upstream.reply({"content": "A violent answer.", "chunks": 4}, {"content": "A violent answer.", "chunks": 4},
                   {"content": "A calm answer.", "chunks": 4})
    client = server.client()
    r = client.responses.create(model="scripted", input="Tell me.", moderation=BLOCK_OUTPUT)
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "content_filter" and r.output == []
    assert r.moderation is not None and r.moderation.output.type == "moderation_result" and r.moderation.output.flagged
    events = list(client.responses.create(model="scripted", input="Tell me.", stream=True,
                                          moderation=BLOCK_OUTPUT))
    assert events[-1].type == "response.incomplete"
    assert not [e for e in events if e.type.startswith("response.output_")]  # not a word of it streamed
    stored = server.http().get(f"/responses/{events[-1].response.id}").json()
    assert stored["output"] == [] and stored["incomplete_details"] == {"reason": "content_filter"}
    calm = list(client.responses.create(model="scripted", input="Tell me.", stream=True,
                                        moderation=BLOCK_OUTPUT))
    assert calm[-1].type == "response.completed"
    assert "".join(e.delta for e in calm if e.type == "response.output_text.delta") == "A calm answer."


def test_failing_moderation_scores_an_error_and_blocks_closed(server: Any, upstream: Any) -> None:
    client = server.client()
    broken = {"model": "broken-moderation"}
    r = client.responses.create(model="scripted", input="hi", moderation=broken)
    assert r.status == "completed" and r.moderation is not None
    assert r.moderation.input.type == "error" and "unavailable" in r.moderation.input.message
    closed = client.responses.create(model="scripted", input="hi",
                                     moderation={**broken, "policy": {"input": {"mode": "block"}}})
    assert closed.status == "failed" and closed.error is not None and closed.output == []
    assert "could not be moderated" in closed.error.message
    assert len(upstream.requests()) == 1  # the blocked-closed request never reached the model


def test_images_are_moderated_with_the_text(server: Any, upstream: Any) -> None:
    image = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    r = server.client().responses.create(model="scripted", moderation=SCORE, input=[{
        "role": "user", "content": [{"type": "input_text", "text": "What is it?"},
                                    {"type": "input_image", "image_url": image}]}])
    assert r.moderation is not None and r.moderation.input.type == "moderation_result"
    assert r.moderation.input.category_applied_input_types["violence"] == ["image", "text"]
    assert moderations(upstream)[0]["input"] == [{"type": "text", "text": "What is it?"},
                                                 {"type": "image_url", "image_url": {"url": image}}]


def test_attack_flagged_text_hidden_in_a_file_or_a_call_is_caught(server: Any, upstream: Any) -> None:
    """A client hides flagged input in an attached file; a model puts flagged output in a call's arguments:
    both are moderated as what the model reads and what the client would receive."""
    client = server.client()
    note = base64.b64encode(b"Plain notes. Then something violent.").decode()
    r = client.responses.create(model="scripted", moderation=BLOCK_INPUT, input=[{
        "role": "user", "content": [{"type": "input_text", "text": "Summarise the file."},
                                    {"type": "input_file", "filename": "notes.txt",
                                     "file_data": f"data:text/plain;base64,{note}"}]}])
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "content_filter" and upstream.requests() == []
    assert "violent" in moderations(upstream)[0]["input"]  # the file's text, as the model would have read it
    upstream.reply({"tool_calls": [{"name": "say", "arguments": '{"text": "something violent"}'}]})
    tools = [{"type": "function", "name": "say", "parameters": {"type": "object", "properties": {
        "text": {"type": "string"}}}}]
    call = client.responses.create(model="scripted", input="Call say.", tools=tools,
                                   moderation=BLOCK_OUTPUT)
    assert call.status == "incomplete" and call.output == []
    assert call.moderation is not None and call.moderation.output.type == "moderation_result"
    assert call.moderation.output.flagged


def test_attack_blocked_input_cannot_be_continued_into_the_model(server: Any, upstream: Any) -> None:
    """Flagged input blocked once is stored with its (incomplete) response; continuing that response with a
    harmless message must not smuggle it to the model: the whole context the model would read is moderated."""
    client = server.client()
    blocked = client.responses.create(model="scripted", input="Something violent.", moderation=BLOCK_INPUT)
    assert blocked.status == "incomplete"
    again = client.responses.create(model="scripted", input="Please continue.", previous_response_id=blocked.id,
                                    moderation=BLOCK_INPUT)
    assert again.status == "incomplete" and again.incomplete_details is not None
    assert again.incomplete_details.reason == "content_filter"
    assert upstream.requests() == []
    assert moderations(upstream)[-1]["input"] == "Something violent.\n\nPlease continue."
