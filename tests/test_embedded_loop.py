"""The embedded model (Qwen2.5-Coder-0.5B) in a tool loop, with the repeat guard.

- after a tool's output the model calls the same tool again; the guard drops that call and asks
  again with calls ruled out, and the model answers from the output (the tool output reaches it as
  the template's own `<tool_response>` turn);
- a generation that writes the same call again and again stops at the second copy (one call).
Short prompts and few tokens: the model runs on a shared CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from respond.backends.llamacpp import DEFAULT_MODEL, LlamaCppBackend
from respond.core.types import Finish, Generation, TextDelta, ToolCallDelta, ToolSpec
from respond.engine.tooling.repeat_guard import RepeatGuard
from tests.embedded_marks import EMBEDDED

pytestmark = EMBEDDED

WEATHER = ToolSpec(name="get_weather", description="Get the current weather for a city.",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
ANSWERED: list[dict[str, Any]] = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 21 C, light wind from the west."},
]


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend(include_default=True, n_ctx=1024)
    yield b
    asyncio.run(b.close())


def gen(messages: list[dict[str, Any]], **kw: Any) -> Generation:
    kw.setdefault("temperature", 0.0)
    return Generation(model=DEFAULT_MODEL, messages=messages, tools=[WEATHER], **kw)


def test_the_tool_output_is_the_templates_tool_response(backend: LlamaCppBackend) -> None:
    prompt = backend._runners[DEFAULT_MODEL].template.render(ANSWERED, [WEATHER])
    assert "<tool_response>\nSunny, 21 C, light wind from the west.\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


async def test_the_guard_turns_a_repeated_call_into_an_answer(backend: LlamaCppBackend) -> None:
    guard = RepeatGuard(backend)
    deltas = [d async for d in guard.generate(gen(ANSWERED, max_output_tokens=60))]
    assert not [d for d in deltas if isinstance(d, ToolCallDelta)]
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    assert "sunny" in text.lower() or "21" in text, text
    assert guard.suppressed == 1  # at temperature 0 the 0.5B model does call get_weather again
    finish = deltas[-1]
    assert isinstance(finish, Finish) and finish.reason == "stop"
    assert finish.usage is not None and finish.usage.output_tokens <= 2 * 60  # the suppressed call and the answer


async def test_calls_ruled_out_decode_prose(backend: LlamaCppBackend) -> None:
    g = gen(ANSWERED, max_output_tokens=40, tool_choice="none", calls_ruled_out=True)
    deltas = [d async for d in backend.generate(g)]
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    assert text and text[0] not in "{[<`" and "get_weather" not in text and "```" not in text, text


async def test_a_call_written_again_and_again_stops_after_two_copies(backend: LlamaCppBackend) -> None:
    # Unguarded, the model answers the tool output by writing the call as bare JSON, line after line.
    deltas = [d async for d in backend.generate(gen(ANSWERED, max_output_tokens=60))]
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert [d.name for d in calls if d.name] == ["get_weather"]  # one call, not three
    finish = deltas[-1]
    assert isinstance(finish, Finish) and finish.reason == "tool_calls"
    assert finish.usage is not None and finish.usage.output_tokens <= 40  # two copies, not 60 tokens
