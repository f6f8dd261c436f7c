"""The scripted upstream's stateless /v1/responses mode, driven by the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from respond.testing.upstream import ScriptedUpstream


@pytest.fixture
async def up() -> AsyncIterator[ScriptedUpstream]:
    server = await ScriptedUpstream().start()
    yield server
    await server.stop()


def client(up: ScriptedUpstream) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=up.base_url, api_key="k", max_retries=0)


async def test_refuses_state_like_a_stateless_server(up: ScriptedUpstream) -> None:
    async with client(up) as c:
        for kwargs in ({}, {"store": True}, {"store": False, "previous_response_id": "resp_1"}):
            with pytest.raises(openai.BadRequestError) as err:
                await c.responses.create(model="m", input="hi", **kwargs)
            assert "state" in err.value.message
    assert len(up.requests) == 3


async def test_non_stream_and_stream_replies(up: ScriptedUpstream) -> None:
    up.replies.extend([{"content": "plain", "cached_tokens": 3},
                       {"reasoning": "think", "reasoning_summary": "sum",
                        "tool_calls": [{"name": "f", "arguments": '{"a": 1}', "id": "call_x"}]},
                       {"reasoning": "again"}])
    async with client(up) as c:
        r = await c.responses.create(model="m", input="hi", store=False)
        assert r.output_text == "plain" and r.usage is not None
        assert r.usage.input_tokens_details.cached_tokens == 3
        stream = await c.responses.create(model="m", input="hi", store=False, stream=True,
                                          include=["reasoning.encrypted_content"])
        events = [ev async for ev in stream]
        done = events[-1]
        assert done.type == "response.completed"
        kinds = [it.type for it in done.response.output]
        assert kinds == ["reasoning", "function_call"]
        rs = done.response.output[0]
        assert rs.type == "reasoning" and rs.encrypted_content and rs.summary[0].text == "sum"
        args = "".join(ev.delta for ev in events if ev.type == "response.function_call_arguments.delta")
        assert args == '{"a": 1}'
        # Without the include, no encrypted content comes back.
        r = await c.responses.create(model="m", input="hi", store=False)
        assert r.output[0].type == "reasoning" and r.output[0].encrypted_content is None
