"""The embedded backend through its port, on the real default model (Qwen2.5-Coder-0.5B).

Short prompts, greedy decoding and a few tokens each keep the module around a minute on two
cores.  Skipped (with the reason) when llama-cpp-python or the weight packages are missing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest

from respond.backends.llamacpp import DEFAULT_MODEL, LlamaCppBackend
from respond.core.errors import ContextLengthExceeded, UnknownModel
from respond.core.types import Delta, Finish, Generation, TextDelta, ToolCallDelta, ToolSpec
from tests.embedded_marks import EMBEDDED

pytestmark = EMBEDDED

WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather for a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
)
ADD = ToolSpec(
    name="add",
    description="Add two integers",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend(include_default=True, n_ctx=2048)
    yield b
    asyncio.run(b.close())


def gen(text: str, **kw: Any) -> Generation:
    kw.setdefault("temperature", 0.0)
    kw.setdefault("max_output_tokens", 16)
    return Generation(model=DEFAULT_MODEL, messages=[{"role": "user", "content": text}], **kw)


async def collect(backend: LlamaCppBackend, g: Generation) -> tuple[str, list[Delta], Finish]:
    deltas = [d async for d in backend.generate(g)]
    finish = deltas[-1]
    assert isinstance(finish, Finish) and finish.usage is not None
    assert sum(isinstance(d, Finish) for d in deltas) == 1
    return "".join(d.text for d in deltas if isinstance(d, TextDelta)), deltas, finish


def calls_of(deltas: list[Delta]) -> list[tuple[str, dict[str, Any]]]:
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    for d in deltas:
        if isinstance(d, ToolCallDelta):
            if d.name:
                names[d.index] = d.name
                assert d.call_id and d.call_id.startswith("call_")
            args[d.index] = args.get(d.index, "") + d.arguments
    return [(names[i], json.loads(args[i])) for i in sorted(names)]


async def test_text_usage_and_token_count(backend: LlamaCppBackend) -> None:
    await backend.warmup()
    g = gen("Reply with just the word: hello")
    text, deltas, finish = await collect(backend, g)
    assert "hello" in text.lower()
    assert finish.reason == "stop" and finish.usage is not None
    assert finish.usage.input_tokens == await backend.count_tokens(g)
    assert 1 <= finish.usage.output_tokens <= 16
    assert await backend.models() and backend.serves(DEFAULT_MODEL) and not backend.serves("gpt-x")


async def test_max_output_tokens_ends_with_length(backend: LlamaCppBackend) -> None:
    _, deltas, finish = await collect(
        backend, gen("Count from 1 to 50, comma separated.", max_output_tokens=4)
    )
    assert finish.reason == "length" and finish.usage is not None and finish.usage.output_tokens == 4


async def test_logprobs(backend: LlamaCppBackend) -> None:
    _, deltas, finish = await collect(backend, gen("Count: 1, 2, 3,", max_output_tokens=3, top_logprobs=2))
    entries = [e for d in deltas if isinstance(d, TextDelta) for e in d.logprobs or []]
    assert finish.usage is not None and len(entries) == finish.usage.output_tokens >= 1
    for e in entries:
        assert e["logprob"] <= 0 and bytes(e["bytes"]).decode() == e["token"]
        tops = [t["logprob"] for t in e["top_logprobs"]]
        assert len(tops) == 2 and tops == sorted(tops, reverse=True) and e["logprob"] <= tops[0] + 1e-6


async def test_context_length_and_truncation() -> None:
    small = LlamaCppBackend(include_default=True, n_ctx=256)
    history = []
    for i in range(12):
        history += [
            {"role": "user", "content": f"Fact {i}: the number {i} is nice. " * 2},
            {"role": "assistant", "content": "Noted."},
        ]
    messages = [
        {"role": "system", "content": "You are terse."},
        *history,
        {"role": "user", "content": "Say ok."},
    ]
    g = Generation(model=DEFAULT_MODEL, messages=messages, max_output_tokens=4, temperature=0.0)
    with pytest.raises(ContextLengthExceeded) as info:
        await anext(small.generate(g))
    assert info.value.status == 400 and info.value.code == "context_length_exceeded"
    g.truncation = "auto"
    _, _, finish = await collect(small, g)
    assert finish.usage is not None and finish.usage.input_tokens + 4 <= 256
    await small.close()


async def test_prefix_reuse_reports_cached_tokens(backend: LlamaCppBackend) -> None:
    first = gen("Name one prime number.", max_output_tokens=8)
    answer, _, f1 = await collect(backend, first)
    assert f1.usage is not None
    other = gen("What colour is the sky on Mars? One word.", max_output_tokens=4)
    await collect(backend, other)  # interleaved conversation: gets its own context
    second = Generation(
        model=DEFAULT_MODEL,
        messages=[
            *first.messages,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "Another?"},
        ],
        max_output_tokens=8,
        temperature=0.0,
    )
    _, _, f2 = await collect(backend, second)
    assert f2.usage is not None
    # The whole first prompt and (almost all of) the answer come from the KV cache.
    assert f1.usage.input_tokens <= f2.usage.cached_tokens < f2.usage.input_tokens


async def test_tool_call_auto(backend: LlamaCppBackend) -> None:
    g = gen("What is the weather in Paris in celsius?", tools=[WEATHER, ADD], max_output_tokens=60)
    _, deltas, finish = await collect(backend, g)
    calls = calls_of(deltas)
    assert calls and calls[0][0] == "get_weather" and calls[0][1]["city"] == "Paris"
    assert finish.reason == "tool_calls"


async def test_tool_choice_required_and_forced_follow_the_schema(backend: LlamaCppBackend) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    g = gen(
        "Hi there!",
        tools=[WEATHER, ADD],
        tool_choice="required",
        parallel_tool_calls=False,
        max_output_tokens=60,
    )
    _, deltas, finish = await collect(backend, g)
    calls = calls_of(deltas)
    assert len(calls) == 1 and finish.reason == "tool_calls"
    spec = {"get_weather": WEATHER, "add": ADD}[calls[0][0]]
    jsonschema.validate(calls[0][1], spec.parameters)
    g = gen("Hi there!", tools=[WEATHER, ADD], tool_choice="add", forced_tool="add", max_output_tokens=40)
    _, deltas, _ = await collect(backend, g)
    [(name, args)] = calls_of(deltas)
    assert name == "add"
    jsonschema.validate(args, ADD.parameters)


async def test_tool_choice_none_offers_no_tools(backend: LlamaCppBackend) -> None:
    g = gen("What is the weather in Paris?", tools=[WEATHER], tool_choice="none", max_output_tokens=8)
    _, deltas, finish = await collect(backend, g)
    assert not calls_of(deltas)
    assert finish.usage is not None and finish.usage.input_tokens == await backend.count_tokens(
        gen("What is the weather in Paris?")
    )


async def test_structured_output_is_strict_json_matching_the_schema(backend: LlamaCppBackend) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "mood": {"type": "string", "enum": ["happy", "sad"]},
        },
        "required": ["title", "lines", "mood"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "name": "poem", "schema": schema, "strict": True}
    g = gen(
        "A short sad poem about rain (title, two lines, mood) as JSON.",
        response_format=fmt,
        max_output_tokens=80,
    )
    text, _, finish = await collect(backend, g)
    assert finish.reason == "stop"
    jsonschema.validate(json.loads(text), schema)  # json.loads is strict: no raw control chars
    text, _, _ = await collect(
        backend, gen("Describe a cat as JSON.", response_format={"type": "json_object"}, max_output_tokens=60)
    )
    assert isinstance(json.loads(text), dict)


async def test_close_stops_at_the_next_token(backend: LlamaCppBackend) -> None:
    stream = backend.generate(gen("Count from 1 to 200.", max_output_tokens=300))
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == 3:
            break
    started = time.monotonic()
    assert isinstance(stream, AsyncGenerator)  # the port's AsyncIterator is an async generator here
    await stream.aclose()
    # The 300-token answer would take 10+ s; stopping at the next token takes a fraction of one
    # (the bound is loose because CI machines are shared).
    assert time.monotonic() - started < 5.0
    _, _, finish = await collect(backend, gen("Say ok.", max_output_tokens=2))  # the model is free again
    assert finish.usage is not None


async def test_requests_queue_fairly(backend: LlamaCppBackend) -> None:
    results = await asyncio.gather(
        *(collect(backend, gen(f"Say the number {i}.", max_output_tokens=3)) for i in range(3))
    )
    assert all(f.usage is not None and f.usage.output_tokens >= 1 for _, _, f in results)


async def test_unknown_model(backend: LlamaCppBackend) -> None:
    with pytest.raises(UnknownModel):
        await anext(backend.generate(Generation(model="nope", messages=[])))
