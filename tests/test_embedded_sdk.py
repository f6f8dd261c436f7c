"""The embedded model end to end: `respond serve` with the real default model, driven by the
official `openai` SDK.  One server per module; short prompts and few tokens keep it quick.

Skipped (with the reason) when llama-cpp-python or the default weight packages are missing.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from respond.backends.llamacpp import DEFAULT_MODEL
from tests.embedded_marks import EMBEDDED

pytestmark = EMBEDDED

ADD = {
    "type": "function",
    "name": "add",
    "description": "Add two integers",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture(scope="module")
def embedded(module_server_factory: Any) -> Any:
    # No --upstream: the embedded default model is served (zero configuration).
    return module_server_factory("--n-ctx", "1024")


def test_zero_config_serves_the_default_model(embedded: Any) -> None:
    client = embedded.client()
    assert DEFAULT_MODEL in [m.id for m in client.models.list().data]
    r = client.responses.create(
        model=DEFAULT_MODEL, input="Reply with just the word: hello", temperature=0, max_output_tokens=16
    )
    assert r.status == "completed" and "hello" in r.output_text.lower()
    assert r.usage is not None and r.usage.input_tokens > 0 and 0 < r.usage.output_tokens <= 16


def test_streaming_and_length_limit(embedded: Any) -> None:
    client = embedded.client()
    events = list(
        client.responses.create(
            model=DEFAULT_MODEL,
            input="Count from 1 to 100, comma separated.",
            temperature=0,
            max_output_tokens=16,
            stream=True,
        )
    )
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    final = events[-1]
    assert final.type == "response.incomplete"
    assert final.response.incomplete_details is not None
    assert final.response.incomplete_details.reason == "max_output_tokens"
    assert len(deltas) >= 2 and "".join(deltas) == final.response.output_text
    assert final.response.usage is not None and final.response.usage.output_tokens == 16


def test_second_turn_reuses_the_kv_cache(embedded: Any) -> None:
    client = embedded.client()
    r1 = client.responses.create(
        model=DEFAULT_MODEL,
        input="Name a fruit. One word.",
        temperature=0,
        max_output_tokens=16,
        instructions="You are terse.",
    )
    r2 = client.responses.create(
        model=DEFAULT_MODEL,
        input="And a vegetable?",
        temperature=0,
        max_output_tokens=16,
        previous_response_id=r1.id,
        instructions="You are terse.",
    )
    assert r1.usage is not None and r2.usage is not None
    assert r2.usage.input_tokens_details.cached_tokens >= r1.usage.input_tokens


def test_forced_function_call_matches_its_schema(embedded: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    client = embedded.client()
    r = client.responses.create(
        model=DEFAULT_MODEL,
        input="What is 2 plus 3?",
        tools=[ADD],
        tool_choice="required",
        temperature=0,
        max_output_tokens=40,
    )
    calls = [item for item in r.output if item.type == "function_call"]
    assert len(calls) >= 1 and calls[0].name == "add" and calls[0].call_id
    jsonschema.validate(json.loads(calls[0].arguments), ADD["parameters"])


def test_streamed_auto_tool_call(embedded: Any) -> None:
    weather = {
        "type": "function",
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    events = list(
        embedded.client().responses.create(
            model=DEFAULT_MODEL,
            input="What is the weather in Paris?",
            tools=[weather],
            temperature=0,
            max_output_tokens=60,
            stream=True,
        )
    )
    types = [e.type for e in events]
    assert types[-1] == "response.completed"
    assert "response.function_call_arguments.done" in types
    calls = [o for o in events[-1].response.output if o.type == "function_call"]
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments)["city"] == "Paris"
    # Held-back text never leaks: no text deltas spell out the call.
    assert not any(e.type == "response.output_text.delta" and "get_weather" in e.delta for e in events)


def test_structured_output(embedded: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    r = embedded.client().responses.create(
        model=DEFAULT_MODEL,
        input="Ann is 31 years old. Extract her as JSON.",
        temperature=0,
        max_output_tokens=40,
        text={"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}},
    )
    data = json.loads(r.output_text)
    jsonschema.validate(data, schema)
    assert data["age"] == 31


def test_context_length_exceeded(embedded: Any) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        embedded.client().responses.create(model=DEFAULT_MODEL, input="word " * 1200, max_output_tokens=16)
    assert info.value.code == "context_length_exceeded"
